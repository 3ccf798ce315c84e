"""The rule engine: inputs, results and ``evaluate``. Pure: no Flask, no database, no clock.

A round's data file says which rules run, with which severity and parameters (see
``RoundRules.rules``); ``evaluate`` runs exactly those, in the file's order, through the
functions registered with ``@rule`` in ``app.eligibility.rules``. A rule returns a
``RuleResult`` whose message is a ``Message``: a gettext msgid plus typed parameters (money,
dates, percentages, names). ``app.cases.findings`` turns it into text in a language with
the catalogs and Babel, so no sentence of the engine exists as a German/English pair in code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from app import funding

if TYPE_CHECKING:  # the engine never needs the ORM at run time
    from app.models import Application, FundingRound

# Bump when a rule's logic or message changes; the round's rule data is hashed in beside it.
ENGINE_VERSION = "2026.2"

PASS, REMARK, FAIL = "pass", "remark", "fail"
SEVERITIES = (REMARK, FAIL)
# Same values as app.models.ELIGIBLE etc. (kept here so the engine imports no Flask code).
ELIGIBLE, ELIGIBLE_WITH_REMARKS, NOT_ELIGIBLE = "eligible", "remarks", "not_eligible"

OTHER_DISTRICT = "other"


def N_(msgid: str) -> str:
    """Marks a msgid for extraction (``pybabel -k N_``); translated only when rendered."""
    return msgid


# --- message parameters: typed, so rendering can format them per locale -------------------


@dataclass(frozen=True)
class Money:
    cents: int


@dataclass(frozen=True)
class Date:
    value: dt.date


@dataclass(frozen=True)
class Percent:
    """A share (0.7 is 70 %); shown with at most one decimal."""

    value: Fraction


@dataclass(frozen=True)
class Months:
    count: int


@dataclass(frozen=True)
class Name:
    """A name from a round's data file, which carries both languages."""

    de: str
    en: str


@dataclass(frozen=True)
class Label:
    """A display label of ``app.labels``: ``table`` is ``field``, ``legal_form`` or ``rule``."""

    table: str
    key: str


@dataclass(frozen=True)
class Names:
    """A list of names or labels, joined the way the language joins lists (``A, B und C``)."""

    items: tuple[Any, ...]


@dataclass(frozen=True)
class Message:
    msgid: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)


def msg(msgid: str, **params: Any) -> Message:
    return Message(msgid, tuple(sorted(params.items())))


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class District:
    ags: str
    name: Name
    # only for a neighbouring alliance's districts: the alliance to point applicants to
    alliance: Name | None = None

    @classmethod
    def from_data(cls, row: Mapping[str, Any]) -> District:
        alliance = None
        if row.get("alliance_de"):
            alliance = Name(row["alliance_de"], row.get("alliance_en") or row["alliance_de"])
        return cls(
            ags=str(row["ags"]),
            name=Name(row["name_de"], row.get("name_en") or row["name_de"]),
            alliance=alliance,
        )


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
    name: Name
    limits: Limits

    @classmethod
    def from_data(cls, row: Mapping[str, Any]) -> ProjectType:
        return cls(
            code=row["code"],
            name=Name(row["name_de"], row.get("name_en") or row["name_de"]),
            limits=Limits.from_data(row),
        )


@dataclass(frozen=True)
class RuleSpec:
    """One rule as a round's data file lists it: severity when broken, parameters, source."""

    name: str
    severity: str
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def param(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


# Keys of a ``[rules.<name>]`` table that are not parameters of the rule.
_SPEC_KEYS = ("severity", "source")


def rule_specs(data: Mapping[str, Any]) -> tuple[RuleSpec, ...]:
    """The ``[rules.*]`` tables of a round's data, in file order."""
    specs = []
    for name, table in (data.get("rules") or {}).items():
        params = {k: v for k, v in table.items() if k not in _SPEC_KEYS}
        specs.append(
            RuleSpec(
                name=name,
                severity=table.get("severity", FAIL),
                params=params,
                source=table.get("source", ""),
            )
        )
    return tuple(specs)


def _digest(values: Mapping[str, Any]) -> str:
    """Short hash of everything of a round the rules read, so a data change shows."""
    data = values.get("data") or {}
    relevant = {
        "columns": {
            key: values.get(key)
            for key in (
                "funding_rate_percent",
                "rate_basis",
                "co_financing_min_percent",
                "funding_start",
                "funding_end",
            )
        },
        "data": {
            key: data.get(key)
            for key in (
                "rules",
                "districts",
                "neighbour_districts",
                "priorities",
                "project_types",
                "default_limits",
            )
        },
    }
    text = json.dumps(relevant, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:8]


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
    rules: tuple[RuleSpec, ...] = ()
    neighbour_districts: tuple[District, ...] = ()
    priority_codes: tuple[str, ...] = ()
    project_types: tuple[ProjectType, ...] = ()
    default_limits: Limits = field(default_factory=Limits)
    data_digest: str = "00000000"

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
            rules=rule_specs(data),
            neighbour_districts=tuple(
                District.from_data(d) for d in data.get("neighbour_districts", [])
            ),
            priority_codes=tuple(
                item["code"] for group in data.get("priorities", []) for item in group["items"]
            ),
            project_types=tuple(ProjectType.from_data(t) for t in data.get("project_types", [])),
            default_limits=Limits.from_data(data.get("default_limits", {})),
            data_digest=_digest(values),
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

    @property
    def rules_version(self) -> str:
        """The engine's version and the round's rule data: a change of either shows."""
        return f"{ENGINE_VERSION}+{self.data_digest}"

    def project_type(self, code: str | None) -> ProjectType | None:
        return next((t for t in self.project_types if t.code == code), None)

    def spec(self, name: str) -> RuleSpec | None:
        return next((s for s in self.rules if s.name == name), None)


@dataclass(frozen=True)
class CostYear:
    year: int
    personnel_costs: int
    other_costs: int


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
    org_name: str = ""
    postcode: str = ""
    # None: not asked (applications from before the question existed)
    site_in_lower_saxony: bool | None = None
    cost_plan: tuple[CostYear, ...] | None = None
    de_minimis_undertaking: bool | None = None
    de_minimis_received: int | None = None

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
            org_name=row.org_name or "",
            postcode=row.postcode or "",
            site_in_lower_saxony=row.site_in_lower_saxony,
            cost_plan=cost_plan_from(row.cost_plan),
            de_minimis_undertaking=row.de_minimis_undertaking,
            de_minimis_received=row.de_minimis_received,
        )

    @property
    def total_costs(self) -> int:
        return funding.total_costs(self.personnel_costs, self.other_costs)

    @property
    def co_funds(self) -> int:
        return self.own_funds + self.third_party_funds


