"""case list state index

An index on application (state, submitted_at, id) for the case list filtered by state:
newest first without a sort, and the pager's count from the index alone.

Plain CREATE INDEX, not batch mode: on SQLite, batch mode may rebuild ``application`` by
copy-and-rename, which drops the search triggers (see revision 05d1c7d1091e).

Revision ID: 365626a51b1a
Revises: f771f73e7dc4
Create Date: 2026-11-30 19:15:44.915924

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '365626a51b1a'
down_revision = 'f771f73e7dc4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_application_state_submitted_at',
        'application',
        ['state', 'submitted_at', 'id'],
        unique=False,
    )


def downgrade():
    op.drop_index('ix_application_state_submitted_at', table_name='application')
