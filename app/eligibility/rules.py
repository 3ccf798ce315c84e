"""The rule functions. Each is registered under the name the round files use; which rules
run for a round, how severe a broken rule is and with which parameters is the round's data
(``[rules.<name>]`` in ``app/programmes/<round>.toml``), never code.

A rule that is broken yields ``spec.severity`` (``fail`` or ``remark``, as the round says);
"a human must look" findings that are not the rule being broken are always remarks.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from fractions import Fraction

from dateutil.relativedelta import relativedelta

from app import funding
from app.eligibility.engine import (
    FAIL,
    N_,
    PASS,
    REMARK,
    ApplicationFacts,
    CheckContext,
    Date,
    Label,
    Limits,
    Message,
    Money,
    Months,
    Name,
    Names,
    Percent,
    ProjectType,
    RoundRules,
    RuleResult,
    RuleSpec,
    msg,
    result,
    rule,
)
from app.eligibility.postcodes import states_of_postcode

DECLARATION_FIELDS = ("decl_not_started", "decl_subsidy_facts", "decl_privacy", "decl_truthful")
LOWER_SAXONY = "NI"


# --- helpers ------------------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole calendar months, clamped to the end of a shorter month."""
    return day + relativedelta(months=months)


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


# Legal-form suffixes that do not make an organisation a different one (after normalising).
_LEGAL_SUFFIXES = (
    "ggmbh",
    "gmbh co kg",
    "gmbh",
    "ug haftungsbeschränkt",
    "ug",
    "ag",
    "eg",
    "e v",
    "ev",
    "e k",
    "kg",
    "ohg",
    "gbr",
    "mbh",
)
_SUFFIX_RE = re.compile(r"(?:\s+(?:" + "|".join(re.escape(s) for s in _LEGAL_SUFFIXES) + r"))+$")


def normalise_org_name(name: str) -> str:
    """``Bildungswerk Heide e. V.`` and ``bildungswerk heide eV`` are the same organisation:
    case, punctuation, spacing and a trailing legal-form suffix are ignored."""
    text = normalise_title(name)
    # "e. V." became "e v" above; join the common dotted abbreviations before stripping
    return _SUFFIX_RE.sub("", text).strip() or text


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _outcome(broken: bool, spec: RuleSpec) -> str:
    return spec.severity if broken else PASS


def _district_names(districts) -> Names:
    return Names(tuple(d.name for d in districts))


# --- region and applicant -----------------------------------------------------------------


def _neighbour_note(neighbours) -> list[Message]:
    notes = []
    alliances = []
    for d in neighbours:
        if d.alliance is not None and d.alliance not in alliances:
            alliances.append(d.alliance)
    for alliance in alliances:
        names = _district_names(d for d in neighbours if d.alliance == alliance)
        notes.append(
            msg(
                N_(
                    "%(districts)s gehört zum Gebiet der %(alliance)s; für Projekte dort wenden "
                    "Sie sich bitte an diese Allianz."
                ),
                districts=names,
                alliance=alliance,
            )
        )
    return notes


def _joined(*messages: Message) -> Message:
    """Several sentences as one message (rendered one after the other)."""
    messages = tuple(m for m in messages if m is not None)
    if len(messages) == 1:
        return messages[0]
    return Message("", tuple((f"s{i}", m) for i, m in enumerate(messages)))


@rule("region")
def check_region(app: ApplicationFacts, rnd: RoundRules, ctx: CheckContext, spec: RuleSpec):
    inside = [d for d in rnd.districts if d.ags in app.districts]
    neighbours = [d for d in rnd.neighbour_districts if d.ags in app.districts]
    notes = _neighbour_note(neighbours)
    if inside:
        text = msg(
            N_("Das Projekt wird in der Förderregion durchgeführt (%(districts)s)."),
            districts=_district_names(inside),
        )
        return result(spec, PASS, _joined(text, *notes), "districts")
    text = msg(
        N_(
            "Das Projekt wird in keinem Landkreis der Förderregion durchgeführt. Gefördert "
            "werden nur Projekte in: %(districts)s."
        ),
        districts=_district_names(rnd.districts),
    )
    return result(spec, spec.severity, _joined(text, *notes), "districts")


