"""report facts: a per-order cache of the manager's report facts, rebuildable
from the event log (issue 16, docs/REPORTS.md)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_DWELL = ("checked_in", "dispatched", "in_progress", "paused", "quality_check", "washing", "ready")
_DAYS = ("checkin", "ready", "delivered", "cancelled", "labour")


def upgrade() -> None:
    # Two new tables, empty: the background refresh (or rebuild_facts) fills them.
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "report_fact",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("advisor_id", sa.Integer(), nullable=True),
        sa.Column("checkin_at", moment, nullable=True),
        sa.Column("dispatched_at", moment, nullable=True),
        sa.Column("ready_at", moment, nullable=True),
        sa.Column("delivered_at", moment, nullable=True),
        sa.Column("cancelled_at", moment, nullable=True),
        sa.Column("promised_at", moment, nullable=True),
        *(sa.Column(f"{day}_day", sa.Date(), nullable=True) for day in _DAYS),
        sa.Column("ready_on_time", sa.Boolean(), nullable=True),
        sa.Column("delivered_on_time", sa.Boolean(), nullable=True),
        sa.Column("first_time_fix", sa.Boolean(), nullable=True),
        sa.Column("carried_over", sa.Boolean(), nullable=False),
        sa.Column("cycle_minutes", sa.Float(), nullable=True),
        sa.Column("reception_wait_minutes", sa.Float(), nullable=True),
        *(sa.Column(f"dwell_{stage}", sa.Float(), nullable=True) for stage in _DWELL),
        sa.Column("sold_hours", sa.Float(), nullable=False),
        sa.Column("sold_hours_clocked", sa.Float(), nullable=False),
        sa.Column("clocked_hours", sa.Float(), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("reopened_count", sa.Integer(), nullable=False),
        sa.Column("survey_rating", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["repair_order.id"]),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.PrimaryKeyConstraint("order_id"),
    )
    for day in _DAYS:
        op.create_index(f"ix_report_fact_{day}", "report_fact", ["shop_id", f"{day}_day"])
    op.create_table(
        "report_fact_part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("advisor_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("amount2", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["report_fact.order_id"]),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_fact_part_day", "report_fact_part", ["shop_id", "kind", "day"])
    op.create_index("ix_report_fact_part_order", "report_fact_part", ["order_id"])


def downgrade() -> None:
    op.drop_table("report_fact_part")
    op.drop_table("report_fact")
