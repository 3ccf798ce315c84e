"""PDF attachments: checked by content, stored under server-made names in ``UPLOAD_DIR``.

An upload is first kept as *pending* (the applicant may still go back and edit), then promoted
to its final name when the application is submitted. The form carries only a signed reference
to the pending file, so no client-supplied path ever reaches the file system.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.datastructures import FileStorage

PDF_MAGIC = b"%PDF-"
_SALT = "pending-upload"


class UploadError(ValueError):
    """The file is not acceptable; the message is shown to the applicant."""


@dataclass(frozen=True)
class PendingUpload:
    name: str  # server-made file name under UPLOAD_DIR/pending
    original_name: str
    size: int


def upload_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"])
    (path / "pending").mkdir(parents=True, exist_ok=True)
    return path


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
    target = upload_dir() / "pending" / name
    with target.open("wb") as out:
        while chunk := stream.read(1024 * 1024):
            out.write(chunk)
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
    if not isinstance(name, str) or not (upload_dir() / "pending" / name).is_file():
        return None
    return PendingUpload(name=name, original_name=str(original), size=int(size))


def promote(upload: PendingUpload) -> str:
    """Move a pending upload to its final, server-made name; returns that name."""
    final = f"{secrets.token_hex(16)}.pdf"
    base = upload_dir()
    os.replace(base / "pending" / upload.name, base / final)
    return final


def path_of(name: str) -> Path:
    return upload_dir() / name


def prune_pending(max_age_seconds: int, *, dry_run: bool = False) -> int:
    """Delete pending uploads older than the form's lifetime: no form can refer to them any
    more (their signed reference has expired). Returns how many were (or, with ``dry_run``,
    would be) deleted. Part of the retention run (app.cases.retention)."""
    cutoff = time.time() - max_age_seconds
    removed = 0
    for path in (upload_dir() / "pending").glob("*.pdf"):
        if path.stat().st_mtime < cutoff:
            if not dry_run:
                path.unlink(missing_ok=True)
            removed += 1
    return removed
