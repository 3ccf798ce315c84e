"""The case state machine: one transition table that declares every side effect, and the one
function that applies it.

Nothing else changes ``Application.state``. Each ``Transition`` says who may take it, from
where to where, what it needs (checks), what it causes in the same transaction (effects such
as committing funds), which emails it sends to whom and which background jobs it starts.
``apply_transition`` checks and applies exactly that, writing the audit event, the email rows
and the outbox rows into the current session; the caller commits, so everything lands in one
transaction or not at all. ``preview`` reads the same declaration, so what a confirmation page
promises is what is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from app import clock
from app.cases import budget, information, notices
from app.cases.checks import check_eligibility, failed_results, latest_check
from app.errors import UserError
from app.extensions import db
from app.jobs import outbox
from app.labels import RULE_LABELS
from app.mail import compose
from app.mail.compose import APPLICANT, STAFF, Email
from app.models import (
    FUNDED,
    INFO_REQUESTED,
    REJECTED,
    REVIEWED,
    SUBMITTED,
    WITHDRAWN,
    Application,
    Event,
    Review,
    User,
)


class TransitionError(UserError):
    """A transition that is not allowed; ``message`` is a lazy, translated text."""


Check = Callable[[Application, dict[str, Any]], None]
Effect = Callable[[Application, dict[str, Any]], None]

# A transition whose target is the state the case was in before (an answered request for
# information goes back to where it was asked from).
PREVIOUS = "previous"


@dataclass(frozen=True)
class Timer:
    """A job that runs later: a scheduled outbox row.

    An effect of the transition puts the row it created into ``params[subject]`` and its id
    into ``params[key]``; the job is given that id as ``key`` and runs at ``at(row)``.
    """

    job: Callable[..., Any]
    at: Callable[[Any], dt.datetime]
    subject: str
    key: str


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[str | None, ...]
    target: str
    actor: str  # APPLICANT or STAFF
    # raise TransitionError before anything changes. Preconditions need nothing from the
    # person taking the step (pages show them up front, see ``blockers``, and offer no
    # button); checks read the step's parameters (a granted amount).
    preconditions: tuple[Check, ...] = ()
    checks: tuple[Check, ...] = ()
    # parameters written onto the case together with the state, in the claiming UPDATE
    sets: tuple[str, ...] = ()
    # run inside the transaction after the case is claimed; may raise TransitionError
    effects: tuple[Effect, ...] = ()
    # emails recorded in the transaction, sent after commit
    emails: tuple[Email, ...] = ()
    # background jobs (registered with app.jobs.job), each given the case's id
    jobs: tuple[Callable[..., Any], ...] = ()
    # jobs scheduled for later (reminders, due dates)
    timers: tuple[Timer, ...] = ()
    needs_reason: bool = False


# --- what transitions need and cause -----------------------------------------------------


def _needs_review(application: Application, _params: dict[str, Any]) -> None:
    count = db.session.scalar(
        select(func.count(Review.id)).where(
            Review.application_id == application.id, Review.conflict_of_interest.is_(False)
        )
    )
    if not count:
        raise TransitionError(_l("Zuerst muss mindestens ein Gutachten vorliegen."))


def _needs_passed_check(application: Application, _params: dict[str, Any]) -> None:
    failed = failed_results(application)
    if failed:
        names = ", ".join(sorted(str(RULE_LABELS.get(r.rule, r.rule)) for r in failed))
        raise TransitionError(
            _l(
                "Die Förderfähigkeitsprüfung ist nicht bestanden (%(rules)s). Bewilligen ist "
                "erst möglich, wenn die Geschäftsstelle diese Regeln mit Begründung überstimmt "
                "hat.",
                rules=names,
            )
        )


def _needs_valid_grant(application: Application, params: dict[str, Any]) -> None:
    try:
        budget.check_grant(application, params.get("granted_amount"))
    except budget.FundingError as exc:
        raise TransitionError(exc.message) from exc


def _needs_due_date_ahead(application: Application, params: dict[str, Any]) -> None:
    due = params.get("due_date")
    if due is None:
        return
    today = clock.today()
    if not today < due <= today + dt.timedelta(days=information.MAX_DUE_DAYS):
        raise TransitionError(
            _l(
                "Die Frist muss in der Zukunft liegen, höchstens %(days)s Tage ab heute.",
                days=information.MAX_DUE_DAYS,
            )
        )


def _commit_funds(application: Application, params: dict[str, Any]) -> None:
    try:
        budget.commit_funds(application, params["granted_amount"])
    except budget.FundingError as exc:
        raise TransitionError(exc.message) from exc


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        # The staff hear of a new case from its eligibility check (app.cases.checks), so
        # their notice carries the check's summary.
        Transition(
            "submit",
            (None,),
            SUBMITTED,
            APPLICANT,
            emails=(Email(compose.RECEIPT, APPLICANT),),
            jobs=(check_eligibility,),
        ),
        Transition(
            "mark_reviewed",
            (SUBMITTED,),
            REVIEWED,
            STAFF,
            preconditions=(_needs_review,),
            emails=(Email(compose.REVIEWED, APPLICANT),),
        ),
        Transition(
            "fund",
            (REVIEWED,),
            FUNDED,
            STAFF,
            # a stored check that failed refuses funding until staff overrule the rules
            preconditions=(_needs_passed_check,),
            checks=(_needs_valid_grant,),
            sets=("granted_amount",),  # CHECK: funded iff granted amount
            effects=(_commit_funds,),
            emails=(Email(compose.FUNDED, APPLICANT),),
        ),
        Transition(
            "request_information",
            (SUBMITTED, REVIEWED),
            INFO_REQUESTED,
            STAFF,
            checks=(_needs_due_date_ahead,),
            needs_reason=True,  # the message to the applicant
            effects=(information.open_information_request,),
            emails=(Email(compose.INFORMATION_REQUESTED, APPLICANT),),
            timers=(
                Timer(
                    information.remind_applicant_of_request,
                    information.applicant_reminder_at,
                    "information_request",
                    "request_id",
                ),
                Timer(
                    information.remind_staff_of_request,
                    information.staff_reminder_at,
                    "information_request",
                    "request_id",
                ),
            ),
        ),
        # The applicant's answer: a new version of the data (app.cases.submission), checked
        # again; the case returns to where it was asked from.
        Transition(
            "amend",
            (INFO_REQUESTED,),
            PREVIOUS,
            APPLICANT,
            effects=(information.close_information_request,),
            emails=(Email(compose.AMENDED, STAFF),),
            jobs=(check_eligibility,),
        ),
        Transition(
            "reject",
            (SUBMITTED, REVIEWED, INFO_REQUESTED),
            REJECTED,
            STAFF,
            needs_reason=True,
            emails=(Email(compose.REJECTED, APPLICANT),),
        ),
        Transition("reopen", (REVIEWED,), SUBMITTED, STAFF, needs_reason=True),
        Transition(
            "withdraw",
            (SUBMITTED, REVIEWED, INFO_REQUESTED),
            WITHDRAWN,
            APPLICANT,
            emails=(
                Email(compose.WITHDRAWAL_CONFIRMED, APPLICANT),
                Email(compose.WITHDRAWN, STAFF),
            ),
        ),
    )
}


def allowed_actions(application: Application, actor: str) -> list[Transition]:
    """Transitions the given kind of actor may try from the case's current state."""
    return [t for t in TRANSITIONS.values() if t.actor == actor and application.state in t.sources]


