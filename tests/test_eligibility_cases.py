"""Eligibility on real cases: the duplicate rule's query, the stored check in both languages,
the pre-check on the check page, the applicant's status page, gated funding and re-runs."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import event, func, select

from app.cases import checks, workflow
from app.cases.checks import check_eligibility, latest_check, other_titles_same_org
from app.extensions import db
from app.models import (
    Application,
    EligibilityCheck,
    Event,
    FundingRound,
    Notification,
    OutboxItem,
)
from tests.factories import (
    create_application,
    create_reviewed_application,
    post_application,
    valid_form_data,
)
from tests.fixtures.workspace import csrf_from


@pytest.fixture
def staff(staff_user, client_for):
    return client_for(staff_user)


def _round(code: str) -> FundingRound:
    return db.session.scalar(select(FundingRound).filter_by(code=code))


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- the duplicate rule's query -----------------------------------------------------------


def test_duplicate_query_normalises_names_skips_withdrawn_and_sees_the_previous_round(app):
    title = "Fachkräfte für die Pflege im Heidekreis"
    earlier, _ = create_application(
        _round("NON-2022"), org_name="BILDUNGSWERK HEIDE eV", title=title + " (2023)"
    )
    withdrawn, _ = create_application(org_name="Bildungswerk Heide e.V.", title=title + " neu")
    workflow.apply_transition(withdrawn, "withdraw")
    db.session.commit()
    create_application(org_name="Bildungswerk Celle e. V.", title=title)  # another organisation
    this, _ = create_application(org_name="Bildungswerk Heide e. V.", title=title)

    assert other_titles_same_org(this) == (title + " (2023)",)
    assert earlier.round.code == "NON-2022"
    # a round two rounds back is not looked at: the previous round of 2022 is none
    assert checks.previous_round(_round("NON-2022")) is None
    assert checks.previous_round(_round("NON-2025")).code == "NON-2022"

    check_eligibility(this.id)
    result = next(r for r in latest_check(this).results if r.rule == "duplicate")
    assert result.outcome == "remark"
    assert title + " (2023)" in result.message_de


def test_the_organisation_key_follows_the_name_and_the_query_reads_it_by_index(app):
    application, _ = create_application(org_name="Bildungswerk Heide e. V.")
    assert application.org_key == "bildungswerk heide"
    application.org_name = "BILDUNGSWERK LÜNEBURG gGmbH"  # as an amendment sets it
    db.session.commit()
    stored = db.session.scalar(select(Application.org_key).filter_by(id=application.id))
    assert stored == "bildungswerk lüneburg"

    # The rule's own statement finds the organisation's applications through the index,
    # instead of reading the round's and comparing every name in Python.
    statements = []

    def record(_conn, _cursor, statement, parameters, *_):
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert other_titles_same_org(application) == ()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    statement, parameters = next((s, p) for s, p in statements if "org_key" in s)
    values = parameters.values() if isinstance(parameters, dict) else parameters
    assert "bildungswerk lüneburg" in list(values)
    conn = db.session.connection()
    if db.engine.dialect.name == "sqlite":
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    else:  # the test table is nearly empty: without seq scans the plan shows the index
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
    db.session.rollback()
    assert "ix_application_org_key_round" in " ".join(str(row) for row in plan), plan


# --- the stored check ---------------------------------------------------------------------


def test_the_check_stores_both_languages_and_runs_once(app):
    application, _ = create_application(legal_form="natuerliche_person")
    assert check_eligibility(application.id) == "not_eligible"
    assert check_eligibility(application.id) == "exists"
    check = latest_check(application)
    assert check.run == 1
    assert check.rules_version.startswith("2026.2+")
    result = next(r for r in check.results if r.rule == "applicant_type")
    assert result.outcome == "fail"
    assert "Natürliche Person" in result.message_de
    assert "Applicants with the legal form" in result.message_en
    assert [r.rule for r in check.results] == list(application.round.data["rules"])


# --- the pre-check on the check page ------------------------------------------------------


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_the_check_page_shows_the_pre_check_and_stores_nothing(app, client):
    # 85.000 € of 100.000 € eligible costs is above 70 %; the financing does not add up either
    data = valid_form_data(requested_grant="85.000")
    response = post_application(client, data, action="check")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Vorprüfung Ihrer Angaben" in html
    assert "85\xa0% der zuwendungsfähigen Gesamtausgaben" in html
    assert "höchstens 70\xa0%" in html
    # each finding links back to its field on the form
    assert 'formaction="/antrag#requested_grant"' in html
    assert 'form="check-form"' in html
    # the applicant can still submit
    assert 'name="action" value="submit"' in html
    for model in (Application, EligibilityCheck, OutboxItem, Notification, Event):
        assert _count(model) == 0, model


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_a_clean_application_gets_no_findings_on_the_check_page(app, client):
    html = post_application(client, valid_form_data(), action="check").get_data(as_text=True)
    assert "erfüllt Ihr Antrag alle Regeln der Förderrunde" in html


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_cost_plan_totals_must_match(app, client):
    data = valid_form_data()
    last = max(int(k.split("-")[1]) for k in data if k.startswith("cost_plan-"))
    data[f"cost_plan-{last}-personnel_costs"] = "79.000"
    response = post_application(client, data, action="check")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Die Personalausgaben der Jahre ergeben zusammen 79.000,00\xa0€" in html
    assert 'value="79.000"' in html  # what was typed is kept


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_register_entry_is_required_for_registered_legal_forms(app, client):
    data = valid_form_data(register_court="", register_number="")
    response = post_application(client, data, action="check")
    assert response.status_code == 422
    assert "Registergericht und Registernummer" in response.get_data(as_text=True)
    public = valid_form_data(legal_form="oeffentlich", register_court="", register_number="")
    assert post_application(client, public, action="check").status_code == 200


# --- the applicant's status page ----------------------------------------------------------


def test_status_page_shows_the_findings_in_the_applicants_language(app, client):
    application, token = create_application(priorities=[])
    html = client.get(f"/status/{token}").get_data(as_text=True)
    assert "Die Prüfung läuft noch" in html
    check_eligibility(application.id)
    html = client.get(f"/status/{token}").get_data(as_text=True)
    assert "Es ist kein Handlungsschwerpunkt der Förderrunde gewählt" in html
    assert "Förderfähig mit Hinweisen" in html
    tokens = csrf_from(client.get("/antrag").get_data(as_text=True))
    client.post("/sprache", data={"lang": "en", "csrf_token": tokens})
    html = client.get(f"/status/{token}").get_data(as_text=True)
    assert "No thematic priority of the funding round is chosen" in html
    assert "Es ist kein Handlungsschwerpunkt" not in html


# --- gated funding and re-runs ------------------------------------------------------------


def test_funding_a_failed_check_is_refused_until_staff_overrule(
    app, staff, staff_user, reviewer_user
):
    application = create_reviewed_application(
        staff_user, reviewer_user, legal_form="natuerliche_person"
    )
    check_eligibility(application.id)
    page = staff.get(f"/staff/cases/{application.id}/action/fund").get_data(as_text=True)
    assert "Dieser Schritt ist noch nicht möglich" in page
    assert "Antragsberechtigung" in page

    response = staff.post(
        f"/staff/cases/{application.id}/action/fund",
        data={"csrf_token": csrf_from(page), "granted_amount": "70.000"},
    )
    assert response.status_code == 409  # the page offered no button: refused up front
    db.session.expire_all()
    assert db.session.get(Application, application.id).state == "reviewed"

    failed = checks.failed_results(application)
    assert [r.rule for r in failed] == ["applicant_type"]
    case = staff.get(f"/staff/cases/{application.id}").get_data(as_text=True)
    staff.post(
        f"/staff/cases/{application.id}/results/{failed[0].id}/override",
        data={
            "csrf_token": csrf_from(case),
            "outcome": "pass",
            "comment": "Eingetragener Kaufmann mit Niederlassung, Rechtsform geprüft",
        },
    )
    page = staff.get(f"/staff/cases/{application.id}/action/fund").get_data(as_text=True)
    assert "Dieser Schritt ist noch nicht möglich" not in page
    response = staff.post(
        f"/staff/cases/{application.id}/action/fund",
        data={"csrf_token": csrf_from(page), "granted_amount": "70.000"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, application.id).state == "funded"

    case = staff.get(f"/staff/cases/{application.id}").get_data(as_text=True)
    assert "Prüfergebnis überstimmt" in case  # on the timeline, with the reason
    assert "Rechtsform geprüft" in case
    body = staff.get("/staff/cases/export.csv").data.decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(body), delimiter=";"))
    row = dict(zip(header, rows[0], strict=True))
    assert "Antragsberechtigung" in row["Überstimmte Prüfregeln"]
    assert "Rechtsform geprüft" in row["Überstimmte Prüfregeln"]


def test_an_unchecked_or_passed_case_is_not_held_back(app, staff_user, reviewer_user):
    application = create_reviewed_application(staff_user, reviewer_user)
    assert workflow.blockers(application, "fund") == []
    check_eligibility(application.id)
    assert workflow.blockers(application, "fund") == []
    workflow.apply_transition(application, "fund", user=staff_user, granted_amount=7_000_000)
    db.session.commit()
    assert application.state == "funded"


def test_staff_rerun_keeps_the_history_and_unchanged_overrides(app, staff, staff_user):
    application, _ = create_application(legal_form="natuerliche_person", priorities=[])
    check_eligibility(application.id)
    first = latest_check(application)
    failed = next(r for r in first.results if r.rule == "applicant_type")
    checks.override_rule(application, failed, "pass", "geprüft", staff_user)
    db.session.commit()

    # a data correction by the office: the priority is now given
    application.priorities.append("1.1")
    db.session.commit()
    case = staff.get(f"/staff/cases/{application.id}").get_data(as_text=True)
    response = staff.post(
        f"/staff/cases/{application.id}/check/rerun", data={"csrf_token": csrf_from(case)}
    )
    assert response.status_code == 303
    db.session.expire_all()
    application = db.session.get(Application, application.id)
    runs = application.checks
    assert [c.run for c in runs] == [1, 2]
    second = latest_check(application)
    assert second.run == 2
    outcomes = {r.rule: r for r in second.results}
    assert outcomes["priority"].outcome == "pass"  # the correction counts
    # the override stays: the rule's own outcome did not change
    assert outcomes["applicant_type"].override_outcome == "pass"
    assert application.eligibility_outcome == "eligible"
    # the first run is kept as it was
    assert next(r for r in runs[0].results if r.rule == "priority").outcome == "remark"
    case = staff.get(f"/staff/cases/{application.id}").get_data(as_text=True)
    assert "Lauf 2" in case and "Frühere Prüfläufe (1)" in case
    assert "Prüfung erneut ausgeführt" in case
    # a re-run sends no email
    assert (
        db.session.scalar(
            select(func.count(Notification.id)).where(
                Notification.application_id == application.id,
                Notification.kind == "eligibility_result",
            )
        )
        == 1
    )


def test_rerun_needs_csrf_and_an_open_case(app, staff, staff_user, reviewer_user):
    application = create_reviewed_application(staff_user, reviewer_user)
    check_eligibility(application.id)
    assert staff.post(f"/staff/cases/{application.id}/check/rerun").status_code in (400, 303)
    assert len(db.session.get(Application, application.id).checks) == 1
