"""Reviews of a case: asking reviewers (with a due date and a reminder), recording one review
per reviewer and case (a unique constraint backs the check), editing it until the case is
decided, and reading them.

The reminder is a scheduled outbox row (``outbox.record(remind_reviewer, run_at=…)``), durable
like every job; it re-checks that the review is still missing and the case still waits."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app import clock
from app.cases import notices
from app.errors import UserError
from app.extensions import db
from app.jobs import job, outbox
from app.mail import compose
from app.mail.compose import REVIEW_CONFLICT, REVIEW_RECORDED, REVIEWS_COMPLETE, STAFF, Email
from app.models import (
    FINAL_STATES,
    SCORES,
    SUBMITTED,
    Application,
    Event,
    Review,
    ReviewRequest,
    User,
)

DEFAULT_DUE_DAYS = 14
REMINDER_DAYS_BEFORE = 2
REMINDER_HOUR = 8  # Berlin time

# What recording a review tells, to whom.
RECORDED_EMAILS = (Email(REVIEW_RECORDED, STAFF),)
CONFLICT_EMAILS = (Email(REVIEW_CONFLICT, STAFF),)
ALL_IN_EMAILS = (Email(REVIEWS_COMPLETE, STAFF),)


class ReviewError(UserError):
    """A review that cannot be recorded; ``message`` is a lazy, translated text."""


def review_of(application: Application, user: User) -> Review | None:
    return db.session.scalar(
        select(Review).where(Review.application_id == application.id, Review.reviewer_id == user.id)
    )


def record_review(
    application: Application,
    user: User,
    *,
    conflict: bool = False,
    recommendation: str | None = None,
    scores: dict[str, int] | None = None,
    comment: str | None = None,
) -> Review:
    """Store the user's review (or conflict declaration) and an audit event, and commit.

    A reviewer's existing review is changed instead, until the case is decided."""
    existing = review_of(application, user)
    if existing is not None and not conflict:
        return _update_review(application, existing, user, recommendation, scores, comment)
    if application.state != SUBMITTED:
        raise ReviewError(_l("Dieser Antrag wartet nicht mehr auf Gutachten."))
    # Serialise the reviews of one case (PostgreSQL; SQLite transactions are serial anyway),
    # so of two last reviews at once exactly one sees "all reviews in".
    db.session.execute(
        select(Application.id).where(Application.id == application.id).with_for_update()
    )
    if review_of(application, user) is not None:
        raise ReviewError(_l("Sie haben zu diesem Antrag bereits ein Gutachten abgegeben."))
    review = Review(
        application_id=application.id,
        reviewer_id=user.id,
        conflict_of_interest=conflict,
        recommendation=None if conflict else recommendation,
        comment=(comment or "").strip() or None,
    )
    if not conflict:
        for key in SCORES:
            setattr(review, key, (scores or {})[key])
    db.session.add(review)
    db.session.add(
        Event(
            application_id=application.id,
            actor_id=user.id,
            actor_label="reviewer",
            kind="review",
            comment=str(_l("Interessenkonflikt erklärt")) if conflict else None,
        )
    )
    try:
        db.session.flush()
        _tell_staff(application, review)
        db.session.commit()
    except IntegrityError:
        # Two submissions at once: the unique constraint let only the first through.
        db.session.rollback()
        raise ReviewError(
            _l("Sie haben zu diesem Antrag bereits ein Gutachten abgegeben.")
        ) from None
    return review


def all_requested_in(application: Application) -> bool:
    """Every requested reviewer has answered (a review or a conflict), and at least one real
    review exists. False while nobody was asked."""
    requested = set(
        db.session.scalars(
            select(ReviewRequest.reviewer_id).where(ReviewRequest.application_id == application.id)
        )
    )
    answered = {r.reviewer_id: r.conflict_of_interest for r in reviews_of(application)}
    if not requested or not requested <= set(answered):
        return False
    return any(not conflict for conflict in answered.values())


def _tell_staff(application: Application, review: Review) -> None:
    facts = {"review_id": review.id}
    complete = all_requested_in(application)
    if review.conflict_of_interest:
        notices.record_all(application, CONFLICT_EMAILS, facts=facts)
    elif not complete:
        notices.record_all(application, RECORDED_EMAILS, facts=facts)
    if complete:
        # the summary of every review includes this one: one email, not two
        notices.record_all(application, ALL_IN_EMAILS, facts=facts)


