"""End to end: the form, the outbox, the real worker entry point ``python -m workers``, a real
Redis and a real SMTP server, including Redis outages, SMTP refusals and a SIGKILLed worker."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from rq import Worker
from sqlalchemy import func, select

from app.extensions import db
from app.jobs import outbox
from app.models import Application, EligibilityCheck, Notification, OutboxItem
from tests.factories import create_application, submit_via_form
from tests.fixtures.pipeline import ROOT, kill_tree, run_worker_process, wait_until

STATUS_LINK = re.compile(r"https://foerderung\.example\.org(/status/[A-Za-z0-9_\-]+)")


def _kinds(messages) -> Counter:
    """Kinds of the received emails, matched to their rows by Message-ID."""
    db.session.expire_all()
    kind_of = dict(db.session.execute(select(Notification.message_id, Notification.kind)).all())
    db.session.commit()  # SQLite: a read transaction of ours would block the worker's writes
    return Counter(kind_of.get(str(m["Message-ID"]), "unknown") for m in messages)


def _waiting() -> int:
    db.session.expire_all()
    count = db.session.scalar(
        select(func.count(OutboxItem.id)).where(OutboxItem.status != "done")
    ) + db.session.scalar(select(func.count(Notification.id)).where(Notification.status != "sent"))
    db.session.commit()  # SQLite: a read transaction of ours would block the worker's writes
    return count


def test_valid_submission_yields_exactly_three_emails(app, client, smtp, pipeline_env):
    response, reference, token = submit_via_form(client, language="en")
    assert response.status_code == 200 and reference
    run_worker_process(pipeline_env)
    messages = smtp.wait_for(3)
    run_worker_process(pipeline_env)  # a second run sends nothing more
    time.sleep(0.2)
    assert len(smtp.messages) == 3
    assert _kinds(messages) == {"receipt": 1, "staff_new": 1, "eligibility_result": 1}
    for message in messages:
        assert reference in str(message["Subject"])
    applicant = [m for m in messages if str(m["To"]) == "erika@bildungswerk-heide.example"]
    staff = [m for m in messages if str(m["To"]) == "staff@example.org"]
    assert len(applicant) == 2 and len(staff) == 1
    receipt = next(m for m in applicant if _kinds([m]) == {"receipt": 1})
    text = receipt.get_body(("plain",)).get_content()
    assert "€70,000.00" in text  # English formats for an English applicant
    path = STATUS_LINK.search(text).group(1)
    assert path == f"/status/{token}"
    page = client.get(path)
    assert page.status_code == 200 and reference in page.get_data(as_text=True)
    # the eligibility email states the outcome stored on the case
    db.session.expire_all()
    application = db.session.scalar(select(Application).filter_by(reference=reference))
    check = db.session.scalar(select(EligibilityCheck).filter_by(application_id=application.id))
    assert application.eligibility_outcome == check.overall
    assert _waiting() == 0


def test_redis_down_during_submission_then_everything_arrives_once(
    app, client, smtp, redis_server, pipeline_env
):
    redis_server.stop()
    response, reference, _token = submit_via_form(client)
    assert response.status_code == 200
    assert reference in response.get_data(as_text=True)
    db.session.expire_all()
    assert {r.status for r in db.session.scalars(select(OutboxItem))} == {"pending"}
    redis_server.start()
    run_worker_process(pipeline_env)  # its re-dispatch pass finds the waiting rows
    smtp.wait_for(3)
    run_worker_process(pipeline_env)
    time.sleep(0.2)
    assert _kinds(smtp.messages) == {"receipt": 1, "staff_new": 1, "eligibility_result": 1}
    assert _waiting() == 0


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_running_worker_redispatches_on_schedule_and_stops_warmly(app, smtp, pipeline_env):
    env = dict(pipeline_env, OUTBOX_REDISPATCH_INTERVAL_SECONDS="1")
    db.session.commit()
    worker = subprocess.Popen(
        [sys.executable, "-m", "workers"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The worker is up and its first re-dispatch pass is over ...
        conn = outbox.redis_connection(app)
        wait_until(lambda: Worker.count(connection=conn) == 1, timeout=30)
        time.sleep(1.5)
        # ... when the web process cannot reach Redis (the worker can): its rows stay pending
        good_url = app.config["REDIS_URL"]
        app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
        app.extensions.pop("outbox_redis", None)
        create_application()
        app.config["REDIS_URL"] = good_url
        app.extensions.pop("outbox_redis", None)
        db.session.expire_all()
        assert {r.status for r in db.session.scalars(select(OutboxItem))} == {"pending"}
        db.session.commit()
        # ... until the running worker's scheduled re-dispatch picks them up.
        smtp.wait_for(3, timeout=30)
        wait_until(lambda: _waiting() == 0)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            returncode = worker.wait(15)
        finally:
            if worker.poll() is None:
                kill_tree(worker.pid)
    assert returncode == 0  # warm shutdown
    assert _kinds(smtp.messages) == {"receipt": 1, "staff_new": 1, "eligibility_result": 1}


def test_smtp_failing_for_good_leaves_failed_notifications(app, smtp, pipeline_env):
    create_application()
    smtp.fail_always(554)
    run_worker_process(pipeline_env)
    db.session.expire_all()
    notes = db.session.scalars(select(Notification)).all()
    # the three emails, and an alert about each (which fails too, and is not alerted again)
    assert sorted(n.kind for n in notes) == sorted(
        ["receipt", "staff_new", "eligibility_result", *["email_failed"] * 3]
    )
    assert all(n.status == "failed" and "554" in n.last_error for n in notes)


def test_sigkilled_worker_job_runs_again_and_nothing_is_sent_twice(
    app, smtp, slow_smtp, pipeline_env
):
    handler, port = slow_smtp
    create_application()
    env = dict(pipeline_env, MAIL_PORT=str(port))
    handler.hold.set()
    db.session.commit()  # hold no SQLite lock while the worker runs
    worker = subprocess.Popen(  # the long-running worker, not burst
        [sys.executable, "-m", "workers"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert handler.entered.wait(30), "the worker never reached the SMTP server"
        # a send is in flight (claimed row, RCPT unanswered): the machine dies
        kill_tree(worker.pid)
    finally:
        if worker.poll() is None:
            kill_tree(worker.pid)
        worker.wait(10)
    db.session.expire_all()
    assert (
        db.session.scalar(
            select(func.count(Notification.id)).where(Notification.status == "sending")
        )
        == 1
    )
    handler.hold.clear()
    handler.release.set()
    time.sleep(3.5)  # > OUTBOX_ABANDONED_AFTER_SECONDS and the claim timeout in the test settings
    run_worker_process(env)  # its re-dispatch pass finds the abandoned job
    time.sleep(0.3)
    assert _kinds(handler.messages) == {"receipt": 1, "staff_new": 1, "eligibility_result": 1}
    assert _waiting() == 0
    db.session.expire_all()
    resent = db.session.scalar(select(Notification).filter_by(attempts=2))
    assert resent is not None and resent.status == "sent"


@pytest.mark.slow
@pytest.mark.parametrize("app", ["sqlite"], indirect=True)  # SQLite: the tighter locking
def test_burst_of_200_submissions_all_checked_and_emailed(app, smtp, pipeline_env):
    n = 200
    for i in range(n):
        create_application(title=f"Projekt Nummer {i}", language="en" if i % 4 == 0 else "de")
    run_worker_process(pipeline_env, timeout=170)
    smtp.wait_for(3 * n, timeout=30)
    assert len(smtp.messages) == 3 * n
    db.session.expire_all()
    assert db.session.scalar(select(func.count(EligibilityCheck.id))) == n
    assert (
        db.session.scalar(
            select(func.count(Application.id)).where(Application.eligibility_outcome.is_(None))
        )
        == 0
    )
    assert _waiting() == 0
    kinds = _kinds(smtp.messages)
    assert kinds == {"receipt": n, "staff_new": n, "eligibility_result": n}
    # one email of each kind per application
    assert len({str(m["Subject"]) for m in smtp.messages}) == 3 * n
