"""The eligibility rule engine, pure: no database, no app, the real round data files."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import random
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import eligibility as el
from app.eligibility import (
    FAIL,
    PASS,
    REMARK,
    RULES,
    ApplicationFacts,
    CheckContext,
    RoundRules,
    evaluate,
    format_eur,
    project_months,
)
from app.models import LEGAL_FORMS
from app.programmes import read_round_files

D = dt.date
EUR = 100  # cents per euro

ROUND_VALUES = {values["code"]: values for values in read_round_files()}
ROUNDS = {code: RoundRules.from_values(values) for code, values in ROUND_VALUES.items()}
R22, R25 = "NON-2022", "NON-2025"
BOTH = pytest.mark.parametrize("code", [R22, R25])

LONG_REFERENCE = (
    "Das Projekt richtet sich an kleine und mittlere Betriebe im Landkreis Lüneburg und im "
    "Landkreis Uelzen. Dort fehlen nach der Fachkräfteanalyse der Region vor allem "
    "Pflegekräfte und Fachkräfte im Handwerk; die Betriebe finden kaum Auszubildende."
)

# An eligible application per round; each test changes only what its rule looks at.
BASE = {
    # personnel-cost basis: 70 % of 100,000 € personnel = 70,000 € at most
    R22: dict(
        start_date=D(2023, 6, 1),
        end_date=D(2024, 5, 31),
        personnel_costs=100_000 * EUR,
        other_costs=20_000 * EUR,
        own_funds=40_000 * EUR,
        third_party_funds=20_000 * EUR,
        requested_grant=60_000 * EUR,
        project_type=None,
    ),
    # total-cost basis: 70 % of 100,000 € total = 70,000 € at most
    R25: dict(
        start_date=D(2025, 4, 1),
        end_date=D(2026, 3, 31),
        personnel_costs=80_000 * EUR,
        other_costs=20_000 * EUR,
        own_funds=20_000 * EUR,
        third_party_funds=10_000 * EUR,
        requested_grant=70_000 * EUR,
        project_type="weiterbildung",
    ),
}
SUBMITTED_ON = {R22: D(2023, 5, 1), R25: D(2025, 3, 1)}


def facts(code: str, **overrides) -> ApplicationFacts:
    values = dict(
        legal_form="ev",
        title="Fachkräfte für die Pflege in Lüneburg",
        districts=("03355", "03360"),
        priorities=("1.1", "3.1"),
        regional_reference=LONG_REFERENCE,
        decl_not_started=True,
        decl_subsidy_facts=True,
        decl_privacy=True,
        decl_truthful=True,
    )
    values.update(BASE[code])
    values.update(overrides)
    return ApplicationFacts(**values)


def context(code: str, **overrides) -> CheckContext:
    values = dict(
        submission_date=SUBMITTED_ON[code],
        budget_left_cents=ROUND_VALUES[code]["budget_cents"],
        other_titles_same_org=(),
    )
    values.update(overrides)
    return CheckContext(**values)


def check(code: str, rule: str, ctx: CheckContext | None = None, **overrides) -> el.RuleResult:
    report = evaluate(facts(code, **overrides), ROUNDS[code], ctx or context(code))
    return report.result(rule)


# --- the rounds and the baseline ----------------------------------------------------------


def test_rounds_are_read_from_the_data_files():
    assert ROUNDS[R22].rate_basis == "personnel"
    assert ROUNDS[R25].rate_basis == "total"
    assert ROUNDS[R22].project_types == ()
    assert [t.code for t in ROUNDS[R25].project_types] == [
        "weiterbildung",
        "arbeitslose",
        "struktur",
    ]
    assert ROUNDS[R25].project_type("weiterbildung").limits == el.Limits(
        min_total_cents=10_000 * EUR, max_total_cents=200_000 * EUR, max_months=24
    )
    assert ROUNDS[R22].default_limits.max_total_cents == 500_000 * EUR
    assert {d.name_de for d in ROUNDS[R22].neighbour_districts} == {"Gifhorn", "Wolfsburg"}
    assert "5.2" in ROUNDS[R22].priority_codes


@BOTH
def test_the_baseline_application_is_eligible(code):
    report = evaluate(facts(code), ROUNDS[code], context(code))
    assert [r.outcome for r in report.results] == [PASS] * len(RULES), report
    assert report.overall == el.ELIGIBLE
    assert report.rules_version == el.RULES_VERSION


@BOTH
def test_every_result_has_a_message_in_both_languages(code):
    report = evaluate(facts(code), ROUNDS[code], context(code))
    for result in report.results:
        assert result.message_de and result.message_en
        assert result.message("de") == result.message_de
        assert result.message("en") == result.message_en
        assert result.rule in el.RULE_NAMES


# --- region -------------------------------------------------------------------------------


@BOTH
def test_region_pass_names_the_districts(code):
    result = check(code, "region", districts=("03360", "03355"))
    assert result.outcome == PASS
    assert "Lüneburg" in result.message_de and "Uelzen" in result.message_en


@BOTH
@pytest.mark.parametrize("districts", [("other",), ()])
def test_region_fails_outside_the_region(code, districts):
    result = check(code, "region", districts=districts)
    assert result.outcome == FAIL
    assert "Celle" in result.message_de and "Heidekreis" in result.message_en
    assert "Südostniedersachsen" not in result.message_de


@BOTH
def test_region_points_a_neighbour_to_its_alliance(code):
    result = check(code, "region", districts=("03151",))
    assert result.outcome == FAIL
    assert "Gifhorn" in result.message_de
    assert "Allianz für Fachkräfte Südostniedersachsen" in result.message_de
    assert "Skilled Workers Alliance of South-East Lower Saxony" in result.message_en
    both = check(code, "region", districts=("03103", "03151", "other"))
    assert both.outcome == FAIL
    assert "Gifhorn und Wolfsburg gehört" in both.message_de
    assert both.message_de.count("Südostniedersachsen") == 1


@BOTH
def test_region_passes_with_one_district_inside_and_still_mentions_the_neighbour(code):
    result = check(code, "region", districts=("03103", "03351"))
    assert result.outcome == PASS
    assert "Celle" in result.message_de
    assert "Wolfsburg" in result.message_en and "South-East" in result.message_en


# --- applicant type -----------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    "legal_form", [form for form in LEGAL_FORMS if form != "natuerliche_person"]
)
def test_applicant_type_legal_persons_and_partnerships_pass(code, legal_form):
    assert check(code, "applicant_type", legal_form=legal_form).outcome == PASS


@BOTH
def test_applicant_type_natural_person_fails(code):
    result = check(code, "applicant_type", legal_form="natuerliche_person")
    assert result.outcome == FAIL
    assert "natürliche Person" in result.message_de
    assert "natural person" in result.message_en


@BOTH
def test_applicant_type_unknown_form_is_a_remark(code):
    assert check(code, "applicant_type", legal_form="kg_aa").outcome == REMARK


def test_applicant_type_exclusions_come_from_the_round():
    rnd = dataclasses.replace(ROUNDS[R22], excluded_legal_forms=("natuerliche_person", "ag"))
    report = evaluate(facts(R22, legal_form="ag"), rnd, context(R22))
    assert report.outcome("applicant_type") == FAIL


# --- priority -----------------------------------------------------------------------------


@BOTH
def test_priority(code):
    assert check(code, "priority", priorities=("2.2",)).outcome == PASS
    none = check(code, "priority", priorities=())
    assert none.outcome == REMARK
    assert "kein Handlungsschwerpunkt" in none.message_de
    unknown = check(code, "priority", priorities=("9.9",))
    assert unknown.outcome == REMARK
    assert "9.9" in unknown.message_de and "9.9" in unknown.message_en


# --- funding rate -------------------------------------------------------------------------


def test_funding_rate_personnel_basis_in_the_seed_round():
    # 80,000 € is within 70 % of the total (120,000 €) but not of the personnel costs
    result = check(R22, "funding_rate", requested_grant=80_000 * EUR)
    assert result.outcome == FAIL
    assert result.message_de.startswith(
        "Der beantragte Zuschuss (80.000,00 €) übersteigt 70 % der Personalkosten (70.000,00 €"
    )
    assert result.message_en.startswith(
        "The requested grant (€80,000.00) exceeds 70% of the personnel costs (€70,000.00"
    )
    assert "100.000,00 €" in result.message_de
    assert check(R22, "funding_rate", requested_grant=70_000 * EUR).outcome == PASS
    assert check(R22, "funding_rate", requested_grant=70_000 * EUR + 1).outcome == FAIL


def test_funding_rate_total_basis_in_the_2025_round():
    # 70,000 € is far above 70 % of the personnel costs (56,000 €) but within 70 % of total
    assert check(R25, "funding_rate", requested_grant=70_000 * EUR).outcome == PASS
    result = check(R25, "funding_rate", requested_grant=75_000 * EUR)
    assert result.outcome == FAIL
    assert "70 % der Gesamtkosten (70.000,00 €" in result.message_de
    assert "70% of the total costs (€70,000.00" in result.message_en


@BOTH
def test_funding_rate_with_odd_cents_has_no_rounding_error(code):
    # 70 % of 0.03 € is 0.021 €: 2 cents are within, 3 are not
    costs = dict(personnel_costs=3, other_costs=0)
    assert check(code, "funding_rate", requested_grant=2, **costs).outcome == PASS
    assert check(code, "funding_rate", requested_grant=3, **costs).outcome == FAIL


# --- financing and co-financing -----------------------------------------------------------


@BOTH
def test_financing_balanced_passes(code):
    result = check(code, "financing")
    assert result.outcome == PASS


@BOTH
def test_financing_gap_fails_and_states_it(code):
    base = BASE[code]
    result = check(code, "financing", own_funds=base["own_funds"] - 1_234_56)
    assert result.outcome == FAIL
    assert "Es fehlen 1.234,56 €" in result.message_de
    assert "€1,234.56 short" in result.message_en
    over = check(code, "financing", own_funds=base["own_funds"] + 500 * EUR)
    assert over.outcome == FAIL
    assert "um 500,00 €" in over.message_de and "by €500.00" in over.message_en


@BOTH
def test_financing_without_costs_fails(code):
    result = check(
        code,
        "financing",
        personnel_costs=0,
        other_costs=0,
        own_funds=0,
        third_party_funds=0,
        requested_grant=0,
    )
    assert result.outcome == FAIL


@BOTH
def test_co_financing(code):
    total = BASE[code]["personnel_costs"] + BASE[code]["other_costs"]
    # exactly 30 % of own and third-party funds is enough
    exact = check(code, "co_financing", own_funds=total * 30 // 100, third_party_funds=0)
    assert exact.outcome == PASS
    result = check(code, "co_financing", own_funds=total * 30 // 100 - 1, third_party_funds=0)
    assert result.outcome == FAIL
    needed = format_eur(total * 30 // 100, "de")
    assert f"also {needed}" in result.message_de
    assert "30 %" in result.message_de and "30%" in result.message_en


def test_co_financing_minimum_is_rounded_up_to_the_cent():
    # 30 % of 1.01 € is 0.303 €: 0.30 € is short, 0.31 € is enough
    costs = dict(personnel_costs=101, other_costs=0, third_party_funds=0)
    short = check(R22, "co_financing", own_funds=30, **costs)
    assert short.outcome == FAIL
    assert "also 0,31 €" in short.message_de
    assert check(R22, "co_financing", own_funds=31, **costs).outcome == PASS


# --- period -------------------------------------------------------------------------------


@BOTH
def test_period_pass(code):
    assert check(code, "period").outcome == PASS


@BOTH
@pytest.mark.parametrize("days_before", [0, 10])
def test_period_early_start_fails(code, days_before):
    submitted = SUBMITTED_ON[code]
    result = check(code, "period", start_date=submitted - dt.timedelta(days=days_before))
    assert result.outcome == FAIL
    assert "vorzeitiger Maßnahmebeginn" in result.message_de
    assert "early start" in result.message_en


@BOTH
def test_period_start_the_day_after_submission_passes(code):
    start = SUBMITTED_ON[code] + dt.timedelta(days=1)
    assert check(code, "period", start_date=start).outcome == PASS


@BOTH
def test_period_end_after_the_funding_period_fails(code):
    end = ROUNDS[code].funding_end
    assert check(code, "period", end_date=end).outcome == PASS
    result = check(code, "period", end_date=end + dt.timedelta(days=1))
    assert result.outcome == FAIL
    assert end.strftime("%d.%m.%Y") in result.message_de
    assert f"{end.day} December {end.year}" in result.message_en


@BOTH
def test_period_start_before_the_funding_period_fails(code):
    rnd = ROUNDS[code]
    ctx = context(code, submission_date=rnd.funding_start - dt.timedelta(days=30))
    start = rnd.funding_start - dt.timedelta(days=1)
    result = check(code, "period", ctx, start_date=start)
    assert result.outcome == FAIL
    assert "vor dem Beginn des Förderzeitraums" in result.message_de


@BOTH
def test_period_start_not_before_end_fails(code):
    start = BASE[code]["start_date"]
    result = check(code, "period", end_date=start)
    assert result.outcome == FAIL
    assert "nicht nach dem Projektbeginn" in result.message_de
    # and the duration cannot be judged then: a human must look
    assert check(code, "duration", end_date=start).outcome == REMARK


# --- duration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (D(2026, 1, 1), D(2026, 12, 31), 12),
        (D(2026, 1, 15), D(2027, 1, 14), 12),
        (D(2026, 1, 15), D(2027, 1, 15), 13),
        (D(2026, 1, 1), D(2026, 1, 1), 1),
        (D(2026, 1, 1), D(2026, 1, 31), 1),
        (D(2026, 1, 1), D(2026, 2, 1), 2),
        (D(2026, 1, 31), D(2026, 2, 27), 1),
        (D(2025, 4, 1), D(2027, 3, 31), 24),
        (D(2025, 4, 1), D(2027, 4, 1), 25),
        (D(2026, 2, 1), D(2026, 1, 1), 0),
    ],
)
def test_project_months(start, end, months):
    assert project_months(start, end) == months


def test_duration_in_the_seed_round_uses_the_default_limits():
    start = BASE[R22]["start_date"]  # 2023-06-01; the round runs to 2024-12-31
    within = check(R22, "duration", end_date=D(2024, 12, 31))
    assert within.outcome == PASS
    assert "19 Monaten" in within.message_de and "36 Monaten" in within.message_de
    # a longer round so that 37 months fit into the funding period
    rnd = dataclasses.replace(ROUNDS[R22], funding_end=D(2030, 12, 31))
    long = evaluate(facts(R22, end_date=D(2026, 6, 30)), rnd, context(R22))
    assert project_months(start, D(2026, 6, 30)) == 37
    assert long.outcome("duration") == REMARK
    assert "37 Monaten" in long.result("duration").message_de
    assert "36 months" in long.result("duration").message_en


def test_duration_of_the_project_type_in_the_2025_round():
    start = BASE[R25]["start_date"]
    assert check(R25, "duration", end_date=D(2027, 3, 31)).outcome == PASS  # 24 months
    over = check(R25, "duration", end_date=D(2027, 4, 1))  # 25 months
    assert over.outcome == REMARK
    assert "Weiterbildungsprojekt" in over.message_de
    assert "Further-training project" in over.message_en
    # the same 25 months are fine for a structural project (36)
    assert check(R25, "duration", project_type="struktur", end_date=D(2027, 4, 1)).outcome == PASS
    assert project_months(start, D(2027, 4, 1)) == 25


def test_duration_without_a_project_type_in_a_round_with_types_is_a_remark():
    result = check(R25, "duration", project_type=None)
    assert result.outcome == REMARK
    assert "keine gültige Projektart" in result.message_de


# --- amount limits ------------------------------------------------------------------------


def test_amount_limits_seed_round_default_maximum():
    assert check(R22, "amount_limits", personnel_costs=480_000 * EUR).outcome == PASS
    result = check(R22, "amount_limits", personnel_costs=500_000 * EUR)  # + 20,000 other
    assert result.outcome == FAIL
    assert "520.000,00 €" in result.message_de and "500.000,00 €" in result.message_de
    assert "€500,000.00" in result.message_en


def test_amount_limits_of_the_project_type_in_the_2025_round():
    small = check(R25, "amount_limits", personnel_costs=5_000 * EUR, other_costs=4_999 * EUR)
    assert small.outcome == FAIL
    assert "unter dem Mindestbetrag von 10.000,00 €" in small.message_de
    assert "Weiterbildungsprojekt" in small.message_de
    exact = check(R25, "amount_limits", personnel_costs=5_000 * EUR, other_costs=5_000 * EUR)
    assert exact.outcome == PASS
    big = check(R25, "amount_limits", personnel_costs=200_000 * EUR)  # + 20,000 other
    assert big.outcome == FAIL
    assert "above the maximum of €200,000.00" in big.message_en
    # a structural project may cost that much
    assert (
        check(R25, "amount_limits", project_type="struktur", personnel_costs=200_000 * EUR).outcome
        == PASS
    )


def test_amount_limits_without_a_project_type_falls_back_to_the_round_defaults():
    assert check(R25, "amount_limits", project_type="quatsch").outcome == REMARK
    over = check(R25, "amount_limits", project_type=None, personnel_costs=490_000 * EUR)
    assert over.outcome == FAIL


# --- budget -------------------------------------------------------------------------------


@BOTH
def test_budget(code):
    grant = BASE[code]["requested_grant"]
    assert check(code, "budget", context(code, budget_left_cents=grant)).outcome == PASS
    result = check(code, "budget", context(code, budget_left_cents=grant - 1))
    assert result.outcome == REMARK
    assert format_eur(grant - 1, "de") in result.message_de
    assert format_eur(grant, "en") in result.message_en


# --- declarations -------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("missing", list(el.DECLARATION_NAMES))
def test_declarations_each_missing_one_fails_and_is_named(code, missing):
    result = check(code, "declarations", **{missing: False})
    assert result.outcome == FAIL
    assert el.DECLARATION_NAMES[missing][0] in result.message_de
    assert el.DECLARATION_NAMES[missing][1] in result.message_en


@BOTH
def test_declarations_all_given_pass(code):
    assert check(code, "declarations").outcome == PASS


# --- duplicate ----------------------------------------------------------------------------


@BOTH
def test_duplicate(code):
    title = "Fachkräfte für die Pflege in Lüneburg"
    same = context(
        code,
        other_titles_same_org=("Ausbildung im Handwerk", "FACHKRÄFTE für die Pflege in Lüneburg!"),
    )
    result = check(code, "duplicate", same, title=title)
    assert result.outcome == REMARK
    assert "FACHKRÄFTE für die Pflege in Lüneburg!" in result.message_de
    other = context(code, other_titles_same_org=("Ausbildung im Handwerk",))
    assert check(code, "duplicate", other, title=title).outcome == PASS
    assert check(code, "duplicate", title=title).outcome == PASS


def test_duplicate_threshold_comes_from_the_round():
    ctx = context(R22, other_titles_same_org=("Fachkräfte für die Pflege in Lüneburg 2",))
    app = facts(R22, title="Fachkräfte für die Pflege in Lüneburg")
    assert evaluate(app, ROUNDS[R22], ctx).outcome("duplicate") == REMARK
    strict = dataclasses.replace(ROUNDS[R22], duplicate_title_similarity=1.0)
    assert evaluate(app, strict, ctx).outcome("duplicate") == PASS


# --- regional reference -------------------------------------------------------------------


@BOTH
def test_regional_reference(code):
    assert check(code, "regional_reference").outcome == PASS
    short = check(code, "regional_reference", regional_reference="   Lüneburg.   " + " " * 300)
    assert short.outcome == REMARK
    assert "9 Zeichen" in short.message_de and "200" in short.message_de
    assert "names no district" not in short.message_en
    nowhere = LONG_REFERENCE.replace("Lüneburg", "X").replace("Uelzen", "Y")
    result = check(code, "regional_reference", regional_reference=nowhere)
    assert result.outcome == REMARK
    assert "nennt keinen Landkreis" in result.message_de
    assert "sehr knapp" not in result.message_de


def test_regional_reference_accepts_adjectives_and_parts_of_names():
    text = LONG_REFERENCE.replace("Lüneburg", "X").replace("Uelzen", "Y")
    for place in ("Lüneburger Heide", "im Raum DANNENBERG", "Landkreis Celle"):
        result = check(R25, "regional_reference", regional_reference=f"{text} {place}")
        assert result.outcome == PASS, place


def test_regional_reference_terms_and_minimum_come_from_the_round():
    text = LONG_REFERENCE.replace("Lüneburg", "Wendland").replace("Uelzen", "Y")
    assert check(R22, "regional_reference", regional_reference=text).outcome == REMARK
    rnd = dataclasses.replace(
        ROUNDS[R22], regional_terms=("Wendland",), regional_reference_min_chars=1000
    )
    report = evaluate(facts(R22, regional_reference=text), rnd, context(R22))
    assert report.outcome("regional_reference") == REMARK
    assert "1000" in report.result("regional_reference").message_de
    rnd = dataclasses.replace(rnd, regional_reference_min_chars=50)
    report = evaluate(facts(R22, regional_reference=text), rnd, context(R22))
    assert report.outcome("regional_reference") == PASS


# --- the report as a whole ----------------------------------------------------------------


@BOTH
def test_three_failures_at_once_are_all_named(code):
    report = evaluate(
        facts(code, districts=("03151",), legal_form="natuerliche_person", decl_truthful=False),
        ROUNDS[code],
        context(code),
    )
    assert report.overall == el.NOT_ELIGIBLE
    assert [r.rule for r in report.failures] == ["region", "applicant_type", "declarations"]
    text_de = " ".join(r.message_de for r in report.failures)
    assert "Südostniedersachsen" in text_de
    assert "natürliche Person" in text_de
    assert "Richtigkeit und Vollständigkeit der Angaben" in text_de
    assert report.remarks == ()


@BOTH
def test_overall_aggregation(code):
    assert evaluate(facts(code), ROUNDS[code], context(code)).overall == el.ELIGIBLE
    remarks = evaluate(facts(code, priorities=()), ROUNDS[code], context(code, budget_left_cents=0))
    assert remarks.overall == el.ELIGIBLE_WITH_REMARKS
    assert [r.rule for r in remarks.remarks] == ["priority", "budget"]
    failing = evaluate(facts(code, priorities=(), decl_privacy=False), ROUNDS[code], context(code))
    assert failing.overall == el.NOT_ELIGIBLE


def test_overall_outcome():
    assert el.overall_outcome([]) == el.ELIGIBLE
    assert el.overall_outcome([PASS, PASS]) == el.ELIGIBLE
    assert el.overall_outcome([PASS, REMARK]) == el.ELIGIBLE_WITH_REMARKS
    assert el.overall_outcome([REMARK, FAIL, PASS]) == el.NOT_ELIGIBLE


@BOTH
def test_same_input_same_report(code):
    app = facts(code, priorities=(), districts=("03151", "other"))
    titles = ("Fachkräfte für die Pflege in Lüneburg!", "Fachkräfte für die Pflege in Lüneburg.")
    first = evaluate(app, ROUNDS[code], context(code, other_titles_same_org=titles))
    again = evaluate(app, ROUNDS[code], context(code, other_titles_same_org=titles[::-1]))
    assert first == again
    assert (
        evaluate(
            app,
            RoundRules.from_values(ROUND_VALUES[code]),
            context(code, other_titles_same_org=titles),
        )
        == first
    )


def test_built_from_the_orm_objects_without_a_database():
    from app.models import Application, FundingRound

    values = ROUND_VALUES[R25]
    row = FundingRound(committed_cents=0, **values)
    assert RoundRules.from_model(row) == ROUNDS[R25]
    expected = facts(R25, districts=("03355", "03360"), priorities=("1.1", "3.1"))
    fields = {f.name: getattr(expected, f.name) for f in dataclasses.fields(expected)}
    fields["districts"] = ["03360", "03355"]  # order of the rows must not matter
    fields["priorities"] = ["3.1", "1.1"]
    application = Application(**fields)
    assert ApplicationFacts.from_model(application) == expected


def test_constants_agree_with_the_models():
    from app import models

    assert (el.ELIGIBLE, el.ELIGIBLE_WITH_REMARKS, el.NOT_ELIGIBLE) == (
        models.ELIGIBLE,
        models.ELIGIBLE_WITH_REMARKS,
        models.NOT_ELIGIBLE,
    )
    assert (PASS, REMARK, FAIL) == models.OUTCOMES
    assert tuple(el.LEGAL_FORM_NAMES) == models.LEGAL_FORMS
    assert tuple(el.DECLARATION_NAMES) == models.DECLARATIONS
    assert all(len(rule) <= 32 for rule in RULES)  # eligibility_result.rule is String(32)


def test_the_engine_imports_no_flask_and_no_database():
    source = Path(el.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    # app.models appears only under TYPE_CHECKING
    assert imported <= {
        "__future__",
        "datetime",
        "difflib",
        "re",
        "unicodedata",
        "collections",
        "dataclasses",
        "typing",
        "app",
    }
    assert "flask" not in imported and "sqlalchemy" not in imported


# --- formatting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "de", "en"),
    [
        (0, "0,00 €", "€0.00"),
        (5, "0,05 €", "€0.05"),
        (99_999, "999,99 €", "€999.99"),
        (8_000_000, "80.000,00 €", "€80,000.00"),
        (224_000_000, "2.240.000,00 €", "€2,240,000.00"),
        (-123_456, "-1.234,56 €", "-€1,234.56"),
    ],
)
def test_money_formatting(cents, de, en):
    assert format_eur(cents, "de") == de
    assert format_eur(cents, "en") == en


def test_date_formatting():
    assert el.format_date(D(2024, 12, 31), "de") == "31.12.2024"
    assert el.format_date(D(2024, 3, 1), "en") == "1 March 2024"


# --- properties ---------------------------------------------------------------------------

cents = st.integers(min_value=0, max_value=10**10)
dates = st.dates(min_value=D(2020, 1, 1), max_value=D(2035, 12, 31))


@given(
    code=st.sampled_from([R22, R25]),
    personnel=cents,
    other=cents,
    grant=cents,
    rate=st.integers(min_value=1, max_value=100),
)
def test_funding_rate_agrees_with_exact_rational_arithmetic(code, personnel, other, grant, rate):
    rnd = dataclasses.replace(ROUNDS[code], funding_rate_percent=rate)
    app = facts(code, personnel_costs=personnel, other_costs=other, requested_grant=grant)
    basis = personnel if rnd.rate_basis == "personnel" else personnel + other
    expected = PASS if Fraction(grant) <= Fraction(rate, 100) * basis else FAIL
    assert el.check_funding_rate(app, rnd, context(code)).outcome == expected


@given(total=st.integers(min_value=1, max_value=10**10), co=cents, pct=st.integers(0, 100))
def test_co_financing_agrees_with_exact_rational_arithmetic(total, co, pct):
    rnd = dataclasses.replace(ROUNDS[R25], co_financing_min_percent=pct)
    app = facts(R25, personnel_costs=total, other_costs=0, own_funds=co, third_party_funds=0)
    expected = PASS if Fraction(co) >= Fraction(pct, 100) * total else FAIL
    assert el.check_co_financing(app, rnd, context(R25)).outcome == expected


@given(start=dates.filter(lambda d: d.day <= 28), months=st.integers(min_value=1, max_value=120))
def test_project_months_inverts_adding_months(start, months):
    end = el.add_months(start, months) - dt.timedelta(days=1)
    assert project_months(start, end) == months
    assert project_months(start, end + dt.timedelta(days=1)) == months + 1


@given(start=dates, days=st.integers(min_value=0, max_value=4000), more=st.integers(0, 400))
def test_project_months_grows_with_the_end_date(start, days, more):
    end = start + dt.timedelta(days=days)
    assert 1 <= project_months(start, end) <= project_months(start, end + dt.timedelta(days=more))
    # never fewer months than whole 31-day stretches, never more than 28-day ones plus one
    assert (days + 1) // 31 <= project_months(start, end) <= (days + 1) // 28 + 1


@given(
    code=st.sampled_from([R22, R25]),
    legal_form=st.sampled_from([*el.LEGAL_FORM_NAMES, "unbekannt"]),
    districts=st.lists(st.sampled_from(["03351", "03355", "03151", "03103", "other"]), unique=True),
    priorities=st.lists(st.sampled_from(["1.1", "5.2", "9.9"]), unique=True),
    project_type=st.sampled_from([None, "weiterbildung", "arbeitslose", "struktur", "x"]),
    start=dates,
    days=st.integers(min_value=-30, max_value=2000),
    money=st.lists(cents, min_size=5, max_size=5),
    decls=st.lists(st.booleans(), min_size=4, max_size=4),
    reference=st.text(max_size=300),
    titles=st.lists(st.text(max_size=40), max_size=4),
    budget_left=st.integers(min_value=-(10**8), max_value=10**10),
)
def test_report_has_one_result_per_rule_and_a_consistent_overall(
    code,
    legal_form,
    districts,
    priorities,
    project_type,
    start,
    days,
    money,
    decls,
    reference,
    titles,
    budget_left,
):
    app = ApplicationFacts(
        legal_form=legal_form,
        title="Fachkräfte für die Pflege",
        districts=tuple(districts),
        priorities=tuple(priorities),
        regional_reference=reference,
        start_date=start,
        end_date=start + dt.timedelta(days=days),
        personnel_costs=money[0],
        other_costs=money[1],
        own_funds=money[2],
        third_party_funds=money[3],
        requested_grant=money[4],
        decl_not_started=decls[0],
        decl_subsidy_facts=decls[1],
        decl_privacy=decls[2],
        decl_truthful=decls[3],
        project_type=project_type,
    )
    ctx = CheckContext(SUBMITTED_ON[code], budget_left, tuple(titles))
    report = evaluate(app, ROUNDS[code], ctx)
    assert tuple(r.rule for r in report.results) == RULES
    assert all(r.outcome in (PASS, REMARK, FAIL) for r in report.results)
    assert all(r.message_de.strip() and r.message_en.strip() for r in report.results)
    assert report.overall == el.overall_outcome(r.outcome for r in report.results)
    shuffled = list(titles)
    random.Random(0).shuffle(shuffled)
    assert (
        evaluate(app, ROUNDS[code], dataclasses.replace(ctx, other_titles_same_org=tuple(shuffled)))
        == report
    )
