"""Emails: recorded with the change, rendered in the applicant's language, delivered once.

Delivery runs through a real RQ worker (in-process ``AppSimpleWorker``, built as
``python -m workers`` builds its own) against a real Redis and a real aiosmtpd server.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from app import clock
from app.cases import inbox, workflow
from app.cases.checks import check_eligibility
from app.cases.workflow import TRANSITIONS, apply_transition
from app.extensions import db
from app.mail import compose, delivery
from app.models import Notification, OutboxItem, StaffNotice, User
from tests.factories import create_application, write_staff_emails
from tests.fixtures.pipeline import drain


def _notifications(**filters) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(Notification).filter_by(**filters).order_by(Notification.id))
    )


def _staff() -> User:
    user = User(email="sb@example.org", name="Sachbearbeitung", password_hash="x", role="staff")
    db.session.add(user)
    db.session.commit()
    return user


def test_submission_records_receipt_and_check(app):
    application, _token = create_application()
    rows = _notifications(application_id=application.id)
    # the staff notice follows the eligibility check, so it can carry its summary
    assert [(n.kind, n.recipient, n.language, n.status) for n in rows] == [
        ("receipt", "erika@bildungswerk-heide.example", "de", "pending"),
    ]
    receipt = rows[0]
    assert application.reference in receipt.subject
    # issue 7, point 1: the stored copy has the status link without its token
    redacted = "https://foerderung.example.org/status/TOKEN-ENTFERNT"
    assert redacted in receipt.body_text
    assert f'href="{redacted}"' in receipt.body_html
    assert receipt.personal_link == "status"
    assert "70.000,00" in receipt.body_text  # the requested grant, German format
    assert "Heidekreis" in receipt.body_text and "Lüneburg" in receipt.body_text
    assert receipt.message_id.startswith("<") and receipt.message_id.endswith(
        "@foerderung.example.org>"
    )
    jobs = db.session.execute(
        select(OutboxItem.job, OutboxItem.payload).order_by(OutboxItem.id)
    ).all()
    assert [j for j, _p in jobs] == ["check_eligibility", "send_notification"]
    assert jobs[0][1] == {"application_id": application.id}


def test_staff_notice_follows_the_check_with_its_summary(app):
    application, _token = create_application(
        districts=["03151"], priorities=[], decl_truthful=False
    )
    check_eligibility(application.id)
    check_eligibility(application.id)  # idempotent: one notice only
    write_staff_emails()
    write_staff_emails()  # the notice's job is idempotent too
    (staff,) = _notifications(application_id=application.id, kind="staff_new")
    assert staff.recipient == "staff@example.org" and staff.language == "de"
    assert "Nicht förderfähig" in staff.body_text
    assert "Förderregion (nicht erfüllt)" in staff.body_text
    assert "Landkreise: Gifhorn" in staff.body_text
    assert "Südostniedersachsen" in staff.body_text
    assert f"https://foerderung.example.org/staff/cases/{application.id}" in staff.body_text
    assert "<li>" in staff.body_html
    # the staff notice carries no contact details of the applicant's staff
    assert "Erika" not in staff.body_text and "04131" not in staff.body_text


def test_english_applicant_gets_english_subject_and_date_format(app):
    application, _token = create_application(language="en")
    receipt = _notifications(application_id=application.id, kind="receipt")[0]
    assert receipt.language == "en"
    assert "€70,000.00" in receipt.body_text
    assert "Thank you" in receipt.body_text or "thank you" in receipt.body_text


def test_links_come_from_base_url_not_the_request(app, client):
    application, token = create_application()
    with app.test_request_context("/", base_url="https://evil.example"):
        assert compose.absolute_url("intake.status", token=token).startswith(
            "https://foerderung.example.org/"
        )
        links = inbox.links_for(application, 1, inbox.LINK_ORDER)
    # no reviewer account exists, so "request reviews" is not possible and not offered
    assert set(links) == {"operations", "case", "reject"}
    assert links["case"] == f"https://foerderung.example.org/staff/cases/{application.id}"
    assert all(url.startswith("https://foerderung.example.org/") for url in links.values())


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("submit", [("receipt", "applicant")]),
        ("mark_reviewed", [("reviewed", "applicant")]),
        ("fund", [("funded", "applicant")]),
        ("reject", [("rejected", "applicant")]),
        # no staff account: the shared address only
        ("withdraw", [("withdrawal_confirmed", "applicant"), ("withdrawn", "staff@example.org")]),
        ("reopen", []),
        ("request_information", [("information_requested", "applicant")]),
        ("amend", [("amended", "staff@example.org")]),
    ],
)
def test_preview_for_transition(app, action, expected):
    application, _token = create_application()
    preview = workflow.preview(application, action)
    assert preview == [
        (kind, application.contact_email if to == "applicant" else to) for kind, to in expected
    ]
    assert set(TRANSITIONS) == {
        "submit", "mark_reviewed", "fund", "reject", "reopen", "withdraw",
        "request_information", "amend",
    }  # fmt: skip


def test_every_transition_records_the_emails_its_preview_promised(app, monkeypatch):
    staff = _staff()
    application, _token = create_application()
    monkeypatch.setattr("app.cases.workflow._needs_review", lambda *a: None)
    monkeypatch.setattr("app.cases.workflow._needs_valid_grant", lambda *a: None)
    monkeypatch.setattr(
        "app.cases.workflow.TRANSITIONS",
        {
            k: t.__class__(**{**t.__dict__, "checks": (), "preconditions": ()})
            for k, t in TRANSITIONS.items()
        },
    )
    steps = [
        ("mark_reviewed", {}),
        ("reopen", {"reason": "Noch eine Stellungnahme fehlt."}),
        ("mark_reviewed", {}),
        ("reject", {"reason": "Der Regionalbezug ist zu schwach."}),
    ]
    for action, kwargs in steps:
        before = {n.id for n in _notifications(application_id=application.id)}
        expected = workflow.preview(application, action)
        apply_transition(application, action, user=staff, **kwargs)
        db.session.commit()
        new = [n for n in _notifications(application_id=application.id) if n.id not in before]
        assert [(n.kind, n.recipient) for n in new] == expected, action
    rejected = _notifications(application_id=application.id, kind="rejected")[0]
    assert "Der Regionalbezug ist zu schwach." in rejected.body_text

    other, _ = create_application(title="Ein anderes Projekt")
    expected = workflow.preview(other, "withdraw")
    apply_transition(other, "withdraw")
    db.session.commit()
    # staff emails are notices first (one per person, written by their job after the commit)
    notices = db.session.scalars(select(StaffNotice).filter_by(application_id=other.id)).all()
    confirmation = _notifications(application_id=other.id, kind="withdrawal_confirmed")
    assert [(n.kind, n.recipient) for n in confirmation + notices] == expected
    assert {n.recipient for n in notices} == {"staff@example.org", "sb@example.org"}
    write_staff_emails()
    withdrawn = _notifications(application_id=other.id, kind="withdrawn")
    assert sorted(n.recipient for n in withdrawn) == ["sb@example.org", "staff@example.org"]
    confirmed = _notifications(application_id=other.id, kind="withdrawal_confirmed")
    assert [n.recipient for n in confirmed] == [other.contact_email]


def test_funded_email_names_granted_amount(app):
    application, _token = create_application(language="en")
    with db.session.no_autoflush:  # rendered only; never flushed
        application.granted_amount = 5_000_000
        subject, text, html = compose.render(
            "funded", application, "en", event=None, reason=None, links=None, check=None
        )
    db.session.rollback()
    assert application.reference in subject
    assert "€50,000.00" in text and "€50,000.00" in html


def test_delivery_through_real_worker_and_smtp(app, smtp):
    application, token = create_application()
    drain(app)
    messages = smtp.wait_for(3)
    subjects = sorted(str(m["Subject"]) for m in messages)
    assert len(messages) == 3, subjects
    by_to = {str(m["To"]): m for m in messages}
    staff = by_to["staff@example.org"]
    assert application.reference in str(staff["Subject"])
    receipt = next(m for m in messages if "Eingangsbestätigung" in str(m["Subject"]))
    assert str(receipt["To"]) == "erika@bildungswerk-heide.example"
    text = receipt.get_body(("plain",)).get_content()
    html = receipt.get_body(("html",)).get_content()
    # rendered at send time: the applicant's email has the working link
    assert f"https://foerderung.example.org/status/{token}" in text
    assert f'href="https://foerderung.example.org/status/{token}"' in html
    assert receipt["Message-ID"] == _notifications(kind="receipt")[0].message_id
    assert all(n.status == "sent" and n.sent_at for n in _notifications())
    assert db.session.scalar(select(func.count()).where(OutboxItem.status != "done")) == 0


def test_claim_is_one_conditional_update(app):
    _application, _token = create_application()
    note = _notifications(kind="receipt")[0]
    claimed = delivery.claim(note.id)
    db.session.commit()
    # the claimed row comes back from the same statement, as the update left it
    assert claimed.id == note.id and claimed.status == "sending" and claimed.attempts == 1
    assert delivery.claim(note.id) is None  # a second worker gets nothing
    db.session.commit()
    # ... until the claim is older than the timeout (the first worker died)
    app.config["NOTIFICATION_CLAIM_TIMEOUT_SECONDS"] = 60
    old = clock.now() - dt.timedelta(seconds=120)
    db.session.execute(
        update(Notification).where(Notification.id == note.id).values(claimed_at=old)
    )
    db.session.commit()
    assert delivery.claim(note.id).attempts == 2
    db.session.commit()
    assert _notifications(kind="receipt")[0].attempts == 2


def test_sent_notification_is_not_sent_again(app, smtp):
    create_application()
    note = _notifications(kind="receipt")[0]
    assert delivery.deliver(note.id) == "sent"
    assert delivery.deliver(note.id) == "sent"
    assert len(smtp.messages) == 1


def test_temporary_smtp_failure_is_retried_and_arrives(app, smtp, fast_pipeline):
    create_application()
    smtp.fail_next(1, code=451)
    drain(app)
    smtp.wait_for(3)
    assert len(smtp.messages) == 3
    notes = _notifications()
    assert all(n.status == "sent" for n in notes)
    assert sorted(n.attempts for n in notes) == [1, 1, 2]  # one email needed the retry


def test_permanent_smtp_failure_marks_notification_failed(app, smtp, fast_pipeline):
    create_application()
    smtp.fail_always(550)
    drain(app)
    notes = _notifications()
    assert notes and all(n.status == "failed" for n in notes)
    assert all("550" in n.last_error and "Permanent failure" in n.last_error for n in notes)
    assert all(n.attempts == 1 for n in notes)  # 5xx: no retries
    assert smtp.messages == []


def test_retries_exhausted_marks_notification_and_outbox_failed(app, smtp, fast_pipeline):
    create_application()
    smtp.fail_next(100, code=421)
    drain(app)
    notes = _notifications()
    assert notes and all(n.status == "failed" for n in notes)
    assert all("421" in n.last_error for n in notes)
    assert all(n.attempts == 3 for n in notes)  # first try + 2 retries
    failed = db.session.scalars(select(OutboxItem).filter_by(status="failed")).all()
    assert len(failed) == len(notes) and all("421" in o.last_error for o in failed)


# --- issue 7, point 6: a header error is a permanent failure staff see -----------------------


def test_header_error_is_a_permanent_failure_on_the_operations_page(
    app, smtp, staff_user, client_for
):
    application, _token = create_application()
    notification = compose.record(compose.REVIEWED, application, "staff@example.org", "de")
    # As stored by an older version, before one-line fields lost their line breaks.
    notification.subject = "Neuer Antrag: Evil\r\nBcc: victim@example.org"
    db.session.commit()
    assert delivery.deliver(notification.id) == "failed"
    db.session.expire_all()
    row = db.session.get(Notification, notification.id)
    assert row.status == "failed"
    assert "Kopfzeile" in row.last_error
    assert smtp.messages == []
    page = client_for(staff_user).get("/staff/operations").get_data(as_text=True)
    assert "Kopfzeile" in page and "staff@example.org" in page


# --- issue 7, point 1: no usable status token in stored emails -------------------------------


def test_status_token_is_in_no_stored_email_job_or_staff_page(app, smtp, staff_user, client_for):
    application, token = create_application()
    drain(app)
    assert len(smtp.wait_for(3)) == 3
    for note in _notifications():
        assert token not in note.subject + note.body_text + note.body_html
    payloads = db.session.scalars(select(OutboxItem.payload)).all()
    assert token not in repr(payloads)
    page = client_for(staff_user).get(f"/staff/cases/{application.id}").get_data(as_text=True)
    assert "TOKEN-ENTFERNT" in page  # the email log shows the redacted copy
    assert token not in page


def test_resent_failed_receipt_carries_a_working_status_link(app, smtp, fast_pipeline, client):
    application, token = create_application()
    smtp.fail_always(code=550)
    drain(app)
    receipt = _notifications(kind="receipt")[0]
    assert receipt.status == "failed"
    smtp.clear()
    assert delivery.send_again(receipt.id)
    db.session.commit()
    drain(app)
    (message,) = [m for m in smtp.wait_for(1) if str(m["To"]) == application.contact_email]
    text = message.get_body(("plain",)).get_content()
    link = next(line.strip() for line in text.splitlines() if "/status/" in line)
    assert "TOKEN-ENTFERNT" not in link
    path = link.removeprefix("https://foerderung.example.org")
    assert client.get(path).status_code == 200
    assert client.get(f"/status/{token}").status_code == 200  # the first link still works
