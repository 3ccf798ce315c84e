"""Drafts: a form saved to continue later, reached again through a personal resume link.

A draft is not a case: no reference number, no checks, no staff email. Its resume link
carries a random 256-bit token stored only as a hash; it is valid until the round closes or
for ``VALID_DAYS``, whichever comes first. The form is kept exactly as posted (the typed
strings), so it comes back as left; a PDF is copied from the pending uploads to a stored
file of the draft (in the database, app.cases.uploads) and back to a fresh pending upload on
resume. ``prune`` deletes expired drafts with their files (in the daily retention run,
app.cases.retention). The caller commits.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import delete, func, select

from app import clock
from app.cases import uploads
from app.extensions import db
from app.mail import compose
from app.mail.compose import absolute_url
from app.models import Draft, FundingRound, hash_token

VALID_DAYS = 30
# Posted fields that are not the applicant's data: never stored.
NOT_STORED = {"csrf_token", "action", "started", "website", "attachment_ref", "attachment_remove"}
MAX_STORED_CHARS = 200_000


def expiry(funding_round: FundingRound, now: dt.datetime | None = None) -> dt.datetime:
    """End of the round's last application day (Berlin), or ``VALID_DAYS`` from now."""
    now = now or clock.now()
    close = dt.datetime.combine(
        funding_round.applications_close + dt.timedelta(days=1), dt.time(), tzinfo=clock.BERLIN
    ).astimezone(dt.UTC)
    return min(now + dt.timedelta(days=VALID_DAYS), close)


def form_data(posted) -> dict[str, list[str]]:
    """The posted form (a MultiDict) as stored: the applicant's fields, as typed."""
    data = {
        key: [value[:MAX_STORED_CHARS] for value in posted.getlist(key)]
        for key in posted
        if key not in NOT_STORED
    }
    return data


def save(
    funding_round: FundingRound,
    posted,
    contact_email: str,
    language: str,
    attachment: uploads.PendingUpload | None,
    *,
    existing_hash: str | None = None,
) -> tuple[Draft, str | None]:
    """Store the form as a draft. A draft resumed in this browser (``existing_hash``) is
    updated and no second link is sent unless the address changed; otherwise a new draft is
    made and its resume link emailed. Returns the draft and the new token (or None)."""
    now = clock.now()
    draft = None
    if existing_hash:
        draft = db.session.scalar(
            select(Draft).where(Draft.token_hash == existing_hash, Draft.expires_at > now)
        )
    token = None
    if draft is None or draft.contact_email.lower() != contact_email.lower():
        token = secrets.token_urlsafe(32)
        if draft is None:
            draft = Draft(round_id=funding_round.id, created_at=now)
            db.session.add(draft)
        draft.token_hash = hash_token(token)
        draft.expires_at = expiry(funding_round, now)
    draft.contact_email = contact_email
    draft.language = language if language in ("de", "en") else "de"
    draft.data = form_data(posted)
    draft.updated_at = now
    if attachment is not None:
        _keep_attachment(draft, attachment)
    else:
        _drop_attachment(draft)
    db.session.flush()
    if token is not None:
        compose.record(
            compose.DRAFT_SAVED,
            None,
            draft.contact_email,
            draft.language,
            resume_url=absolute_url("intake.resume_draft", token=token),
            expires_at=draft.expires_at,
            round_name=funding_round.name(draft.language),
        )
    return draft, token


def _keep_attachment(draft: Draft, attachment: uploads.PendingUpload) -> None:
    if draft.attachment_source == attachment.name and draft.attachment_name:
        return  # the same upload saved again
    data = uploads.pending_content(attachment)
    _drop_attachment(draft)
    if data is None:
        return
    draft.attachment_name = uploads.store(data)
    draft.attachment_source = attachment.name
    draft.attachment_original_name = attachment.original_name
    draft.attachment_size = attachment.size


def _drop_attachment(draft: Draft) -> None:
    uploads.delete_files([draft.attachment_name])
    draft.attachment_name = draft.attachment_original_name = draft.attachment_size = None
    draft.attachment_source = None


def find(token: str) -> Draft | None:
    """The valid draft of a resume link; None for unknown, malformed or expired tokens."""
    if not token or len(token) > 100:
        return None
    return db.session.scalar(
        select(Draft).where(Draft.token_hash == hash_token(token), Draft.expires_at > clock.now())
    )


def pending_copy(draft: Draft) -> uploads.PendingUpload | None:
    """A fresh pending upload of the draft's PDF, for the resumed form (committed)."""
    data = uploads.content_of(draft.attachment_name) if draft.attachment_name else None
    if data is None:
        return None
    upload = uploads.add_pending(data, draft.attachment_original_name or "anhang.pdf")
    draft.attachment_source = upload.name
    db.session.commit()
    return upload


def discard(token_hash: str) -> None:
    """Delete a draft (it was submitted) with its file."""
    draft = db.session.scalar(select(Draft).where(Draft.token_hash == token_hash))
    if draft is not None:
        _drop_attachment(draft)
        db.session.delete(draft)


def prune(*, dry_run: bool = False) -> int:
    """Delete expired drafts and their files (the caller commits); returns how many.
    ``dry_run`` only counts."""
    expired = Draft.expires_at <= clock.now()
    if dry_run:
        return db.session.scalar(select(func.count(Draft.id)).where(expired))
    uploads.delete_files(select(Draft.attachment_name).where(expired))
    return db.session.execute(
        delete(Draft).where(expired).execution_options(synchronize_session=False)
    ).rowcount
