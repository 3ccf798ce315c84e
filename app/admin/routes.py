"""Account administration (role admin): create, deactivate and re-activate accounts, change
their role, reset a lost second factor. Every change is an ``AccountEvent`` (the audit log at
the foot of the page). A new account gets no password from the admin: its owner sets one via
the emailed reset link, so no admin ever knows another person's password."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from app import accounts
from app.accounts import passwordreset, twofactor
from app.admin.forms import CreateUserForm, RoleForm
from app.extensions import db
from app.labels import ACCOUNT_EVENT_LABELS, ROLE_LABELS
from app.models import AccountEvent, User
from app.web.security import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _no_store():
    g.no_store = True


def _render(create_form: CreateUserForm | None = None, status: int = 200):
    users = db.session.scalars(select(User).order_by(User.role, User.email)).all()
    events = db.session.scalars(
        select(AccountEvent).order_by(AccountEvent.id.desc()).limit(100)
    ).all()
    return (
        render_template(
            "admin/users.html",
            users=users,
            events=events,
            create_form=create_form or CreateUserForm(formdata=None),
            button_form=FlaskForm(formdata=None),
            role_labels=ROLE_LABELS,
            event_labels=ACCOUNT_EVENT_LABELS,
        ),
        status,
    )


@bp.get("/users")
@roles_required("admin")
def users():
    return _render()


@bp.post("/users")
@roles_required("admin")
def create_user():
    form = CreateUserForm()
    if not form.validate_on_submit():
        return _render(form, 422)
    try:
        # A random password nobody knows: the owner sets their own through the emailed link.
        user = accounts.create_user(
            form.email.data,
            role=form.role.data,
            password=secrets.token_urlsafe(32),
            name=form.name.data or "",
        )
    except accounts.AccountError as exc:
        form.email.errors.append(str(exc.message))
        return _render(form, 422)
    db.session.flush()
    accounts.audit(user, "created", actor=_me(), detail=user.role)
    passwordreset.request_reset(user.email)
    db.session.commit()
    flash(
        _(
            "Konto %(email)s angelegt. Ein Link zum Setzen des Passworts ist unterwegs.",
            email=user.email,
        ),
        "success",
    )
    return redirect(url_for("admin.users"), code=303)


def _me() -> User:
    return current_user._get_current_object()


def _other_user(user_id: int) -> User:
    """The account to change; never the admin's own (no one locks themself out)."""
    user = db.get_or_404(User, user_id)
    if user.id == current_user.id:
        flash(_("Ihr eigenes Konto können Sie hier nicht ändern."), "error")
        abort(redirect(url_for("admin.users"), code=303))
    if not FlaskForm().validate_on_submit():
        abort(400)
    return user


@bp.post("/users/<int:user_id>/role")
@roles_required("admin")
def change_role(user_id: int):
    user = _other_user(user_id)
    form = RoleForm()
    if not form.validate():
        abort(400)
    if form.role.data != user.role:
        old = user.role
        accounts.change_role(user, form.role.data)
        accounts.audit(user, "role_changed", actor=_me(), detail=f"{old} → {user.role}")
        db.session.commit()
        flash(_("Rolle von %(email)s geändert.", email=user.email), "success")
    return redirect(url_for("admin.users"), code=303)


@bp.post("/users/<int:user_id>/deactivate")
@roles_required("admin")
def deactivate(user_id: int):
    user = _other_user(user_id)
    if user.active:
        accounts.deactivate(user)
        accounts.audit(user, "deactivated", actor=_me())
        db.session.commit()
        flash(_("Konto %(email)s gesperrt.", email=user.email), "success")
    return redirect(url_for("admin.users"), code=303)


@bp.post("/users/<int:user_id>/activate")
@roles_required("admin")
def activate(user_id: int):
    user = _other_user(user_id)
    if not user.active:
        accounts.activate(user)
        accounts.audit(user, "activated", actor=_me())
        db.session.commit()
        flash(_("Konto %(email)s entsperrt.", email=user.email), "success")
    return redirect(url_for("admin.users"), code=303)


@bp.post("/users/<int:user_id>/reset-two-factor")
@roles_required("admin")
def reset_two_factor(user_id: int):
    user = _other_user(user_id)
    if user.has_two_factor:
        twofactor.disable(user)
        accounts.audit(user, "two_factor_reset", actor=_me())
        db.session.commit()
        flash(_("Zwei-Faktor-Anmeldung von %(email)s zurückgesetzt.", email=user.email), "success")
    return redirect(url_for("admin.users"), code=303)
