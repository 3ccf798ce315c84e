"""The eligibility rule engine, pure: no database, the real round data files. Messages are
rendered through the real catalogs (an app context without a database)."""

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
from app.cases.findings import render
from app.eligibility import (
    FAIL,
    PASS,
    REMARK,
    ApplicationFacts,
    CheckContext,
    CostYear,
    RoundRules,
    engine,
    evaluate,
    project_months,
    rules,
)
from app.eligibility.postcodes import states_of_postcode
from app.models import LEGAL_FORMS
from app.programmes import ProgrammeError, parse_round, read_round_files

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
        cost_plan=(
            CostYear(2023, 60_000 * EUR, 10_000 * EUR),
            CostYear(2024, 40_000 * EUR, 10_000 * EUR),
        ),
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
        cost_plan=(
            CostYear(2025, 60_000 * EUR, 15_000 * EUR),
            CostYear(2026, 20_000 * EUR, 5_000 * EUR),
        ),
    ),
}
SUBMITTED_ON = {R22: D(2023, 5, 1), R25: D(2025, 3, 1)}


@pytest.fixture(scope="module", autouse=True)
def babel_context():
    """Flask-Babel needs an app context to find the catalogs; no database is opened."""
    from app import create_app
    from config import TestingConfig

    app = create_app(
        TestingConfig(), SQLALCHEMY_DATABASE_URI="sqlite://", RATELIMIT_STORAGE_URI="memory://"
    )
    with app.app_context():
        yield


