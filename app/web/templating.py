"""Template filters and globals for every page and email, registered once by the factory.

Labels come from ``app.labels`` (one mapping per concept); formatting from
``app.formatting`` (Babel, in the reader's locale).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from flask_babel import get_locale
from flask_babel import gettext as _

from app import formatting, labels
from app.models import DECLARATIONS, MONEY_FIELDS, FundingRound


def state_label(state: str | None) -> str:
    return str(labels.STATE_LABELS.get(state, state or ""))


def outcome_label(outcome: str | None) -> str:
    """Overall eligibility (eligible/remarks/not_eligible) or one rule's outcome."""
    if outcome is None:
        return _("noch nicht geprüft")
    return str(
        labels.OUTCOME_LABELS.get(outcome) or labels.RULE_OUTCOME_LABELS.get(outcome, outcome)
    )


def district_label(rnd: FundingRound, code: str) -> str:
    return labels.district_names(rnd).get(code, code)


def priority_label(rnd: FundingRound, code: str) -> str:
    return labels.priority_names(rnd).get(code, code)


def version_value(value: Any, name: str) -> str:
    """One field of a stored version (JSON values), as the staff read it in a comparison."""
    if value is None or value == [] or value == "":
        return "–"
    if name in MONEY_FIELDS:
        return formatting.money(value)
    if name in ("start_date", "end_date"):
        return formatting.date(dt.date.fromisoformat(value))
    if name in ("vat_deductible", *DECLARATIONS):
        return _("ja") if value else _("nein")
    if name == "legal_form":
        return str(labels.LEGAL_FORM_LABELS.get(value, value))
    if name == "language":
        return str(labels.LANGUAGE_LABELS.get(value, value))
    if name == "attachment":
        return f"{value.get('name') or 'PDF'} ({round((value.get('size') or 0) / 1024)} KB)"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


FILTERS = {
    "money": formatting.money,
    "date": formatting.date,
    "datetime": formatting.datetime,
    "localized": formatting.localized,
    "state_label": state_label,
    "outcome_label": outcome_label,
    "version_value": version_value,
}

# Globals (not context) so that macros imported by templates see them too.
GLOBALS = {
    "state_labels": labels.STATE_LABELS,
    "outcome_labels": labels.OUTCOME_LABELS,
    "rule_outcome_labels": labels.RULE_OUTCOME_LABELS,
    "recommendation_labels": labels.RECOMMENDATION_LABELS,
    "score_labels": labels.SCORE_LABELS,
    "event_kind_labels": labels.EVENT_KIND_LABELS,
    "actor_labels": labels.ACTOR_LABELS,
    "notification_status_labels": labels.NOTIFICATION_STATUS_LABELS,
    "email_kind_labels": labels.EMAIL_KIND_LABELS,
    "field_labels": labels.FIELD_LABELS,
    "language_labels": labels.LANGUAGE_LABELS,
    "legal_form_labels": labels.LEGAL_FORM_LABELS,
    "action_labels": labels.ACTION_LABELS,
    "district_label": district_label,
    "priority_label": priority_label,
}


def register(app: Flask) -> None:
    for name, function in FILTERS.items():
        app.add_template_filter(function, name)
    app.jinja_env.globals.update(GLOBALS)

    @app.context_processor
    def _current_language():
        return {"current_language": str(get_locale() or "de")[:2]}
