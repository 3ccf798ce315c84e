"""Benchmark of the background pipeline: form → outbox → RQ → checks and emails.

    .venv/bin/python bench/pipeline.py [--n 1000] [--database sqlite|postgresql]

Starts its own real services (redis-server, an aiosmtpd sink, SQLite file or a throwaway
PostgreSQL), then measures on this machine:

1. baselines: RQ's own ``SimpleWorker`` running a no-op job (jobs/s) and a bare SMTP send
   to the same sink, one connection per message (sends/s);
2. a burst of ``n`` submissions through the form (test client: GET form, POST check, POST
   submit, GET confirmation) with the real worker ``python -m workers`` running beside it:
   submissions/s, and the time from submission to the receipt and to the eligibility email
   (median, p95);
3. drain rate: ``n`` more submissions queued with no worker running, then one
   ``python -m workers --burst`` (in-process, the default) and one ``--fork``:
   pipeline jobs/s (every job the submissions caused, counted: today five per submission,
   check, receipt, result email, staff notice and its email),
   compared with the no-op rate (issue 12: at least half of it); for context also RQ's
   forking ``Worker`` running the no-op job;
4. the no-op rate once more, after the drains: this machine's speed drifts within minutes,
   and the ratio against either measurement shows by how much;
5. (between 2 and 3) the floor: an email job reduced to what any email job must do (claim,
   send, mark, with SQLAlchemy Core on a SQLite file whatever ``--database`` says;
   ``floor_email``) and, as a yardstick, jobs that only keep the CPU busy for 2 and 4 ms
   (``spin``), against the no-op job, all drained by a SimpleWorker in a process of its
   own, three times in turn.
Figures go to docs/performance.md by hand.
"""

from __future__ import annotations

import argparse
import email.policy
import os
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rq import Queue, SimpleWorker, Worker  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from scripts import services  # noqa: E402


def wait_for_worker(redis_url: str, timeout: float = 60.0) -> None:
    """Block until a worker has registered with Redis (it is then listening)."""
    from redis import Redis

    conn = Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while Worker.count(connection=conn) == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not start")
        time.sleep(0.05)
    conn.close()


def noop() -> None:
    """The baseline job."""


def spin(ms: float) -> None:
    """A job of nothing but ``ms`` milliseconds of the CPU: what a ratio to the no-op job
    leaves for a job's own work."""
    until = time.perf_counter() + ms / 1000
    while time.perf_counter() < until:
        pass


# --- the floor of an email job: what any email job must do, on the same stack -------------

_floor: dict = {}


def floor_email(row_id: int) -> None:
    """Claim one stored email (one UPDATE … RETURNING, committed), send its bytes over the
    process's kept SMTP connection (NOOP first, as the portal checks it) and mark it sent
    (one UPDATE, committed): SQLAlchemy Core, no ORM, no rendering, no outbox."""
    import sqlalchemy as sa

    if "engine" not in _floor:
        _floor["engine"] = engine = sa.create_engine(os.environ["FLOOR_DATABASE_URL"])
        # as the portal's SQLite connections (app.create_app): WAL, synchronous=NORMAL
        sa.event.listen(
            engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA synchronous=NORMAL")
        )
        _floor["smtp"] = smtplib.SMTP("127.0.0.1", int(os.environ["FLOOR_SMTP_PORT"]), timeout=10)
    else:
        _floor["smtp"].noop()
    with _floor["engine"].begin() as conn:
        body = conn.execute(
            sa.text(
                "UPDATE mail SET status = 'sending', attempts = attempts + 1 "
                "WHERE id = :id AND status = 'pending' RETURNING body"
            ),
            {"id": row_id},
        ).scalar_one()
    _floor["smtp"].sendmail("portal@localhost", ["applicant@localhost"], body)
    with _floor["engine"].begin() as conn:
        conn.execute(sa.text("UPDATE mail SET status = 'sent' WHERE id = :id"), {"id": row_id})


_FLOOR_WORKER = """
import sys, time
from redis import Redis
from rq import Queue, SimpleWorker
import bench.pipeline  # the jobs' module, imported before the clock starts
conn = Redis.from_url(sys.argv[1])
worker = SimpleWorker([Queue("bench-floor", connection=conn)], connection=conn)
started = time.perf_counter()
worker.work(burst=True, logging_level="WARNING")
print(time.perf_counter() - started)
"""


