"""The staff inbox: staff emails written from notices, with links for the possible steps.

``app.cases.notices`` records who must hear of an event; this module writes the emails:

- ``send_staff_notice`` (job): one notice, one email, at once;
- ``schedule_digests`` (called by the worker on its schedule) and ``send_digest`` (job): a
  person's notices of the day, grouped by case, in one email at their hour (Europe/Berlin).
  A ``StaffDigest`` row per person and day (unique) makes it happen once, however many
  workers schedule it; it is written with its outbox row in one transaction.

Every email offers, per case, a signed link for each step it declares (``OFFERS``) that is
possible when the email is written (``blocked_reason``), bound to its recipient. Shared
addresses get the plain case link only.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import clock
from app.cases import actionlinks, notices, reviews, workflow
from app.cases.findings import rule_name
from app.extensions import db
from app.jobs import job, outbox
from app.mail import compose
from app.models import (
    SUBMITTED,
    Application,
    EligibilityCheck,
    Event,
    InformationRequest,
    Notification,
    Review,
    ReviewRequest,
    StaffDigest,
    StaffNotice,
    User,
)

log = logging.getLogger(__name__)

A = actionlinks
# The steps each staff email offers (only those possible when it is written get a link).
OFFERS: dict[str, tuple[str, ...]] = {
    compose.STAFF_NEW: (A.REQUEST_REVIEWS, A.MARK_REVIEWED, A.REJECT),
    compose.REVIEW_RECORDED: (A.MARK_REVIEWED, A.REQUEST_REVIEWS),
    compose.REVIEWS_COMPLETE: (A.MARK_REVIEWED, A.FUND, A.REJECT),
    compose.REVIEW_CONFLICT: (A.REQUEST_REVIEWS,),
    compose.WITHDRAWN: (),
    compose.AMENDED: (A.REQUEST_REVIEWS, A.MARK_REVIEWED, A.FUND, A.REJECT),
    compose.MESSAGE_TO_STAFF: (),
    compose.REQUEST_DUE: (A.REJECT,),
    compose.EMAIL_FAILED: (),
    compose.JOB_FAILED: (),
}
# The order of links in an email and a digest.
LINK_ORDER = (A.REQUEST_REVIEWS, A.MARK_REVIEWED, A.FUND, A.REJECT)


# --- which steps are possible --------------------------------------------------------------


def available_reviewers(application: Application) -> list[User]:
    """Active reviewers not yet asked about the case and without a review of it."""
    asked = select(ReviewRequest.reviewer_id).where(ReviewRequest.application_id == application.id)
    answered = select(Review.reviewer_id).where(Review.application_id == application.id)
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.role == "reviewer",
                User.active.is_(True),
                User.id.not_in(asked),
                User.id.not_in(answered),
            )
            .order_by(User.name, User.id)
        )
    )


def blocked_reason(application: Application, action: str):
    """Why the email step ``action`` is not possible now (a lazy text), or None."""
    if action == A.OPEN:
        return None
    if action == A.REQUEST_REVIEWS:
        if application.state != SUBMITTED:
            return _l("Dieser Antrag wartet nicht mehr auf Gutachten.")
        if not available_reviewers(application):
            return _l("Alle aktiven Gutachterinnen und Gutachter sind bereits angefragt.")
        return None
    if action == A.FUND and application.state == SUBMITTED:
        # From "submitted" the fund link marks the case reviewed first (one confirmation).
        action = "mark_reviewed"
    reason = workflow.blocked_reason(application, action)
    return reason.message if reason is not None else None


def links_for(
    application: Application | None, user_id: int | None, offers: Iterable[str]
) -> dict[str, str]:
    """``{"case": …, <action>: signed link, …}`` for the possible steps among ``offers``."""
    links = {"operations": compose.absolute_url("staff.operations")}
    if application is None:
        return links
    links["case"] = actionlinks.case_url(application)
    if user_id is None:
        return links  # a shared inbox: no action links, whoever reads it
    wanted = set(offers)
    for action in LINK_ORDER:
        if action in wanted and blocked_reason(application, action) is None:
            links[action] = actionlinks.action_url(application.id, action, user_id)
    return links


# --- what each email says ----------------------------------------------------------------


def _get(model, ident):
    return db.session.get(model, ident) if isinstance(ident, int) else None


def facts_context(notice: StaffNotice) -> dict[str, Any]:
    """What the templates of the notice's kind need, loaded by the ids in its facts."""
    facts = notice.facts or {}
    application = notice.application
    context: dict[str, Any] = {"facts": facts}
    if notice.kind == compose.STAFF_NEW:
        check = _get(EligibilityCheck, facts.get("check_id"))
        context.update(
            check=check,
            findings=[r for r in (check.results if check else []) if r.effective_outcome != "pass"],
            rule_name=rule_name,  # rendered inside the email's force_locale
        )
    elif notice.kind in (compose.REVIEW_RECORDED, compose.REVIEW_CONFLICT):
        context["review"] = _get(Review, facts.get("review_id"))
    elif notice.kind == compose.REVIEWS_COMPLETE and application is not None:
        every = reviews.reviews_of(application)
        context["reviews"] = [r for r in every if not r.conflict_of_interest]
        context["conflicts"] = [r for r in every if r.conflict_of_interest]
    elif notice.kind == compose.WITHDRAWN:
        context["event"] = _get(Event, facts.get("event_id"))
    elif notice.kind in (compose.AMENDED, compose.REQUEST_DUE):
        context["event"] = _get(Event, facts.get("event_id"))
        context["information_request"] = _get(InformationRequest, facts.get("request_id"))
    elif notice.kind == compose.MESSAGE_TO_STAFF:
        context["message"] = _get(Event, facts.get("event_id"))
    elif notice.kind == compose.EMAIL_FAILED:
        context["failed"] = _get(Notification, facts.get("notification_id"))
    return context


