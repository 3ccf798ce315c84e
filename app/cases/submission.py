"""Submitting an application: reference number, status token, one transaction."""

from __future__ import annotations

import secrets
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app import clock
from app.cases import information, statuslinks, uploads
from app.cases.workflow import TransitionError, apply_transition
from app.extensions import db
from app.mail import compose
from app.models import (
    INFO_REQUESTED,
    Application,
    Event,
    FundingRound,
    ReferenceCounter,
    hash_token,
)


def next_reference(year: int) -> str:
    """Next ``NON-<year>-<nnnn>``, sequential per year, safe under concurrent submissions.

    The increment is one UPDATE … RETURNING, so the row lock (PostgreSQL) or the write lock
    (SQLite) serialises concurrent submitters; the first number of a year inserts the row.
    """
    bump = (
        update(ReferenceCounter)
        .where(ReferenceCounter.year == year)
        .values(last_number=ReferenceCounter.last_number + 1)
        .returning(ReferenceCounter.last_number)
    )
    number = db.session.scalar(bump)
    if number is None:
        try:
            with db.session.begin_nested():
                db.session.execute(insert(ReferenceCounter).values(year=year, last_number=1))
            number = 1
        except IntegrityError:  # another submitter created the year's row first
            number = db.session.scalar(bump)
    return f"NON-{year}-{number:04d}"


def new_status_token() -> tuple[str, str]:
    """A random 256-bit token for the applicant's status link and the hash we store."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def submit_application(
    funding_round: FundingRound,
    fields: dict[str, Any],
    attachment: uploads.PendingUpload | None = None,
) -> tuple[Application, str]:
    """Store a validated application in state ``submitted`` and commit.

    ``fields`` uses the names of DESIGN.md's data list. Returns the row and the plain status
    token, which exists only now: it is shown once and sent in the receipt email.
    """
    token, token_hash = new_status_token()
    fields = dict(fields)
    districts = fields.pop("districts", [])
    priorities = fields.pop("priorities", [])
    submitted_at = clock.now()
    final_name = None
    try:
        reference = next_reference(submitted_at.astimezone(clock.BERLIN).year)
        application = Application(
            round=funding_round,
            reference=reference,
            status_token_hash=token_hash,
            submitted_at=submitted_at,
            **fields,
        )
        application.districts.extend(districts)
        application.priorities.extend(priorities)
        if attachment is not None:
            final_name = uploads.promote(attachment)
            application.attachment_name = final_name
            application.attachment_original_name = attachment.original_name
            application.attachment_size = attachment.size
        # "submit" is the first transition of the table: it adds the row, the audit event
        # and the outbox rows for the receipt, the staff notice and the eligibility check.
        apply_transition(application, "submit", status_token=token)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if final_name:
            uploads.path_of(final_name).unlink(missing_ok=True)
        raise
    return application, token


def find_by_token(token: str) -> Application | None:
    """The application a status link belongs to; None for unknown or malformed tokens."""
    if not token or len(token) > 100:
        return None
    token_hash = hash_token(token)
    found = db.session.scalar(select(Application).filter_by(status_token_hash=token_hash))
    return found or statuslinks.find(token_hash)


def resend_status_link(reference: str, contact_email: str) -> bool:
    """Send a new status link to the case's stored contact address, if the pair matches.

    Only the hash of a status token is stored, so the old link cannot be sent again: a new
    token replaces it (the old link stops working) and goes out in a ``status_link`` email.
    Returns whether the pair matched; the caller must not tell the visitor. Caller commits.
    """
    reference = (reference or "").strip().upper()
    address = (contact_email or "").strip().lower()
    if not reference or not address:
        return False
    application = db.session.scalar(
        select(Application).where(
            Application.reference == reference,
            func.lower(Application.contact_email) == address,
        )
    )
    if application is None:
        return False
    token, token_hash = new_status_token()
    application.status_token_hash = token_hash
    statuslinks.drop_all(application)
    compose.record(
        compose.STATUS_LINK,
        application,
        application.contact_email,
        application.language,
        reply_to=compose.reply_address(
            application, compose.Email(compose.STATUS_LINK, "applicant")
        ),
        status_url=compose.absolute_url("intake.status", token=token),
    )
    return True


def form_values(application: Application) -> dict[str, Any]:
    """The stored data under the form's names, for an amendment form filled as it stands."""
    values: dict[str, Any] = {
        name: getattr(application, name)
        for name in information.VERSIONED_FIELDS
        if name not in ("attachment", "districts", "priorities")
    }
    values["vat_deductible"] = "y" if application.vat_deductible else "n"
    values["districts"] = list(application.districts)
    values["priorities"] = list(application.priorities)
    return values


def submit_amendment(
    application: Application,
    fields: dict[str, Any],
    attachment: uploads.PendingUpload | None = None,
) -> Event:
    """Store the applicant's answer to a request for information as a new version and commit.

    The first amendment also keeps the data as submitted (version 1). The ``amend``
    transition closes the request, sends the case back to where it was, tells the staff and
    runs the eligibility check again. A new attachment replaces the current one (earlier
    files stay with their versions); without one the current attachment is kept.
    """
    if application.state != INFO_REQUESTED:
        raise TransitionError(_l("Dieser Schritt ist im aktuellen Status nicht möglich."))
    fields = dict(fields)
    districts = fields.pop("districts", [])
    priorities = fields.pop("priorities", [])
    final_name = None
    try:
        if not information.versions_of(application):
            information.record_version(
                application, actor_label="applicant", at=application.submitted_at
            )
        for name, value in fields.items():
            setattr(application, name, value)
        _replace_links(application.district_links, districts, "ags", application.districts)
        _replace_links(application.priority_links, priorities, "code", application.priorities)
        if attachment is not None:
            final_name = uploads.promote(attachment)
            application.attachment_name = final_name
            application.attachment_original_name = attachment.original_name
            application.attachment_size = attachment.size
        application.version += 1
        db.session.flush()
        information.record_version(application, actor_label="applicant")
        event = apply_transition(application, "amend")
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if final_name:
            uploads.path_of(final_name).unlink(missing_ok=True)
        raise
    return event


def _replace_links(links: list, wanted: list[str], attribute: str, proxy) -> None:
    """Make a link collection hold exactly ``wanted``, touching only what changed (deleting
    and re-adding the same key in one flush would collide on the primary key)."""
    wanted_set = set(wanted)
    for link in [link for link in links if getattr(link, attribute) not in wanted_set]:
        links.remove(link)
    present = {getattr(link, attribute) for link in links}
    proxy.extend(value for value in dict.fromkeys(wanted) if value not in present)
