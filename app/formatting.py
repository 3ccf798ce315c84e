"""Display helpers: money as German currency, times in Europe/Berlin, in the user's locale."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask_babel import format_currency, format_date, format_datetime, get_locale


def money(cents: int | None) -> str:
    if cents is None:
        return "–"
    return format_currency(cents / 100, "EUR")


def date(value: dt.date | None) -> str:
    return format_date(value, "medium") if value else "–"


def datetime(value: dt.datetime | None) -> str:
    return format_datetime(value, "medium") if value else "–"


def localized(row: dict, field: str = "name") -> str:
    """Pick ``name_de``/``name_en`` (or another field) from round data by the UI language."""
    lang = str(get_locale() or "de")[:2]
    return row.get(f"{field}_{lang}") or row.get(f"{field}_de", "")


def register(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(date, "date")
    app.add_template_filter(datetime, "datetime")
    app.add_template_filter(localized, "localized")
    app.add_template_filter(state_label, "state_label")
    app.add_template_filter(outcome_label, "outcome_label")

    @app.context_processor
    def _globals():
        return {"current_language": str(get_locale() or "de")[:2]}


def state_label(state: str | None) -> str:
    from app.labels import STATE_LABELS

    return str(STATE_LABELS.get(state, state or ""))


def outcome_label(outcome: str | None) -> str:
    """Overall eligibility (eligible/remarks/not_eligible) or one rule's outcome."""
    from flask_babel import gettext as _

    from app.labels import OUTCOME_LABELS, RULE_OUTCOME_LABELS

    if outcome is None:
        return _("noch nicht geprüft")
    return str(OUTCOME_LABELS.get(outcome) or RULE_OUTCOME_LABELS.get(outcome, outcome))
