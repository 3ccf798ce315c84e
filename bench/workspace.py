"""Response times of the staff case list and case page at 1,000 and 100,000 cases.

Usage: ``.venv/bin/python bench/workspace.py [--sizes 1000 100000] [--repeat 30] [--no-pg]``

For each backend (SQLite file; PostgreSQL in a throwaway cluster if initdb is installed) and
each size, the cases are bulk-inserted with executemany (bench.data), a staff user
logs in through /login, and the Flask test client requests (in-process, no network, templates
warm) the list with several filters/sorts and the case page of random cases. Prints median and
p95 in milliseconds, the median time spent in the database (the rest is Python: the request,
the ORM and the template) and the number of SQL queries per request; figures in
docs/performance.md.

The first search finds one case at 1,000 and 111 at 100,000 (a page of one row against a
full page); the search of a reference part finds 100 cases at both sizes, the common word
every case.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event, func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import accounts, create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Application  # noqa: E402
from app.programmes import configured_round, sync_rounds  # noqa: E402
from bench.data import PASSWORD, bulk_insert_cases, login, submit_with_test_client  # noqa: E402
from config import TestingConfig  # noqa: E402
from scripts import services  # noqa: E402

LIST_URLS = {
    "list (default: newest first)": "/staff/cases",
    "list, state + district filter": "/staff/cases?state=submitted&district=03358",
    "list, sort by amount asc": "/staff/cases?sort=amount&dir=asc",
    "list, search organisation": "/staff/cases?q=tr%C3%A4ger+471",
    "list, search reference part": "/staff/cases?q=NON-B0004",
    "list, search common word": "/staff/cases?q=tr%C3%A4ger",
    "list, page 40 (last page at 1,000)": "/staff/cases?page=40",
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))
    return ordered[index]


def measure(client, url: str, repeat: int) -> tuple[float, float, float, int]:
    """Median and p95 of the request, median time in the database, most queries."""
    client.get(url)  # warm-up
    timings = []
    queries = []
    in_database = []
    started = []

    def before(_conn, _cursor, statement, *_args):
        # SQLite's connection settings (``PRAGMA query_only``, issued when a pooled
        # connection switches between reading and writing) are not queries of the page
        queries[-1] += not statement.startswith("PRAGMA ")
        started.append(time.perf_counter())

    def after(*_args):
        in_database[-1] += (time.perf_counter() - started.pop()) * 1000

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    try:
        for _ in range(repeat):
            queries.append(0)
            in_database.append(0.0)
            db.session.remove()
            start = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)
    med, p95 = statistics.median(timings), percentile(timings, 95)
    return med, p95, statistics.median(in_database), max(queries)


def run(uri: str, sizes: list[int], repeat: int, label: str) -> list[tuple]:
    app = create_app(
        TestingConfig(),
        SQLALCHEMY_DATABASE_URI=uri,
        RATELIMIT_STORAGE_URI="memory://",
        REDIS_URL="redis://127.0.0.1:1/0",  # nothing listens: outbox rows simply wait
    )
    rows = []
    with app.app_context():
        db.drop_all()
        db.create_all()
        sync_rounds()
        accounts.create_user("bench@example.org", role="staff", password=PASSWORD)
        db.session.commit()
        rnd = configured_round()
        client = app.test_client()
        # a case with events and emails, as in life, submitted through the form
        reference = submit_with_test_client(client)
        real_id = db.session.scalar(select(Application.id).filter_by(reference=reference))
        assert login(client, "bench@example.org").status_code == 302
        have = 0
        for size in sizes:
            start = time.perf_counter()
            bulk_insert_cases(size - have, rnd, start=have)
            have = size
            if db.engine.dialect.name == "postgresql":
                # what autovacuum does a minute after a bulk insert: statistics, and the
                # visibility map that index-only scans (the pager's count) rely on
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE")
            took = time.perf_counter() - start
            total = db.session.scalar(select(func.count(Application.id)))
            print(f"[{label}] {total} cases (inserted in {took:.1f} s)", flush=True)
            for name, url in LIST_URLS.items():
                med, p95, sql, queries = measure(client, url, repeat)
                rows.append((label, size, name, med, p95, sql, queries))
                print(
                    f"  {name:34} median {med:7.1f} ms  p95 {p95:7.1f} ms  "
                    f"database {sql:6.1f} ms  {queries} queries",
                    flush=True,
                )
            ids = db.session.scalars(select(Application.id)).all()
            picks = random.Random(1).sample(ids, min(repeat, len(ids)))
            timings = []
            for case_id in [real_id, *picks]:
                db.session.remove()
                t0 = time.perf_counter()
                assert client.get(f"/staff/cases/{case_id}").status_code == 200
                timings.append((time.perf_counter() - t0) * 1000)
            med, p95 = statistics.median(timings), percentile(timings, 95)
            rows.append((label, size, "case page", med, p95, None, None))
            print(f"  {'case page':34} median {med:7.1f} ms  p95 {p95:7.1f} ms")
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results += run(f"sqlite:///{tmp}/bench.sqlite", args.sizes, args.repeat, "SQLite")
    if not args.no_pg and services.PostgresServer.unavailable_reason() is None:
        server = services.PostgresServer()
        try:
            server.start()
            uri = services.create_database(server.url, "bench_workspace")
            results += run(uri, args.sizes, args.repeat, "PostgreSQL")
        finally:
            server.stop()
    print("\n| backend | cases | request | median ms | p95 ms | database ms | queries |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for label, size, name, med, p95, sql, queries in results:
        in_db = "–" if sql is None else f"{sql:.1f}"
        print(
            f"| {label} | {size:,} | {name} | {med:.1f} | {p95:.1f} | {in_db} | {queries or '–'} |"
        )


if __name__ == "__main__":
    main()
