"""Appointments (预约, issue 18): a car booked into a reception slot against
the shop's capacity, its append-only log, technicians' leave days and the
public booking page's phone codes.

An ``appointment`` is not an order: it becomes one when the car arrives and
the desk checks it in (``order_id``). The row is the fold of its
``appointment_event`` rows; ``version`` counts the changes, for the caller's
optimistic check. ``token`` is the customer's capability for their own
appointment page (``/a/<token>``), as ``customer_token`` is for an order's.

The customer's name, phone, e-mail and plate are personal data: retention
blanks them as it does an order's (``anonymised_at``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.persistence.models import Base


class Appointment(Base):
    """One booked visit: who, which car, what work, when, and what became of it."""

    __tablename__ = "appointment"
    __table_args__ = (
        Index("ix_appointment_shop_start", "shop_id", "start"),
        Index("ix_appointment_status_start", "status", "start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    plate: Mapped[str] = mapped_column(String(20), default="")
    customer_name: Mapped[str] = mapped_column(String(100), default="")
    customer_phone: Mapped[str] = mapped_column(String(40), default="")
    customer_email: Mapped[str] = mapped_column(String(200), default="")
    # The channels the customer agreed to be reminded on.
    customer_notify: Mapped[list[Any]] = mapped_column(JSON, default=list)
    customer_language: Mapped[str] = mapped_column(String(10), default="")
    vehicle_model: Mapped[str] = mapped_column(String(100), default="")
    vehicle_vin: Mapped[str] = mapped_column(String(17), default="")
    vehicle_mileage: Mapped[int | None] = mapped_column(Integer)
    complaint: Mapped[str] = mapped_column(Text, default="")
    # [{title, labour_hours, bay_kind}]
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    start: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(20))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("repair_order.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(10), default="desk")
    confirmed_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    checked_in_at: Mapped[datetime | None] = mapped_column()
    no_show_at: Mapped[datetime | None] = mapped_column()
    # The customer asked for no more reminders (from their own page).
    notify_opted_out_at: Mapped[datetime | None] = mapped_column()
    anonymised_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    # Who booked it (staff name, "online", a token's name).
    by: Mapped[str] = mapped_column(String(200), default="")


class AppointmentEvent(Base):
    """Append-only log of an appointment: booked, confirmed, rescheduled,
    cancelled, checked in, no-show; who, when, and the Idempotency-Key."""

    __tablename__ = "appointment_event"
    __table_args__ = (Index("ix_appointment_event_appointment", "appointment_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"))
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))


class StaffLeave(Base):
    """A day a member of staff is away (leave, training): a technician on
    leave brings no hours to that day's capacity."""

    __tablename__ = "staff_leave"
    __table_args__ = (UniqueConstraint("shop_id", "user_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    day: Mapped[date] = mapped_column(Date)


class BookingCode(Base):
    """A code texted to a phone that books on the public page, when the shop
    asks for the check: only its hash is kept; it expires, allows a few tries
    and is used once."""

    __tablename__ = "booking_code"
    __table_args__ = (Index("ix_booking_code_phone", "shop_id", "phone", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    phone: Mapped[str] = mapped_column(String(40))
    code_hash: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
