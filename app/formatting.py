"""Money, dates and times formatted by Babel in the reader's locale (times in Europe/Berlin)."""

from __future__ import annotations

import datetime as dt

from flask_babel import format_currency, format_date, format_datetime, get_locale


def money(cents: int | None) -> str:
    if cents is None:
        return "–"
    return format_currency(cents / 100, "EUR")


def date(value: dt.date | None) -> str:
    return format_date(value, "medium") if value else "–"


def datetime(value: dt.datetime | None) -> str:
    return format_datetime(value, "medium") if value else "–"


def language() -> str:
    """The reader's language, ``de`` or ``en`` (``de`` outside a request)."""
    return str(get_locale() or "de")[:2]


def localized(row: dict, field: str = "name") -> str:
    """Pick ``name_de``/``name_en`` (or another field) from round data by the UI language."""
    return row.get(f"{field}_{language()}") or row.get(f"{field}_de", "")
