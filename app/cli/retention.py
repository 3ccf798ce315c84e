"""``flask --app wsgi retention run [--dry-run]``: anonymise cases whose retention period
has ended and delete abandoned uploads (the worker runs the same daily)."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from app.cases import retention as retention_domain

retention = AppGroup("retention", help="Retention periods: anonymise closed cases when due.")


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Change nothing; list what would go.")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run as if it were this day (YYYY-MM-DD), e.g. to preview a coming run.",
)
def run(dry_run: bool, today: dt.datetime | None) -> None:
    """Anonymise every closed case whose period has ended; delete abandoned uploads and
    expired drafts."""
    day = today.date() if today else None
    if day is not None and not dry_run:
        raise click.UsageError("--today only with --dry-run: a real run uses today's date")
    report = retention_domain.run(day, dry_run=dry_run)
    verb = "would be anonymised" if dry_run else "anonymised"
    for item in report.cases:
        click.echo(f"{item.reference}\t{item.state}\tdue {item.due_on.isoformat()}\t{verb}")
    for item, why in report.skipped:
        click.echo(f"{item.reference}\t{item.state}\tskipped: {why}")
    click.echo(f"{len(report.cases)} case(s) {verb}")
    upload_verb = "would be deleted" if dry_run else "deleted"
    click.echo(f"{report.uploads} abandoned upload(s) {upload_verb}")
    click.echo(f"{report.drafts} expired draft(s) {upload_verb}")
