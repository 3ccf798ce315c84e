"""Two-factor login for staff, reviewers and admins: TOTP (RFC 6238, any authenticator app)
and one-time recovery codes.

A secret becomes the user's only once they confirmed it with a code from their app, so a
half-finished set-up never locks anyone out. Each TOTP time step is accepted once (a code
seen over a shoulder cannot be replayed in its 30 seconds); recovery codes are stored as
SHA-256 hashes (they are random, 50 bits each, so a slow hash adds nothing) and work once.
Whether two factors are required is the setting ``TOTP_REQUIRED`` (on in production).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
from sqlalchemy import delete, select

from app import clock
from app.extensions import db
from app.models import RecoveryCode, User

ISSUER = "Allianz für Fachkräfte NON"
RECOVERY_CODES = 10
# 10 characters of an alphabet without look-alikes (no 0/O, 1/l/I): 50 bits
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (typed in, or as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _step_of(secret: str, code: str) -> int | None:
    """The time step the code belongs to (now, or one step either side), or None."""
    code = "".join(code.split())
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = clock.now()
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def enable(user: User, secret: str, code: str) -> list[str] | None:
    """Make ``secret`` the user's second factor if ``code`` proves they have it; returns the
    new recovery codes (shown once) or None for a wrong code. The caller commits."""
    step = _step_of(secret, code)
    if step is None:
        return None
    user.totp_secret = secret
    user.totp_last_step = step
    return new_recovery_codes(user)


def disable(user: User) -> None:
    """Remove the second factor and its recovery codes (admin reset for a lost device); open
    sessions end, so the next login sets it up anew (the caller commits)."""
    user.session_version += 1
    user.totp_secret = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def _normal(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes; returns the plain codes (shown once)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)]
    for code in codes:
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash(code)))
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def verify(user: User, code: str) -> str | None:
    """Check a second factor: "totp", "recovery" (that code is now used up) or None.

    The caller commits; it must also have counted the attempt (app.web.limits), since six
    digits fall to guessing without a limit."""
    if not user.totp_secret or not code:
        return None
    step = _step_of(user.totp_secret, code)
    if step is not None:
        if user.totp_last_step is not None and step <= user.totp_last_step:
            return None  # this code (or an older one) was used already
        user.totp_last_step = step
        return "totp"
    normal = _normal(code)
    if len(normal) != 10:
        return None
    row = db.session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(normal),
            RecoveryCode.used_at.is_(None),
        )
    )
    if row is None:
        return None
    row.used_at = clock.now()
    return "recovery"


def recovery_codes_left(user: User) -> int:
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )
