"""The public face (issue 8): footer with legal links and the funders' notice from the
round's data, the Leichte Sprache page, form and login details, review page order, raw codes
on staff pages, and transition pages that say up front why a step is not possible."""

from __future__ import annotations

import re
import tomllib
from urllib.parse import urlsplit

import pytest

from app.cases import actionlinks, workflow
from app.extensions import db
from app.programmes import PROGRAMME_DIR, ProgrammeError, parse_round
from tests.factories import add_review, create_application, post_application, valid_form_data
from tests.fixtures.auth import PASSWORD, csrf_token, login
from tests.fixtures.workspace import add_check


def _html(response) -> str:
    return response.get_data(as_text=True)


def _raw_2025() -> dict:
    return tomllib.loads((PROGRAMME_DIR / "non-2025.toml").read_text(encoding="utf-8"))


# --- footer and funders' notice -------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/antrag", "/login", "/leichte-sprache", "/gibt-es-nicht"])
def test_every_page_has_the_footer_with_legal_links_and_the_funders_notice(client, path):
    html = _html(client.get(path))
    footer = html[html.index('<footer class="site-footer">') :]
    for target in ("/impressum", "/datenschutz", "/barrierefreiheit", "/leichte-sprache"):
        assert f'href="{target}"' in footer
    assert "Kontakt" in footer and "mailto:" in footer
    # the notice is the round's data, not a text of the template
    funders = _raw_2025()["funders"]
    assert funders["notice_de"] in footer
    for name in funders["names_de"]:
        assert name in footer


def test_the_funders_notice_follows_the_language_and_the_configured_round(app, client):
    token = csrf_token(client, "/")
    client.post("/sprache", data={"csrf_token": token, "lang": "en", "next": "/"})
    assert _raw_2025()["funders"]["notice_en"] in _html(client.get("/"))
    app.config["PROGRAMME"] = "NON-2022"  # the seed round names no funders
    assert 'class="funders"' not in _html(client.get("/"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"notice_en": ""}, "funders.notice_en"),
        ({"names_en": ["Only one"]}, "differ in length"),
        ({"logo": "esf.png"}, "unknown key"),
    ],
)
def test_round_data_with_a_broken_funders_table_is_refused(change, message):
    raw = _raw_2025()
    raw["funders"].update(change)
    with pytest.raises(ProgrammeError, match=message):
        parse_round(raw, "test.toml")


# --- Leichte Sprache --------------------------------------------------------------------


def test_landing_page_links_to_the_leichte_sprache_page(client):
    assert 'href="/leichte-sprache"' in _html(client.get("/"))
    page = client.get("/leichte-sprache")
    html = _html(page)
    assert page.status_code == 200
    assert "Leichter Sprache" in html
    assert "höchstens 70 Euro" in html  # the round's rate, from its data
    assert "Lüchow-Dannenberg" in html
    assert 'href="/antrag"' in html


# --- the application form --------------------------------------------------------------


def test_an_empty_form_lists_field_errors_not_the_anti_bot_message(app, client):
    app.config["FORM_MIN_FILL_SECONDS"] = 3600  # sent "too fast"
    response = post_application(client, {})
    html = _html(response)
    summary = html[
        html.index('id="error-summary"') : html.index("</ul>", html.index("error-summary"))
    ]
    assert response.status_code == 422
    assert "sehr schnell" not in summary
    assert 'href="#org_name"' in summary
    # a correct form sent too fast still hears it
    response = post_application(client, valid_form_data())
    assert response.status_code == 422
    assert "sehr schnell" in _html(response)


def test_error_summary_has_no_double_punctuation(client):
    html = _html(post_application(client, {}))
    assert "?:" not in html and ".:" not in html
    assert "berechtigt? Bitte beantworten Sie diese Frage." in html


def test_choice_groups_say_required_once_not_on_every_option(client):
    html = _html(client.get("/antrag"))
    districts = re.findall(r'<input[^>]*name="districts"[^>]*>', html)
    legal_forms = re.findall(r'<input[^>]*name="legal_form"[^>]*>', html)
    assert districts and legal_forms
    assert not [tag for tag in districts + legal_forms if "required" in tag]


