"""survey on the repair order

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("repair_order") as batch:
        batch.add_column(sa.Column("survey_rating", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("survey_comment", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("repair_order") as batch:
        batch.drop_column("survey_comment")
        batch.drop_column("survey_rating")
