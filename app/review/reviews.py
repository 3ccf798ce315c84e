"""Recording reviews: one per reviewer and case (a unique constraint backs the check)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import SCORES, SUBMITTED, Application, Event, Review, User


class ReviewError(Exception):
    """A review that cannot be recorded; ``message`` is a lazy, translated text."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


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