def test_file_picker_text_is_in_the_page_language(client):
    html = _html(client.get("/antrag"))
    assert 'data-button-text="PDF-Datei auswählen"' in html
    assert "/static/js/file-picker.js" in html


def test_failed_submit_takes_the_reader_to_the_error_summary(client):
    html = _html(post_application(client, {}))
    summary_tag = re.search(r'<div class="error-summary"[^>]*>', html).group(0)
    assert "autofocus" in summary_tag and 'tabindex="-1"' in summary_tag


# --- login ------------------------------------------------------------------------------


def test_a_wrong_login_says_so_once(client, staff_user):
    html = _html(login(client, staff_user.email, "falsch-falsch-falsch"))
    assert html.count("E-Mail-Adresse oder Passwort ist falsch") == 1
    assert 'type="password"' in html


# --- staff and review pages ---------------------------------------------------------------


def test_case_page_shows_rule_names_not_codes(staff_user, client_for):
    application, _ = create_application()
    add_check(application, {"region": "pass", "co_financing": "remark"})
    workflow.apply_transition(application, "reject", user=staff_user, reason="Zu spät")
    db.session.commit()
    html = _html(client_for(staff_user).get(f"/staff/cases/{application.id}"))
    assert "Förderregion" in html and "Kofinanzierung" in html
    assert ">region<" not in html and ">co_financing<" not in html
    assert " : " not in html  # "Statuswechsel: Eingegangen → Abgelehnt", no stray space
    assert "Statuswechsel</strong>: Eingegangen → Abgelehnt" in html


def test_review_page_shows_the_application_before_the_form(reviewer_user, client_for):
    application, _ = create_application()
    reviewer = client_for(reviewer_user)
    html = _html(reviewer.get(f"/review/cases/{application.id}"))
    assert html.index('id="angaben"') < html.index('class="review-form"')
    assert "(optional) (optional)" not in html
    # an empty review: an error summary linking to each missing answer
    token = csrf_token(reviewer, f"/review/cases/{application.id}")
    response = reviewer.post(f"/review/cases/{application.id}", data={"csrf_token": token})
    html = _html(response)
    assert response.status_code == 422
    assert 'id="error-summary"' in html
    assert 'href="#recommendation"' in html and 'href="#score_regional"' in html
    assert html.index('id="error-summary"') < html.index('id="angaben"')


# --- transitions say up front why not ----------------------------------------------------


def test_blocked_reason_runs_the_preconditions_without_applying(app, staff_user, reviewer_user):
    application, _ = create_application()
    db.session.commit()
    reason = workflow.blocked_reason(application, "mark_reviewed")
    assert reason is not None and "Gutachten" in str(reason.message)
    assert application.state == "submitted"
    add_review(application, reviewer_user)
    db.session.commit()
    assert workflow.blocked_reason(application, "mark_reviewed") is None
    assert "Status" in str(workflow.blocked_reason(application, "fund").message)


def test_transition_page_without_a_review_offers_no_button(staff_user, client_for):
    application, _ = create_application()
    staff = client_for(staff_user)
    response = staff.get(f"/staff/cases/{application.id}/action/mark_reviewed")
    html = _html(response)
    assert response.status_code == 409
    assert "Zuerst muss mindestens ein Gutachten vorliegen." in html
    assert "bestätigen</button>" not in html
    assert application.state == "submitted"


def test_action_link_page_without_a_review_offers_no_button(staff_user, client_for):
    application, _ = create_application()
    db.session.commit()
    path = urlsplit(actionlinks.action_url(application.id, "mark_reviewed", staff_user.id)).path
    response = client_for(staff_user).get(path)
    html = _html(response)
    assert response.status_code == 409
    assert "Zuerst muss mindestens ein Gutachten vorliegen." in html
    assert "<button" not in html[html.index("<main") : html.index("</main>")]


def test_staff_login_still_works_with_the_password_field(client, staff_user):
    assert login(client, staff_user.email, PASSWORD).status_code == 302
