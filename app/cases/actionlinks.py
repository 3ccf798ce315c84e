"""Signed action links for staff emails: request reviews, mark reviewed, fund, reject.

A link carries ``{case, action, user, nonce}`` signed with itsdangerous under a salt per
action, so a token made for one purpose is worthless for another. It is bound to the staff
member it was emailed to (a forwarded email does not let anyone else act) and valid for
``ACTION_LINK_MAX_AGE_DAYS`` (14 by default). The link only opens a confirmation page; the
change itself is a POST by that logged-in staff member that records the nonce in
``used_action_link`` in the same transaction as the change, so a link works once. Links are
built from ``BASE_URL``, never from a request's Host header.

Timestamps come from ``app.clock`` so tests can move time.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from app import clock
from app.errors import UserError
from app.extensions import db
from app.mail.compose import absolute_url
from app.models import Application, UsedActionLink, User

OPEN, MARK_REVIEWED, REJECT = "open", "mark_reviewed", "reject"
FUND, REQUEST_REVIEWS = "fund", "request_reviews"
ACTIONS = (OPEN, MARK_REVIEWED, REJECT, FUND, REQUEST_REVIEWS)
# Actions that change the case (a transition, or asking reviewers) and work only once.
CHANGING_ACTIONS = (MARK_REVIEWED, REJECT, FUND, REQUEST_REVIEWS)
SALT_PREFIX = "non.action-link."
ENDPOINT = "inbox.action_link"


def max_age() -> dt.timedelta:
    return dt.timedelta(days=current_app.config["ACTION_LINK_MAX_AGE_DAYS"])


class ActionLinkError(UserError):
    """The link cannot be used; ``message`` says why in words a user understands."""

    def __init__(
        self, message, *, status: int = 400, case_id: int | None = None, expired: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        # Known only when the signature was genuine (e.g. an expired link): lets the page
        # offer the way to the case instead.
        self.case_id = case_id
        self.expired = expired


@dataclass(frozen=True)
class ActionLink:
    case_id: int
    action: str
    nonce: str
    user_id: int

    @property
    def changes_state(self) -> bool:
        return self.action in CHANGING_ACTIONS


class _ClockSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer(action: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt=SALT_PREFIX + action, signer=_ClockSigner
    )


def make_token(case_id: int, action: str, user_id: int, *, nonce: str | None = None) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    payload = {
        "case": case_id,
        "action": action,
        "user": user_id,
        "nonce": nonce or secrets.token_urlsafe(16),
    }
    return _serializer(action).dumps(payload)


def read_token(action: str, token: str) -> ActionLink:
    """The link's content if the signature is genuine, made for ``action`` and not expired.

    Does not look at whether it was used (see ``check_unused``).
    """
    if action not in ACTIONS:
        raise ActionLinkError(_invalid_message(), status=404)
    serializer = _serializer(action)
    try:
        payload = serializer.loads(token, max_age=int(max_age().total_seconds()))
    except SignatureExpired as exc:
        raise ActionLinkError(
            _l(
                "Dieser Link ist abgelaufen: Links aus E-Mails gelten %(days)s Tage. "
                "Es wurde nichts geändert. Sie können den Fall direkt im Portal bearbeiten.",
                days=max_age().days,
            ),
            status=410,
            case_id=_case_of_expired(serializer, exc),
            expired=True,
        ) from exc
    except BadData as exc:
        raise ActionLinkError(_invalid_message()) from exc
    link = _parse(payload)
    if link is None or link.action != action:
        raise ActionLinkError(_invalid_message())
    return link


def check_addressee(link: ActionLink, user: User) -> None:
    """Only the person the email was sent to may use its link (not whoever it was
    forwarded to)."""
    if link.user_id != user.id:
        raise ActionLinkError(
            _l(
                "Dieser Link wurde an eine andere Person gesendet und gilt nur für sie. "
                "Es wurde nichts geändert. Sie können den Fall direkt im Portal bearbeiten."
            ),
            status=403,
            case_id=link.case_id,
        )


def check_unused(link: ActionLink) -> None:
    if link.changes_state and db.session.get(UsedActionLink, link.nonce) is not None:
        raise ActionLinkError(
            _l(
                "Dieser Link wurde bereits verwendet. Jeder Aktionslink wirkt nur einmal; "
                "der Fall wurde nicht noch einmal geändert."
            ),
            status=410,
            case_id=link.case_id,
        )


def mark_used(link: ActionLink, user: User) -> None:
    """Record the nonce in the current transaction (the caller commits with the transition).

    The nonce is the primary key, so of two simultaneous uses only one can commit.
    """
    db.session.add(UsedActionLink(nonce=link.nonce, user_id=user.id, used_at=clock.now()))


def case_url(application: Application) -> str:
    """The plain (login-protected) case page: for shared inboxes and "open the case"."""
    return absolute_url("staff.case", case_id=application.id)


def action_url(case_id: int, action: str, user_id: int) -> str:
    """A signed link for ``user_id``, with a fresh nonce. Needs an app context, no request."""
    return absolute_url(ENDPOINT, action=action, token=make_token(case_id, action, user_id))


def _invalid_message():
    return _l(
        "Dieser Link ist ungültig. Vielleicht wurde er beim Kopieren aus der E-Mail "
        "abgeschnitten. Es wurde nichts geändert. Sie können den Fall direkt im Portal "
        "bearbeiten."
    )


def _parse(payload: object) -> ActionLink | None:
    if not isinstance(payload, dict):
        return None
    case_id, action, nonce = payload.get("case"), payload.get("action"), payload.get("nonce")
    user_id = payload.get("user")
    if not isinstance(case_id, int) or not isinstance(action, str) or not isinstance(nonce, str):
        return None
    # Links made before they were bound to a person are not accepted any more.
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    if not nonce or len(nonce) > 64:
        return None
    return ActionLink(case_id=case_id, action=action, nonce=nonce, user_id=user_id)


def _case_of_expired(serializer: URLSafeTimedSerializer, exc: SignatureExpired) -> int | None:
    # The signature was checked before the age, so this payload is authentic.
    try:
        link = _parse(serializer.load_payload(exc.payload))
    except BadData:
        return None
    return link.case_id if link else None