def _update_review(
    application: Application,
    review: Review,
    user: User,
    recommendation: str | None,
    scores: dict[str, int] | None,
    comment: str | None,
) -> Review:
    if application.state in FINAL_STATES:
        raise ReviewError(_l("Über den Antrag ist entschieden; das Gutachten ist abgeschlossen."))
    if review.conflict_of_interest:
        raise ReviewError(_l("Sie haben einen Interessenkonflikt erklärt."))
    review.recommendation = recommendation
    for key in SCORES:
        setattr(review, key, (scores or {})[key])
    review.comment = (comment or "").strip() or None
    review.updated_at = clock.now()
    db.session.add(
        Event(
            application_id=application.id,
            actor_id=user.id,
            actor_label="reviewer",
            kind="review_updated",
        )
    )
    db.session.commit()
    return review


def reviews_of(application: Application) -> list[Review]:
    return list(
        db.session.scalars(
            select(Review)
            .where(Review.application_id == application.id)
            .options(selectinload(Review.reviewer))
            .order_by(Review.created_at, Review.id)
        )
    )


def default_due_date() -> dt.date:
    return clock.today() + dt.timedelta(days=DEFAULT_DUE_DAYS)


def reminder_at(request: ReviewRequest) -> dt.datetime:
    """Two days before the due date, in the morning."""
    day = request.due_date - dt.timedelta(days=REMINDER_DAYS_BEFORE)
    return dt.datetime.combine(day, dt.time(REMINDER_HOUR), tzinfo=clock.BERLIN).astimezone(dt.UTC)


def overdue_clause():
    """SQL condition on ReviewRequest: due date passed, no review yet, case still waiting."""
    return and_(
        ReviewRequest.due_date < clock.today(),
        Application.id == ReviewRequest.application_id,
        Application.state == SUBMITTED,
        ~exists().where(
            Review.application_id == ReviewRequest.application_id,
            Review.reviewer_id == ReviewRequest.reviewer_id,
        ),
    )


def overdue_requests(application: Application) -> set[int]:
    """Ids of the case's review requests that are overdue."""
    return set(
        db.session.scalars(
            select(ReviewRequest.id)
            .join(Application, Application.id == ReviewRequest.application_id)
            .where(ReviewRequest.application_id == application.id, overdue_clause())
        )
    )


def request_reviews(
    application: Application,
    reviewers: list[User],
    by: User,
    due_date: dt.date | None = None,
) -> list[User]:
    """Ask each named reviewer once, by ``due_date`` (default 14 days); each new request
    emails the reviewer a link and schedules a reminder (the caller commits)."""
    due_date = due_date or default_due_date()
    already = set(
        db.session.scalars(
            select(ReviewRequest.reviewer_id).where(ReviewRequest.application_id == application.id)
        )
    )
    asked = []
    for reviewer in reviewers:
        if reviewer.id in already or reviewer.role != "reviewer" or not reviewer.active:
            continue
        request = ReviewRequest(
            application_id=application.id,
            reviewer_id=reviewer.id,
            requested_by_id=by.id,
            requested_at=clock.now(),
            due_date=due_date,
        )
        db.session.add(request)
        db.session.flush()
        if reminder_at(request) > clock.now():  # a short deadline needs no reminder
            outbox.record(
                remind_reviewer, run_at=reminder_at(request), review_request_id=request.id
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
        compose.record(
            compose.REVIEW_REQUEST,
            application,
            reviewer.email,
            compose.STAFF_LANGUAGE,
            reviewer=reviewer,
            review_url=compose.absolute_url("review.case", case_id=application.id),
            due_date=due_date,
        )
        asked.append(reviewer)
    return asked


@job(queue="emails")
def remind_reviewer(review_request_id: int) -> str:
    """Remind a reviewer whose review is still missing while the case waits for reviews."""
    request = db.session.get(ReviewRequest, review_request_id)
    if request is None or request.reminded_at is not None or request.due_date is None:
        return "skipped"
    application = request.application
    done = review_of(application, request.reviewer) is not None
    if done or application.state != SUBMITTED or not request.reviewer.active:
        return "skipped"
    when = reminder_at(request)
    if clock.now() < when:
        # ran early: wait for the right time in a new scheduled row
        outbox.record(remind_reviewer, run_at=when, review_request_id=review_request_id)
        db.session.commit()
        return "rescheduled"
    request.reminded_at = clock.now()
    compose.record(
        compose.REVIEW_REMINDER,
        application,
        request.reviewer.email,
        compose.STAFF_LANGUAGE,
        reviewer=request.reviewer,
        review_url=compose.absolute_url("review.case", case_id=application.id),
        due_date=request.due_date,
    )
    db.session.commit()
    return "sent"
