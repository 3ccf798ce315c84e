"""application anonymised_at: when retention removed a closed case's personal data

Revision ID: 8802293e9456
Revises: 37bc260e8091
Create Date: 2026-11-30 12:17:47.583571

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8802293e9456'
down_revision = '37bc260e8091'
branch_labels = None
depends_on = None


def upgrade():
    # batch mode: SQLite can add a CHECK constraint only by copying the table
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_application_anonymised_only_final'),
            "anonymised_at IS NULL OR state IN ('funded', 'rejected', 'withdrawn')",
        )


def downgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_application_anonymised_only_final'), type_='check')
        batch_op.drop_column('anonymised_at')
