"""Reviews of a case: asking reviewers, recording one review per reviewer and case (a unique
constraint backs the check), and reading them."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.errors import UserError
from app.extensions import db
from app.mail import compose
from app.models import SCORES, SUBMITTED, Application, Event, Review, ReviewRequest, User


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
        db.session.commit()
    except IntegrityError:
        # Two submissions at once: the unique constraint let only the first through.
        db.session.rollback()
        raise ReviewError(
            _l("Sie haben zu diesem Antrag bereits ein Gutachten abgegeben.")
        ) from None
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
