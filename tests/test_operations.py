"""The operations page: failed jobs and emails in view for staff, and sending them again."""

from __future__ import annotations

from sqlalchemy import select

from app.cases.checks import check_eligibility
from app.extensions import db
from app.jobs import outbox
from app.models import Notification, OutboxItem
from tests.factories import create_application
from tests.fixtures.pipeline import drain
from tests.fixtures.workspace import csrf_from


def test_failed_email_is_shown_and_sent_again(app, smtp, fast_pipeline, staff_user, client_for):
    application, _token = create_application()
    smtp.fail_always(code=550)
    drain(app)
    failed = db.session.scalars(select(Notification).filter_by(status="failed")).all()
    assert failed  # every email failed for good
    staff = client_for(staff_user)
    page = staff.get("/staff/operations")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert failed[0].recipient in html and "550" in html
    assert f"/staff/cases/{application.id}" in html

    smtp.clear()  # the mail server is fixed
    receipt = next(n for n in failed if n.kind == "receipt")
    response = staff.post(
        f"/staff/operations/emails/{receipt.id}/resend", data={"csrf_token": csrf_from(html)}
    )
    assert response.status_code == 303
    drain(app)
    smtp.wait_for(1)
    db.session.expire_all()
    assert db.session.get(Notification, receipt.id).status == "sent"
    assert [str(m["To"]) for m in smtp.messages] == [receipt.recipient]
    # a second click changes nothing
    again = staff.post(
        f"/staff/operations/emails/{receipt.id}/resend",
        data={"csrf_token": csrf_from(html)},
        follow_redirects=True,
    )
    assert "nicht (mehr) fehlgeschlagen" in again.get_data(as_text=True)


def test_failed_job_is_listed_and_retried_from_the_cli(
    app, runner, fast_pipeline, client_for, staff_user
):
    outbox.record(check_eligibility, application_id=424242)
    db.session.commit()
    drain(app)
    (row,) = db.session.scalars(select(OutboxItem)).all()
    assert row.status == "failed"
    html = client_for(staff_user).get("/staff/operations").get_data(as_text=True)
    # the job by its name for people, with the case it was for; not the function's name
    assert "Förderfähigkeitsprüfung" in html and "424242" in html
    assert "check_eligibility" not in html

    result = runner.invoke(args=["outbox", "retry", str(row.id)])
    assert result.exit_code == 0, result.output
    assert "1 failed job(s) queued again" in result.output
    db.session.expire_all()
    assert db.session.get(OutboxItem, row.id).status == "enqueued"
    drain(app)  # still no such application: it fails again, visibly
    db.session.expire_all()
    assert db.session.get(OutboxItem, row.id).status == "failed"


def test_reviewers_do_not_see_operations(app, reviewer_user, client_for):
    assert client_for(reviewer_user).get("/staff/operations").status_code == 403
    assert client_for(None).get("/staff/operations").status_code == 302
