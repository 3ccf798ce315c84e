"""eligibility v2: check runs, signatory, register, cost plan, de minimis

A check is now one run of several per application (re-runs keep the history), so the unique
key moves from (application, rules version) to (application, run). The new application
columns are NULL on applications submitted before the form asked for them.

Revision ID: 37bc260e8091
Revises: 77aa44f15e8b
Create Date: 2026-11-30 12:20:02.289475

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "37bc260e8091"
down_revision = "77aa44f15e8b"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signatory_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("signatory_function", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("register_court", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("register_number", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("site_in_lower_saxony", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("cost_plan", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("personnel_positions", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("de_minimis_undertaking", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("de_minimis_received", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_application_de_minimis_received_not_negative"),
            "de_minimis_received IS NULL OR de_minimis_received >= 0",
        )

    with op.batch_alter_table("eligibility_check", schema=None) as batch_op:
        # existing checks are each an application's first run
        batch_op.add_column(sa.Column("run", sa.Integer(), nullable=False, server_default="1"))
        batch_op.drop_constraint(batch_op.f("uq_check_app_version"), type_="unique")
        batch_op.create_unique_constraint("uq_check_app_run", ["application_id", "run"])
        batch_op.create_check_constraint(op.f("ck_eligibility_check_run_positive"), "run >= 1")
    with op.batch_alter_table("eligibility_check", schema=None) as batch_op:
        batch_op.alter_column("run", server_default=None)


def downgrade():
    # The old key allows one check per rules version: keep the newest run of each.
    op.execute(
        "DELETE FROM eligibility_check WHERE id NOT IN ("
        "SELECT keep FROM (SELECT max(id) AS keep FROM eligibility_check "
        "GROUP BY application_id, rules_version) AS newest)"
    )
    with op.batch_alter_table("eligibility_check", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_eligibility_check_run_positive"), type_="check")
        batch_op.drop_constraint("uq_check_app_run", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_check_app_version"), ["application_id", "rules_version"]
        )
        batch_op.drop_column("run")

    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("ck_application_de_minimis_received_not_negative"), type_="check"
        )
        batch_op.drop_column("de_minimis_received")
        batch_op.drop_column("de_minimis_undertaking")
        batch_op.drop_column("personnel_positions")
        batch_op.drop_column("cost_plan")
        batch_op.drop_column("site_in_lower_saxony")
        batch_op.drop_column("register_number")
        batch_op.drop_column("register_court")
        batch_op.drop_column("signatory_function")
        batch_op.drop_column("signatory_name")
