"""Applicant status links, whose token no stored email holds.

The token is derived, not stored: ``HMAC-SHA256(SECRET_KEY, salt)`` of a random 128-bit salt
kept on the case, URL-safe base64 (256 bits). The case keeps the token's SHA-256 hash for
look-ups (as before) and the salt, which is useless without the server's key. So every
applicant email with the status link (the receipt, a request for information and its
reminder, a message, a lost link sent again) is recorded with a placeholder where the token
goes (staff read that copy in the email log and cannot act as the applicant), and
``app.mail.delivery`` asks this module for the token when it sends, also when staff send a
failed email again. Every email so carries the one working link. See docs/security.md.

If the key was changed since the case was submitted, the derived token no longer matches the
stored hash; then a fresh salt is issued and the email carries the new, working link (the old
one stops working, as it must once the key it was made with is retired).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from flask import current_app

from app.extensions import db
from app.mail import compose, delivery
from app.models import Application, Notification, hash_token

# The name under which stored emails refer to this link (Notification.personal_link); the
# kinds that carry it are ``compose.STATUS_PAGE_KINDS``.
PERSONAL_LINK = compose.STATUS_PAGE_LINK


def token_from(salt: str) -> str:
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    digest = hmac.new(key, b"status-link:" + salt.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issue(application: Application) -> str:
    """Give the case a new status token (the caller commits); returns the token."""
    salt = secrets.token_hex(16)
    token = token_from(salt)
    application.status_token_salt = salt
    application.status_token_hash = hash_token(token)
    return token


def current_token(application: Application) -> str:
    """The case's working status token, issued afresh if it cannot be derived any more."""
    salt = application.status_token_salt
    if salt:
        token = token_from(salt)
        if hmac.compare_digest(hash_token(token), application.status_token_hash):
            return token
    return issue(application)


def _token_for(notification: Notification) -> str:
    application = db.session.get(Application, notification.application_id)
    if application is None:
        raise LookupError(f"notification {notification.id} has no case for its status link")
    return current_token(application)


delivery.register_personal_link(PERSONAL_LINK, _token_for)