@rule("applicant_type")
def check_applicant_type(app, rnd, ctx, spec):
    excluded = tuple(spec.param("excluded_legal_forms", ("natuerliche_person",)))
    known = tuple(spec.param("known_legal_forms", ()))
    form = Label("legal_form", app.legal_form)
    if known and app.legal_form not in known:
        return result(
            spec,
            REMARK,
            msg(
                N_(
                    "Die Rechtsform „%(code)s“ ist unbekannt; die Geschäftsstelle prüft die "
                    "Antragsberechtigung."
                ),
                code=app.legal_form,
            ),
            "legal_form",
        )
    if app.legal_form in excluded:
        return result(
            spec,
            spec.severity,
            msg(
                N_(
                    "Mit der Rechtsform „%(form)s“ ist kein Antrag möglich. Antragsberechtigt "
                    "sind juristische Personen des öffentlichen oder privaten Rechts und "
                    "Personengesellschaften."
                ),
                form=form,
            ),
            "legal_form",
        )
    return result(
        spec,
        PASS,
        msg(N_("Die Rechtsform „%(form)s“ ist antragsberechtigt."), form=form),
        "legal_form",
    )


@rule("site_lower_saxony")
def check_site_lower_saxony(app, rnd, ctx, spec):
    if app.site_in_lower_saxony is None:
        return result(
            spec,
            REMARK,
            msg(
                N_(
                    "Der Antrag enthält keine Angabe zu Sitz oder Niederlassung in "
                    "Niedersachsen; die Geschäftsstelle fragt nach."
                )
            ),
            "site_in_lower_saxony",
        )
    if not app.site_in_lower_saxony:
        return result(
            spec,
            spec.severity,
            msg(
                N_(
                    "Ihre Organisation hat nach Ihren Angaben weder Sitz noch Niederlassung in "
                    "Niedersachsen. Antragsberechtigt sind nur Antragsteller mit Sitz oder "
                    "Niederlassung in Niedersachsen."
                )
            ),
            "site_in_lower_saxony",
        )
    states = states_of_postcode(app.postcode)
    # a range shared by several states (or an unknown code) gives no finding
    if len(states) == 1 and LOWER_SAXONY not in states:
        return result(
            spec,
            REMARK,
            msg(
                N_(
                    "Die angegebene Postleitzahl %(postcode)s liegt nicht in Niedersachsen. "
                    "Bitte nennen Sie der Geschäftsstelle Ihren Sitz oder Ihre Niederlassung "
                    "in Niedersachsen."
                ),
                postcode=app.postcode,
            ),
            "postcode",
        )
    return result(
        spec,
        PASS,
        msg(N_("Ihre Organisation hat Sitz oder Niederlassung in Niedersachsen.")),
        "site_in_lower_saxony",
    )


@rule("priority")
def check_priority(app, rnd, ctx, spec):
    known = [code for code in app.priorities if code in rnd.priority_codes]
    unknown = [code for code in app.priorities if code not in rnd.priority_codes]
    if known:
        return result(
            spec,
            PASS,
            msg(
                N_("Das Projekt bedient die Handlungsschwerpunkte %(codes)s."),
                codes=Names(tuple(known)),
            ),
            "priorities",
        )
    text = msg(
        N_(
            "Es ist kein Handlungsschwerpunkt der Förderrunde gewählt. Ein Projekt sollte "
            "mindestens einen Schwerpunkt bedienen; die Geschäftsstelle sieht sich das an."
        )
    )
    extra = None
    if unknown:
        extra = msg(
            N_("Die angegebenen Schwerpunkte (%(codes)s) gehören nicht zu dieser Förderrunde."),
            codes=Names(tuple(unknown)),
        )
    return result(spec, spec.severity, _joined(text, extra), "priorities")


# --- money --------------------------------------------------------------------------------


