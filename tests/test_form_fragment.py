"""The blank application form page is rendered once per round, language and preselection,
and reused (docs/performance.md, target 1): what it shows must still follow each of them,
and what belongs to one visitor (the CSRF token, the signed start time) never reaches
another."""

from __future__ import annotations

import re

from flask import Flask

from app.extensions import db
from app.programmes import configured_round
from tests.factories import form_tokens, hidden_fields, valid_form_data


def _checked_language(html: str) -> str:
    match = re.search(r'<input[^>]*name="language"[^>]*value="(\w+)"[^>]*checked', html)
    if match is None:
        match = re.search(r'<input[^>]*checked[^>]*name="language"[^>]*value="(\w+)"', html)
    assert match, "no email language preselected"
    return match.group(1)


def test_blank_form_follows_language_round_data_and_keeps_tokens_per_request(client):
    first = client.get("/antrag").get_data(as_text=True)
    second = client.get("/antrag").get_data(as_text=True)
    assert _checked_language(first) == "de"
    assert "Antragsteller" in first
    # the tokens are per request, outside the reused fragment
    assert dict(hidden_fields(first))["started"] != "" and "csrf_token" in dict(
        hidden_fields(second)
    )

    client.post("/sprache", data={"lang": "en", **form_tokens(client)})
    english = client.get("/antrag").get_data(as_text=True)
    assert "Applicant" in english and "Antragsteller" not in english
    assert _checked_language(english) == "en"  # emails in the page's language by default

    # A changed round (its data file was reloaded) shows at once.
    rnd = configured_round()
    data = dict(rnd.data)
    data["rules_note_en"] = "A brand-new note on the rules."
    rnd.data = data
    db.session.commit()
    assert "A brand-new note on the rules." in client.get("/antrag").get_data(as_text=True)


def _csrf_tokens(html: str) -> set[str]:
    return set(re.findall(r'name="csrf_token" type="hidden" value="([^"]+)"', html)) | set(
        re.findall(r'name="csrf_token" value="([^"]+)"', html)
    )


def test_each_visitor_gets_own_tokens_from_the_shared_page(app: Flask):
    first, second = app.test_client(), app.test_client()
    pages = [c.get("/antrag").get_data(as_text=True) for c in (first, second, first)]
    tokens = [_csrf_tokens(page) for page in pages]
    # the language switch and the form carry the visitor's token, nobody else's
    assert len(tokens[0]) == 1 and len(tokens[1]) == 1 and tokens[0] != tokens[1]
    started = [dict(hidden_fields(page))["started"] for page in pages]
    assert len(set(started)) == 3  # a start token submits once: never shared, never repeated
    assert all("csrf-" not in t and "started-" not in t for t in started)

    # both visitors' tokens work: each can post the form on to its check page
    for client in (first, second):
        response = client.post(
            "/antrag",
            data={**form_tokens(client), **valid_form_data(), "action": "check"},
            content_type="multipart/form-data",
        )
        assert response.status_code == 200, response.status_code
        assert "Bitte prüfen Sie Ihre Angaben" in response.get_data(as_text=True)


def test_visitors_with_their_own_page_skip_the_shared_one(client, staff_user, client_for):
    """A logged-in visitor (the header shows their links) and a query string (the language
    switch returns to it) get the page rendered for them."""
    assert "Abmelden" not in client.get("/antrag").get_data(as_text=True)  # shared page cached
    staff = client_for(staff_user)
    assert "Abmelden" in staff.get("/antrag").get_data(as_text=True)
    page = client.get("/antrag?von=newsletter").get_data(as_text=True)
    assert 'name="next" value="/antrag?von=newsletter"' in page
