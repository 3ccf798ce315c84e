"""The one place that reads the clock, so tests can move it (e.g. into the seed round)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def now() -> dt.datetime:
    """The current time, UTC-aware."""
    return dt.datetime.now(dt.UTC)


def today() -> dt.date:
    """Today's date in Europe/Berlin, the programme's calendar."""
    return now().astimezone(BERLIN).date()
