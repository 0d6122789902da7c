"""forced PIN change: a kiosk PIN an admin set or reset must be replaced by
its technician's own at the next sign-in (issue 14, item 2)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The server default gives the rows already there their meaning: every
    # PIN set so far stays usable as it is (no forced change). Plain ADD
    # COLUMN, never a batch copy: other tables point at staff_user, and a
    # copy drops the table they point at (0015_shop_admin.py).
    op.add_column(
        "staff_user",
        sa.Column(
            "must_change_pin",
            sa.Boolean(create_constraint=False),
            nullable=False,
            server_default=sa.false(),
        ),
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+, PostgreSQL), for the same reason.
    op.execute("ALTER TABLE staff_user DROP COLUMN must_change_pin")
