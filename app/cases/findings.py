"""Eligibility findings as text: the engine's messages through the gettext catalogs, money,
dates, percentages and lists formatted by Babel, in the language asked for (``force_locale``).

Lives beside the checks, not in ``app.eligibility``: the engine stays free of Flask.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel.lists import format_list
from babel.numbers import format_percent
from flask_babel import force_locale, format_currency, format_date, get_locale, gettext, ngettext

from app import formatting, labels
from app.eligibility.engine import (
    Date,
    Label,
    Message,
    Money,
    Months,
    Name,
    Names,
    Percent,
    Report,
    RuleResult,
)

LANGUAGES = ("de", "en")

LABEL_TABLES = {
    "field": labels.FIELD_LABELS,
    "legal_form": labels.LEGAL_FORM_LABELS,
    "rule": labels.RULE_LABELS,
}


def _value(value: Any) -> str:
    if isinstance(value, Message):
        return _text(value)
    if isinstance(value, Money):
        return format_currency(Decimal(value.cents) / 100, "EUR")
    if isinstance(value, Date):
        return format_date(value.value, "medium")
    if isinstance(value, Percent):
        # one decimal at most: 6/7 is "85,7 %", 7/10 is "70 %"
        share = round(Decimal(value.value.numerator) / Decimal(value.value.denominator), 3)
        return format_percent(share, locale=get_locale(), decimal_quantization=False)
    if isinstance(value, Months):
        return ngettext("%(num)d Monat", "%(num)d Monate", value.count)
    if isinstance(value, Name):
        return value.en if formatting.language() == "en" else value.de
    if isinstance(value, Label):
        label = LABEL_TABLES[value.table].get(value.key)
        return str(label) if label is not None else value.key
    if isinstance(value, Names):
        return format_list([_value(item) for item in value.items], locale=get_locale())
    return str(value)


def _text(message: Message) -> str:
    if not message.msgid:  # several sentences
        return " ".join(_value(value) for _key, value in message.params)
    params = {key: _value(value) for key, value in message.params}
    if not params:
        return gettext(message.msgid)
    return gettext(message.msgid, **params)


def render(message: Message, language: str) -> str:
    """The message as text in ``language`` (``de`` or ``en``)."""
    with force_locale(language):
        return _text(message)


def messages(result: RuleResult) -> dict[str, str]:
    """``{"de": …, "en": …}``: what a stored check keeps of one rule's message."""
    return {language: render(result.message, language) for language in LANGUAGES}


def report_messages(report: Report) -> list[dict[str, str]]:
    """``messages`` for every result, one locale switch per language (not per rule)."""
    texts: list[dict[str, str]] = [{} for _ in report.results]
    for language in LANGUAGES:
        with force_locale(language):
            for text, result in zip(texts, report.results, strict=True):
                text[language] = _text(result.message)
    return texts


def rule_name(rule: str) -> str:
    """The short name of a rule in the current language."""
    label = labels.RULE_LABELS.get(rule)
    return str(label) if label is not None else rule


def findings(report: Report) -> list[dict[str, Any]]:
    """What fails or is remarked, rendered in the current language, for the pre-check."""
    return [
        {
            "rule": r.rule,
            "name": rule_name(r.rule),
            "outcome": r.outcome,
            "field": r.field,
            "text": _text(r.message),
        }
        for r in report.findings
    ]
