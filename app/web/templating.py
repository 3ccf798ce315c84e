"""Template filters and globals for every page and email, registered once by the factory.

Labels come from ``app.labels`` (one mapping per concept); formatting from
``app.formatting`` (Babel, in the reader's locale).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

from flask import Flask, current_app, g
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from app import formatting, labels, programmes
from app.extensions import db
from app.models import DECLARATIONS, MONEY_FIELDS, FundingRound
from app.web import rounds


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
    return round_names(labels.district_names, rnd).get(code, code)


def priority_label(rnd: FundingRound, code: str) -> str:
    return round_names(labels.priority_names, rnd).get(code, code)


def round_names(
    build: Callable[[FundingRound, str], dict[str, str]], rnd: FundingRound
) -> dict[str, str]:
    """``build(rnd, language)`` (``labels.district_names`` …) in the reader's language, made
    once per app context (a request, a job) and shared by its callers: a page of 25 cases
    asks for a district name at least 25 times besides the filter's list, and building the
    table for each answer cost about 0.2 ms, a quarter to a third of a case-list row."""
    language = formatting.language()
    tables = g.setdefault("round_names", {})
    key = (build, rnd.id, language)
    if key not in tables:
        tables[key] = build(rnd, language)
    return tables[key]


def round_name(rnd: FundingRound) -> str:
    return rnd.name(formatting.language())


def rule_label(rule: str | None) -> str:
    """A rule's display name in the reader's language (``labels.RULE_LABELS``), else its code."""
    label = labels.RULE_LABELS.get(rule or "")
    return str(label) if label is not None else (rule or "")


def funders_notice(language: str) -> dict | None:
    """The configured round's "gefördert durch" notice for the footer. The footer is on every
    page, error pages included: a database that cannot answer leaves the notice out rather
    than turning an error page into a second error."""
    try:
        return programmes.funders_notice(rounds.configured_round(), language)
    except SQLAlchemyError:
        db.session.rollback()
        return None


def version_value(value: Any, name: str) -> str:
    """One field of a stored version (JSON values), as the staff read it in a comparison."""
    if value is None or value == [] or value == "":
        return "–"
    if name in (*MONEY_FIELDS, "de_minimis_received"):
        return formatting.money(value)
    if name in ("start_date", "end_date"):
        return formatting.date(dt.date.fromisoformat(value))
    if name in ("vat_deductible", "site_in_lower_saxony", "de_minimis_undertaking", *DECLARATIONS):
        return _("ja") if value else _("nein")
    if name == "cost_plan":
        return "; ".join(
            f"{year.get('year')}: {formatting.money(year.get('personnel_costs') or 0)} + "
            f"{formatting.money(year.get('other_costs') or 0)}"
            for year in value
        )
    if name == "personnel_positions":
        # like the case page: roles and extent, the cost of a single position stays unshown
        return "; ".join(
            f"{position.get('role')} ({position.get('months')} × {position.get('fte_percent')} %)"
            for position in value
        )
    if name == "legal_form":
        return str(labels.LEGAL_FORM_LABELS.get(value, value))
    if name == "language":
        return str(labels.LANGUAGE_LABELS.get(value, value))
    if name == "attachment":
        return f"{value.get('name') or 'PDF'} ({round((value.get('size') or 0) / 1024)} KB)"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def delivery_error(text: str | None) -> str:
    """A failed email's ``last_error`` in the reader's language: the reason app.mail.delivery
    stores in German (``labels.DELIVERY_ERROR_LABELS``) translated, the technical detail after
    it as the server or library gave it."""
    if not text:
        return "–"
    for key, label in labels.DELIVERY_ERROR_LABELS.items():
        stored = labels.delivery_error_in_german(key)
        if stored in text:
            return text.replace(stored, str(label), 1)
    return text


FILTERS = {
    "money": formatting.money,
    "date": formatting.date,
    "datetime": formatting.datetime,
    "localized": formatting.localized,
    "state_label": state_label,
    "outcome_label": outcome_label,
    "version_value": version_value,
    "delivery_error": delivery_error,
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
    "job_labels": labels.JOB_LABELS,
    "field_labels": labels.FIELD_LABELS,
    "language_labels": labels.LANGUAGE_LABELS,
    "legal_form_labels": labels.LEGAL_FORM_LABELS,
    "declaration_fields": DECLARATIONS,
    "action_labels": labels.ACTION_LABELS,
    "district_label": district_label,
    "priority_label": priority_label,
    "round_name": round_name,
    "rule_label": rule_label,
    "funders_notice": funders_notice,
}


def register(app: Flask) -> None:
    for name, function in FILTERS.items():
        app.add_template_filter(function, name)
    app.jinja_env.globals.update(GLOBALS)

    @app.context_processor
    def _page_context():
        # The office's address for the footer: the address the portal's emails come from.
        contact_email = parseaddr(current_app.config.get("MAIL_DEFAULT_SENDER") or "")[1]
        return {"current_language": formatting.language(), "contact_email": contact_email}
