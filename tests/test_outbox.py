"""The outbox: rows written with the change, enqueued on RQ after commit, re-dispatched when
they wait too long, and marked done or failed by the jobs' callbacks."""

from __future__ import annotations

import datetime as dt
import logging

from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import event, select, update

from app import clock
from app.cases.checks import check_eligibility
from app.extensions import db
from app.jobs import job, outbox
from app.models import EligibilityCheck, Notification, OutboxItem
from tests.factories import create_application
from tests.fixtures.pipeline import drain


def _rows() -> list[OutboxItem]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def _queue(name: str, app) -> Queue:
    return Queue(name, connection=outbox.redis_connection(app))


def test_rows_are_enqueued_after_commit_with_retry_and_ttls(app):
    app.config["OUTBOX_RETRY_INTERVALS"] = [5, 30, 120]
    create_application()
    rows = _rows()  # the check and the receipt; the staff hear of it from the check
    assert [r.status for r in rows] == ["enqueued"] * 2
    assert all(r.enqueued_at is not None for r in rows)
    assert _queue("checks", app).job_ids == [rows[0].job_id]
    assert _queue("emails", app).job_ids == [rows[1].job_id]
    job = Job.fetch(rows[0].job_id, connection=outbox.redis_connection(app))
    assert job.func_name == "app.cases.checks.check_eligibility"
    assert job.kwargs == rows[0].payload
    assert job.retries_left == 3 and job.retry_intervals == [5, 30, 120]
    assert job.timeout == app.config["OUTBOX_JOB_TIMEOUT"]
    assert job.result_ttl == app.config["OUTBOX_RESULT_TTL"]
    assert job.failure_ttl == app.config["OUTBOX_FAILURE_TTL"]


def test_nothing_is_enqueued_before_commit_or_after_rollback(app):
    outbox.record(check_eligibility, application_id=12345)
    db.session.flush()
    assert _queue("checks", app).count == 0
    db.session.rollback()
    assert _queue("checks", app).count == 0
    db.session.commit()  # a later commit does not resurrect the rolled-back row
    assert _queue("checks", app).count == 0
    assert _rows() == []


def test_second_enqueue_is_harmless(app):
    create_application()
    rows = _rows()
    again = [(r.id, r.job, r.queue, r.payload) for r in rows]
    db.session.commit()  # as after a real commit: no transaction of ours holds SQLite's lock
    assert outbox.dispatch(again) == 2
    assert _queue("checks", app).count == 1
    assert _queue("emails", app).count == 1
    counts = outbox.redispatch_stale(dt.timedelta(0))
    assert counts["requeued"] == 0 and counts["alive"] == 2
    assert _queue("emails", app).count == 1


def test_redis_down_commit_succeeds_rows_wait_then_redispatch(
    app, redis_server, smtp, caplog, fast_pipeline
):
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="app.outbox"):
        application, _token = create_application()
    assert application.id is not None
    assert [r.status for r in _rows()] == ["pending"] * 2
    assert "Redis unreachable" in caplog.text
    # the health check and the CLI show the waiting
    assert outbox.status_summary()["pending"] == 2
    redis_server.start()
    counts = outbox.redispatch_stale(dt.timedelta(0))
    assert counts["enqueued"] == 2
    drain(app)
    assert {r.status for r in _rows()} == {"done"}
    smtp.wait_for(3)
    assert len(smtp.messages) == 3


def test_redispatch_waits_for_the_configured_age(app, redis_server):
    redis_server.stop()
    create_application()
    redis_server.start()
    app.config["OUTBOX_REDISPATCH_AFTER_SECONDS"] = 60
    assert outbox.redispatch_stale()["enqueued"] == 0
    old = clock.now() - dt.timedelta(seconds=61)
    db.session.execute(update(OutboxItem).values(created_at=old))
    db.session.commit()
    assert outbox.redispatch_stale()["enqueued"] == 2


def test_redispatch_requeues_vanished_and_abandoned_jobs(app, redis_server):
    create_application()
    conn = outbox.redis_connection(app)
    rows = _rows()
    # Redis lost everything (restart without persistence)
    conn.flushall()
    counts = outbox.redispatch_stale(dt.timedelta(0))
    assert counts["requeued"] == 2
    assert _queue("emails", app).count == 1

    # a worker died mid-job: the job stays "started" and its heartbeat stops
    job = Job.fetch(rows[1].job_id, connection=conn)
    _queue("emails", app).remove(job.id)
    job.set_status(JobStatus.STARTED)
    job.heartbeat(clock.now() - dt.timedelta(seconds=600), ttl=60)
    app.config["OUTBOX_ABANDONED_AFTER_SECONDS"] = 300
    counts = outbox.redispatch_stale(dt.timedelta(0))
    assert counts["requeued"] == 1
    assert job.id in _queue("emails", app).job_ids
    assert Job.fetch(job.id, connection=conn).get_status() == JobStatus.QUEUED

    # a running job with a fresh heartbeat is left alone
    job = Job.fetch(rows[0].job_id, connection=conn)
    _queue("checks", app).remove(job.id)
    job.set_status(JobStatus.STARTED)
    job.heartbeat(clock.now(), ttl=60)
    assert outbox.redispatch_stale(dt.timedelta(0))["requeued"] == 0


