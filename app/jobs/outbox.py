"""Durable job requests: an outbox row per piece of background work, enqueued after commit.

``record()`` adds a row to the current session; the row commits with the change that needs it.
An ``after_commit`` hook then enqueues the new rows on RQ (job id = ``outbox-<id>``, enqueued
with ``unique=True``, so a second enqueue of the same row is refused by Redis instead of running
the job twice). If Redis is down the request still succeeds, a warning is logged and the row
stays ``pending`` until the worker's periodic ``redispatch_stale()`` picks it up.

A row may carry ``run_at``: its job is then scheduled on RQ (``enqueue_at``; the worker runs
RQ's scheduler) instead of queued. The database stays the source of truth: if Redis loses the
scheduled job, the re-dispatch schedules it again, and once ``run_at`` has passed by
``app.clock`` a row whose job still waits in RQ's scheduled registry is queued at once.

Row life cycle: ``pending`` (committed, not on RQ) → ``enqueued`` (on RQ) → ``done`` (the job
returned) or ``failed`` (RQ gave up after its retries; ``last_error`` says why). The jobs report
back through RQ success/failure callbacks (``job_succeeded``/``job_failed`` below), so a failure
is a visible row, never only a log line. A job whose last act is a commit marks its row done in
that commit (``finish_running_job``), one transaction fewer per job. See docs/pipeline.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import Update, event, func, inspect, or_, select, update
from sqlalchemy.orm import Session

from app import clock
from app.extensions import db
from app.jobs import FAILURE_LISTENERS, REGISTRY, JobSpec, spec
from app.models import OutboxItem

log = logging.getLogger(__name__)

JOB_PREFIX = "outbox-"
WAITING = ("pending", "enqueued")

_SESSION_KEY = "outbox_new"
_DONE_KEY = "outbox_done"
_REDIS_KEY = "outbox_redis"

# Rows a running job marked done in its own last transaction (``finish_running_job``), so
# its success callback has nothing left to write. Per process: a job and its callback run
# in the same one (the work horse, when the worker forks).
_DONE_BY_JOB: set[int] = set()


def record(
    job: Callable[..., Any] | str, *, run_at: dt.datetime | None = None, **payload: Any
) -> OutboxItem:
    """Add an outbox row for the registered ``job`` (function or name) to the current transaction;
    with ``run_at`` (aware UTC), the job runs no earlier than that."""
    job_spec = spec(job)
    item = OutboxItem(
        job=job_spec.name, queue=job_spec.queue, payload=payload, status="pending", run_at=run_at
    )
    db.session.add(item)
    # What the enqueue needs, kept beside the row: after the commit its attributes are expired
    # and no SQL may run inside the after_commit hook.
    db.session.info.setdefault(_SESSION_KEY, []).append(
        (item, job_spec.name, job_spec.queue, payload, run_at)
    )
    return item


# --- wiring ------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Hook the after-commit dispatch into Flask-SQLAlchemy's session (once per process)."""
    for name, handler in (
        ("after_commit", _after_commit),
        ("after_soft_rollback", _after_soft_rollback),
    ):
        if not event.contains(db.session, name, handler):
            event.listen(db.session, name, handler)


