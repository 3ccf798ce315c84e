"""The eligibility check job against the size of its round.

Usage: ``.venv/bin/python bench/check.py [--sizes 1000 100000] [--n 30] [--database sqlite]``

For each size a database of its own (SQLite file, or a throwaway PostgreSQL cluster): the
round holds ``size`` applications (bulk-inserted, bench.data), then ``n`` more are submitted
through the form (test client, no worker: their jobs wait in the outbox). The job function
``check_eligibility`` then runs for each of those in its own app context, in-process, the
sizes taking turns application by application, so a drift of this machine's speed touches
both alike. Prints median and p95 in milliseconds, the time spent in the database and the
queries per check, and the ratio of the medians. Figures in docs/performance.md (target 2).

The duplicate rule looks for the organisation's other applications in this round and the
previous one: that query is what could grow with the round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.cases.checks import check_eligibility  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Application  # noqa: E402
from app.programmes import configured_round, sync_rounds  # noqa: E402
from bench.data import QueryClock, bench_app, bulk_insert_cases, submit_with_test_client  # noqa: E402
from scripts import services  # noqa: E402


class Round:
    """One database whose configured round holds ``size`` applications and ``n`` fresh ones."""

    def __init__(self, uri: str, size: int, n: int) -> None:
        self.size = size
        self.app = bench_app(uri)
        with self.app.app_context():
            db.drop_all()
            db.create_all()
            sync_rounds()
            bulk_insert_cases(size, configured_round())
            if db.engine.dialect.name == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE")
            client = self.app.test_client()
            references = [submit_with_test_client(client, size + i) for i in range(n)]
            self.fresh = db.session.scalars(
                select(Application.id).where(Application.reference.in_(references))
            ).all()
            db.session.remove()
            self.clock = QueryClock(db.engine)

    def check(self, application_id: int) -> tuple[float, float, int]:
        """One check job: milliseconds in all, in the database, and the number of queries."""
        with self.app.app_context():
            self.clock.reset()
            started = time.perf_counter()
            outcome = check_eligibility(application_id)
            took = (time.perf_counter() - started) * 1000
            db.session.remove()
        assert outcome != "exists", application_id
        return took, self.clock.in_database, self.clock.queries

    def close(self) -> None:
        with self.app.app_context():
            for engine in db.engines.values():
                engine.dispose()


def measure(uris: list[str], sizes: list[int], n: int, label: str) -> None:
    rounds = [Round(uri, size, n) for uri, size in zip(uris, sizes, strict=True)]
    try:
        samples: list[list[tuple]] = [[] for _ in rounds]
        for i in range(n):
            order = list(enumerate(rounds))
            for position, rnd in order if i % 2 == 0 else reversed(order):
                samples[position].append(rnd.check(rnd.fresh[i]))
        first = None
        for rnd, rows in zip(rounds, samples, strict=True):
            rows = rows[1:]  # the first check of a process compiles templates and statements
            took = [t for t, _, _ in rows]
            median = statistics.median(took)
            first = first or median
            print(
                f"{label:10s} {rnd.size:>8,} in the round: check job median {median:6.1f} ms, "
                f"p95 {sorted(took)[round(0.95 * (len(took) - 1))]:6.1f} ms, database "
                f"{statistics.median(d for _, d, _ in rows):5.1f} ms, "
                f"{max(q for _, _, q in rows)} queries; {median / first:.2f} ×"
            )
    finally:
        for rnd in rounds:
            rnd.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    if args.database == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            uris = [f"sqlite:///{tmp}/check-{size}.sqlite" for size in args.sizes]
            measure(uris, args.sizes, args.n, "SQLite")
        return
    server = services.PostgresServer()
    server.start()
    try:
        uris = [services.create_database(server.url, f"check_{size}") for size in args.sizes]
        measure(uris, args.sizes, args.n, "PostgreSQL")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
