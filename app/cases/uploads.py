"""PDF attachments: checked by content, stored under server-made names in the database.

The bytes live in the ``stored_file`` table, so every web and worker node reads the same
store and a backup of the database holds them too (docs/performance.md, "Production
shape"; PDFs are at most ``ATTACHMENT_MAX_BYTES``, 10 MB). An upload is first kept as
*pending* (the applicant may still go back and edit), then promoted to its final name in the
transaction that submits the application. The form carries only a signed reference to the
pending file, so no client-supplied name ever reaches the store.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select, update
from werkzeug.datastructures import FileStorage

from app import clock
from app.extensions import db
from app.models import StoredFile

PDF_MAGIC = b"%PDF-"
_SALT = "pending-upload"


class UploadError(ValueError):
    """The file is not acceptable; the message is shown to the applicant."""


@dataclass(frozen=True)
class PendingUpload:
    name: str  # server-made name of the pending stored_file row
    original_name: str
    size: int


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def looks_like_pdf(head: bytes) -> bool:
    # PDF readers accept the header within the first 1024 bytes; real PDFs start with it.
    return PDF_MAGIC in head[:1024]


def save_pending(file: FileStorage, max_bytes: int) -> PendingUpload:
    """Check size and content, then store the file under a random name."""
    stream = file.stream
    head = stream.read(1024)
    if not looks_like_pdf(head):
        raise UploadError("not_pdf")
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    if size > max_bytes:
        raise UploadError("too_large")
    name = f"{secrets.token_hex(16)}.pdf"
    # Committed at once: the form may still fail validation, and the applicant's next POST
    # (edit, check, submit) refers to this upload.
    db.session.add(
        StoredFile(name=name, pending=True, size=size, created_at=clock.now(), data=stream.read())
    )
    db.session.commit()
    original = os.path.basename(file.filename or "anhang.pdf")[:255]
    return PendingUpload(name=name, original_name=original, size=size)


def sign(upload: PendingUpload) -> str:
    return _serializer().dumps([upload.name, upload.original_name, upload.size])


def unsign(token: str) -> PendingUpload | None:
    """The pending upload a form refers to, or None if the reference is bad or the file gone."""
    if not token:
        return None
    try:
        name, original, size = _serializer().loads(
            token, max_age=current_app.config["FORM_MAX_AGE_SECONDS"]
        )
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(name, str) or not db.session.scalar(
        select(StoredFile.name).where(StoredFile.name == name, StoredFile.pending.is_(True))
    ):
        return None
    return PendingUpload(name=name, original_name=str(original), size=int(size))


def promote(upload: PendingUpload) -> str:
    """Give a pending upload its final, server-made name, in the caller's transaction (a
    rolled-back submission leaves the upload pending). Returns that name."""
    final = f"{secrets.token_hex(16)}.pdf"
    db.session.execute(
        update(StoredFile)
        .where(StoredFile.name == upload.name, StoredFile.pending.is_(True))
        .values(name=final, pending=False)
        .execution_options(synchronize_session=False)
    )
    return final


def content_of(name: str) -> bytes | None:
    """The bytes of a submitted attachment, or None if there is none of that name."""
    return db.session.scalar(
        select(StoredFile.data).where(StoredFile.name == name, StoredFile.pending.is_(False))
    )


def prune_pending(max_age_seconds: int) -> int:
    """Delete pending uploads older than the form's lifetime: no form can refer to them any
    more (their signed reference has expired). Returns how many were deleted."""
    cutoff = clock.now() - dt.timedelta(seconds=max_age_seconds)
    removed = db.session.execute(
        delete(StoredFile)
        .where(StoredFile.pending.is_(True), StoredFile.created_at < cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return removed
