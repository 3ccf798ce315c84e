"""Further status links of a case, for emails sent after the receipt.

Only hashes of status tokens are stored, so a link from the receipt cannot be rebuilt for a
later email. An email that must link to the status page (a request for information, its
reminder) mints a new token here; every minted link opens the same status page. Asking for
a lost link (``submission.resend_status_link``) drops them all with the old main token.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select

from app import clock
from app.extensions import db
from app.mail.compose import absolute_url
from app.models import Application, StatusToken, hash_token


def mint_url(application: Application) -> str:
    """A new status link of the case (added to the session; the caller commits)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        StatusToken(
            token_hash=hash_token(token), application_id=application.id, created_at=clock.now()
        )
    )
    return absolute_url("intake.status", token=token)


def find(token_hash: str) -> Application | None:
    return db.session.scalar(
        select(Application).join(StatusToken).where(StatusToken.token_hash == token_hash)
    )


def drop_all(application: Application) -> None:
    db.session.execute(delete(StatusToken).where(StatusToken.application_id == application.id))