def facts(code: str, **overrides) -> ApplicationFacts:
    values = dict(
        legal_form="ev",
        title="Fachkräfte für die Pflege in Lüneburg",
        org_name="Bildungswerk Heide e. V.",
        postcode="21335",
        site_in_lower_saxony=True,
        de_minimis_undertaking=False,
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


def de(result: el.RuleResult) -> str:
    return render(result.message, "de")


def en(result: el.RuleResult) -> str:
    return render(result.message, "en")


def severity(code: str, rule: str) -> str:
    return ROUNDS[code].spec(rule).severity


# --- the rounds, their rule lists and the baseline ----------------------------------------


def test_rounds_are_read_from_the_data_files():
    assert ROUNDS[R22].rate_basis == "personnel"
    assert ROUNDS[R25].rate_basis == "total"
    assert ROUNDS[R22].project_types == ()
    assert [t.code for t in ROUNDS[R25].project_types] == [
        "weiterbildung",
        "arbeitslose",
        "struktur",
    ]
    assert ROUNDS[R25].project_type("weiterbildung").limits == engine.Limits(
        min_total_cents=10_000 * EUR, max_total_cents=200_000 * EUR, max_months=24
    )
    assert ROUNDS[R22].default_limits.max_total_cents == 500_000 * EUR
    assert {d.name.de for d in ROUNDS[R22].neighbour_districts} == {"Gifhorn", "Wolfsburg"}
    assert "5.2" in ROUNDS[R22].priority_codes
    # the 2025 round's expenditure is eligible until the end of 2029 (Art. 63(2) CPR)
    assert ROUNDS[R25].funding_end == D(2029, 12, 31)


@BOTH
def test_every_rule_of_a_round_has_a_known_function_a_severity_and_a_source(code):
    for spec in ROUNDS[code].rules:
        assert spec.name in el.RULE_FUNCTIONS
        assert spec.severity in (FAIL, REMARK)
        assert spec.source.strip(), spec.name


def test_the_2022_round_keeps_later_guideline_limits_as_remarks():
    for rule in ("applicant_type", "site_lower_saxony", "amount_limits", "duration"):
        assert severity(R22, rule) == REMARK, rule
    for rule in ("applicant_type", "site_lower_saxony", "amount_limits"):
        assert severity(R25, rule) == FAIL, rule
    # inferred limits are remarks everywhere
    for code in (R22, R25):
        for rule in ("co_financing", "other_costs_flat_rate", "duplicate", "regional_reference"):
            assert severity(code, rule) == REMARK, (code, rule)


@BOTH
def test_the_baseline_application_is_eligible(code):
    report = evaluate(facts(code), ROUNDS[code], context(code))
    assert [r.outcome for r in report.results] == [PASS] * len(ROUNDS[code].rules), [
        (r.rule, de(r)) for r in report.findings
    ]
    assert report.rules == tuple(s.name for s in ROUNDS[code].rules)
    assert report.overall == el.ELIGIBLE
    assert report.rules_version == ROUNDS[code].rules_version


@BOTH
def test_every_result_has_a_message_in_both_languages_from_the_catalog(code):
    from app.labels import RULE_LABELS

    report = evaluate(facts(code), ROUNDS[code], context(code))
    for result in report.results:
        assert de(result) and en(result)
        assert de(result) != en(result), result.rule  # translated, not the msgid
        assert result.rule in RULE_LABELS


def test_a_rule_not_listed_for_a_round_does_not_run():
    values = dict(ROUND_VALUES[R25])
    data = dict(values["data"])
    data["rules"] = {k: v for k, v in data["rules"].items() if k != "de_minimis"}
    values["data"] = data
    rnd = RoundRules.from_values(values)
    report = evaluate(
        facts(R25, de_minimis_undertaking=True, de_minimis_received=290_000 * EUR),
        rnd,
        context(R25),
    )
    assert "de_minimis" not in report.rules
    assert report.overall == el.ELIGIBLE
    full = evaluate(
        facts(R25, de_minimis_undertaking=True, de_minimis_received=290_000 * EUR),
        ROUNDS[R25],
        context(R25),
    )
    assert full.outcome("de_minimis") == REMARK


def test_the_rules_version_changes_with_the_round_data_and_the_engine(monkeypatch):
    assert ROUNDS[R22].rules_version != ROUNDS[R25].rules_version
    assert ROUNDS[R25].rules_version.startswith(el.ENGINE_VERSION + "+")
    values = dict(ROUND_VALUES[R25])
    data = dict(values["data"])
    data["rules"] = dict(data["rules"], regional_reference={"severity": "remark", "min_chars": 150})
    changed = RoundRules.from_values({**values, "data": data})
    assert changed.rules_version != ROUNDS[R25].rules_version
    assert RoundRules.from_values(ROUND_VALUES[R25]).rules_version == ROUNDS[R25].rules_version
    monkeypatch.setattr(engine, "ENGINE_VERSION", "9999.1")
    assert ROUNDS[R25].rules_version.startswith("9999.1+")


def test_a_round_file_with_an_unknown_rule_or_severity_is_refused():
    raw = {
        "code": "X",
        "name_de": "X",
        "name_en": "X",
        "budget_eur": 1,
        "funding_rate_percent": 70,
        "rate_basis": "total",
        "co_financing_min_percent": 30,
        "applications_open": D(2025, 1, 1),
        "applications_close": D(2025, 12, 31),
        "funding_start": D(2025, 1, 1),
        "funding_end": D(2026, 12, 31),
        "districts": [],
        "priorities": [],
    }
    with pytest.raises(ProgrammeError, match="rules"):
        parse_round(raw, "x.toml")
    magic = parse_round({**raw, "rules": {"magic": {"severity": "fail"}}}, "x.toml")
    assert el.unknown_rules(el.rule_specs(magic["data"])) == ["magic"]  # the CLI refuses it
    with pytest.raises(ProgrammeError, match="severity"):
        parse_round({**raw, "rules": {"region": {"severity": "maybe"}}}, "x.toml")
    parsed = parse_round({**raw, "rules": {"de_minimis": {"severity": "remark", "ceiling_eur": 5}}})
    assert parsed["data"]["rules"]["de_minimis"] == {"severity": "remark", "ceiling_cents": 500}


# --- region -------------------------------------------------------------------------------


@BOTH
def test_region_pass_names_the_districts(code):
    result = check(code, "region", districts=("03360", "03355"))
    assert result.outcome == PASS
    assert "Lüneburg" in de(result) and "Uelzen" in en(result)


@BOTH
@pytest.mark.parametrize("districts", [("other",), ()])
def test_region_fails_outside_the_region(code, districts):
    result = check(code, "region", districts=districts)
    assert result.outcome == FAIL
    assert "Celle" in de(result) and "Heidekreis" in en(result)
    assert "Südostniedersachsen" not in de(result)


@BOTH
def test_region_points_a_neighbour_to_its_alliance(code):
    result = check(code, "region", districts=("03151",))
    assert result.outcome == FAIL
    assert "Gifhorn" in de(result)
    assert "Allianz für Fachkräfte Südostniedersachsen" in de(result)
    assert "Skilled Workers Alliance of South-East Lower Saxony" in en(result)
    both = check(code, "region", districts=("03103", "03151", "other"))
    assert both.outcome == FAIL
    assert "Gifhorn und Wolfsburg gehört" in de(both)
    assert "Gifhorn and Wolfsburg belongs" in en(both)
    assert de(both).count("Südostniedersachsen") == 1


@BOTH
def test_region_passes_with_one_district_inside_and_still_mentions_the_neighbour(code):
    result = check(code, "region", districts=("03103", "03351"))
    assert result.outcome == PASS
    assert "Celle" in de(result)
    assert "Wolfsburg" in en(result) and "South-East" in en(result)


# --- applicant type and site --------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    "legal_form", [form for form in LEGAL_FORMS if form != "natuerliche_person"]
)
def test_applicant_type_legal_persons_and_partnerships_pass(code, legal_form):
    assert check(code, "applicant_type", legal_form=legal_form).outcome == PASS


