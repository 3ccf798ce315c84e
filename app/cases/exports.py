"""The filtered case list as CSV (German Excel) and XLSX, with German column names.

CSV: UTF-8 with BOM and ``;`` as separator, amounts with a decimal comma, dates as
``TT.MM.JJJJ`` – what German Excel opens without an import dialog. XLSX: amounts as numbers
in euros with a currency format, dates as dates. Text cells that a spreadsheet would take for
a formula (``= + - @``, tab, CR) get a leading apostrophe (CSV/formula injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_decimal
from sqlalchemy.orm import selectinload

from app import clock
from app.cases.checks import override_summary
from app.labels import (
    FIELD_LABELS,
    LANGUAGE_LABELS,
    LEGAL_FORM_LABELS,
    OUTCOME_LABELS,
    STATE_LABELS,
    YES_NO_LABELS,
)
from app.models import Application, EligibilityCheck

# What the export reads beyond the list query: every check run with its results (for the
# overrides of the latest run), loaded in two queries for all rows.
LOAD_OPTIONS = (selectinload(Application.checks).selectinload(EligibilityCheck.results),)


def _latest_check(application: Application) -> EligibilityCheck | None:
    return application.checks[-1] if application.checks else None


def _yes_no(value: bool | None) -> str:
    if value is None:
        return ""
    return str(YES_NO_LABELS[bool(value)])


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MONEY_FORMAT = '#,##0.00 "€"'
DATE_FORMAT = "DD.MM.YYYY"

# (column label key, kind, value getter); kind: text | money | date
COLUMNS = (
    ("reference", "text", lambda a: a.reference),
    ("submitted_at", "date", lambda a: a.submitted_at.astimezone(clock.BERLIN).date()),
    ("state", "text", lambda a: str(STATE_LABELS.get(a.state, a.state))),
    (
        "eligibility_outcome",
        "text",
        lambda a: (
            str(OUTCOME_LABELS.get(a.eligibility_outcome, "")) if a.eligibility_outcome else ""
        ),
    ),
    ("round", "text", lambda a: a.round.code),
    ("org_name", "text", lambda a: a.org_name),
    ("legal_form", "text", lambda a: str(LEGAL_FORM_LABELS.get(a.legal_form, a.legal_form))),
    ("signatory_name", "text", lambda a: a.signatory_name or ""),
    ("signatory_function", "text", lambda a: a.signatory_function or ""),
    ("register_court", "text", lambda a: a.register_court or ""),
    ("register_number", "text", lambda a: a.register_number or ""),
    ("site_in_lower_saxony", "text", lambda a: _yes_no(a.site_in_lower_saxony)),
    ("contact_name", "text", lambda a: a.contact_name),
    ("contact_email", "text", lambda a: a.contact_email),
    ("title", "text", lambda a: a.title),
    ("project_type", "text", lambda a: a.project_type or ""),
    ("districts", "text", lambda a: ", ".join(a.districts)),
    ("priorities", "text", lambda a: ", ".join(a.priorities)),
    ("start_date", "date", lambda a: a.start_date),
    ("end_date", "date", lambda a: a.end_date),
    ("personnel_costs", "money", lambda a: a.personnel_costs),
    ("other_costs", "money", lambda a: a.other_costs),
    ("total_costs", "money", lambda a: a.total_costs),
    ("own_funds", "money", lambda a: a.own_funds),
    ("third_party_funds", "money", lambda a: a.third_party_funds),
    ("requested_grant", "money", lambda a: a.requested_grant),
    ("granted_amount", "money", lambda a: a.granted_amount),
    ("de_minimis_undertaking", "text", lambda a: _yes_no(a.de_minimis_undertaking)),
    ("de_minimis_received", "money", lambda a: a.de_minimis_received),
    ("overrides", "text", lambda a: override_summary(_latest_check(a))),
    ("language", "text", lambda a: str(LANGUAGE_LABELS.get(a.language, a.language))),
)


def headers() -> list[str]:
    return [str(FIELD_LABELS[key]) for key, _kind, _get in COLUMNS]


def safe_text(value: str | None) -> str:
    """Neutralise text a spreadsheet would evaluate as a formula."""
    text = value or ""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def euros(cents: int) -> Decimal:
    return Decimal(cents) / 100


def _csv_value(kind: str, value) -> str:
    if value is None or value == "":
        return ""
    # German spreadsheet conventions whatever the reader's locale: 1234,50 and 31.12.2026
    if kind == "money":
        return format_decimal(euros(value), format="0.00", locale="de_DE")
    if kind == "date":
        return format_date(value, "dd.MM.yyyy", locale="de_DE")
    return safe_text(value)


def to_csv(applications: Iterable[Application]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(headers())
    for application in applications:
        writer.writerow([_csv_value(kind, get(application)) for _key, kind, get in COLUMNS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(applications: Iterable[Application], sheet_title: str = "Anträge") -> bytes:
    # Imported here on purpose (not a cycle): openpyxl weighs ~8 MiB in every web and worker
    # process, and only this staff export needs it (docs/performance.md, target 4).
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)
    bold = Font(bold=True)
    header_cells = []
    for label in headers():
        cell = WriteOnlyCell(sheet, value=label)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for application in applications:
        row = []
        for _key, kind, get in COLUMNS:
            value = get(application)
            if value is None:
                row.append(None)
                continue
            if kind == "money":
                cell = WriteOnlyCell(sheet, value=euros(value))
                cell.number_format = MONEY_FORMAT
            elif kind == "date":
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = DATE_FORMAT
            else:
                # openpyxl would store a string starting with "=" as a formula
                cell = WriteOnlyCell(sheet, value=safe_text(value))
                cell.data_type = "s"
            row.append(cell)
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def filename(extension: str) -> str:
    return f"antraege-{clock.now().astimezone(clock.BERLIN):%Y-%m-%d-%H%M}.{extension}"
