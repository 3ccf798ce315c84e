"""Retention and erasure: how long a closed case keeps its personal data, and the purge.

``RULES`` is the one source of the retention periods: the purge (``flask --app wsgi
retention run``, and daily the worker's ``run_retention`` job) applies it, the privacy page
(Datenschutzhinweise) renders it, so what the page promises is what happens. Periods are
settings (``RETENTION_*`` in config.py); docs/privacy.md lists the legal sources.

Anonymising a case keeps what the budget and the statistics need (reference, round, state,
districts, priorities, amounts, dates, categories such as legal form and project type) and
removes everything else: personal data, free texts, the attachment, email bodies, review
comments, reasons and override comments. ``KEPT_COLUMNS`` names what stays; every other
column of ``application`` is cleared, so a column added later is removed by default. Only
closed cases (funded, rejected, withdrawn) are ever touched; a CHECK constraint on
``application`` makes anything else impossible. Each anonymisation writes an audit ``Event``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import String, Text, delete, func, select, update

from app import clock, formatting
from app.cases import drafts, submission, uploads
from app.eligibility import add_months
from app.errors import UserError
from app.extensions import db
from app.jobs import job, outbox, spec
from app.models import (
    DECLARATIONS,
    FINAL_STATES,
    FUNDED,
    MONEY_FIELDS,
    REJECTED,
    WITHDRAWN,
    Application,
    ApplicationVersion,
    EligibilityCheck,
    EligibilityResult,
    Event,
    EventAttachment,
    InboundMail,
    InformationRequest,
    Notification,
    OutboxItem,
    Review,
    User,
    hash_token,
)

OPEN_STATES = ("submitted", "reviewed", "info_requested")

# Anchors: from when a period runs.
CLOSED = "closed"  # the day the case entered its final state
PROJECT_END = "project_end"  # the year of the project's end date (ends on 31 December)


class RetentionError(UserError):
    """An erasure that may not happen; ``message`` says why (lazy, translated)."""


@dataclass(frozen=True)
class Rule:
    """How long a case in ``state`` keeps its personal data, and why."""

    state: str
    anchor: str
    setting: str  # the config key holding the period
    # a legal duty to keep the records (Art. 17(3)(b) DSGVO): no erasure before the end
    duty: bool
    purpose: Any  # lazy text
    source: Any  # lazy text: the legal source

    def period(self) -> int:
        return int(current_app.config[self.setting])

    def describe(self) -> str:
        """The period in words, in the current language, as the privacy page shows it."""
        n = self.period()
        if self.anchor == PROJECT_END:
            return str(
                _l(
                    "bis zum Ende des %(n)d. Kalenderjahres nach dem Jahr des Projektendes",
                    n=n,
                )
            )
        return ngettext(
            "%(num)d Monat nach dem Abschluss des Verfahrens",
            "%(num)d Monate nach dem Abschluss des Verfahrens",
            n,
        )

    def due_on(self, end_date: dt.date, closed_on: dt.date) -> dt.date:
        """The first day on which the personal data of a case is removed."""
        if self.anchor == PROJECT_END:
            return dt.date(end_date.year + self.period() + 1, 1, 1)
        return add_months(closed_on, self.period())


RULES: tuple[Rule, ...] = (
    Rule(
        WITHDRAWN,
        CLOSED,
        "RETENTION_WITHDRAWN_MONTHS",
        duty=False,
        purpose=_l("Rückfragen zur Rücknahme; danach wird nichts mehr gebraucht."),
        source=_l("Art. 5 Abs. 1 lit. e DSGVO (Speicherbegrenzung)"),
    ),
    Rule(
        REJECTED,
        CLOSED,
        "RETENTION_REJECTED_MONTHS",
        duty=False,
        purpose=_l(
            "Nachvollziehbarkeit der Auswahlentscheidung der Förderrunde und Fragen zur "
            "Ablehnung; nicht förderfähige Anträge werden abgelehnt und fallen hierunter."
        ),
        source=_l("Art. 5 Abs. 1 lit. e DSGVO (Speicherbegrenzung)"),
    ),
    Rule(
        FUNDED,
        PROJECT_END,
        "RETENTION_FUNDED_YEARS",
        duty=True,
        purpose=_l(
            "Prüfung der Förderung durch NBank, Land und EU: Belege sind fünf Jahre ab dem "
            "31. Dezember des Jahres der letzten Zahlung aufzubewahren."
        ),
        source=_l(
            "Art. 82 Verordnung (EU) 2021/1060; Nr. 6.9 ANBest-P; Art. 17 Abs. 3 lit. b DSGVO"
        ),
    ),
)
RULES_BY_STATE = {rule.state: rule for rule in RULES}
OPEN_PURPOSE = _l("Bearbeitung des Antrags: solange er offen ist, wird nichts gelöscht.")

# What anonymisation keeps on the case row; every other column is cleared.
KEPT_COLUMNS = frozenset(
    {
        "id",
        "reference",
        "round_id",
        "state",
        "status_token_hash",  # replaced by the hash of a random token: the link ends
        "language",
        "submitted_at",
        "updated_at",
        "legal_form",
        "vat_deductible",
        "project_type",
        "start_date",
        "end_date",
        *MONEY_FIELDS,
        "granted_amount",
        *DECLARATIONS,
        "eligibility_outcome",
        "version",  # how many versions the data had (a count, nothing personal)
        "anonymised_at",
    }
)

ANONYMISED = "anonymised"  # event kind: retention period over
ERASED = "erased"  # event kind: early erasure by an administrator


# --- when --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A closed case and the day its personal data goes."""

    application_id: int
    reference: str
    state: str
    due_on: dt.date


