"""SMTP delivery of recorded emails: claim the row, send with a timeout, record the outcome.

``deliver`` claims the row with one conditional UPDATE (pending → sending, or a ``sending``
claim older than ``NOTIFICATION_CLAIM_TIMEOUT_SECONDS``), so two workers never send the same
email at the same time, and a worker killed mid-send is recovered by the next attempt.
The trade-off is at-least-once: if a worker dies after the SMTP server accepted the message
but before the row says ``sent``, the email goes out again later, with the same Message-ID so
mail clients can drop the duplicate. See docs/pipeline.md.

This module knows nothing of cases or templates: it sends what ``app.mail.compose`` recorded.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import smtplib
import ssl
import time
from collections.abc import Callable
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

import flask_mail
from flask import current_app
from rq import get_current_job
from sqlalchemy import and_, or_, update

from app import clock
from app.extensions import db
from app.jobs import job, outbox
from app.labels import delivery_error_in_german
from app.models import Notification

log = logging.getLogger(__name__)

# Called as listener(notification_id) inside a transaction once an email failed for good;
# the caller commits. The domain registers its alert (app.cases.notices).
EMAIL_FAILURE_LISTENERS: list[Callable[[int], None]] = []


def add_failure_listener(listener: Callable[[int], None]):
    """Register ``listener`` for every email that failed for good (once per listener)."""
    if listener not in EMAIL_FAILURE_LISTENERS:
        EMAIL_FAILURE_LISTENERS.append(listener)
    return listener


def _failed_for_good(notification_id: int) -> None:
    """Tell the listeners (own transaction); an alert that fails must not hide the failure."""
    for listener in EMAIL_FAILURE_LISTENERS:
        try:
            listener(notification_id)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("delivery: failure listener %r failed", listener)


class TemporaryDeliveryError(Exception):
    """The SMTP server said "try later" (4xx), or could not be reached; RQ retries."""


class NotificationBusy(TemporaryDeliveryError):
    """Another worker holds a fresh claim on the row; try again after the backoff."""


def message_id() -> str:
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    return make_msgid(domain=host)


# One TLS context per process: building it loads the system's CA store (milliseconds).
_TLS_CONTEXT: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _TLS_CONTEXT
    if _TLS_CONTEXT is None:
        _TLS_CONTEXT = ssl.create_default_context()
    return _TLS_CONTEXT


def _open_smtp(mail: flask_mail.Mail, timeout: float) -> smtplib.SMTP:
    """A new SMTP session as Flask-Mail would open it, plus a timeout and a verifying TLS
    context (Flask-Mail 0.10 has neither; ``starttls()`` without a context does not verify
    the certificate in Python 3.11)."""
    if mail.use_ssl:
        host: smtplib.SMTP = smtplib.SMTP_SSL(
            mail.server, mail.port, timeout=timeout, context=_tls_context()
        )
    else:
        host = smtplib.SMTP(mail.server, mail.port, timeout=timeout)
    try:
        host.set_debuglevel(int(mail.debug))
        if mail.use_tls:
            host.starttls(context=_tls_context())
        if mail.username and mail.password:
            host.login(mail.username, mail.password)
    except BaseException:
        host.close()
        raise
    return host


def _quit(host: smtplib.SMTP) -> None:
    # A failing QUIT must not hide the real error (smtplib drops the connection itself
    # after a 421), nor turn an accepted message into a failure.
    try:
        host.quit()
    except (smtplib.SMTPException, OSError):
        host.close()


class SMTPSession:
    """The worker's one SMTP connection, kept open across jobs.

    Opening a session (TCP, EHLO, STARTTLS, AUTH) costs more than sending one of our emails,
    so each process keeps one and checks it with NOOP before use; a dead or refused
    connection is replaced by a new one. After a failed send the connection is dropped (its
    state is unknown), and a fork never inherits it: the child opens its own.
    """

    def __init__(self) -> None:
        self.host: smtplib.SMTP | None = None
        self.key: tuple | None = None
        self.pid = os.getpid()
        self.opened = 0  # sessions opened by this process: the tests read it

    def _settings(self, mail: flask_mail.Mail, timeout: float) -> tuple:
        return (mail.server, mail.port, mail.use_tls, mail.use_ssl, mail.username, timeout)

    def get(self, mail: flask_mail.Mail, timeout: float) -> tuple[smtplib.SMTP, bool]:
        """(an open connection, whether it was reused)."""
        if self.pid != os.getpid():  # forked: the socket belongs to the parent
            self.host, self.key, self.pid = None, None, os.getpid()
        key = self._settings(mail, timeout)
        if self.host is not None and self.key == key:
            try:
                if self.host.noop()[0] == 250:
                    return self.host, True
            except (smtplib.SMTPException, OSError):
                pass
        self.discard()
        self.host = _open_smtp(mail, timeout)
        self.key = key
        self.opened += 1
        return self.host, False

    def discard(self) -> None:
        """Drop the connection without a conversation (after an error, its state is unknown)."""
        if self.host is not None and self.pid == os.getpid():
            self.host.close()
        self.host, self.key = None, None

    def close(self) -> None:
        """Say goodbye (QUIT) and drop the connection: at the worker's exit."""
        if self.host is not None and self.pid == os.getpid():
            _quit(self.host)
        self.host, self.key = None, None


