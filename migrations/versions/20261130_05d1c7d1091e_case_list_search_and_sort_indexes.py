"""case list search and sort indexes

Indexes for the district filter and the amount sort (both databases), and the substring
search of reference, organisation and title: an FTS5 trigram table kept in step by triggers
on SQLite, trigram GIN indexes (pg_trgm) on lower(column) on PostgreSQL. The SQL is the same
as ``SQLITE_SEARCH_DDL`` / ``POSTGRES_SEARCH_DDL`` in app/models.py (copied: a revision does
not import app code).

Note for later revisions: SQLite batch mode rebuilds a table by copy-and-rename, which drops
its triggers. A revision that batch-alters ``application`` must re-create the three
``application_search_*`` triggers and run ``INSERT INTO application_search(application_search)
VALUES ('rebuild')``.

Revision ID: 05d1c7d1091e
Revises: f2d9c3b4e54c
Create Date: 2026-11-30 12:48:36.676977

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '05d1c7d1091e'
down_revision = 'f2d9c3b4e54c'
branch_labels = None
depends_on = None

SQLITE_UP = (
    """CREATE VIRTUAL TABLE application_search USING fts5(
        reference, org_name, title, content='application', content_rowid='id',
        tokenize='trigram')""",
    """CREATE TRIGGER application_search_ai AFTER INSERT ON application BEGIN
        INSERT INTO application_search(rowid, reference, org_name, title)
        VALUES (new.id, new.reference, new.org_name, new.title);
    END""",
    """CREATE TRIGGER application_search_ad AFTER DELETE ON application BEGIN
        INSERT INTO application_search(application_search, rowid, reference, org_name, title)
        VALUES ('delete', old.id, old.reference, old.org_name, old.title);
    END""",
    """CREATE TRIGGER application_search_au AFTER UPDATE OF reference, org_name, title
    ON application BEGIN
        INSERT INTO application_search(application_search, rowid, reference, org_name, title)
        VALUES ('delete', old.id, old.reference, old.org_name, old.title);
        INSERT INTO application_search(rowid, reference, org_name, title)
        VALUES (new.id, new.reference, new.org_name, new.title);
    END""",
    # index the applications that exist already
    "INSERT INTO application_search(application_search) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS application_search_au",
    "DROP TRIGGER IF EXISTS application_search_ad",
    "DROP TRIGGER IF EXISTS application_search_ai",
    "DROP TABLE IF EXISTS application_search",
)
POSTGRES_UP = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_application_reference_trgm ON application "
    "USING gin (lower(reference) gin_trgm_ops)",
    "CREATE INDEX ix_application_org_name_trgm ON application "
    "USING gin (lower(org_name) gin_trgm_ops)",
    "CREATE INDEX ix_application_title_trgm ON application USING gin (lower(title) gin_trgm_ops)",
)
POSTGRES_DOWN = (
    # the extension stays: other objects of the database may use it
    "DROP INDEX IF EXISTS ix_application_title_trgm",
    "DROP INDEX IF EXISTS ix_application_org_name_trgm",
    "DROP INDEX IF EXISTS ix_application_reference_trgm",
)


def _run(statements):
    for statement in statements:
        op.execute(statement)


def upgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_requested_grant', ['requested_grant', 'id'], unique=False)

    with op.batch_alter_table('application_district', schema=None) as batch_op:
        batch_op.create_index('ix_application_district_ags', ['ags', 'application_id'], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _run(SQLITE_UP)
    elif dialect == "postgresql":
        _run(POSTGRES_UP)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _run(SQLITE_DOWN)
    elif dialect == "postgresql":
        _run(POSTGRES_DOWN)

    with op.batch_alter_table('application_district', schema=None) as batch_op:
        batch_op.drop_index('ix_application_district_ags')

    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index('ix_application_requested_grant')
