"""Atomic commitment of a round's funds, and the figures of the budget page.

``commit_funds`` is one conditional UPDATE (``committed + amount <= budget``) inside the
transaction that funds the case: two staff members funding at the same moment cannot both pass
it, on SQLite (writers are serialised) and on PostgreSQL (the row lock makes the second UPDATE
re-evaluate its WHERE after the first commits). The CHECK constraint on ``funding_round`` is
the last line of defence.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select, update

from app import funding
from app.errors import UserError
from app.extensions import db
from app.formatting import money
from app.models import (
    FUNDED,
    INFO_REQUESTED,
    REVIEWED,
    SUBMITTED,
    Application,
    ApplicationDistrict,
    ApplicationPriority,
    FundingRound,
)

OPEN_STATES = (SUBMITTED, REVIEWED, INFO_REQUESTED)


class FundingError(UserError):
    """A granted amount the rules or the budget do not allow."""


def grant_limit_cents(application: Application) -> int:
    """The most the round's funding rate allows for this application."""
    rnd = application.round
    return funding.grant_cap_cents(
        rnd.funding_rate_percent,
        rnd.rate_basis,
        application.personnel_costs,
        application.other_costs,
    )


def check_grant(application: Application, granted_amount: int | None) -> None:
    """Raise ``FundingError`` unless 0 < granted ≤ requested and within the funding rate."""
    if granted_amount is None or isinstance(granted_amount, bool) or granted_amount <= 0:
        raise FundingError(_l("Bitte geben Sie einen bewilligten Betrag größer als 0 € an."))
    if granted_amount > application.requested_grant:
        raise FundingError(
            _l(
                "Der bewilligte Betrag darf den beantragten Zuschuss (%(requested)s) nicht "
                "übersteigen.",
                requested=money(application.requested_grant),
            )
        )
    limit = grant_limit_cents(application)
    if granted_amount > limit:
        raise FundingError(
            _l(
                "Der bewilligte Betrag übersteigt die Förderquote von %(rate)s %% "
                "(höchstens %(limit)s).",
                rate=application.round.funding_rate_percent,
                limit=money(limit),
            )
        )


def commit_funds(application: Application, amount: int) -> None:
    """Add ``amount`` to the round's committed funds, or raise and change nothing.

    Runs inside the caller's transaction; the caller rolls back on ``FundingError``.
    """
    table = FundingRound.__table__
    result = db.session.execute(
        update(table)
        .where(
            table.c.id == application.round_id,
            table.c.committed_cents + amount <= table.c.budget_cents,
        )
        .values(committed_cents=table.c.committed_cents + amount)
    )
    # The Core UPDATE bypasses the identity map: reload the figure on next access.
    rnd = db.session.get(FundingRound, application.round_id)
    db.session.expire(rnd, ["committed_cents"])
    if result.rowcount != 1:
        left = db.session.scalar(
            select(table.c.budget_cents - table.c.committed_cents).where(
                table.c.id == application.round_id
            )
        )
        raise FundingError(
            _l(
                "Das Budget der Förderrunde reicht nicht aus: Es sind nur noch %(left)s frei, "
                "beantragt war die Bewilligung von %(amount)s.",
                left=money(left or 0),
                amount=money(amount),
            )
        )


# --- budget page ------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetLine:
    key: str
    label: str
    committed_cents: int
    open_requested_cents: int
    funded_count: int
    open_count: int


@dataclass(frozen=True)
class BudgetOverview:
    round: FundingRound
    budget_cents: int
    committed_cents: int
    open_requested_cents: int
    open_count: int
    left_cents: int
    by_district: list[BudgetLine]
    by_priority: list[BudgetLine]

    @property
    def scale_cents(self) -> int:
        """The longest bar of the charts (never 0, so widths can be divided by it)."""
        values = [
            max(line.committed_cents, line.open_requested_cents)
            for line in (*self.by_district, *self.by_priority)
        ]
        return max([*values, 1])


def _sums(link_column, round_id: int) -> dict[str, tuple[int, int, int, int]]:
    """Committed and open-requested sums per district/priority code of one round."""
    is_funded = Application.state == FUNDED
    is_open = Application.state.in_(OPEN_STATES)
    stmt = (
        select(
            link_column,
            func.coalesce(func.sum(case((is_funded, Application.granted_amount), else_=0)), 0),
            func.coalesce(func.sum(case((is_open, Application.requested_grant), else_=0)), 0),
            func.count(case((is_funded, 1))),
            func.count(case((is_open, 1))),
        )
        .join(Application, Application.id == link_column.table.c.application_id)
        .where(Application.round_id == round_id)
        .group_by(link_column)
    )
    return {row[0]: tuple(int(v) for v in row[1:]) for row in db.session.execute(stmt)}


def overview(rnd: FundingRound, labels: dict[str, dict[str, str]]) -> BudgetOverview:
    """Budget, committed, requested in open cases and left: in total, per district, priority.

    ``labels`` maps "district"/"priority" codes to display names. A case in several districts
    (or priorities) counts fully in each, so those lines do not add up to the total.
    """
    open_sum, open_count = db.session.execute(
        select(
            func.coalesce(func.sum(Application.requested_grant), 0), func.count(Application.id)
        ).where(Application.round_id == rnd.id, Application.state.in_(OPEN_STATES))
    ).one()
    db.session.refresh(rnd, ["committed_cents", "budget_cents"])

    def lines(kind: str, column) -> list[BudgetLine]:
        sums = _sums(column, rnd.id)
        keys = list(labels[kind]) + sorted(k for k in sums if k not in labels[kind])
        return [
            BudgetLine(key, labels[kind].get(key, key), *sums.get(key, (0, 0, 0, 0)))
            for key in keys
        ]

    return BudgetOverview(
        round=rnd,
        budget_cents=rnd.budget_cents,
        committed_cents=rnd.committed_cents,
        open_requested_cents=int(open_sum),
        open_count=int(open_count),
        left_cents=rnd.remaining_cents,
        by_district=lines("district", ApplicationDistrict.ags),
        by_priority=lines("priority", ApplicationPriority.code),
    )
