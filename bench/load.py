"""Load test: 50 concurrent users for 60 s against gunicorn + PostgreSQL + Redis + 2 workers.

    .venv/bin/python bench/load.py [--users 50] [--seconds 60] [--cases 2000]

Starts its own PostgreSQL, Redis and SMTP sink, fills the database with ``--cases`` cases
(bulk insert) plus a staff and a reviewer account, starts gunicorn (2 sync workers) and two
``python -m workers``, then runs locust headless (bench/locustfile.py: applicants, staff,
reviewers) against 127.0.0.1 only, bounded in time. Prints locust's p50/p95 per page and the
error count; the CSV files stay in the printed folder.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.data import PASSWORD, bulk_insert_cases  # noqa: E402
from bench.web import gunicorn, portal_env  # noqa: E402
from scripts import services  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--cases", type=int, default=2000)
    args = parser.parse_args()

    from app import accounts, create_app
    from app.extensions import db
    from app.programmes import configured_round, sync_rounds
    from config import TestingConfig

    tmp = Path(tempfile.mkdtemp(prefix="non-load-"))
    redis = services.RedisServer()
    redis.start()
    smtp = services.SMTPServer()
    smtp.start()
    pg = services.PostgresServer()
    pg.start()
    processes: list[subprocess.Popen] = []
    try:
        uri = services.create_database(pg.url, "non_load")
        app = create_app(TestingConfig(), SQLALCHEMY_DATABASE_URI=uri, REDIS_URL=redis.url)
        with app.app_context():
            db.create_all()
            sync_rounds()
            accounts.create_user("staff@example.org", role="staff", password=PASSWORD)
            accounts.create_user("reviewer@example.org", role="reviewer", password=PASSWORD)
            db.session.commit()
            bulk_insert_cases(args.cases, configured_round())
            db.session.remove()
            db.engine.dispose()
        env = portal_env(ROOT, f"sqlite:///{tmp / 'unused.sqlite'}", redis.url)
        env.update(
            DATABASE_URL=uri,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(smtp.port),
            WORKER_LOG_LEVEL="WARNING",
        )
        web, port, _log = gunicorn(ROOT, "wsgi:app", env, tmp / "access.log")
        processes.append(web)
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "workers"], env=env, cwd=ROOT, stderr=subprocess.DEVNULL
                )
            )
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}", flush=True)
        prefix = tmp / "locust"
        locust_env = dict(os.environ, LOAD_PASSWORD=PASSWORD, PYTHONPATH=str(ROOT))
        subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "locust"),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                "10",
                "--run-time",
                f"{args.seconds}s",
                "--host",
                f"http://127.0.0.1:{port}",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env=locust_env,
            cwd=ROOT,
            check=False,
            timeout=args.seconds + 120,
        )
        print(f"load average after: {os.getloadavg()}; CSV in {tmp}")
        print("\n| page | requests | errors | p50 ms | p95 ms |")
        print("|---|---:|---:|---:|---:|")
        with open(f"{prefix}_stats.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                print(
                    f"| {row['Name'] or row['Type']} | {row['Request Count']} | "
                    f"{row['Failure Count']} | {row['50%']} | {row['95%']} |"
                )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(60)
        smtp.stop()
        redis.close()
        pg.stop()


if __name__ == "__main__":
    main()
