"""One SMTP connection per worker process, kept across jobs, checked with NOOP, replaced when
it is dead; real aiosmtpd server, real worker (docs/performance.md, target 2)."""

from __future__ import annotations

import socket

from sqlalchemy import select

from app.extensions import db
from app.mail import compose, delivery
from app.models import Notification
from tests.factories import create_application
from tests.fixtures.pipeline import drain


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
    assert "Kopfzeile" in db.session.get(Notification, broken.id).last_error
