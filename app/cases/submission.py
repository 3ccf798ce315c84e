"""Submitting an application: reference number, status token, one transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from app import clock
from app.cases import statuslinks, uploads
from app.cases.workflow import apply_transition
from app.errors import UserError
from app.extensions import db
from app.models import Application, FundingRound, ReferenceCounter, UsedFormToken, hash_token


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
        apply_transition(application, "submit", status_token=token)
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
