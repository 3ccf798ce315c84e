"""Staff notices: who among the staff hears of an event, and how (at once or in a digest).

An event that needs a staff decision (a new case, a review recorded, all reviews in, a
conflict declared, a withdrawal) or an administrator's attention (an email or a job that
failed for good) is recorded here as one ``StaffNotice`` row per recipient, in the
transaction of the event. The email is written later by ``app.cases.inbox``: at once for
people who chose immediate emails (an outbox row per notice), or in their daily digest.
Writing it later means its action links offer exactly the steps possible when it is written.

Recipients of the ``staff`` audience: every active staff member and administrator following
the case's round (their ``InboxPreference``, else the administrator's ``InboxDefaults``), each
with links bound to them; plus the shared addresses of ``STAFF_EMAILS`` that are nobody's
account (a team mailbox): they get every staff email at once, with the plain case link and no
action links. The ``admins`` audience (alerts) goes to active administrators, or to the shared
addresses if there is none. See docs/inbox.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.jobs import add_failure_listener, outbox
from app.mail import compose, delivery
from app.mail.compose import ADMINS, APPLICANT, STAFF, Email
from app.models import (
    Application,
    InboxDefaults,
    InboxPreference,
    Notification,
    StaffNotice,
    User,
)

IMMEDIATE, DIGEST = "immediate", "digest"
# Jobs of app.cases.inbox, named here because that module imports this one.
SEND_NOTICE_JOB = "send_staff_notice"

# Alerts are about failures; an alert that itself fails is not alerted again (no loop).
ALERT_KINDS = (compose.EMAIL_FAILED, compose.JOB_FAILED)


@dataclass(frozen=True)
class Preference:
    """A person's effective preference (own, else the defaults)."""

    mode: str
    digest_hour: int
    round_codes: tuple[str, ...] | None  # None: every round

    def follows(self, application: Application | None) -> bool:
        if application is None or self.round_codes is None:
            return True
        return application.round.code in self.round_codes


@dataclass(frozen=True)
class Recipient:
    address: str
    user: User | None  # None: a shared address (no action links)
    delivery: str


def defaults() -> Preference:
    row = db.session.get(InboxDefaults, 1)
    if row is None:
        return Preference(IMMEDIATE, current_app.config["INBOX_DEFAULT_DIGEST_HOUR"], None)
    return Preference(row.mode, row.digest_hour, _codes(row.round_codes))


def preference_of(user: User, fallback: Preference | None = None) -> Preference:
    row = db.session.get(InboxPreference, user.id)
    if row is None:
        return fallback or defaults()
    return Preference(row.mode, row.digest_hour, _codes(row.round_codes))


def _codes(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def staff_users(*, admins_only: bool = False) -> list[User]:
    roles = ("admin",) if admins_only else ("staff", "admin")
    return list(
        db.session.scalars(
            select(User).where(User.role.in_(roles), User.active.is_(True)).order_by(User.id)
        )
    )


def _shared_addresses() -> list[str]:
    """``STAFF_EMAILS`` minus the addresses of staff accounts (those are told personally)."""
    accounts = {
        address.lower()
        for address in db.session.scalars(
            select(User.email).where(User.role.in_(("staff", "admin")), User.active.is_(True))
        )
    }
    return [a for a in current_app.config["STAFF_EMAILS"] if a.lower() not in accounts]


def recipients(application: Application | None, audience: str) -> list[Recipient]:
    if audience not in (STAFF, ADMINS):
        raise ValueError(f"unknown staff audience {audience!r}")
    fallback = defaults()
    people = []
    for user in staff_users(admins_only=audience == ADMINS):
        preference = preference_of(user, fallback)
        if audience == ADMINS or preference.follows(application):
            people.append(Recipient(user.email, user, preference.mode))
    shared = [Recipient(a, None, IMMEDIATE) for a in _shared_addresses()]
    if audience == ADMINS:
        return people or shared
    return people + shared


def record(
    kind: str,
    application: Application | None,
    facts: dict[str, Any] | None = None,
    *,
    audience: str = STAFF,
) -> list[StaffNotice]:
    """One notice per recipient of ``audience`` in the current transaction (caller commits);
    immediate ones get an outbox row that writes and sends their email after the commit."""
    notices = []
    now = clock.now()
    for recipient in recipients(application, audience):
        notice = StaffNotice(
            user_id=recipient.user.id if recipient.user is not None else None,
            recipient=recipient.address,
            application_id=application.id if application is not None else None,
            kind=kind,
            facts=dict(facts or {}),
            delivery=recipient.delivery,
            created_at=now,
        )
        db.session.add(notice)
        notices.append(notice)
    db.session.flush()
    for notice in notices:
        if notice.delivery == IMMEDIATE:
            outbox.record(SEND_NOTICE_JOB, notice_id=notice.id)
    return notices


def record_all(
    application: Application,
    emails: Iterable[Email],
    *,
    facts: dict[str, Any] | None = None,
    **applicant_context: Any,
) -> None:
    """Record declared emails: the applicant's through ``compose``, staff ones as notices."""
    emails = list(emails)
    applicant = [e for e in emails if e.audience == APPLICANT]
    if applicant:
        compose.record_all(application, applicant, **applicant_context)
    for email in emails:
        if email.audience != APPLICANT:
            record(email.kind, application, facts, audience=email.audience)


def preview(application: Application, emails: Iterable[Email]) -> list[tuple[str, str]]:
    """``[(kind, recipient), …]`` of declared emails, without recording anything."""
    listed = []
    for email in emails:
        if email.audience == APPLICANT:
            listed.extend(compose.preview(application, [email]))
        else:
            listed.extend((email.kind, r.address) for r in recipients(application, email.audience))
    return listed


def already_told(application: Application, kind: str) -> bool:
    return bool(
        db.session.scalar(
            select(func.count(StaffNotice.id)).filter_by(application_id=application.id, kind=kind)
        )
    )


# --- alerts for the administrators -------------------------------------------------------


@delivery.add_failure_listener
def alert_email_failed(notification_id: int) -> None:
    failed = db.session.get(Notification, notification_id)
    if failed is None or failed.kind in ALERT_KINDS:
        return
    application = (
        db.session.get(Application, failed.application_id) if failed.application_id else None
    )
    record(
        compose.EMAIL_FAILED,
        application,
        {"notification_id": notification_id},
        audience=ADMINS,
    )


@add_failure_listener
def alert_job_failed(job_name: str, error: str, payload: dict[str, Any]) -> None:
    if job_name == SEND_NOTICE_JOB:
        notice = db.session.get(StaffNotice, payload.get("notice_id"))
        if notice is not None and notice.kind in ALERT_KINDS:
            return
    application_id = payload.get("application_id")
    application = db.session.get(Application, application_id) if application_id else None
    record(
        compose.JOB_FAILED,
        application,
        {"job": job_name, "error": error[:500], "payload": payload},
        audience=ADMINS,
    )
    db.session.commit()