@BOTH
def test_applicant_type_natural_person_is_refused_with_the_rounds_severity(code):
    result = check(code, "applicant_type", legal_form="natuerliche_person")
    assert result.outcome == severity(code, "applicant_type")
    assert "Natürliche Person" in de(result)
    assert "natural person" in en(result).lower()


@BOTH
def test_applicant_type_unknown_form_is_a_remark(code):
    assert check(code, "applicant_type", legal_form="kg_aa").outcome == REMARK


@BOTH
def test_site_in_lower_saxony(code):
    assert check(code, "site_lower_saxony").outcome == PASS
    no = check(code, "site_lower_saxony", site_in_lower_saxony=False)
    assert no.outcome == severity(code, "site_lower_saxony")
    assert "Niedersachsen" in de(no) and "Lower Saxony" in en(no)
    assert check(code, "site_lower_saxony", site_in_lower_saxony=None).outcome == REMARK


@BOTH
@pytest.mark.parametrize(
    ("postcode", "outcome"),
    [
        ("80331", REMARK),  # Munich: Bavaria only
        ("20095", REMARK),  # Hamburg only
        ("30159", PASS),  # Hanover
        ("21335", PASS),  # Lüneburg: the 21 range is shared by HH, NI and SH
        ("28195", PASS),  # Bremen shares 28 with Lower Saxony: no finding
        ("00000", PASS),  # unknown: no finding
    ],
)
def test_site_postcode_plausibility_is_only_a_remark(code, postcode, outcome):
    result = check(code, "site_lower_saxony", postcode=postcode)
    assert result.outcome == outcome
    if outcome == REMARK:
        assert postcode in de(result) and result.field == "postcode"


def test_postcode_ranges():
    assert states_of_postcode("80331") == ("BY",)
    assert states_of_postcode("26121") == ("NI",)
    assert "NI" in states_of_postcode("21335") and len(states_of_postcode("21335")) > 1
    assert states_of_postcode("1234") == () and states_of_postcode("abcde") == ()


# --- priority -----------------------------------------------------------------------------


@BOTH
def test_priority(code):
    assert check(code, "priority", priorities=("2.2",)).outcome == PASS
    none = check(code, "priority", priorities=())
    assert none.outcome == REMARK
    assert "kein Handlungsschwerpunkt" in de(none)
    unknown = check(code, "priority", priorities=("9.9",))
    assert unknown.outcome == REMARK
    assert "9.9" in de(unknown) and "9.9" in en(unknown)


# --- funding rate -------------------------------------------------------------------------


def test_funding_rate_personnel_basis_in_the_seed_round():
    # 80,000 € is within 70 % of the total (120,000 €) but not of the personnel costs
    result = check(R22, "funding_rate", requested_grant=80_000 * EUR)
    assert result.outcome == FAIL
    assert de(result) == (
        "Der beantragte Zuschuss (80.000,00\xa0€) entspricht 80\xa0% der Personalausgaben "
        "(100.000,00\xa0€); gefördert werden höchstens 70\xa0%, also 70.000,00\xa0€. Bitte "
        "verringern Sie den Zuschuss auf höchstens 70.000,00\xa0€."
    )
    assert en(result).startswith("The requested grant (€80,000.00) is 80% of the personnel costs")
    assert check(R22, "funding_rate", requested_grant=70_000 * EUR).outcome == PASS
    assert check(R22, "funding_rate", requested_grant=70_000 * EUR + 1).outcome == FAIL


