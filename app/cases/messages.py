"""Messages on a case: applicant and staff write to each other, staff keep internal notes.

A message is an audit ``Event`` of kind ``message`` (public: on the applicant's timeline too)
and a note one of kind ``note`` (never public), so both sit on the case's timeline with every
other step. Each message is also sent as an email to the other side, declared here once;
notes send nothing. The caller commits.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import clock
from app.cases import notices
from app.errors import UserError
from app.extensions import db
from app.mail import compose
from app.mail.compose import APPLICANT, STAFF, Email
from app.models import Application, Event, EventAttachment, User

MESSAGE, NOTE = "message", "note"
MAX_LENGTH = 5000

# What a message causes: an email to the other side.
FROM_APPLICANT_EMAILS = (Email(compose.MESSAGE_TO_STAFF, STAFF),)
FROM_STAFF_EMAILS = (Email(compose.MESSAGE_TO_APPLICANT, APPLICANT),)


class MessageError(UserError):
    """An empty or too long message; ``message`` says so in the reader's language."""


def _clean(body: str | None) -> str:
    text = (body or "").strip()
    if not text:
        raise MessageError(_l("Bitte schreiben Sie eine Nachricht."))
    if len(text) > MAX_LENGTH:
        raise MessageError(_l("Die Nachricht ist zu lang (höchstens %(n)s Zeichen).", n=MAX_LENGTH))
    return text


def _event(application: Application, kind: str, body: str, user: User | None) -> Event:
    event = Event(
        application=application,
        at=clock.now(),
        actor_id=user.id if user else None,
        actor_label="staff" if user else "applicant",
        kind=kind,
        comment=body,
        public=kind == MESSAGE,
    )
    db.session.add(event)
    db.session.flush()
    return event


def post_from_applicant(application: Application, body: str) -> Event:
    """The applicant writes to the staff (status page, or a reply by email)."""
    event = _event(application, MESSAGE, _clean(body), None)
    # the staff hear of it as a notice (at once or in their digest; app.cases.notices)
    notices.record_all(application, FROM_APPLICANT_EMAILS, facts={"event_id": event.id})
    return event


def post_from_staff(application: Application, body: str, user: User, *, internal: bool) -> Event:
    """Staff write to the applicant, or (``internal``) keep a note the applicant never sees."""
    event = _event(application, NOTE if internal else MESSAGE, _clean(body), user)
    if not internal:
        notices.record_all(application, FROM_STAFF_EMAILS, message=event)
    return event


def attachments_by_event(application: Application) -> dict[int, list[EventAttachment]]:
    """PDFs that came with the case's messages (replies by email), by event id."""
    rows = db.session.scalars(
        select(EventAttachment)
        .join(Event, Event.id == EventAttachment.event_id)
        .where(Event.application_id == application.id)
        .order_by(EventAttachment.id)
    )
    found: dict[int, list[EventAttachment]] = {}
    for row in rows:
        found.setdefault(row.event_id, []).append(row)
    return found


def attachment_of_case(application: Application, attachment_id: int) -> EventAttachment | None:
    """The attachment, only if it belongs to one of this case's messages."""
    return db.session.scalar(
        select(EventAttachment)
        .join(Event, Event.id == EventAttachment.event_id)
        .where(EventAttachment.id == attachment_id, Event.application_id == application.id)
    )
