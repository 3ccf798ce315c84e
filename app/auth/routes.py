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
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from app import accounts
from app.auth.forms import ConfirmActionForm, LoginForm, RejectActionForm
from app.cases import actionlinks, workflow
from app.extensions import db, limiter
from app.models import Application
from app.web import limits
from app.web.security import roles_required, safe_next

bp = Blueprint("auth", __name__)

# The session-cookie key of the server-side login id (app.accounts.start_session).
SESSION_KEY = "sid"

# Login attempts are counted before the password check (app.web.limits), keyed on the
# typed account and the client address, with a per-address and a higher per-account limit.
LOGIN_LIMITS = (
    "LOGIN_RATELIMIT_PER_ACCOUNT_ADDRESS",
    "LOGIN_RATELIMIT_PER_ADDRESS",
    "LOGIN_RATELIMIT_PER_ACCOUNT",
)


def _login_keys(email: str) -> dict[str, tuple[str, ...]]:
    account = email.strip().lower()[:254]
    address = get_remote_address() or "unknown"
    return {
        "LOGIN_RATELIMIT_PER_ACCOUNT_ADDRESS": (account, address),
        "LOGIN_RATELIMIT_PER_ADDRESS": (address,),
        "LOGIN_RATELIMIT_PER_ACCOUNT": (account,),
    }


def _count_attempt(email: str) -> bool:
    """Count this attempt under each limit in turn; False (refuse) at the first used up."""
    keys = _login_keys(email)
    return all(limits.hit(setting, *keys[setting]) for setting in LOGIN_LIMITS)


def _home_for(user) -> str:
    if user.is_staff:
        return url_for("staff.cases")
    return url_for("review.queue")


@bp.route("/login", methods=["GET", "POST"])
@limiter.exempt  # counted in the view, before the password check (see LOGIN_LIMITS)
def login():
    g.no_store = True
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or _home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        if not _count_attempt(form.email.data):
            abort(429)
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            # One message for unknown address, wrong password and locked account alike.
            form.password.errors.append(
                _("E-Mail-Adresse oder Passwort ist falsch, oder das Konto ist gesperrt.")
            )
        else:
            accounts.record_login(user)
            db.session.commit()
            # A user who mistyped a few times starts afresh at this address.
            limits.clear(
                "LOGIN_RATELIMIT_PER_ACCOUNT_ADDRESS",
                *_login_keys(form.email.data)["LOGIN_RATELIMIT_PER_ACCOUNT_ADDRESS"],
            )
            _start_session(user)
            return redirect(next_url or _home_for(user))
    return render_template("auth/login.html", form=form, next_url=next_url)


def _start_session(user) -> None:
    """Log ``user`` in: a fresh cookie session (nothing planted before it survives: session
    fixation) tied to a server-side login row that logout revokes."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    # Permanent = the cookie ends after PERMANENT_SESSION_LIFETIME without a request.
    session.permanent = True
    login_user(user)
    session[SESSION_KEY] = accounts.start_session(
        user, current_app.config["SESSION_ABSOLUTE_HOURS"]
    )
    db.session.commit()


def _end_session() -> None:
    language = session.get("lang")
    logout_user()
    session.clear()
    if language:
        session["lang"] = language


@bp.before_app_request
def _check_server_session():
    """A login whose server-side row was revoked (logout), has reached its absolute lifetime,
    or never existed ends here: the request goes on as anonymous."""
    if SESSION_KEY not in session and "_user_id" not in session:
        return
    if current_user.is_authenticated and accounts.session_is_live(
        current_user, session.get(SESSION_KEY)
    ):
        return
    _end_session()


@bp.post("/logout")
def logout():
    accounts.end_session(session.get(SESSION_KEY))
    db.session.commit()
    _end_session()
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
    possible = application.state in transition.sources
    status = 200 if possible else 409
    if request.method == "POST" and possible:
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
            possible=possible,
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
