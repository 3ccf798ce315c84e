"""Submitting an application: reference number, status token, one transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app import clock
from app.cases import information, statuslinks, uploads
from app.cases.workflow import TransitionError, apply_transition
from app.errors import UserError
from app.extensions import db
from app.mail import compose
from app.models import (
    INFO_REQUESTED,
    Application,
    Event,
    FundingRound,
    ReferenceCounter,
    UsedFormToken,
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


class AlreadySubmitted(UserError):
    """The form (its ``started`` token) was submitted before."""


def form_token_used(form_token: str) -> bool:
    return db.session.get(UsedFormToken, hash_token(form_token)) is not None


def _use_form_token(form_token: str) -> None:
    """Mark the form as submitted, first thing in the submission's transaction: of two
    concurrent submissions of one form, the second waits on the row (PostgreSQL) or the
    write lock (SQLite) and then fails on the primary key, so it files nothing."""
    db.session.add(UsedFormToken(token_hash=hash_token(form_token), used_at=clock.now()))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise AlreadySubmitted(
            _l("Dieses Formular wurde bereits abgeschickt. Es wurde kein weiterer Antrag angelegt.")
        ) from None


def prune_form_tokens(max_age_seconds: int) -> int:
    """Forget used form tokens whose signature has expired anyway; returns how many."""
    cutoff = clock.now() - dt.timedelta(seconds=max_age_seconds)
    return db.session.execute(delete(UsedFormToken).where(UsedFormToken.used_at < cutoff)).rowcount


def submit_application(
    funding_round: FundingRound,
    fields: dict[str, Any],
    attachment: uploads.PendingUpload | None = None,
    *,
    form_token: str | None = None,
) -> tuple[Application, str]:
    """Store a validated application in state ``submitted`` and commit.

    ``fields`` uses the names of DESIGN.md's data list. Returns the row and the plain status
    token, which is shown once on the confirmation page (the receipt email gets it at send
    time, app.cases.statuslinks). With ``form_token`` (the form's signed ``started`` value)
    the form submits once; a second submission raises ``AlreadySubmitted``.
    """
    if form_token is not None:
        _use_form_token(form_token)
    fields = dict(fields)
    districts = fields.pop("districts", [])
    priorities = fields.pop("priorities", [])
    submitted_at = clock.now()
    try:
        reference = next_reference(submitted_at.astimezone(clock.BERLIN).year)
        # before the Application exists: the UPDATE would autoflush a half-built row
        attachment_name = uploads.promote(attachment) if attachment is not None else None
        application = Application(
            round=funding_round,
            reference=reference,
            submitted_at=submitted_at,
            **fields,
        )
        token = statuslinks.issue(application)
        application.districts.extend(districts)
        application.priorities.extend(priorities)
        if attachment is not None:
            application.attachment_name = attachment_name
            application.attachment_original_name = attachment.original_name
            application.attachment_size = attachment.size
        # "submit" is the first transition of the table: it adds the row, the audit event
        # and the outbox rows for the receipt, the staff notice and the eligibility check.
        apply_transition(application, "submit")
        db.session.commit()
    except BaseException:
        db.session.rollback()  # also undoes the promotion of the attachment
        raise
    return application, token


def find_by_token(token: str) -> Application | None:
    """The application a status link belongs to; None for unknown or malformed tokens."""
    if not token or len(token) > 100:
        return None
    return db.session.scalar(select(Application).filter_by(status_token_hash=hash_token(token)))


def resend_status_link(reference: str, contact_email: str) -> bool:
    """Send a new status link to the case's stored contact address, if the pair matches.

    A new token replaces the old one (the old link stops working) and goes out in a
    ``status_link`` email, put in at send time like every status link (statuslinks).
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
    # a new salt: the old link stops working, and the email gets the new one at send time
    statuslinks.issue(application)
    compose.record(
        compose.STATUS_LINK,
        application,
        application.contact_email,
        application.language,
        reply_to=compose.reply_address(application, compose.STATUS_LINK, compose.APPLICANT),
    )
    return True


def form_values(application: Application) -> dict[str, Any]:
    """The stored data under the form's names, for an amendment form filled as it stands."""
    values: dict[str, Any] = {
        name: getattr(application, name)
        for name in information.VERSIONED_FIELDS
        if name not in ("attachment", "districts", "priorities")
    }
    for name in ("vat_deductible", "site_in_lower_saxony", "de_minimis_undertaking"):
        value = getattr(application, name)
        # radio buttons; None (asked only since eligibility v2) leaves the question open
        values[name] = None if value is None else ("y" if value else "n")
    values["cost_plan"] = list(application.cost_plan or [])
    values["personnel_positions"] = list(application.personnel_positions or [])
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
    runs the eligibility check again. A new attachment replaces the current one (the versions
    keep its name and size); without one the current attachment is kept.
    """
    if application.state != INFO_REQUESTED:
        raise TransitionError(_l("Dieser Schritt ist im aktuellen Status nicht möglich."))
    fields = dict(fields)
    districts = fields.pop("districts", [])
    priorities = fields.pop("priorities", [])
    replaced = application.attachment_name if attachment is not None else None
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
            application.attachment_name = uploads.promote(attachment)
            application.attachment_original_name = attachment.original_name
            application.attachment_size = attachment.size
            # the versions keep the replaced file's name and size; the file goes
            uploads.delete_files([replaced])
        application.version += 1
        db.session.flush()
        information.record_version(application, actor_label="applicant")
        event = apply_transition(application, "amend")
        db.session.commit()
    except BaseException:
        db.session.rollback()
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
