"""the service advisor who opened the order

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 20:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repair_order") as batch:
        batch.add_column(sa.Column("advisor_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_repair_order_advisor_id_staff_user", "staff_user", ["advisor_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("repair_order") as batch:
        batch.drop_constraint("fk_repair_order_advisor_id_staff_user", type_="foreignkey")
        batch.drop_column("advisor_id")