def cost_plan_from(rows: Iterable[Mapping[str, Any]] | None) -> tuple[CostYear, ...] | None:
    """The stored cost plan (JSON rows) as engine input; None when there is none."""
    if not rows:
        return None
    return tuple(
        sorted(
            (
                CostYear(int(r["year"]), int(r["personnel_costs"]), int(r["other_costs"]))
                for r in rows
            ),
            key=lambda c: c.year,
        )
    )


@dataclass(frozen=True)
class CheckContext:
    """Facts from outside the application, filled by the caller.

    ``submission_date`` is the calendar day of submission in Europe/Berlin (today, for the
    pre-check). ``other_titles_same_org`` are the titles of the same organisation's other
    applications that count (not withdrawn; this round and the previous one); ``None`` means
    unknown (the pre-check does not look at other applications), and the duplicate rule is
    then left out.
    """

    submission_date: dt.date
    budget_left_cents: int
    other_titles_same_org: tuple[str, ...] | None = ()


# --- output -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    rule: str
    outcome: str
    message: Message
    # the form field the finding is about (the pre-check links to it)
    field: str | None = None


@dataclass(frozen=True)
class Report:
    overall: str
    results: tuple[RuleResult, ...]
    rules_version: str

    def result(self, rule: str) -> RuleResult:
        return next(r for r in self.results if r.rule == rule)

    def outcome(self, rule: str) -> str:
        return self.result(rule).outcome

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(r.rule for r in self.results)

    @property
    def failures(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.outcome == FAIL)

    @property
    def remarks(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.outcome == REMARK)

    @property
    def findings(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.outcome != PASS)


def overall_outcome(outcomes: Iterable[str]) -> str:
    """Any fail → not eligible; otherwise any remark → eligible with remarks."""
    outcomes = set(outcomes)
    if FAIL in outcomes:
        return NOT_ELIGIBLE
    if REMARK in outcomes:
        return ELIGIBLE_WITH_REMARKS
    return ELIGIBLE


# --- the rule registry --------------------------------------------------------------------

RuleFunction = Callable[[ApplicationFacts, RoundRules, CheckContext, RuleSpec], "RuleResult | None"]
RULE_FUNCTIONS: dict[str, RuleFunction] = {}


def rule(name: str) -> Callable[[RuleFunction], RuleFunction]:
    """Register a rule function under the name the round files use."""

    def register(function: RuleFunction) -> RuleFunction:
        if name in RULE_FUNCTIONS:
            raise ValueError(f"rule {name} registered twice")
        RULE_FUNCTIONS[name] = function
        return function

    return register


def result(spec: RuleSpec, outcome: str, message: Message, field: str | None = None) -> RuleResult:
    return RuleResult(rule=spec.name, outcome=outcome, message=message, field=field)


def unknown_rules(specs: Iterable[RuleSpec]) -> list[str]:
    return [s.name for s in specs if s.name not in RULE_FUNCTIONS]


def evaluate(application: ApplicationFacts, rnd: RoundRules, context: CheckContext) -> Report:
    """Run the round's rules, in the order of its data file, and sum up the outcome.

    A rule function may return None for "cannot judge with what is known" (only the
    duplicate rule in the pre-check); such a rule is left out of the report.
    """
    results = []
    for spec in rnd.rules:
        outcome = RULE_FUNCTIONS[spec.name](application, rnd, context, spec)
        if outcome is not None:
            results.append(outcome)
    return Report(
        overall=overall_outcome(r.outcome for r in results),
        results=tuple(results),
        rules_version=rnd.rules_version,
    )