@rule("funding_rate")
def check_funding_rate(app, rnd, ctx, spec):
    basis = funding.rate_basis_cents(rnd.rate_basis, app.personnel_costs, app.other_costs)
    rate = rnd.funding_rate_percent
    cap = funding.grant_cap_cents(rate, rnd.rate_basis, app.personnel_costs, app.other_costs)
    ok = app.requested_grant <= cap
    params = dict(
        grant=Money(app.requested_grant),
        rate=Percent(Fraction(rate, 100)),
        cap=Money(cap),
        basis=Money(basis),
    )
    if basis > 0:
        params["share"] = Percent(Fraction(app.requested_grant, basis))
    if ok:
        if rnd.rate_basis == funding.PERSONNEL:
            text = N_(
                "Der beantragte Zuschuss (%(grant)s) liegt innerhalb von %(rate)s der "
                "Personalausgaben (höchstens %(cap)s bei %(basis)s)."
            )
        else:
            text = N_(
                "Der beantragte Zuschuss (%(grant)s) liegt innerhalb von %(rate)s der "
                "zuwendungsfähigen Gesamtausgaben (höchstens %(cap)s bei %(basis)s)."
            )
        return result(spec, PASS, msg(text, **params), "requested_grant")
    if basis <= 0:
        text = N_(
            "Ein Zuschuss (%(grant)s) ist nicht möglich, weil die Bemessungsgrundlage "
            "%(basis)s beträgt; gefördert werden höchstens %(rate)s davon."
        )
    elif rnd.rate_basis == funding.PERSONNEL:
        text = N_(
            "Der beantragte Zuschuss (%(grant)s) entspricht %(share)s der Personalausgaben "
            "(%(basis)s); gefördert werden höchstens %(rate)s, also %(cap)s. Bitte verringern "
            "Sie den Zuschuss auf höchstens %(cap)s."
        )
    else:
        text = N_(
            "Der beantragte Zuschuss (%(grant)s) entspricht %(share)s der zuwendungsfähigen "
            "Gesamtausgaben (%(basis)s); gefördert werden höchstens %(rate)s, also %(cap)s. "
            "Bitte verringern Sie den Zuschuss auf höchstens %(cap)s."
        )
    return result(spec, spec.severity, msg(text, **params), "requested_grant")


@rule("financing")
def check_financing(app, rnd, ctx, spec):
    total = app.total_costs
    funded = app.own_funds + app.third_party_funds + app.requested_grant
    gap = total - funded
    if total <= 0:
        return result(
            spec,
            spec.severity,
            msg(N_("Es sind keine Projektausgaben angegeben (Personal- und Sachausgaben sind 0).")),
            "personnel_costs",
        )
    if gap == 0:
        return result(
            spec,
            PASS,
            msg(
                N_(
                    "Die Finanzierung ist ausgeglichen: Eigenmittel, Drittmittel und Zuschuss "
                    "decken die Gesamtausgaben von %(total)s."
                ),
                total=Money(total),
            ),
            "own_funds",
        )
    params = dict(
        own=Money(app.own_funds),
        third=Money(app.third_party_funds),
        grant=Money(app.requested_grant),
        funded=Money(funded),
        total=Money(total),
        gap=Money(abs(gap)),
    )
    if gap > 0:
        text = N_(
            "Die Finanzierung ist nicht ausgeglichen: Eigenmittel (%(own)s), Drittmittel "
            "(%(third)s) und Zuschuss (%(grant)s) ergeben zusammen %(funded)s, die "
            "Gesamtausgaben betragen aber %(total)s. Es fehlen %(gap)s in der Finanzierung."
        )
    else:
        text = N_(
            "Die Finanzierung ist nicht ausgeglichen: Eigenmittel (%(own)s), Drittmittel "
            "(%(third)s) und Zuschuss (%(grant)s) ergeben zusammen %(funded)s, die "
            "Gesamtausgaben betragen aber %(total)s. Die Finanzierung übersteigt die Ausgaben "
            "um %(gap)s."
        )
    return result(spec, spec.severity, msg(text, **params), "own_funds")


