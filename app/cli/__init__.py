"""Operator commands: ``flask --app wsgi programmes load`` and friends."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.cases.uploads import prune_pending
from app.cli.outbox import outbox
from app.cli.users import seed_demo_command, users
from app.programmes import ProgrammeError, sync_rounds

programmes = AppGroup("programmes", help="Funding rounds (data files in app/programmes/).")


@programmes.command("load")
def load_programmes() -> None:
    """Insert or update every funding round from its data file."""
    try:
        rounds = sync_rounds()
    except ProgrammeError as exc:
        raise click.ClickException(str(exc)) from exc
    for row in rounds:
        click.echo(f"{row.code}: {row.name_de} (Budget {row.budget_cents / 100:,.0f} €)")


uploads = AppGroup("uploads", help="PDF attachments (stored in the database).")


@uploads.command("prune")
def prune_uploads() -> None:
    """Delete uploads of forms that were never submitted (older than the form's lifetime)."""
    removed = prune_pending(current_app.config["FORM_MAX_AGE_SECONDS"])
    click.echo(f"{removed} abandoned upload(s) deleted")


def register(app: Flask) -> None:
    app.cli.add_command(programmes)
    app.cli.add_command(uploads)
    app.cli.add_command(outbox)
    app.cli.add_command(users)
    app.cli.add_command(seed_demo_command)
