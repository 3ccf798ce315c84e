"""Eligibility checks of a case: running the rule engine (as a job, again on staff request,
and as a pre-check on unsent form data), reading the stored report and overruling rules.

The rule engine itself (``app.eligibility``) is pure; this module feeds it from the database,
stores its report with every message rendered in both languages, records the emails the first
check causes and lets staff overrule a rule. Every change writes an audit ``Event`` in the same
transaction (the caller commits, except the job).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app import clock, eligibility
from app.cases import findings as render
from app.cases import notices
from app.extensions import db
from app.jobs import job, outbox
from app.labels import OUTCOME_LABELS, RULE_OUTCOME_LABELS
from app.mail import compose
from app.mail.compose import APPLICANT, ELIGIBILITY_RESULT, STAFF, STAFF_NEW, Email
from app.models import (
    WITHDRAWN,
    Application,
    EligibilityCheck,
    EligibilityResult,
    Event,
    FundingRound,
    User,
)

# What a finished first check tells: the applicant its result; the staff that a new case is
# in (their notice carries the check's summary). A re-run by staff sends nothing.
RESULT_EMAILS = (Email(ELIGIBILITY_RESULT, APPLICANT),)
FIRST_CHECK_EMAILS = (Email(STAFF_NEW, STAFF),)


def latest_check(application: Application) -> EligibilityCheck | None:
    """The case's newest check with its results loaded, or None before the first check."""
    if application.id is None:
        return None
    return db.session.scalar(
        select(EligibilityCheck)
        .where(EligibilityCheck.application_id == application.id)
        .options(selectinload(EligibilityCheck.results))
        .order_by(EligibilityCheck.run.desc())
        .limit(1)
    )


def result_of_case(application: Application, result_id: int) -> EligibilityResult | None:
    """The rule result, only if it belongs to this case's latest check."""
    check = latest_check(application)
    if check is None:
        return None
    return next((r for r in check.results if r.id == result_id), None)


def overall_outcome(results: list[EligibilityResult]) -> str:
    """The case's eligibility after overrides: the engine's rule, on effective outcomes."""
    return eligibility.overall_outcome(r.effective_outcome for r in results)


def failed_results(application: Application) -> list[EligibilityResult]:
    """Rules of the latest check that still fail after staff overrides."""
    check = latest_check(application)
    if check is None:
        return []
    return [r for r in check.results if r.effective_outcome == eligibility.FAIL]


def override_rule(
    application: Application, result: EligibilityResult, outcome: str, comment: str, user: User
) -> Event:
    """Overrule one rule's outcome; recompute the case's eligibility; log it."""
    before = result.effective_outcome
    result.override_outcome = outcome
    result.override_comment = comment.strip()
    result.override_by_id = user.id
    result.override_at = clock.now()
    application.eligibility_outcome = overall_outcome(result.check.results)
    event = Event(
        application=application,
        actor_id=user.id,
        actor_label="staff",
        kind="override",
        comment=(
            f"{render.rule_name(result.rule)}: {RULE_OUTCOME_LABELS.get(before, before)} → "
            f"{RULE_OUTCOME_LABELS.get(outcome, outcome)}. {result.override_comment}"
        ),
    )
    db.session.add(event)
    return event


def override_summary(check: EligibilityCheck | None) -> str:
    """``rule: outcome → override (comment)`` for every overruled rule, for the export."""
    if check is None:
        return ""
    return "; ".join(
        f"{render.rule_name(r.rule)}: {RULE_OUTCOME_LABELS.get(r.outcome, r.outcome)} → "
        f"{RULE_OUTCOME_LABELS.get(r.override_outcome, r.override_outcome)} "
        f"({r.override_comment})"
        for r in check.results
        if r.override_outcome
    )


# --- what the rules need from the database ------------------------------------------------


def previous_round(funding_round: FundingRound) -> FundingRound | None:
    """The round that took applications before this one, if any."""
    return db.session.scalar(
        select(FundingRound)
        .where(FundingRound.applications_open < funding_round.applications_open)
        .order_by(FundingRound.applications_open.desc())
        .limit(1)
    )


@event.listens_for(Application.org_name, "set")
def _keep_org_key(application: Application, name: str | None, *_: Any) -> None:
    """Whenever the organisation's name is set (the submission, an amendment, anonymisation),
    store the name the duplicate rule compares."""
    application.org_key = eligibility.normalise_org_name(name or "")


def other_titles_same_org(application: Application) -> tuple[str, ...]:
    """Titles of the organisation's other applications that count for the duplicate rule:
    this round and the previous one, not withdrawn, the organisation's name compared with
    legal-form suffix, case and punctuation ignored (``org_key``, indexed: the query reads
    the organisation's applications, not the round's)."""
    rounds = [application.round_id]
    before = previous_round(application.round)
    if before is not None:
        rounds.append(before.id)
    titles = db.session.scalars(
        select(Application.title).where(
            Application.org_key == eligibility.normalise_org_name(application.org_name),
            Application.round_id.in_(rounds),
            Application.state != WITHDRAWN,
            Application.id != application.id,
        )
    ).all()
    return tuple(sorted(titles))