@rule("co_financing")
def check_co_financing(app, rnd, ctx, spec):
    total = app.total_costs
    pct = rnd.co_financing_min_percent
    ok = app.co_funds * 100 >= pct * total
    needed = _ceil_div(pct * total, 100)  # the smallest whole-cent amount that keeps the share
    params = dict(
        co=Money(app.co_funds),
        needed=Money(needed),
        pct=Percent(Fraction(pct, 100)),
        total=Money(total),
    )
    if ok:
        text = N_(
            "Der Eigen- und Drittmittelanteil (%(co)s) erreicht mindestens %(pct)s der "
            "Gesamtausgaben von %(total)s (mindestens %(needed)s)."
        )
        return result(spec, PASS, msg(text, **params), "own_funds")
    text = N_(
        "Der Eigen- und Drittmittelanteil (%(co)s) ist niedriger als %(pct)s der Gesamtausgaben "
        "von %(total)s, also %(needed)s. Die Geschäftsstelle prüft die Kofinanzierung."
    )
    return result(spec, spec.severity, msg(text, **params), "own_funds")


@rule("other_costs_flat_rate")
def check_other_costs_flat_rate(app, rnd, ctx, spec):
    pct = int(spec.param("flat_rate_percent", 40))
    limit = pct * app.personnel_costs // 100
    params = dict(
        other=Money(app.other_costs),
        pct=Percent(Fraction(pct, 100)),
        personnel=Money(app.personnel_costs),
        limit=Money(limit),
    )
    if app.other_costs * 100 <= pct * app.personnel_costs:
        text = N_(
            "Die Sachausgaben (%(other)s) liegen innerhalb der Pauschale von %(pct)s der "
            "Personalausgaben (%(limit)s)."
        )
        return result(spec, PASS, msg(text, **params), "other_costs")
    text = N_(
        "Die Sachausgaben (%(other)s) übersteigen %(pct)s der Personalausgaben (%(limit)s). "
        "Vergleichbare ESF+-Richtlinien decken Sachausgaben mit dieser Pauschale ab; die "
        "Geschäftsstelle prüft die Sachausgaben."
    )
    return result(spec, spec.severity, msg(text, **params), "other_costs")


@rule("cost_plan")
def check_cost_plan(app, rnd, ctx, spec):
    plan = app.cost_plan
    if not plan:
        return result(
            spec,
            spec.severity,
            msg(N_("Der Antrag enthält keinen Kostenplan nach Kalenderjahren.")),
            "cost_plan",
        )
    personnel = sum(y.personnel_costs for y in plan)
    other = sum(y.other_costs for y in plan)
    problems = []
    if personnel != app.personnel_costs:
        problems.append(
            msg(
                N_("Die Personalausgaben der Jahre ergeben %(plan)s, angegeben sind %(entered)s."),
                plan=Money(personnel),
                entered=Money(app.personnel_costs),
            )
        )
    if other != app.other_costs:
        problems.append(
            msg(
                N_("Die Sachausgaben der Jahre ergeben %(plan)s, angegeben sind %(entered)s."),
                plan=Money(other),
                entered=Money(app.other_costs),
            )
        )
    outside = [y.year for y in plan if not app.start_date.year <= y.year <= app.end_date.year]
    if outside:
        problems.append(
            msg(
                N_("Die Jahre %(years)s liegen außerhalb der Projektlaufzeit."),
                years=Names(tuple(str(y) for y in outside)),
            )
        )
    if problems:
        return result(spec, spec.severity, _joined(*problems), "cost_plan")
    return result(
        spec,
        PASS,
        msg(N_("Der Kostenplan nach Jahren stimmt mit den Gesamtbeträgen überein.")),
        "cost_plan",
    )


