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
    # since this version, no order anonymised.
    with op.batch_alter_table("staff_user") as batch:
        batch.add_column(
            sa.Column("display_name", sa.String(100), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("bay") as batch:
        batch.add_column(
            sa.Column("position", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(
            sa.Column("out_of_service_reason", sa.String(200), nullable=False, server_default="")
        )
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("repair_order") as batch:
        batch.add_column(sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("repair_order") as batch:
        batch.drop_column("anonymised_at")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("last_used_at")
    with op.batch_alter_table("bay") as batch:
        batch.drop_column("out_of_service_reason")
        batch.drop_column("position")
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("must_change_password")
        batch.drop_column("display_name")
