"""application org_key: the organisation's name as the duplicate rule compares it, indexed

The duplicate rule looks for the organisation's other applications in this round and the
previous one. It read every application of both rounds and normalised each name in Python,
so each check grew with the round. ``org_key`` holds the normalised name
(``app.eligibility.normalise_org_name``; ``app.cases.checks`` keeps it whenever ``org_name``
is set), and an index on (org_key, round_id) finds the organisation's applications.

The existing rows get their key here, computed by the same function. If that function ever
changes, a new revision has to compute the keys again.

Plain ADD COLUMN and CREATE INDEX, not batch mode: on SQLite, batch mode may rebuild
``application`` by copy-and-rename, which drops the search triggers (see revision
05d1c7d1091e).

Revision ID: 4b7e1c2d9a10
Revises: 9c0e5a3f7b21
Create Date: 2026-12-01 11:00:00

"""
from alembic import op
import sqlalchemy as sa

from app.eligibility import normalise_org_name


# revision identifiers, used by Alembic.
revision = '4b7e1c2d9a10'
down_revision = '9c0e5a3f7b21'
branch_labels = None
depends_on = None

application = sa.table(
    'application', sa.column('id', sa.Integer), sa.column('org_name'), sa.column('org_key')
)


def upgrade():
    op.add_column(
        'application', sa.Column('org_key', sa.Text(), server_default='', nullable=False)
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(application.c.id, application.c.org_name)).all()
    if rows:
        conn.execute(
            application.update()
            .where(application.c.id == sa.bindparam('row_id'))
            .values(org_key=sa.bindparam('key')),
            [{'row_id': id_, 'key': normalise_org_name(name or '')} for id_, name in rows],
        )
    op.create_index(
        'ix_application_org_key_round', 'application', ['org_key', 'round_id'], unique=False
    )


def downgrade():
    op.drop_index('ix_application_org_key_round', table_name='application')
    op.drop_column('application', 'org_key')
