"""Scale-out proof: 2 web processes and 3 worker processes on one PostgreSQL and one Redis.

    .venv/bin/python bench/scaleout.py [--n 1000] [--drain 150]

1. Throughput: ``--drain`` submissions are queued with no worker running, then 1, 2 and 3
   worker processes (``python -m workers --burst``) drain them: pipeline jobs/s for each.
2. The proof: ``--n`` submissions through the form over HTTP (8 sessions spread over the two
   gunicorn processes) while three ``python -m workers`` run; when a third of the emails has
   arrived one worker is SIGKILLed (with its children) and not restarted. Then every
   notification row must have reached the SMTP sink exactly once (counted by Message-ID),
   every case must have one receipt, one result email and one staff notice, and no outbox
   row may be left undone. Recovery settings are shortened through the environment, as the
   tests do: abandoned jobs are taken over after 20 s, email claims after 30 s.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.data import done_jobs  # noqa: E402
from bench.web import Session, gunicorn, portal_env  # noqa: E402
from scripts import services  # noqa: E402

KINDS = ("receipt", "eligibility_result", "staff_new")


def submit_all(ports: list[int], first: int, n: int, sessions: int = 8) -> float:
    counter = iter(range(first, first + n))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run(k: int) -> None:
        session = Session(ports[k % len(ports)])
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            try:
                session.submit(i)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=run, args=(k,)) for k in range(sessions)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return n / (time.perf_counter() - started)


def start_workers(k: int, env: dict[str, str], *flags: str) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "workers", *flags],
            env=env,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: SIGKILL takes its children too
        )
        for _ in range(k)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--drain", type=int, default=150)
    args = parser.parse_args()

    from app import create_app
    from app.extensions import db
    from app.models import Notification, OutboxItem
    from app.programmes import sync_rounds
    from config import TestingConfig

    tmp = Path(tempfile.mkdtemp(prefix="non-scaleout-"))
    redis = services.RedisServer()
    redis.start()
    smtp = services.SMTPServer()
    smtp.start()
    pg = services.PostgresServer()
    pg.start()
    webs = []
    try:
        uri = services.create_database(pg.url, "non_scaleout")
        app = create_app(TestingConfig(), SQLALCHEMY_DATABASE_URI=uri, REDIS_URL=redis.url)
        with app.app_context():
            db.create_all()
            sync_rounds()
            db.session.commit()
        env = portal_env(ROOT, f"sqlite:///{tmp / 'unused.sqlite'}", redis.url)
        env.update(
            DATABASE_URL=uri,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(smtp.port),
            STAFF_EMAILS="staff@example.org",
            WORKER_LOG_LEVEL="WARNING",
            OUTBOX_ABANDONED_AFTER_SECONDS="20",
            OUTBOX_REDISPATCH_AFTER_SECONDS="20",
            OUTBOX_REDISPATCH_INTERVAL_SECONDS="5",
            NOTIFICATION_CLAIM_TIMEOUT_SECONDS="30",
            OUTBOX_RETRY_INTERVALS="2,5,10,20",
            WORKER_MONITOR_INTERVAL_SECONDS="5",
        )
        webs = [gunicorn(ROOT, "wsgi:app", env, tmp / f"access{k}.log") for k in range(2)]
        ports = [port for _process, port, _log in webs]
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}", flush=True)

        # --- 1. throughput with 1, 2, 3 workers ----------------------------------------
        first = 0
        for k in (1, 2, 3):
            smtp.clear()
            submit_all(ports, first, args.drain)
            first += args.drain
            done_before = done_jobs(app)
            started = time.perf_counter()
            for worker in start_workers(k, env, "--burst"):
                worker.wait(1800)
            smtp.wait_for(3 * args.drain, timeout=600)
            elapsed = time.perf_counter() - started
            jobs = done_jobs(app) - done_before
            print(
                f"drain  {k} worker(s): {jobs} jobs in {elapsed:6.1f} s = "
                f"{jobs / elapsed:6.1f} jobs/s (start-up included)",
                flush=True,
            )

        # --- 2. the proof: n submissions, 3 workers, one SIGKILLed -----------------------
        smtp.clear()
        with app.app_context():
            before = db.session.scalar(select(func.max(Notification.application_id))) or 0
            db.session.commit()
        workers = start_workers(3, env)
        killed = threading.Event()

        def killer() -> None:
            while len(smtp.envelopes) < args.n:  # a third of the 3 n emails
                time.sleep(0.05)
            os.killpg(workers[0].pid, signal.SIGKILL)
            killed.set()

        threading.Thread(target=killer, daemon=True).start()
        rate = submit_all(ports, first, args.n)
        print(f"submit {args.n} submissions over HTTP: {rate:.1f}/s", flush=True)
        smtp.wait_for(3 * args.n, timeout=1800)
        print(f"killed one worker mid-run: {killed.is_set()}", flush=True)
        deadline = time.monotonic() + 600
        with app.app_context():
            while True:
                waiting = db.session.scalar(
                    select(func.count(OutboxItem.id)).where(OutboxItem.status != "done")
                )
                db.session.commit()
                if waiting == 0 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            rows = db.session.execute(
                select(
                    Notification.message_id, Notification.kind, Notification.application_id
                ).where(Notification.application_id > before)
            ).all()
        time.sleep(2)  # late duplicates would arrive now
        arrived = collections.Counter(str(m["Message-ID"]) for m in smtp.messages)
        per_case = collections.Counter((app_id, kind) for _mid, kind, app_id in rows)
        cases = {app_id for _mid, _kind, app_id in rows}
        copies = collections.Counter(arrived.get(mid, 0) for mid, _kind, _app in rows)
        print(f"cases: {len(cases)}; notification rows: {len(rows)}; outbox not done: {waiting}")
        print(f"copies per notification row (copies: rows): {dict(sorted(copies.items()))}")
        for kind in KINDS:
            counts = collections.Counter(per_case[(c, kind)] for c in cases)
            print(f"  {kind:20s} per case (count: cases): {dict(sorted(counts.items()))}")
        lost = copies.get(0, 0)
        duplicates = sum(v for k, v in copies.items() if k > 1)
        print(f"RESULT lost {lost}, sent more than once {duplicates}, outbox undone {waiting}")
        for worker in workers[1:]:
            worker.terminate()
        for worker in workers:
            worker.wait(60)
    finally:
        for process, _port, _log in webs:
            process.terminate()
            process.wait(30)
        smtp.stop()
        redis.close()
        pg.stop()


if __name__ == "__main__":
    main()