SESSION = SMTPSession()
atexit.register(SESSION.close)


def _envelope(message: flask_mail.Message) -> tuple[str, list[str], bytes]:
    """Flask-Mail's checks and rendering of ``Connection.send``, done before a connection is
    taken: a broken message (a line break in a header) fails here, as ``BadHeaderError``,
    and leaves the process's connection open for the next email."""
    if message.has_bad_headers():
        raise flask_mail.BadHeaderError
    if message.date is None:
        message.date = time.time()
    try:
        return (
            flask_mail.sanitize_address(message.sender),
            list(flask_mail.sanitize_addresses(message.send_to)),
            message.as_bytes(),
        )
    except ValueError as exc:  # the email package's own check of header values
        raise flask_mail.BadHeaderError(f"{type(exc).__name__} {exc}") from exc


def _sendmail(host: smtplib.SMTP, message: flask_mail.Message, envelope: tuple) -> None:
    sender, recipients, body = envelope
    host.sendmail(sender, recipients, body, message.mail_options, message.rcpt_options)


def send_message(message: flask_mail.Message) -> None:
    """Send over the process's SMTP connection (opened, checked or replaced as needed).

    If a reused connection turns out to be dead only during the send (the server dropped an
    idle session between NOOP and MAIL), the send is tried once more on a fresh connection.
    """
    envelope = _envelope(message)
    mail = current_app.extensions["mail"]
    if not mail.suppress:
        timeout = current_app.config["MAIL_TIMEOUT"]
        host, reused = SESSION.get(mail, timeout)
        try:
            _sendmail(host, message, envelope)
        except smtplib.SMTPServerDisconnected:
            SESSION.discard()
            if not reused:
                raise
            host, _reused = SESSION.get(mail, timeout)
            try:
                _sendmail(host, message, envelope)
            except BaseException:
                SESSION.discard()
                raise
        except BaseException:
            SESSION.discard()
            raise
    flask_mail.email_dispatched.send(current_app._get_current_object(), message=message)


# --- personal links: secrets the email log never holds -----------------------------------

# What stands in the stored bodies where the secret part of a personal link goes. URL-safe,
# so it survives URL building and HTML escaping unchanged; readable for staff in the log.
SECRET_PLACEHOLDER = "TOKEN-ENTFERNT"  # noqa: S105 - a placeholder, not a secret

# name → function(notification) returning the secret that replaces the placeholder
_personal_links: dict[str, Callable[[Notification], str]] = {}


def register_personal_link(name: str, resolver: Callable[[Notification], str]) -> None:
    """Let the domain that owns a secret link (e.g. the status link) supply it at send time.
    This module stays ignorant of what the link means."""
    _personal_links[name] = resolver


def _bodies(notification: Notification) -> tuple[str, str]:
    if not notification.personal_link:
        return notification.body_text, notification.body_html
    secret = _personal_links[notification.personal_link](notification)
    return (
        notification.body_text.replace(SECRET_PLACEHOLDER, secret),
        notification.body_html.replace(SECRET_PLACEHOLDER, secret),
    )


def build_message(notification: Notification) -> flask_mail.Message:
    body_text, body_html = _bodies(notification)
    message = flask_mail.Message(
        subject=notification.subject,
        recipients=[notification.recipient],
        body=body_text,
        html=body_html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        extra_headers={"Auto-Submitted": "auto-generated"},
        reply_to=notification.reply_to or None,
    )
    message.msgId = notification.message_id or message_id()
    return message


# Refusals of the session, not of the message: the server turned the connection or the
# greeting away, refused the portal's login or wants one first (530). Like a certificate
# that cannot be verified, they fail every email alike until someone mends the settings or
# the server, so they are tried again with the retries' backoff (about 80 minutes by
# default) rather than failing each email at once: once the settings are mended, what waits
# goes out by itself.
_SESSION_REFUSALS = (
    smtplib.SMTPConnectError,
    smtplib.SMTPHeloError,
    smtplib.SMTPAuthenticationError,
)
_AUTHENTICATION_REQUIRED = 530  # RFC 4954: to MAIL FROM when the portal sent no login


