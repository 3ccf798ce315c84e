"""Eligibility rule engine: (application, round, context) -> report.

Pure functions only: no Flask, no database, no I/O, no clock. Everything a rule needs comes in
through three small frozen dataclasses: the application's facts, the rules of its funding round
(built from the round's columns and data file, so nothing of a round is hard-coded here) and a
context the calling job fills from the database (submission date, budget left, the other
titles of the same organisation in the round). The same inputs always give the same report.

Every rule yields one result with outcome ``pass``, ``remark`` (a human must look) or ``fail``
and a plain-words message in German and English stating the figures. The rules are described in
docs/eligibility.md; bump ``RULES_VERSION`` whenever a rule or message changes.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app import funding

if TYPE_CHECKING:  # the engine never needs the ORM at run time
    from app.models import Application, FundingRound

RULES_VERSION = "2026.1"

PASS, REMARK, FAIL = "pass", "remark", "fail"
# Same values as app.models.ELIGIBLE etc. (kept here so the engine imports no Flask code).
ELIGIBLE, ELIGIBLE_WITH_REMARKS, NOT_ELIGIBLE = "eligible", "remarks", "not_eligible"

RULES = (
    "region",
    "applicant_type",
    "priority",
    "funding_rate",
    "financing",
    "co_financing",
    "period",
    "duration",
    "amount_limits",
    "budget",
    "declarations",
    "duplicate",
    "regional_reference",
)

# Short rule names for staff pages and emails.
RULE_NAMES: dict[str, tuple[str, str]] = {
    "region": ("Förderregion", "Funding region"),
    "applicant_type": ("Antragsberechtigung", "Eligible applicant"),
    "priority": ("Handlungsschwerpunkt", "Thematic priority"),
    "funding_rate": ("Förderquote", "Funding rate"),
    "financing": ("Ausgeglichene Finanzierung", "Balanced financing"),
    "co_financing": ("Kofinanzierung", "Co-financing"),
    "period": ("Projektzeitraum", "Project period"),
    "duration": ("Laufzeit", "Duration"),
    "amount_limits": ("Kostengrenzen", "Cost limits"),
    "budget": ("Verfügbare Mittel", "Funds available"),
    "declarations": ("Erklärungen", "Declarations"),
    "duplicate": ("Doppelantrag", "Duplicate application"),
    "regional_reference": ("Regionalbezug", "Regional reference"),
}

LEGAL_FORM_NAMES: dict[str, tuple[str, str]] = {
    "gmbh": ("GmbH", "limited company (GmbH)"),
    "ggmbh": ("gemeinnützige GmbH", "non-profit limited company (gGmbH)"),
    "ag": ("Aktiengesellschaft", "public limited company (AG)"),
    "eg": ("eingetragene Genossenschaft", "registered cooperative (eG)"),
    "ev": ("eingetragener Verein", "registered association (e.V.)"),
    "stiftung": ("Stiftung", "foundation"),
    "oeffentlich": (
        "öffentliche Einrichtung (Körperschaft, Kammer, Hochschule, Kommune)",
        "public body (corporation, chamber, university, municipality)",
    ),
    "personengesellschaft": ("Personengesellschaft", "partnership"),
    "sonstige_jp": ("sonstige juristische Person", "other legal person"),
    "natuerliche_person": (
        "natürliche Person (auch Einzelunternehmen)",
        "natural person (including sole traders)",
    ),
}
# Programme-wide rule of the ESF+ programme; a round may override it in its data file.
DEFAULT_EXCLUDED_LEGAL_FORMS = ("natuerliche_person",)

DECLARATION_NAMES: dict[str, tuple[str, str]] = {
    "decl_not_started": (
        "Das Projekt hat noch nicht begonnen",
        "the project has not started yet",
    ),
    "decl_subsidy_facts": (
        "Kenntnis der subventionserheblichen Tatsachen",
        "knowledge of the facts relevant to the subsidy",
    ),
    "decl_privacy": (
        "Datenschutzhinweise zur Kenntnis genommen",
        "data-protection notice read",
    ),
    "decl_truthful": (
        "Richtigkeit und Vollständigkeit der Angaben",
        "the statements are true and complete",
    ),
}

# Used only when a round's data file leaves these out.
DEFAULT_REGIONAL_REFERENCE_MIN_CHARS = 200
DEFAULT_DUPLICATE_TITLE_SIMILARITY = 0.9

OTHER_DISTRICT = "other"

_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


# --- formatting ---------------------------------------------------------------------------


def format_eur(cents: int, language: str) -> str:
    """Euro amount from integer cents: ``80.000,00 €`` (de) or ``€80,000.00`` (en)."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    grouped = f"{euros:,}"
    if language == "en":
        return f"{sign}€{grouped}.{rest:02d}"
    return f"{sign}{grouped.replace(',', '.')},{rest:02d} €"


def format_percent(value: int, language: str) -> str:
    return f"{value}%" if language == "en" else f"{value} %"


def format_date(value: dt.date, language: str) -> str:
    if language == "en":
        return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"
    return value.strftime("%d.%m.%Y")


def _months(n: int, language: str, dative: bool = False) -> str:
    if language == "en":
        return f"{n} month" if n == 1 else f"{n} months"
    if n == 1:
        return "1 Monat"
    return f"{n} Monaten" if dative else f"{n} Monate"


def _join(items: Iterable[str], language: str) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    last = " and " if language == "en" else " und "
    return ", ".join(items[:-1]) + last + items[-1]


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class District:
    ags: str
    name_de: str
    name_en: str
    # only for a neighbouring alliance's districts: the alliance to point applicants to
    alliance_de: str = ""
    alliance_en: str = ""

    @classmethod
    def from_data(cls, row: Mapping[str, Any]) -> District:
        return cls(
            ags=str(row["ags"]),
            name_de=row["name_de"],
            name_en=row.get("name_en") or row["name_de"],
            alliance_de=row.get("alliance_de", ""),
            alliance_en=row.get("alliance_en", "") or row.get("alliance_de", ""),
        )

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_de

    def alliance(self, language: str) -> str:
        return self.alliance_en if language == "en" else self.alliance_de


@dataclass(frozen=True)
class Limits:
    """Cost and duration limits; ``None`` means no limit of that kind."""

    min_total_cents: int | None = None
    max_total_cents: int | None = None
    max_months: int | None = None

    @classmethod
    def from_data(cls, row: Mapping[str, Any]) -> Limits:
        return cls(
            min_total_cents=row.get("min_total_cents"),
            max_total_cents=row.get("max_total_cents"),
            max_months=row.get("max_months"),
        )


@dataclass(frozen=True)
class ProjectType:
    code: str
    name_de: str
    name_en: str
    limits: Limits

    @classmethod
    def from_data(cls, row: Mapping[str, Any]) -> ProjectType:
        return cls(
            code=row["code"],
            name_de=row["name_de"],
            name_en=row.get("name_en") or row["name_de"],
            limits=Limits.from_data(row),
        )

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_de


@dataclass(frozen=True)
class RoundRules:
    """Everything the rules need to know about one funding round."""

    code: str
    funding_rate_percent: int
    rate_basis: str  # "personnel" or "total"
    co_financing_min_percent: int
    funding_start: dt.date
    funding_end: dt.date
    districts: tuple[District, ...]
    neighbour_districts: tuple[District, ...] = ()
    priority_codes: tuple[str, ...] = ()
    project_types: tuple[ProjectType, ...] = ()
    default_limits: Limits = field(default_factory=Limits)
    regional_reference_min_chars: int = DEFAULT_REGIONAL_REFERENCE_MIN_CHARS
    duplicate_title_similarity: float = DEFAULT_DUPLICATE_TITLE_SIMILARITY
    # extra words that count as naming the region in the regional reference
    regional_terms: tuple[str, ...] = ()
    excluded_legal_forms: tuple[str, ...] = DEFAULT_EXCLUDED_LEGAL_FORMS

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> RoundRules:
        """Build from a round's column values plus ``data`` (as ``parse_round`` returns)."""
        data = values.get("data") or {}
        return cls(
            code=values["code"],
            funding_rate_percent=int(values["funding_rate_percent"]),
            rate_basis=values["rate_basis"],
            co_financing_min_percent=int(values["co_financing_min_percent"]),
            funding_start=values["funding_start"],
            funding_end=values["funding_end"],
            districts=tuple(District.from_data(d) for d in data.get("districts", [])),
            neighbour_districts=tuple(
                District.from_data(d) for d in data.get("neighbour_districts", [])
            ),
            priority_codes=tuple(
                item["code"] for group in data.get("priorities", []) for item in group["items"]
            ),
            project_types=tuple(ProjectType.from_data(t) for t in data.get("project_types", [])),
            default_limits=Limits.from_data(data.get("default_limits", {})),
            regional_reference_min_chars=int(
                data.get("regional_reference_min_chars", DEFAULT_REGIONAL_REFERENCE_MIN_CHARS)
            ),
            duplicate_title_similarity=float(
                data.get("duplicate_title_similarity", DEFAULT_DUPLICATE_TITLE_SIMILARITY)
            ),
            regional_terms=tuple(data.get("regional_terms", ())),
            excluded_legal_forms=tuple(
                data.get("excluded_legal_forms", DEFAULT_EXCLUDED_LEGAL_FORMS)
            ),
        )

    @classmethod
    def from_model(cls, row: FundingRound) -> RoundRules:
        keys = (
            "code",
            "funding_rate_percent",
            "rate_basis",
            "co_financing_min_percent",
            "funding_start",
            "funding_end",
            "data",
        )
        return cls.from_values({key: getattr(row, key) for key in keys})

    def project_type(self, code: str | None) -> ProjectType | None:
        return next((t for t in self.project_types if t.code == code), None)


@dataclass(frozen=True)
class ApplicationFacts:
    """The parts of an application the rules look at. Money in integer cents."""

    legal_form: str
    title: str
    districts: tuple[str, ...]
    priorities: tuple[str, ...]
    regional_reference: str
    start_date: dt.date
    end_date: dt.date
    personnel_costs: int
    other_costs: int
    own_funds: int
    third_party_funds: int
    requested_grant: int
    decl_not_started: bool
    decl_subsidy_facts: bool
    decl_privacy: bool
    decl_truthful: bool
    project_type: str | None = None

    @classmethod
    def from_model(cls, row: Application) -> ApplicationFacts:
        return cls(
            legal_form=row.legal_form,
            title=row.title,
            # sorted: the report must not depend on the order rows came back in
            districts=tuple(sorted(row.districts)),
            priorities=tuple(sorted(row.priorities)),
            regional_reference=row.regional_reference or "",
            start_date=row.start_date,
            end_date=row.end_date,
            personnel_costs=row.personnel_costs,
            other_costs=row.other_costs,
            own_funds=row.own_funds,
            third_party_funds=row.third_party_funds,
            requested_grant=row.requested_grant,
            decl_not_started=bool(row.decl_not_started),
            decl_subsidy_facts=bool(row.decl_subsidy_facts),
            decl_privacy=bool(row.decl_privacy),
            decl_truthful=bool(row.decl_truthful),
            project_type=row.project_type or None,
        )

    @property
    def total_costs(self) -> int:
        return funding.total_costs(self.personnel_costs, self.other_costs)

    @property
    def co_funds(self) -> int:
        return self.own_funds + self.third_party_funds


@dataclass(frozen=True)
class CheckContext:
    """Facts from outside the application, filled by the calling job.

    ``submission_date`` is the calendar day of submission in Europe/Berlin.
    ``other_titles_same_org`` are the titles of the organisation's other applications in the
    same round (not this one).
    """

    submission_date: dt.date
    budget_left_cents: int
    other_titles_same_org: tuple[str, ...] = ()


# --- output -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    rule: str
    outcome: str
    message_de: str
    message_en: str

    def message(self, language: str) -> str:
        return self.message_en if language == "en" else self.message_de


@dataclass(frozen=True)
class Report:
    overall: str
    results: tuple[RuleResult, ...]
    rules_version: str = RULES_VERSION

    def result(self, rule: str) -> RuleResult:
        return next(r for r in self.results if r.rule == rule)

    def outcome(self, rule: str) -> str:
        return self.result(rule).outcome

    @property
    def failures(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.outcome == FAIL)

    @property
    def remarks(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.outcome == REMARK)


def overall_outcome(outcomes: Iterable[str]) -> str:
    """Any fail → not eligible; otherwise any remark → eligible with remarks."""
    outcomes = set(outcomes)
    if FAIL in outcomes:
        return NOT_ELIGIBLE
    if REMARK in outcomes:
        return ELIGIBLE_WITH_REMARKS
    return ELIGIBLE


# --- helpers ------------------------------------------------------------------------------


def _result(rule: str, outcome: str, msg: Callable[[str], str]) -> RuleResult:
    """``msg(language)`` writes the message; called once per language."""
    return RuleResult(rule=rule, outcome=outcome, message_de=msg("de"), message_en=msg("en"))


def _t(language: str, de: str, en: str) -> str:
    return en if language == "en" else de


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole calendar months, clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last_day))


def project_months(start: dt.date, end: dt.date) -> int:
    """Duration in calendar months, the end day included; a started month counts as whole.

    2026-01-01..2026-12-31 is 12 months, 2026-01-15..2027-01-14 is 12 and
    2026-01-15..2027-01-15 is 13. Returns 0 if the end is before the start.
    """
    if end < start:
        return 0
    after_end = end + dt.timedelta(days=1)
    months = (after_end.year - start.year) * 12 + after_end.month - start.month
    if add_months(start, months) < after_end:
        months += 1
    return months


def normalise_title(title: str) -> str:
    """Case, accents' composition, punctuation and spacing do not make a title different."""
    text = unicodedata.normalize("NFKC", title).casefold()
    text = re.sub(r"[\W_]+", " ", text)
    return " ".join(text.split())


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --- rules --------------------------------------------------------------------------------


