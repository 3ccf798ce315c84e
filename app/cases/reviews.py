"""Reviews of a case: asking reviewers, recording one review per reviewer and case (a unique
constraint backs the check), and reading them.

Recording one tells the staff (``app.cases.notices``): a review recorded, a conflict declared,
and, once every requested reviewer has answered, that all reviews are in."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.cases import notices
from app.errors import UserError
from app.extensions import db
from app.mail import compose
from app.mail.compose import REVIEW_CONFLICT, REVIEW_RECORDED, REVIEWS_COMPLETE, STAFF, Email
from app.models import SCORES, SUBMITTED, Application, Event, Review, ReviewRequest, User

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
    """Store the user's review (or conflict declaration) and an audit event, and commit."""
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


def reviews_of(application: Application) -> list[Review]:
    return list(
        db.session.scalars(
            select(Review)
            .where(Review.application_id == application.id)
            .options(selectinload(Review.reviewer))
            .order_by(Review.created_at, Review.id)
        )
    )


def request_reviews(application: Application, reviewers: list[User], by: User) -> list[User]:
    """Ask each named reviewer once; each new request emails the reviewer a link (the caller
    commits)."""
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
        compose.record(
            compose.REVIEW_REQUEST,
            application,
            reviewer.email,
            compose.STAFF_LANGUAGE,
            reviewer=reviewer,
            review_url=compose.absolute_url("review.case", case_id=application.id),
        )
        asked.append(reviewer)
    return asked
