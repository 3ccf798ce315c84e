"""Replies by IMAP (``python -m workers.inbound --imap``): the poller against a real IMAP server
(pymap) behind real TLS with a certificate from a throwaway CA. It posts a reply and marks it
seen, reads nothing twice, refuses a server whose certificate it cannot verify, leaves a mail
unseen while the database is down, so the next poll takes it, and gets past a mail it cannot
process."""

from __future__ import annotations

import ssl
import uuid

import pytest

from app.cases import replies
from app.extensions import db
from app.mail import replyaddress
from app.models import Event
from scripts.services import IMAPServer
from tests.factories import create_application, inbound, reply
from workers.inbound import poll_imap_once


@pytest.fixture(scope="module")
def imap_server():
    server = IMAPServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def folder(app, imap_server, monkeypatch):
    """A mailbox of its own for each test, the app pointed at it, the test CA trusted (as an
    operator would with ``SSL_CERT_FILE`` for an in-house CA)."""
    name = f"Antworten-{uuid.uuid4().hex[:8]}"
    app.config.update(
        IMAP_HOST="127.0.0.1",
        IMAP_PORT=imap_server.port,
        IMAP_USERNAME=imap_server.user,
        IMAP_PASSWORD=imap_server.password,
        IMAP_FOLDER=name,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(imap_server.cafile))
    return name


def test_a_reply_by_imap_is_posted_and_marked_seen(app, imap_server, folder):
    application, _token = create_application()
    imap_server.append(folder, reply(replyaddress.address("a", application.id)).as_bytes())
    imap_server.append(folder, reply("info@example.org", message_id="<no-token@x>").as_bytes())
    db.session.commit()  # the poller writes in its own session

    assert poll_imap_once(app) == 2

    records = inbound()
    assert [(r.status, r.application_id) for r in records] == [
        ("posted", application.id),
        ("no_token", None),  # not a reply address: recorded, not posted
    ]
    event = db.session.get(Event, records[0].event_id)
    assert event.kind == "message" and "anbei der Finanzierungsplan" in event.comment
    assert imap_server.unseen(folder) == 0
    # the next poll finds nothing new, and nothing is posted twice
    assert poll_imap_once(app) == 0
    assert len(inbound()) == 2


def test_a_server_whose_certificate_cannot_be_verified_is_refused(
    app, imap_server, folder, monkeypatch
):
    application, _token = create_application()
    imap_server.append(folder, reply(replyaddress.address("a", application.id)).as_bytes())
    db.session.commit()
    # the system's CA store does not know the test CA: a stranger's certificate
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(ssl.SSLCertVerificationError):
        poll_imap_once(app)
    # a trusted certificate, but for another name than the one asked for: refused too
    monkeypatch.setenv("SSL_CERT_FILE", str(imap_server.cafile))
    app.config["IMAP_HOST"] = "localhost"  # the same server; its certificate names 127.0.0.1
    with pytest.raises(ssl.SSLCertVerificationError):
        poll_imap_once(app)
    assert inbound() == [] and imap_server.unseen(folder) == 1


def test_a_mail_that_cannot_be_processed_does_not_hold_up_the_others(
    app, imap_server, folder, monkeypatch
):
    application, _token = create_application()
    address = replyaddress.address("a", application.id)
    imap_server.append(folder, reply(address, message_id="<poison@x>").as_bytes())
    imap_server.append(folder, reply(address, message_id="<fine@x>").as_bytes())
    db.session.commit()
    # a fault no real mail produces on demand: processing the first one fails unexpectedly
    receive = replies.receive

    def failing_on_poison(raw: bytes, recipient: str):
        if b"<poison@x>" in raw:
            raise RuntimeError("a bug met by this mail")
        return receive(raw, recipient)

    monkeypatch.setattr(replies, "receive", failing_on_poison)
    assert poll_imap_once(app) == 1  # the second one, no exception out of the poll
    assert [r.message_id for r in inbound()] == ["<fine@x>"]
    assert imap_server.unseen(folder) == 1  # the first one waits, tried on every poll
    monkeypatch.setattr(replies, "receive", receive)  # the bug fixed
    db.session.commit()  # end this test's reading transaction before the poller writes
    assert poll_imap_once(app) == 1
    assert imap_server.unseen(folder) == 0
    assert sorted(r.status for r in inbound()) == ["posted", "posted"]


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_while_the_database_is_down_the_mail_stays_unseen(app, imap_server, folder, outage):
    application, _token = create_application()
    imap_server.append(folder, reply(replyaddress.address("a", application.id)).as_bytes())
    db.session.commit()
    # a poller whose database waits only briefly for a lock
    poller = outage.app
    poller.config.update({k: v for k, v in app.config.items() if k.startswith("IMAP_")})
    outage.begin()
    assert poll_imap_once(poller) == 0
    assert imap_server.unseen(folder) == 1
    outage.end()
    # the next poll takes it, once
    assert poll_imap_once(poller) == 1
    assert poll_imap_once(poller) == 0
    assert [r.status for r in inbound()] == ["posted"]
    assert imap_server.unseen(folder) == 0
