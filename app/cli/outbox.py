"""``flask --app wsgi outbox status|redispatch``: the background pipeline at a glance."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.extensions import db
from app.jobs import outbox as outbox_module
from app.models import Notification

outbox = AppGroup("outbox", help="Durable background jobs (outbox rows on RQ).")


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


@outbox.command("status")
def status() -> None:
    """Print pending, enqueued and failed counts and the oldest waiting age."""
    summary = outbox_module.status_summary()
    failed_emails = db.session.scalar(
        select(func.count(Notification.id)).where(Notification.status == "failed")
    )
    click.echo(f"pending:  {summary['pending']}")
    click.echo(f"enqueued: {summary['enqueued']}")
    click.echo(f"failed:   {summary['failed']}")
    click.echo(f"done:     {summary['done']}")
    click.echo(f"oldest waiting: {_age(summary['oldest_waiting_seconds'])}")
    click.echo(f"emails failed: {failed_emails}")


@outbox.command("redispatch")
@click.option("--older-than", type=int, default=None, help="seconds (default: configured)")
def redispatch(older_than: int | None) -> None:
    """Re-enqueue outbox rows that have waited too long (the worker does this on a schedule)."""
    import datetime as dt

    counts = outbox_module.redispatch_stale(
        None if older_than is None else dt.timedelta(seconds=older_than)
    )
    click.echo(", ".join(f"{key}: {value}" for key, value in counts.items()))


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int, required=True)
def retry(ids: tuple[int, ...]) -> None:
    """Run failed jobs again (after the cause was fixed): failed → pending, then enqueue."""
    reset = outbox_module.retry_failed(list(ids))
    click.echo(f"{reset} failed job(s) queued again")
