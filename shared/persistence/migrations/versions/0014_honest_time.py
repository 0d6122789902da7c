"""the shop-load engine's estimate and verdict; the promise's last change

``eta_planned`` marks an estimate that came from the shop-load engine (it
stands until the engine revises it), ``risk``/``risk_cause`` its verdict on
the promise, and ``promise_reason``/``promise_by``/``promise_changed_at``
the last change of the promised time that the customer's page explains.
``edit_version`` is the version a caller must have seen to change the order:
the engine's revisions bump ``version`` but not it (existing orders: their
version).
Orders from before this revision keep their single-order estimate until the
engine first plans them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (every database has it): a batch copy of repair_order
    # would drop a table the event log and the clocks point at.
    empty = sa.text("''")
    op.add_column(
        "repair_order",
        sa.Column("eta_planned", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "repair_order", sa.Column("risk", sa.String(10), nullable=False, server_default=empty)
    )
    op.add_column(
        "repair_order",
        sa.Column("risk_cause", sa.String(20), nullable=False, server_default=empty),
    )
    op.add_column(
        "repair_order",
        sa.Column("promise_reason", sa.Text(), nullable=False, server_default=empty),
    )
    op.add_column(
        "repair_order",
        sa.Column("promise_by", sa.String(200), nullable=False, server_default=empty),
    )
    op.add_column(
        "repair_order",
        sa.Column("promise_changed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "repair_order",
        sa.Column("edit_version", sa.Integer(), nullable=False, server_default=sa.text("1")),
    )
    op.execute("UPDATE repair_order SET edit_version = version")


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch copy of
    # repair_order would drop a table the event log and the clocks point at.
    for name in (
        "edit_version",
        "promise_changed_at",
        "promise_by",
        "promise_reason",
        "risk_cause",
        "risk",
        "eta_planned",
    ):
        op.execute(f"ALTER TABLE repair_order DROP COLUMN {name}")