def test_funding_rate_total_basis_in_the_2025_round_states_the_share():
    # 70,000 € is far above 70 % of the personnel costs (56,000 €) but within 70 % of total
    assert check(R25, "funding_rate", requested_grant=70_000 * EUR).outcome == PASS
    # 60,000 € of 70,000 € eligible costs is 85.7 %
    result = check(R25, "funding_rate", personnel_costs=50_000 * EUR, requested_grant=60_000 * EUR)
    assert result.outcome == FAIL
    assert "85,7\xa0% der zuwendungsfähigen Gesamtausgaben" in de(result)
    assert "85.7% of the eligible total costs" in en(result)
    assert "at most 70% can be funded, that is €49,000.00" in en(result)
    assert result.field == "requested_grant"


@BOTH
def test_funding_rate_with_odd_cents_has_no_rounding_error(code):
    # 70 % of 0.03 € is 0.021 €: 2 cents are within, 3 are not
    costs = dict(personnel_costs=3, other_costs=0)
    assert check(code, "funding_rate", requested_grant=2, **costs).outcome == PASS
    assert check(code, "funding_rate", requested_grant=3, **costs).outcome == FAIL


# --- financing, co-financing, other costs -------------------------------------------------


@BOTH
def test_financing_gap_fails_and_states_it(code):
    base = BASE[code]
    assert check(code, "financing").outcome == PASS
    result = check(code, "financing", own_funds=base["own_funds"] - 1_234_56)
    assert result.outcome == FAIL
    assert "Es fehlen 1.234,56\xa0€" in de(result)
    assert "€1,234.56 short" in en(result)
    over = check(code, "financing", own_funds=base["own_funds"] + 500 * EUR)
    assert over.outcome == FAIL
    assert "um 500,00\xa0€" in de(over) and "by €500.00" in en(over)


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
def test_co_financing_is_an_inferred_remark(code):
    total = BASE[code]["personnel_costs"] + BASE[code]["other_costs"]
    exact = check(code, "co_financing", own_funds=total * 30 // 100, third_party_funds=0)
    assert exact.outcome == PASS
    result = check(code, "co_financing", own_funds=total * 30 // 100 - 1, third_party_funds=0)
    assert result.outcome == REMARK
    assert "30\xa0%" in de(result) and "30%" in en(result)


def test_co_financing_minimum_is_rounded_up_to_the_cent():
    # 30 % of 1.01 € is 0.303 €: 0.30 € is short, 0.31 € is enough
    costs = dict(personnel_costs=101, other_costs=0, third_party_funds=0)
    short = check(R22, "co_financing", own_funds=30, **costs)
    assert short.outcome == REMARK
    assert "also 0,31\xa0€" in de(short)
    assert check(R22, "co_financing", own_funds=31, **costs).outcome == PASS


@BOTH
def test_other_costs_above_the_40_percent_flat_rate_is_a_remark(code):
    personnel = BASE[code]["personnel_costs"]
    limit = personnel * 40 // 100
    assert check(code, "other_costs_flat_rate", other_costs=limit).outcome == PASS
    over = check(code, "other_costs_flat_rate", other_costs=limit + 1)
    assert over.outcome == REMARK
    assert "40\xa0%" in de(over) and "40%" in en(over)
    assert over.field == "other_costs"


def test_the_flat_rate_comes_from_the_round():
    rnd = ROUNDS[R25]
    spec = dataclasses.replace(rnd.spec("other_costs_flat_rate"), params={"flat_rate_percent": 20})
    result = rules.check_other_costs_flat_rate(facts(R25), rnd, context(R25), spec)
    assert result.outcome == REMARK  # 20,000 € other costs > 20 % of 80,000 €


# --- cost plan and de minimis -------------------------------------------------------------


@BOTH
def test_cost_plan(code):
    assert check(code, "cost_plan").outcome == PASS
    assert check(code, "cost_plan", cost_plan=None).outcome == REMARK
    plan = BASE[code]["cost_plan"]
    off = (dataclasses.replace(plan[0], personnel_costs=plan[0].personnel_costs + 1), plan[1])
    result = check(code, "cost_plan", cost_plan=off)
    assert result.outcome == REMARK
    assert "Personalausgaben der Jahre" in de(result)
    late = (plan[0], dataclasses.replace(plan[1], year=2031))
    assert "2031" in de(check(code, "cost_plan", cost_plan=late))


@pytest.mark.parametrize(("code", "ceiling"), [(R22, 200_000), (R25, 300_000)])
def test_de_minimis_ceiling_per_round(code, ceiling):
    grant = BASE[code]["requested_grant"]
    at = check(
        code,
        "de_minimis",
        de_minimis_undertaking=True,
        de_minimis_received=ceiling * EUR - grant,
    )
    assert at.outcome == PASS
    over = check(
        code,
        "de_minimis",
        de_minimis_undertaking=True,
        de_minimis_received=ceiling * EUR - grant + 1,
    )
    assert over.outcome == REMARK
    assert f"{ceiling:,}".replace(",", ".") + ",00\xa0€" in de(over)
    # not an undertaking: the ceiling does not apply
    assert (
        check(code, "de_minimis", de_minimis_undertaking=False, de_minimis_received=10**9).outcome
        == PASS
    )


# --- period -------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("days_before", [0, 10])
def test_period_early_start_fails(code, days_before):
    submitted = SUBMITTED_ON[code]
    result = check(code, "period", start_date=submitted - dt.timedelta(days=days_before))
    assert result.outcome == FAIL
    assert "vorzeitiger Maßnahmebeginn" in de(result)
    assert "early start" in en(result)


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
    assert end.strftime("%d.%m.%Y") in de(result)
    assert f"Dec 31, {end.year}" in en(result)


def test_a_24_month_training_project_applied_for_in_2027_is_not_refused():
    # the case: applied for late in the round, starting two months later
    submitted = D(2027, 10, 1)
    start, end = D(2027, 12, 1), D(2029, 11, 30)
    report = evaluate(
        facts(R25, start_date=start, end_date=end, cost_plan=None),
        ROUNDS[R25],
        context(R25, submission_date=submitted),
    )
    assert report.outcome("period") == PASS
    assert report.outcome("duration") == PASS
    assert report.overall != el.NOT_ELIGIBLE


@BOTH
def test_period_start_before_the_funding_period_fails(code):
    rnd = ROUNDS[code]
    ctx = context(code, submission_date=rnd.funding_start - dt.timedelta(days=30))
    start = rnd.funding_start - dt.timedelta(days=1)
    result = check(code, "period", ctx, start_date=start)
    assert result.outcome == FAIL
    assert "vor dem Beginn des Förderzeitraums" in de(result)


@BOTH
def test_period_start_not_before_end_fails(code):
    start = BASE[code]["start_date"]
    result = check(code, "period", end_date=start)
    assert result.outcome == FAIL
    assert "nicht nach dem Projektbeginn" in de(result)
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
    start = BASE[R22]["start_date"]
    within = check(R22, "duration", end_date=D(2024, 12, 31))
    assert within.outcome == PASS
    assert "19 Monate" in de(within) and "36 Monate" in de(within)
    rnd = dataclasses.replace(ROUNDS[R22], funding_end=D(2030, 12, 31))
    long = evaluate(facts(R22, end_date=D(2026, 6, 30)), rnd, context(R22))
    assert project_months(start, D(2026, 6, 30)) == 37
    assert long.outcome("duration") == REMARK
    assert "37 Monate" in de(long.result("duration"))
    assert "36 months" in en(long.result("duration"))


def test_duration_of_the_project_type_in_the_2025_round():
    assert check(R25, "duration", end_date=D(2027, 3, 31)).outcome == PASS  # 24 months
    over = check(R25, "duration", end_date=D(2027, 4, 1))  # 25 months
    assert over.outcome == REMARK
    assert "Weiterbildungsprojekt" in de(over)
    assert "Further-training project" in en(over)
    assert check(R25, "duration", project_type="struktur", end_date=D(2027, 4, 1)).outcome == PASS


def test_duration_without_a_project_type_in_a_round_with_types_is_a_remark():
    result = check(R25, "duration", project_type=None)
    assert result.outcome == REMARK
    assert "keine gültige Projektart" in de(result)


# --- amount limits ------------------------------------------------------------------------


def test_amount_limits_are_a_remark_in_the_seed_round():
    assert check(R22, "amount_limits", personnel_costs=480_000 * EUR).outcome == PASS
    result = check(R22, "amount_limits", personnel_costs=480_000 * EUR + 1)
    assert result.outcome == REMARK
    assert "500.000,00\xa0€" in de(result) and "€500,000.00" in en(result)


def test_amount_limits_of_the_project_type_in_the_2025_round():
    small = check(R25, "amount_limits", personnel_costs=5_000 * EUR, other_costs=4_999 * EUR)
    assert small.outcome == FAIL
    assert "unter dem Mindestbetrag von 10.000,00\xa0€" in de(small)
    exact = check(R25, "amount_limits", personnel_costs=5_000 * EUR, other_costs=5_000 * EUR)
    assert exact.outcome == PASS
    top = check(R25, "amount_limits", personnel_costs=180_000 * EUR)  # + 20,000 other
    assert top.outcome == PASS
    big = check(R25, "amount_limits", personnel_costs=180_000 * EUR + 1)
    assert big.outcome == FAIL
    assert "above the maximum of €200,000.00" in en(big)
    assert (
        check(R25, "amount_limits", project_type="struktur", personnel_costs=200_000 * EUR).outcome
        == PASS
    )


def test_amount_limits_without_a_project_type_falls_back_to_the_round_defaults():
    assert check(R25, "amount_limits", project_type="quatsch").outcome == REMARK
    over = check(R25, "amount_limits", project_type=None, personnel_costs=490_000 * EUR)
    assert over.outcome == FAIL


# --- budget, declarations -----------------------------------------------------------------


@BOTH
def test_budget(code):
    grant = BASE[code]["requested_grant"]
    assert check(code, "budget", context(code, budget_left_cents=grant)).outcome == PASS
    result = check(code, "budget", context(code, budget_left_cents=grant - 1))
    assert result.outcome == REMARK
    left = f"{(grant - 1) // 100:,}".replace(",", ".") + ",99\xa0€"
    assert left in de(result)


@BOTH
@pytest.mark.parametrize(
    "missing", ["decl_not_started", "decl_subsidy_facts", "decl_privacy", "decl_truthful"]
)
def test_declarations_each_missing_one_fails_and_is_named(code, missing):
    from flask_babel import force_locale

    from app.labels import FIELD_LABELS

    result = check(code, "declarations", **{missing: False})
    assert result.outcome == FAIL
    assert result.field == missing
    with force_locale("de"):
        assert str(FIELD_LABELS[missing]) in de(result)
    with force_locale("en"):
        assert str(FIELD_LABELS[missing]) in en(result)


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
    assert "FACHKRÄFTE für die Pflege in Lüneburg!" in de(result)
    other = context(code, other_titles_same_org=("Ausbildung im Handwerk",))
    assert check(code, "duplicate", other, title=title).outcome == PASS
    assert check(code, "duplicate", title=title).outcome == PASS


@BOTH
def test_duplicate_is_left_out_when_other_applications_are_unknown(code):
    report = evaluate(facts(code), ROUNDS[code], context(code, other_titles_same_org=None))
    assert "duplicate" not in report.rules


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Bildungswerk Heide e. V.", "bildungswerk heide eV", True),
        ("Pflege Soltau gGmbH", "Pflege Soltau", True),
        ("Muster GmbH & Co. KG", "MUSTER GMBH + CO KG", True),
        ("Bildungswerk Heide", "Bildungswerk Celle", False),
    ],
)
def test_normalised_organisation_names(a, b, same):
    assert (el.normalise_org_name(a) == el.normalise_org_name(b)) is same