def redis_connection(app: Flask | None = None) -> Redis:
    """The app's Redis client for RQ: bytes responses, short timeouts so a dead Redis
    costs a request a second, not a minute. One client (and pool) per app and process."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    conn = app.extensions.get(_REDIS_KEY)
    if conn is None:
        conn = Redis.from_url(
            app.config["REDIS_URL"],
            socket_connect_timeout=1,
            socket_timeout=5,
            health_check_interval=30,
        )
        app.extensions[_REDIS_KEY] = conn
    return conn


def _retry() -> Retry:
    intervals = list(current_app.config["OUTBOX_RETRY_INTERVALS"]) or [10]
    return Retry(max=len(intervals), interval=intervals)


def _enqueue(
    conn: Redis,
    item_id: int,
    job: str,
    queue_name: str,
    payload: dict,
    run_at: dt.datetime | None = None,
) -> Job:
    """Put one row's job on RQ: queued, or scheduled if ``run_at`` is still ahead. Raises
    DuplicateJobError if the job id exists already."""
    cfg = current_app.config
    queue = Queue(queue_name, connection=conn)
    job_id = f"{JOB_PREFIX}{item_id}"
    if run_at is not None and run_at > clock.now():
        # enqueue_at ignores ``unique``: check by hand, so a second dispatch changes nothing.
        if Job.exists(job_id, connection=conn):
            raise DuplicateJobError(job_id)
        return queue.enqueue_at(
            run_at, spec(job).path, job_id=job_id, **_job_options(cfg, job, payload)
        )
    return queue.enqueue(
        spec(job).path, job_id=job_id, unique=True, **_job_options(cfg, job, payload)
    )


def _job_options(cfg: Any, job: str, payload: dict) -> dict[str, Any]:
    return dict(
        kwargs=payload,
        retry=_retry(),
        job_timeout=cfg["OUTBOX_JOB_TIMEOUT"],
        result_ttl=cfg["OUTBOX_RESULT_TTL"],
        failure_ttl=cfg["OUTBOX_FAILURE_TTL"],
        on_success=Callback(f"{__name__}.job_succeeded"),
        on_failure=Callback(f"{__name__}.job_failed"),
        description=f"{job}({', '.join(f'{k}={v}' for k, v in payload.items())})",
    )


def _mark_enqueued(ids: Iterable[int]) -> None:
    """Own short transaction: the caller's session may be mid-commit or already closed."""
    ids = list(ids)
    if not ids:
        return
    with db.engine.begin() as conn:
        conn.execute(
            update(OutboxItem)
            .where(OutboxItem.id.in_(ids), OutboxItem.status == "pending")
            .values(status="enqueued", enqueued_at=clock.now())
        )


# --- after commit ------------------------------------------------------------------------


def _after_commit(session: Session) -> None:
    _DONE_BY_JOB.update(session.info.pop(_DONE_KEY, ()))
    items = session.info.pop(_SESSION_KEY, None)
    if not items or not has_app_context():
        return
    rows = []
    for item, job, queue_name, payload, run_at in items:
        # The identity key survives the commit's expiry (reading item.id would emit SQL).
        identity = inspect(item).identity
        if identity is not None:
            rows.append((identity[0], job, queue_name, payload, run_at))
    dispatch(rows)


def _after_soft_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None and not previous_transaction.nested:
        session.info.pop(_SESSION_KEY, None)
        session.info.pop(_DONE_KEY, None)


def dispatch(rows: list[tuple]) -> int:
    """Enqueue committed rows at once; on a Redis error log a warning and leave them pending.

    Never raises: the change that needed the work is committed already, and the applicant
    must see the confirmation page whatever Redis does.
    """
    enqueued: list[int] = []
    try:
        conn = redis_connection()
        for item_id, job, queue_name, payload, *rest in rows:
            run_at = rest[0] if rest else None
            # DuplicateJobError: already on RQ (a re-dispatch was faster), nothing to do
            with contextlib.suppress(DuplicateJobError):
                _enqueue(conn, item_id, job, queue_name, payload or {}, run_at)
            enqueued.append(item_id)
    except (RedisError, OSError) as exc:
        log.warning(
            "outbox: Redis unreachable, %d job(s) wait for re-dispatch: %s",
            len(rows) - len(enqueued),
            exc,
        )
    try:
        _mark_enqueued(enqueued)
    except Exception:  # the jobs are on RQ; a row left pending is re-checked later
        log.exception("outbox: could not mark rows %s enqueued", enqueued)
    return len(enqueued)


# --- re-dispatch -------------------------------------------------------------------------

# RQ states in which the job will still run (or is running) by itself
_ALIVE = {
    JobStatus.QUEUED,
    JobStatus.SCHEDULED,
    JobStatus.DEFERRED,
    JobStatus.STARTED,
}


def _job_needs_requeue(
    job: Job, abandoned_after: dt.timedelta, run_at: dt.datetime | None = None
) -> bool:
    status = job.get_status(refresh=False)
    if status == JobStatus.SCHEDULED and run_at is not None:
        # Due by the application's clock: run it now rather than wait for RQ's scheduler.
        return run_at <= clock.now()
    if status == JobStatus.STARTED:
        # A worker killed mid-job leaves its job "started"; RQ itself notices only when the
        # execution's TTL runs out. The heartbeat (refreshed by the running worker every
        # monitoring interval) tells us earlier. Re-running is safe: jobs are idempotent.
        beat = job.last_heartbeat or job.started_at or job.enqueued_at
        if beat is None:
            return True
        if beat.tzinfo is None:
            beat = beat.replace(tzinfo=dt.UTC)
        return clock.now() - beat > abandoned_after
    return status not in _ALIVE


