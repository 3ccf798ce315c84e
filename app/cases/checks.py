"""Eligibility checks of a case: running the rule engine as a job, reading and overruling.

The rule engine itself (``app.eligibility``) is pure; this module feeds it from the database,
stores its report, records the emails the check causes and lets staff overrule a rule. Every
change writes an audit ``Event`` in the same transaction (the caller commits, except the job).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app import clock, eligibility
from app.cases.actionlinks import staff_links
from app.extensions import db
from app.jobs import job
from app.labels import RULE_OUTCOME_LABELS
from app.mail import compose
from app.mail.compose import APPLICANT, ELIGIBILITY_RESULT, STAFF, STAFF_NEW, Email
from app.models import (
    Application,
    EligibilityCheck,
    EligibilityResult,
    Event,
    Notification,
    User,
)

# What a finished check tells: the applicant its result; the staff, the first time a case is
# checked, that a new case is in (their notice carries the check's summary).
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
        .order_by(EligibilityCheck.checked_at.desc(), EligibilityCheck.id.desc())
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
            f"{result.rule}: {RULE_OUTCOME_LABELS.get(before, before)} → "
            f"{RULE_OUTCOME_LABELS.get(outcome, outcome)}. {result.override_comment}"
        ),
    )
    db.session.add(event)
    return event


# --- the check job ------------------------------------------------------------------------


def _existing_check(application_id: int, version: int) -> EligibilityCheck | None:
    return db.session.scalar(
        select(EligibilityCheck).filter_by(
            application_id=application_id,
            rules_version=eligibility.RULES_VERSION,
            application_version=version,
        )
    )


def check_context(application: Application) -> eligibility.CheckContext:
    """What the rules need from outside the application, read from the database."""
    funding_round = application.round
    other_titles = db.session.scalars(
        select(Application.title).where(
            Application.round_id == application.round_id,
            Application.id != application.id,
            func.lower(Application.org_name) == application.org_name.lower(),
        )
    ).all()
    return eligibility.CheckContext(
        submission_date=application.submitted_at.astimezone(clock.BERLIN).date(),
        budget_left_cents=funding_round.budget_cents - funding_round.committed_cents,
        other_titles_same_org=tuple(sorted(other_titles)),
    )


@job(queue="checks")
def check_eligibility(application_id: int) -> str:
    """Run the rule engine once per application, version of its data (an amendment is checked
    again) and rules version; store the report, set the case's summary and record the emails
    it causes, all in one transaction."""
    application = db.session.get(Application, application_id)
    if application is None:
        raise LookupError(f"application {application_id} does not exist")
    version = application.version
    if _existing_check(application_id, version) is not None:
        return "exists"
    report = eligibility.evaluate(
        eligibility.ApplicationFacts.from_model(application),
        eligibility.RoundRules.from_model(application.round),
        check_context(application),
    )
    check = EligibilityCheck(
        application_id=application.id,
        rules_version=report.rules_version,
        application_version=version,
        checked_at=clock.now(),
        overall=report.overall,
        results=[
            EligibilityResult(
                rule=r.rule, outcome=r.outcome, message_de=r.message_de, message_en=r.message_en
            )
            for r in report.results
        ],
    )
    db.session.add(check)
    application.eligibility_outcome = report.overall
    try:
        db.session.flush()
        _record_emails(application, check)
        db.session.commit()
    except IntegrityError:
        # Two runs raced; the unique (application, rules version) let only one through,
        # and its email came with it.
        db.session.rollback()
        if _existing_check(application_id, version) is not None:
            return "exists"
        raise
    return report.overall


def _rule_namer(language: str):
    def rule_name(rule: str) -> str:
        names = eligibility.RULE_NAMES.get(rule)
        if names is None:
            return rule
        return names[1] if language == "en" else names[0]

    return rule_name


def _record_emails(application: Application, check: EligibilityCheck) -> None:
    findings = [r for r in check.results if r.effective_outcome in ("remark", "fail")]
    context: dict[str, Any] = {"check": check, "findings": findings}
    already_told = db.session.scalar(
        select(func.count(Notification.id)).filter_by(application_id=application.id, kind=STAFF_NEW)
    )
    if not already_told:
        compose.record_all(
            application,
            FIRST_CHECK_EMAILS,
            links=staff_links(application),
            rule_name=_rule_namer(compose.STAFF_LANGUAGE),
            **context,
        )
    compose.record_all(
        application, RESULT_EMAILS, rule_name=_rule_namer(application.language), **context
    )
