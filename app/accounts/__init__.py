"""Accounts of staff, reviewers and administrators (applicants have none).

The account domain: password hashing (argon2id), creating,
deactivating and re-keying users, and the Flask-Login loader. It never touches ``request``;
``app.auth`` (the blueprint) and ``app.cli.users`` (the operator commands) call it.
"""

from __future__ import annotations

import datetime as dt
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, or_, select

from app import clock
from app.errors import UserError
from app.extensions import db, login_manager
from app.models import ROLES, AccountEvent, LoginSession, User, hash_token

MIN_PASSWORD_LENGTH = 12

# One hasher per parameter set (``PASSWORD_HASH_PARAMETERS``: argon2-cffi's defaults, RFC 9106's
# low-memory profile, everywhere but in the tests, which hash hundreds of passwords), each with
# a dummy hash that is verified against when the email is unknown, so a miss costs as much as a
# wrong password and response times do not reveal which accounts exist.
_hashers: dict[tuple, tuple[PasswordHasher, str]] = {}


def _hasher_and_dummy() -> tuple[PasswordHasher, str]:
    parameters = current_app.config["PASSWORD_HASH_PARAMETERS"]
    key = tuple(sorted(parameters.items()))
    if key not in _hashers:
        hasher = PasswordHasher(**parameters)
        _hashers[key] = (hasher, hasher.hash("not-a-real-password-only-for-timing"))
    return _hashers[key]


def _hasher() -> PasswordHasher:
    return _hasher_and_dummy()[0]


def dummy_hash() -> str:
    return _hasher_and_dummy()[1]


# Flask-Login settings live here, beside the loader, because this module is imported by
# create_app right after login_manager.init_app.
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Bitte melden Sie sich an, um diese Seite zu sehen.")
login_manager.login_message_category = "info"
# Evaluates the lazy message in the request's language before it is stored in the session.
login_manager.localize_callback = str


class AccountError(UserError):
    """A user-facing problem with account data (message is German, wrapped in ``_l``)."""


def load_user(user_id: str) -> User | None:
    """Flask-Login loader. The id carries the session version, so a password change or a
    deactivation ends every open session at its next request."""
    ident, _, version = user_id.partition(":")
    if not (ident.isascii() and ident.isdigit() and version.isascii() and version.isdigit()):
        return None
    user = db.session.get(User, int(ident))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


# --- passwords --------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            _l(
                "Das Passwort muss mindestens %(n)s Zeichen lang sein.",
                n=MIN_PASSWORD_LENGTH,
            )
        )


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None.

    Does the same argon2 work whether or not the account exists. Upgrades the stored hash
    when the hasher's parameters changed (the caller commits).
    """
    user = find_user(email)
    if user is None:
        _verify(dummy_hash(), password)
        return None
    if not _verify(user.password_hash, password) or not user.active:
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def record_login(user: User) -> None:
    user.last_login_at = clock.now()


# --- audit ------------------------------------------------------------------------------


def audit(user: User, kind: str, *, actor: User | None = None, detail: str | None = None) -> None:
    """Record a change of an account (the caller commits). ``actor`` None: the user themself
    or the operator's command line."""
    db.session.add(
        AccountEvent(
            user_id=user.id,
            actor_id=actor.id if actor else None,
            kind=kind,
            detail=detail,
            at=clock.now(),
        )
    )


# --- server-side sessions ---------------------------------------------------------------


def start_session(user: User, absolute_hours: int) -> str:
    """Record a new login of ``user``; returns the random id the browser keeps (the caller
    stores it in the signed session cookie and commits). Drops the user's ended sessions."""
    now = clock.now()
    db.session.execute(
        delete(LoginSession).where(
            LoginSession.user_id == user.id,
            or_(LoginSession.expires_at <= now, LoginSession.revoked_at.is_not(None)),
        )
    )
    token = secrets.token_urlsafe(32)
    db.session.add(
        LoginSession(
            id_hash=hash_token(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + dt.timedelta(hours=absolute_hours),
        )
    )
    return token


def session_is_live(user: User, token: str | None) -> bool:
    """Whether ``token`` is an unrevoked, unexpired login of ``user``."""
    if not token or len(token) > 100:
        return False
    row = db.session.get(LoginSession, hash_token(token))
    return (
        row is not None
        and row.user_id == user.id
        and row.revoked_at is None
        and clock.now() < row.expires_at
    )


def end_session(token: str | None) -> None:
    """Revoke one login (logout); a copy of its cookie is worthless from now on."""
    if not token or len(token) > 100:
        return
    row = db.session.get(LoginSession, hash_token(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()


# --- account management -----------------------------------------------------------------


def normalize_email(email: str) -> str:
    """Validated, lower-cased address; raises ``AccountError`` if it is not an address."""
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccountError(_l("Ungültige E-Mail-Adresse: %(error)s", error=str(exc))) from exc
    return result.normalized.lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(email: str, *, role: str, password: str, name: str = "") -> User:
    """Add a new user to the session (the caller commits)."""
    email = normalize_email(email)
    if role not in ROLES:
        raise AccountError(_l("Unbekannte Rolle: %(role)s", role=role))
    check_password_policy(password)
    if find_user(email) is not None:
        raise AccountError(_l("Es gibt bereits ein Konto für %(email)s.", email=email))
    user = User(email=email, name=name.strip(), role=role, password_hash=hash_password(password))
    db.session.add(user)
    return user


def set_password(user: User, password: str) -> None:
    """Store a new password and end every open session of the user (the caller commits)."""
    check_password_policy(password)
    user.password_hash = hash_password(password)
    user.session_version += 1


def deactivate(user: User) -> None:
    """Lock the user out and end every open session (the caller commits)."""
    user.active = False
    user.session_version += 1


def activate(user: User) -> None:
    """Let a locked user log in again (the caller commits)."""
    user.active = True


def change_role(user: User, role: str) -> None:
    """Give the user another role; open sessions end, so the new rights apply at once."""
    if role not in ROLES:
        raise AccountError(_l("Unbekannte Rolle: %(role)s", role=role))
    user.role = role
    user.session_version += 1
