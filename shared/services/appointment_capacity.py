"""The inputs of the capacity rule (``shared.domain.capacity``) read from
the database: the shop's calendar, its bays in service, its technicians (with
the skills among their qualifications) and their leave days, what active
work already holds each day (the shop-load engine's plan) and the
appointments already booked.

Read inside a command's transaction (the shop row locked: two bookings of
the last slot see each other) or in a read session (the capacity view).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.domain import capacity
from shared.domain.shop_calendar import ShopCalendar
from shared.domain.stages import Role
from shared.persistence.appointment_models import Appointment, StaffLeave
from shared.persistence.models import Bay, Shop, StaffUser
from shared.services import appointment_settings, shop_load

BOOKED = "booked"
GENERAL = "general"


def minutes_by_kind(items: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """An appointment's standard minutes per bay kind (no kind: general)."""
    found: dict[str, float] = defaultdict(float)
    for item in items:
        kind = str(item.get("bay_kind") or GENERAL)
        found[kind] += float(item.get("labour_hours") or 0) * 60
    return dict(found)


@dataclass(frozen=True)
class ShopDays:
    """What the rule needs of one shop over a run of days, read once."""

    now: datetime
    calendar: ShopCalendar
    bays: tuple[capacity.BayRoom, ...]
    technicians: tuple[int, ...]
    leave: Mapping[int, frozenset[date]]
    held: Mapping[date, Mapping[str, float]]
    bookings: tuple[capacity.Booking, ...]
    rules: capacity.Rules
    # Each technician's skills (``capacity.SKILLED_KINDS`` they hold); none: absent.
    skills: Mapping[int, frozenset[str]] = field(default_factory=dict)

    def day(self, day: date) -> capacity.DayCapacity:
        people = tuple(
            capacity.TechnicianDay(
                id=t,
                on_leave=day in self.leave.get(t, frozenset()),
                skills=self.skills.get(t, frozenset()),
            )
            for t in self.technicians
        )
        return capacity.day_capacity(
            day,
            calendar=self.calendar,
            bays=self.bays,
            technicians=people,
            held_minutes_by_kind=self.held.get(day, {}),
            bookings=self.bookings,
            rules=self.rules,
            now=self.now,
        )

    def days(self, first: date, count: int) -> list[capacity.DayCapacity]:
        return [self.day(first + timedelta(days=i)) for i in range(count)]

    def today(self) -> date:
        return self.now.astimezone(self.calendar.zone).date()


def rules_of(session: Session, shop: Shop) -> capacity.Rules:
    """The shop's settings as the rule takes them: cars per slot is the
    active advisors × cars per advisor (at least one)."""
    found = appointment_settings.read(shop.settings)
    advisors = session.execute(
        select(func.count())
        .select_from(StaffUser)
        .where(
            StaffUser.shop_id == shop.id,
            StaffUser.role == Role.ADVISOR.value,
            StaffUser.active.is_(True),
        )
    ).scalar_one()
    return capacity.Rules(
        slot_minutes=appointment_settings.SLOT_MINUTES,
        cars_per_slot=max(1, int(advisors) * found.cars_per_advisor_per_slot),
        walk_in_share=found.walk_in_share,
        lead_minutes=found.lead_minutes,
        days_ahead=found.days_ahead,
    )


