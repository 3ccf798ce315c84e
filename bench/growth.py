"""Does a submission's work grow with the data? Each step of its chain at two sizes.

Usage: ``.venv/bin/python bench/growth.py [--sizes 1000 100000] [--n 30] [--database sqlite]``

For each size a database of its own (SQLite file, or a throwaway PostgreSQL cluster) whose
configured round holds ``size`` applications (bulk-inserted, bench.data). Then, the sizes
taking turns application by application (a drift of this machine's speed touches both
alike), ``n`` applications go through their whole chain in-process:

- the submission through the form (test client: GET the form, POST the check page, POST
  the submit, GET the confirmation);
- every job it causes, in the order recorded in the outbox, each called as the worker calls
  it, in an app context of its own: the eligibility check (``check_eligibility``), the staff
  notice (``send_staff_notice``) and the emails (``send_notification``: the receipt, the
  result, the staff email; SMTP suppressed, so the claim, the rendering and the marks are
  measured, not a mail server). RQ is left out: its work does not depend on the data.

Prints per step the median and p95 in milliseconds, the median time in the database, the
most queries, and the ratio of the medians to the first size. Figures in
docs/performance.md (target 2). The duplicate rule (the organisation's other applications
in this round and the previous one) is what grew before revision 4b7e1c2d9a10.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.extensions import db  # noqa: E402
from app.jobs import spec  # noqa: E402
from app.models import OutboxItem  # noqa: E402
from app.programmes import configured_round, sync_rounds  # noqa: E402
from bench.data import QueryClock, bench_app, bulk_insert_cases, submit_with_test_client  # noqa: E402
from scripts import services  # noqa: E402

SUBMISSION = "submission (4 requests)"


class Round:
    """One database whose configured round holds ``size`` applications."""

    def __init__(self, uri: str, size: int) -> None:
        self.size = size
        self.app = bench_app(uri, MAIL_SUPPRESS_SEND=True)
        with self.app.app_context():
            db.drop_all()
            db.create_all()
            sync_rounds()
            bulk_insert_cases(size, configured_round())
            if db.engine.dialect.name == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE")
            db.session.remove()
            self.clock = QueryClock(db.engine)
        self.client = self.app.test_client()
        self.done: set[int] = set()  # outbox rows run here (no RQ job marks them done)

    def _timed(self, step, *args, **kwargs) -> tuple[float, float, int]:
        with self.app.app_context():
            self.clock.reset()
            started = time.perf_counter()
            step(*args, **kwargs)
            took = (time.perf_counter() - started) * 1000
            db.session.remove()
        return took, self.clock.in_database, self.clock.queries

    def chain(self, i: int) -> list[tuple[str, tuple[float, float, int]]]:
        """Submit application ``i`` and run every job its chain records, each timed."""
        steps = [(SUBMISSION, self._timed(submit_with_test_client, self.client, self.size + i))]
        while True:
            with self.app.app_context():
                rows = db.session.execute(
                    select(OutboxItem.id, OutboxItem.job, OutboxItem.payload)
                    .where(OutboxItem.status.in_(("pending", "enqueued")))
                    .order_by(OutboxItem.id)
                ).all()
                db.session.remove()
            rows = [row for row in rows if row.id not in self.done]
            if not rows:
                return steps
            for row in rows:
                self.done.add(row.id)
                steps.append((row.job, self._timed(spec(row.job).func, **row.payload)))

    def close(self) -> None:
        with self.app.app_context():
            for engine in db.engines.values():
                engine.dispose()


def measure(uris: list[str], sizes: list[int], n: int, label: str) -> None:
    rounds = [Round(uri, size) for uri, size in zip(uris, sizes, strict=True)]
    try:
        samples: list[dict[str, list]] = [defaultdict(list) for _ in rounds]
        for i in range(n + 1):
            order = list(enumerate(rounds))
            for position, rnd in order if i % 2 == 0 else reversed(order):
                for step, sample in rnd.chain(i):
                    if i > 0:  # the first chain compiles templates and statements
                        samples[position][step].append(sample)
        first: dict[str, float] = {}
        for rnd, steps in zip(rounds, samples, strict=True):
            for step, rows in steps.items():
                took = sorted(t for t, _, _ in rows)
                median = statistics.median(took)
                first.setdefault(step, median)
                print(
                    f"{label:10s} {rnd.size:>8,} in the round  {step:24s} "
                    f"median {median:6.1f} ms  p95 {took[round(0.95 * (len(took) - 1))]:6.1f} ms"
                    f"  database {statistics.median(d for _, d, _ in rows):5.1f} ms  "
                    f"{max(q for _, _, q in rows):3d} queries  {median / first[step]:.2f} ×"
                    f"  ({len(rows)} runs)"
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
            uris = [f"sqlite:///{tmp}/growth-{size}.sqlite" for size in args.sizes]
            measure(uris, args.sizes, args.n, "SQLite")
        return
    server = services.PostgresServer()
    server.start()
    try:
        uris = [services.create_database(server.url, f"growth_{size}") for size in args.sizes]
        measure(uris, args.sizes, args.n, "PostgreSQL")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
