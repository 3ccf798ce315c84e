"""Login and logout. (The confirmation pages behind email action links: app.inbox.)"""

from __future__ import annotations

from flask import (
    Blueprint,
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

from app import accounts
from app.auth.forms import LoginForm
from app.extensions import db, limiter
from app.web.security import safe_next

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
            form.password.errors.append(
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
