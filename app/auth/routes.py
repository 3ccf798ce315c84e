"""Login and logout. (The confirmation pages behind email action links: app.inbox.)"""

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

from app import accounts, clock
from app.accounts import passwordreset, twofactor
from app.auth.forms import (
    ForgotPasswordForm,
    LoginForm,
    ResetPasswordForm,
    TwoFactorForm,
    TwoFactorSetupForm,
)
from app.extensions import db, limiter
from app.web import limits
from app.web.security import roles_required, safe_next

bp = Blueprint("auth", __name__)

# The session-cookie key of the server-side login id (app.accounts.start_session).
SESSION_KEY = "sid"
# Password given, second factor owed (user id with session version, time, next page).
PENDING_KEY = "2fa_pending"
# A TOTP secret being set up, not yet confirmed (inside the signed session cookie).
SETUP_KEY = "2fa_setup"

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
            # Said once, in the summary: it concerns both fields, neither alone.
            form.form_errors.append(
                _("E-Mail-Adresse oder Passwort ist falsch, oder das Konto ist gesperrt.")
            )
        else:
            # A user who mistyped a few times starts afresh at this address.
            limits.clear(
                "LOGIN_RATELIMIT_PER_ACCOUNT_ADDRESS",
                *_login_keys(form.email.data)["LOGIN_RATELIMIT_PER_ACCOUNT_ADDRESS"],
            )
            if user.has_two_factor:
                db.session.commit()  # a rehashed password
                # Half logged in: only the second step knows of it, for a few minutes.
                language = session.get("lang")
                session.clear()
                if language:
                    session["lang"] = language
                session[PENDING_KEY] = {
                    "user": user.get_id(),
                    "at": int(clock.now().timestamp()),
                    "next": next_url,
                }
                return redirect(url_for("auth.two_factor"))
            accounts.record_login(user)
            db.session.commit()
            _start_session(user)
            return redirect(next_url or _home_for(user))
    return render_template("auth/login.html", form=form, next_url=next_url)


def _pending_user():
    """The user who gave the right password a moment ago and owes the second factor."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    age = clock.now().timestamp() - int(pending.get("at", 0))
    if not 0 <= age <= current_app.config["TWO_FACTOR_PENDING_SECONDS"]:
        return None
    user = accounts.load_user(str(pending.get("user", "")))
    return user if user is not None and user.has_two_factor else None


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.exempt  # counted in the view, per account
def two_factor():
    g.no_store = True
    user = _pending_user()
    if user is None:
        session.pop(PENDING_KEY, None)
        flash(_("Bitte melden Sie sich erneut an."), "info")
        return redirect(url_for("auth.login"))
    form = TwoFactorForm()
    if form.validate_on_submit():
        # Six digits fall to guessing without a limit: counted before the check.
        if not limits.hit("TOTP_RATELIMIT", str(user.id)):
            abort(429)
        used = twofactor.verify(user, form.code.data)
        if used is None:
            db.session.commit()
            form.code.errors.append(_("Der Code stimmt nicht. Bitte versuchen Sie es erneut."))
        else:
            if used == "recovery":
                accounts.audit(user, "recovery_code_used")
                flash(
                    _(
                        "Sie haben einen Wiederherstellungscode verwendet. Es bleiben "
                        "%(n)s. Richten Sie bei Bedarf neue ein.",
                        n=twofactor.recovery_codes_left(user),
                    ),
                    "info",
                )
            next_url = safe_next(session.get(PENDING_KEY, {}).get("next"))
            accounts.record_login(user)
            db.session.commit()
            _start_session(user)
            return redirect(next_url or _home_for(user))
    return render_template("auth/two_factor.html", form=form)


# --- two-factor set-up --------------------------------------------------------------------


@bp.route("/account/two-factor", methods=["GET", "POST"])
@roles_required("staff", "admin", "reviewer")
def two_factor_setup():
    """Set up (or renew) the authenticator app; shows the recovery codes once."""
    g.no_store = True
    user = current_user._get_current_object()
    form = TwoFactorSetupForm()
    secret = session.get(SETUP_KEY)
    if request.method == "GET" or not secret:
        secret = twofactor.new_secret()
        session[SETUP_KEY] = secret
    if form.validate_on_submit():
        codes = twofactor.enable(user, secret, form.code.data)
        if codes is None:
            form.code.errors.append(_("Der Code stimmt nicht. Bitte versuchen Sie es erneut."))
        else:
            session.pop(SETUP_KEY, None)
            accounts.audit(user, "two_factor_enabled", actor=user)
            db.session.commit()
            return render_template("auth/recovery_codes.html", codes=codes)
    return render_template(
        "auth/two_factor_setup.html",
        form=form,
        secret=secret,
        uri=twofactor.provisioning_uri(user, secret),
        required=_two_factor_required(user),
    )


def _two_factor_required(user) -> bool:
    return bool(current_app.config["TOTP_REQUIRED"]) and user.is_staff


# Pages a user who still owes the two-factor set-up may reach.
_SETUP_EXEMPT = {"auth.two_factor_setup", "auth.logout", "intake.set_language", "static"}


@bp.before_app_request
def _require_two_factor():
    """Staff and admins without a second factor, where it is required, set it up first."""
    if "_user_id" not in session or not current_user.is_authenticated:
        return None
    if current_user.has_two_factor or not _two_factor_required(current_user):
        return None
    if request.endpoint in _SETUP_EXEMPT or (request.endpoint or "").startswith("legal."):
        return None
    return redirect(url_for("auth.two_factor_setup"))


# --- password reset by email ---------------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    g.no_store = True
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        address = get_remote_address() or "unknown"
        email = form.email.data.strip().lower()[:254]
        if not (
            limits.hit("PASSWORD_RESET_LIMIT", "address", address)
            and limits.hit("PASSWORD_RESET_LIMIT", "account", email)
        ):
            abort(429)
        passwordreset.request_reset(email)
        db.session.commit()
        # The same answer whether or not the address has an account.
        flash(
            _(
                "Wenn zu dieser Adresse ein Konto besteht, haben wir einen Link zum Setzen "
                "eines neuen Passworts geschickt. Er gilt 30 Minuten."
            ),
            "info",
        )
        return redirect(url_for("auth.login"), code=303)
    return render_template("auth/password_forgot.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    g.no_store = True
    user = passwordreset.read_token(token)
    if user is None:
        return render_template("auth/password_link_invalid.html"), 410
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            passwordreset.reset(user, form.password.data)
        except accounts.AccountError as exc:
            form.password.errors.append(str(exc.message))
        else:
            db.session.commit()
            _end_session()
            flash(_("Ihr neues Passwort ist gesetzt. Bitte melden Sie sich an."), "success")
            return redirect(url_for("auth.login"), code=303)
    return render_template("auth/password_reset.html", form=form, user=user)


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
