"""The worker process: RQ workers that run every job inside the Flask app context.

``python -m workers`` (see ``__main__``) creates the app once, before any fork, registers it
here and starts an ``AppSimpleWorker`` (``--fork``: an ``AppWorker``). Each job runs inside a
fresh app context and its database session is removed afterwards; a forked work horse first
drops the database connections it inherited from the parent (``engine.dispose(close=False)``),
so no connection crosses a fork.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import force_locale, gettext
from rq import SimpleWorker, Worker

from app import create_app
from app.extensions import db

# Importing the app registers every job: they live with the domain they serve
# (app.cases.checks.check_eligibility, app.mail.delivery.send_notification …).

_app: Flask | None = None


def set_app(app: Flask) -> None:
    global _app
    _app = app


def current_worker_app() -> Flask:
    """The worker's app; created on first use if the process did not register one."""
    global _app
    if _app is None:
        _app = create_app()
    return _app


def warm_up(app: Flask) -> None:
    """Do once in the parent what every forked work horse would otherwise redo (and lose on
    exit): compile the email templates and load the translation catalogs."""
    with app.app_context():
        for name in app.jinja_env.list_templates(filter_func=lambda n: n.startswith("email/")):
            app.jinja_env.get_template(name)
        for language in app.config.get("LANGUAGES", ["de"]):
            with force_locale(language):
                gettext("Guten Tag,")


class AppContextMixin:
    """Wraps RQ's public ``perform_job`` (job, success/failure callbacks) in an app context."""

    def perform_job(self, job, queue, execution) -> bool:
        app = current_worker_app()
        with app.app_context():
            if self.is_horse:  # type: ignore[attr-defined]
                # A forked child must not use the parent's pooled connections.
                for engine in db.engines.values():
                    engine.dispose(close=False)
            try:
                return super().perform_job(job, queue, execution)  # type: ignore[misc]
            finally:
                db.session.remove()


class AppWorker(AppContextMixin, Worker):
    """Forks a work horse per job (``--fork``): a crashing job cannot take the worker down."""


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in the worker process itself: the default of ``python -m workers``."""
