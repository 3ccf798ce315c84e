"""Compose emails and record them as ``notification`` rows in the current transaction.

Bodies and subjects are rendered from ``templates/email/<kind>.txt`` (whose
``{% set subject = … %}`` is the subject line) and ``.html`` in the recipient's language
(German msgids, English from the catalog). Links are built from ``BASE_URL``, never from a
request, so the same code works in a web request and in a worker. Delivery is
``app.mail.delivery``'s business; this module only records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import force_locale

from app import clock
from app.extensions import db
from app.jobs import outbox
from app.labels import district_names
from app.mail import replyaddress
from app.mail.delivery import SECRET_PLACEHOLDER, message_id, send_notification
from app.models import Application, Notification

STAFF_LANGUAGE = "de"  # the network office works in German

# Email kinds: each is a pair of templates email/<kind>.txt and .html.
RECEIPT = "receipt"
STAFF_NEW = "staff_new"
ELIGIBILITY_RESULT = "eligibility_result"
REVIEWED = "reviewed"
FUNDED = "funded"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
WITHDRAWAL_CONFIRMED = "withdrawal_confirmed"
STATUS_LINK = "status_link"
INFORMATION_REQUESTED = "information_requested"
AMENDED = "amended"
REQUEST_REMINDER = "request_reminder"
REQUEST_DUE = "request_due"
MESSAGE_TO_STAFF = "message_to_staff"
MESSAGE_TO_APPLICANT = "message_to_applicant"
DRAFT_SAVED = "draft_saved"
REVIEW_REMINDER = "review_reminder"
ATTACHMENT_REFUSED = "attachment_refused"
REVIEW_REQUEST = "review_request"
PASSWORD_RESET = "password_reset"  # noqa: S105 - an email kind
# Staff inbox (app.cases.notices): events that need a staff decision, alerts, the digest.
REVIEW_RECORDED = "review_recorded"
REVIEWS_COMPLETE = "reviews_complete"
REVIEW_CONFLICT = "review_conflict"
EMAIL_FAILED = "email_failed"
JOB_FAILED = "job_failed"
STAFF_DIGEST = "staff_digest"

# Applicant emails that link to the status page. The link's token is in no stored body: the
# bodies hold a placeholder, and delivery puts the token in at send time through the resolver
# app.cases.statuslinks registers under this name (Notification.personal_link).
STATUS_PAGE_LINK = "status"
STATUS_PAGE_KINDS = frozenset(
    {RECEIPT, INFORMATION_REQUESTED, REQUEST_REMINDER, MESSAGE_TO_APPLICANT, STATUS_LINK}
)

# Audiences: who an email declared as ``Email(kind, audience)`` goes to. Staff and admin
# emails go through app.cases.notices (per person, with their preferences); this module
# only knows the applicant's address.
APPLICANT, STAFF, ADMINS = "applicant", "staff", "admins"


@dataclass(frozen=True)
class Email:
    """One email a change causes: which templates, to whom."""

    kind: str
    audience: str


def absolute_url(endpoint: str, **values: Any) -> str:
    """``BASE_URL`` + the route's path. Works without a request (workers) and never looks at
    a request's Host header."""
    adapter = current_app.url_map.bind("localhost")
    return current_app.config["BASE_URL"].rstrip("/") + adapter.build(endpoint, values)


def recipients(application: Application, audience: str) -> list[tuple[str, str]]:
    """(address, language) pairs of the applicant audience (staff: app.cases.notices)."""
    if audience == APPLICANT:
        return [(application.contact_email, application.language)]
    raise ValueError(f"audience {audience!r} is not addressed by app.mail.compose")


def preview(application: Application, emails: Iterable[Email]) -> list[tuple[str, str]]:
    """``[(kind, recipient), …]`` of the declared emails, without recording anything."""
    return [
        (email.kind, address)
        for email in emails
        for address, _language in recipients(application, email.audience)
    ]


def render(
    kind: str, application: Application | None, language: str, **context: Any
) -> tuple[str, str, str]:
    """(subject, text body, HTML body) of one email, in ``language``. ``application`` is None
    for emails about no single case (a digest, an operations alert)."""
    jinja = current_app.jinja_env
    with force_locale(language):
        context.update(application=application, language=language)
        if application is not None:
            names = district_names(application.round, language)
            context.update(
                round_name=application.round.name(language),
                districts=[names.get(ags, ags) for ags in application.districts],
            )
        # Flask's context processors (e.g. the current language) as render_template adds them
        current_app.update_template_context(context)
        text_module = jinja.get_template(f"email/{kind}.txt").make_module(context)
        subject = " ".join(str(text_module.subject).split())
        text = str(text_module)
        html = jinja.get_template(f"email/{kind}.html").render(subject=subject, **context)
    return subject, text, html


def record(
    kind: str,
    application: Application | None,
    recipient: str,
    language: str,
    *,
    personal_link: str | None = None,
    reply_to: str | None = None,
    **context: Any,
) -> Notification:
    """Add one email (notification row + outbox row) to the current transaction.
    ``application`` is None for an email about no single case (an account, a digest, an alert).

    ``personal_link`` names a secret link whose secret the rendered bodies hold only as
    ``delivery.SECRET_PLACEHOLDER``; delivery puts it in when sending (see delivery). The
    kinds of ``STATUS_PAGE_KINDS`` get the status link that way. ``reply_to``: the case's
    reply address, so that an answer comes back to the case.
    """
    if kind in STATUS_PAGE_KINDS and application is not None:
        personal_link = STATUS_PAGE_LINK
        context["status_url"] = absolute_url("intake.status", token=SECRET_PLACEHOLDER)
    subject, text, html = render(kind, application, language, **context)
    notification = Notification(
        application_id=application.id if application is not None else None,
        recipient=recipient,
        kind=kind,
        language=language,
        subject=subject[:255],
        body_text=text,
        body_html=html,
        status="pending",
        message_id=message_id(),
        personal_link=personal_link,
        reply_to=reply_to,
        created_at=clock.now(),
    )
    db.session.add(notification)
    db.session.flush()  # the job needs the id
    outbox.record(send_notification, notification_id=notification.id)
    return notification


def record_all(
    application: Application, emails: Iterable[Email], **context: Any
) -> list[Notification]:
    """Record every declared email, to each recipient of its audience, in their language."""
    return [
        record(
            email.kind,
            application,
            address,
            language,
            reply_to=reply_address(application, email.kind, email.audience),
            **context,
        )
        for email in emails
        for address, language in recipients(application, email.audience)
    ]


def reply_address(application: Application | None, kind: str, audience: str) -> str | None:
    """Every email to the applicant carries the case's reply address; staff get one on an
    applicant's message, so they can answer it by replying."""
    if application is None:
        return None
    if audience == APPLICANT:
        return replyaddress.address(replyaddress.APPLICANT, application.id)
    if kind == MESSAGE_TO_STAFF:
        return replyaddress.address(replyaddress.STAFF, application.id)
    return None