@rule("de_minimis")
def check_de_minimis(app, rnd, ctx, spec):
    ceiling = int(spec.param("ceiling_cents"))
    if not app.de_minimis_undertaking:
        return result(
            spec,
            PASS,
            msg(N_("Die De-minimis-Obergrenze betrifft den Antrag nicht (kein Unternehmen).")),
            "de_minimis_undertaking",
        )
    received = app.de_minimis_received or 0
    together = received + app.requested_grant
    params = dict(
        received=Money(received),
        grant=Money(app.requested_grant),
        together=Money(together),
        ceiling=Money(ceiling),
    )
    if together <= ceiling:
        text = N_(
            "Bisherige De-minimis-Beihilfen (%(received)s) und der beantragte Zuschuss "
            "(%(grant)s) liegen zusammen (%(together)s) innerhalb der Obergrenze von "
            "%(ceiling)s."
        )
        return result(spec, PASS, msg(text, **params), "de_minimis_received")
    text = N_(
        "Bisherige De-minimis-Beihilfen (%(received)s) und der beantragte Zuschuss (%(grant)s) "
        "ergeben zusammen %(together)s und übersteigen die Obergrenze von %(ceiling)s in drei "
        "Jahren. Die Geschäftsstelle prüft, ob und in welcher Höhe eine Förderung möglich ist."
    )
    return result(spec, spec.severity, msg(text, **params), "de_minimis_received")


@rule("budget")
def check_budget(app, rnd, ctx, spec):
    if app.requested_grant <= ctx.budget_left_cents:
        return result(
            spec,
            PASS,
            msg(N_("Die Förderrunde hat noch genügend Mittel für den beantragten Zuschuss.")),
            "requested_grant",
        )
    text = N_(
        "Der beantragte Zuschuss (%(grant)s) ist höher als die noch verfügbaren Mittel der "
        "Förderrunde (%(left)s). Die Geschäftsstelle prüft, ob und in welcher Höhe eine "
        "Förderung möglich ist."
    )
    return result(
        spec,
        spec.severity,
        msg(text, grant=Money(app.requested_grant), left=Money(max(ctx.budget_left_cents, 0))),
        "requested_grant",
    )


# --- time ---------------------------------------------------------------------------------


@rule("period")
def check_period(app, rnd, ctx, spec):
    start, end = app.start_date, app.end_date
    latest_end = rnd.funding_end
    problems: list[Message] = []
    if start <= ctx.submission_date:
        problems.append(
            msg(
                N_(
                    "Das Projekt beginnt am %(start)s und damit nicht nach dem Tag der "
                    "Antragstellung (%(submitted)s). Ein Projekt darf erst nach der "
                    "Antragstellung beginnen (kein vorzeitiger Maßnahmebeginn)."
                ),
                start=Date(start),
                submitted=Date(ctx.submission_date),
            )
        )
    if start < rnd.funding_start:
        problems.append(
            msg(
                N_(
                    "Das Projekt beginnt am %(start)s, vor dem Beginn des Förderzeitraums am "
                    "%(funding_start)s."
                ),
                start=Date(start),
                funding_start=Date(rnd.funding_start),
            )
        )
    if end > latest_end:
        problems.append(
            msg(
                N_(
                    "Das Projekt endet am %(end)s; die Ausgaben sind nur bis zum %(latest)s "
                    "förderfähig."
                ),
                end=Date(end),
                latest=Date(latest_end),
            )
        )
    if start >= end:
        problems.append(
            msg(
                N_("Das Projektende (%(end)s) liegt nicht nach dem Projektbeginn (%(start)s)."),
                end=Date(end),
                start=Date(start),
            )
        )
    if problems:
        field = "end_date" if end > latest_end and start > ctx.submission_date else "start_date"
        return result(spec, spec.severity, _joined(*problems), field)
    return result(
        spec,
        PASS,
        msg(
            N_(
                "Der Projektzeitraum (%(start)s bis %(end)s) beginnt nach der Antragstellung "
                "und endet spätestens am %(latest)s."
            ),
            start=Date(start),
            end=Date(end),
            latest=Date(latest_end),
        ),
        "start_date",
    )


def _limits_for(app: ApplicationFacts, rnd: RoundRules) -> tuple[Limits, ProjectType | None, bool]:
    """(limits, project type, type missing?) — a round without types uses its defaults."""
    if not rnd.project_types:
        return rnd.default_limits, None, False
    ptype = rnd.project_type(app.project_type)
    if ptype is None:
        return rnd.default_limits, None, True
    return ptype.limits, ptype, False


