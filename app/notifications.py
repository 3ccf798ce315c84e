"""Compose emails, record them as ``notification`` rows, deliver them from a job.

Every email is first a ``Notification`` row (recipient, kind, language, subject, text and HTML
body, a Message-ID) written in the same transaction as the change it reports, with an outbox
row ``send_notification(notification_id)`` beside it; the worker delivers it after commit.
Bodies are rendered from ``templates/email/<kind>.txt`` and ``.html`` in the recipient's
language (German msgids, English from the catalog). Links are built from ``BASE_URL``, never
from a request, so the same code works in a web request and in a worker.

Delivery (``deliver``) claims the row with one conditional UPDATE (pending → sending, or a
``sending`` claim older than ``NOTIFICATION_CLAIM_TIMEOUT_SECONDS``), so two workers never send
the same email at the same time, and a worker killed mid-send is recovered by the next attempt.
The trade-off is at-least-once: if a worker dies after the SMTP server accepted the message
but before the row says ``sent``, the email goes out again later, with the same Message-ID so
mail clients can drop the duplicate. See docs/pipeline.md.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

import flask_mail
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import and_, or_, update
from werkzeug.routing import BuildError

from app import clock, outbox
from app.extensions import db
from app.labels import district_names
from app.models import Application, EligibilityCheck, Notification

STAFF_LANGUAGE = "de"  # the network office works in German

RECEIPT = "receipt"
STAFF_NEW = "staff_new"
ELIGIBILITY_RESULT = "eligibility_result"
REVIEWED = "reviewed"
FUNDED = "funded"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
REVIEW_REQUEST = "review_request"

APPLICANT, STAFF = "applicant", "staff"

# transition action -> emails it sends: (kind, to whom). The staff hear of a submission from
# the eligibility check (``for_eligibility_check``), so their notice carries its summary.
TRANSITION_EMAILS: dict[str, tuple[tuple[str, str], ...]] = {
    "submit": ((RECEIPT, APPLICANT),),
    "mark_reviewed": ((REVIEWED, APPLICANT),),
    "fund": ((FUNDED, APPLICANT),),
    "reject": ((REJECTED, APPLICANT),),
    "withdraw": ((WITHDRAWN, STAFF),),
    "reopen": (),
}


def _subject(kind: str, application: Application) -> str:
    """The subject line, translated in the active locale (call inside ``force_locale``)."""
    ref = application.reference
    subjects = {
        RECEIPT: lambda: _("Eingangsbestätigung für Ihren Förderantrag %(ref)s", ref=ref),
        STAFF_NEW: lambda: _(
            "Neuer Förderantrag %(ref)s: %(org)s", ref=ref, org=application.org_name
        ),
        ELIGIBILITY_RESULT: lambda: _(
            "Ergebnis der Fördervoraussetzungsprüfung zu %(ref)s", ref=ref
        ),
        REVIEWED: lambda: _("Ihr Förderantrag %(ref)s wurde begutachtet", ref=ref),
        FUNDED: lambda: _("Ihr Förderantrag %(ref)s wird gefördert", ref=ref),
        REJECTED: lambda: _("Entscheidung über Ihren Förderantrag %(ref)s", ref=ref),
        WITHDRAWN: lambda: _("Antrag %(ref)s wurde zurückgezogen", ref=ref),
        REVIEW_REQUEST: lambda: _(
            "Bitte um Ihr Gutachten zu %(ref)s: %(title)s", ref=ref, title=application.title
        ),
    }
    return subjects[kind]()


# --- links -------------------------------------------------------------------------------


def absolute_url(endpoint: str, **values: Any) -> str:
    """``BASE_URL`` + the route's path. Works without a request (workers) and never looks at
    a request's Host header."""
    adapter = current_app.url_map.bind("localhost")
    return current_app.config["BASE_URL"].rstrip("/") + adapter.build(endpoint, values)


def status_url(token: str) -> str:
    return absolute_url("intake.status", token=token)


def case_url(application: Application) -> str:
    """The staff page of a case: ``BASE_URL/staff/cases/<id>``."""
    for endpoint, key in (("staff.case", "case_id"), ("staff.case", "application_id")):
        try:
            return absolute_url(endpoint, **{key: application.id})
        except BuildError:
            continue
    # The staff blueprint names its case view; until it exists the agreed path stands.
    return f"{current_app.config['BASE_URL'].rstrip('/')}/staff/cases/{application.id}"


def staff_action_links(application: Application) -> dict[str, str]:
    """Links for the staff notice. Hook for the signed one-click action links
    (app.actionlinks): ``{"case": …}`` always, plus ``open``/``mark_reviewed``/``reject``
    when that module's confirmation route exists."""
    links = {"case": case_url(application)}
    try:
        from app import actionlinks

        links.update(actionlinks.build_action_links(application))
    except (ImportError, AttributeError, BuildError):
        pass
    return links


# --- recording ---------------------------------------------------------------------------


def _message_id() -> str:
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    return make_msgid(domain=host)


def _district_names(application: Application, language: str) -> list[str]:
    names = district_names(application.round, language)
    return [names.get(ags, ags) for ags in application.districts]


