"""bay kinds with capacity

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every existing bay was a one-car repair bay: the server default gives
    # the rows already there that capacity.
    with op.batch_alter_table("bay") as batch:
        batch.add_column(
            sa.Column("capacity", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )


def downgrade() -> None:
    with op.batch_alter_table("bay") as batch:
        batch.drop_column("capacity")
