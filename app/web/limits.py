"""Attempts counted before the work they guard (login, final submissions, second factors).

Flask-Limiter's decorators count a request either before the view (every request) or after
the response (``deduct_when``), and a count after the response lets parallel requests all
through before the first is counted. Here the view counts at the moment it knows the key
(the account typed into the form, the contact address), and refuses at once when a limit is
used up: each ``hit`` is one atomic increment in the limiter's storage (Redis), so 30
parallel attempts get exactly as many checks as the limit allows.

The limits are strings such as ``"5 per minute"`` from the settings. With
``RATELIMIT_ENABLED`` off (the tests) nothing is counted. If the storage is down, counting
goes on in this process's memory until it is back, as Flask-Limiter does for its own limits:
a Redis outage must not open the door, nor turn a login into a 500.
"""

from __future__ import annotations

import logging

from flask import current_app
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from app.extensions import limiter

log = logging.getLogger(__name__)

_fallback = FixedWindowRateLimiter(MemoryStorage())


def _strategy() -> RateLimiter:
    return limiter.limiter


def enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


def hit(setting: str, *key: str) -> bool:
    """Count one attempt against the limit named by ``setting``; False if it is used up."""
    if not enabled():
        return True
    item = parse(current_app.config[setting])
    try:
        return _strategy().hit(item, setting, *key)
    except Exception as exc:  # storage down: count in memory rather than fail either way
        log.warning("rate limit storage unavailable, counting in memory: %s", exc)
        return _fallback.hit(item, setting, *key)


def clear(setting: str, *key: str) -> None:
    """Forget the attempts counted under ``key`` (e.g. after a successful login)."""
    if not enabled():
        return
    item = parse(current_app.config[setting])
    for strategy in (_strategy, lambda: _fallback):
        try:
            strategy().clear(item, setting, *key)
        except Exception as exc:  # nothing to forget where nothing could be counted
            log.warning("rate limit storage unavailable: %s", exc)