# --- regional reference -------------------------------------------------------------------


@BOTH
def test_regional_reference(code):
    assert check(code, "regional_reference").outcome == PASS
    short = check(code, "regional_reference", regional_reference="   Lüneburg.   " + " " * 300)
    assert short.outcome == REMARK
    assert "9 Zeichen" in de(short) and "200" in de(short)
    assert "names no district" not in en(short)
    nowhere = LONG_REFERENCE.replace("Lüneburg", "X").replace("Uelzen", "Y")
    result = check(code, "regional_reference", regional_reference=nowhere)
    assert result.outcome == REMARK
    assert "nennt keinen Landkreis" in de(result)
    assert "sehr knapp" not in de(result)


def test_regional_reference_accepts_adjectives_and_parts_of_names():
    text = LONG_REFERENCE.replace("Lüneburg", "X").replace("Uelzen", "Y")
    for place in ("Lüneburger Heide", "im Raum DANNENBERG", "Landkreis Celle"):
        result = check(R25, "regional_reference", regional_reference=f"{text} {place}")
        assert result.outcome == PASS, place


def test_regional_reference_terms_and_minimum_come_from_the_round():
    text = LONG_REFERENCE.replace("Lüneburg", "Wendland").replace("Uelzen", "Y")
    rnd = ROUNDS[R22]
    spec = rnd.spec("regional_reference")
    assert (
        rules.check_regional_reference(
            facts(R22, regional_reference=text), rnd, context(R22), spec
        ).outcome
        == REMARK
    )
    strict = dataclasses.replace(spec, params={"terms": ["Wendland"], "min_chars": 1000})
    result = rules.check_regional_reference(
        facts(R22, regional_reference=text), rnd, context(R22), strict
    )
    assert result.outcome == REMARK and "1000" in de(result)
    loose = dataclasses.replace(spec, params={"terms": ["Wendland"], "min_chars": 50})
    assert (
        rules.check_regional_reference(
            facts(R22, regional_reference=text), rnd, context(R22), loose
        ).outcome
        == PASS
    )


