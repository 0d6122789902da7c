"""report visits index: repair_order (shop_id, plate, business_day, stage),
so the reports' quality customers read each frequent plate's visits from
an index alone (issue 16, docs/REPORTS.md)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-16 11:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_repair_order_report_visits",
        "repair_order",
        ["shop_id", "plate", "business_day", "stage"],
    )


def downgrade() -> None:
    op.drop_index("ix_repair_order_report_visits", table_name="repair_order")