def _closed_at_column():
    """The time of the transition into the case's current (final) state."""
    return (
        select(func.max(Event.at))
        .where(
            Event.application_id == Application.id,
            Event.kind == "transition",
            Event.to_state == Application.state,
        )
        .correlate(Application)
        .scalar_subquery()
    )


def closed_on(application: Application) -> dt.date:
    """The day (Europe/Berlin) the case was closed."""
    at = db.session.scalar(
        select(func.max(Event.at)).where(
            Event.application_id == application.id,
            Event.kind == "transition",
            Event.to_state == application.state,
        )
    )
    return _local_date(at or application.updated_at)


def _local_date(at: dt.datetime) -> dt.date:
    if at.tzinfo is None:  # SQLite returns aggregates without our type's zone
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(clock.BERLIN).date()


def due_on(application: Application) -> dt.date | None:
    """When the case's personal data goes; None while the case is open."""
    rule = RULES_BY_STATE.get(application.state)
    if rule is None:
        return None
    return rule.due_on(application.end_date, closed_on(application))


def due_cases(today: dt.date | None = None) -> list[Due]:
    """Closed, not yet anonymised cases whose period ended on or before ``today``."""
    today = today or clock.today()
    # Only the columns the rules need: this reads every closed case once a day.
    rows = db.session.execute(
        select(
            Application.id,
            Application.reference,
            Application.state,
            Application.end_date,
            Application.updated_at,
            _closed_at_column(),
        )
        .where(Application.state.in_(FINAL_STATES), Application.anonymised_at.is_(None))
        .order_by(Application.id)
    ).all()
    due = []
    for case_id, reference, state, end_date, updated_at, closed_at in rows:
        day = RULES_BY_STATE[state].due_on(end_date, _local_date(closed_at or updated_at))
        if day <= today:
            due.append(Due(case_id, reference, state, day))
    return due


# --- anonymisation -----------------------------------------------------------------------


def _cleared_values() -> dict[str, Any]:
    """Every column outside ``KEPT_COLUMNS``: NULL where allowed, else the empty string."""
    values: dict[str, Any] = {}
    for column in Application.__table__.columns:
        if column.name in KEPT_COLUMNS:
            continue
        if column.nullable:
            values[column.name] = None
        elif isinstance(column.type, (String, Text)):
            values[column.name] = ""
        else:  # a new required non-text column must be classified before it can be cleared
            raise TypeError(f"retention does not know how to clear application.{column.name}")
    return values


