"""Job functions run by the worker. They take ids, load what they need, are idempotent and
raise on failure (RQ then retries with backoff; see app.outbox)."""

from __future__ import annotations

from rq import get_current_job
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import clock, notifications
from app.eligibility import RULES_VERSION, ApplicationFacts, CheckContext, RoundRules, evaluate
from app.extensions import db
from app.models import Application, EligibilityCheck, EligibilityResult


def _existing_check(application_id: int) -> EligibilityCheck | None:
    return db.session.scalar(
        select(EligibilityCheck).filter_by(
            application_id=application_id, rules_version=RULES_VERSION
        )
    )


def check_context(application: Application) -> CheckContext:
    """What the rules need from outside the application, read from the database."""
    funding_round = application.round
    other_titles = db.session.scalars(
        select(Application.title).where(
            Application.round_id == application.round_id,
            Application.id != application.id,
            func.lower(Application.org_name) == application.org_name.lower(),
        )
    ).all()
    return CheckContext(
        submission_date=application.submitted_at.astimezone(clock.BERLIN).date(),
        budget_left_cents=funding_round.budget_cents - funding_round.committed_cents,
        other_titles_same_org=tuple(sorted(other_titles)),
    )


def check_eligibility(application_id: int) -> str:
    """Run the rule engine once per application and rules version, store the report, set the
    case's summary and record the applicant's result email, all in one transaction."""
    if _existing_check(application_id) is not None:
        return "exists"
    application = db.session.get(Application, application_id)
    if application is None:
        raise LookupError(f"application {application_id} does not exist")
    report = evaluate(
        ApplicationFacts.from_model(application),
        RoundRules.from_model(application.round),
        check_context(application),
    )
    check = EligibilityCheck(
        application_id=application.id,
        rules_version=report.rules_version,
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
        notifications.for_eligibility_check(application, check)
        db.session.commit()
    except IntegrityError:
        # Two runs raced; the unique (application, rules version) let only one through,
        # and its email came with it.
        db.session.rollback()
        if _existing_check(application_id) is not None:
            return "exists"
        raise
    return report.overall


def send_notification(notification_id: int) -> str:
    """Deliver one recorded email (claim, send, mark); see app.notifications.deliver."""
    job = get_current_job()
    final_attempt = job is not None and not job.retries_left
    return notifications.deliver(notification_id, final_attempt=final_attempt)
