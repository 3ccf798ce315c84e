"""Replies by email become messages: a signed reply address on every email to the applicant,
a real SMTP listener (aiosmtpd, ``workers.inbound``), quoted history and signature cut off,
PDFs kept and other files refused with a reply; forged or expired tokens, auto-replies and
loops recorded and not posted; a database outage answered with 451 so the sender retries."""

from __future__ import annotations

import datetime as dt
import smtplib
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from sqlalchemy import update as sa_update

from app import clock
from app.cases import messages, replies
from app.extensions import db
from app.mail import replyaddress
from app.models import Event, EventAttachment, InboundMail, Notification
from scripts.services import free_port
from tests.factories import REPLY, create_application, inbound, mails, pdf_bytes, reply
from tests.fixtures.pipeline import drain
from workers.inbound import start_listener

PDF = pdf_bytes()


@pytest.fixture
def listener(app):
    controller = start_listener(app, "127.0.0.1", free_port())
    try:
        yield controller
    finally:
        controller.stop()


def send(listener, message: EmailMessage) -> None:
    db.session.commit()  # the listener writes from its own thread
    with smtplib.SMTP(listener.hostname, listener.port, timeout=30) as smtp:
        smtp.send_message(message)
    db.session.expire_all()


def test_every_email_to_the_applicant_carries_the_reply_address(app, smtp):
    application, _token = create_application()
    receipt = db.session.scalar(select(Notification).filter_by(kind="receipt"))
    assert receipt.reply_to.startswith(f"antwort+a{application.id}.")
    assert replyaddress.parse(receipt.reply_to).case_id == application.id
    drain(app)
    to_applicant = [m for m in smtp.messages if str(m["To"]) == application.contact_email]
    assert to_applicant and all(str(m["Reply-To"]) == receipt.reply_to for m in to_applicant)
    staff_mail = [m for m in smtp.messages if str(m["To"]) == "staff@example.org"]
    assert staff_mail and all(m["Reply-To"] is None for m in staff_mail)


def test_a_reply_becomes_a_message(app, listener, staff_user):
    application, _token = create_application()
    address = replyaddress.address("a", application.id)
    message = reply(address)
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="Plan.pdf")
    message.add_attachment(
        b"PK\x03\x04", maintype="application", subtype="msword", filename="Plan.docx"
    )
    send(listener, message)

    [record] = inbound()
    assert (record.status, record.application_id) == ("posted", application.id)
    event = db.session.get(Event, record.event_id)
    assert event.kind == "message" and event.actor_label == "applicant" and event.public
    assert "anbei der Finanzierungsplan" in event.comment and "Erika Mustermann" in event.comment
    assert "Am Sande" not in event.comment and "reichen Sie" not in event.comment
    [pdf] = db.session.scalars(select(EventAttachment)).all()
    assert pdf.original_name == "Plan.pdf" and pdf.size == len(PDF)
    refused = db.session.scalar(select(Notification).filter_by(kind="attachment_refused"))
    assert refused.recipient == "erika@bildungswerk-heide.example"
    assert "Plan.docx" in refused.body_text and "PDF" in refused.body_text
    assert mails("message_to_staff")

    # the same mail again (a sender retrying): nothing twice
    send(listener, message)
    assert len(inbound()) == 1


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_forged_expired_auto_replies_and_loops_are_recorded_not_posted(app, listener, monkeypatch):
    application, _token = create_application()
    good = replyaddress.address("a", application.id)
    local, domain = good.split("@")
    forged = local[:-4] + "aaaa@" + domain
    other_case = good.replace(f"+a{application.id}.", f"+a{application.id + 1}.")
    send(listener, reply(forged, message_id="<1@x>"))
    send(listener, reply(other_case, message_id="<2@x>"))
    send(listener, reply(good, message_id="<3@x>", auto_submitted="auto-replied"))
    send(listener, reply(good, message_id="<4@x>", precedence="bulk"))
    send(listener, reply(good, message_id="<5@x>", subject="Abwesenheitsnotiz: bis 5.12."))
    send(listener, reply(good, message_id="<6@x>", sender="foerderung@localhost"))
    later = clock.now() + dt.timedelta(days=400)
    monkeypatch.setattr(clock, "now", lambda: later)
    send(listener, reply(good, message_id="<7@x>"))
    assert [r.status for r in inbound()] == [
        "forged",
        "forged",
        "auto_reply",
        "auto_reply",
        "auto_reply",
        "loop",
        "expired",
    ]
    assert db.session.scalar(select(Event).filter_by(kind="message")) is None


