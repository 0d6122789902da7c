"""notifications: the outbox, and the customer's contact and consent on the order
(issue 17, docs/NOTIFICATIONS.md)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    with op.batch_alter_table("repair_order") as batch:
        batch.add_column(
            sa.Column("customer_email", sa.String(200), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("customer_notify", sa.JSON(), nullable=False, server_default="[]")
        )
        batch.add_column(
            sa.Column("customer_language", sa.String(10), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("notify_consented_at", moment, nullable=True))
        batch.add_column(
            sa.Column("wechat_openid", sa.String(64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("notify_opted_out_at", moment, nullable=True))
        batch.add_column(
            sa.Column("notify_opt_out", sa.String(30), nullable=False, server_default="")
        )
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("dedupe_key", sa.String(120), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("locale", sa.String(10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", moment, nullable=False),
        sa.Column("claimed_by", sa.String(80), nullable=False),
        sa.Column("claimed_until", moment, nullable=True),
        sa.Column("provider_id", sa.String(120), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.Column("sent_at", moment, nullable=True),
        sa.Column("by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["repair_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_notification_due", "notification", ["status", "not_before"])
    op.create_index("ix_notification_order", "notification", ["order_id", "id"])
    op.create_index("ix_notification_shop", "notification", ["shop_id", "created_at"])


def downgrade() -> None:
    op.drop_table("notification")
    # Dropped in place (ALTER TABLE … DROP COLUMN, SQLite 3.35+), not by
    # rebuilding repair_order: a rebuild drops the old table, which the rows
    # of later tables that name an order (signatures, complaints, report
    # facts) would forbid.
    with op.batch_alter_table("repair_order", recreate="never") as batch:
        for name in (
            "notify_opt_out",
            "notify_opted_out_at",
            "wechat_openid",
            "notify_consented_at",
            "customer_language",
            "customer_notify",
            "customer_email",
        ):
            batch.drop_column(name)