def check_region(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    inside = [d for d in rnd.districts if d.ags in app.districts]
    neighbours = [d for d in rnd.neighbour_districts if d.ags in app.districts]

    def pointer(lang: str) -> str:
        # one sentence per neighbouring alliance, naming its districts
        sentences = []
        alliances = sorted({d.alliance(lang) for d in neighbours if d.alliance(lang)})
        for alliance in alliances:
            names = _join((d.name(lang) for d in neighbours if d.alliance(lang) == alliance), lang)
            sentences.append(
                _t(
                    lang,
                    f"{names} gehört zum Gebiet der {alliance}; für Projekte dort wenden Sie "
                    f"sich bitte an diese Allianz.",
                    f"{names} belongs to the area of the {alliance}; for projects there, "
                    f"please contact that alliance.",
                )
            )
        return " ".join(sentences)

    if inside:

        def msg(lang: str) -> str:
            names = _join((d.name(lang) for d in inside), lang)
            text = _t(
                lang,
                f"Das Projekt wird in der Förderregion durchgeführt ({names}).",
                f"The project takes place in the funding region ({names}).",
            )
            extra = pointer(lang)
            return f"{text} {extra}" if extra else text

        return _result("region", PASS, msg)

    def fail_msg(lang: str) -> str:
        region = _join((d.name(lang) for d in rnd.districts), lang)
        text = _t(
            lang,
            f"Das Projekt wird in keinem Landkreis der Förderregion durchgeführt. Gefördert "
            f"werden nur Projekte in: {region}.",
            f"The project does not take place in any district of the funding region. Only "
            f"projects in these districts can be funded: {region}.",
        )
        extra = pointer(lang)
        return f"{text} {extra}" if extra else text

    return _result("region", FAIL, fail_msg)


def check_applicant_type(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    names = LEGAL_FORM_NAMES.get(app.legal_form)
    if names is None:
        return _result(
            "applicant_type",
            REMARK,
            lambda lang: _t(
                lang,
                f"Die Rechtsform „{app.legal_form}“ ist unbekannt; die Geschäftsstelle prüft "
                f"die Antragsberechtigung.",
                f"The legal form “{app.legal_form}” is unknown; the network office will check "
                f"whether you may apply.",
            ),
        )
    form_de, form_en = names
    if app.legal_form in rnd.excluded_legal_forms:
        return _result(
            "applicant_type",
            FAIL,
            lambda lang: _t(
                lang,
                f"Mit der Rechtsform {form_de} ist kein Antrag möglich. Antragsberechtigt sind "
                f"juristische Personen des öffentlichen oder privaten Rechts und "
                f"Personengesellschaften.",
                f"Applicants with the legal form {form_en} cannot apply. Legal persons under "
                f"public or private law and partnerships may apply.",
            ),
        )
    return _result(
        "applicant_type",
        PASS,
        lambda lang: _t(
            lang,
            f"Die Rechtsform ({form_de}) ist antragsberechtigt.",
            f"The legal form ({form_en}) may apply.",
        ),
    )


def check_priority(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    known = [code for code in app.priorities if code in rnd.priority_codes]
    unknown = [code for code in app.priorities if code not in rnd.priority_codes]
    if known:
        return _result(
            "priority",
            PASS,
            lambda lang: _t(
                lang,
                f"Das Projekt bedient die Handlungsschwerpunkte {', '.join(known)}.",
                f"The project serves the thematic priorities {', '.join(known)}.",
            ),
        )

    def msg(lang: str) -> str:
        text = _t(
            lang,
            "Es ist kein Handlungsschwerpunkt der Förderrunde gewählt. Ein Projekt sollte "
            "mindestens einen Schwerpunkt bedienen; die Geschäftsstelle sieht sich das an.",
            "No thematic priority of the funding round is chosen. A project should serve at "
            "least one priority; the network office will look at this.",
        )
        if unknown:
            text += _t(
                lang,
                f" Die angegebenen Schwerpunkte ({', '.join(unknown)}) gehören nicht zu "
                f"dieser Förderrunde.",
                f" The priorities given ({', '.join(unknown)}) do not belong to this round.",
            )
        return text

    return _result("priority", REMARK, msg)


def check_funding_rate(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    basis = funding.rate_basis_cents(rnd.rate_basis, app.personnel_costs, app.other_costs)
    rate = rnd.funding_rate_percent
    max_grant = funding.grant_cap_cents(rate, rnd.rate_basis, app.personnel_costs, app.other_costs)
    ok = app.requested_grant <= max_grant

    def basis_name(lang: str) -> str:
        if rnd.rate_basis == "personnel":
            return _t(lang, "der Personalkosten", "of the personnel costs")
        return _t(lang, "der Gesamtkosten", "of the total costs")

    def msg(lang: str) -> str:
        grant = format_eur(app.requested_grant, lang)
        pct = format_percent(rate, lang)
        cap = format_eur(max_grant, lang)
        base = format_eur(basis, lang)
        if ok:
            return _t(
                lang,
                f"Der beantragte Zuschuss ({grant}) liegt innerhalb von {pct} "
                f"{basis_name(lang)} (höchstens {cap} bei {base}).",
                f"The requested grant ({grant}) is within {pct} {basis_name(lang)} "
                f"(at most {cap} of {base}).",
            )
        return _t(
            lang,
            f"Der beantragte Zuschuss ({grant}) übersteigt {pct} {basis_name(lang)} "
            f"({cap} bei {base}). Bitte verringern Sie den Zuschuss auf höchstens {cap}.",
            f"The requested grant ({grant}) exceeds {pct} {basis_name(lang)} "
            f"({cap} of {base}). Please reduce the grant to at most {cap}.",
        )

    return _result("funding_rate", PASS if ok else FAIL, msg)


def check_financing(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    total = app.total_costs
    funded = app.own_funds + app.third_party_funds + app.requested_grant
    gap = total - funded
    if total <= 0:
        return _result(
            "financing",
            FAIL,
            lambda lang: _t(
                lang,
                "Es sind keine Projektkosten angegeben (Personalkosten und sonstige Kosten "
                "sind 0,00 €).",
                "No project costs are given (personnel and other costs are €0.00).",
            ),
        )

    def msg(lang: str) -> str:
        eur = lambda cents: format_eur(cents, lang)  # noqa: E731
        if gap == 0:
            return _t(
                lang,
                f"Die Finanzierung ist ausgeglichen: Eigenmittel, Drittmittel und Zuschuss "
                f"decken die Gesamtkosten von {eur(total)}.",
                f"The financing is balanced: own funds, third-party funds and the grant "
                f"cover the total costs of {eur(total)}.",
            )
        parts = _t(
            lang,
            f"Eigenmittel ({eur(app.own_funds)}), Drittmittel ({eur(app.third_party_funds)}) "
            f"und Zuschuss ({eur(app.requested_grant)}) ergeben zusammen {eur(funded)}, die "
            f"Gesamtkosten betragen aber {eur(total)}.",
            f"own funds ({eur(app.own_funds)}), third-party funds "
            f"({eur(app.third_party_funds)}) and the grant ({eur(app.requested_grant)}) add up "
            f"to {eur(funded)}, but the total costs are {eur(total)}.",
        )
        if gap > 0:
            tail = _t(
                lang,
                f"Es fehlen {eur(gap)} in der Finanzierung.",
                f"The financing is {eur(gap)} short.",
            )
        else:
            tail = _t(
                lang,
                f"Die Finanzierung übersteigt die Kosten um {eur(-gap)}.",
                f"The financing exceeds the costs by {eur(-gap)}.",
            )
        head = _t(
            lang, "Die Finanzierung ist nicht ausgeglichen:", "The financing is not balanced:"
        )
        return f"{head} {parts} {tail}"

    return _result("financing", PASS if gap == 0 else FAIL, msg)


def check_co_financing(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    total = app.total_costs
    pct = rnd.co_financing_min_percent
    ok = app.co_funds * 100 >= pct * total
    # the smallest whole-cent amount that keeps the share
    needed = _ceil_div(pct * total, 100)

    def msg(lang: str) -> str:
        co = format_eur(app.co_funds, lang)
        need = format_eur(needed, lang)
        pct_s = format_percent(pct, lang)
        tot = format_eur(total, lang)
        if ok:
            return _t(
                lang,
                f"Der Eigen- und Drittmittelanteil ({co}) erreicht mindestens {pct_s} der "
                f"Gesamtkosten von {tot} (mindestens {need}).",
                f"Own and third-party funds ({co}) reach at least {pct_s} of the total costs "
                f"of {tot} (at least {need}).",
            )
        return _t(
            lang,
            f"Der Eigen- und Drittmittelanteil ({co}) ist zu niedrig: mindestens {pct_s} der "
            f"Gesamtkosten von {tot}, also {need}, müssen aus Eigen- oder Drittmitteln kommen.",
            f"Own and third-party funds ({co}) are too low: at least {pct_s} of the total "
            f"costs of {tot}, that is {need}, must come from own or third-party funds.",
        )

    return _result("co_financing", PASS if ok else FAIL, msg)


def check_period(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    start, end = app.start_date, app.end_date
    problems: list[Callable[[str], str]] = []
    fd = format_date
    if start <= ctx.submission_date:
        problems.append(
            lambda lang: _t(
                lang,
                f"Das Projekt beginnt am {fd(start, lang)} und damit nicht nach dem Tag der "
                f"Antragstellung ({fd(ctx.submission_date, lang)}). Ein Projekt darf erst nach "
                f"der Antragstellung beginnen (kein vorzeitiger Maßnahmebeginn).",
                f"The project starts on {fd(start, lang)}, which is not after the day the "
                f"application was submitted ({fd(ctx.submission_date, lang)}). A project may "
                f"only start after the application (no early start).",
            )
        )
    if start < rnd.funding_start:
        problems.append(
            lambda lang: _t(
                lang,
                f"Das Projekt beginnt am {fd(start, lang)}, vor dem Beginn des Förderzeitraums "
                f"am {fd(rnd.funding_start, lang)}.",
                f"The project starts on {fd(start, lang)}, before the funding period begins on "
                f"{fd(rnd.funding_start, lang)}.",
            )
        )
    if end > rnd.funding_end:
        problems.append(
            lambda lang: _t(
                lang,
                f"Das Projekt endet am {fd(end, lang)}, nach dem Ende des Förderzeitraums am "
                f"{fd(rnd.funding_end, lang)}.",
                f"The project ends on {fd(end, lang)}, after the funding period ends on "
                f"{fd(rnd.funding_end, lang)}.",
            )
        )
    if start >= end:
        problems.append(
            lambda lang: _t(
                lang,
                f"Das Projektende ({fd(end, lang)}) liegt nicht nach dem Projektbeginn "
                f"({fd(start, lang)}).",
                f"The project end ({fd(end, lang)}) is not after its start ({fd(start, lang)}).",
            )
        )
    if problems:
        return _result("period", FAIL, lambda lang: " ".join(p(lang) for p in problems))
    return _result(
        "period",
        PASS,
        lambda lang: _t(
            lang,
            f"Der Projektzeitraum ({fd(start, lang)} bis {fd(end, lang)}) liegt im "
            f"Förderzeitraum und beginnt nach der Antragstellung.",
            f"The project period ({fd(start, lang)} to {fd(end, lang)}) lies within the "
            f"funding period and starts after the application.",
        ),
    )


def _limits_for(app: ApplicationFacts, rnd: RoundRules) -> tuple[Limits, ProjectType | None, bool]:
    """(limits, project type, type missing?) — a round without types uses its defaults."""
    if not rnd.project_types:
        return rnd.default_limits, None, False
    ptype = rnd.project_type(app.project_type)
    if ptype is None:
        return rnd.default_limits, None, True
    return ptype.limits, ptype, False


def _for_whom(ptype: ProjectType | None, lang: str) -> str:
    if ptype is None:
        return _t(lang, "für Projekte dieser Förderrunde", "for projects of this funding round")
    return _t(lang, f"für die Projektart {ptype.name_de}", f"for the project type {ptype.name_en}")


def _missing_type_note(app: ApplicationFacts, rnd: RoundRules, lang: str) -> str:
    types = _join((t.name(lang) for t in rnd.project_types), lang)
    given = app.project_type or "–"
    return _t(
        lang,
        f"Es ist keine gültige Projektart gewählt (angegeben: {given}; möglich: {types}); "
        f"geprüft wurde gegen die allgemeinen Grenzen der Förderrunde.",
        f"No valid project type is chosen (given: {given}; possible: {types}); the general "
        f"limits of the funding round were applied.",
    )


def check_duration(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    limits, ptype, type_missing = _limits_for(app, rnd)
    if app.end_date <= app.start_date:
        return _result(
            "duration",
            REMARK,
            lambda lang: _t(
                lang,
                "Die Laufzeit lässt sich nicht bestimmen, weil das Projektende nicht nach dem "
                "Projektbeginn liegt.",
                "The duration cannot be determined because the project end is not after its start.",
            ),
        )
    months = project_months(app.start_date, app.end_date)
    over = limits.max_months is not None and months > limits.max_months

    def msg(lang: str) -> str:
        whom = _for_whom(ptype, lang)
        if limits.max_months is None:
            text = _t(
                lang,
                f"Die Laufzeit beträgt {_months(months, lang)}; eine Höchstdauer ist nicht "
                f"festgelegt.",
                f"The duration is {_months(months, lang)}; no maximum is set.",
            )
        else:
            actual_de = _months(months, lang, dative=True)
            limit_de = _months(limits.max_months, lang, dative=True)
            actual_en, limit_en = _months(months, lang), _months(limits.max_months, lang)
            if over:
                text = _t(
                    lang,
                    f"Die Laufzeit von {actual_de} überschreitet die übliche Höchstdauer von "
                    f"{limit_de} {whom}. Die Geschäftsstelle prüft, ob die längere Laufzeit "
                    f"begründet ist.",
                    f"The duration of {actual_en} exceeds the usual maximum of {limit_en} "
                    f"{whom}. The network office will check whether the longer duration is "
                    f"justified.",
                )
            else:
                text = _t(
                    lang,
                    f"Die Laufzeit von {actual_de} liegt innerhalb der Höchstdauer von "
                    f"{limit_de} {whom}.",
                    f"The duration of {actual_en} is within the maximum of {limit_en} {whom}.",
                )
        if type_missing:
            text += " " + _missing_type_note(app, rnd, lang)
        return text

    return _result("duration", REMARK if over or type_missing else PASS, msg)


def check_amount_limits(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    limits, ptype, type_missing = _limits_for(app, rnd)
    total = app.total_costs
    below = limits.min_total_cents is not None and total < limits.min_total_cents
    above = limits.max_total_cents is not None and total > limits.max_total_cents

    def msg(lang: str) -> str:
        tot = format_eur(total, lang)
        whom = _for_whom(ptype, lang)
        if below:
            text = _t(
                lang,
                f"Die Gesamtkosten ({tot}) liegen unter dem Mindestbetrag von "
                f"{format_eur(limits.min_total_cents, lang)} {whom}.",
                f"The total costs ({tot}) are below the minimum of "
                f"{format_eur(limits.min_total_cents, lang)} {whom}.",
            )
        elif above:
            text = _t(
                lang,
                f"Die Gesamtkosten ({tot}) liegen über dem Höchstbetrag von "
                f"{format_eur(limits.max_total_cents, lang)} {whom}.",
                f"The total costs ({tot}) are above the maximum of "
                f"{format_eur(limits.max_total_cents, lang)} {whom}.",
            )
        else:
            bounds = []
            if limits.min_total_cents is not None:
                bounds.append(
                    _t(lang, "mindestens ", "at least ") + format_eur(limits.min_total_cents, lang)
                )
            if limits.max_total_cents is not None:
                bounds.append(
                    _t(lang, "höchstens ", "at most ") + format_eur(limits.max_total_cents, lang)
                )
            if bounds:
                text = _t(
                    lang,
                    f"Die Gesamtkosten ({tot}) liegen innerhalb der Grenzen {whom} "
                    f"({_join(bounds, lang)}).",
                    f"The total costs ({tot}) are within the limits {whom} "
                    f"({_join(bounds, lang)}).",
                )
            else:
                text = _t(
                    lang,
                    f"Für die Gesamtkosten ({tot}) gelten keine Grenzen {whom}.",
                    f"No cost limits apply to the total costs ({tot}) {whom}.",
                )
        if type_missing:
            text += " " + _missing_type_note(app, rnd, lang)
        return text

    if below or above:
        outcome = FAIL
    elif type_missing:
        outcome = REMARK
    else:
        outcome = PASS
    return _result("amount_limits", outcome, msg)


def check_budget(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    if app.requested_grant <= ctx.budget_left_cents:
        return _result(
            "budget",
            PASS,
            lambda lang: _t(
                lang,
                "Die Förderrunde hat noch genügend Mittel für den beantragten Zuschuss.",
                "The funding round still has enough funds for the requested grant.",
            ),
        )
    return _result(
        "budget",
        REMARK,
        lambda lang: _t(
            lang,
            f"Der beantragte Zuschuss ({format_eur(app.requested_grant, lang)}) ist höher als "
            f"die noch verfügbaren Mittel der Förderrunde "
            f"({format_eur(max(ctx.budget_left_cents, 0), lang)}). Die Geschäftsstelle prüft, "
            f"ob und in welcher Höhe eine Förderung möglich ist.",
            f"The requested grant ({format_eur(app.requested_grant, lang)}) is higher than the "
            f"funds the round still has available "
            f"({format_eur(max(ctx.budget_left_cents, 0), lang)}). The network office will "
            f"check whether and to what extent funding is possible.",
        ),
    )


def check_declarations(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    missing = [name for name in DECLARATION_NAMES if not getattr(app, name)]
    if not missing:
        return _result(
            "declarations",
            PASS,
            lambda lang: _t(
                lang,
                "Alle erforderlichen Erklärungen wurden abgegeben.",
                "All required declarations were given.",
            ),
        )

    def msg(lang: str) -> str:
        if lang == "en":
            names = "; ".join(f"“{DECLARATION_NAMES[n][1]}”" for n in missing)
            return f"These required declarations are missing: {names}."
        names = "; ".join(f"„{DECLARATION_NAMES[n][0]}“" for n in missing)
        return f"Folgende erforderliche Erklärungen fehlen: {names}."

    return _result("declarations", FAIL, msg)


def check_duplicate(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext) -> RuleResult:
    own = normalise_title(app.title)
    best_ratio, best_title = -1.0, ""
    # sorted, and ties go to the first title, so the message never depends on input order
    for other in sorted(set(ctx.other_titles_same_org)):
        ratio = difflib.SequenceMatcher(None, own, normalise_title(other), autojunk=False).ratio()
        if ratio > best_ratio:
            best_ratio, best_title = ratio, other
    if best_title and best_ratio >= rnd.duplicate_title_similarity:
        return _result(
            "duplicate",
            REMARK,
            lambda lang: _t(
                lang,
                f"Ihre Organisation hat in dieser Förderrunde bereits einen Antrag mit fast "
                f"gleichem Titel gestellt („{best_title}“). Die Geschäftsstelle prüft, ob es "
                f"sich um einen doppelten Antrag handelt.",
                f"Your organisation has already submitted an application with an almost "
                f"identical title in this funding round (“{best_title}”). The network office "
                f"will check whether it is a duplicate.",
            ),
        )
    return _result(
        "duplicate",
        PASS,
        lambda lang: _t(
            lang,
            "Ihre Organisation hat in dieser Förderrunde keinen weiteren Antrag mit ähnlichem "
            "Titel gestellt.",
            "Your organisation has no other application with a similar title in this round.",
        ),
    )


def _region_words(rnd: RoundRules) -> tuple[str, ...]:
    """District names and their hyphen parts (e.g. Lüchow, Dannenberg) plus extra terms."""
    words: set[str] = set()
    for district in rnd.districts:
        for name in (district.name_de, district.name_en):
            words.add(name.casefold())
            words.update(p.casefold() for p in name.split("-") if len(p) >= 4)
    words.update(term.casefold() for term in rnd.regional_terms if term.strip())
    return tuple(sorted(words))


def check_regional_reference(
    app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext
) -> RuleResult:
    text = " ".join(app.regional_reference.split())
    length = len(text)
    minimum = rnd.regional_reference_min_chars
    too_short = length < minimum
    # substring match, so "Lüneburger" or "Landkreis Celle" count as naming the place
    folded = text.casefold()
    names_place = any(word in folded for word in _region_words(rnd))
    if not too_short and names_place:
        return _result(
            "regional_reference",
            PASS,
            lambda lang: _t(
                lang,
                "Der Regionalbezug ist ausreichend beschrieben.",
                "The regional reference is described sufficiently.",
            ),
        )

    def msg(lang: str) -> str:
        region = _join((d.name(lang) for d in rnd.districts), lang)
        short = _t(
            lang,
            f"ist mit {length} Zeichen sehr knapp (erwartet werden mindestens {minimum} Zeichen)",
            f"is very short at {length} characters (at least {minimum} are expected)",
        )
        nameless = _t(
            lang,
            f"nennt keinen Landkreis der Förderregion ({region})",
            f"names no district of the funding region ({region})",
        )
        problems = [p for p, bad in ((short, too_short), (nameless, not names_place)) if bad]
        return _t(
            lang,
            f"Die Beschreibung des Regionalbezugs {' und '.join(problems)}, so dass er sich "
            f"kaum beurteilen lässt. Die Geschäftsstelle sieht sich das an.",
            f"The description of the regional reference {' and '.join(problems)}, so it is "
            f"hard to judge. The network office will look at it.",
        )

    return _result("regional_reference", REMARK, msg)


CHECKS: dict[str, Callable[[ApplicationFacts, RoundRules, CheckContext], RuleResult]] = {
    "region": check_region,
    "applicant_type": check_applicant_type,
    "priority": check_priority,
    "funding_rate": check_funding_rate,
    "financing": check_financing,
    "co_financing": check_co_financing,
    "period": check_period,
    "duration": check_duration,
    "amount_limits": check_amount_limits,
    "budget": check_budget,
    "declarations": check_declarations,
    "duplicate": check_duplicate,
    "regional_reference": check_regional_reference,
}
assert tuple(CHECKS) == RULES


def evaluate(application: ApplicationFacts, rnd: RoundRules, context: CheckContext) -> Report:
    """Run every rule, in the fixed order of ``RULES``, and sum up the outcome."""
    results = tuple(check(application, rnd, context) for check in CHECKS.values())
    return Report(
        overall=overall_outcome(r.outcome for r in results),
        results=results,
        rules_version=RULES_VERSION,
    )