def render(
    kind: str, application: Application, language: str, **context: Any
) -> tuple[str, str, str]:
    """(subject, text body, HTML body) of one email, in ``language``."""
    with force_locale(language):
        context.update(
            application=application,
            language=language,
            round_name=application.round.name(language),
            districts=_district_names(application, language),
        )
        subject = _subject(kind, application)
        text = render_template(f"email/{kind}.txt", subject=subject, **context)
        html = render_template(f"email/{kind}.html", subject=subject, **context)
    return subject, text, html


def record(
    kind: str, application: Application, recipient: str, language: str, **context: Any
) -> Notification:
    """Add one email (notification row + outbox row) to the current transaction."""
    subject, text, html = render(kind, application, language, **context)
    notification = Notification(
        application_id=application.id,
        recipient=recipient,
        kind=kind,
        language=language,
        subject=subject[:255],
        body_text=text,
        body_html=html,
        status="pending",
        message_id=_message_id(),
        created_at=clock.now(),
    )
    db.session.add(notification)
    db.session.flush()  # the job needs the id
    outbox.record("send_notification", notification_id=notification.id)
    return notification


def _recipients(application: Application, audience: str) -> list[tuple[str, str]]:
    """(address, language) pairs of an audience."""
    if audience == APPLICANT:
        return [(application.contact_email, application.language)]
    return [(address, STAFF_LANGUAGE) for address in current_app.config["STAFF_EMAILS"]]


def preview_for_transition(application: Application, action: str) -> list[tuple[str, str]]:
    """Which emails a transition will send, to whom: ``[(kind, recipient), …]``."""
    return [
        (kind, address)
        for kind, audience in TRANSITION_EMAILS.get(action, ())
        for address, _language in _recipients(application, audience)
    ]


def for_transition(application, transition, event, *, status_token: str | None = None) -> None:
    """Record the emails and jobs a transition needs, in the current transaction."""
    if transition.action == "submit":
        # The check first: it is the slower job and the staff wait for its result.
        outbox.record("check_eligibility", application_id=application.id)
    context: dict[str, Any] = {
        "event": event,
        "reason": event.comment if event is not None else None,
        "status_url": status_url(status_token) if status_token else None,
        "links": None,
        "check": latest_check(application),
    }
    for kind, audience in TRANSITION_EMAILS.get(transition.action, ()):
        if audience == STAFF and context["links"] is None:
            context["links"] = staff_action_links(application)
        for address, language in _recipients(application, audience):
            record(kind, application, address, language, **context)


def latest_check(application: Application) -> EligibilityCheck | None:
    if application.id is None:
        return None
    return db.session.scalars(
        db.select(EligibilityCheck)
        .filter_by(application_id=application.id)
        .order_by(EligibilityCheck.id.desc())
        .limit(1)
    ).first()


def for_eligibility_check(application: Application, check: EligibilityCheck) -> Notification:
    """Recorded with the check, in one transaction: the applicant's result email and, the first
    time a case is checked, the staff notice of the new case with the eligibility summary."""
    findings = [r for r in check.results if r.effective_outcome in ("remark", "fail")]
    already_told = db.session.scalar(
        db.select(db.func.count(Notification.id)).filter_by(
            application_id=application.id, kind=STAFF_NEW
        )
    )
    if not already_told:
        links = staff_action_links(application)
        for address, language in _recipients(application, STAFF):
            record(
                STAFF_NEW,
                application,
                address,
                language,
                check=check,
                findings=findings,
                links=links,
                event=None,
                reason=None,
                status_url=None,
                rule_name=lambda rule: _rule_name(rule, STAFF_LANGUAGE),
            )
    return record(
        ELIGIBILITY_RESULT,
        application,
        application.contact_email,
        application.language,
        check=check,
        findings=findings,
        rule_name=lambda rule: _rule_name(rule, application.language),
    )


def _rule_name(rule: str, language: str) -> str:
    from app.eligibility import RULE_NAMES

    names = RULE_NAMES.get(rule)
    if names is None:
        return rule
    return names[1] if language == "en" else names[0]


# --- delivery ----------------------------------------------------------------------------


class TemporaryDeliveryError(Exception):
    """The SMTP server said "try later" (4xx), or could not be reached; RQ retries."""


class NotificationBusy(TemporaryDeliveryError):
    """Another worker holds a fresh claim on the row; try again after the backoff."""


