"""Password reset by email: a signed link, valid for ``PASSWORD_RESET_MAX_AGE_SECONDS``
(30 minutes), usable once.

The link carries the user's id, the time it was made and a fingerprint of the current
password hash and session version. Setting a new password changes both, so the link is
void after one use, and so is every other link sent before. The email is recorded as a
``Notification`` like every email, with a placeholder where the token goes; the token is made
when the email is sent (``app.mail.delivery.register_personal_link``), so the email log never
holds a usable link, and a re-sent email gets a fresh 30 minutes.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from app import clock
from app.accounts import audit, find_user, set_password
from app.extensions import db
from app.mail import compose, delivery
from app.models import Notification, User

PERSONAL_LINK = "password_reset"
_SALT = "password-reset"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _fingerprint(user: User) -> str:
    raw = f"{user.password_hash}:{user.session_version}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def make_token(user: User) -> str:
    return _serializer().dumps([user.id, _fingerprint(user), int(clock.now().timestamp())])


def read_token(token: str) -> User | None:
    """The active user a reset link belongs to; None if forged, expired or already used."""
    if not token or len(token) > 300:
        return None
    try:
        user_id, fingerprint, issued = _serializer().loads(token)
        age = clock.now().timestamp() - int(issued)
    except (BadSignature, ValueError, TypeError):
        return None
    if not 0 <= age <= current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"]:
        return None
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active:
        return None
    if not hmac.compare_digest(str(fingerprint), _fingerprint(user)):
        return None
    return user


def request_reset(email: str) -> bool:
    """Record the reset email if an active account has this address (the caller commits).
    The page says the same either way, so it does not reveal which addresses have accounts."""
    user = find_user(email)
    if user is None or not user.active:
        return False
    compose.record(
        compose.PASSWORD_RESET,
        None,  # about an account, not a case
        user.email,
        compose.STAFF_LANGUAGE,
        personal_link=PERSONAL_LINK,
        user=user,
        reset_url=compose.absolute_url("auth.reset_password", token=delivery.SECRET_PLACEHOLDER),
        minutes=current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] // 60,
    )
    audit(user, "password_reset_requested")
    return True


def reset(user: User, password: str) -> None:
    """Set the new password (ends every session and voids the link); the caller commits."""
    set_password(user, password)
    audit(user, "password_reset")


def _token_for(notification: Notification) -> str:
    user = find_user(notification.recipient)
    if user is None or not user.active:
        raise LookupError(f"notification {notification.id}: no active account to reset")
    return make_token(user)


delivery.register_personal_link(PERSONAL_LINK, _token_for)