def test_redispatch_runs_nothing_twice(app, redis_server):
    """The two cases where the row lags behind RQ: a job that finished but whose callback
    never got through (the worker died in between) is marked done, not run again; a job on
    RQ whose row still says pending (marking it enqueued failed) is not enqueued twice."""
    create_application()
    conn = outbox.redis_connection(app)
    check_row, receipt_row = _rows()
    finished = Job.fetch(check_row.job_id, connection=conn)
    _queue("checks", app).remove(finished.id)
    finished.set_status(JobStatus.FINISHED)
    db.session.execute(
        update(OutboxItem).where(OutboxItem.id == receipt_row.id).values(status="pending")
    )
    db.session.commit()

    counts = outbox.redispatch_stale(dt.timedelta(0))

    assert counts == {"requeued": 0, "enqueued": 0, "done": 1, "alive": 1}
    assert [r.status for r in _rows()] == ["done", "enqueued"]
    assert _queue("checks", app).count == 0  # the finished check is not run again
    assert _queue("emails", app).job_ids == [receipt_row.job_id]  # the receipt once


def test_job_that_keeps_failing_ends_as_visible_failed_row(app, fast_pipeline):
    outbox.record(check_eligibility, application_id=999999)
    db.session.commit()
    drain(app)
    (row, *alert) = _rows()
    # the failure is told by email (no admin account here: to the shared staff inbox)
    assert [(a.job, a.status) for a in alert] == [
        ("send_staff_notice", "done"),
        ("send_notification", "done"),
    ]
    assert row.status == "failed"
    assert row.attempts == 3  # first run and two retries
    assert "LookupError" in row.last_error and "999999" in row.last_error
    assert row.finished_at is not None
    assert outbox.status_summary()["failed"] == 1


class Transactions:
    """The SQL of every committed transaction on the app's engine, in order."""

    def __init__(self) -> None:
        self.committed: list[list[str]] = []

    def __enter__(self) -> Transactions:
        event.listen(db.engine, "before_cursor_execute", self._statement)
        event.listen(db.engine, "commit", self._commit)
        event.listen(db.engine, "rollback", self._rollback)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(db.engine, "before_cursor_execute", self._statement)
        event.remove(db.engine, "commit", self._commit)
        event.remove(db.engine, "rollback", self._rollback)

    def _statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info.setdefault("statements", []).append(" ".join(statement.split()))

    def _commit(self, conn) -> None:
        self.committed.append(conn.info.pop("statements", []))

    def _rollback(self, conn) -> None:
        conn.info.pop("statements", None)


def _finishes_a_row(statement: str) -> bool:
    return statement.startswith("UPDATE outbox SET status=") and "finished_at" in statement


def _writes(statement: str) -> bool:
    return statement.split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE")


def test_jobs_mark_their_row_done_in_their_own_last_transaction(app, smtp):
    """Each job of a submission (check, receipt, result email, staff notice and its email)
    commits its work and its row's ``done`` together: no transaction of its own for that."""
    create_application()
    with Transactions() as seen:
        drain(app)
    finishing = [t for t in seen.committed if any(_finishes_a_row(s) for s in t)]
    assert len(finishing) == 5
    for statements in finishing:
        others = [s for s in statements if _writes(s) and not _finishes_a_row(s)]
        assert others, statements  # the job's own work is in the same transaction
    rows = _rows()
    assert [r.status for r in rows] == ["done"] * 5
    assert all(r.finished_at is not None for r in rows)


@job(queue="maintenance")
def marks_done_then_rolls_back(application_id: int) -> str:
    """A job whose last transaction, carrying its row's mark, did not commit."""
    outbox.finish_running_job()
    db.session.rollback()
    return "rolled back"


def test_a_rolled_back_mark_leaves_the_row_to_the_success_callback(app):
    outbox.record(marks_done_then_rolls_back, application_id=1)
    db.session.commit()
    with Transactions() as seen:
        drain(app)
    (row,) = _rows()
    assert row.status == "done" and row.finished_at is not None
    # the success callback wrote it, in a transaction of its own
    (finishing,) = [t for t in seen.committed if any(_finishes_a_row(s) for s in t)]
    assert all(_finishes_a_row(s) for s in finishing if _writes(s))


def test_finish_running_job_outside_a_job_does_nothing(app):
    with Transactions() as seen:
        outbox.finish_running_job()
        db.session.commit()
    assert not any(_finishes_a_row(s) for t in seen.committed for s in t)


def test_check_job_is_idempotent(app, smtp):
    application, _token = create_application()
    drain(app)
    assert check_eligibility(application.id) == "exists"
    assert check_eligibility(application.id) == "exists"
    db.session.expire_all()
    checks = db.session.scalars(select(EligibilityCheck)).all()
    assert len(checks) == 1
    assert application.eligibility_outcome == checks[0].overall
    emails = db.session.scalars(select(Notification).filter_by(kind="eligibility_result")).all()
    assert len(emails) == 1


def test_outbox_status_cli(app, runner, redis_server):
    redis_server.stop()
    create_application()
    old = clock.now() - dt.timedelta(minutes=5, seconds=3)
    db.session.execute(update(OutboxItem).where(OutboxItem.id == 1).values(created_at=old))
    db.session.execute(update(OutboxItem).where(OutboxItem.id == 2).values(status="failed"))
    db.session.commit()
    result = runner.invoke(args=["outbox", "status"])
    assert result.exit_code == 0, result.output
    assert "pending:  1" in result.output
    assert "enqueued: 0" in result.output
    assert "failed:   1" in result.output
    assert "oldest waiting: 5m 0" in result.output


def test_healthz_reports_oldest_waiting_age(app, client, redis_server):
    assert client.get("/healthz").json["outbox_oldest_waiting_seconds"] is None
    redis_server.stop()
    create_application()
    redis_server.start()
    old = clock.now() - dt.timedelta(seconds=90)
    db.session.execute(update(OutboxItem).values(created_at=old))
    db.session.commit()
    body = client.get("/healthz").json
    assert 90 <= body["outbox_oldest_waiting_seconds"] < 120