def check_context(application: Application) -> eligibility.CheckContext:
    """What the rules need from outside the application, read from the database."""
    funding_round = application.round
    return eligibility.CheckContext(
        submission_date=application.submitted_at.astimezone(clock.BERLIN).date(),
        budget_left_cents=funding_round.budget_cents - funding_round.committed_cents,
        other_titles_same_org=other_titles_same_org(application),
    )


def evaluate_case(application: Application) -> eligibility.Report:
    return eligibility.evaluate(
        eligibility.ApplicationFacts.from_model(application),
        eligibility.RoundRules.from_model(application.round),
        check_context(application),
    )


def precheck(funding_round: FundingRound, fields: dict[str, Any]) -> eligibility.Report:
    """The same rules on unsent form data (``ApplicationForm.application_fields()``), as of
    today. Reads the round only: no job, nothing written, other applications not looked at."""
    facts = eligibility.ApplicationFacts.from_model(SimpleNamespace(**fields))
    return eligibility.evaluate(
        facts,
        eligibility.RoundRules.from_model(funding_round),
        eligibility.CheckContext(
            submission_date=clock.today(),
            budget_left_cents=funding_round.remaining_cents,
            other_titles_same_org=None,
        ),
    )


# --- storing a check ----------------------------------------------------------------------


def _store(application: Application, report: eligibility.Report, run: int) -> EligibilityCheck:
    """Add the report as check ``run``, its messages rendered in both languages."""
    results = []
    for r, text in zip(report.results, render.report_messages(report), strict=True):
        results.append(
            EligibilityResult(
                rule=r.rule, outcome=r.outcome, message_de=text["de"], message_en=text["en"]
            )
        )
    check = EligibilityCheck(
        application_id=application.id,
        run=run,
        rules_version=report.rules_version,
        application_version=application.version,
        checked_at=clock.now(),
        overall=report.overall,
        results=results,
    )
    db.session.add(check)
    return check


def _carry_overrides(previous: EligibilityCheck | None, check: EligibilityCheck) -> None:
    """An override stays valid while the rule's own outcome is unchanged."""
    if previous is None:
        return
    old = {r.rule: r for r in previous.results if r.override_outcome}
    for result in check.results:
        before = old.get(result.rule)
        if before is not None and before.outcome == result.outcome:
            result.override_outcome = before.override_outcome
            result.override_comment = before.override_comment
            result.override_by_id = before.override_by_id
            result.override_at = before.override_at


def rerun_check(application: Application, user: User) -> EligibilityCheck:
    """Run the rules again (after an override, a correction or a rule change) as a new run;
    the earlier runs stay. Overrides of rules whose outcome did not change are kept. No email
    is sent; the applicant's status page shows the new findings. Caller commits."""
    previous = latest_check(application)
    run = (previous.run + 1) if previous is not None else 1
    report = evaluate_case(application)
    check = _store(application, report, run)
    db.session.flush()
    _carry_overrides(previous, check)
    application.eligibility_outcome = overall_outcome(check.results)
    db.session.add(
        Event(
            application=application,
            actor_id=user.id,
            actor_label="staff",
            kind="check_rerun",
            comment=(
                f"#{run} · {report.rules_version} · "
                f"{OUTCOME_LABELS.get(application.eligibility_outcome, '')}"
            ),
        )
    )
    return check


def _check_of_version(application_id: int, version: int) -> EligibilityCheck | None:
    return db.session.scalar(
        select(EligibilityCheck)
        .filter_by(application_id=application_id, application_version=version)
        .limit(1)
    )


@job(queue="checks")
def check_eligibility(application_id: int) -> str:
    """Check each version of a submitted application's data once: the first as submitted,
    again after every amendment (as the next run, overrides of unchanged outcomes kept).
    Store the report, set the case's summary and record the emails it causes, all in one
    transaction."""
    application = db.session.get(Application, application_id)
    if application is None:
        raise LookupError(f"application {application_id} does not exist")
    version = application.version
    if _check_of_version(application_id, version) is not None:
        return "exists"
    previous = latest_check(application)
    report = evaluate_case(application)
    check = _store(application, report, run=(previous.run + 1) if previous is not None else 1)
    try:
        db.session.flush()
        _carry_overrides(previous, check)
        application.eligibility_outcome = overall_outcome(check.results)
        _record_emails(application, check)
        outbox.finish_running_job()
        db.session.commit()
    except IntegrityError:
        # Two runs raced; the unique (application, run) let only one through, and its
        # email came with it.
        db.session.rollback()
        if _check_of_version(application_id, version) is not None:
            return "exists"
        raise
    return report.overall


def _record_emails(application: Application, check: EligibilityCheck) -> None:
    findings = [r for r in check.results if r.effective_outcome in ("remark", "fail")]
    context: dict[str, Any] = {"check": check, "findings": findings}
    if not notices.already_told(application, STAFF_NEW):
        # the staff email is written by app.cases.inbox, which reads the check by its id
        notices.record_all(application, FIRST_CHECK_EMAILS, facts={"check_id": check.id})
    compose.record_all(application, RESULT_EMAILS, rule_name=render.rule_name, **context)
