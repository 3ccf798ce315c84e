"""Access (Art. 15 DSGVO): everything the portal holds about one case, for the applicant.

``collect`` gathers it as JSON-ready data: every column of the case (read from the model, so
a field added later is included without touching this module), its districts and priorities,
the eligibility report, the reviews (without the reviewers' identities, Art. 15(4)), the
audit trail with the messages, the emails sent to the applicant, the versions of the data,
the requests for information, and the attachments' metadata. ``archive`` packs one ZIP:
``<reference>.json`` (machine-readable), ``<reference>.html`` (the same, readable, rendered
by the caller), the attachment as ``<reference>-anlage.pdf`` and the PDFs of replies by email
as ``<reference>-nachricht-<n>.pdf``.

Left out on purpose: the status token's hash and salt, the attachment's server-side file name
(security data, not information about the applicant), the emails to the network office
(they carry staff action links), the names of staff and reviewers (third parties), and the
staff's internal notes (working notes the applicant never sees; whether a request needs them
is for the data protection officer to decide, docs/privacy.md).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from typing import Any

from flask import current_app
from sqlalchemy import select

from app import clock
from app.cases import uploads
from app.cases.checks import latest_check
from app.cases.reviews import reviews_of
from app.extensions import db
from app.models import (
    SCORES,
    Application,
    ApplicationVersion,
    Event,
    EventAttachment,
    InformationRequest,
    Notification,
    User,
)

FORMAT = "non-portal/subject-access/1"
# Not information about the applicant: security data, server-side names, and the
# organisation's name as the duplicate rule compares it (org_name, lower-cased and trimmed).
EXCLUDED_COLUMNS = frozenset(
    {"status_token_hash", "status_token_salt", "attachment_name", "org_key"}
)
MONEY_UNIT = "EUR cents"


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def application_record(application: Application) -> dict[str, Any]:
    """Every column of the case except ``EXCLUDED_COLUMNS``, plus its lists and the round."""
    record = {
        column.key: _plain(getattr(application, column.key))
        for column in Application.__mapper__.columns
        if column.key not in EXCLUDED_COLUMNS
    }
    record["round"] = application.round.code
    record["districts"] = list(application.districts)
    record["priorities"] = list(application.priorities)
    record["total_costs"] = application.total_costs
    return record


def _check(application: Application) -> dict[str, Any] | None:
    check = latest_check(application)
    if check is None:
        return None
    return {
        "checked_at": _plain(check.checked_at),
        "rules_version": check.rules_version,
        "overall": check.overall,
        "results": [
            {
                "rule": r.rule,
                "outcome": r.outcome,
                "effective_outcome": r.effective_outcome,
                "message": r.message(application.language),
                "override_comment": r.override_comment,
                "override_at": _plain(r.override_at),
            }
            for r in check.results
        ],
    }


def _reviews(application: Application) -> list[dict[str, Any]]:
    return [
        {
            "created_at": _plain(review.created_at),
            "conflict_of_interest": review.conflict_of_interest,
            "recommendation": review.recommendation,
            **{score: getattr(review, score) for score in SCORES},
            "comment": review.comment,
        }
        for review in reviews_of(application)
    ]


def _events(application: Application) -> list[dict[str, Any]]:
    events = db.session.scalars(
        select(Event)
        .where(Event.application_id == application.id, Event.kind != "note")
        .order_by(Event.at, Event.id)
    )
    return [
        {
            "at": _plain(e.at),
            "kind": e.kind,
            "from_state": e.from_state,
            "to_state": e.to_state,
            # who, as a role: staff names are third parties' data
            "actor": "staff" if e.actor_id else e.actor_label,
            "comment": e.comment,
        }
        for e in events
    ]


def _emails(application: Application) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(Notification)
        .where(
            Notification.application_id == application.id,
            Notification.recipient == application.contact_email,
        )
        .order_by(Notification.created_at, Notification.id)
    )
    return [
        {
            "created_at": _plain(n.created_at),
            "sent_at": _plain(n.sent_at),
            "recipient": n.recipient,
            "kind": n.kind,
            "language": n.language,
            "status": n.status,
            "subject": n.subject,
            "body_text": n.body_text,
        }
        for n in rows
    ]


def _versions(application: Application) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(ApplicationVersion)
        .where(ApplicationVersion.application_id == application.id)
        .order_by(ApplicationVersion.number)
    )
    return [
        {
            "number": v.number,
            "created_at": _plain(v.created_at),
            "by": v.actor_label,
            "data": v.data,
        }
        for v in rows
    ]


def _requests(application: Application) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(InformationRequest)
        .where(InformationRequest.application_id == application.id)
        .order_by(InformationRequest.id)
    )
    return [
        {
            "requested_at": _plain(r.requested_at),
            "message": r.message,
            "due_date": _plain(r.due_date),
            "answered_at": _plain(r.answered_at),
            "answer_version": r.answer_version,
        }
        for r in rows
    ]


def _message_files(application: Application) -> list[EventAttachment]:
    """PDFs that came with the applicant's replies by email."""
    return list(
        db.session.scalars(
            select(EventAttachment)
            .join(Event, Event.id == EventAttachment.event_id)
            .where(Event.application_id == application.id)
            .order_by(EventAttachment.id)
        )
    )


def _message_file_name(application: Application, attachment: EventAttachment) -> str:
    return f"{application.reference}-nachricht-{attachment.id}.pdf"


def attachment_filename(application: Application) -> str:
    return f"{application.reference}-anlage.pdf"


def collect(application: Application) -> dict[str, Any]:
    """Everything held about the case, JSON-ready (amounts in cents, times in UTC ISO 8601)."""
    attachment = None
    if application.attachment_name:
        attachment = {
            "original_name": application.attachment_original_name,
            "size": application.attachment_size,
            "file_in_archive": attachment_filename(application),
        }
    return {
        "format": FORMAT,
        "generated_at": _plain(clock.now()),
        "controller": current_app.config["OPERATOR_NAME"],
        "money_unit": MONEY_UNIT,
        "application": application_record(application),
        "attachment": attachment,
        "eligibility_check": _check(application),
        "reviews": _reviews(application),
        "events": _events(application),
        "emails": _emails(application),
        "versions": _versions(application),
        "information_requests": _requests(application),
        "message_attachments": [
            {
                "original_name": a.original_name,
                "size": a.size,
                "file_in_archive": _message_file_name(application, a),
            }
            for a in _message_files(application)
        ],
    }


def archive(application: Application, data: dict[str, Any], html: str) -> bytes:
    """One ZIP with the JSON, the readable page and the attachment."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{application.reference}.json", json.dumps(data, ensure_ascii=False, indent=2))
        zf.writestr(f"{application.reference}.html", html)
        content = application.attachment_name and uploads.content_of(application.attachment_name)
        if content:
            zf.writestr(attachment_filename(application), content)
        for attachment in _message_files(application):
            content = uploads.content_of(attachment.name)
            if content:
                zf.writestr(_message_file_name(application, attachment), content)
    return buffer.getvalue()


def filename(application: Application) -> str:
    return f"{application.reference}-auskunft.zip"


def record_export(application: Application, user: User | None) -> None:
    """The audit event of a produced export (accountability, Art. 5(2) DSGVO); caller commits."""
    db.session.add(
        Event(
            application_id=application.id,
            at=clock.now(),
            actor_id=user.id if user else None,
            actor_label="staff" if user else "applicant",
            kind="data_export",
        )
    )
