"""notification counts index: notification (channel, status), so the
/metrics count of the outbox per channel and status reads an index, not
every message ever sent (a year of a busy shop's messages is ~200 MB of
rows: a quarter of a second to scan)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-17 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notification_counts", "notification", ["channel", "status"])


def downgrade() -> None:
    op.drop_index("ix_notification_counts", table_name="notification")