def _has_unsent_emails(application_id: int) -> bool:
    return bool(
        db.session.scalar(
            select(func.count(Notification.id)).where(
                Notification.application_id == application_id,
                Notification.status.in_(("pending", "sending")),
            )
        )
    )


def anonymise(
    application: Application,
    *,
    kind: str = ANONYMISED,
    user: User | None = None,
    reason: str | None = None,
) -> None:
    """Remove the case's personal data inside the current transaction (the caller commits):
    the application's data and its attachment, its earlier versions, messages and notes,
    the text of requests for information, received emails and their PDFs.

    Raises ``RetentionError`` for an open or already anonymised case, or while one of its
    emails is still being sent (its body is needed until then).
    """
    if application.state not in FINAL_STATES:
        raise RetentionError(_l("Ein offener Antrag wird nicht gelöscht."))
    if application.anonymised_at is not None:
        raise RetentionError(_l("Die Daten dieses Antrags sind bereits gelöscht."))
    if _has_unsent_emails(application.id):
        raise RetentionError(
            _l(
                "Zu diesem Antrag werden gerade noch E-Mails versandt. Bitte versuchen Sie es "
                "in einigen Minuten erneut."
            )
        )
    attachment = application.attachment_name
    contact_email = application.contact_email
    now = clock.now()
    table = Application.__table__
    # One conditional UPDATE: a case that changed state in between is left alone.
    claimed = db.session.execute(
        update(table)
        .where(
            table.c.id == application.id,
            table.c.state.in_(FINAL_STATES),
            table.c.anonymised_at.is_(None),
        )
        .values(
            **_cleared_values(),
            status_token_hash=hash_token(secrets.token_urlsafe(32)),
            anonymised_at=now,
            updated_at=table.c.updated_at,  # a date the statistics keep, not an edit
        )
    ).rowcount
    if claimed != 1:
        raise RetentionError(
            _l("Der Antrag wurde inzwischen geändert. Bitte laden Sie die Seite neu.")
        )
    case_id = application.id
    db.session.execute(
        update(Notification)
        .where(Notification.application_id == case_id)
        .values(subject="", body_text="", body_html="", last_error=None)
    )
    db.session.execute(
        update(Notification)
        .where(Notification.application_id == case_id, Notification.recipient == contact_email)
        .values(recipient="")
    )
    db.session.execute(update(Review).where(Review.application_id == case_id).values(comment=None))
    uploads.delete_files([attachment])
    db.session.execute(update(Event).where(Event.application_id == case_id).values(comment=None))
    # the conversation: earlier versions, requests, received emails and their PDFs
    db.session.execute(
        delete(ApplicationVersion).where(ApplicationVersion.application_id == case_id)
    )
    db.session.execute(
        update(InformationRequest)
        .where(InformationRequest.application_id == case_id)
        .values(message="")
    )
    db.session.execute(delete(InboundMail).where(InboundMail.application_id == case_id))
    event_ids = select(Event.id).where(Event.application_id == case_id)
    uploads.delete_files(
        select(EventAttachment.name).where(EventAttachment.event_id.in_(event_ids))
    )
    db.session.execute(delete(EventAttachment).where(EventAttachment.event_id.in_(event_ids)))
    check_ids = select(EligibilityCheck.id).where(EligibilityCheck.application_id == case_id)
    db.session.execute(
        update(EligibilityResult)
        .where(EligibilityResult.check_id.in_(check_ids))
        .values(message_de="", message_en="", override_comment=None)
    )
    db.session.add(
        Event(
            application_id=case_id,
            at=now,
            actor_id=user.id if user else None,
            actor_label="staff" if user else "system",
            kind=kind,
            comment=reason,
        )
    )
    db.session.flush()
    db.session.expire(application)


# --- early erasure on request ------------------------------------------------------------