# --- the report as a whole ----------------------------------------------------------------


def test_three_failures_at_once_are_all_named():
    report = evaluate(
        facts(R25, districts=("03151",), legal_form="natuerliche_person", decl_truthful=False),
        ROUNDS[R25],
        context(R25),
    )
    assert report.overall == el.NOT_ELIGIBLE
    assert [r.rule for r in report.failures] == ["region", "applicant_type", "declarations"]
    text_de = " ".join(de(r) for r in report.failures)
    assert "Südostniedersachsen" in text_de
    assert "Natürliche Person" in text_de
    assert "Angaben wahrheitsgemäß" in text_de


@BOTH
def test_overall_aggregation(code):
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


def test_built_from_the_orm_objects_without_a_database():
    from app.models import Application, FundingRound

    values = ROUND_VALUES[R25]
    row = FundingRound(committed_cents=0, **values)
    assert RoundRules.from_model(row) == ROUNDS[R25]
    expected = facts(R25, districts=("03355", "03360"), priorities=("1.1", "3.1"))
    fields = {f.name: getattr(expected, f.name) for f in dataclasses.fields(expected)}
    fields["districts"] = ["03360", "03355"]  # order of the rows must not matter
    fields["priorities"] = ["3.1", "1.1"]
    fields["cost_plan"] = [dataclasses.asdict(c) for c in reversed(expected.cost_plan)]
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
    assert rules.DECLARATION_FIELDS == models.DECLARATIONS
    assert all(len(rule) <= 32 for rule in el.RULE_FUNCTIONS)  # eligibility_result.rule
    assert all(len(r.rules_version) <= 32 for r in ROUNDS.values())


