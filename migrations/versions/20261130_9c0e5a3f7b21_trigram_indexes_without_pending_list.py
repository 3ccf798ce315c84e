"""trigram indexes without pending list

PostgreSQL only: the trigram GIN indexes of the case list search (revision 05d1c7d1091e)
get ``fastupdate = off``. With it on, inserts collect in a pending list that every search
reads through until the next vacuum merges it; after many inserts a search took four times
as long. Cases are inserted rarely, so the small extra cost per insert is of no concern
(PostgreSQL's documentation advises this where response time matters more). Turning it off
does not flush the entries pending already: ``gin_clean_pending_list`` does.

Revision ID: 9c0e5a3f7b21
Revises: 365626a51b1a
Create Date: 2026-11-30 19:50:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '9c0e5a3f7b21'
down_revision = '365626a51b1a'
branch_labels = None
depends_on = None

INDEXES = (
    'ix_application_reference_trgm',
    'ix_application_org_name_trgm',
    'ix_application_title_trgm',
)


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for index in INDEXES:
        op.execute(f'ALTER INDEX {index} SET (fastupdate = off)')
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for index in INDEXES:
        op.execute(f'ALTER INDEX {index} RESET (fastupdate)')