def _smtp_error(exc: BaseException) -> tuple[bool, str]:
    """(temporary?, error text) of a failed send. Permanent only where the message itself
    was refused (a 5xx to its sender, recipient or content)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        text = "; ".join(
            f"{addr}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for addr, (code, msg) in exc.recipients.items()
        )
        return all(400 <= code < 500 for code in codes), f"SMTP {text}"
    if isinstance(exc, smtplib.SMTPResponseException):
        msg = exc.smtp_error
        msg = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)
        temporary = (
            isinstance(exc, _SESSION_REFUSALS)
            or exc.smtp_code == _AUTHENTICATION_REQUIRED
            or not (500 <= exc.smtp_code < 600)
        )
        return temporary, f"SMTP {exc.smtp_code} {msg}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True, f"TLS: {delivery_error_in_german('tls')}: {exc}"
    # connection refused/reset, timeouts, a server that hung up: try again later
    return True, f"{type(exc).__name__}: {exc}"


def _set(notification_id: int, only_if: str | None = None, **values: Any) -> int:
    stmt = update(Notification).where(Notification.id == notification_id)
    if only_if:
        stmt = stmt.where(Notification.status == only_if)
    result = db.session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount


def claim(notification_id: int) -> Notification | None:
    """ONE conditional UPDATE: pending → sending, or take over a claim that has expired.
    Returns the claimed row, loaded by the same statement (``RETURNING``), or None. The
    caller commits."""
    now = clock.now()
    expired = now - dt.timedelta(seconds=current_app.config["NOTIFICATION_CLAIM_TIMEOUT_SECONDS"])
    stmt = (
        update(Notification)
        .where(
            Notification.id == notification_id,
            or_(
                Notification.status == "pending",
                and_(Notification.status == "sending", Notification.claimed_at < expired),
            ),
        )
        .values(status="sending", claimed_at=now, attempts=Notification.attempts + 1)
        .returning(Notification)
        # an instance of the row already in the session is refreshed from the RETURNING row
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return db.session.scalars(stmt).one_or_none()


def deliver(notification_id: int, *, final_attempt: bool = False) -> str:
    """Send one recorded email; returns the row's final status (``sent``/``failed``).

    A temporary failure puts the row back to ``pending`` and raises
    ``TemporaryDeliveryError`` so RQ retries with backoff; on the ``final_attempt`` it marks
    the row ``failed`` (and still raises, so the outbox row fails too). A permanent failure
    (a 5xx to the message, a broken header) marks the row ``failed`` at once: retrying cannot
    help. A refused login or an unverifiable certificate is temporary (``_smtp_error``).
    """
    notification = claim(notification_id)
    if notification is None:
        row = db.session.get(Notification, notification_id)
        if row is None:
            raise LookupError(f"notification {notification_id} does not exist")
        if row.status in ("sent", "failed"):
            return row.status
        raise NotificationBusy(f"notification {notification_id} is being sent by another worker")
    message = build_message(notification)
    db.session.commit()  # the claim; no transaction stays open while we talk to the SMTP server
    try:
        send_message(message)
    except flask_mail.BadHeaderError as exc:
        # A line break in a header: the message itself is broken, so no retry can help.
        # Failed at once, with a reason staff can read on the operations page, never left
        # "sending". Not ValueError as such: ssl.SSLCertVerificationError is one too, and is
        # handled below as the TLS failure it is.
        error = f"{delivery_error_in_german('header')}: {exc}".strip().removesuffix(":")
        _set(notification_id, status="failed", last_error=error[:2000])
        _failed_for_good(notification_id)
        return "failed"
    except (smtplib.SMTPException, OSError) as exc:  # OSError covers timeouts
        temporary, error = _smtp_error(exc)
        if temporary and not final_attempt:
            _set(notification_id, only_if="sending", status="pending", last_error=error[:2000])
            raise TemporaryDeliveryError(error) from exc
        _set(notification_id, status="failed", last_error=error[:2000])
        _failed_for_good(notification_id)
        if temporary:
            raise TemporaryDeliveryError(error) from exc
        return "failed"
    outbox.finish_running_job()  # committed with the "sent" below: the job's last transaction
    _set(notification_id, status="sent", sent_at=clock.now(), last_error=None)
    return "sent"


def mark_failed(error: str, *, notification_id: int, **_payload: Any) -> None:
    """Retries exhausted without a final attempt of our own (e.g. the worker died)."""
    stmt = (
        update(Notification)
        .where(Notification.id == notification_id, Notification.status.in_(("pending", "sending")))
        .values(status="failed", last_error=error[:2000])
        .execution_options(synchronize_session=False)
    )
    changed = db.session.execute(stmt).rowcount
    db.session.commit()
    if changed:
        _failed_for_good(notification_id)


# Its failures are reported per email (``_failed_for_good``), not as a failed job.
@job(queue="emails", on_final_failure=mark_failed, alerts=False)
def send_notification(notification_id: int) -> str:
    """Deliver one recorded email (claim, send, mark); see ``deliver``."""
    current = get_current_job()
    final_attempt = current is not None and not current.retries_left
    return deliver(notification_id, final_attempt=final_attempt)


def send_again(notification_id: int) -> bool:
    """Put a failed email back in line (after staff fixed the address or the SMTP server is
    back): one conditional update failed → pending and a new outbox row, in the current
    transaction. False if the email is not (or no longer) failed."""
    stmt = (
        update(Notification)
        # an email whose data retention removed (empty recipient) cannot be sent again
        .where(
            Notification.id == notification_id,
            Notification.status == "failed",
            Notification.recipient != "",
        )
        .values(status="pending", claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    if db.session.execute(stmt).rowcount != 1:
        return False
    outbox.record(send_notification, notification_id=notification_id)
    return True