def _whom(ptype: ProjectType | None) -> Message:
    if ptype is None:
        return msg(N_("für Projekte dieser Förderrunde"))
    return msg(N_("für die Projektart „%(type)s“"), type=ptype.name)


def _missing_type_note(app: ApplicationFacts, rnd: RoundRules) -> Message:
    return msg(
        N_(
            "Es ist keine gültige Projektart gewählt (angegeben: %(given)s; möglich: "
            "%(types)s); geprüft wurde gegen die allgemeinen Grenzen der Förderrunde."
        ),
        given=app.project_type or "–",
        types=Names(tuple(t.name for t in rnd.project_types)),
    )


@rule("duration")
def check_duration(app, rnd, ctx, spec):
    limits, ptype, type_missing = _limits_for(app, rnd)
    if app.end_date <= app.start_date:
        return result(
            spec,
            REMARK,
            msg(
                N_(
                    "Die Laufzeit lässt sich nicht bestimmen, weil das Projektende nicht nach "
                    "dem Projektbeginn liegt."
                )
            ),
            "end_date",
        )
    months = project_months(app.start_date, app.end_date)
    over = limits.max_months is not None and months > limits.max_months
    if limits.max_months is None:
        text = msg(
            N_("Die Laufzeit beträgt %(months)s; eine Höchstdauer ist nicht festgelegt."),
            months=Months(months),
        )
    elif over:
        text = msg(
            N_(
                "Die Laufzeit beträgt %(months)s; die übliche Höchstdauer %(whom)s beträgt "
                "%(limit)s. Die Geschäftsstelle prüft, ob die längere Laufzeit begründet ist."
            ),
            months=Months(months),
            limit=Months(limits.max_months),
            whom=_whom(ptype),
        )
    else:
        text = msg(
            N_(
                "Die Laufzeit beträgt %(months)s und liegt innerhalb der üblichen Höchstdauer "
                "%(whom)s (%(limit)s)."
            ),
            months=Months(months),
            limit=Months(limits.max_months),
            whom=_whom(ptype),
        )
    if type_missing:
        text = _joined(text, _missing_type_note(app, rnd))
    outcome = spec.severity if over else (REMARK if type_missing else PASS)
    return result(spec, outcome, text, "end_date")


@rule("amount_limits")
def check_amount_limits(app, rnd, ctx, spec):
    limits, ptype, type_missing = _limits_for(app, rnd)
    total = app.total_costs
    below = limits.min_total_cents is not None and total < limits.min_total_cents
    above = limits.max_total_cents is not None and total > limits.max_total_cents
    whom = _whom(ptype)
    if below:
        text = msg(
            N_(
                "Die Gesamtausgaben (%(total)s) liegen unter dem Mindestbetrag von %(min)s "
                "%(whom)s."
            ),
            total=Money(total),
            min=Money(limits.min_total_cents),
            whom=whom,
        )
    elif above:
        text = msg(
            N_("Die Gesamtausgaben (%(total)s) liegen über dem Höchstbetrag von %(max)s %(whom)s."),
            total=Money(total),
            max=Money(limits.max_total_cents),
            whom=whom,
        )
    elif limits.min_total_cents is not None and limits.max_total_cents is not None:
        text = msg(
            N_(
                "Die Gesamtausgaben (%(total)s) liegen innerhalb der Grenzen %(whom)s "
                "(mindestens %(min)s, höchstens %(max)s)."
            ),
            total=Money(total),
            min=Money(limits.min_total_cents),
            max=Money(limits.max_total_cents),
            whom=whom,
        )
    elif limits.max_total_cents is not None:
        text = msg(
            N_(
                "Die Gesamtausgaben (%(total)s) liegen innerhalb des Höchstbetrags von %(max)s "
                "%(whom)s."
            ),
            total=Money(total),
            max=Money(limits.max_total_cents),
            whom=whom,
        )
    else:
        text = msg(
            N_("Für die Gesamtausgaben (%(total)s) gelten keine Grenzen %(whom)s."),
            total=Money(total),
            whom=whom,
        )
    if type_missing:
        text = _joined(text, _missing_type_note(app, rnd))
    outcome = spec.severity if below or above else (REMARK if type_missing else PASS)
    return result(spec, outcome, text, "personnel_costs")


