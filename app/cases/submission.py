"""Submitting an application: reference number, status token, one transaction."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from app import clock
from app.cases import uploads
from app.cases.workflow import apply_transition
from app.extensions import db
from app.models import Application, FundingRound, ReferenceCounter, hash_token


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
    try:
        reference = next_reference(submitted_at.astimezone(clock.BERLIN).year)
        # before the Application exists: the UPDATE would autoflush a half-built row
        attachment_name = uploads.promote(attachment) if attachment is not None else None
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
