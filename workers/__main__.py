"""``python -m workers [--burst]``: the background worker.

Creates the Flask app once, before any fork; runs jobs in-process (``--fork``: a work horse
per job, as RQ's default ``Worker`` does); listens on the ``emails`` queue, then
``checks``, then ``maintenance``; runs RQ's scheduler (due retries with backoff); and in a small
forked helper process (like RQ's own scheduler process), every
``OUTBOX_REDISPATCH_INTERVAL_SECONDS``, re-dispatches outbox rows that waited too long and
records the day's retention run (``app.cases.retention.run_retention``) in the outbox once a
day, so the daily run is as durable as any other job. ``--burst`` does one re-dispatch pass,
drains the queues and exits. SIGTERM/SIGINT shut down warmly: the running job finishes first.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import threading

from flask import Flask
from redis.exceptions import RedisError

import workers
from app import create_app
from app.cases import inbox, retention
from app.extensions import db
from app.jobs import outbox

log = logging.getLogger("workers")

# Emails first: a receipt is a quick job the applicant is waiting for; a check can wait, and
# the daily retention run can wait longest.
DEFAULT_QUEUES = ("emails", "checks", "maintenance")


def redispatch_once(app: Flask) -> None:
    with app.app_context():
        try:
            counts = outbox.redispatch_stale()
            if any(counts.values()):
                log.info("outbox re-dispatch: %s", counts)
        except (RedisError, OSError) as exc:
            log.warning("outbox re-dispatch: Redis unreachable (%s); trying again later", exc)
        except Exception:
            log.exception("outbox re-dispatch failed")
        finally:
            db.session.remove()
    inbox.run_schedule(app)  # staff digests due now (app.cases.inbox)


def schedule_daily_once(app: Flask) -> None:
    """Record the day's retention run if it is due and not recorded yet."""
    with app.app_context():
        try:
            if retention.record_daily_run():
                log.info("retention: today's run recorded")
        except Exception:
            log.exception("retention: could not record today's run; trying again later")
            db.session.rollback()
        finally:
            db.session.remove()


def _drop_inherited_connections(app: Flask) -> None:
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


def _redispatch_loop(app: Flask, interval: float, parent_pid: int) -> None:
    """Body of the helper process: re-dispatch on a schedule until told to stop."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    _drop_inherited_connections(app)
    while not stop.is_set() and os.getppid() == parent_pid:
        redispatch_once(app)
        schedule_daily_once(app)
        stop.wait(interval)


def start_redispatcher(app: Flask) -> multiprocessing.process.BaseProcess:
    interval = float(app.config["OUTBOX_REDISPATCH_INTERVAL_SECONDS"])
    process = multiprocessing.get_context("fork").Process(
        target=_redispatch_loop,
        args=(app, interval, os.getpid()),
        name="outbox-redispatch",
        daemon=True,
    )
    process.start()
    return process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="drain the queues, then exit")
    parser.add_argument(
        "--fork",
        action="store_true",
        help="fork a work horse per job (isolation at a cost of ~5x throughput here)",
    )
    parser.add_argument("--queues", nargs="+", default=list(DEFAULT_QUEUES))
    parser.add_argument("--log-level", default=os.environ.get("WORKER_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")

    app = create_app()  # once, before any fork
    workers.set_app(app)
    if args.fork:
        # Each work horse would compile the email templates again and lose them on exit. A
        # worker without forks compiles each on first use and keeps it (no start-up cost:
        # half a second, which `--burst` paid on every run).
        workers.warm_up(app)
    if args.burst:
        redispatch_once(app)
    with app.app_context():
        # Nothing pooled may cross the forks below (work horses, helper processes).
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()

    # In-process by default: a fork per job costs more than our jobs themselves (see
    # docs/pipeline.md). A job that kills the process is recovered like any abandoned job.
    worker_class = workers.AppWorker if args.fork else workers.AppSimpleWorker
    worker = worker_class(
        args.queues,
        connection=outbox.redis_connection(app),
        job_monitoring_interval=app.config["WORKER_MONITOR_INTERVAL_SECONDS"],
    )
    redispatcher = None if args.burst else start_redispatcher(app)
    try:
        # RQ's abandoned-job cleanup runs our failure callback in this process, between jobs.
        with app.app_context():
            worker.work(burst=args.burst, with_scheduler=True, logging_level=args.log_level)
    finally:
        if redispatcher is not None and redispatcher.is_alive():
            redispatcher.terminate()
            redispatcher.join(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