# --- declarations, duplicates, text -------------------------------------------------------


@rule("declarations")
def check_declarations(app, rnd, ctx, spec):
    missing = [name for name in DECLARATION_FIELDS if not getattr(app, name)]
    if not missing:
        return result(
            spec,
            PASS,
            msg(N_("Alle erforderlichen Erklärungen wurden abgegeben.")),
            DECLARATION_FIELDS[0],
        )
    return result(
        spec,
        spec.severity,
        msg(
            N_("Folgende erforderliche Erklärungen fehlen: %(names)s."),
            names=Names(tuple(Label("field", n) for n in missing)),
        ),
        missing[0],
    )


@rule("duplicate")
def check_duplicate(app, rnd, ctx, spec):
    if ctx.other_titles_same_org is None:
        return None  # the pre-check does not look at other applications
    threshold = float(spec.param("title_similarity", 0.9))
    own = normalise_title(app.title)
    best_ratio, best_title = -1.0, ""
    # sorted, and ties go to the first title, so the message never depends on input order
    for other in sorted(set(ctx.other_titles_same_org)):
        ratio = difflib.SequenceMatcher(None, own, normalise_title(other), autojunk=False).ratio()
        if ratio > best_ratio:
            best_ratio, best_title = ratio, other
    if best_title and best_ratio >= threshold:
        return result(
            spec,
            spec.severity,
            msg(
                N_(
                    "Ihre Organisation hat bereits einen Antrag mit fast gleichem Titel gestellt "
                    "(„%(title)s“). Die Geschäftsstelle prüft, ob es sich um einen doppelten "
                    "Antrag handelt."
                ),
                title=best_title,
            ),
            "title",
        )
    return result(
        spec,
        PASS,
        msg(N_("Ihre Organisation hat keinen weiteren Antrag mit ähnlichem Titel gestellt.")),
        "title",
    )


def _region_words(rnd: RoundRules, terms) -> tuple[str, ...]:
    """District names and their hyphen parts (e.g. Lüchow, Dannenberg) plus extra terms."""
    words: set[str] = set()
    for district in rnd.districts:
        for name in (district.name.de, district.name.en):
            words.add(name.casefold())
            words.update(p.casefold() for p in name.split("-") if len(p) >= 4)
    words.update(term.casefold() for term in terms if term.strip())
    return tuple(sorted(words))


@rule("regional_reference")
def check_regional_reference(app, rnd, ctx, spec):
    text = " ".join(app.regional_reference.split())
    length = len(text)
    minimum = int(spec.param("min_chars", 200))
    too_short = length < minimum
    # substring match, so "Lüneburger" or "Landkreis Celle" count as naming the place
    folded = text.casefold()
    names_place = any(word in folded for word in _region_words(rnd, spec.param("terms", ())))
    if not too_short and names_place:
        return result(
            spec,
            PASS,
            msg(N_("Der Regionalbezug ist ausreichend beschrieben.")),
            "regional_reference",
        )
    problems = []
    if too_short:
        problems.append(
            msg(
                N_(
                    "Die Beschreibung des Regionalbezugs ist mit %(length)s Zeichen sehr knapp "
                    "(erwartet werden mindestens %(minimum)s Zeichen)."
                ),
                length=str(length),
                minimum=str(minimum),
            )
        )
    if not names_place:
        problems.append(
            msg(
                N_(
                    "Die Beschreibung des Regionalbezugs nennt keinen Landkreis der "
                    "Förderregion (%(districts)s)."
                ),
                districts=_district_names(rnd.districts),
            )
        )
    problems.append(msg(N_("Die Geschäftsstelle sieht sich das an.")))
    return result(spec, spec.severity, _joined(*problems), "regional_reference")


__all__ = [
    "FAIL",
    "PASS",
    "REMARK",
    "Name",
    "RuleResult",
    "add_months",
    "normalise_org_name",
    "normalise_title",
    "project_months",
]
