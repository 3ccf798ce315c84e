"""The public application form: validation, check page, bots, attachments, status links."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from flask.testing import EnvironBuilder
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app import clock
from app.extensions import db
from app.models import Application, ApplicationDistrict, Event, Notification, StoredFile, hash_token
from app.web.fields import parse_money
from tests.factories import (
    form_tokens,
    hidden_fields,
    pdf_bytes,
    post_application,
    submit_via_form,
    valid_form_data,
)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def error_for(html: str, field: str) -> str | None:
    match = re.search(rf'id="{field}-error">(.*?)</span>\s*(.*?)</span>', html, re.S)
    return match.group(2).strip() if match else None


# --- pages ------------------------------------------------------------------------------


def test_landing_shows_open_round(client):
    html = client.get("/").get_data(as_text=True)
    assert "Förderrunde 2025–2027" in html
    assert "2.340.000,00" in html
    assert "Lüchow-Dannenberg" in html
    assert "5.2" in html
    assert 'href="/antrag"' in html


def test_landing_says_plainly_when_no_round_is_open(app, client):
    app.config["PROGRAMME"] = "NON-2022"  # closed since 2024
    html = client.get("/").get_data(as_text=True)
    assert "Derzeit ist keine Förderrunde geöffnet" in html
    assert client.get("/antrag").status_code == 404


def test_form_is_accessible(client):
    html = client.get("/antrag").get_data(as_text=True)
    for legend in ("Antragsteller", "Projekt", "Kosten- und Finanzierungsplan", "Erklärungen"):
        assert f"<legend>{legend}</legend>" in html
    # every visible input has a label
    ids = re.findall(r'<(?:input|textarea)[^>]*\bid="([^"]+)"', html)
    hidden = {"csrf_token", "started", "attachment_ref", "website"}
    for ident in ids:
        if ident in hidden:
            continue
        assert f'for="{ident}"' in html, ident
    assert 'autocomplete="email"' in html
    assert 'autocomplete="organization"' in html
    assert "(Pflichtfeld)" in html
    # works without JavaScript: the only script is the file picker's enhancement, from a file
    # (CSP: no inline script); tests/test_browser.py fills the form with JavaScript off
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/js/file-picker.js" defer>']


# --- validation -------------------------------------------------------------------------


def test_valid_form_shows_check_page(client):
    response = post_application(client, valid_form_data())
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Angaben prüfen" in html
    assert "100.000,00" in html  # total costs computed, never typed
    assert count(Application) == 0


REQUIRED = [
    "org_name",
    "legal_form",
    "street",
    "postcode",
    "city",
    "contact_name",
    "contact_email",
    "vat_deductible",
    "title",
    "summary",
    "description",
    "target_groups",
    "project_type",
    "districts",
    "regional_reference",
    "strategy_contribution",
    "start_date",
    "end_date",
    "personnel_costs",
    "other_costs",
    "own_funds",
    "third_party_funds",
    "requested_grant",
    "decl_not_started",
    "decl_subsidy_facts",
    "decl_privacy",
    "decl_truthful",
]


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_required_field_gets_message_and_keeps_input(client, field):
    data = valid_form_data()
    data.pop(field)
    response = post_application(client, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Bitte korrigieren Sie folgende Angaben" in html
    assert f'href="#{field}"' in html  # listed at the top, linked to the field
    assert f'id="{field}-error"' in html
    assert "Bildungswerk Heide e. V." in html or field == "org_name"  # typed values kept
    assert count(Application) == 0


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("org_name", 200),
        ("title", 200),
        ("summary", 1500),
        ("city", 100),
        ("regional_reference", 5000),
        ("partners", 3000),
        ("contact_name", 200),
    ],
)
def test_too_long_text_is_refused(client, field, limit):
    response = post_application(client, valid_form_data(**{field: "x" * (limit + 1)}))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f"höchstens {limit} Zeichen" in html
    ok = post_application(client, valid_form_data(**{field: "x" * limit}))
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("contact_email", "kein-at-zeichen", "gültige E-Mail-Adresse"),
        ("postcode", "2133", "fünfstellige Postleitzahl"),
        ("postcode", "21a35", "fünfstellige Postleitzahl"),
        ("contact_phone", "call me!", "Telefonnummer"),
        ("legal_form", "limited", "Keine gültige Auswahl"),
        ("project_type", "raumfahrt", "Keine gültige Auswahl"),
        ("districts", ["03355", "99999"], "angebotenen Möglichkeiten"),
        ("priorities", ["9.9"], "angebotenen Möglichkeiten"),
        ("start_date", "31.02.2027", "TT.MM.JJJJ"),
        ("start_date", "morgen", "TT.MM.JJJJ"),
        ("personnel_costs", "zwölf", "Betrag in Euro"),
        ("personnel_costs", "-5", "Betrag in Euro"),
        ("personnel_costs", "1,2,3", "Betrag in Euro"),
        ("personnel_costs", "99.999.999,00", "zu hoch"),
        ("requested_grant", "0", "beantragten Zuschuss"),
        ("requested_grant", "200.000", "nicht höher sein als die Gesamtausgaben"),
    ],
)
def test_wrong_values_get_a_clear_message(client, field, value, message):
    response = post_application(client, valid_form_data(**{field: value}))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in html
    assert message in html
    assert count(Application) == 0


@pytest.mark.parametrize(
    "field", ["personnel_costs", "other_costs", "requested_grant", "start_date", "end_date"]
)
def test_whitespace_only_counts_as_missing(client, field):
    """Found by the fuzz test: "   " passed a required check but parsed to nothing."""
    response = post_application(client, valid_form_data(**{field: "   "}), "submit")
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert count(Application) == 0


def test_dates_in_wrong_order(client):
    response = post_application(
        client, valid_form_data(start_date="01.06.2027", end_date="31.05.2027")
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Das Projektende muss nach dem Projektbeginn liegen." in html
    assert 'value="31.05.2027"' in html  # typed value kept as typed


def test_browser_date_input_format_is_accepted(client):
    response = post_application(
        client, valid_form_data(start_date="2027-02-01", end_date="2027-12-31")
    )
    assert response.status_code == 200
    assert "01.02.2027" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("12.500,50", 1_250_050),
        ("12500", 1_250_000),
        ("12 500 €", 1_250_000),
        ("12\u00a0500,00 €", 1_250_000),
        ("12500,5", 1_250_050),
        ("1.250", 125_000),
        ("12500.50", 1_250_050),
        ("12.500,-", 1_250_000),
        ("0", 0),
        ("1.000.000 EUR", 100_000_000),
    ],
)
def test_money_as_germans_type_it(typed, cents):
    assert parse_money(typed) == cents


@pytest.mark.parametrize("typed", ["", "abc", "1.2.3", "12,345", "-1", "1e5", "12.50.00", "€"])
def test_money_garbage_is_refused(typed):
    with pytest.raises(ValueError):
        parse_money(typed)


# --- check page and submission ----------------------------------------------------------


def test_check_page_round_trip_edit_keeps_everything(client):
    data = valid_form_data(title="Titel mit Ümlaut", priorities=["1.2", "5.2"])
    check = post_application(client, data)
    hidden = hidden_fields(check.get_data(as_text=True))
    names = {name for name, _ in hidden}
    assert {"title", "priorities", "districts", "decl_truthful", "requested_grant"} <= names
    # back to edit: every value is in the form again
    edit = client.post("/antrag", data=MultiDict([*hidden, ("action", "edit")]))
    html = edit.get_data(as_text=True)
    assert edit.status_code == 200
    assert 'value="Titel mit Ümlaut"' in html
    assert 'value="70.000 €"' in html
    assert re.search(r'<input checked[^>]*value="5.2"|value="5.2"[^>]*checked', html)
    assert "Bitte korrigieren" not in html  # editing shows no errors
    assert count(Application) == 0


def test_submit_stores_application_and_shows_reference_once(client):
    response, reference, token = submit_via_form(client)
    assert response.status_code == 200
    assert re.fullmatch(r"NON-\d{4}-0001", reference)
    application = db.session.scalar(select(Application))
    assert application.reference == reference
    assert application.state == "submitted"
    assert application.total_costs == 10_000_000
    assert application.requested_grant == 7_000_000
    assert sorted(application.districts) == ["03355", "03358"]
    assert application.priorities == ["1.1", "2.1"]
    assert application.start_date.year >= 2026
    assert f"https://foerderung.example.org/status/{token}" in response.get_data(as_text=True)
    # shown once: the confirmation page does not show the link again
    again = client.get("/antrag/bestaetigung", follow_redirects=True)
    assert token not in again.get_data(as_text=True)
    events = db.session.scalars(select(Event)).all()
    assert [(e.from_state, e.to_state) for e in events] == [(None, "submitted")]


def test_status_token_only_stored_as_hash(client):
    _response, reference, token = submit_via_form(client)
    application = db.session.scalar(select(Application))
    assert len(token) >= 43  # 32 random bytes, base64
    assert application.status_token_hash == hash_token(token)
    row_text = " ".join(str(getattr(application, c.key)) for c in Application.__table__.columns)
    assert token not in row_text
    page = client.get(f"/status/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert reference in html and "Eingegangen" in html
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("bad", ["x", "A" * 43, "../../etc/passwd", "%00", "a" * 500])
def test_wrong_or_malformed_token_is_an_ordinary_404(client, bad):
    submit_via_form(client)
    response = client.get(f"/status/{bad}")
    missing = client.get("/gibt-es-nicht")
    assert response.status_code == 404

    def without_next(page):
        # The language switch carries the current path, and its CSRF token is signed with the
        # current second (the two requests may fall into different seconds).
        html = re.sub(r'name="next" value="[^"]*"', "", page.get_data(as_text=True))
        return re.sub(r'name="csrf_token" value="[^"]*"', "", html)

    assert without_next(response) == without_next(missing)


def test_reference_numbers_are_sequential_per_year(app, client):
    references = [submit_via_form(client, title=f"Projekt {i}")[1] for i in range(3)]
    year = references[0].split("-")[1]
    assert references == [f"NON-{year}-000{i}" for i in (1, 2, 3)]


def test_next_reference_starts_new_year_at_one(app):
    from app.cases.submission import next_reference

    assert next_reference(2031) == "NON-2031-0001"
    assert next_reference(2031) == "NON-2031-0002"
    assert next_reference(2032) == "NON-2032-0001"
    db.session.rollback()


# --- protection -------------------------------------------------------------------------


def test_csrf_is_required(client):
    tokens = form_tokens(client)
    data = {**valid_form_data(), "started": tokens["started"], "action": "submit"}
    response = client.post("/antrag", data=data)
    assert response.status_code == 400
    assert count(Application) == 0


def test_honeypot_rejects_bots(client):
    response = post_application(client, valid_form_data(website="http://spam.example"), "submit")
    assert response.status_code == 400
    assert count(Application) == 0


def test_too_fast_submission_is_refused_but_keeps_input(app, client):
    app.config["FORM_MIN_FILL_SECONDS"] = 60
    response = post_application(client, valid_form_data(), "submit")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "sehr schnell" in html
    assert "Bildungswerk Heide e. V." in html
    assert count(Application) == 0


def test_missing_start_stamp_is_refused(client):
    data = {**valid_form_data(), **form_tokens(client), "started": "forged", "action": "submit"}
    response = client.post("/antrag", data=data)
    assert response.status_code == 422
    assert count(Application) == 0


# --- attachments ------------------------------------------------------------------------

PDF = pdf_bytes()


def test_pdf_attachment_is_stored_under_server_made_name(app, client, tmp_path):
    data = valid_form_data()
    check = post_application(
        client, {**data, "attachment": (io.BytesIO(PDF), "Projekt ../../böse.pdf")}
    )
    assert check.status_code == 200
    hidden = hidden_fields(check.get_data(as_text=True))
    response = client.post("/antrag", data=MultiDict([*hidden, ("action", "submit")]))
    assert response.status_code == 303
    application = db.session.scalar(select(Application))
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", application.attachment_name)
    assert application.attachment_original_name == "böse.pdf"
    stored = db.session.get(StoredFile, application.attachment_name)
    assert stored.data == PDF and stored.size == len(PDF) and not stored.pending
    # the pending upload became the stored attachment: nothing is left pending
    assert db.session.scalars(select(StoredFile.name)).all() == [application.attachment_name]


def test_renamed_non_pdf_is_refused(client):
    fake = io.BytesIO(b"MZ\x90\x00 this is an exe renamed to pdf")
    response = post_application(client, {**valid_form_data(), "attachment": (fake, "plan.pdf")})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "keine PDF-Datei" in html
    assert "Bildungswerk Heide e. V." in html


# issue 7, point 4: checked by name, by the header at byte 0 and by a PDF parser


def _refusal(client, content: bytes, name: str):
    data = {**valid_form_data(), "attachment": (io.BytesIO(content), name)}
    response = post_application(client, data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Bildungswerk Heide e. V." in html  # the form keeps what was typed
    return error_for(html, "attachment")


def test_executable_with_pdf_header_at_byte_64_is_refused(app, client):
    polyglot = b"MZ" + b"\x90" * 62 + PDF
    assert "PDF-Datei" in _refusal(client, polyglot, "Antrag.pdf")
    assert count(Application) == 0
    assert count(StoredFile) == 0


def test_pdf_with_an_executable_name_is_refused(client):
    assert ".pdf" in _refusal(client, PDF, "Antrag.pdf.exe")


def test_file_that_only_starts_like_a_pdf_is_refused(client):
    assert "nicht lesen" in _refusal(client, b"%PDF-1.7\n" + b"A" * 2000, "Antrag.pdf")


def test_encrypted_pdf_is_refused(client):
    assert "verschlüsselt" in _refusal(client, pdf_bytes(password="geheim"), "Antrag.pdf")


def test_pdf_name_is_accepted_in_any_case(client):
    data = {**valid_form_data(), "attachment": (io.BytesIO(PDF), "ANTRAG.PDF")}
    assert post_application(client, data).status_code == 200


def test_eleven_megabyte_pdf_is_refused_with_a_message(app, client):
    big = io.BytesIO(PDF + b"0" * (11 * 1024 * 1024))
    data = {**form_tokens(client), **valid_form_data(), "action": "check"}
    data["attachment"] = (big, "gross.pdf")
    # Built by hand so the spooled request body can be closed (the test client leaves
    # a body this large open in a temporary file).
    builder = EnvironBuilder(app, "/antrag", method="POST", data=data)
    environ = builder.get_environ()
    try:
        response = client.open(environ)
        html = response.get_data(as_text=True)
    finally:
        environ["wsgi.input"].close()
        builder.close()
    assert response.status_code == 422
    assert "zu groß" in html and "10 MB" in html
    assert "Bildungswerk Heide e. V." in html
    assert count(Application) == 0


def test_forged_attachment_reference_is_ignored(client):
    data = {**valid_form_data(), "attachment_ref": "../../../etc/passwd"}
    response = post_application(client, data, "submit")
    assert response.status_code == 303
    assert db.session.scalar(select(Application)).attachment_name is None


# --- escaping and languages -------------------------------------------------------------


def test_line_breaks_and_control_characters_leave_one_line_fields(client):
    # issue 7, point 6: a CR/LF in the organisation's name would reach email headers
    data = valid_form_data(
        org_name="Evil e. V.\r\nBcc: victim@example.org",
        city="Lüne\u2028burg\x85",
        title="Titel\tmit\x1bSteuerzeichen",
        summary="Zeile 1\r\nZeile 2",
    )
    assert post_application(client, data, "submit").status_code == 303
    application = db.session.scalar(select(Application))
    assert application.org_name == "Evil e. V. Bcc: victim@example.org"
    assert application.city == "Lüne burg"
    assert application.title == "Titel mitSteuerzeichen"
    assert application.summary == "Zeile 1\nZeile 2"  # a text area keeps its lines


def test_script_and_quotes_are_stored_as_typed_and_shown_escaped(client):
    nasty = '<script>alert("x")</script> & "Anführung" \'single\''
    response, _reference, token = submit_via_form(client, title=nasty[:200], summary=nasty)
    application = db.session.scalar(select(Application))
    assert application.title == nasty
    assert application.summary == nasty
    for html in (response.get_data(as_text=True), client.get(f"/status/{token}").get_data(True)):
        assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in client.get(
        f"/status/{token}"
    ).get_data(as_text=True)


def test_english_rendering_and_language_switch(client):
    tokens = form_tokens(client)
    response = client.post(
        "/sprache",
        data={"lang": "en", "next": "/antrag", "csrf_token": tokens["csrf_token"]},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/antrag"
    html = client.get("/antrag").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Applicant" in html
    assert "Cost and financing plan" in html
    assert ">Deutsch<" in html
    landing = client.get("/").get_data(as_text=True)
    assert "Funding round 2025–2027" in landing


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "/\\evil.example", "https://evil.example/", "javascript:x"]
)
def test_language_switch_refuses_foreign_redirect(client, target):
    tokens = form_tokens(client)
    response = client.post(
        "/sprache", data={"lang": "en", "next": target, "csrf_token": tokens["csrf_token"]}
    )
    assert response.headers["Location"] == "/"


def test_german_is_the_default(client):
    html = client.get("/antrag", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="de">' in html
    assert "Antragsteller" in html


def test_language_field_records_email_language(client):
    submit_via_form(client, language="en")
    assert db.session.scalar(select(Application)).language == "en"


def test_no_half_stored_rows_when_commit_fails(app, client, monkeypatch):
    """A failure inside the submit transaction leaves no application, event or district."""
    from app.mail import compose

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(compose, "record_all", boom)
    with pytest.raises(RuntimeError):
        submit_via_form(client)
    assert count(Application) == 0
    assert count(Event) == 0
    assert count(ApplicationDistrict) == 0


def test_control_characters_are_dropped_not_stored(client):
    submit_via_form(client, title="Projekt\x00 mit\x07 Steuerzeichen", city="Lüne\x00burg")
    application = db.session.scalar(select(Application))
    assert application.title == "Projekt mit Steuerzeichen"
    assert application.city == "Lüneburg"


def test_abandoned_pending_uploads_are_pruned(app, client, runner):
    post_application(client, {**valid_form_data(), "attachment": (io.BytesIO(PDF), "a.pdf")})
    (fresh,) = db.session.scalars(select(StoredFile.name)).all()
    old = clock.now() - dt.timedelta(seconds=app.config["FORM_MAX_AGE_SECONDS"] + 60)
    db.session.add(StoredFile(name="0" * 32 + ".pdf", size=len(PDF), data=PDF, created_at=old))
    db.session.commit()
    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "1 abandoned upload(s) deleted" in result.output
    db.session.expire_all()
    assert db.session.scalars(select(StoredFile.name)).all() == [fresh]


# --- withdrawal from the status page ----------------------------------------------------


def test_applicant_withdraws_after_confirmation(client):
    from app.models import StaffNotice

    _response, _reference, token = submit_via_form(client)
    page = client.get(f"/status/{token}")
    assert f"/status/{token}/zurueckziehen" in page.get_data(as_text=True)
    confirm = client.get(f"/status/{token}/zurueckziehen")  # GET only asks
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "wirklich zurückziehen" in html
    assert db.session.scalar(select(Application)).state == "submitted"
    csrf = dict(hidden_fields(html))["csrf_token"]
    done = client.post(f"/status/{token}/zurueckziehen", data={"csrf_token": csrf})
    assert done.status_code == 303
    application = db.session.scalar(select(Application))
    assert application.state == "withdrawn"
    event = db.session.scalars(select(Event).order_by(Event.id.desc())).first()
    assert (event.from_state, event.to_state, event.actor_label) == (
        "submitted",
        "withdrawn",
        "applicant",
    )
    # the staff hear of it through their inbox (app.cases.notices): one notice, sent by a job
    notices = db.session.scalars(select(StaffNotice).filter_by(kind="withdrawn")).all()
    assert [n.recipient for n in notices] == ["staff@example.org"]
    # the applicant gets a confirmation, in the language of the application
    confirmation = db.session.scalars(
        select(Notification).filter_by(kind="withdrawal_confirmed")
    ).all()
    assert [n.recipient for n in confirmation] == [application.contact_email]
    assert application.reference in confirmation[0].subject
    assert "zurückgezogen" in confirmation[0].body_text
    status = client.get(f"/status/{token}").get_data(as_text=True)
    assert "Zurückgezogen" in status and "/zurueckziehen" not in status
    # a second attempt changes nothing and says why
    again = client.post(
        f"/status/{token}/zurueckziehen", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "kann nicht mehr zurückgezogen werden" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Event)) == 2


def test_withdrawal_needs_csrf_and_a_valid_token(client):
    _response, _reference, token = submit_via_form(client)
    assert client.post(f"/status/{token}/zurueckziehen").status_code == 400
    assert client.get("/status/falsch/zurueckziehen").status_code == 404
    assert client.post("/status/falsch/zurueckziehen").status_code in (400, 404)
    assert db.session.scalar(select(Application)).state == "submitted"


def test_oversized_request_gets_a_friendly_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024  # small, so the body stays in memory
    data = {**valid_form_data(), "attachment": (io.BytesIO(PDF + b"0" * 8192), "a.pdf")}
    response = post_application(client, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "10 MB" in html and '<html lang="de">' in html
    assert count(Application) == 0


def test_every_legal_form_has_a_label():
    from app.labels import LEGAL_FORM_LABELS
    from app.models import LEGAL_FORMS

    assert tuple(LEGAL_FORM_LABELS) == LEGAL_FORMS
