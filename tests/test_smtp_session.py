"""One SMTP connection per worker process, kept across jobs, checked with NOOP, replaced when
it is dead; over STARTTLS or implicit TLS with a login, the server's certificate checked; real
aiosmtpd server, real worker (docs/performance.md, target 2)."""

from __future__ import annotations

import socket

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from app.extensions import db
from app.mail import compose, delivery
from app.models import Notification
from app.web.templating import delivery_error
from scripts import services
from tests.factories import create_application
from tests.fixtures.pipeline import drain, run_simple_worker


def _statuses() -> list[str]:
    db.session.expire_all()
    return [n.status for n in db.session.scalars(select(Notification).order_by(Notification.id))]


def test_one_connection_carries_every_email_of_a_drain(app, smtp):
    delivery.SESSION.discard()
    for i in range(3):
        create_application(org_name=f"Träger {i}", title=f"Projekt {i}")
    drain(app)
    smtp.wait_for(9)
    assert len(smtp.messages) == 9  # receipt, result and staff notice of three cases
    assert smtp.handler.sessions == 1
    assert set(_statuses()) == {"sent"}


def test_a_connection_the_server_dropped_is_replaced(app, smtp):
    delivery.SESSION.discard()
    create_application(org_name="Träger A", title="Projekt A")
    drain(app)
    smtp.wait_for(3)
    assert smtp.handler.sessions == 1
    # The server (or a NAT box) closes the idle session: NOOP fails, a new session is opened.
    delivery.SESSION.host.sock.shutdown(socket.SHUT_RDWR)
    create_application(org_name="Träger B", title="Projekt B")
    drain(app)
    smtp.wait_for(6)
    assert len(smtp.messages) == 6
    assert smtp.handler.sessions == 2
    assert set(_statuses()) == {"sent"}


def test_a_refused_message_drops_the_connection_and_the_next_one_opens_anew(
    app, smtp, fast_pipeline
):
    delivery.SESSION.discard()
    create_application()
    smtp.fail_next(1, code=451)
    drain(app)
    smtp.wait_for(3)
    assert set(_statuses()) == {"sent"}
    # The session that saw the refusal was not trusted again: a second one was opened.
    assert smtp.handler.sessions == 2


def test_a_message_with_a_broken_header_fails_for_good_and_keeps_the_connection(app, smtp):
    delivery.SESSION.discard()
    application, _token = create_application()
    first = compose.record(compose.REVIEWED, application, "staff@example.org", "de")
    broken = compose.record(compose.REVIEWED, application, "staff@example.org", "de")
    broken.subject = "Neuer Antrag: Evil\r\nBcc: victim@example.org"
    last = compose.record(compose.REVIEWED, application, "staff@example.org", "de")
    db.session.commit()
    assert delivery.deliver(first.id) == "sent"
    assert delivery.deliver(broken.id) == "failed"  # found before the connection is used
    assert delivery.deliver(last.id) == "sent"
    smtp.wait_for(2)
    assert len(smtp.messages) == 2
    assert smtp.handler.sessions == 1
    db.session.expire_all()
    stored = db.session.get(Notification, broken.id).last_error
    assert stored.startswith("Ungültige Kopfzeile")  # stored in German, the msgid
    with force_locale("en"):  # shown in the reader's language, the detail kept
        shown = delivery_error(stored)
    assert shown.startswith("Invalid header (a line break in the subject or in an address)")
    assert shown.removeprefix(
        "Invalid header (a line break in the subject or in an address)"
    ) == stored.removeprefix("Ungültige Kopfzeile (Zeilenumbruch im Betreff oder in einer Adresse)")


# --- TLS and login, as production talks to its mail server ("TLS as today") -------------


@pytest.fixture
def mail_server(app, monkeypatch):
    """Start a mail server and point the app's Flask-Mail at it; the client trusts
    ``cafile`` the way an operator would for an in-house CA (``SSL_CERT_FILE``)."""
    started = []

    def start(*, starttls=False, implicit_tls=False, login=None, trust=True):
        server = services.SMTPServer(starttls=starttls, login=login)
        server.start()
        started.append(server)
        port, cafile = server.port, server.cafile
        if implicit_tls:
            front = services.TLSFront(server.port)
            started.append(front)
            port, cafile = front.port, front.cafile
        mail = app.extensions["mail"]
        monkeypatch.setattr(mail, "port", port)
        monkeypatch.setattr(mail, "use_tls", starttls)
        monkeypatch.setattr(mail, "use_ssl", implicit_tls)
        monkeypatch.setattr(mail, "username", login[0] if login else None)
        monkeypatch.setattr(mail, "password", login[1] if login else None)
        if trust and cafile is not None:
            monkeypatch.setenv("SSL_CERT_FILE", str(cafile))
        monkeypatch.setattr(delivery, "_TLS_CONTEXT", None)  # built anew with that trust
        delivery.SESSION.discard()
        return server

    yield start
    delivery.SESSION.close()
    for service in reversed(started):
        service.stop()


