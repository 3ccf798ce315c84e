"""Requests for information and amendments: the request with its due date and reminders, and
the versions of an application's data with what changed between them.

Staff open a request with the ``request_information`` transition (app.cases.workflow); the
effects and timers here are what that transition declares. The reminders are scheduled
outbox rows (``outbox.record(job, run_at=…)``): durable like every other job, and each
reminder job re-checks that the request is still open and not yet reminded, so re-running
one sends nothing twice. An amendment (``submission.submit_amendment``) stores a new
``ApplicationVersion`` and closes the request with the ``amend`` transition.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, exists, func, select

from app import clock
from app.cases import notices
from app.extensions import db
from app.jobs import job, outbox
from app.mail import compose
from app.mail.compose import APPLICANT, STAFF, Email
from app.models import (
    APPLICATION_SECTIONS,
    INFO_REQUESTED,
    Application,
    ApplicationVersion,
    InformationRequest,
)

DEFAULT_DUE_DAYS = 14
MAX_DUE_DAYS = 90
APPLICANT_REMINDER_DAYS_BEFORE = 3
# Reminders go out in the morning of their day, Berlin time.
REMINDER_HOUR = 8

APPLICANT_REMINDER_EMAILS = (Email(compose.REQUEST_REMINDER, APPLICANT),)
STAFF_REMINDER_EMAILS = (Email(compose.REQUEST_DUE, STAFF),)

# The data fields of an application in the order the staff page lists changes: the form's
# sections (the finances with their two tables of rows), the language and the attachment.
_S = APPLICATION_SECTIONS
VERSIONED_FIELDS = (
    *_S["applicant"],
    *_S["project"],
    *_S["finances"],
    "cost_plan",
    "personnel_positions",
    *_S["declarations"],
    "language",
    "attachment",
)


# --- the open request ---------------------------------------------------------------------


def open_request(application: Application) -> InformationRequest | None:
    if application.id is None:
        return None
    return db.session.scalar(
        select(InformationRequest)
        .where(
            InformationRequest.application_id == application.id,
            InformationRequest.answered_at.is_(None),
        )
        .order_by(InformationRequest.id.desc())
        .limit(1)
    )


def requests_of(application: Application) -> list[InformationRequest]:
    return list(
        db.session.scalars(
            select(InformationRequest)
            .where(InformationRequest.application_id == application.id)
            .order_by(InformationRequest.id)
        )
    )


def default_due_date() -> dt.date:
    return clock.today() + dt.timedelta(days=DEFAULT_DUE_DAYS)


def _morning(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(REMINDER_HOUR), tzinfo=clock.BERLIN).astimezone(dt.UTC)


def applicant_reminder_at(request: InformationRequest) -> dt.datetime:
    return _morning(request.due_date - dt.timedelta(days=APPLICANT_REMINDER_DAYS_BEFORE))


def staff_reminder_at(request: InformationRequest) -> dt.datetime:
    return _morning(request.due_date)


def overdue_clause():
    """SQL condition: the case waits for an answer whose due date has passed (Berlin date)."""
    return and_(
        Application.state == INFO_REQUESTED,
        exists().where(
            InformationRequest.application_id == Application.id,
            InformationRequest.answered_at.is_(None),
            InformationRequest.due_date < clock.today(),
        ),
    )


def is_overdue(request: InformationRequest | None) -> bool:
    return request is not None and request.is_open and request.due_date < clock.today()


# --- effects of the transitions (declared in app.cases.workflow) ---------------------------


def open_information_request(application: Application, params: dict[str, Any]) -> None:
    """Effect of ``request_information``: store the request; its timers need its id."""
    request = InformationRequest(
        application_id=application.id,
        message=params["reason"],
        due_date=params.get("due_date") or default_due_date(),
        return_state=params["source"],
        requested_by_id=params["user_id"],
        requested_at=clock.now(),
    )
    db.session.add(request)
    db.session.flush()
    params["request_id"] = request.id
    params["information_request"] = request


def return_state(application: Application) -> str:
    """Where an answered request sends the case: the state it was asked from."""
    request = open_request(application)
    if request is None:
        raise LookupError(f"no open request for application {application.id}")
    return request.return_state


def close_information_request(application: Application, params: dict[str, Any]) -> None:
    """Effect of ``amend``: the open request is answered by the version just stored."""
    request = open_request(application)
    if request is not None:
        request.answered_at = clock.now()
        request.answer_version = application.version
        params["information_request"] = request


# --- reminder jobs ------------------------------------------------------------------------


def _due_request(request_id: int, at, reminded: str) -> InformationRequest | None:
    """The request if a reminder is still to be sent now; reschedules one that ran early."""
    request = db.session.get(InformationRequest, request_id)
    if request is None or not request.is_open or getattr(request, reminded) is not None:
        return None
    if request.application.state != INFO_REQUESTED:
        return None
    when = at(request)
    if clock.now() < when:
        # Ran early (a retry by hand, a clock ahead of ours): wait for the right time.
        job_function = (
            remind_applicant_of_request
            if reminded == "applicant_reminded_at"
            else remind_staff_of_request
        )
        outbox.record(job_function, run_at=when, request_id=request_id)
        db.session.commit()
        return None
    return request


@job(queue="emails")
def remind_applicant_of_request(request_id: int) -> str:
    """Three days before the due date: remind the applicant, with a link to answer."""
    request = _due_request(request_id, applicant_reminder_at, "applicant_reminded_at")
    if request is None:
        return "skipped"
    request.applicant_reminded_at = clock.now()
    compose.record_all(request.application, APPLICANT_REMINDER_EMAILS, information_request=request)
    db.session.commit()
    return "sent"


@job(queue="emails")
def remind_staff_of_request(request_id: int) -> str:
    """On the due date: tell the staff that the answer is due (or missing)."""
    request = _due_request(request_id, staff_reminder_at, "staff_reminded_at")
    if request is None:
        return "skipped"
    request.staff_reminded_at = clock.now()
    notices.record_all(request.application, STAFF_REMINDER_EMAILS, facts={"request_id": request.id})
    db.session.commit()
    return "sent"


# --- versions -----------------------------------------------------------------------------


def snapshot(application: Application) -> dict[str, Any]:
    """The application's data as JSON values (money in cents, dates ISO, lists sorted)."""
    data: dict[str, Any] = {}
    for name in VERSIONED_FIELDS:
        if name == "attachment":
            value = (
                {"name": application.attachment_original_name, "size": application.attachment_size}
                if application.attachment_name
                else None
            )
        elif name in ("districts", "priorities"):
            value = sorted(getattr(application, name))
        else:
            value = getattr(application, name)
            if isinstance(value, dt.date):
                value = value.isoformat()
        data[name] = value
    return data