def test_the_engine_imports_no_flask_and_no_database():
    for module in (engine, rules):
        source = Path(module.__file__).read_text(encoding="utf-8")
        imported = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert "flask" not in imported and "flask_babel" not in imported
        assert "sqlalchemy" not in imported
        assert imported <= {
            "__future__",
            "datetime",
            "difflib",
            "hashlib",
            "json",
            "re",
            "unicodedata",
            "collections",
            "dataclasses",
            "fractions",
            "typing",
            "dateutil",  # month arithmetic (relativedelta)
            "app",
        }


def test_no_german_english_pairs_left_in_the_engine():
    for module in (engine, rules):
        source = Path(module.__file__).read_text(encoding="utf-8")
        # no branching on the language and no English sentence next to a German one
        assert '"en"' not in source and "'en'" not in source
        assert "message_en" not in source and "name_en" not in source.replace(
            'row.get("name_en")', ""
        ).replace('row.get("alliance_en")', "")


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
    assert (
        rules.check_funding_rate(app, rnd, context(code), rnd.spec("funding_rate")).outcome
        == expected
    )


@given(total=st.integers(min_value=1, max_value=10**10), co=cents, pct=st.integers(0, 100))
def test_co_financing_agrees_with_exact_rational_arithmetic(total, co, pct):
    rnd = dataclasses.replace(ROUNDS[R25], co_financing_min_percent=pct)
    app = facts(R25, personnel_costs=total, other_costs=0, own_funds=co, third_party_funds=0)
    expected = PASS if Fraction(co) >= Fraction(pct, 100) * total else REMARK
    assert (
        rules.check_co_financing(app, rnd, context(R25), rnd.spec("co_financing")).outcome
        == expected
    )


