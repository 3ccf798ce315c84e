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


def declared_conflict(user: User, application: Application) -> bool:
    """Whether ``user`` declared a conflict of interest on the case."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    Review.application_id == application.id,
                    Review.reviewer_id == user.id,
                    Review.conflict_of_interest.is_(True),
                )
            )
        )
    )


def may_read_contents(user: User, application: Application) -> bool:
    """The case's contents (applicant, project, finances, eligibility report, attachment,
    other reviews) beyond its reference and title. A reviewer who declared a conflict of
    interest is out of the case from then on; staff run the office and read everything."""
    if not may_read_case(user, application):
        return False
    return user.is_staff or not declared_conflict(user, application)