def record_version(
    application: Application, *, actor_label: str, actor_id: int | None = None, at=None
) -> ApplicationVersion:
    version = ApplicationVersion(
        application_id=application.id,
        number=application.version,
        created_at=at or clock.now(),
        actor_label=actor_label,
        actor_id=actor_id,
        data=snapshot(application),
    )
    db.session.add(version)
    return version


def versions_of(application: Application) -> list[ApplicationVersion]:
    return list(
        db.session.scalars(
            select(ApplicationVersion)
            .where(ApplicationVersion.application_id == application.id)
            .order_by(ApplicationVersion.number)
        )
    )


def changes(older: dict[str, Any], newer: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``[(field, before, after), …]`` for every field that differs, in form order."""
    return [
        (name, older.get(name), newer.get(name))
        for name in VERSIONED_FIELDS
        if older.get(name) != newer.get(name)
    ]


def version_history(application: Application) -> list[tuple[ApplicationVersion, list]]:
    """Each version with what changed against the one before (the first: nothing)."""
    versions = versions_of(application)
    return [
        (version, changes(versions[i - 1].data, version.data) if i else [])
        for i, version in enumerate(versions)
    ]


def count_open_overdue() -> int:
    return db.session.scalar(select(func.count(Application.id)).where(overdue_clause())) or 0
