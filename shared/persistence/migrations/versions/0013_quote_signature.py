"""quote signatures; a quote's photo may be replaced while the quote is pending

The customer's signature on additional work approved in person at the desk
(客户签字) is kept like a photo, one per quote. A photo counts its
replacements (``revision``); photos from before this revision are their
quote's first.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quote_photo") as batch:
        batch.add_column(
            sa.Column("revision", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
    op.create_table(
        "quote_signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("quote_id", sa.Integer(), nullable=False),
        sa.Column("quote_version", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.ForeignKeyConstraint(["order_id"], ["repair_order.id"]),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "quote_id", name="uq_quote_signature_order_quote"),
    )
    op.create_index("ix_quote_signature_shop_id", "quote_signature", ["shop_id"])


def downgrade() -> None:
    op.drop_index("ix_quote_signature_shop_id", table_name="quote_signature")
    op.drop_table("quote_signature")
    with op.batch_alter_table("quote_photo") as batch:
        batch.drop_column("revision")