def redispatch_stale(older_than: dt.timedelta | None = None) -> dict[str, int]:
    """Re-enqueue rows that have waited too long; returns counts for logging.

    - ``pending`` rows older than ``older_than`` (Redis was down at commit time);
    - ``enqueued`` rows whose RQ job vanished (Redis restarted without persistence), ended
      without running our callback, or is ``started`` without a heartbeat for
      ``OUTBOX_ABANDONED_AFTER_SECONDS`` (the worker died mid-job);
    - ``enqueued`` rows whose RQ job finished but whose callback did not get through → done.
    Raises RedisError if Redis is unreachable (the caller logs and tries again later).
    """
    cfg = current_app.config
    if older_than is None:
        older_than = dt.timedelta(seconds=cfg["OUTBOX_REDISPATCH_AFTER_SECONDS"])
    abandoned_after = dt.timedelta(seconds=cfg["OUTBOX_ABANDONED_AFTER_SECONDS"])
    cutoff = clock.now() - older_than
    rows = db.session.execute(
        select(
            OutboxItem.id,
            OutboxItem.job,
            OutboxItem.queue,
            OutboxItem.payload,
            OutboxItem.status,
            OutboxItem.run_at,
        )
        .where(
            OutboxItem.status.in_(WAITING),
            func.coalesce(OutboxItem.enqueued_at, OutboxItem.created_at) <= cutoff,
        )
        .order_by(OutboxItem.id)
    ).all()
    db.session.commit()  # end the read transaction before talking to Redis
    conn = redis_connection()
    counts = {"requeued": 0, "enqueued": 0, "done": 0, "alive": 0}
    requeued: list[int] = []
    done: list[int] = []
    for item_id, job_name, queue_name, payload, status, run_at in rows:
        if run_at is not None and run_at.tzinfo is None:
            run_at = run_at.replace(tzinfo=dt.UTC)
        job_id = f"{JOB_PREFIX}{item_id}"
        try:
            job = Job.fetch(job_id, connection=conn)
        except NoSuchJobError:
            job = None
        if job is not None:
            if job.get_status(refresh=False) == JobStatus.FINISHED:
                done.append(item_id)
                continue
            if not _job_needs_requeue(job, abandoned_after, run_at):
                if status == "pending":
                    requeued.append(item_id)  # on RQ already: only the row lagged behind
                counts["alive"] += 1
                continue
            job.delete()
        try:
            _enqueue(conn, item_id, job_name, queue_name, payload or {}, run_at)
        except DuplicateJobError:
            continue  # someone else re-enqueued it in between
        counts["requeued" if status == "enqueued" else "enqueued"] += 1
        requeued.append(item_id)
    _mark_requeued(requeued)
    if done:
        _finish(done, "done")
    counts["done"] = len(done)
    return counts


def _mark_requeued(ids: list[int]) -> None:
    if not ids:
        return
    with db.engine.begin() as conn:
        conn.execute(
            update(OutboxItem)
            .where(OutboxItem.id.in_(ids), OutboxItem.status.in_(WAITING))
            .values(status="enqueued", enqueued_at=clock.now())
        )


# --- job callbacks (run by the worker, always inside an app context: around each job, and
# around the whole work loop for RQ's abandoned-job cleanup) -------------------------------


def item_id_of(job: Job) -> int | None:
    if job.id and job.id.startswith(JOB_PREFIX) and job.id[len(JOB_PREFIX) :].isdigit():
        return int(job.id[len(JOB_PREFIX) :])
    return None


def _finishing(ids: list[int], status: str, error: str | None = None) -> Update:
    """The UPDATE that ends rows (a row once ``done`` stays so)."""
    values: dict[str, Any] = {"status": status, "finished_at": clock.now()}
    if error is not None:
        values["last_error"] = error
    return (
        update(OutboxItem)
        .where(OutboxItem.id.in_(ids), OutboxItem.status != "done")
        .values(**values)
    )


def _finish(ids: list[int], status: str, error: str | None = None) -> None:
    with db.engine.begin() as conn:
        conn.execute(_finishing(ids, status, error))


def finish_running_job() -> None:
    """Mark the running job's row ``done`` in the current transaction, so it commits with the
    job's last change and the success callback has no transaction of its own to write.

    Call it just before the job's final commit, on a path that then returns. If that commit
    fails, the mark is rolled back with it and the callbacks work as before. Outside a job
    (a direct call, a test) it does nothing.
    """
    current = get_current_job()
    item_id = item_id_of(current) if current is not None else None
    if item_id is None:
        return
    db.session.execute(_finishing([item_id], "done").execution_options(synchronize_session=False))
    db.session.info.setdefault(_DONE_KEY, set()).add(item_id)