# --- immediate emails --------------------------------------------------------------------


def _claim(notice_id: int, **values: Any) -> bool:
    """One conditional UPDATE: of two runs of the same notice only one writes its email."""
    stmt = (
        update(StaffNotice)
        .where(
            StaffNotice.id == notice_id,
            StaffNotice.notification_id.is_(None),
            StaffNotice.digest_id.is_(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(stmt).rowcount == 1


@job(queue="emails")
def send_staff_notice(notice_id: int) -> str:
    """Write the email of one immediate notice (links as possible now) and queue it."""
    notice = db.session.get(StaffNotice, notice_id)
    if notice is None:
        return "gone"  # its case was deleted (retention) before the email was written
    if notice.notification_id is not None:
        return "exists"
    links = links_for(notice.application, notice.user_id, OFFERS.get(notice.kind, ()))
    notification = compose.record(
        notice.kind,
        notice.application,
        notice.recipient,
        compose.STAFF_LANGUAGE,
        links=links,
        personal=notice.user_id is not None,
        reply_to=compose.reply_address(notice.application, notice.kind, compose.STAFF),
        **facts_context(notice),
    )
    if not _claim(notice_id, notification_id=notification.id):
        db.session.rollback()
        return "exists"
    outbox.finish_running_job()
    db.session.commit()
    return "sent"


# --- the daily digest --------------------------------------------------------------------


def local_now() -> dt.datetime:
    return clock.now().astimezone(clock.BERLIN)


def _pending_digest_users() -> list[int]:
    return list(
        db.session.scalars(
            select(StaffNotice.user_id)
            .where(
                StaffNotice.delivery == notices.DIGEST,
                StaffNotice.digest_id.is_(None),
                StaffNotice.notification_id.is_(None),
                StaffNotice.user_id.is_not(None),
            )
            .distinct()
        )
    )


def _has_digest(user_id: int, day: dt.date) -> bool:
    return db.session.scalar(select(StaffDigest.id).filter_by(user_id=user_id, day=day)) is not None


def schedule_digests() -> list[int]:
    """Start today's digest of everyone whose hour has come and who has notices waiting;
    returns the new digests' ids. Safe to run from several workers at once: the unique
    (person, day) lets one through."""
    now = local_now()
    fallback = notices.defaults()
    started = []
    for user_id in _pending_digest_users():
        user = db.session.get(User, user_id)
        if user is None:
            continue
        preference = notices.preference_of(user, fallback)
        if now.hour < preference.digest_hour or _has_digest(user_id, now.date()):
            continue
        digest = StaffDigest(user_id=user_id, day=now.date(), created_at=clock.now())
        db.session.add(digest)
        try:
            db.session.flush()
            digest_id = digest.id
            outbox.record(send_digest, digest_id=digest_id)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # today's digest exists already (another worker, or earlier)
            continue
        started.append(digest_id)
    db.session.commit()
    return started


def run_schedule(app: Flask) -> None:
    """The worker's periodic hook: start due digests; never raises (logs instead)."""
    with app.app_context():
        try:
            started = schedule_digests()
            if started:
                log.info("inbox: started %d digest(s)", len(started))
        except Exception:
            db.session.rollback()
            log.exception("inbox: digest schedule failed")
        finally:
            db.session.remove()


def digest_groups(notice_rows: list[StaffNotice], user_id: int) -> list[dict[str, Any]]:
    """Notices grouped by case (in order of first event), each with the links possible now;
    notices about no case (alerts) last."""
    groups: dict[int | None, dict[str, Any]] = {}
    for notice in notice_rows:
        group = groups.setdefault(
            notice.application_id,
            {"application": notice.application, "items": [], "offers": set()},
        )
        group["items"].append({"notice": notice, **facts_context(notice)})
        group["offers"].update(OFFERS.get(notice.kind, ()))
    ordered = [g for key, g in groups.items() if key is not None]
    if None in groups:
        ordered.append(groups[None])
    for group in ordered:
        group["links"] = links_for(group["application"], user_id, group["offers"])
    return ordered


@job(queue="emails")
def send_digest(digest_id: int) -> str:
    """Take the person's waiting digest notices and write them into one email (once)."""
    digest = db.session.get(StaffDigest, digest_id)
    if digest is None:
        return "gone"  # its person was deleted in between
    if digest.notification_id is not None or digest.sent_empty:
        return "exists"
    # Claim the notices for this digest; a notice taken by another digest is not taken again.
    db.session.execute(
        update(StaffNotice)
        .where(
            StaffNotice.user_id == digest.user_id,
            StaffNotice.delivery == notices.DIGEST,
            StaffNotice.digest_id.is_(None),
            StaffNotice.notification_id.is_(None),
            StaffNotice.created_at <= digest.created_at,
        )
        .values(digest_id=digest.id)
        .execution_options(synchronize_session=False)
    )
    rows = list(
        db.session.scalars(
            select(StaffNotice).where(StaffNotice.digest_id == digest.id).order_by(StaffNotice.id)
        )
    )
    user = db.session.get(User, digest.user_id)
    if not rows or user is None or not user.active:
        digest.sent_empty = True
        db.session.commit()
        return "empty"
    notification = compose.record(
        compose.STAFF_DIGEST,
        None,
        user.email,
        compose.STAFF_LANGUAGE,
        user=user,
        day=digest.day,
        groups=digest_groups(rows, user.id),
        event_count=len(rows),
    )
    # One conditional UPDATE: of two runs of the same digest only one keeps its email.
    claimed = db.session.execute(
        update(StaffDigest)
        .where(StaffDigest.id == digest_id, StaffDigest.notification_id.is_(None))
        .values(notification_id=notification.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        return "exists"
    db.session.commit()
    return "sent"
