"""labour segments: index the shop's running clocks

Every stage change reads the shop's running clocks (``ended_at IS NULL``).
With only the ``shop_id`` index that read grows with every segment the shop
has ever clocked; measured in the benchmark, a command's cost rose with the
history.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 23:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_labour_segment_shop_open", "labour_segment", ["shop_id", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_labour_segment_shop_open", table_name="labour_segment")
