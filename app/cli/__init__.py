"""Operator commands: ``flask --app wsgi programmes load`` and friends."""

from __future__ import annotations

import click
from babel.numbers import format_currency
from flask import Flask
from flask.cli import AppGroup

from app import eligibility
from app.cli.outbox import outbox
from app.cli.retention import retention
from app.cli.users import seed_demo_command, users
from app.programmes import ProgrammeError, read_round_files, sync_rounds

programmes = AppGroup("programmes", help="Funding rounds (data files in app/programmes/).")


@programmes.command("load")
def load_programmes() -> None:
    """Insert or update every funding round from its data file."""
    try:
        for values in read_round_files():
            unknown = eligibility.unknown_rules(eligibility.rule_specs(values["data"]))
            if unknown:
                raise ProgrammeError(f"{values['code']}: unknown rule(s) {', '.join(unknown)}")
        rounds = sync_rounds()
    except ProgrammeError as exc:
        raise click.ClickException(str(exc)) from exc
    for row in rounds:
        budget = format_currency(row.budget_cents / 100, "EUR", format="#,##0 ¤", locale="de_DE")
        click.echo(f"{row.code}: {row.name_de} (Budget {budget})")


def register(app: Flask) -> None:
    app.cli.add_command(programmes)
    app.cli.add_command(retention)
    app.cli.add_command(outbox)
    app.cli.add_command(users)
    app.cli.add_command(seed_demo_command)
