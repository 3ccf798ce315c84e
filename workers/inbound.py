"""``python -m workers.inbound [--imap]``: receive replies by email and post them on the case.

SMTP mode (default, ``INBOUND_MODE=smtp``): an aiosmtpd listener on
``INBOUND_SMTP_HOST:INBOUND_SMTP_PORT`` behind the production mail server, which relays the
reply addresses (``REPLY_ADDRESS`` with ``+token``) to it. Each accepted recipient is handed to
``app.cases.replies.receive``; if the database cannot be reached the listener answers
``451 4.3.0`` and the relaying server tries again later, so nothing is lost. Addresses that are
not reply addresses are refused at RCPT.

IMAP mode (``--imap`` or ``INBOUND_MODE=imap``): polls ``IMAP_FOLDER`` every
``IMAP_POLL_SECONDS`` with ``imaplib`` over implicit TLS, checking the server's certificate
and host name (the system's CA store; ``SSL_CERT_FILE`` names another, e.g. an in-house CA);
a mail is marked seen only once it was processed, so one that met a database outage is read
again on the next poll.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import imaplib
import logging
import signal
import ssl
import threading
from email.utils import getaddresses

from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from app import create_app
from app.cases import replies
from app.extensions import db
from app.mail import replyaddress

log = logging.getLogger("workers.inbound")


def process(app: Flask, raw: bytes, recipients: list[str]) -> list[str]:
    """Run ``replies.receive`` for each recipient in a fresh app context; raises on a
    database error (after rolling back) so the caller can ask for a retry."""
    statuses = []
    with app.app_context():
        try:
            for recipient in recipients:
                statuses.append(replies.receive(raw, recipient).status)
        except SQLAlchemyError:
            db.session.rollback()
            raise
        finally:
            db.session.remove()
    return statuses


class ReplyHandler:
    """aiosmtpd handler: reply addresses only; the work runs in a thread (blocking DB)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.app.app_context():
            token = replyaddress.parse(address)
        if token.status == replyaddress.NONE:
            return "550 5.1.1 Not a reply address"
        envelope.rcpt_tos.append(address)  # forged/expired ones are recorded, not refused
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or b""
        if len(raw) > self.app.config["INBOUND_MAX_BYTES"]:
            return "552 5.3.4 Message too big"
        loop = asyncio.get_running_loop()
        try:
            statuses = await loop.run_in_executor(
                None, process, self.app, raw, list(envelope.rcpt_tos)
            )
        except SQLAlchemyError as exc:
            log.warning("inbound: database unavailable, asking the sender to retry: %s", exc)
            return "451 4.3.0 Temporary failure, please try again later"
        except Exception:
            # A mail this code cannot handle (a bug): the relaying server keeps it and tries
            # again, where aiosmtpd's own answer (500, with the exception) would bounce it.
            log.exception("inbound: a mail could not be processed; the sender will retry")
            return "451 4.3.0 Temporary failure, please try again later"
        log.info("inbound: %s from %s: %s", envelope.rcpt_tos, envelope.mail_from, statuses)
        return "250 Message accepted"


def start_listener(app: Flask, host: str | None = None, port: int | None = None) -> Controller:
    controller = Controller(
        ReplyHandler(app),
        hostname=host or app.config["INBOUND_SMTP_HOST"],
        port=port or app.config["INBOUND_SMTP_PORT"],
        data_size_limit=app.config["INBOUND_MAX_BYTES"],
        ready_timeout=15,
    )
    controller.start()
    return controller


def poll_imap_once(app: Flask) -> int:
    """Fetch unseen mail, process it, mark it seen; returns how many were processed."""
    cfg = app.config
    done = 0
    # imaplib's default TLS context checks no certificate (ssl._create_stdlib_context): the
    # password and the replies would go to whoever answers. A verifying one, as for SMTP.
    tls = ssl.create_default_context()
    timeout = cfg["MAIL_TIMEOUT"]
    with imaplib.IMAP4_SSL(
        cfg["IMAP_HOST"], cfg["IMAP_PORT"], ssl_context=tls, timeout=timeout
    ) as imap:
        imap.login(cfg["IMAP_USERNAME"], cfg["IMAP_PASSWORD"])
        imap.select(cfg["IMAP_FOLDER"])
        _status, data = imap.uid("search", None, "UNSEEN")
        for uid in (data[0] or b"").split():
            _status, parts = imap.uid("fetch", uid, "(BODY.PEEK[])")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), b"")
            message_to = _recipients_of(raw)
            try:
                process(app, raw, message_to)
            except SQLAlchemyError as exc:
                log.warning("inbound (IMAP): database unavailable, will retry: %s", exc)
                break
            except Exception:
                # A mail this code cannot handle stays unseen and is tried again on every
                # poll (and logged each time); the mails after it still get through.
                log.exception("inbound (IMAP): mail UID %s could not be processed", uid.decode())
                continue
            imap.uid("store", uid, "+FLAGS", "(\\Seen)")
            done += 1
    return done


def _recipients_of(raw: bytes) -> list[str]:
    """Reply addresses among the mail's Delivered-To/To/Cc (a mailbox has no envelope)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    headers = ("Delivered-To", "X-Original-To", "To", "Cc")
    values = [str(value) for name in headers for value in message.get_all(name) or ()]
    found = [addr for _name, addr in getaddresses(values) if "+" in addr]
    return list(dict.fromkeys(found)) or [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.inbound", description=__doc__)
    parser.add_argument("--imap", action="store_true", help="poll IMAP instead of listening")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(name)s %(message)s")
    app = create_app()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.imap or app.config["INBOUND_MODE"] == "imap":
        while not stop.is_set():
            try:
                poll_imap_once(app)
            except (OSError, imaplib.IMAP4.error) as exc:  # the server, TLS, the login
                log.warning("inbound (IMAP): %s", exc)
            except Exception:
                log.exception("inbound (IMAP): the poll failed; trying again later")
            stop.wait(app.config["IMAP_POLL_SECONDS"])
        return 0
    if app.config["INBOUND_MODE"] == "off":
        log.info("inbound: INBOUND_MODE=off, nothing to do")
        return 0
    controller = start_listener(app, args.host, args.port)
    log.info("inbound: listening on %s:%s", controller.hostname, controller.port)
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
