"""Application factory: extensions, blueprints, error pages, CLI."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask, g, has_request_context, render_template, request, session
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from app import accounts, cli, extensions, legacy
from app.admin.routes import bp as admin_bp
from app.auth.routes import bp as auth_bp
from app.extensions import babel, csrf, db, limiter, login_manager
from app.inbox.routes import bp as inbox_bp
from app.intake.routes import bp as intake_bp
from app.jobs import outbox
from app.legal.routes import bp as legal_bp
from app.ops.routes import bp as ops_bp
from app.review.routes import bp as review_bp
from app.staff.routes import bp as staff_bp
from app.web import templating, transactions
from config import Config, config_from_env, refuse_unsafe_production


def create_app(config: Config | None = None, **overrides: Any) -> Flask:
    """Build the app. ``overrides`` win over the config object (used by tests)."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_object(config or config_from_env())
    app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY is not set")
    if app.config.get("PRODUCTION"):
        refuse_unsafe_production(app.config)

    if app.config.get("PROXY_FIX_X_FOR"):
        hops = int(app.config["PROXY_FIX_X_FOR"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    register_security_headers(app)
    return app


def select_locale() -> str | None:
    if not has_request_context():
        return None  # CLI and workers: the default locale (jobs use force_locale)
    lang = session.get("lang")
    if lang in ("de", "en"):
        return lang
    return request.accept_languages.best_match(["de", "en"], default="de") or "de"


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    if click.get_current_context(silent=True) is not None:
        register_migrations(app)  # the app is being built for a ``flask …`` command
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    # by module: the name ``mail`` in this package is the app.mail subpackage
    extensions.mail.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    outbox.init_app(app)  # enqueue outbox rows on RQ after each commit
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _configure_sqlite(app)
    transactions.init_app(app)
    login_manager.user_loader(accounts.load_user)


def register_migrations(app: Flask) -> None:
    """Flask-Migrate's ``flask db …`` commands (the release step runs ``flask db upgrade``).

    Registered only when the app is built for the command line (or by a caller that runs
    migrations in code, as the migration tests do): Flask-Migrate imports Alembic, about
    11 MiB that no web or worker process needs, since they never migrate."""
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(app.root_path + "/../migrations"))


def _configure_sqlite(app: Flask) -> None:
    busy_ms = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])

    @event.listens_for(db.engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised via SQLite
        # WAL lets the web process read while the worker writes; busy_timeout makes writers
        # wait for each other instead of failing at once.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(db.engine, "begin")
    def _on_begin(conn):  # pragma: no cover - exercised via SQLite
        # BEGIN IMMEDIATE takes the write lock up front, so two writers queue on
        # busy_timeout instead of one failing with "database is locked" at commit; a
        # request that only reads does not queue (app.web.transactions).
        transactions.begin_sqlite(conn)


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(intake_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(inbox_bp)
    app.register_blueprint(review_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(legal_bp)
    app.register_blueprint(admin_bp)
    legacy.register(app)


def register_errorhandlers(app: Flask) -> None:
    def render_error(error):
        code = getattr(error, "code", 500) or 500
        return render_template(f"errors/{code}.html"), code

    for code in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(code, render_error)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("errors/csrf.html"), 400


def register_commands(app: Flask) -> None:
    cli.register(app)


def register_template_helpers(app: Flask) -> None:
    templating.register(app)


def register_security_headers(app: Flask) -> None:
    hsts_seconds = int(app.config.get("HSTS_SECONDS") or 0)

    @app.after_request
    def _headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if hsts_seconds:
            response.headers.setdefault(
                "Strict-Transport-Security", f"max-age={hsts_seconds}; includeSubDomains"
            )
        if getattr(g, "no_store", False):
            response.headers["Cache-Control"] = "no-store"
        return response
