"""report day: the per-shop per-day rollup of the stored report facts, so a
year's summary reads a row a day (issue 16, docs/REPORTS.md)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-16 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One new table, empty. The facts already stored are not summed here:
    # their rows are dropped, so the background refresh stores them again
    # and fills the days as it goes (until then the reports recompute those
    # orders from the log, as for any order without stored facts).
    op.create_table(
        "report_day",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.Column("cycle", sa.LargeBinary(), nullable=False),
        sa.Column("wait", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.PrimaryKeyConstraint("shop_id", "day"),
    )
    op.execute("DELETE FROM report_fact_part")
    op.execute("DELETE FROM report_fact")


def downgrade() -> None:
    op.drop_table("report_day")
