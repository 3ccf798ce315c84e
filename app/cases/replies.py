"""Replies by email become messages on the case.

``receive(raw, recipient)`` takes one email as received at a reply address (by the SMTP
listener or the IMAP poller in ``workers.inbound``) and records an ``InboundMail`` row saying
what happened to it. Only a reply with a genuine, unexpired token (app.mail.replyaddress) from
a person is posted: the applicant's as a message to the staff, a staff member's (token for
staff, sender an active staff account) as a message to the applicant. Quoted history and the
signature are cut off; PDF attachments are kept, others refused with a reply that says why.
Forged or expired tokens, auto-replies and mail loops are recorded and not posted.

The same Message-ID is processed once (a sender retrying after a lost "250" changes nothing).
If the database is unreachable this raises; the listener answers "451, try again later" so
the sending server retries, and the IMAP poller leaves the mail unread: nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import io
import re
from email.message import EmailMessage
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import func, select

from app import clock
from app.cases import messages, uploads
from app.extensions import db
from app.mail import compose, replyaddress
from app.models import (
    Application,
    EventAttachment,
    InboundMail,
    User,
)

# a sender writing more often than this to one case within an hour is a loop
LOOP_LIMIT_PER_HOUR = 20
AUTO_SUBJECTS = re.compile(
    r"^\s*(auto(matic)?\s*(reply|response)|automatische\s+antwort|abwesenheit|"
    r"out\s+of\s+(the\s+)?office|undeliver|delivery\s+status\s+notification|"
    r"unzustellbar|returned\s+mail)",
    re.IGNORECASE,
)
# where the quoted history of a reply begins
QUOTE_STARTS = (
    re.compile(r"^\s*(am|on)\s.+(schrieb|wrote)\s*.*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*(original(nachricht| message)|ursprüngliche nachricht)", re.I),
    re.compile(r"^\s*(von|from)\s*:\s*.+", re.IGNORECASE),
    re.compile(r"^\s*_{5,}\s*$"),
)
SIGNATURE = re.compile(r"^(--|-- |__)\s*$")


def _header(message: EmailMessage, name: str) -> str:
    return str(message.get(name, "") or "").strip()


def is_auto_reply(message: EmailMessage) -> bool:
    auto = _header(message, "Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if _header(message, "Precedence").lower() in ("bulk", "junk", "list", "auto_reply"):
        return True
    if any(message.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")):
        return True
    return bool(AUTO_SUBJECTS.match(_header(message, "Subject")))


def _is_ours(sender: str) -> bool:
    ours = {parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1].lower()}
    base = replyaddress.base_address()
    if base:
        ours.add(base.lower())
    local = sender.split("@", 1)[0]
    return sender in ours or (base is not None and local.startswith(base.split("@")[0] + "+"))


def clean_text(text: str) -> str:
    """The new part of a reply: without the quoted history and the signature."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for line in lines:
        if SIGNATURE.match(line) or any(p.match(line) for p in QUOTE_STARTS):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _text_of(part)
    if part.get_content_type() == "text/html":
        text = re.sub(r"<(br|/p|/div)[^>]*>", "\n", text, flags=re.I)
        text = re.sub(r"<[^>]+>", "", text)
    return clean_text(text)


def _text_of(part: EmailMessage) -> str:
    """The part's text. A charset Python does not know (``unknown-8bit``, which some mail
    gateways write when they cannot tell) is read as UTF-8, else as Windows-1252, so the
    reply still arrives instead of failing as a whole."""
    try:
        return part.get_content()
    except LookupError:
        payload = part.get_payload(decode=True) or b""
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload.decode("cp1252", errors="replace")


def _attachments(message: EmailMessage) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(PDFs kept, names of files refused)."""
    kept, refused = [], []
    for part in message.iter_attachments():
        name = part.get_filename() or "anhang"
        payload = part.get_payload(decode=True) or b""
        if _acceptable_pdf(name, payload):
            kept.append((name, payload))
        else:
            refused.append(name)
    return kept, refused


def _acceptable_pdf(name: str, payload: bytes) -> bool:
    """The rules of the form's attachment (app.cases.uploads): a ``.pdf`` name, ``%PDF-`` at
    byte 0, at most ``ATTACHMENT_MAX_BYTES``, and a parser opens it unencrypted."""
    if not name.lower().endswith(".pdf") or not uploads.looks_like_pdf(payload[:8]):
        return False
    if len(payload) > current_app.config["ATTACHMENT_MAX_BYTES"]:
        return False
    try:
        uploads.check_pdf(io.BytesIO(payload))
    except uploads.UploadError:
        return False
    return True


def _message_key(message: EmailMessage, raw: bytes) -> str:
    found = _header(message, "Message-ID")
    return found[:255] if found else "sha256:" + hashlib.sha256(raw).hexdigest()


def receive(raw: bytes, recipient: str) -> InboundMail:
    """Process one received email (see the module docstring) and commit."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    key = _message_key(message, raw)
    seen = db.session.scalar(select(InboundMail).filter_by(message_id=key))
    if seen is not None:
        db.session.rollback()
        return seen
    sender = parseaddr(_header(message, "From"))[1].lower()[:254]
    record = InboundMail(
        message_id=key,
        received_at=clock.now(),
        sender=sender,
        recipient=recipient[:254],
        subject=_header(message, "Subject")[:255],
    )
    # added once its status is known (the checks below query, and would flush it half-made)
    record.status = _handle(message, record, sender, recipient)
    db.session.add(record)
    db.session.commit()
    return record


def _handle(message: EmailMessage, record: InboundMail, sender: str, recipient: str) -> str:
    token = replyaddress.parse(recipient)
    if token.status != replyaddress.OK:
        return token.status
    application = db.session.get(Application, token.case_id)
    if application is None:
        return replyaddress.FORGED
    record.application_id = application.id
    if _is_ours(sender):
        return "loop"
    if is_auto_reply(message):
        return "auto_reply"
    recent = db.session.scalar(
        select(func.count(InboundMail.id)).where(
            InboundMail.application_id == application.id,
            InboundMail.sender == sender,
            InboundMail.received_at > clock.now() - dt.timedelta(hours=1),
        )
    )
    if recent >= LOOP_LIMIT_PER_HOUR:
        return "loop"
    staff_user = None
    if token.role == replyaddress.STAFF:
        staff_user = db.session.scalar(
            select(User).where(func.lower(User.email) == sender, User.active.is_(True))
        )
        if staff_user is None or not staff_user.is_staff:
            return "unknown_sender"
    body = _body(message)
    pdfs, refused = _attachments(message)
    if not body and not pdfs:
        return "empty"
    text = body or "(PDF)"
    if staff_user is not None:
        event = messages.post_from_staff(application, text, staff_user, internal=False)
    else:
        event = messages.post_from_applicant(application, text)
    record.event_id = event.id
    for name, payload in pdfs:
        stored = uploads.store(payload)
        db.session.add(
            EventAttachment(
                event_id=event.id, name=stored, original_name=name[:255], size=len(payload)
            )
        )
    if refused:
        record.detail = "refused: " + ", ".join(refused)
        _refuse_attachments(application, sender, refused, staff_user is not None)
    return "posted"


def _refuse_attachments(
    application: Application, sender: str, names: list[str], from_staff: bool
) -> None:
    compose.record(
        compose.ATTACHMENT_REFUSED,
        application,
        sender,
        compose.STAFF_LANGUAGE if from_staff else application.language,
        refused=names,
    )
