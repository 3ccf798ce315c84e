"""Routes of the staff inbox: the confirmation pages behind email action links, and each
person's notification settings (admins: the defaults)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import clock, formatting
from app.cases import actionlinks, inbox, notices, reviews, workflow
from app.extensions import db
from app.inbox.forms import (
    ConfirmActionForm,
    FundActionForm,
    PreferenceForm,
    RejectActionForm,
    RequestReviewsActionForm,
)
from app.labels import ACTION_LABELS
from app.models import Application, FundingRound, InboxDefaults, InboxPreference, User
from app.web.fields import choices
from app.web.security import STAFF_ROLES, roles_required

bp = Blueprint("inbox", __name__)

A = actionlinks


# --- email action links -----------------------------------------------------------------


@bp.route("/action/<action>/<token>", methods=["GET", "POST"])
@roles_required("staff", "admin", "reviewer")
def action_link(action: str, token: str):
    """Confirmation page (GET) and execution (POST) of a signed email action link."""
    g.no_store = True
    try:
        link = actionlinks.read_token(action, token)
    except actionlinks.ActionLinkError as exc:
        if exc.expired and exc.case_id is not None:
            # An expired link still leads to its case (after login, which brought us here).
            flash(str(exc.message), "info")
            return redirect(_case_url(exc.case_id))
        return _link_refused(exc)
    if link.action == actionlinks.OPEN:
        return redirect(_case_url(link.case_id))
    if not current_user.is_staff:
        abort(403)
    user = current_user._get_current_object()
    try:
        actionlinks.check_addressee(link, user)
    except actionlinks.ActionLinkError as exc:
        return _link_refused(exc)
    application = db.session.get(Application, link.case_id)
    if application is None:
        abort(404)
    try:
        actionlinks.check_unused(link)
    except actionlinks.ActionLinkError as exc:
        return _link_refused(exc, application)

    form = _form_for(link.action, application)
    blocked = inbox.blocked_reason(application, link.action)
    status = 200 if blocked is None else 409
    if request.method == "POST" and blocked is None:
        if form.validate_on_submit():
            try:
                _apply(link, application, form, user)
                actionlinks.mark_used(link, user)
                db.session.commit()
            except workflow.TransitionError as exc:
                db.session.rollback()
                flash(str(exc.message), "error")
                status = 409 if link.action != A.FUND else 422
            except IntegrityError:
                # The same link was used a moment ago; that change stands, this one is void.
                db.session.rollback()
                return _link_refused(
                    actionlinks.ActionLinkError(
                        _("Dieser Link wurde bereits verwendet. Es wurde nichts geändert."),
                        status=410,
                        case_id=link.case_id,
                    )
                )
            else:
                flash(_done_message(link.action, application), "success")
                return redirect(_case_url(application.id))
        else:
            status = 400
        application = db.session.get(Application, link.case_id)
    return (
        render_template(
            "inbox/action_confirm.html",
            application=application,
            action=link.action,
            heading=ACTION_LABELS.get(link.action, link.action),
            blocked=blocked,
            form=form,
            emails=_preview(application, link.action),
            case_url=_case_url(application.id),
        ),
        status,
    )


def _form_for(action: str, application: Application):
    if action == A.REJECT:
        return RejectActionForm()
    if action == A.FUND:
        # Pre-filled with the requested amount; staff may change it before confirming.
        form = FundActionForm()
        if request.method == "GET":
            form.granted_amount.data = application.requested_grant
        return form
    if action == A.REQUEST_REVIEWS:
        form = RequestReviewsActionForm()
        form.reviewers.choices = choices(
            (u.id, f"{u.name or u.email} <{u.email}>")
            for u in inbox.available_reviewers(application)
        )
        return form
    return ConfirmActionForm()


def _steps(application: Application, action: str) -> list[str]:
    """The transitions a link applies: the fund link of a case still "submitted" marks it
    reviewed first (both steps checked and recorded like any other)."""
    if action == A.FUND and application.state == "submitted":
        return ["mark_reviewed", "fund"]
    return [action]


def _apply(link, application: Application, form, user: User) -> None:
    if link.action == A.REQUEST_REVIEWS:
        chosen = db.session.scalars(select(User).where(User.id.in_(form.reviewers.data))).all()
        if not reviews.request_reviews(application, list(chosen), user):
            raise workflow.TransitionError(_("Diese Personen waren bereits angefragt."))
        return
    for step in _steps(application, link.action):
        workflow.apply_transition(
            application,
            step,
            user=user,
            reason=form.reason.data if link.action == A.REJECT else None,
            granted_amount=form.granted_amount.data if step == "fund" else None,
        )


def _preview(application: Application, action: str) -> list[tuple[str, str]]:
    if action == A.REQUEST_REVIEWS:
        return []
    emails = []
    for step in _steps(application, action):
        emails.extend(workflow.preview(application, step))
    return emails


def _link_refused(exc: actionlinks.ActionLinkError, application: Application | None = None):
    # Case details only for staff: a reviewer holding a staff link learns nothing from it.
    if application is None and exc.case_id is not None and current_user.is_staff:
        application = db.session.get(Application, exc.case_id)
    case_url = _case_url(application.id) if application is not None else None
    return (
        render_template(
            "inbox/action_refused.html",
            message=exc.message,
            application=application,
            case_url=case_url,
        ),
        exc.status,
    )


def _case_url(case_id: int) -> str:
    """The case page in the user's area."""
    staff_side = not current_user.is_authenticated or current_user.is_staff
    return url_for("staff.case" if staff_side else "review.case", case_id=case_id)