class _SMTPConnection(flask_mail.Connection):
    """Flask-Mail 0.10's connection opens SMTP without a timeout and calls ``starttls()``
    without an SSL context (which in Python 3.11 does not verify the certificate). This
    subclass adds both; everything else (sending, quitting) is Flask-Mail's."""

    def configure_host(self) -> smtplib.SMTP:
        timeout = current_app.config["MAIL_TIMEOUT"]
        if self.mail.use_ssl:
            host: smtplib.SMTP = smtplib.SMTP_SSL(
                self.mail.server,
                self.mail.port,
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls(context=ssl.create_default_context())
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host

    def __exit__(self, exc_type, exc_value, tb) -> None:
        # A failing QUIT must not hide the real error (smtplib drops the connection itself
        # after a 421), nor turn an accepted message into a failure.
        if self.host is not None:
            try:
                self.host.quit()
            except (smtplib.SMTPException, OSError):
                self.host.close()


def build_message(notification: Notification) -> flask_mail.Message:
    message = flask_mail.Message(
        subject=notification.subject,
        recipients=[notification.recipient],
        body=notification.body_text,
        html=notification.body_html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        extra_headers={"Auto-Submitted": "auto-generated"},
    )
    message.msgId = notification.message_id or _message_id()
    return message


def _smtp_error(exc: BaseException) -> tuple[bool, str]:
    """(temporary?, error text) of a failed send."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        text = "; ".join(
            f"{addr}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for addr, (code, msg) in exc.recipients.items()
        )
        return all(400 <= code < 500 for code in codes), f"SMTP {text}"
    if isinstance(exc, smtplib.SMTPResponseException):
        msg = exc.smtp_error
        msg = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)
        return not (500 <= exc.smtp_code < 600), f"SMTP {exc.smtp_code} {msg}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False, f"TLS: {exc}"
    # connection refused/reset, timeouts, a server that hung up: try again later
    return True, f"{type(exc).__name__}: {exc}"


def _set(notification_id: int, only_if: str | None = None, **values: Any) -> int:
    stmt = update(Notification).where(Notification.id == notification_id)
    if only_if:
        stmt = stmt.where(Notification.status == only_if)
    result = db.session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount


def claim(notification_id: int) -> bool:
    """ONE conditional UPDATE: pending → sending, or take over a claim that has expired."""
    now = clock.now()
    expired = now - dt.timedelta(seconds=current_app.config["NOTIFICATION_CLAIM_TIMEOUT_SECONDS"])
    stmt = (
        update(Notification)
        .where(
            Notification.id == notification_id,
            or_(
                Notification.status == "pending",
                and_(Notification.status == "sending", Notification.claimed_at < expired),
            ),
        )
        .values(status="sending", claimed_at=now, attempts=Notification.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    claimed = db.session.execute(stmt).rowcount == 1
    db.session.commit()
    return claimed


def deliver(notification_id: int, *, final_attempt: bool = False) -> str:
    """Send one recorded email; returns the row's final status (``sent``/``failed``).

    A temporary failure puts the row back to ``pending`` and raises
    ``TemporaryDeliveryError`` so RQ retries with backoff; on the ``final_attempt`` it marks
    the row ``failed`` (and still raises, so the outbox row fails too). A permanent failure
    (5xx) marks the row ``failed`` at once: retrying cannot help.
    """
    if not claim(notification_id):
        row = db.session.get(Notification, notification_id)
        if row is None:
            raise LookupError(f"notification {notification_id} does not exist")
        if row.status in ("sent", "failed"):
            return row.status
        raise NotificationBusy(f"notification {notification_id} is being sent by another worker")
    notification = db.session.get(Notification, notification_id)
    message = build_message(notification)
    db.session.commit()  # no transaction stays open while we talk to the SMTP server
    try:
        with _SMTPConnection(current_app.extensions["mail"]) as connection:
            connection.send(message)
    except (smtplib.SMTPException, OSError) as exc:  # OSError covers timeouts
        temporary, error = _smtp_error(exc)
        if temporary and not final_attempt:
            _set(notification_id, only_if="sending", status="pending", last_error=error[:2000])
            raise TemporaryDeliveryError(error) from exc
        _set(notification_id, status="failed", last_error=error[:2000])
        if temporary:
            raise TemporaryDeliveryError(error) from exc
        return "failed"
    _set(notification_id, status="sent", sent_at=clock.now(), last_error=None)
    return "sent"


def mark_failed(notification_id: int, error: str) -> None:
    """Retries exhausted without a final attempt of our own (e.g. the worker died)."""
    stmt = (
        update(Notification)
        .where(Notification.id == notification_id, Notification.status.in_(("pending", "sending")))
        .values(status="failed", last_error=error[:2000])
        .execution_options(synchronize_session=False)
    )
    db.session.execute(stmt)
    db.session.commit()


def send_again(notification_id: int) -> bool:
    """Put a failed email back in line (after staff fixed the address or the SMTP server is
    back): one conditional update failed → pending and a new outbox row, in the current
    transaction. False if the email is not (or no longer) failed."""
    stmt = (
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == "failed")
        .values(status="pending", claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    if db.session.execute(stmt).rowcount != 1:
        return False
    outbox.record("send_notification", notification_id=notification_id)
    return True


def review_request(application: Application, reviewer) -> Notification:
    """Ask a named reviewer for a review: an email with the link to the case's review page.

    (Added by the staff workspace; recorded like every other email, in the caller's
    transaction.)
    """
    return record(
        REVIEW_REQUEST,
        application,
        reviewer.email,
        STAFF_LANGUAGE,
        reviewer=reviewer,
        review_url=absolute_url("review.case", case_id=application.id),
    )
