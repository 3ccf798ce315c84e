"""Login, logout and the confirmation pages behind email action links."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from app import accounts
from app.auth.forms import ConfirmActionForm, LoginForm, RejectActionForm
from app.cases import actionlinks, workflow
from app.extensions import db, limiter
from app.models import Application
from app.web.security import roles_required, safe_next

bp = Blueprint("auth", __name__)

# Only failed attempts count, so a user who logs in and out repeatedly is never locked out.
DEFAULT_LOGIN_LIMIT_PER_ACCOUNT = "5 per minute"
DEFAULT_LOGIN_LIMIT_PER_ADDRESS = "10 per minute"


def _account_limit() -> str:
    return current_app.config.get("LOGIN_RATELIMIT_PER_ACCOUNT", DEFAULT_LOGIN_LIMIT_PER_ACCOUNT)


def _address_limit() -> str:
    return current_app.config.get("LOGIN_RATELIMIT_PER_ADDRESS", DEFAULT_LOGIN_LIMIT_PER_ADDRESS)


def _account_key() -> str:
    # Keyed on the submitted address, so guessing one account's password from many
    # addresses is limited too.
    return "account:" + request.form.get("email", "").strip().lower()[:254]


def _failed(response) -> bool:
    return response.status_code != 302


def _home_for(user) -> str:
    if user.is_staff:
        return url_for("staff.cases")
    return url_for("review.queue")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_account_limit, key_func=_account_key, methods=["POST"], deduct_when=_failed)
@limiter.limit(_address_limit, methods=["POST"], deduct_when=_failed)
def login():
    g.no_store = True
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or _home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            # One message for unknown address, wrong password and locked account alike.
            # Said once, in the summary: it concerns both fields, neither alone.
            form.form_errors.append(
                _("E-Mail-Adresse oder Passwort ist falsch, oder das Konto ist gesperrt.")
            )
        else:
            accounts.record_login(user)
            db.session.commit()
            # A fresh session at login: nothing planted before it survives (session fixation).
            language = session.get("lang")
            session.clear()
            if language:
                session["lang"] = language
            # Permanent = the cookie ends after PERMANENT_SESSION_LIFETIME without a request.
            session.permanent = True
            login_user(user)
            return redirect(next_url or _home_for(user))
    return render_template("auth/login.html", form=form, next_url=next_url)


@bp.post("/logout")
def logout():
    language = session.get("lang")
    logout_user()
    session.clear()
    if language:
        session["lang"] = language
    flash(_("Sie haben sich abgemeldet."), "info")
    return redirect(url_for("auth.login"))


# --- email action links -----------------------------------------------------------------


@bp.route("/action/<action>/<token>", methods=["GET", "POST"])
@roles_required("staff", "admin", "reviewer")
def action_link(action: str, token: str):
    """Confirmation page (GET) and execution (POST) of a signed email action link."""
    g.no_store = True
    try:
        link = actionlinks.read_token(action, token)
    except actionlinks.ActionLinkError as exc:
        return _link_refused(exc)
    if link.action == actionlinks.OPEN:
        return redirect(_case_url(link.case_id))
    if not current_user.is_staff:
        abort(403)
    application = db.session.get(Application, link.case_id)
    if application is None:
        abort(404)
    try:
        actionlinks.check_unused(link)
    except actionlinks.ActionLinkError as exc:
        return _link_refused(exc, application)

    transition = workflow.TRANSITIONS[link.action]
    form = RejectActionForm() if link.action == actionlinks.REJECT else ConfirmActionForm()
    # Said up front, before any button: a final case, or no review yet to mark reviewed.
    blocked = workflow.blocked_reason(application, link.action)
    status = 200 if blocked is None else 409
    if request.method == "POST" and blocked is None:
        if form.validate_on_submit():
            user = current_user._get_current_object()
            reason = form.reason.data if link.action == actionlinks.REJECT else None
            try:
                workflow.apply_transition(application, link.action, user=user, reason=reason)
                actionlinks.mark_used(link, user)
                db.session.commit()
            except workflow.TransitionError as exc:
                db.session.rollback()
                flash(str(exc.message), "error")
                status = 409
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
    return (
        render_template(
            "auth/action_confirm.html",
            application=application,
            action=link.action,
            transition=transition,
            blocked=blocked,
            form=form,
            emails=workflow.preview(application, link.action),
            case_url=_case_url(application.id),
        ),
        status,
    )


def _link_refused(exc: actionlinks.ActionLinkError, application: Application | None = None):
    # Case details only for staff: a reviewer holding a staff link learns nothing from it.
    if application is None and exc.case_id is not None and current_user.is_staff:
        application = db.session.get(Application, exc.case_id)
    case_url = _case_url(application.id) if application is not None else None
    return (
        render_template(
            "auth/action_refused.html",
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
    if action == actionlinks.MARK_REVIEWED:
        return _("Fall %(ref)s ist jetzt als begutachtet markiert.", ref=application.reference)
    return _("Fall %(ref)s wurde abgelehnt.", ref=application.reference)
