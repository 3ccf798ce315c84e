"""Alembic environment, run through Flask-Migrate (``flask --app wsgi db ...``).

The app's engine and metadata are used, so migrations see the same naming convention
as the models. SQLite gets batch mode (it cannot ALTER most things in place) with foreign
keys switched off while tables are rebuilt, and a foreign key check afterwards.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy.types import TypeDecorator

from app.models import SEARCH_OBJECTS

config = context.config

if config.config_file_name is not None and not current_app.testing:
    # Tests keep their own logging; elsewhere keep loggers the app configured working.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


config.set_main_option(
    "sqlalchemy.url", get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
)
target_db = current_app.extensions["migrate"].db


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def render_item(type_, obj, autogen_context):
    """Write app-specific column types as their plain SQLAlchemy type.

    A revision must not import app code: the models change, the revision must not.
    """
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``db upgrade --sql``)."""
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=get_metadata(),
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        render_item=render_item,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def include_name(name, type_, parent_names):
    """Leave the search table and indexes to their hand-written revision: they are not ORM
    objects (an FTS5 table on SQLite, trigram indexes on PostgreSQL; see app/models.py)."""
    return name not in SEARCH_OBJECTS


def run_migrations_online() -> None:
    def process_revision_directives(context, revision, directives):
        # An autogenerate run that finds no change writes no empty revision.
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("compare_type", True)
    conf_args.setdefault("render_item", render_item)
    conf_args.setdefault("include_name", include_name)

    engine = get_engine()
    is_sqlite = engine.dialect.name == "sqlite"
    conf_args["render_as_batch"] = is_sqlite
    with engine.connect() as connection:
        if is_sqlite:
            # Batch mode drops and recreates tables; with foreign keys on, that would fail
            # or cascade. The pragma only works outside a transaction, hence the raw connection.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **conf_args,
        )
        with context.begin_transaction():
            context.run_migrations()
        if is_sqlite:
            raw = connection.connection.driver_connection
            problems = raw.execute("PRAGMA foreign_key_check").fetchall()
            raw.execute("PRAGMA foreign_keys=ON")
            if problems:
                raise RuntimeError(f"foreign key violations after migration: {problems[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