def preview(application: Application, action: str) -> list[tuple[str, str]]:
    """``[(kind, recipient), …]``: the emails the transition sends, read from the table."""
    return notices.preview(application, TRANSITIONS[action].emails)


def blockers(application: Application, action: str) -> list[Any]:
    """Every reason the step cannot be taken now (messages), empty if it can: the case's
    state, then each precondition, run without applying anything. Pages call it before
    offering a button, so the refusal comes before the click; ``apply_transition`` checks the
    same again."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        return [_l("Unbekannter Schritt.")]
    if application.state not in transition.sources:
        return [_l("Dieser Schritt ist im aktuellen Status nicht möglich.")]
    messages = []
    for check in transition.preconditions:
        try:
            check(application, {})
        except TransitionError as exc:
            messages.append(exc.message)
    return messages


def blocked_reason(application: Application, action: str) -> TransitionError | None:
    """The first of ``blockers`` as an error, or None when the step is possible."""
    messages = blockers(application, action)
    return TransitionError(messages[0]) if messages else None


def _authorise(transition: Transition | None, user: User | None) -> Transition:
    if transition is None:
        raise TransitionError(_l("Unbekannter Schritt."))
    if transition.actor == STAFF and (user is None or not user.is_staff):
        raise TransitionError(_l("Nur die Geschäftsstelle darf diesen Schritt ausführen."))
    if transition.actor == APPLICANT and user is not None:
        raise TransitionError(
            _l("Nur die Antragstellerin / der Antragsteller darf diesen Schritt ausführen.")
        )
    return transition


def _claim(
    application: Application, source: str, target: str, transition: Transition, params: dict
) -> None:
    """Move the case with one conditional UPDATE: of two concurrent transitions of the same
    case (a double click, two staff members) the second changes no row and is refused, so
    funds are never committed twice for one case."""
    table = Application.__table__
    values = {"state": target, **{name: params[name] for name in transition.sets}}
    claimed = db.session.execute(
        update(table).where(table.c.id == application.id, table.c.state == source).values(values)
    ).rowcount
    if claimed != 1:
        raise TransitionError(
            _l("Der Antrag wurde inzwischen geändert. Bitte laden Sie die Seite neu.")
        )


def apply_transition(
    application: Application,
    action: str,
    *,
    user: User | None = None,
    reason: str | None = None,
    granted_amount: int | None = None,
    due_date: dt.date | None = None,
) -> Event:
    """Check and apply one transition inside the current transaction (caller commits).

    ``user`` is None for the applicant. Raises ``TransitionError`` and changes nothing if the
    transition is not allowed.
    """
    transition = _authorise(TRANSITIONS.get(action), user)
    source = application.state if application in db.session and application.id else None
    if source not in transition.sources:
        raise TransitionError(_l("Dieser Schritt ist im aktuellen Status nicht möglich."))
    reason = (reason or "").strip() or None
    if transition.needs_reason and not reason:
        raise TransitionError(_l("Bitte geben Sie einen Grund an."))
    params: dict[str, Any] = {
        "granted_amount": granted_amount,
        "reason": reason,
        "due_date": due_date,
        "source": source,
        "user_id": user.id if user else None,
    }
    for check in (*transition.preconditions, *transition.checks):
        check(application, params)

    target = transition.target
    if target == PREVIOUS:
        target = information.return_state(application)
    if source is not None:
        _claim(application, source, target, transition, params)
    for effect in transition.effects:
        effect(application, params)
    for name in transition.sets:
        setattr(application, name, params[name])
    application.state = target
    if application.id is None:
        db.session.add(application)
        db.session.flush()
    event = Event(
        application=application,
        actor_id=user.id if user else None,
        actor_label="staff" if user else "applicant",
        kind="transition",
        from_state=source,
        to_state=target,
        comment=reason,
        public=True,
    )
    db.session.add(event)
    db.session.flush()
    # Jobs first: the check is the slower job and the staff wait for its result.
    for job_function in transition.jobs:
        outbox.record(job_function, application_id=application.id)
    for timer in transition.timers:
        run_at = timer.at(params[timer.subject])
        outbox.record(timer.job, run_at=run_at, **{timer.key: params[timer.key]})
    _record_emails(application, transition, event, params)
    return event


def _record_emails(
    application: Application, transition: Transition, event: Event, params: dict[str, Any]
) -> None:
    if not transition.emails:
        return
    # Applicant emails with the status link get it at send time only (compose, statuslinks):
    # the stored copy, which staff read in the email log, holds a placeholder instead.
    # Staff emails become notices (app.cases.notices), sent at once or in the digest.
    request = params.get("information_request")
    notices.record_all(
        application,
        transition.emails,
        facts={"event_id": event.id, "request_id": request.id if request is not None else None},
        event=event,
        reason=event.comment,
        information_request=request,
        check=latest_check(application),
    )
