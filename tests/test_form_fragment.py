"""The blank application form is rendered once per round, language and preselection, and
reused (docs/performance.md, target 1): what it shows must still follow each of them."""

from __future__ import annotations

import re

from app.extensions import db
from app.programmes import configured_round
from tests.factories import form_tokens, hidden_fields


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
