"""Reply addresses unique to a case: ``<local>+<token>@<domain>`` of ``REPLY_ADDRESS``.

The token names the case and who replies (``a`` the applicant, ``s`` the staff) and the day it
was issued, signed with an HMAC of ``SECRET_KEY``, so an address cannot be guessed or altered;
it expires after ``REPLY_TOKEN_MAX_AGE_DAYS``. Plus-addressing keeps one mailbox for all cases.
This module only makes and reads addresses; what a reply does is app.cases.replies' business.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass

from flask import current_app

from app import clock

APPLICANT, STAFF = "a", "s"
_TOKEN = re.compile(
    r"^(?P<role>[as])(?P<case>\d{1,10})\.(?P<day>[0-9a-f]{1,6})\.(?P<sig>[a-z2-7]{16})$"
)
_EPOCH = dt.date(1970, 1, 1)

OK, NONE, FORGED, EXPIRED = "ok", "no_token", "forged", "expired"


@dataclass(frozen=True)
class ReplyToken:
    status: str
    role: str | None = None
    case_id: int | None = None


def _sign(payload: str) -> str:
    key = ("reply-address:" + current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:16]


def base_address() -> str | None:
    address = (current_app.config.get("REPLY_ADDRESS") or "").strip()
    return address if "@" in address else None


def address(role: str, case_id: int) -> str | None:
    """The reply address of a case for ``role``; None when replies are not configured."""
    base = base_address()
    if base is None:
        return None
    local, domain = base.rsplit("@", 1)
    day = (clock.today() - _EPOCH).days
    payload = f"{role}{case_id}.{day:x}"
    return f"{local}+{payload}.{_sign(payload)}@{domain}"


def parse(recipient: str) -> ReplyToken:
    """Read the token of a recipient address: ok, no_token, forged or expired."""
    base = base_address()
    recipient = (recipient or "").strip().strip("<>").lower()
    if base is None or "@" not in recipient:
        return ReplyToken(NONE)
    local, _domain = recipient.rsplit("@", 1)
    base_local = base.rsplit("@", 1)[0].lower()
    if not local.startswith(base_local + "+"):
        return ReplyToken(NONE)
    match = _TOKEN.match(local[len(base_local) + 1 :])
    if match is None:
        return ReplyToken(FORGED)
    payload = f"{match['role']}{match['case']}.{match['day']}"
    if not hmac.compare_digest(_sign(payload), match["sig"]):
        return ReplyToken(FORGED)
    issued = _EPOCH + dt.timedelta(days=int(match["day"], 16))
    max_age = int(current_app.config.get("REPLY_TOKEN_MAX_AGE_DAYS", 365))
    if (clock.today() - issued).days > max_age:
        return ReplyToken(EXPIRED, match["role"], int(match["case"]))
    return ReplyToken(OK, match["role"], int(match["case"]))