def erasure_refusal(application: Application) -> Any | None:
    """Why the case may not be erased now (lazy text), or None if an admin may erase it."""
    if application.anonymised_at is not None:
        return _l("Die Daten dieses Antrags sind bereits gelöscht.")
    rule = RULES_BY_STATE.get(application.state)
    if rule is None:
        return _l("Der Antrag ist noch offen. Er muss erst entschieden oder zurückgezogen werden.")
    if rule.duty:
        return _l(
            "Eine Aufbewahrungspflicht steht entgegen (%(source)s): Die Daten werden ab dem "
            "%(day)s gelöscht.",
            source=rule.source,
            day=formatting.date(due_on(application)),
        )
    return None


def erase_early(application: Application, user: User, reason: str | None) -> None:
    """An administrator erases a closed case on request (Art. 17 DSGVO), with a reason.

    Inside the current transaction (the caller commits).
    """
    if user.role != "admin":
        raise RetentionError(_l("Nur die Administration darf Anträge vorzeitig löschen."))
    reason = (reason or "").strip()
    if not reason:
        raise RetentionError(_l("Bitte geben Sie einen Grund an."))
    refusal = erasure_refusal(application)
    if refusal is not None:
        raise RetentionError(refusal)
    anonymise(application, kind=ERASED, user=user, reason=reason)


# --- the run -----------------------------------------------------------------------------


@dataclass
class RunReport:
    cases: list[Due]
    skipped: list[tuple[Due, str]]
    uploads: int
    drafts: int = 0


def run(today: dt.date | None = None, *, dry_run: bool = False) -> RunReport:
    """Anonymise every case whose period has ended; delete abandoned uploads and expired
    drafts.

    One transaction per case, so a failure leaves the others done. ``dry_run`` only lists.
    """
    due = due_cases(today)
    db.session.commit()  # end the read transaction
    max_age = current_app.config["FORM_MAX_AGE_SECONDS"]
    if dry_run:
        return RunReport(
            due, [], uploads.prune_pending(max_age, dry_run=True), drafts.prune(dry_run=True)
        )
    done, skipped = [], []
    for item in due:
        application = db.session.get(Application, item.application_id)
        try:
            if application is not None:
                anonymise(application)
            db.session.commit()
        except RetentionError as exc:
            db.session.rollback()
            skipped.append((item, str(exc.message)))
            continue
        done.append(item)
    # The single-use marks of submitted forms: their signed tokens have expired by now.
    submission.prune_form_tokens(max_age)
    expired_drafts = drafts.prune()
    db.session.commit()
    return RunReport(done, skipped, uploads.prune_pending(max_age), expired_drafts)


@job(queue="maintenance")
def run_retention() -> str:
    """The daily retention run (recorded by the worker's scheduler through the outbox)."""
    report = run()
    return (
        f"{len(report.cases)} case(s) anonymised, {report.uploads} upload(s) and "
        f"{report.drafts} draft(s) deleted"
    )


def record_daily_run(now: dt.datetime | None = None) -> bool:
    """Record today's retention run in the outbox unless one was recorded today already
    (from ``RETENTION_RUN_HOUR``, Europe/Berlin; never with ``RETENTION_RUN_DAILY`` off).
    Commits; True if a run was recorded.

    Called by the worker's periodic helper; the outbox row makes the run durable like any
    other job. Two workers racing may record two runs on one day: the run is idempotent.
    """
    if not current_app.config["RETENTION_RUN_DAILY"]:
        return False
    now = now or clock.now()
    local = now.astimezone(clock.BERLIN)
    if local.hour < int(current_app.config["RETENTION_RUN_HOUR"]):
        return False
    start_of_day = dt.datetime.combine(local.date(), dt.time(), clock.BERLIN).astimezone(dt.UTC)
    name = spec(run_retention).name
    already = db.session.scalar(
        select(func.count(OutboxItem.id)).where(
            OutboxItem.job == name, OutboxItem.created_at >= start_of_day
        )
    )
    if already:
        db.session.commit()
        return False
    item = outbox.record(run_retention)
    item.created_at = now
    db.session.commit()
    return True
