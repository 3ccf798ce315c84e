"""Form fields for German input, shared by every form of the portal.

Money is typed as Germans type it (``12.500,50``, ``12500``, ``12 500 €``) and becomes integer
cents; dates as ``TT.MM.JJJJ`` (or a browser's ISO date). Messages are German msgids.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from babel.numbers import format_decimal
from flask_babel import lazy_gettext as _l
from wtforms import Field, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget, TextInput

# Line breaks of every kind (CR, LF, VT, FF, NEL, Unicode line/paragraph separators) and tabs:
# in a one-line field they become a space, so nothing typed can start a new email header line.
_LINE_BREAKS = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]+")
# Other C0/C1 control characters: dropped everywhere (NUL cannot be stored in PostgreSQL).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")


def one_line(value):
    """Form filter for one-line text: line breaks and tabs become a space, other control
    characters go, and the ends are trimmed."""
    if not isinstance(value, str):
        return value
    return _LINE_BREAKS.sub(" ", _CONTROL.sub("", value)).strip()


def multi_line(value):
    """Form filter for text areas: keeps line breaks (as LF) and tabs, drops other control
    characters, trims the ends."""
    if not isinstance(value, str):
        return value
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).replace("\x0b", "").replace("\x0c", "").strip()


MAX_MONEY_CENTS = 10_000_000 * 100  # 10 million euros per field: far above any project here

_MONEY_GROUPED = re.compile(r"^\d{1,3}(\.\d{3})+(,\d{1,2})?$")  # 12.500 / 12.500,50
_MONEY_COMMA = re.compile(r"^\d+(,\d{1,2})?$")  # 12500 / 12500,5
_MONEY_POINT = re.compile(r"^\d+\.\d{1,2}$")  # 12500.50 (as typed by English speakers)
_MONEY_STRIP = re.compile(r"[\s\u00a0\u202f']|€|eur(o)?$", re.IGNORECASE)


def parse_money(raw: str) -> int:
    """German-typed euro amount → integer cents. Raises ValueError on anything else."""
    text = _MONEY_STRIP.sub("", raw.strip())
    if text.endswith(",-") or text.endswith(",--"):
        text = text.rstrip("-").rstrip(",")
    if _MONEY_GROUPED.match(text):
        normal = text.replace(".", "").replace(",", ".")
    elif _MONEY_COMMA.match(text):
        normal = text.replace(",", ".")
    elif _MONEY_POINT.match(text):
        normal = text
    else:
        raise ValueError(raw)
    try:
        cents = Decimal(normal) * 100
    except InvalidOperation:
        raise ValueError(raw) from None
    return int(cents)


def format_money_input(cents: int) -> str:
    """Cents → the German form a person would type, for re-filling the form."""
    pattern = "#,##0.00" if cents % 100 else "#,##0"
    return format_decimal(Decimal(cents) / 100, format=pattern, locale="de_DE")


class MoneyField(Field):
    """A euro amount typed as text; ``data`` is integer cents (or None when empty)."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.raw = ""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return format_money_input(self.data) if self.data is not None else ""

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        raw = valuelist[0]
        if len(raw) > 30:
            raise ValueError(_l("Bitte geben Sie einen Betrag in Euro ein, z. B. 12.500,00."))
        try:
            cents = parse_money(raw)
        except ValueError:
            raise ValueError(
                _l("Bitte geben Sie einen Betrag in Euro ein, z. B. 12.500,00.")
            ) from None
        if cents > MAX_MONEY_CENTS:
            raise ValueError(_l("Der Betrag ist zu hoch (höchstens 10.000.000 €)."))
        self.data = cents


class GermanDateField(Field):
    """A date typed as TT.MM.JJJJ (or sent as YYYY-MM-DD by a browser date input)."""

    widget = TextInput()
    formats = ("%d.%m.%Y", "%Y-%m-%d")

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return self.data.strftime("%d.%m.%Y") if self.data else ""

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        text = valuelist[0].strip()
        for fmt in self.formats:
            try:
                self.data = dt.datetime.strptime(text[:20], fmt).date()
                break
            except ValueError:
                continue
        if self.data is None or not dt.date(2000, 1, 1) <= self.data <= dt.date(2100, 1, 1):
            self.data = None
            raise ValueError(_l("Bitte geben Sie ein gültiges Datum im Format TT.MM.JJJJ ein."))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        # A tampered value gets a message, not an exception.
        values = {choice.value for choice in self.choices}  # after ``coerce``, like the data
        if any(d not in values for d in self.data or []):
            raise ValidationError(_l("Bitte wählen Sie nur aus den angebotenen Möglichkeiten."))


def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


class Present:
    """Required, for fields that parse their input (money, dates): blank or whitespace-only
    input parses to nothing and counts as missing; a parse error is reported on its own."""

    field_flags: ClassVar[dict[str, bool]] = {"required": True}

    def __init__(self, message):
        self.message = message

    def __call__(self, form, field):
        if field.data is None and not field.errors:
            raise StopValidation(self.message)