def job_succeeded(job: Job, connection: Redis, result: Any, *args, **kwargs) -> None:
    item_id = item_id_of(job)
    if item_id is not None:
        # A job that returned early after only reading still holds its transaction (on
        # SQLite the write lock: outside a request every transaction begins IMMEDIATE); end
        # it first.
        db.session.rollback()
        if item_id in _DONE_BY_JOB:  # the job's own last commit marked it
            _DONE_BY_JOB.discard(item_id)
            return
        _finish([item_id], "done")


def job_failed(job: Job, connection: Redis, exc_type=None, exc_value=None, tb=None) -> None:
    """Every failed attempt: count it; after the last one mark the row ``failed``."""
    item_id = item_id_of(job)
    if item_id is None:
        return
    _DONE_BY_JOB.discard(item_id)
    error = f"{exc_type.__name__ if exc_type else 'Error'}: {exc_value}"[:2000]
    final = not (job.retries_left and job.retries_left > 0)
    _record_failure(item_id, job, error, final)


def _record_failure(item_id: int, job: Job, error: str, final: bool) -> None:
    db.session.rollback()  # the job may have left the session in a failed transaction
    with db.engine.begin() as conn:
        values: dict[str, Any] = {"attempts": OutboxItem.attempts + 1, "last_error": error}
        if final:
            values.update(status="failed", finished_at=clock.now())
        conn.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item_id, OutboxItem.status != "done")
            .values(**values)
        )
    if final:
        _on_final_failure(job, error)


def _on_final_failure(job: Job, error: str) -> None:
    """The job's own clean-up once RQ gave up (e.g. mark its email failed)."""
    job_spec: JobSpec | None = next((s for s in REGISTRY.values() if s.path == job.func_name), None)
    if job_spec is not None and job_spec.on_final_failure is not None:
        job_spec.on_final_failure(error, **(job.kwargs or {}))
    if job_spec is None or job_spec.alerts:
        name = job_spec.name if job_spec is not None else str(job.func_name)
        for listener in FAILURE_LISTENERS:
            try:
                listener(name, error, dict(job.kwargs or {}))
            except Exception:  # an alert that cannot be recorded must not hide the failure
                db.session.rollback()
                log.exception("outbox: failure listener %r failed", listener)


# --- status ------------------------------------------------------------------------------


def failed_items(limit: int = 50) -> list[OutboxItem]:
    """The latest jobs that exhausted their retries, for the operations page."""
    return list(
        db.session.scalars(
            select(OutboxItem)
            .where(OutboxItem.status == "failed")
            .order_by(OutboxItem.id.desc())
            .limit(limit)
        )
    )


def retry_failed(ids: list[int]) -> int:
    """Run failed rows again: drop their old RQ job, set them pending and commit; the
    after-commit hook enqueues them (or the re-dispatch does, if Redis is down now)."""
    rows = list(
        db.session.scalars(
            select(OutboxItem).where(OutboxItem.id.in_(ids), OutboxItem.status == "failed")
        )
    )
    with contextlib.suppress(RedisError, OSError):
        conn = redis_connection()
        for item in rows:
            with contextlib.suppress(NoSuchJobError):
                Job.fetch(item.job_id, connection=conn).delete()
    for item in rows:
        item.status = "pending"
        item.finished_at = None
        db.session.info.setdefault(_SESSION_KEY, []).append(
            (item, item.job, item.queue, dict(item.payload or {}), None)
        )
    db.session.commit()
    return len(rows)


def status_summary() -> dict[str, Any]:
    """Counts per status and the age of the oldest waiting row, for the CLI and /healthz."""
    counts = dict(
        db.session.execute(
            select(OutboxItem.status, func.count(OutboxItem.id)).group_by(OutboxItem.status)
        ).all()
    )
    # A scheduled row waits from its run_at on, not from its creation.
    now = clock.now()
    oldest = db.session.scalar(
        select(func.min(func.coalesce(OutboxItem.run_at, OutboxItem.created_at))).where(
            OutboxItem.status.in_(WAITING),
            or_(OutboxItem.run_at.is_(None), OutboxItem.run_at <= now),
        )
    )
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    age = (now - oldest).total_seconds() if oldest is not None else None
    return {
        "pending": counts.get("pending", 0),
        "enqueued": counts.get("enqueued", 0),
        "done": counts.get("done", 0),
        "failed": counts.get("failed", 0),
        "oldest_waiting_seconds": None if age is None else max(0, round(age)),
    }
