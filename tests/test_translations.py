"""The English catalog: complete, compiled, placeholder-safe, and really used by the pages.

Every user-visible text is a German msgid; these tests re-extract the msgids from the
sources exactly as ``make translations`` does, so a new German text without an English
translation fails the suite with the list of what is missing.
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from sqlalchemy import select

from app.extensions import db
from app.models import Notification
from tests.factories import create_application, form_tokens, post_application, valid_form_data

ROOT = Path(__file__).resolve().parent.parent
PO_PATH = ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po"
MO_PATH = PO_PATH.with_suffix(".mo")

# printf-style placeholders as Python's % operator reads them: %(name)s, %d, %%.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")

# Texts that are the same in both languages (names, abbreviations, loan words).
SAME_IN_BOTH = {
    "Budget",
    "CSV (Excel)",
    "Organisation",
    "Region",
    "Status",
    "Status:",
    "System",
    "Team",
    "XLSX",
    "optional",
    "%(action)s: %(reference)s",
    "Budget: %(round)s",
}

# Whole German words that must not appear on an English page (outside what the user typed).
GERMAN_STOP_WORDS = (
    "Bitte",
    "bitte",
    "Antrag",
    "Anträge",
    "Anträgen",
    "Pflichtfeld",
    "Förderung",
    "Förderrunde",
    "Geschäftsstelle",
    "Angaben",
    "Sie",
    "Ihr",
    "Ihre",
    "Ihren",
    "und",
    "oder",
    "nicht",
    "wird",
    "werden",
    "Zuschuss",
    "Eigenmittel",
    "Drittmittel",
    "Landkreise",
    "Datum",
    "Seite",
    "Fehler",
    "Zurück",
    "zurück",
    "Weiter",
    "Aktenzeichen",
    "Anmelden",
    "Gutachten",
)
GERMAN_TEXT = re.compile(r"(?<![\w-])(" + "|".join(GERMAN_STOP_WORDS) + r")(?![\w-])")

# What the English test applicant types; it is theirs and not checked for German.
ENGLISH_APPLICANT = {
    "title": "Care workers for the Heath",
    "summary": "We train career changers for care work.",
    "description": "Starting point, objectives, activities and timetable of the project.",
    "target_groups": "Career changers, 40 people",
    "regional_reference": (
        "The project takes place in the Heidekreis and in the Lüneburg district, where care "
        "homes have had vacancies for more than a year. We work with local employers."
    ),
    "strategy_contribution": "The project implements objective 2.1 of the regional strategy.",
}


def _makefile_keywords() -> list[str]:
    """The extra ``-k`` keywords of the Makefile's extract call, so both extract the same."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile[makefile.index("\ntranslations:") :]
    keywords = re.findall(r"-k\s+(\S+)", recipe.split("\n\n")[0])
    assert keywords, "the Makefile's translations target no longer passes -k keywords"
    return keywords