@pytest.mark.parametrize(
    ("encoded", "read"),
    [
        ("Grüße und danke, anbei der Plan.".encode(), "Grüße und danke"),  # UTF-8
        ("Grüße und danke, anbei der Plan.".encode("cp1252"), "Grüße und danke"),  # Windows
    ],
    ids=["utf-8", "windows-1252"],
)
def test_a_reply_in_a_charset_python_does_not_know_is_posted(app, listener, encoded, read):
    """Some gateways write ``charset=unknown-8bit`` when they cannot tell; the reply must not
    bounce (the listener answered 500, and the IMAP poller stopped at it)."""
    application, _token = create_application()
    address = replyaddress.address("a", application.id)
    raw = (
        (
            "From: erika@bildungswerk-heide.example\r\n"
            f"To: {address}\r\nSubject: AW: Rückfrage\r\nMessage-ID: <unknown-8bit@x>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=unknown-8bit\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
        ).encode()
        + encoded
        + b"\r\n"
    )
    db.session.commit()
    with smtplib.SMTP(listener.hostname, listener.port, timeout=30) as smtp:
        smtp.sendmail("erika@bildungswerk-heide.example", [address], raw)

    [record] = inbound()
    assert record.status == "posted"
    assert read in db.session.get(Event, record.event_id).comment


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_a_loop_of_replies_is_cut(app, listener):
    application, _token = create_application()
    address = replyaddress.address("a", application.id)
    for n in range(replies.LOOP_LIMIT_PER_HOUR + 2):
        send(listener, reply(address, message_id=f"<loop{n}@x>", body=f"Nachricht {n}"))
    statuses = [r.status for r in inbound()]
    assert statuses.count("posted") == replies.LOOP_LIMIT_PER_HOUR
    assert statuses[-2:] == ["loop", "loop"]


def test_staff_answer_by_replying(app, listener, staff_user):
    application, _token = create_application()
    messages.post_from_applicant(application, "Wie lange dauert die Prüfung?")
    db.session.commit()
    [notice] = mails("message_to_staff")
    assert notice.reply_to.startswith(f"antwort+s{application.id}.")
    send(listener, reply(notice.reply_to, sender="someone@example.org", message_id="<s1@x>"))
    send(
        listener,
        reply(
            notice.reply_to,
            sender=staff_user.email,
            body="Etwa vier Wochen.\n\n> alt",
            message_id="<s2@x>",
        ),
    )
    assert [r.status for r in inbound()] == ["unknown_sender", "posted"]
    answer = db.session.scalar(select(Event).where(Event.actor_id == staff_user.id))
    assert answer.comment == "Etwa vier Wochen." and answer.public
    to_applicant = db.session.scalar(select(Notification).filter_by(kind="message_to_applicant"))
    assert "Etwa vier Wochen." in to_applicant.body_text


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_database_down_means_try_again_later(app, outage):
    application, _token = create_application()
    address = replyaddress.address("a", application.id)
    db.session.commit()
    # a listener whose database waits only briefly for a lock
    controller = start_listener(outage.app, "127.0.0.1", free_port())
    try:
        outage.begin()
        with (
            pytest.raises(smtplib.SMTPDataError) as refused,
            smtplib.SMTP(controller.hostname, controller.port, timeout=30) as smtp,
        ):
            smtp.send_message(reply(address, message_id="<down@x>"))
        assert refused.value.smtp_code == 451
        outage.end()
        # the sending server tries again: now it is posted, once
        with smtplib.SMTP(controller.hostname, controller.port, timeout=30) as smtp:
            smtp.send_message(reply(address, message_id="<down@x>"))
    finally:
        controller.stop()
    assert [r.status for r in inbound()] == ["posted"]