@given(start=dates.filter(lambda d: d.day <= 28), months=st.integers(min_value=1, max_value=120))
def test_project_months_inverts_adding_months(start, months):
    end = el.add_months(start, months) - dt.timedelta(days=1)
    assert project_months(start, end) == months
    assert project_months(start, end + dt.timedelta(days=1)) == months + 1


@given(start=dates, days=st.integers(min_value=0, max_value=4000), more=st.integers(0, 400))
def test_project_months_grows_with_the_end_date(start, days, more):
    end = start + dt.timedelta(days=days)
    assert 1 <= project_months(start, end) <= project_months(start, end + dt.timedelta(days=more))
    assert (days + 1) // 31 <= project_months(start, end) <= (days + 1) // 28 + 1


@given(
    code=st.sampled_from([R22, R25]),
    legal_form=st.sampled_from([*LEGAL_FORMS, "unbekannt"]),
    districts=st.lists(st.sampled_from(["03351", "03355", "03151", "03103", "other"]), unique=True),
    priorities=st.lists(st.sampled_from(["1.1", "5.2", "9.9"]), unique=True),
    project_type=st.sampled_from([None, "weiterbildung", "arbeitslose", "struktur", "x"]),
    start=dates,
    days=st.integers(min_value=-30, max_value=2000),
    money=st.lists(cents, min_size=6, max_size=6),
    decls=st.lists(st.booleans(), min_size=4, max_size=4),
    site=st.sampled_from([None, True, False]),
    postcode=st.text(alphabet="0123456789", min_size=0, max_size=5),
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
    site,
    postcode,
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
        postcode=postcode,
        site_in_lower_saxony=site,
        de_minimis_undertaking=bool(money[5] % 2),
        de_minimis_received=money[5],
    )
    ctx = CheckContext(SUBMITTED_ON[code], budget_left, tuple(titles))
    report = evaluate(app, ROUNDS[code], ctx)
    assert report.rules == tuple(s.name for s in ROUNDS[code].rules)
    assert all(r.outcome in (PASS, REMARK, FAIL) for r in report.results)
    assert all(de(r).strip() and en(r).strip() for r in report.results)
    assert report.overall == el.overall_outcome(r.outcome for r in report.results)
    shuffled = list(titles)
    random.Random(0).shuffle(shuffled)
    assert (
        evaluate(app, ROUNDS[code], dataclasses.replace(ctx, other_titles_same_org=tuple(shuffled)))
        == report
    )


def test_a_third_round_with_one_new_rule_as_in_the_docs(tmp_path, monkeypatch):
    """docs/eligibility.md's worked example: a data file and a rule function, nothing else."""
    source = Path(__file__).parents[1] / "app" / "programmes" / "non-2025.toml"
    text = source.read_text(encoding="utf-8").replace('code = "NON-2025"', 'code = "NON-2028"')
    text = text.replace(
        "[rules.period]",
        '[rules.grant_cap]\nseverity = "fail"\nsource = "Richtlinie 2028, § 5"\n'
        "max_grant_eur = 150_000\n\n[rules.period]",
    )
    (tmp_path / "non-2028.toml").write_text(text, encoding="utf-8")

    def check_grant_cap(app, rnd, ctx, spec):
        cap = int(spec.param("max_grant_cents"))
        ok = app.requested_grant <= cap
        message = engine.msg("%(grant)s", grant=engine.Money(app.requested_grant))
        return engine.result(spec, PASS if ok else spec.severity, message, "requested_grant")

    monkeypatch.setitem(engine.RULE_FUNCTIONS, "grant_cap", check_grant_cap)
    (values,) = read_round_files(tmp_path)
    r28 = RoundRules.from_values(values)
    big = dict(personnel_costs=180_000 * EUR, other_costs=20_000 * EUR, project_type="struktur")
    at = evaluate(facts(R25, requested_grant=150_000 * EUR, **big), r28, context(R25)).outcome(
        "grant_cap"
    )
    over = evaluate(
        facts(R25, requested_grant=150_000 * EUR + 1, **big), r28, context(R25)
    ).outcome("grant_cap")
    assert (at, over) == (PASS, FAIL)
    assert r28.rules_version != ROUNDS[R25].rules_version
    # the other rounds do not run it
    for code in (R22, R25):
        assert "grant_cap" not in evaluate(facts(code), ROUNDS[code], context(code)).rules
