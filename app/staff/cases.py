"""What the case page shows and the staff actions on it that are not state transitions.

Overrides of eligibility rules and reviewer requests write an audit ``Event`` in the same
transaction (the caller commits). State changes go through ``app.workflow`` only.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import clock, notifications, workflow
from app.extensions import db
from app.labels import RULE_OUTCOME_LABELS
from app.models import (
    ELIGIBLE,
    ELIGIBLE_WITH_REMARKS,
    NOT_ELIGIBLE,
    Application,
    EligibilityCheck,
    EligibilityResult,
    Event,
    Notification,
    Review,
    ReviewRequest,
    User,
)


def latest_check(application: Application) -> EligibilityCheck | None:
    return db.session.scalar(
        select(EligibilityCheck)
        .where(EligibilityCheck.application_id == application.id)
        .options(selectinload(EligibilityCheck.results))
        .order_by(EligibilityCheck.checked_at.desc(), EligibilityCheck.id.desc())
        .limit(1)
    )


def reviews_of(application: Application) -> list[Review]:
    return list(
        db.session.scalars(
            select(Review)
            .where(Review.application_id == application.id)
            .options(selectinload(Review.reviewer))
            .order_by(Review.created_at, Review.id)
        )
    )


def case_context(application: Application) -> dict:
    """Everything the staff case page lists besides the application itself."""
    return {
        "check": latest_check(application),
        "reviews": reviews_of(application),
        "review_requests": list(
            db.session.scalars(
                select(ReviewRequest)
                .where(ReviewRequest.application_id == application.id)
                .options(selectinload(ReviewRequest.reviewer))
                .order_by(ReviewRequest.requested_at)
            )
        ),
        "notifications": list(
            db.session.scalars(
                select(Notification)
                .where(Notification.application_id == application.id)
                .order_by(Notification.created_at, Notification.id)
            )
        ),
        "events": list(
            db.session.scalars(
                select(Event)
                .where(Event.application_id == application.id)
                .options(selectinload(Event.actor))
                .order_by(Event.at, Event.id)
            )
        ),
    }


def result_of_case(application: Application, result_id: int) -> EligibilityResult | None:
    """The rule result, only if it belongs to this case's latest check."""
    check = latest_check(application)
    if check is None:
        return None
    return next((r for r in check.results if r.id == result_id), None)


def overall_outcome(results: list[EligibilityResult]) -> str:
    outcomes = {r.effective_outcome for r in results}
    if "fail" in outcomes:
        return NOT_ELIGIBLE
    if "remark" in outcomes:
        return ELIGIBLE_WITH_REMARKS
    return ELIGIBLE


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


def request_reviews(application: Application, reviewers: list[User], by: User) -> list[User]:
    """Ask each named reviewer once; each new request emails the reviewer a link."""
    already = set(
        db.session.scalars(
            select(ReviewRequest.reviewer_id).where(ReviewRequest.application_id == application.id)
        )
    )
    asked = []
    for reviewer in reviewers:
        if reviewer.id in already or reviewer.role != "reviewer" or not reviewer.active:
            continue
        db.session.add(
            ReviewRequest(
                application_id=application.id, reviewer_id=reviewer.id, requested_by_id=by.id
            )
        )
        db.session.add(
            Event(
                application=application,
                actor_id=by.id,
                actor_label="staff",
                kind="review_requested",
                comment=reviewer.name or reviewer.email,
            )
        )
        notifications.review_request(application, reviewer)
        asked.append(reviewer)
    return asked


def email_preview(application: Application, action: str) -> list[tuple[str, str]]:
    """(kind, recipient) of every email the transition would send."""
    preview = getattr(notifications, "preview_for_transition", None)
    if preview is not None:
        return list(preview(application, action))
    # Fallback until the notification pipeline offers a preview: read the table's ``tells``.
    transition = workflow.TRANSITIONS[action]
    emails: list[tuple[str, str]] = []
    if workflow.APPLICANT in transition.tells:
        emails.append((action, application.contact_email))
    if workflow.STAFF in transition.tells:
        emails.extend((action, r) for r in current_app.config["STAFF_EMAILS"])
    return emails
