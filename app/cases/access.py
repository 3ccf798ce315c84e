"""Which cases a user may read in the review area (object-level check beside the role)."""

from __future__ import annotations

from sqlalchemy import exists, or_, select

from app.extensions import db
from app.models import SUBMITTED, Application, Review, ReviewRequest, User


def may_read_case(user: User, application: Application) -> bool:
    """Staff read every case; a reviewer the cases awaiting review and those they were asked
    about or reviewed. Anything else is another case's id in the URL: refused."""
    if user.is_staff:
        return True
    if user.role != "reviewer":
        return False
    if application.state == SUBMITTED:
        return True
    involved = select(
        or_(
            exists().where(
                ReviewRequest.application_id == application.id,
                ReviewRequest.reviewer_id == user.id,
            ),
            exists().where(Review.application_id == application.id, Review.reviewer_id == user.id),
        )
    )
    return bool(db.session.scalar(involved))
