"""Response times of the staff case list and case page at 1,000 and 100,000 cases.

Usage: ``.venv/bin/python bench/workspace.py [--sizes 1000 100000] [--repeat 30] [--no-pg]``

For each backend (SQLite files; PostgreSQL in a throwaway cluster if initdb is installed) each
size gets a database of its own: the cases are bulk-inserted with executemany (bench.data), a
staff user logs in through /login, and the Flask test client requests (in-process, no network,
templates warm) the list with several filters/sorts and the case page of random cases. The
sizes take turns request by request, so a change of this machine's speed during the run
(it drifts up to 2 × within minutes) touches both sizes alike and leaves their ratio alone.
Prints median and p95 in milliseconds, the median time spent in the database (the rest is
Python: the request, the ORM and the template), the number of SQL queries per request, and
the ratio of the medians to the smallest size; figures in docs/performance.md.

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

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import accounts  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Application  # noqa: E402
from app.programmes import configured_round, sync_rounds  # noqa: E402
from bench.data import (  # noqa: E402
    PASSWORD,
    QueryClock,
    bench_app,
    bulk_insert_cases,
    login,
    submit_with_test_client,
)
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


class Database:
    """One database of ``size`` cases with its own app, logged-in client and a counter of the
    queries (and the time spent in them) of the request being measured."""

    def __init__(self, uri: str, size: int, label: str) -> None:
        self.size = size
        self.app = bench_app(uri)
        with self.app.app_context():
            db.drop_all()
            db.create_all()
            sync_rounds()
            accounts.create_user("bench@example.org", role="staff", password=PASSWORD)
            db.session.commit()
            rnd = configured_round()
            self.client = self.app.test_client()
            # a case with events and emails, as in life, submitted through the form
            reference = submit_with_test_client(self.client)
            self.real_id = db.session.scalar(select(Application.id).filter_by(reference=reference))
            assert login(self.client, "bench@example.org").status_code == 302
            started = time.perf_counter()
            bulk_insert_cases(size, rnd)
            if db.engine.dialect.name == "postgresql":
                # what autovacuum does a minute after a bulk insert: statistics, and the
                # visibility map that index-only scans (the pager's count) rely on
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE")
            took = time.perf_counter() - started
            total = db.session.scalar(select(func.count(Application.id)))
            self.case_ids = db.session.scalars(select(Application.id)).all()
            db.session.remove()
            self.clock = QueryClock(db.engine)
        print(f"[{label}] {total:,} cases (inserted in {took:.1f} s)", flush=True)

    def get(self, url: str) -> tuple[float, float, int]:
        """One request: milliseconds in all, in the database, and the number of queries."""
        with self.app.app_context():
            self.clock.reset()
            started = time.perf_counter()
            response = self.client.get(url)
            took = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (url, response.status_code)
        return took, self.clock.in_database, self.clock.queries

    def close(self) -> None:
        with self.app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


def interleaved(databases: list[Database], urls: list[str], repeat: int) -> list[list[tuple]]:
    """``repeat`` rounds, each one request per database and URL, the databases in turn (in
    reverse order every other round): a drift of the machine's speed during the run then
    touches every size alike, and the ratios between sizes are free of it. Returns per
    database, per URL, the samples (ms, ms in the database, queries)."""
    samples = [[[] for _ in urls] for _ in databases]
    for database in databases:  # warm-up: templates, statement caches, the database's pages
        for url in urls:
            database.get(url)
    order = list(enumerate(databases))
    for round_no in range(repeat):
        for index, url in enumerate(urls):
            for position, database in order if round_no % 2 == 0 else reversed(order):
                samples[position][index].append(database.get(url))
    return samples


def summary(samples: list[tuple]) -> tuple[float, float, float, int]:
    """Median and p95 of the request, median time in the database, most queries."""
    timings = [took for took, _, _ in samples]
    return (
        statistics.median(timings),
        percentile(timings, 95),
        statistics.median(sql for _, sql, _ in samples),
        max(queries for _, _, queries in samples),
    )


def run(uris: list[str], sizes: list[int], repeat: int, label: str) -> list[tuple]:
    """Each size in its own database (``uris``, one per size), measured in turn."""
    databases = [Database(uri, size, label) for uri, size in zip(uris, sizes, strict=True)]
    rows = []
    try:
        names, urls = list(LIST_URLS), list(LIST_URLS.values())
        for database, per_url in zip(databases, interleaved(databases, urls, repeat), strict=True):
            for name, samples in zip(names, per_url, strict=True):
                rows.append((label, database.size, name, *summary(samples)))
        # the case page: the real case and random others (a pick per database), in turn
        case_urls = []
        for database in databases:
            ids = database.case_ids
            picks = random.Random(1).sample(ids, min(repeat, len(ids)))
            case_urls.append([f"/staff/cases/{case_id}" for case_id in [database.real_id, *picks]])
        for database, urls in zip(databases, case_urls, strict=True):
            database.get(urls[0])  # warm-up: the case page's templates are compiled once
        case_pages = [[] for _ in databases]
        for round_no in range(min(len(urls) for urls in case_urls)):
            for position, database in enumerate(databases):
                case_pages[position].append(database.get(case_urls[position][round_no]))
        for database, samples in zip(databases, case_pages, strict=True):
            med, p95, _, _ = summary(samples)
            rows.append((label, database.size, "case page", med, p95, None, None))
    finally:
        for database in databases:
            database.close()
    for row in rows:
        _, size, name, med, p95, sql, queries = row
        in_db = "" if sql is None else f"  database {sql:6.1f} ms  {queries} queries"
        print(f"  {size:>7,}  {name:34} median {med:7.1f} ms  p95 {p95:7.1f} ms{in_db}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        uris = [f"sqlite:///{tmp}/bench-{size}.sqlite" for size in args.sizes]
        results += run(uris, args.sizes, args.repeat, "SQLite")
    if not args.no_pg and services.PostgresServer.unavailable_reason() is None:
        server = services.PostgresServer()
        try:
            server.start()
            uris = [
                services.create_database(server.url, f"bench_workspace_{size}")
                for size in args.sizes
            ]
            results += run(uris, args.sizes, args.repeat, "PostgreSQL")
        finally:
            server.stop()
    print("\n| backend | cases | request | median ms | p95 ms | database ms | queries |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for label, size, name, med, p95, sql, queries in results:
        in_db = "–" if sql is None else f"{sql:.1f}"
        print(
            f"| {label} | {size:,} | {name} | {med:.1f} | {p95:.1f} | {in_db} | {queries or '–'} |"
        )
    smallest = min(args.sizes)
    base = {(label, name): med for label, size, name, med, *_ in results if size == smallest}
    print(f"\n| backend | request | ratio of the medians to {smallest:,} cases |")
    print("|---|---|---|")
    for label, name in base:
        ratios = [
            f"{size:,}: {med / base[label, name]:.2f} ×"
            for row_label, size, row_name, med, *_ in results
            if (row_label, row_name) == (label, name) and size != smallest
        ]
        print(f"| {label} | {name} | {', '.join(ratios)} |")


if __name__ == "__main__":
    main()