def _done_message(action: str, application: Application) -> str:
    ref = application.reference
    if action == A.MARK_REVIEWED:
        return _("Fall %(ref)s ist jetzt als begutachtet markiert.", ref=ref)
    if action == A.FUND:
        return _("Fall %(ref)s ist bewilligt.", ref=ref)
    if action == A.REQUEST_REVIEWS:
        return _("Für Fall %(ref)s sind Gutachten angefragt.", ref=ref)
    return _("Fall %(ref)s wurde abgelehnt.", ref=ref)


# --- notification settings --------------------------------------------------------------


def _round_choices():
    rounds = db.session.scalars(select(FundingRound).order_by(FundingRound.code)).all()
    language = formatting.language()
    return choices((r.code, f"{r.code} – {r.name(language)}") for r in rounds)


def _fill(form: PreferenceForm, preference: notices.Preference) -> None:
    form.mode.data = preference.mode
    form.digest_hour.data = str(preference.digest_hour)
    form.all_rounds.data = "all" if preference.round_codes is None else "some"
    form.rounds.data = list(preference.round_codes or [])


def _store(row, form: PreferenceForm) -> None:
    row.mode = form.mode.data
    row.digest_hour = int(form.digest_hour.data)
    row.round_codes = None if form.all_rounds.data == "all" else sorted(form.rounds.data)
    row.updated_at = clock.now()


def _settings_page(form: PreferenceForm, *, defaults: bool, status: int = 200):
    return (
        render_template("inbox/preferences.html", form=form, defaults=defaults),
        status,
    )


@bp.route("/staff/notifications", methods=["GET", "POST"])
@roles_required(*STAFF_ROLES)
def preferences():
    g.no_store = True
    form = PreferenceForm()
    form.rounds.choices = _round_choices()
    user = current_user._get_current_object()
    if request.method == "GET":
        _fill(form, notices.preference_of(user))
        return _settings_page(form, defaults=False)
    if not form.validate_on_submit():
        return _settings_page(form, defaults=False, status=422)
    row = db.session.get(InboxPreference, user.id) or InboxPreference(user_id=user.id)
    _store(row, form)
    db.session.add(row)
    db.session.commit()
    flash(_("Ihre Benachrichtigungen sind gespeichert."), "success")
    return redirect(url_for("inbox.preferences"), code=303)


@bp.route("/staff/notifications/defaults", methods=["GET", "POST"])
@roles_required("admin")
def defaults():
    g.no_store = True
    form = PreferenceForm()
    form.rounds.choices = _round_choices()
    if request.method == "GET":
        _fill(form, notices.defaults())
        return _settings_page(form, defaults=True)
    if not form.validate_on_submit():
        return _settings_page(form, defaults=True, status=422)
    row = db.session.get(InboxDefaults, 1) or InboxDefaults(id=1)
    _store(row, form)
    db.session.add(row)
    db.session.commit()
    flash(_("Die Voreinstellungen sind gespeichert."), "success")
    return redirect(url_for("inbox.defaults"), code=303)
