"""shop administration in the browser (issue 14): staff display names and
forced password changes, bay order and out-of-service reasons, API token
last use, and the moment a delivered order's personal data was anonymised

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 19:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Server defaults give the rows already there their meaning: no display
    # name yet (the name is shown), no forced change, bays in their old order
    # (by code, position 0 for all), every bay in service, tokens never used
    # since this version, no order anonymised. Plain ADD COLUMN, never a
    # batch copy: staff_user and repair_order are pointed at by other tables,
    # and a copy drops the table they point at.
    op.add_column(
        "staff_user",
        sa.Column("display_name", sa.String(100), nullable=False, server_default=""),
    )
    op.add_column(
        "staff_user",
        sa.Column(
            "must_change_password",
            sa.Boolean(create_constraint=False),
            nullable=False,
            server_default=sa.false(),
        ),
    )
    op.add_column(
        "bay", sa.Column("position", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column(
        "bay",
        sa.Column("out_of_service_reason", sa.String(200), nullable=False, server_default=""),
    )
    op.add_column("api_token", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "repair_order", sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch copy of
    # repair_order or staff_user would drop a table others point at.
    for table, column in (
        ("repair_order", "anonymised_at"),
        ("api_token", "last_used_at"),
        ("bay", "out_of_service_reason"),
        ("bay", "position"),
        ("staff_user", "must_change_password"),
        ("staff_user", "display_name"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