LOGIN = ("foerderung@example.org", "smtp-pw")


def test_starttls_and_login_carry_every_email_over_one_verified_session(app, mail_server):
    server = mail_server(starttls=True, login=LOGIN)
    for i in range(2):
        create_application(org_name=f"Träger {i}", title=f"Projekt {i}")
    drain(app)
    server.wait_for(6)
    assert server.handler.security == [(True, LOGIN[0])] * 6  # each over TLS, logged in
    assert server.handler.sessions == 2  # one connection: EHLO, STARTTLS, EHLO again
    assert set(_statuses()) == {"sent"}


def test_implicit_tls_and_login(app, mail_server):
    server = mail_server(implicit_tls=True, login=LOGIN)
    create_application()
    drain(app)
    server.wait_for(3)
    assert server.handler.security == [(False, LOGIN[0])] * 3  # TLS ends at the front
    assert server.handler.sessions == 1
    assert set(_statuses()) == {"sent"}


@pytest.mark.parametrize("mode", ["starttls", "implicit_tls"])
def test_a_server_whose_certificate_cannot_be_verified_gets_no_email(
    app, mail_server, fast_pipeline, mode
):
    server = mail_server(**{mode: True}, login=LOGIN, trust=False)
    create_application()
    run_simple_worker(app)  # the first attempts
    db.session.expire_all()
    rows = db.session.scalars(select(Notification)).all()
    # the certificate may be renewed any minute: waiting for the next attempt, not failed
    assert rows and {n.status for n in rows} == {"pending"}
    drain(app)  # every retry (two here) meets the same certificate
    assert server.handler.messages == []  # nothing sent, and the password not either
    db.session.expire_all()
    rows = db.session.scalars(select(Notification)).all()
    assert {n.status for n in rows} == {"failed"} and {n.attempts for n in rows} == {3}
    assert all(n.last_error.startswith("TLS: ") for n in rows)  # not a "header error"
    assert all("Zertifikat des Mailservers" in n.last_error for n in rows)  # staff can read it
    with force_locale("en"):
        shown = delivery_error(rows[0].last_error)
    assert shown.startswith("TLS: The mail server's certificate could not be verified")
    assert "CERTIFICATE_VERIFY_FAILED" in shown  # the library's own detail stays


# fault → (the wrong setting, the setting as IT mends it, the stored error's start)
WRONG_SETTINGS = {
    "login refused": (("password", "an old password"), ("password", LOGIN[1]), "SMTP 535 "),
    "login missing": (("username", None), ("username", LOGIN[0]), "SMTP 530 "),
    "certificate": (None, None, "TLS: Das Zertifikat des Mailservers"),
}


@pytest.mark.parametrize("fault", list(WRONG_SETTINGS))
def test_emails_wait_while_the_mail_settings_are_wrong_and_go_out_once_mended(
    app, mail_server, fast_pipeline, monkeypatch, staff_user, client_for, fault
):
    """A refused or missing login or an unverifiable certificate fails every email alike:
    they wait for their next attempt, staff see why on the operations page, and once IT
    mends the settings the waiting emails go out by themselves, none failed."""
    wrong, mended, error = WRONG_SETTINGS[fault]
    server = mail_server(starttls=True, login=LOGIN, trust=fault != "certificate")
    mail = app.extensions["mail"]
    if wrong:
        monkeypatch.setattr(mail, *wrong)
    create_application()
    run_simple_worker(app)
    db.session.expire_all()
    waiting = db.session.scalars(select(Notification)).all()
    assert len(waiting) == 3 and {n.status for n in waiting} == {"pending"}
    assert all(n.last_error.startswith(error) for n in waiting)

    html = client_for(staff_user).get("/staff/operations").get_data(as_text=True)
    retried = html[html.index('id="retried-emails"') : html.index('id="failed-emails"')]
    assert all(n.recipient in retried for n in waiting)
    assert error.removeprefix("TLS: ").strip() in retried

    # IT mends the settings before the next attempt
    if mended:
        monkeypatch.setattr(mail, *mended)
    else:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cafile))
        monkeypatch.setattr(delivery, "_TLS_CONTEXT", None)
    drain(app)
    server.wait_for(3)
    assert _statuses() == ["sent"] * 3
    html = client_for(staff_user).get("/staff/operations").get_data(as_text=True)
    retried = html[html.index('id="retried-emails"') : html.index('id="failed-emails"')]
    assert all(n.recipient not in retried for n in waiting)
