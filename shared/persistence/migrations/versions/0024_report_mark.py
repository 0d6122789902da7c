"""report mark: how far a shop's stored report facts are known complete, so
a report looks for stale facts only among orders changed since (issue 16,
docs/REPORTS.md)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-16 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One new table, empty: no shop's facts are claimed complete until the
    # background refresh has found nothing more to store.
    op.create_table(
        "report_mark",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("basis", sa.String(32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.PrimaryKeyConstraint("shop_id"),
    )


def downgrade() -> None:
    op.drop_table("report_mark")