def baseline_floor(
    redis_url: str, port: int, body: bytes, tmp: Path, n: int, rounds: int = 3
) -> dict[str, float]:
    """Rates in jobs/s of the no-op job, of ``spin`` jobs of 2 and 4 ms and of the floor email
    job: medians of ``rounds`` alternating drains of ``n`` jobs each (this machine drifts),
    each drained by a SimpleWorker in a process of its own (the sink runs in this one), on a
    SQLite file set up as the portal's."""
    import sqlalchemy as sa
    from redis import Redis

    uri = f"sqlite:///{tmp / 'floor.sqlite'}"
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql(
            "CREATE TABLE mail (id INTEGER PRIMARY KEY, status TEXT, attempts INT, body BLOB)"
        )
        conn.execute(
            sa.text("INSERT INTO mail VALUES (:id, 'pending', 0, :body)"),
            [{"id": i, "body": body} for i in range(n * rounds)],
        )
    engine.dispose()
    env = dict(os.environ, FLOOR_DATABASE_URL=uri, FLOOR_SMTP_PORT=str(port), PYTHONPATH=str(ROOT))
    conn = Redis.from_url(redis_url)
    jobs: dict[str, tuple[str, list]] = {  # name → (function, arguments; None: the row id)
        "noop": ("noop", []),
        "spin 2 ms": ("spin", [2.0]),
        "spin 4 ms": ("spin", [4.0]),
        "floor_email": ("floor_email", [None]),
    }
    rates: dict[str, list[float]] = {name: [] for name in jobs}
    for round_no in range(rounds):
        for name, (function, arguments) in jobs.items():
            conn.flushall()
            queue = Queue("bench-floor", connection=conn)
            for i in range(round_no * n, (round_no + 1) * n):
                args = [i if a is None else a for a in arguments]
                queue.enqueue(f"bench.pipeline.{function}", *args, result_ttl=0)
            out = subprocess.run(
                [sys.executable, "-c", _FLOOR_WORKER, redis_url],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            rates[name].append(n / float(out.strip().splitlines()[-1]))
    conn.flushall()
    conn.close()
    return {name: statistics.median(values) for name, values in rates.items()}


class TimedHandler(services.RecordingHandler):
    """The test sink, also noting when each message arrived."""

    def __init__(self) -> None:
        super().__init__()
        self._times: list[float] = []

    async def handle_DATA(self, server, session, envelope):
        result = await super().handle_DATA(server, session, envelope)
        with self.lock:
            if len(self._times) < len(self._raw):  # accepted, not refused
                self._times.append(time.time())
        return result

    @property
    def arrived_at(self) -> dict[str, float]:
        """Message-ID → arrival time (parsing after the run, not while the worker waits)."""
        messages = self.messages
        with self.lock:
            return {str(m["Message-ID"]): t for m, t in zip(messages, self._times, strict=True)}

    def clear(self) -> None:
        super().clear()
        with self.lock:
            self._times.clear()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def baseline_noop(redis_url: str, n: int, worker_class=SimpleWorker) -> float:
    from redis import Redis

    conn = Redis.from_url(redis_url)
    conn.flushall()
    queue = Queue("bench-noop", connection=conn)
    for _ in range(n):
        queue.enqueue("bench.pipeline.noop", result_ttl=0)  # importable by name
    worker = worker_class([queue], connection=conn)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - started
    conn.flushall()
    return n / elapsed


def baseline_smtp(port: int, n: int) -> tuple[float, float]:
    timings = []
    for i in range(n):
        message = EmailMessage()
        message["From"] = "bench@localhost"
        message["To"] = "sink@localhost"
        message["Subject"] = f"baseline {i}"
        message.set_content("x" * 1500)
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(message)
        timings.append(time.perf_counter() - started)
    return n / sum(timings), statistics.median(timings)


def worker_env(app) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        APP_ENV="testing",
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        RATELIMIT_STORAGE_URI="memory://",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(app.config["MAIL_PORT"]),
        WORKER_LOG_LEVEL="WARNING",
        OUTBOX_REDISPATCH_AFTER_SECONDS="600",  # the bench measures the direct path
        PYTHONPATH=str(ROOT),
    )
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    n = args.n

    from app import create_app
    from app.extensions import db
    from app.models import Application, Notification, OutboxItem
    from app.programmes import sync_rounds
    from bench.data import done_jobs, submit_with_test_client
    from config import TestingConfig

    tmp = Path(tempfile.mkdtemp(prefix="non-bench-"))
    redis = services.RedisServer()
    redis.start()
    smtp = services.SMTPServer()
    smtp.handler = TimedHandler()
    smtp.start()
    pg = None
    if args.database == "postgresql":
        pg = services.PostgresServer()
        pg.start()
        uri = services.create_database(pg.url, "non_bench")
    else:
        uri = f"sqlite:///{tmp / 'bench.sqlite'}"
    try:
        app = create_app(
            TestingConfig(),
            SQLALCHEMY_DATABASE_URI=uri,
            REDIS_URL=redis.url,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=smtp.port,
            RATELIMIT_STORAGE_URI="memory://",
        )
        with app.app_context():
            db.create_all()
            sync_rounds()

        print(f"machine: {os.cpu_count()} cores; database: {args.database}; n = {n}")
        noop_rate = baseline_noop(redis.url, max(n, 1000))
        print(f"baseline  RQ SimpleWorker no-op job: {noop_rate:8.1f} jobs/s")
        fork_rate = baseline_noop(redis.url, 300, Worker)
        print(f"(context) RQ forking Worker no-op job: {fork_rate:8.1f} jobs/s")
        smtp_rate, smtp_median = baseline_smtp(smtp.port, 200)
        print(
            f"baseline  bare SMTP send to the sink: {smtp_rate:8.1f} sends/s "
            f"(median {smtp_median * 1000:.1f} ms)"
        )
        smtp.clear()  # the handler's clear() also forgets the arrival times
        env = worker_env(app)

        # --- 1. submissions through the form with the real worker running beside them ---
        worker = subprocess.Popen(
            [sys.executable, "-m", "workers"], env=env, cwd=ROOT, stderr=subprocess.DEVNULL
        )
        wait_for_worker(redis.url)  # measure the pipeline, not the worker's start-up
        client = app.test_client()
        with app.app_context():
            started = time.perf_counter()
            for i in range(n):
                # Distinct organisations: the duplicate rule compares titles within one
                # organisation, and a thousand applications of one carrier is not realistic.
                submit_with_test_client(client, i)
                db.session.commit()  # end our read transaction (SQLite write lock)
            submit_elapsed = time.perf_counter() - started
            print(
                f"form      {n} submissions through the form: {n / submit_elapsed:8.1f} "
                f"submissions/s ({submit_elapsed:.1f} s)"
            )
            smtp.wait_for(3 * n, timeout=600)
            drained = time.perf_counter() - started
            worker.terminate()
            worker.wait(30)
            rows = db.session.execute(
                select(Notification.message_id, Notification.kind, Application.submitted_at).join(
                    Application, Application.id == Notification.application_id
                )
            ).all()
            latency: dict[str, list[float]] = {"receipt": [], "eligibility_result": []}
            arrived_at = smtp.handler.arrived_at
            for message_id, kind, submitted_at in rows:
                arrived = arrived_at.get(message_id)
                if kind in latency and arrived is not None:
                    latency[kind].append(arrived - submitted_at.timestamp())
            for kind, values in latency.items():
                print(
                    f"latency   submission → {kind:18s}: median {statistics.median(values):6.2f} s,"
                    f" p95 {pct(values, 95):6.2f} s  ({len(values)} emails)"
                )
            print(f"          all {3 * n} emails delivered {drained:.1f} s after the first submit")
            waiting = db.session.scalar(
                select(func.count(OutboxItem.id)).where(OutboxItem.status != "done")
            )
            print(f"          outbox rows not done: {waiting}")
            db.session.commit()

        # --- the floor: the least an email job does, on the same stack and sink ------------
        body = smtp.handler.messages[0].as_bytes(policy=email.policy.SMTP)  # a real receipt
        floor = baseline_floor(redis.url, smtp.port, body, tmp, 300)
        for name, what in (
            ("spin 2 ms", "a job of 2 ms of CPU and nothing else"),
            ("spin 4 ms", "a job of 4 ms of CPU and nothing else"),
            ("floor_email", f"email job reduced to claim, send, mark (Core, {len(body):,} bytes)"),
        ):
            print(
                f"floor     {what}: {floor[name]:8.1f} jobs/s = {floor[name] / floor['noop']:.2f}"
                f" × the no-op job drained the same way ({floor['noop']:.1f} jobs/s)"
            )
        smtp.clear()

        # --- 2. drain rate: jobs queued first, then one burst worker -------------------------
        rates = {}
        for mode in ("fork", "in-process"):
            smtp.clear()
            with app.app_context():
                offset = (2 if mode == "fork" else 3) * n
                for i in range(n):
                    submit_with_test_client(client, offset + i)
                    db.session.commit()
            done_before = done_jobs(app)
            empty = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", "import app, workers; app.create_app()"],
                env=env,
                cwd=ROOT,
                check=True,
            )
            startup = time.perf_counter() - empty
            flags = ["--burst"] + (["--fork"] if mode == "fork" else [])
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "workers", *flags],
                env=env,
                cwd=ROOT,
                check=True,
                stderr=subprocess.DEVNULL,
            )
            elapsed = time.perf_counter() - started - startup
            smtp.wait_for(3 * n, timeout=60)
            jobs = done_jobs(app) - done_before
            rate = rates[mode] = jobs / elapsed
            print(
                f"drain     {mode:6s} worker: {jobs} jobs ({jobs / n:.1f} per submission) in "
                f"{elapsed:.1f} s (start-up "
                f"{startup:.1f} s excluded): {rate:8.1f} jobs/s = {rate / noop_rate:.2f} × "
                f"SimpleWorker no-op, {rate / fork_rate:.2f} × forking no-op"
            )
        # This machine's speed drifts within minutes: the no-op rate once more, after the
        # drains, shows how far the first measurement can be trusted.
        noop_after = baseline_noop(redis.url, max(n, 1000))
        print(
            f"baseline  RQ SimpleWorker no-op job, again after the drains: {noop_after:8.1f} "
            f"jobs/s; the in-process drain = {rates['in-process'] / noop_after:.2f} × that"
        )
    finally:
        smtp.stop()
        redis.close()
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
