"""Tables of the reception desk: the handover checklist, the follow-up calls,
the audit of re-issued customer links, and the complaints a follow-up call
opens with their append-only event log.

Kept apart from ``models.py``: they hang off ``repair_order`` but
are not part of the order's fold, so the order's events stay the only truth
about its stage, while these rows hold what the advisor wrote down around it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.persistence.models import Base


class HandoverRecord(Base):
    """The advisor's handover checklist (the service flow's last steps), written
    in the same transaction as the delivery, so no order is delivered without it."""

    __tablename__ = "handover_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id"), unique=True)
    old_parts_shown: Mapped[bool] = mapped_column(Boolean)
    next_service_date: Mapped[date | None] = mapped_column(Date)
    next_service_mileage: Mapped[int | None] = mapped_column(Integer)
    final_check_done: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column()


class FollowUpCall(Base):
    """One follow-up call (回访) and how it went."""

    __tablename__ = "follow_up_call"
    __table_args__ = (Index("ix_follow_up_call_order", "order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id"))
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column()


class CustomerLinkIssue(Base):
    """Who re-issued an order's customer link and when (a lost ticket). The
    token itself is not kept here: the order row holds the only valid one."""

    __tablename__ = "customer_link_issue"
    __table_args__ = (Index("ix_customer_link_issue_order", "order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    issued_by: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column()


class Complaint(Base):
    """A customer's complaint, opened by a follow-up call and open until its
    owner resolves it (shared/domain/complaints.py). The row is the fold of
    its ``complaint_event`` rows; ``version`` counts them, for the caller's
    optimistic check."""

    __tablename__ = "complaint"
    __table_args__ = (
        Index("ix_complaint_shop_status", "shop_id", "status"),
        Index("ix_complaint_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id"))
    # The follow-up call that recorded it.
    follow_up_id: Mapped[int | None] = mapped_column(ForeignKey("follow_up_call.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    outcome: Mapped[str] = mapped_column(Text, default="")
    opened_by: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column()
    resolved_by: Mapped[str] = mapped_column(String(100), default="")
    resolved_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column()


class ComplaintEvent(Base):
    """Append-only log of a complaint: opened, owner changed, resolved; who
    (the credential's reference and the name then), when, and the request's
    Idempotency-Key."""

    __tablename__ = "complaint_event"
    __table_args__ = (Index("ix_complaint_event_complaint", "complaint_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"))
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