def test_a_mail_that_cannot_be_processed_is_deferred_not_bounced(app, listener, monkeypatch):
    application, _token = create_application()
    address = replyaddress.address("a", application.id)
    db.session.commit()
    receive = replies.receive

    def failing(raw: bytes, recipient: str):
        raise RuntimeError("a bug met by this mail")  # a fault no real mail produces on demand

    monkeypatch.setattr(replies, "receive", failing)
    with (
        pytest.raises(smtplib.SMTPDataError) as refused,
        smtplib.SMTP(listener.hostname, listener.port, timeout=30) as smtp,
    ):
        smtp.send_message(reply(address, message_id="<deferred@x>"))
    assert refused.value.smtp_code == 451  # try again later; no bounce, no exception shown
    assert b"RuntimeError" not in refused.value.smtp_error
    monkeypatch.setattr(replies, "receive", receive)  # the bug fixed: the retry gets through
    send(listener, reply(address, message_id="<deferred@x>"))
    assert [r.status for r in inbound()] == ["posted"]


def test_quoted_history_and_signature_are_cut():
    assert replies.clean_text(REPLY).endswith("Erika Mustermann")
    english = "Thanks, done.\r\n\r\nOn Mon, 30 Nov 2026 at 10:00, NON wrote:\r\n> old\r\n"
    assert replies.clean_text(english) == "Thanks, done."
    outlook = "Passt.\n\n-----Ursprüngliche Nachricht-----\nVon: NON\nBetreff: x"
    assert replies.clean_text(outlook) == "Passt."
    assert replies.clean_text("Ja.\n-- \nSignatur") == "Ja."


def test_a_pdf_that_does_not_open_is_refused_like_on_the_form(app, listener):
    application, _token = create_application()
    message = reply(replyaddress.address("a", application.id))
    fake = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"  # the header, nothing readable
    message.add_attachment(fake, maintype="application", subtype="pdf", filename="Plan.pdf")
    send(listener, message)
    assert db.session.scalars(select(EventAttachment)).all() == []
    [refused] = mails("attachment_refused")
    assert "Plan.pdf" in refused.body_text


def test_the_conversation_is_in_the_data_export_and_goes_with_the_case(app, listener, staff_user):
    """Art. 15 and retention cover what the conversation adds: versions, requests, replies
    and their PDFs; internal notes stay internal."""
    import zipfile
    from io import BytesIO

    from app.cases import retention, subject_access, uploads
    from app.cases.submission import submit_amendment
    from app.cases.workflow import apply_transition
    from app.models import Application, ApplicationVersion, InformationRequest
    from tests.factories import application_fields

    application, _token = create_application()
    apply_transition(
        application,
        "request_information",
        user=staff_user,
        reason="Bitte reichen Sie den Finanzierungsplan nach.",
        due_date=clock.today() + dt.timedelta(days=14),
    )
    db.session.commit()
    submit_amendment(application, application_fields(requested_grant=6_000_000))
    message = reply(replyaddress.address("a", application.id))
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="Plan.pdf")
    send(listener, message)
    messages.post_from_staff(application, "Intern: Plan prüfen.", staff_user, internal=True)
    db.session.commit()
    [pdf] = db.session.scalars(select(EventAttachment)).all()
    pdf_name = pdf.name
    assert uploads.content_of(pdf_name) == PDF

    data = subject_access.collect(application)
    assert [v["number"] for v in data["versions"]] == [1, 2]
    assert data["information_requests"][0]["message"].startswith("Bitte reichen Sie")
    assert data["message_attachments"][0]["original_name"] == "Plan.pdf"
    assert "note" not in {e["kind"] for e in data["events"]}
    assert "status_token_salt" not in data["application"]
    archive = zipfile.ZipFile(BytesIO(subject_access.archive(application, data, "<html>")))
    assert f"{application.reference}-nachricht-{pdf.id}.pdf" in archive.namelist()

    apply_transition(application, "withdraw")
    db.session.commit()
    db.session.execute(sa_update(Notification).values(status="sent"))
    db.session.commit()
    report = retention.run(clock.today() + dt.timedelta(days=400))
    assert [item.application_id for item in report.cases] == [application.id]
    db.session.expire_all()
    assert db.session.get(Application, application.id).anonymised_at is not None
    assert db.session.scalars(select(ApplicationVersion)).all() == []
    assert db.session.scalars(select(EventAttachment)).all() == []
    assert db.session.scalars(select(InboundMail)).all() == []
    assert db.session.scalar(select(InformationRequest.message)) == ""
    assert uploads.content_of(pdf_name) is None
