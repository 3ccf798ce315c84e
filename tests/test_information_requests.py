"""Requests for information and amendments: the staff ask, the applicant answers with a new
version of the application, the case returns to where it was and is checked again; reminders
are scheduled outbox rows, tested with ``app.clock`` moved (never with sleeps), also across a
Redis restart; overdue requests are a filter of the case list."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app import clock
from app.cases import information, workflow
from app.extensions import db
from app.jobs import outbox
from app.models import (
    Application,
    ApplicationVersion,
    EligibilityCheck,
    InformationRequest,
    Notification,
    OutboxItem,
    StoredFile,
)
from tests.factories import (
    add_review,
    create_application,
    hidden_fields,
    mails,
    pdf_bytes,
    sent_text,
    submit_via_form,
    valid_form_data,
)
from tests.fixtures.pipeline import drain
from tests.fixtures.workspace import csrf_from

MESSAGE = "Bitte reichen Sie den Finanzierungsplan mit Drittmittelzusage nach."


def ask(staff_client, application, due: str | None = None, message: str = MESSAGE):
    path = f"/staff/cases/{application.id}/action/request_information"
    page = staff_client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    data = {"reason": message, "csrf_token": csrf_from(html)}
    if due is not None:
        data["due_date"] = due
    else:  # the form proposes 14 days
        proposed = (clock.today() + dt.timedelta(days=14)).strftime("%d.%m.%Y")
        assert f'value="{proposed}"' in html
        data["due_date"] = proposed
    return staff_client.post(path, data=data)


def status_path(notification: Notification) -> str:
    return re.search(r"/status/[A-Za-z0-9_-]{40,}", sent_text(notification)).group(0)


def amend_via_form(client, path: str, **changes):
    """The amendment form as a browser fills it: check page, then the final submit."""
    page = client.get(f"{path}/ergaenzen")
    assert page.status_code == 200
    data = {**valid_form_data(**changes), "csrf_token": csrf_from(page.get_data(as_text=True))}
    check = client.post(
        f"{path}/ergaenzen", data={**data, "action": "check"}, content_type="multipart/form-data"
    )
    assert check.status_code == 200, check.get_data(as_text=True)[:3000]
    assert "Ergänzung verbindlich absenden" in check.get_data(as_text=True)
    payload = MultiDict(hidden_fields(check.get_data(as_text=True)))
    payload["action"] = "submit"
    return client.post(f"{path}/ergaenzen", data=payload)


def test_request_amend_and_recheck(app, client, staff_user, client_for):
    application, _token = create_application(language="en")
    drain(app)  # the first check, of the data as submitted
    staff = client_for(staff_user)
    assert ask(staff, application).status_code == 302
    db.session.expire_all()
    assert application.state == "info_requested"
    request = information.open_request(application)
    assert request.return_state == "submitted" and request.message == MESSAGE
    assert request.due_date == clock.today() + dt.timedelta(days=14)

    # the applicant's email, in English, links to the status page with the request
    [email] = mails("information_requested")
    assert email.status == "pending"
    assert email.recipient == application.contact_email and email.language == "en"
    assert MESSAGE in email.body_text
    path = status_path(email)
    status = client.get(path).get_data(as_text=True)
    assert MESSAGE in status and f"{path}/ergaenzen" in status

    # the amendment form comes filled with the current data
    form = client.get(f"{path}/ergaenzen").get_data(as_text=True)
    assert 'value="Bildungswerk Heide e. V."' in form and 'value="70.000"' in form

    response = amend_via_form(
        client, path, requested_grant="60.000", third_party_funds="20.000", language="en"
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert application.state == "submitted" and application.version == 2
    assert application.requested_grant == 6_000_000
    versions = db.session.scalars(
        select(ApplicationVersion).order_by(ApplicationVersion.number)
    ).all()
    assert [(v.number, v.actor_label) for v in versions] == [(1, "applicant"), (2, "applicant")]
    assert versions[0].data["requested_grant"] == 7_000_000
    assert information.changes(versions[0].data, versions[1].data) == [
        ("third_party_funds", 1_000_000, 2_000_000),
        ("requested_grant", 7_000_000, 6_000_000),
    ]
    request = db.session.get(InformationRequest, request.id)
    assert request.answered_at is not None and request.answer_version == 2
    assert [m.recipient for m in mails("amended")] == ["staff@example.org"]

    # the check runs again, for the new version
    drain(app)
    db.session.expire_all()
    checks = db.session.scalars(select(EligibilityCheck.application_version)).all()
    assert sorted(checks) == [1, 2]
    assert len(mails("eligibility_result")) == 2
    assert len(mails("staff_new")) == 1  # staff heard of the new case once

    # the staff page shows what changed, field by field
    case = staff.get(f"/staff/cases/{application.id}").get_data(as_text=True)
    assert "Fassung 2" in case and "Beantragter Zuschuss" in case
    assert "70.000,00" in case and "60.000,00" in case

    # the form is closed now
    again = client.get(f"{path}/ergaenzen", follow_redirects=True)
    assert "keine Rückfrage offen" in again.get_data(as_text=True)


def test_the_amendment_check_page_goes_back_to_the_form_with_everything_typed(
    app, client, staff_user, client_for
):
    application, _token = create_application()
    assert ask(client_for(staff_user), application).status_code == 302
    [email] = mails("information_requested")
    path = f"{status_path(email)}/ergaenzen"
    page = client.get(path).get_data(as_text=True)
    data = {
        **valid_form_data(title="Neuer Titel mit Ümlaut", requested_grant="60.000"),
        "attachment": (io.BytesIO(pdf_bytes()), "Nachweis.pdf"),
        "csrf_token": csrf_from(page),
    }
    check = client.post(path, data={**data, "action": "check"}, content_type="multipart/form-data")
    assert check.status_code == 200
    hidden = hidden_fields(check.get_data(as_text=True))
    edit = client.post(path, data=MultiDict([*hidden, ("action", "edit")]))
    html = edit.get_data(as_text=True)
    assert edit.status_code == 200
    assert 'value="Neuer Titel mit Ümlaut"' in html and 'value="60.000"' in html
    assert "Nachweis.pdf" in html  # the PDF is still with the answer
    assert "Bitte korrigieren" not in html
    db.session.expire_all()
    assert application.state == "info_requested" and application.version == 1  # nothing sent


def test_an_amendment_with_a_new_attachment_replaces_the_old_one(
    app, client, staff_user, client_for
):
    _response, reference, _token = submit_via_form(
        client, attachment=(io.BytesIO(pdf_bytes(pages=1)), "Finanzplan-alt.pdf")
    )
    application = db.session.scalar(select(Application).filter_by(reference=reference))
    old_name = application.attachment_name
    staff = client_for(staff_user)
    assert ask(staff, application).status_code == 302
    [email] = mails("information_requested")
    new_pdf = pdf_bytes(pages=2)
    response = amend_via_form(
        client, status_path(email), attachment=(io.BytesIO(new_pdf), "Finanzplan-neu.pdf")
    )
    assert response.status_code == 303
    db.session.expire_all()
    # the case holds the new file; the old one is gone with nothing left pending
    assert application.attachment_original_name == "Finanzplan-neu.pdf"
    assert application.attachment_size == len(new_pdf)
    assert db.session.scalars(select(StoredFile.name)).all() == [application.attachment_name]
    assert application.attachment_name != old_name
    download = staff.get(f"/staff/cases/{application.id}/attachment")
    assert download.status_code == 200 and download.data == new_pdf
    # the first version still names the file as submitted
    first = db.session.scalar(select(ApplicationVersion).filter_by(number=1))
    assert first.data["attachment"]["name"] == "Finanzplan-alt.pdf"


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_answer_returns_a_reviewed_case_to_reviewed(app, client, staff_user, reviewer_user):
    application, _token = create_application()
    add_review(application, reviewer_user)
    workflow.apply_transition(application, "mark_reviewed", user=staff_user)
    workflow.apply_transition(application, "request_information", user=staff_user, reason=MESSAGE)
    db.session.commit()
    path = status_path(mails("information_requested")[0])
    assert amend_via_form(client, path, title="Ein genauerer Titel").status_code == 303
    db.session.expire_all()
    assert application.state == "reviewed" and application.title == "Ein genauerer Titel"


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_bad_input_is_refused_with_a_message(app, client, staff_user, client_for):
    application, _token = create_application()
    staff = client_for(staff_user)
    past = ask(staff, application, due=(clock.today() - dt.timedelta(days=1)).strftime("%d.%m.%Y"))
    assert past.status_code == 422 and "Die Frist muss in der Zukunft liegen" in past.get_data(
        as_text=True
    )
    assert ask(staff, application, due="31.02.2026").status_code == 422
    empty = ask(staff, application, message="  ")
    assert empty.status_code == 422
    db.session.expire_all()
    assert application.state == "submitted" and mails("information_requested") == []

    assert ask(staff, application).status_code == 302
    path = status_path(mails("information_requested")[0])
    page = client.get(f"{path}/ergaenzen")
    data = {
        **valid_form_data(requested_grant="abc", title="Neuer Titel"),
        "csrf_token": csrf_from(page.get_data(as_text=True)),
        "action": "check",
    }
    wrong = client.post(f"{path}/ergaenzen", data=data, content_type="multipart/form-data")
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 422
    assert "Bitte geben Sie einen Betrag in Euro ein" in html and 'value="Neuer Titel"' in html
    db.session.expire_all()
    assert application.state == "info_requested" and application.version == 1


# --- reminders: scheduled outbox rows, the clock moved --------------------------------------


def _at(monkeypatch, when: dt.datetime) -> None:
    monkeypatch.setattr(clock, "now", lambda: when)


def _request(application, staff_user, due: dt.date) -> InformationRequest:
    workflow.apply_transition(
        application, "request_information", user=staff_user, reason=MESSAGE, due_date=due
    )
    db.session.commit()  # after commit the reminders are scheduled on RQ
    return information.open_request(application)


def _morning(day: dt.date, hour: int = 8, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clock.BERLIN)


def test_reminders_three_days_before_and_on_the_due_date(app, smtp, staff_user, monkeypatch):
    application, _token = create_application()
    due = clock.today() + dt.timedelta(days=10)
    request = _request(application, staff_user, due)
    rows = db.session.scalars(select(OutboxItem).where(OutboxItem.run_at.is_not(None))).all()
    assert sorted(r.run_at for r in rows) == [
        _morning(due - dt.timedelta(days=3)).astimezone(dt.UTC),
        _morning(due).astimezone(dt.UTC),
    ]
    drain(app)  # sends the request email; the reminders stay scheduled
    assert mails("request_reminder") == [] and mails("request_due") == []

    _at(monkeypatch, _morning(due - dt.timedelta(days=3), 7, 59))
    outbox.redispatch_stale()
    drain(app)
    assert mails("request_reminder") == []  # a minute early: nothing

    _at(monkeypatch, _morning(due - dt.timedelta(days=3), 8, 1))
    outbox.redispatch_stale()
    drain(app)
    [reminder] = mails("request_reminder")
    assert reminder.recipient == application.contact_email and reminder.status == "sent"
    assert MESSAGE in reminder.body_text and "/status/" in reminder.body_text
    assert mails("request_due") == []

    _at(monkeypatch, _morning(due, 8, 1))
    outbox.redispatch_stale()
    drain(app)
    [due_mail] = mails("request_due")
    assert due_mail.recipient == "staff@example.org" and due_mail.status == "sent"
    # re-running a reminder job sends nothing twice
    assert information.remind_applicant_of_request(request.id) == "skipped"
    assert information.remind_staff_of_request(request.id) == "skipped"
    assert len(mails("request_reminder")) == 1 and len(mails("request_due")) == 1
    assert len([m for m in smtp.messages if "Erinnerung" in str(m["Subject"])]) == 1


def test_reminder_survives_a_redis_restart(app, smtp, staff_user, redis_server, monkeypatch):
    application, _token = create_application()
    due = clock.today() + dt.timedelta(days=5)
    _request(application, staff_user, due)
    redis_server.stop()  # no persistence: every scheduled job is gone
    redis_server.start()
    _at(monkeypatch, _morning(due - dt.timedelta(days=3), 9))
    counts = outbox.redispatch_stale()
    assert counts["requeued"] >= 1
    drain(app)
    [reminder] = mails("request_reminder")
    assert reminder.status == "sent"
    assert mails("request_due") == []  # not due yet, but scheduled again
    _at(monkeypatch, _morning(due, 9))
    outbox.redispatch_stale()
    drain(app)
    assert [m.status for m in mails("request_due")] == ["sent"]


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_a_reminder_run_early_waits_for_its_time(app, staff_user):
    application, _token = create_application()
    request = _request(application, staff_user, clock.today() + dt.timedelta(days=10))
    before = db.session.scalar(select(db.func.count(OutboxItem.id)))
    assert information.remind_applicant_of_request(request.id) == "skipped"
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count(OutboxItem.id))) == before + 1
    assert mails("request_reminder") == []


def test_an_answered_request_sends_no_reminders(app, client, staff_user, monkeypatch):
    application, _token = create_application()
    due = clock.today() + dt.timedelta(days=10)
    request = _request(application, staff_user, due)
    path = status_path(mails("information_requested")[0])
    assert amend_via_form(client, path).status_code == 303
    _at(monkeypatch, _morning(due, 9))
    assert information.remind_applicant_of_request(request.id) == "skipped"
    assert information.remind_staff_of_request(request.id) == "skipped"
    assert mails("request_reminder") == [] and mails("request_due") == []


def test_overdue_filter(app, staff_user, client_for, monkeypatch):
    late, _ = create_application(title="Spät dran")
    on_time, _ = create_application(title="Noch Zeit")
    _request(late, staff_user, clock.today() + dt.timedelta(days=2))
    _request(on_time, staff_user, clock.today() + dt.timedelta(days=20))
    staff = client_for(staff_user)
    listing = staff.get("/staff/cases?overdue=1").get_data(as_text=True)
    assert "Spät dran" not in listing and "Noch Zeit" not in listing

    _at(monkeypatch, clock.now() + dt.timedelta(days=3))
    staff = client_for(staff_user)  # three days on: a new login (a login lasts 10 h at most)
    listing = staff.get("/staff/cases?overdue=1").get_data(as_text=True)
    assert "Spät dran" in listing and "Noch Zeit" not in listing
    assert "Spät dran" in staff.get("/staff/cases").get_data(as_text=True)
    case = staff.get(f"/staff/cases/{late.id}").get_data(as_text=True)
    assert "überfällig" in case
