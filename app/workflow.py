"""The case state machine: one transition table and the one function that applies it.

Nothing else changes ``Application.state``. ``apply_transition`` checks the table and the
transition's needs, writes the audit event and the notifications/outbox rows into the current
session; the caller commits (so everything lands in one transaction or not at all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import (
    FUNDED,
    REJECTED,
    REVIEWED,
    SUBMITTED,
    WITHDRAWN,
    Application,
    Event,
    Review,
    User,
)

APPLICANT, STAFF = "applicant", "staff"


class TransitionError(Exception):
    """A transition that is not allowed; ``message`` is a lazy, translated text."""

    def __init__(self, message, **params):
        super().__init__(str(message))
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[str | None, ...]
    target: str
    actor: str
    # who hears of it: "applicant" and/or "staff"
    tells: tuple[str, ...] = ()
    needs_reason: bool = False
    public_label: str = ""
    checks: tuple[Callable[[Application, dict], None], ...] = field(default=())


def _needs_review(application: Application, _params: dict) -> None:
    from flask_babel import lazy_gettext as _l

    count = db.session.scalar(
        select(func.count(Review.id)).where(
            Review.application_id == application.id, Review.conflict_of_interest.is_(False)
        )
    )
    if not count:
        raise TransitionError(_l("Zuerst muss mindestens ein Gutachten vorliegen."))


def _needs_valid_grant(application: Application, params: dict) -> None:
    from app.budget import check_grant

    check_grant(application, params.get("granted_amount"))


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("submit", (None,), SUBMITTED, APPLICANT, tells=(APPLICANT, STAFF)),
        Transition(
            "mark_reviewed",
            (SUBMITTED,),
            REVIEWED,
            STAFF,
            tells=(APPLICANT,),
            checks=(_needs_review,),
        ),
        Transition(
            "fund", (REVIEWED,), FUNDED, STAFF, tells=(APPLICANT,), checks=(_needs_valid_grant,)
        ),
        Transition(
            "reject",
            (SUBMITTED, REVIEWED),
            REJECTED,
            STAFF,
            tells=(APPLICANT,),
            needs_reason=True,
        ),
        Transition("reopen", (REVIEWED,), SUBMITTED, STAFF, needs_reason=True),
        Transition("withdraw", (SUBMITTED, REVIEWED), WITHDRAWN, APPLICANT, tells=(STAFF,)),
    )
}


def allowed_actions(application: Application, actor: str) -> list[Transition]:
    """Transitions the given kind of actor may try from the case's current state."""
    return [t for t in TRANSITIONS.values() if t.actor == actor and application.state in t.sources]


def apply_transition(
    application: Application,
    action: str,
    *,
    user: User | None = None,
    reason: str | None = None,
    granted_amount: int | None = None,
    status_token: str | None = None,
) -> Event:
    """Check and apply one transition inside the current transaction (caller commits).

    ``user`` is None for the applicant. ``status_token`` is the plain token of a new
    submission, only known during that request, for the receipt email. Raises
    ``TransitionError`` and changes nothing if the transition is not allowed.
    """
    from flask_babel import lazy_gettext as _l

    from app import notifications

    transition = TRANSITIONS.get(action)
    if transition is None:
        raise TransitionError(_l("Unbekannter Schritt."))
    if transition.actor == STAFF and (user is None or not user.is_staff):
        raise TransitionError(_l("Nur die Geschäftsstelle darf diesen Schritt ausführen."))
    if transition.actor == APPLICANT and user is not None:
        raise TransitionError(
            _l("Nur die Antragstellerin / der Antragsteller darf diesen Schritt ausführen.")
        )
    source = application.state if application in db.session and application.id else None
    if source not in transition.sources:
        raise TransitionError(_l("Dieser Schritt ist im aktuellen Status nicht möglich."))
    reason = (reason or "").strip() or None
    if transition.needs_reason and not reason:
        raise TransitionError(_l("Bitte geben Sie einen Grund an."))
    params = {"granted_amount": granted_amount, "reason": reason}
    for check in transition.checks:
        check(application, params)

    if source is not None:
        # Claim the case with a conditional UPDATE: of two concurrent transitions of the same
        # case (a double click, two staff members) the second changes no row and is refused,
        # so funds are never committed twice for one case.
        table = Application.__table__
        values = {"state": transition.target}
        if action == "fund":
            values["granted_amount"] = granted_amount  # CHECK: funded iff granted amount
        claimed = db.session.execute(
            update(table)
            .where(table.c.id == application.id, table.c.state == source)
            .values(values)
        ).rowcount
        if claimed != 1:
            raise TransitionError(
                _l("Der Antrag wurde inzwischen geändert. Bitte laden Sie die Seite neu.")
            )

    if action == "fund":
        from app.budget import commit_funds

        commit_funds(application, granted_amount)
        application.granted_amount = granted_amount

    application.state = transition.target
    if application.id is None:
        db.session.add(application)
        db.session.flush()
    event = Event(
        application=application,
        actor_id=user.id if user else None,
        actor_label="staff" if user else "applicant",
        kind="transition",
        from_state=source,
        to_state=transition.target,
        comment=reason,
        public=True,
    )
    db.session.add(event)
    db.session.flush()
    notifications.for_transition(application, transition, event, status_token=status_token)
    return event
