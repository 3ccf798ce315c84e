"""Role checks for the staff and review areas.

Usage in a blueprint::

    from app.web.security import roles_required

    @bp.get("/cases")
    @roles_required("staff", "admin")
    def cases(): ...

Anonymous visitors are sent to the login page (``/login?next=<this path>``); a logged-in user
without one of the roles gets 403. A deactivated user, or one whose password was changed, is
anonymous again at the next request (see ``app.auth.load_user``), so the same check covers them.
Object-level checks (may this reviewer see this case?) stay in the views.

``safe_next`` is the one check for redirect targets taken from a request (``next``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort
from flask_login import current_user

from app.extensions import login_manager
from app.models import ROLES

F = TypeVar("F", bound=Callable[..., Any])

STAFF_ROLES = ("staff", "admin")
ADMIN_ROLES = ("admin",)
REVIEW_ROLES = ("reviewer", "staff", "admin")


def roles_required(*roles: str) -> Callable[[F], F]:
    """Allow the view only to logged-in, active users with one of ``roles``.

    Anonymous: redirect to the login view with ``next`` set to the requested path (via
    Flask-Login's ``unauthorized()``, which also flashes the German login message).
    Wrong role: 403. Put it below the route decorator.
    """
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"roles_required needs roles out of {ROLES}, got {roles!r}")

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirect)."""
    if not target:
        return None
    target = target.strip()
    # Browsers treat a backslash like a slash, so "/\evil.example" would leave the site.
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
