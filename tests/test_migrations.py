"""Migrations: a single head, reversible on SQLite and PostgreSQL, in step with the models.

Models may still change; when they do, the drift test below fails until a revision
(or a regenerated initial revision, see the Makefile) catches up.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import Engine, inspect

from app import create_app, register_migrations
from app.extensions import db
from app.models import SEARCH_OBJECTS
from config import TestingConfig


def _app_for(uri: str) -> Flask:
    app = create_app(
        TestingConfig(), SQLALCHEMY_DATABASE_URI=uri, RATELIMIT_STORAGE_URI="memory://"
    )
    register_migrations(app)
    return app


@pytest.fixture
def migration_app(empty_database_url: str) -> Iterator[Flask]:
    """An app on an empty database (both backends), with an app context pushed."""
    app = _app_for(empty_database_url)
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def _tables(engine: Engine) -> set[str]:
    """The tables of the ORM (the search table of SQLite is no ORM object; its indexes and
    triggers are compared below, through create_all)."""
    return set(inspect(engine).get_table_names()) - SEARCH_OBJECTS


def _constraints(engine: Engine) -> dict[str, dict[str, object]]:
    """Every table's constraint and index names, and CHECK constraints with their SQL.

    Autogenerate ignores CHECK constraints and constraint names; this catches both.
    """
    inspector = inspect(engine)
    schema = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        schema[table] = {
            "primary key": inspector.get_pk_constraint(table)["name"],
            "foreign keys": sorted(str(fk["name"]) for fk in inspector.get_foreign_keys(table)),
            "unique": sorted(str(uq["name"]) for uq in inspector.get_unique_constraints(table)),
            "indexes": sorted(str(ix["name"]) for ix in inspector.get_indexes(table)),
            "checks": sorted(
                (str(ck["name"]), " ".join(str(ck["sqltext"]).split()))
                for ck in inspector.get_check_constraints(table)
            ),
        }
    return schema


def _search_objects(engine: Engine) -> set[str]:
    """The search table, its triggers (SQLite) and trigram indexes (PostgreSQL) by name."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE name LIKE 'application_search%'"
            )
        else:
            rows = conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_application_%%trgm'"
            )
        return {row[0] for row in rows}


def test_single_head(tmp_path):
    app = _app_for(f"sqlite:///{tmp_path / 'heads.sqlite'}")
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_heads()
        db.engine.dispose()
    assert len(heads) == 1, f"several migration heads, merge them: {heads}"


def test_upgrade_downgrade_upgrade(migration_app: Flask):
    model_tables = set(db.metadata.tables)

    upgrade()
    assert _tables(db.engine) == model_tables | {"alembic_version"}

    downgrade(revision="base")
    assert _tables(db.engine) <= {"alembic_version"}

    upgrade()
    assert _tables(db.engine) == model_tables | {"alembic_version"}

    # The migrated schema takes real data: the funding rounds load.
    from app.programmes import sync_rounds

    assert len(sync_rounds()) >= 2


def test_the_organisation_key_is_computed_for_existing_applications(migration_app: Flask):
    """Revision 4b7e1c2d9a10 adds ``org_key`` to applications that exist already."""
    from app.programmes import sync_rounds
    from tests.factories import create_application

    upgrade()
    sync_rounds()
    create_application(org_name="Bildungswerk Heide e. V.")
    create_application(org_name="Jugendhilfe Celle gGmbH")
    db.session.remove()
    downgrade(revision="9c0e5a3f7b21")  # before the key: the column goes
    assert "org_key" not in {c["name"] for c in inspect(db.engine).get_columns("application")}

    upgrade()
    with db.engine.connect() as conn:
        keys = conn.exec_driver_sql("SELECT org_key FROM application ORDER BY id").scalars()
        assert list(keys) == ["bildungswerk heide", "jugendhilfe celle"]


def test_migrations_match_models(migration_app: Flask, request: pytest.FixtureRequest):
    upgrade()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, *_: name not in SEARCH_OBJECTS,
            },
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == [], (
        "models and migrations differ; write a revision with "
        "`flask --app wsgi db migrate -m ...`:\n" + "\n".join(map(str, differences))
    )

    # CHECK constraints and constraint names are invisible to autogenerate: compare them
    # with a schema that create_all() built from the models on the same backend.
    backend = db.engine.dialect.name
    reference_url = request.getfixturevalue(
        "sqlite_database_url" if backend == "sqlite" else "postgres_database_url"
    )
    reference = _app_for(reference_url)
    with reference.app_context():
        expected = _constraints(db.engine)
        expected_search = _search_objects(db.engine)
        db.engine.dispose()
    migrated = _constraints(db.engine)
    assert migrated == expected
    assert _search_objects(db.engine) == expected_search
    assert expected_search  # the search table or indexes exist on either backend
    assert any(table["checks"] for table in migrated.values())


# SQLite leaves unnamed constraints unnamed; PostgreSQL shows the names it made up.
@pytest.mark.parametrize("empty_database_url", ["postgresql"], ids=["pg"], indirect=True)
def test_every_constraint_is_named_by_the_convention(migration_app: Flask):
    """Unnamed constraints get backend-made names that a later migration cannot drop."""
    upgrade()
    for table, parts in _constraints(db.engine).items():
        assert parts["primary key"] == f"pk_{table}"
        names = [*parts["foreign keys"], *parts["unique"], *(n for n, _ in parts["checks"])]
        for name in names:
            assert name.split("_", 1)[0] in ("fk", "uq", "ck"), f"{table}: {name}"
