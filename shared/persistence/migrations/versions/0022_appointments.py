"""appointments: cars booked into reception slots against the shop's
capacity, their log, technicians' leave days and the public page's phone
codes (issue 18)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-15 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain CREATE TABLE: four new tables, nothing of the old ones copied.
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "appointment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("plate", sa.String(20), nullable=False),
        sa.Column("customer_name", sa.String(100), nullable=False),
        sa.Column("customer_phone", sa.String(40), nullable=False),
        sa.Column("customer_email", sa.String(200), nullable=False),
        sa.Column("customer_notify", sa.JSON(), nullable=False),
        sa.Column("customer_language", sa.String(10), nullable=False),
        sa.Column("vehicle_model", sa.String(100), nullable=False),
        sa.Column("vehicle_vin", sa.String(17), nullable=False),
        sa.Column("vehicle_mileage", sa.Integer(), nullable=True),
        sa.Column("complaint", sa.Text(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("start", moment, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("confirmed_at", moment, nullable=True),
        sa.Column("cancelled_at", moment, nullable=True),
        sa.Column("cancel_reason", sa.String(500), nullable=False),
        sa.Column("checked_in_at", moment, nullable=True),
        sa.Column("no_show_at", moment, nullable=True),
        sa.Column("notify_opted_out_at", moment, nullable=True),
        sa.Column("anonymised_at", moment, nullable=True),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["repair_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_appointment_shop_start", "appointment", ["shop_id", "start"])
    op.create_index("ix_appointment_status_start", "appointment", ["status", "start"])
    op.create_table(
        "appointment_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_name", sa.String(100), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointment.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_appointment_event_appointment", "appointment_event", ["appointment_id", "id"]
    )
    op.create_table(
        "staff_leave",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "user_id", "day"),
    )
    op.create_table(
        "booking_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(40), nullable=False),
        sa.Column("code_hash", sa.String(128), nullable=False),
        sa.Column("expires_at", moment, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", moment, nullable=True),
        sa.Column("created_at", moment, nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_booking_code_phone", "booking_code", ["shop_id", "phone", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_booking_code_phone", table_name="booking_code")
    op.drop_table("booking_code")
    op.drop_table("staff_leave")
    op.drop_index("ix_appointment_event_appointment", table_name="appointment_event")
    op.drop_table("appointment_event")
    op.drop_index("ix_appointment_status_start", table_name="appointment")
    op.drop_index("ix_appointment_shop_start", table_name="appointment")
    op.drop_table("appointment")