def _keyword_spec(spec: str) -> tuple[str, tuple[int, ...] | None]:
    name, _, positions = spec.partition(":")
    return name, tuple(int(p) for p in positions.split(",")) if positions else None


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    """The msgids currently in the sources, extracted as ``make translations`` does."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = dict(DEFAULT_KEYWORDS)
    keywords.update(_keyword_spec(spec) for spec in _makefile_keywords())
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


@pytest.fixture(scope="module")
def english() -> Catalog:
    with PO_PATH.open("rb") as fh:
        return read_po(fh, locale="en")


def _strings(message) -> tuple[str, ...]:
    return tuple(message.string) if isinstance(message.string, (tuple, list)) else (message.string,)


def _ids(message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (tuple, list)) else (message.id,)


def _where(message) -> str:
    return ", ".join(f"{path}:{line}" for path, line in message.locations[:2])


# --- the catalog --------------------------------------------------------------------------


def test_extraction_finds_the_sources(extracted):
    files = {path for message in extracted for path, _line in message.locations}
    assert any(path.startswith("app/") for path in files)
    assert any(path.startswith("workers/") or path.startswith("app/") for path in files)
    assert any(path.startswith("templates/email/") and path.endswith(".txt") for path in files)
    assert any(path.startswith("templates/") and path.endswith(".html") for path in files)
    assert not any(path.startswith((".venv/", "tests/")) for path in files)
    assert len(extracted) > 300


def test_every_msgid_has_an_english_translation(extracted, english):
    missing = []
    for message in extracted:
        if not message.id:
            continue
        translated = english.get(message.id, context=message.context)
        if (
            translated is None
            or translated.fuzzy
            or not all(s.strip() for s in _strings(translated))
        ):
            missing.append(f"{_ids(message)[0]!r}  ({_where(message)})")
    assert not missing, (
        f"{len(missing)} German text(s) without English translation - run `make translations` "
        "and translate them in translations/en/LC_MESSAGES/messages.po:\n" + "\n".join(missing)
    )


def test_catalog_has_no_fuzzy_or_stale_entries(extracted, english):
    assert not english.fuzzy, "the catalog header is marked fuzzy"
    fuzzy = [m.id for m in english if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    stale = [m.id for m in english if m.id and extracted.get(m.id, context=m.context) is None]
    assert not stale, f"entries no longer in the sources (run `make translations`): {stale}"


def test_placeholders_match(english):
    wrong = []
    for message in english:
        if not message.id:
            continue
        ids, strings = _ids(message), _strings(message)
        for index, string in enumerate(strings):
            source = ids[min(index, len(ids) - 1)]
            if sorted(PLACEHOLDER.findall(source)) != sorted(PLACEHOLDER.findall(string)):
                wrong.append(f"{source!r} -> {string!r}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)
    # Babel's own checks (python-format flags, plural forms) agree.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in english.check()]
    assert not problems, problems


def test_translations_are_not_left_in_german(english):
    copied = [
        m.id
        for m in english
        if m.id and isinstance(m.id, str) and m.string == m.id and m.id not in SAME_IN_BOTH
    ]
    assert not copied, f"msgstr identical to the German msgid: {copied}"
    # The agreed terms.
    for german, expected in {
        "Antragsteller": "Applicant",
        "Kosten- und Finanzierungsplan": "Cost and financing plan",
        "Aktenzeichen": "Reference number",
        "Förderrunde": "Funding round",
        "Eigenmittel": "Own funds",
        "Drittmittel": "Third-party funds",
        "Personalausgaben": "Personnel costs",
        "Landkreis": "District",
        "Handlungsschwerpunkt": "Priority area",
        "Enthaltung": "abstention",
        "befürworten": "recommend approval",
    }.items():
        assert english[german].string == expected


def test_compiled_catalog_matches_the_po(english):
    assert MO_PATH.exists(), f"{MO_PATH} is missing - run `make install` (pybabel compile)"
    with MO_PATH.open("rb") as fh:
        compiled = read_mo(fh)

    def entries(catalog: Catalog) -> dict:
        # read_mo gives plural ids and strings as lists, read_po as tuples
        return {
            (tuple(_ids(m)), m.context): tuple(_strings(m)) for m in catalog if m.id and not m.fuzzy
        }

    assert entries(compiled) == entries(english), (
        "translations/en/LC_MESSAGES/messages.mo is out of date - run `make install`"
    )


# --- the pages in English -------------------------------------------------------------------


def visible_text(page: str) -> str:
    """Text a reader sees or hears: tag content plus label-like attributes."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    attributes = re.findall(r'\b(?:aria-label|title|placeholder|alt)="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", " ", page)
    return html_lib.unescape(" ".join([text, *attributes]))


def german_words(text: str, *typed: str) -> list[str]:
    for value in typed:
        text = text.replace(value, " ")
    return sorted(set(GERMAN_TEXT.findall(text)))


def switch_to_english(client) -> None:
    response = client.post(
        "/sprache",
        data={"lang": "en", "next": "/", "csrf_token": form_tokens(client)["csrf_token"]},
    )
    assert response.status_code == 302


def test_landing_and_form_in_english(client):
    switch_to_english(client)
    landing = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in landing
    assert "Apply now" in landing
    assert german_words(visible_text(landing)) == []
    form = client.get("/antrag").get_data(as_text=True)
    assert "Applicant" in form and "Cost and financing plan" in form
    assert german_words(visible_text(form)) == []


def test_validation_messages_in_english(client):
    switch_to_english(client)
    data = valid_form_data(
        org_name="",
        postcode="123",
        contact_email="not-an-address",
        personnel_costs="lots",
        requested_grant="",
        districts=[],
        decl_privacy=None,
    )
    page = post_application(client, data).get_data(as_text=True)
    assert "Please correct the following details:" in page
    assert "Please enter a five-digit postcode." in page
    assert "Please select at least one district." in page
    typed = [str(v) for v in data.values() if isinstance(v, str)]
    assert german_words(visible_text(page), *typed) == []


def test_check_page_and_confirmation_in_english(client):
    switch_to_english(client)
    data = valid_form_data(language="en", **ENGLISH_APPLICANT)
    check = post_application(client, data)
    assert check.status_code == 200
    page = check.get_data(as_text=True)
    assert "Check your details" in page and "Submit application" in page
    typed = [str(v) for v in data.values() if isinstance(v, str)]
    assert german_words(visible_text(page), *typed) == []


def test_error_pages_in_english(client):
    page = client.get("/gibt-es-nicht", headers={"Accept-Language": "en"})
    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert "Page not found" in text
    assert german_words(visible_text(text)) == []
    login = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Sign in" in login
    assert german_words(visible_text(login)) == []


def test_english_applicant_receipt_email(app):
    application, _token = create_application(language="en", **ENGLISH_APPLICANT)
    receipt = db.session.scalars(
        select(Notification).filter_by(application_id=application.id, kind="receipt")
    ).one()
    assert receipt.subject.startswith("Acknowledgement of receipt")
    typed = [application.org_name, application.title, application.contact_name]
    for body in (receipt.body_text, visible_text(receipt.body_html)):
        assert german_words(body, *typed) == [], body
