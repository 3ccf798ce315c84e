"""PDF attachments: checked by content, stored under server-made names in the database.

The bytes live in the ``stored_file`` table, so every web and worker node reads the same
store and a backup of the database holds them too (docs/performance.md, "Production
shape"; PDFs are at most ``ATTACHMENT_MAX_BYTES``, 10 MB). An upload is first kept as
*pending* (the applicant may still go back and edit), then promoted to its final name in the
transaction that submits the application. The form carries only a signed reference to the
pending file, so no client-supplied name ever reaches the store. ``UPLOAD_DIR``, where
earlier versions kept the files, is read only by the migration that moved them here.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Select, delete, func, select, update
from werkzeug.datastructures import FileStorage

from app import clock
from app.errors import UserError
from app.extensions import db
from app.models import StoredFile

PDF_MAGIC = b"%PDF-"
_SALT = "pending-upload"


class UploadError(UserError):
    """The file is not acceptable; ``message`` is shown to the applicant beside the field."""


NOT_PDF = _l("Die Datei ist keine PDF-Datei. Bitte laden Sie ein PDF hoch.")
WRONG_NAME = _l("Der Dateiname muss auf .pdf enden.")
UNREADABLE = _l(
    "Die PDF-Datei lässt sich nicht lesen. Bitte speichern Sie sie neu als PDF und laden Sie "
    "sie noch einmal hoch."
)
ENCRYPTED = _l(
    "Die PDF-Datei ist verschlüsselt oder passwortgeschützt. Bitte laden Sie sie ohne Schutz hoch."
)
TOO_LARGE = _l("Die Datei ist zu groß. Erlaubt sind höchstens 10 MB.")
TOO_MANY_PENDING = _l(
    "Zurzeit können keine Dateien angenommen werden. Bitte schicken Sie den Antrag ohne "
    "Anlage ab und reichen Sie sie per E-Mail bei der Geschäftsstelle nach."
)
TOO_MANY_FROM_ADDRESS = _l(
    "Von Ihrem Netzwerk aus wurden in kurzer Zeit zu viele Dateien hochgeladen. Bitte "
    "versuchen Sie es in einer Stunde noch einmal."
)


@dataclass(frozen=True)
class PendingUpload:
    name: str  # server-made name of the pending stored_file row
    original_name: str
    size: int


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def looks_like_pdf(head: bytes) -> bool:
    # Readers tolerate the header anywhere in the first 1024 bytes, which lets an executable
    # (MZ …) pose as a PDF; a file we accept starts with it.
    return head.startswith(PDF_MAGIC)


def check_pdf(stream: IO[bytes]) -> None:
    """Open the file with a PDF parser: what it cannot read, or what is encrypted, is refused.

    Reviewers open these files; a PDF that only pretends to be one, or that nobody can
    read without a password, is of no use to them and may be something else entirely.
    """
    # Imported here: pypdf weighs ~7 MiB, and only the few requests that carry a PDF (and the
    # reply listener) need it, not every web and worker process.
    from pypdf import PdfReader

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf warns about repairable flaws
            reader = PdfReader(stream, strict=False)
            encrypted = reader.is_encrypted
            pages = 0 if encrypted else len(reader.pages)
    except Exception as exc:  # any parser failure on untrusted input is a refusal
        raise UploadError(UNREADABLE) from exc
    finally:
        stream.seek(0)
    if encrypted:
        raise UploadError(ENCRYPTED)
    if pages < 1:
        raise UploadError(UNREADABLE)


def save_pending(file: FileStorage, max_bytes: int) -> PendingUpload:
    """Check name, size and content, then store the file under a random name."""
    original = os.path.basename((file.filename or "").replace("\\", "/"))[:255]
    if not original.lower().endswith(".pdf"):
        raise UploadError(WRONG_NAME)
    stream = file.stream
    head = stream.read(len(PDF_MAGIC))
    if not looks_like_pdf(head):
        raise UploadError(NOT_PDF)
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    if size > max_bytes:
        raise UploadError(TOO_LARGE)
    check_pdf(stream)
    name = f"{secrets.token_hex(16)}.pdf"
    # Committed at once: the form may still fail validation, and the applicant's next POST
    # (edit, check, submit) refers to this upload.
    db.session.add(
        StoredFile(name=name, pending=True, size=size, created_at=clock.now(), data=stream.read())
    )
    db.session.commit()
    return PendingUpload(name=name, original_name=original, size=size)


def pending_count() -> int:
    """How many uploads of forms not (yet) submitted are stored."""
    return db.session.scalar(
        select(func.count()).select_from(StoredFile).where(StoredFile.pending.is_(True))
    )


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


def store(data: bytes) -> str:
    """Keep bytes that passed the checks (a reply's PDF, a draft's copy) as a submitted file,
    in the caller's transaction; returns its server-made name."""
    name = f"{secrets.token_hex(16)}.pdf"
    db.session.add(
        StoredFile(name=name, pending=False, size=len(data), created_at=clock.now(), data=data)
    )
    return name


def pending_content(upload: PendingUpload) -> bytes | None:
    """The bytes of a pending upload (a form's attachment not yet submitted)."""
    return db.session.scalar(
        select(StoredFile.data).where(StoredFile.name == upload.name, StoredFile.pending.is_(True))
    )


def add_pending(data: bytes, original_name: str) -> PendingUpload:
    """A fresh pending upload of checked bytes (a resumed draft's PDF); committed at once,
    like ``save_pending``, since the form's next POST refers to it."""
    name = f"{secrets.token_hex(16)}.pdf"
    db.session.add(
        StoredFile(name=name, pending=True, size=len(data), created_at=clock.now(), data=data)
    )
    db.session.commit()
    return PendingUpload(name=name, original_name=original_name, size=len(data))


def content_of(name: str) -> bytes | None:
    """The bytes of a submitted attachment, or None if there is none of that name."""
    return db.session.scalar(
        select(StoredFile.data).where(StoredFile.name == name, StoredFile.pending.is_(False))
    )


def delete_files(names: Iterable[str | None] | Select) -> None:
    """Delete submitted files (names, or a SELECT of names) in the caller's transaction, in
    one statement: they go with the case's data, or stay with it if that transaction rolls
    back (retention, erasure, a replaced attachment, an expired draft)."""
    if not isinstance(names, Select):
        names = [name for name in names if name]
        if not names:
            return
    db.session.execute(
        delete(StoredFile)
        .where(StoredFile.name.in_(names), StoredFile.pending.is_(False))
        .execution_options(synchronize_session=False)
    )


def prune_pending(max_age_seconds: int, *, dry_run: bool = False) -> int:
    """Delete pending uploads older than the form's lifetime: no form can refer to them any
    more (their signed reference has expired). Returns how many were (or, with ``dry_run``,
    would be) deleted. Part of the retention run (app.cases.retention); commits."""
    cutoff = clock.now() - dt.timedelta(seconds=max_age_seconds)
    stale = (StoredFile.pending.is_(True), StoredFile.created_at < cutoff)
    if dry_run:
        return db.session.scalar(select(func.count()).select_from(StoredFile).where(*stale))
    removed = db.session.execute(
        delete(StoredFile).where(*stale).execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return removed
