"""Reading cases: the list query (filters, search, a whitelisted sort, shared by the page and
the exports) and everything the case page shows besides the application itself.

The list loads its rows with ``selectinload`` so a page costs the same few queries whether
the database holds ten cases or a hundred thousand.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.orm import selectinload

from app.cases.checks import latest_check
from app.cases.information import overdue_clause
from app.cases.reviews import overdue_clause as reviews_overdue_clause
from app.cases.reviews import reviews_of
from app.extensions import db
from app.models import (
    SEARCH_COLUMNS,
    SEARCH_TABLE,
    STATES,
    Application,
    ApplicationDistrict,
    ApplicationPriority,
    Event,
    Notification,
    ReviewRequest,
)
from app.paging import id_from

_SEARCH = table(SEARCH_TABLE, column("rowid"))

ELIGIBILITY_FILTERS = ("eligible", "remarks", "not_eligible", "pending")
SORTS = {
    "date": Application.submitted_at,
    "amount": Application.requested_grant,
    "state": Application.state,
    "reference": Application.reference,
}
DIRECTIONS = ("asc", "desc")


@dataclass(frozen=True)
class CaseFilter:
    """Validated case-list parameters (unknown values are simply ignored)."""

    round_id: int | None = None
    state: str | None = None
    eligibility: str | None = None
    district: str | None = None
    priority: str | None = None
    project_type: str | None = None
    q: str | None = None
    # only cases whose request for information is past its due date
    overdue: bool = False
    # only cases with a review past its due date
    overdue_reviews: bool = False
    sort: str = "date"
    direction: str = "desc"

    @classmethod
    def from_args(cls, args) -> CaseFilter:
        def pick(name: str, allowed=None) -> str | None:
            # NUL is in no stored text; FTS5 would read it as the end of the query
            value = (args.get(name) or "").replace("\x00", "").strip()
            if not value or (allowed is not None and value not in allowed):
                return None
            return value[:100]

        round_id = args.get("round", "")
        return cls(
            round_id=id_from(round_id),
            state=pick("state", STATES),
            eligibility=pick("eligibility", ELIGIBILITY_FILTERS),
            district=pick("district"),
            priority=pick("priority"),
            project_type=pick("project_type"),
            q=pick("q"),
            overdue=args.get("overdue") == "1",
            overdue_reviews=args.get("overdue_reviews") == "1",
            sort=pick("sort", SORTS) or "date",
            direction=pick("dir", DIRECTIONS) or "desc",
        )


def case_query(flt: CaseFilter) -> Select:
    """SELECT of the matching applications with what the list and exports display."""
    stmt = select(Application).options(
        selectinload(Application.district_links),
        selectinload(Application.priority_links),
        selectinload(Application.round),
    )
    if flt.round_id is not None:
        stmt = stmt.where(Application.round_id == flt.round_id)
    if flt.state:
        stmt = stmt.where(Application.state == flt.state)
    if flt.eligibility == "pending":
        stmt = stmt.where(Application.eligibility_outcome.is_(None))
    elif flt.eligibility:
        stmt = stmt.where(Application.eligibility_outcome == flt.eligibility)
    if flt.district:
        stmt = stmt.where(
            exists().where(
                ApplicationDistrict.application_id == Application.id,
                ApplicationDistrict.ags == flt.district,
            )
        )
    if flt.priority:
        stmt = stmt.where(
            exists().where(
                ApplicationPriority.application_id == Application.id,
                ApplicationPriority.code == flt.priority,
            )
        )
    if flt.project_type:
        stmt = stmt.where(Application.project_type == flt.project_type)
    if flt.overdue:
        stmt = stmt.where(overdue_clause())
    if flt.overdue_reviews:
        stmt = stmt.where(exists().where(reviews_overdue_clause()))
    if flt.q:
        stmt = stmt.where(_search(flt.q))
    column = SORTS[flt.sort]
    if flt.direction == "asc":
        return stmt.order_by(column.asc(), Application.id.asc())
    return stmt.order_by(column.desc(), Application.id.desc())


def _search(q: str) -> ColumnElement[bool]:
    """Substring search in reference, organisation and title, case-insensitive.

    On SQLite a term of three or more characters is looked up in the FTS5 trigram table
    (a phrase of trigrams is exactly a substring); on PostgreSQL the trigram GIN indexes on
    ``lower(col)`` serve the ``lower(col) LIKE lower(pattern)`` below (``icontains`` would
    render ILIKE there, which those indexes cannot serve). For a word that most cases
    contain the planner walks the newest-first index instead and stops after a page.
    Shorter terms scan, as before.
    """
    if len(q) >= 3 and db.engine.dialect.name == "sqlite":
        phrase = '"' + q.replace('"', '""') + '"'
        matches = (
            select(_SEARCH.c.rowid)
            .select_from(_SEARCH)
            .where(literal_column(SEARCH_TABLE).op("MATCH")(bindparam(None, phrase, unique=True)))
        )
        return Application.id.in_(matches)
    # what ``icontains(q, autoescape=True)`` renders on SQLite, on both databases
    escaped = q.replace("/", "//").replace("%", "/%").replace("_", "/_")
    pattern = func.lower(bindparam(None, f"%{escaped}%", unique=True))
    return or_(
        *(func.lower(getattr(Application, c)).like(pattern, escape="/") for c in SEARCH_COLUMNS)
    )


def case_context(application: Application) -> dict:
    """Everything the staff case page lists besides the application itself."""
    return {
        "check": latest_check(application),
        "check_runs": list(application.checks),
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
