"""The notification outbox (issue 17; docs/NOTIFICATIONS.md).

A ``notification`` row is one message to one customer on one channel. It is
written in the same transaction as the event that causes it (or the
advisor's one-off command), so a message exists exactly when its cause was
committed; the sender (``shared.notify.sender``) claims it, sends it and
records what happened. ``dedupe_key`` is unique: the same event never
queues the same message twice, and a provider that takes an out-id is given
it, so a send whose answer was lost can be recognised instead of repeated.

``recipient`` and ``text`` are the customer's personal data: the retention
job and an erasure request blank them with the order's other data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.persistence.models import Base


class Notification(Base):
    """One message in the outbox and what became of it."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_due", "status", "not_before"),
        Index("ix_notification_order", "order_id", "id"),
        Index("ix_notification_shop", "shop_id", "created_at"),
        # The /metrics count per channel and status, from the index alone.
        Index("ix_notification_counts", "channel", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("repair_order.id"))
    kind: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(10))
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    # The seq of the event that caused it (None: an advisor's one-off).
    seq: Mapped[int | None] = mapped_column(Integer)
    # What the sender checks before sending (``notifications.still_true``)
    # and the one-off's own text; never the customer's name or phone.
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recipient: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str] = mapped_column(String(10), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="queued")
    reason: Mapped[str] = mapped_column(String(200), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Not sent before this (quiet hours, a retry's backoff).
    not_before: Mapped[datetime] = mapped_column()
    # A sender holds the message until then; a crash lets it go, and the next
    # sender asks the provider before sending again (never twice).
    claimed_by: Mapped[str] = mapped_column(String(80), default="")
    claimed_until: Mapped[datetime | None] = mapped_column()
    provider_id: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    # Who asked for a one-off (staff name), for the order's history.
    by: Mapped[str] = mapped_column(String(200), default="")
