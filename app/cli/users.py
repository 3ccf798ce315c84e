"""Operator commands for accounts: ``flask --app wsgi users …`` and ``seed-demo``.

``users create EMAIL --role staff|reviewer|admin`` (password from ``--password`` or a prompt
with confirmation), ``users list``, ``users deactivate EMAIL``, ``users set-password EMAIL``.
``seed-demo`` creates one demo account per role and prints each new password once.
"""

from __future__ import annotations

import secrets

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import gettext as _

from app import accounts
from app.extensions import db
from app.models import ROLES, User

users = AppGroup("users", help="Konten der Geschäftsstelle, Gutachter und Administratoren.")

DEMO_ACCOUNTS = {
    "staff": ("demo-staff@example.org", "Demo Geschäftsstelle"),
    "reviewer": ("demo-reviewer@example.org", "Demo Gutachterin"),
    "admin": ("demo-admin@example.org", "Demo Administration"),
}

_password_option = click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Ohne diese Option wird das Passwort verdeckt abgefragt (empfohlen).",
)


def _account_error(exc: accounts.AccountError) -> click.ClickException:
    return click.ClickException(str(exc.message))


def _get_user(email: str) -> User:
    user = accounts.find_user(email)
    if user is None:
        raise click.ClickException(_("Kein Konto mit der Adresse %(email)s.", email=email))
    return user


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True, help="Rolle des Kontos.")
@click.option("--name", default="", help="Anzeigename.")
@_password_option
def create_command(email: str, role: str, name: str, password: str) -> None:
    """Ein Konto anlegen."""
    try:
        user = accounts.create_user(email, role=role, password=password, name=name)
    except accounts.AccountError as exc:
        raise _account_error(exc) from exc
    db.session.flush()
    accounts.audit(user, "created", detail=f"{user.role} (CLI)")
    db.session.commit()
    click.echo(_("Konto angelegt: %(email)s (%(role)s)", email=user.email, role=user.role))


@users.command("list")
def list_command() -> None:
    """Alle Konten auflisten."""
    rows = db.session.scalars(db.select(User).order_by(User.email)).all()
    if not rows:
        click.echo(_("Es gibt noch keine Konten."))
        return
    for user in rows:
        state = _("aktiv") if user.active else _("gesperrt")
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if user.last_login_at else "–"
        click.echo(f"{user.email:<40} {user.role:<9} {state:<9} {last:<21} {user.name}")


@users.command("deactivate")
@click.argument("email")
def deactivate_command(email: str) -> None:
    """Ein Konto sperren; offene Sitzungen enden bei der nächsten Anfrage."""
    user = _get_user(email)
    if not user.active:
        click.echo(_("Das Konto %(email)s ist bereits gesperrt.", email=user.email))
        return
    accounts.deactivate(user)
    accounts.audit(user, "deactivated", detail="CLI")
    db.session.commit()
    click.echo(_("Konto gesperrt: %(email)s", email=user.email))


@users.command("set-password")
@click.argument("email")
@_password_option
def set_password_command(email: str, password: str) -> None:
    """Ein neues Passwort setzen; offene Sitzungen enden bei der nächsten Anfrage."""
    user = _get_user(email)
    try:
        accounts.set_password(user, password)
    except accounts.AccountError as exc:
        raise _account_error(exc) from exc
    accounts.audit(user, "password_reset", detail="CLI")
    db.session.commit()
    click.echo(_("Neues Passwort gesetzt für %(email)s.", email=user.email))


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Je ein Demo-Konto pro Rolle anlegen und die Passwörter einmalig anzeigen."""
    created: list[tuple[User, str]] = []
    for role, (email, name) in DEMO_ACCOUNTS.items():
        if accounts.find_user(email) is not None:
            click.echo(
                _(
                    "%(email)s (%(role)s) gibt es schon; das Passwort bleibt unverändert.",
                    email=email,
                    role=role,
                )
            )
            continue
        password = secrets.token_urlsafe(15)
        created.append(
            (accounts.create_user(email, role=role, password=password, name=name), password)
        )
    db.session.commit()
    if created:
        click.echo(_("Demo-Konten (die Passwörter werden nur dieses eine Mal angezeigt):"))
    for user, password in created:
        click.echo(f"  {user.role:<9} {user.email:<28} {password}")
    if current_app.config.get("TOTP_REQUIRED"):
        click.echo(
            _(
                "Zwei-Faktor-Anmeldung ist vorgeschrieben: Geschäftsstelle und Administration "
                "richten sie bei der ersten Anmeldung mit einer Authenticator-App ein."
            )
        )
    else:
        click.echo(
            _(
                "Zwei-Faktor-Anmeldung ist hier freiwillig (TOTP_REQUIRED=false); einrichten "
                "unter „Zwei-Faktor“ nach der Anmeldung."
            )
        )