def held_by_day(load: shop_load.ShopLoad, kinds: Mapping[str, str]) -> dict[date, dict[str, float]]:
    """What active work holds of each day: each planned order's remaining
    labour spread over the working time between its planned start and its
    ETA, by the kind of its bay (none yet: general)."""
    plan = shop_load.plan_of(load)
    calendar = load.calendar
    held: dict[date, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for order in load.orders:
        if order.remaining_minutes <= 0:
            continue
        forecast = plan.forecasts.get(order.id)
        begin = load.now
        end = load.now
        if forecast is not None:
            begin = max(load.now, forecast.starts_at or load.now)
            end = max(begin, forecast.eta)
        kind = kinds.get(order.bay or "", GENERAL)
        first = begin.astimezone(calendar.zone).date()
        last = end.astimezone(calendar.zone).date()
        spread: dict[date, float] = {}
        day = first
        while day <= last:
            start = datetime.combine(day, time(0), tzinfo=calendar.zone)
            stop = start + timedelta(days=1)
            spread[day] = calendar.working_minutes(max(begin, start), min(end, stop))
            day += timedelta(days=1)
        total = sum(spread.values())
        if total <= 0:
            held[calendar.next_open(begin).astimezone(calendar.zone).date()][kind] += (
                order.remaining_minutes
            )
            continue
        for day, minutes in spread.items():
            if minutes > 0:
                held[day][kind] += order.remaining_minutes * minutes / total
    return {day: dict(kinds_) for day, kinds_ in held.items()}


def read_days(
    session: Session,
    shop: Shop,
    now: datetime,
    first: date,
    last: date,
    *,
    leave_out: int | None = None,
) -> ShopDays:
    """The shop's capacity inputs for the days ``first``..``last`` (shop
    dates). ``leave_out``: an appointment not to count (the one being moved)."""
    calendar = shop_load.calendar_of(shop)
    bay_rows = session.execute(
        select(Bay.code, Bay.kind, Bay.capacity, Bay.out_of_service_reason).where(
            Bay.shop_id == shop.id, Bay.active.is_(True)
        )
    ).all()
    bays = tuple(
        capacity.BayRoom(code, kind, int(room or 1), in_service=not reason)
        for code, kind, room, reason in bay_rows
    )
    people = session.execute(
        select(StaffUser.id, StaffUser.qualifications)
        .where(
            StaffUser.shop_id == shop.id,
            StaffUser.role == Role.TECHNICIAN.value,
            StaffUser.active.is_(True),
        )
        .order_by(StaffUser.id)
    ).all()
    technicians = tuple(user_id for user_id, _ in people)
    # A skill is a qualification named after the kind it is for (ev, paint, alignment).
    skills = {
        user_id: frozenset(q for q in (held or ()) if q in capacity.SKILLED_KINDS)
        for user_id, held in people
    }
    leave: dict[int, set[date]] = defaultdict(set)
    for user_id, day in session.execute(
        select(StaffLeave.user_id, StaffLeave.day).where(
            StaffLeave.shop_id == shop.id, StaffLeave.day >= first, StaffLeave.day <= last
        )
    ):
        leave[user_id].add(day)
    since = datetime.combine(first, time(0), tzinfo=calendar.zone).astimezone(UTC)
    until = datetime.combine(last + timedelta(days=1), time(0), tzinfo=calendar.zone).astimezone(
        UTC
    )
    booked = session.execute(
        select(Appointment.id, Appointment.start, Appointment.items).where(
            Appointment.shop_id == shop.id,
            Appointment.status == BOOKED,
            Appointment.start >= since,
            Appointment.start < until,
        )
    ).all()
    bookings = tuple(
        capacity.Booking(start.astimezone(calendar.zone), minutes_by_kind(items or ()))
        for appointment_id, start, items in booked
        if appointment_id != leave_out
    )
    load = shop_load.read_load(session, shop, now)
    held = held_by_day(load, {code: kind for code, kind, _, _ in bay_rows})
    return ShopDays(
        now=now,
        calendar=calendar,
        bays=bays,
        technicians=technicians,
        leave={t: frozenset(days) for t, days in leave.items()},
        held=held,
        bookings=bookings,
        rules=rules_of(session, shop),
        skills=skills,
    )


def day_json(cap: capacity.DayCapacity, *, public: bool = False) -> dict[str, Any]:
    """A day's capacity as the API shows it. ``public``: only the free slot
    starts (nothing about other customers' bookings)."""
    if public:
        return {
            "date": cap.day.isoformat(),
            "open": cap.open,
            "slots": [s.start.isoformat() for s in cap.slots if s.free > 0],
        }
    return {
        "date": cap.day.isoformat(),
        "open": cap.open,
        "technician_hours": round(cap.technician_hours, 2),
        "technician_free_hours": round(cap.technician_free, 2),
        "labour": {
            kind: {
                "total": round(h.total, 2),
                "held": round(h.held, 2),
                "booked": round(h.booked, 2),
                "free": round(h.free, 2),
            }
            for kind, h in cap.labour.items()
        },
        "slots": [
            {
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
                "capacity": s.capacity,
                "booked": s.booked,
                "free": s.free,
            }
            for s in cap.slots
        ],
    }
