"""Appointments (预约, issue 18): a car booked into a reception slot against
what the shop can really take that day (``shared.domain.capacity``), then
checked in from the booking in one step, or marked a no-show.

One function per command (``book``, ``check_in``, ``cancel``,
``reschedule``, ``mark_no_show``; the customer's own link and the public
page are in ``appointment_public``). Each goes through ``commands.execute``:
the shop's row lock (which serialises bookings: two requests for the last
free slot cannot both see it free), the Idempotency-Key, the caller's
version checked against the appointment's (409 ``stale_version`` with the
appointment as it is), the row and one ``appointment_event`` per change in
the same transaction, then after commit an ``appointments`` hint to the
staff screens, which read the day again.

Reminders and no-shows are the keeper's (``appointment_keeper``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.config import LOCALES
from shared.domain import capacity, errors, notifications, planner
from shared.domain import order as order_rules
from shared.domain.events import WorkItem
from shared.domain.new_order import Customer, NewOrder, Vehicle
from shared.domain.order import Actor
from shared.domain.plates import normalise_plate
from shared.domain.policy import Command, may
from shared.domain.stages import Role
from shared.persistence.appointment_models import Appointment, AppointmentEvent
from shared.persistence.models import Shop
from shared.realtime.publisher import Notice, staff_room
from shared.services import appointment_capacity, appointment_settings, links, orders, shop_load
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core

# The staff screens' hint: an appointment was booked or changed.
NOTICE = "appointments"

BOOKED = "booked"
CHECKED_IN = "checked_in"
CANCELLED = "cancelled"
NO_SHOW = "no_show"
STATUSES = (BOOKED, CHECKED_IN, CANCELLED, NO_SHOW)
SOURCES = ("desk", "online", "api")
MAX_ITEMS = 20
REASON_MAX = 500

# Why a booking is refused, per ``capacity.refusal`` code.
REFUSALS = {
    capacity.CLOSED: "The shop is closed that day.",
    capacity.TOO_SOON: "That time is too soon to book.",
    capacity.TOO_FAR: "That day is further ahead than the shop books.",
    capacity.NOT_A_SLOT: "That time is not the start of a reception slot.",
    capacity.RECEPTION_FULL: "That reception slot is full.",
    capacity.LABOUR_FULL: "The shop has no hours left that day for this work.",
}
# What an appointment is, once it is no longer booked.
NOT_BOOKED = {
    "checked_in": "The appointment is checked in already.",
    "cancelled": "The appointment is cancelled already.",
    "no_show": "The appointment is a no-show already.",
}

# Checks an appointment's fields with the order's own rules (it becomes one).
_CHECKER = Actor(name="appointment", roles=frozenset({Role.SYSTEM}))
# Who marks no-shows: the shop's clock, not a person.
KEEPER = Actor(name="appointment keeper", roles=frozenset({Role.SYSTEM}), ref="system:appointments")


class CapacityFull(errors.DomainError):
    """The slot or the day cannot take this booking; ``alternatives`` are the
    nearest starts where it fits and ``reason`` says what is full."""

    code = "capacity_full"
    status = 409


@dataclass(frozen=True)
class Item:
    """One line of booked work: its standard hours and the bay kind it needs."""

    title: str
    labour_hours: float
    bay_kind: str = "general"

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "labour_hours": self.labour_hours, "bay_kind": self.bay_kind}


@dataclass(frozen=True)
class Booking:
    """What a booking asks for, as the REST body or the desk gives it."""

    plate: str
    start: datetime
    customer: Customer = field(default_factory=Customer)
    vehicle: Vehicle = field(default_factory=Vehicle)
    complaint: str = ""
    items: tuple[Item, ...] = ()


def new_token() -> str:
    """The customer's capability for their appointment page: 256 bits."""
    return secrets.token_urlsafe(32)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _zone(shop: Shop) -> ZoneInfo:
    return ZoneInfo(shop.timezone)


zone_of = _zone


def manage_url(core: Core, token: str) -> str:
    """The customer's own appointment page (confirm, cancel, reschedule)."""
    return f"{links.base_url(core.settings)}/a/{token}"


def labour_hours(items: Sequence[Mapping[str, Any]]) -> float:
    return round(sum(float(i.get("labour_hours") or 0) for i in items), 2)


def is_late(row: Appointment, now: datetime) -> bool:
    """Booked, and the car is not here though its time has come."""
    return row.status == BOOKED and now >= row.start


def appointment_json(core: Core, row: Appointment, shop: Shop, now: datetime) -> dict[str, Any]:
    """An appointment as staff see it (the desk, the API)."""
    zone = _zone(shop)
    grace = timedelta(minutes=appointment_settings.read(shop.settings).grace_minutes)
    slot = timedelta(minutes=appointment_settings.SLOT_MINUTES)
    return {
        "id": row.id,
        "status": row.status,
        "start": row.start.astimezone(zone).isoformat(),
        "end": (row.start + slot).astimezone(zone).isoformat(),
        "plate": row.plate,
        "customer": {
            "name": row.customer_name,
            "phone": row.customer_phone,
            "email": row.customer_email,
            "notify": list(row.customer_notify or ()),
            "language": row.customer_language,
        },
        "vehicle": {
            "model": row.vehicle_model,
            "vin": row.vehicle_vin,
            "mileage": row.vehicle_mileage,
        },
        "complaint": row.complaint,
        "items": [dict(i) for i in row.items or ()],
        "labour_hours": labour_hours(row.items or ()),
        "version": row.version,
        "source": row.source,
        "confirmed": row.confirmed_at is not None,
        "order_id": row.order_id,
        "manage_url": manage_url(core, row.token),
        "late": is_late(row, now),
        "no_show_due": row.status == BOOKED and now >= row.start + grace,
        "cancel_reason": row.cancel_reason,
        "reminders": row.notify_opted_out_at is None,
        "created_at": row.created_at.isoformat(),
    }


# ------------------------------------------------------------- checks


def check_items(raw: object) -> tuple[Item, ...]:
    """The booked work: a list of {title, labour_hours, bay_kind?}."""
    from shared.domain.bays import BAY_KINDS

    if not isinstance(raw, list):
        raise errors.ValidationFailed(
            "items", errors.Message("%(field)s must be a list.", field="items")
        )
    if len(raw) > MAX_ITEMS:
        raise errors.ValidationFailed(
            "items", errors.Message("At most %(limit)s work items.", limit=MAX_ITEMS)
        )
    found: list[Item] = []
    for index, entry in enumerate(raw):
        name = f"items[{index}]"
        if not isinstance(entry, Mapping):
            raise errors.ValidationFailed(
                name, errors.Message("%(field)s must be an object.", field=name)
            )
        title = entry.get("title")
        hours = entry.get("labour_hours", 0)
        kind = entry.get("bay_kind") or "general"
        if not isinstance(title, str):
            raise errors.ValidationFailed(
                f"{name}.title", errors.Message("%(field)s is required.", field=f"{name}.title")
            )
        if not isinstance(hours, int | float) or isinstance(hours, bool):
            raise errors.ValidationFailed(f"{name}.labour_hours", "0 to 200 hours.")
        if not isinstance(kind, str) or kind not in BAY_KINDS:
            raise errors.ValidationFailed(
                f"{name}.bay_kind",
                errors.Message("%(field)s is not a kind of bay.", field=f"{name}.bay_kind"),
            )
        found.append(Item(title.strip(), float(hours), kind))
    return tuple(found)


def checked(booking: Booking, now: datetime) -> Booking:
    """The booking's fields checked by the order's own rules (the
    appointment becomes an order at check-in), and the contact consent."""
    if booking.start.tzinfo is None:
        raise errors.ValidationFailed(
            "start", errors.Message("%(field)s needs a UTC offset.", field="start")
        )
    command = NewOrder(
        plate=normalise_plate(booking.plate),
        customer=booking.customer,
        vehicle=booking.vehicle,
        complaint=booking.complaint,
        items=tuple(WorkItem(i.title, i.labour_hours) for i in booking.items),
        booked=True,
    )
    created = order_rules.open_order(command, number=0, now=now, actor=_CHECKER)[0]
    email, channels, language = notifications.check_contact(
        email=booking.customer.email,
        notify=booking.customer.notify,
        phone=booking.customer.phone,
        language=booking.customer.language,
        locales=LOCALES,
    )
    data = created.data()
    cleaned = Booking(
        plate=command.plate,
        start=booking.start.astimezone(UTC),
        customer=Customer(
            name=data["customer_name"],
            phone=data["customer_phone"],
            email=email,
            notify=channels,
            language=language,
        ),
        vehicle=Vehicle(
            model=data["vehicle_model"],
            vin=data["vehicle_vin"].upper(),
            mileage=booking.vehicle.mileage,
        ),
        complaint=data["complaint"],
        items=booking.items,
    )
    return cleaned


def _reason(value: str) -> str:
    cleaned = order_rules.checked_text("reason", value, limit=REASON_MAX, multiline=True)
    if not cleaned:
        raise errors.ValidationFailed(
            "reason", errors.Message("%(field)s is required.", field="reason")
        )
    return cleaned


# ------------------------------------------------------------- writing


def record(
    tx: Transaction, row: Appointment, type_: str, data: Mapping[str, Any] | None = None
) -> None:
    """Count the change, write the row, append the event and tell the staff
    screens, all in the command's transaction."""
    row.updated_at = tx.now
    if row.id is None:
        row.version = 1
        tx.session.add(row)
        tx.session.flush()
    else:
        row.version += 1
        tx.session.flush()
    tx.session.add(
        AppointmentEvent(
            shop_id=tx.locked.id,
            appointment_id=row.id,
            type=type_,
            at=tx.now,
            actor=tx.actor.ref or tx.actor.name,
            actor_name=tx.actor.name,
            data=dict(data or {}),
            idempotency_key=tx.request.idempotency_key,
        )
    )
    day = row.start.astimezone(_zone(tx.shop)).date().isoformat()
    tx.notify(
        Notice(
            NOTICE,
            {"id": row.id, "status": row.status, "version": row.version, "day": day},
            (staff_room(tx.locked.id),),
        )
    )


def _view(tx: Transaction, row: Appointment) -> dict[str, Any]:
    return appointment_json(tx.core, row, tx.shop, tx.now)


def _room(
    tx: Transaction, start: datetime, items: Sequence[Mapping[str, Any]], *, leave_out: int | None
) -> None:
    """Refuse (409 ``capacity_full`` with the nearest alternatives) unless
    the shop can take this work at ``start``; read under the shop's lock."""
    zone = _zone(tx.shop)
    local = start.astimezone(zone)
    settings = appointment_settings.read(tx.shop.settings)
    today = tx.now.astimezone(zone).date()
    last = today + timedelta(days=settings.days_ahead)
    first = min(today, local.date())
    days = appointment_capacity.read_days(
        tx.session, tx.shop, tx.now, first, max(last, local.date()), leave_out=leave_out
    )
    wanted = appointment_capacity.minutes_by_kind(items)
    refused = capacity.refusal(days.day(local.date()), local, wanted)
    if refused is None:
        return
    caps = days.days(today, settings.days_ahead + 1)
    alternatives = capacity.alternatives(caps, local, wanted)
    raise CapacityFull(
        errors.Message(REFUSALS.get(refused, REFUSALS[capacity.LABOUR_FULL])),
        reason=refused,
        alternatives=[a.isoformat() for a in alternatives],
    )


def _load(tx: Transaction, appointment_id: int, version: int | None) -> Appointment:
    row = tx.session.get(Appointment, appointment_id)
    if row is None or row.shop_id != tx.locked.id:
        raise errors.NotFound(
            errors.Message("No appointment %(id)s in this shop.", id=appointment_id)
        )
    if version is not None and row.version != version:
        raise errors.StaleVersion(
            errors.Message(
                "The appointment changed (version %(current)s, you sent %(sent)s). "
                "Here is the current state.",
                current=row.version,
                sent=version,
            ),
            appointment=_view(tx, row),
        )
    return row


def _must_be_booked(tx: Transaction, row: Appointment) -> None:
    if row.status != BOOKED:
        raise errors.IllegalTransition(
            errors.Message(NOT_BOOKED.get(row.status, NOT_BOOKED["cancelled"])),
            allowed=[],
            appointment=_view(tx, row),
        )


def _reception(tx: Transaction) -> None:
    if not may(tx.actor, Command.RECEPTION):
        role = ", ".join(sorted(r.value for r in tx.actor.roles))
        raise errors.Forbidden(f"The role {role} may not do this.")


def new_row(tx: Transaction, booking: Booking, source: str) -> Appointment:
    """Book ``booking`` (checked) in this transaction: capacity first."""
    items = [i.as_json() for i in booking.items]
    _room(tx, booking.start, items, leave_out=None)
    row = Appointment(
        shop_id=tx.locked.id,
        plate=booking.plate,
        customer_name=booking.customer.name,
        customer_phone=booking.customer.phone,
        customer_email=booking.customer.email,
        customer_notify=list(booking.customer.notify),
        customer_language=booking.customer.language,
        vehicle_model=booking.vehicle.model,
        vehicle_vin=booking.vehicle.vin,
        vehicle_mileage=booking.vehicle.mileage,
        complaint=booking.complaint,
        items=items,
        start=booking.start,
        status=BOOKED,
        token=new_token(),
        source=source,
        cancel_reason="",
        created_at=tx.now,
        by=tx.actor.name,
    )
    record(tx, row, "booked", {"start": booking.start.isoformat(), "source": source})
    return row


# ------------------------------------------------------------- commands


def book(core: Core, request: CommandRequest, booking: Booking, *, source: str = "api") -> Outcome:
    """Book a car into a slot: 201 with the appointment, or 409
    ``capacity_full`` with the nearest starts where the work fits."""
    if source not in SOURCES:
        raise errors.ValidationFailed(
            "source", errors.Message("%(field)s must be desk or api.", field="source")
        )

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _reception(tx)
        cleaned = checked(booking, tx.now)
        row = new_row(tx, cleaned, source)
        return 201, _view(tx, row)

    return execute(core, request, "book_appointment", work)


def _suggested_promise(tx: Transaction, hours: float) -> datetime | None:
    """The promise the desk would offer for these hours now (the shop-load
    engine's earliest honest completion)."""
    if not 0 <= hours <= shop_load.MAX_LABOUR_HOURS:
        return None
    load = shop_load.read_load(tx.session, tx.shop, tx.now)
    offered = planner.promise(shop_load.plan_of(load), load.calendar, load.orders, hours, False)
    return offered.promised_at


def days_early(row: Appointment, shop: Shop, now: datetime) -> int:
    """How many of the shop's calendar days before the appointment's own day
    the car came (negative: days after it; 0 on its day)."""
    zone = _zone(shop)
    return (row.start.astimezone(zone).date() - now.astimezone(zone).date()).days


def off_day(row: Appointment, shop: Shop, now: datetime) -> dict[str, Any]:
    """A check-in on another day than the appointment's own, in words a
    record keeps: the booked day and ``days_early`` or ``days_late``
    (nothing on its own day)."""
    days = days_early(row, shop, now)
    if days == 0:
        return {}
    booked_day = row.start.astimezone(_zone(shop)).date().isoformat()
    return {"booked_day": booked_day, ("days_early" if days > 0 else "days_late"): abs(days)}


def check_in(core: Core, request: CommandRequest, appointment_id: int, *, version: int) -> Outcome:
    """The car is here: open its repair order from the booking (plate,
    customer, vehicle, complaint, work; the day's queue number; the promise
    the engine suggests) and mark the appointment checked in, in one
    command. 201 with the order.

    A car that comes on another day than booked is received (a customer a
    day early is taken in when the shop can; one whose day has passed but
    who was not marked a no-show is the shop's own to judge): refusing would
    leave the advisor to cancel the booking and type the order again, and
    the booking would hold its own day's capacity. The check-in's event
    keeps the booked day and by how many days the car was early or late, so
    the appointment's history shows it."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _reception(tx)
        row = _load(tx, appointment_id, version)
        _must_be_booked(tx, row)
        items = tuple(WorkItem(str(i["title"]), float(i["labour_hours"])) for i in row.items or ())
        command = NewOrder(
            plate=row.plate,
            customer=Customer(
                name=row.customer_name,
                phone=row.customer_phone,
                email=row.customer_email,
                notify=tuple(row.customer_notify or ()),
                language=row.customer_language,
            ),
            vehicle=Vehicle(
                model=row.vehicle_model, vin=row.vehicle_vin, mileage=row.vehicle_mileage
            ),
            complaint=row.complaint,
            items=items,
            promised_at=_suggested_promise(tx, sum(i.labour_hours for i in items)),
        )
        order = orders.open_in(tx, command)
        row.status = CHECKED_IN
        row.order_id = order.id
        row.checked_in_at = tx.now
        facts: dict[str, Any] = {"order_id": order.id, "number": order.number}
        facts.update(off_day(row, tx.shop, tx.now))
        record(tx, row, "checked_in", facts)
        view = tx.view(order)
        return 201, view

    return execute(core, request, "check_in_appointment", work)


def cancel(
    core: Core, request: CommandRequest, appointment_id: int, *, reason: str, version: int
) -> Outcome:
    """Cancel a booked appointment with its reason; its capacity returns."""
    reason = _reason(reason)

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _reception(tx)
        row = _load(tx, appointment_id, version)
        _must_be_booked(tx, row)
        cancel_row(tx, row, reason)
        return 200, _view(tx, row)

    return execute(core, request, "cancel_appointment", work)


def cancel_row(tx: Transaction, row: Appointment, reason: str) -> None:
    row.status = CANCELLED
    row.cancelled_at = tx.now
    row.cancel_reason = reason
    record(tx, row, "cancelled", {"reason": reason})


def move_row(tx: Transaction, row: Appointment, start: datetime) -> None:
    """Move a booked appointment to ``start`` if the shop can take it then
    (itself not counted where it was)."""
    if start.tzinfo is None:
        raise errors.ValidationFailed(
            "start", errors.Message("%(field)s needs a UTC offset.", field="start")
        )
    start = start.astimezone(UTC)
    if start == row.start:
        return
    _room(tx, start, row.items or [], leave_out=row.id)
    before = row.start
    row.start = start
    # A moved appointment waits for the customer's confirmation again.
    row.confirmed_at = None
    record(tx, row, "rescheduled", {"from": before.isoformat(), "to": start.isoformat()})


def reschedule(
    core: Core, request: CommandRequest, appointment_id: int, *, start: datetime, version: int
) -> Outcome:
    """Move a booked appointment to another start (409 ``capacity_full``
    with alternatives when the shop cannot take it then)."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _reception(tx)
        row = _load(tx, appointment_id, version)
        _must_be_booked(tx, row)
        move_row(tx, row, start)
        return 200, _view(tx, row)

    return execute(core, request, "reschedule_appointment", work)


def no_show_row(tx: Transaction, row: Appointment) -> None:
    row.status = NO_SHOW
    row.no_show_at = tx.now
    record(tx, row, "no_show", {"start": row.start.isoformat()})


def mark_no_show(
    core: Core, request: CommandRequest, appointment_id: int, *, version: int
) -> Outcome:
    """The car did not come: only once its time has begun. Its capacity
    returns (a no-show holds nothing)."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _reception(tx)
        row = _load(tx, appointment_id, version)
        _must_be_booked(tx, row)
        if tx.now < row.start:
            raise errors.IllegalTransition(
                errors.Message("The appointment has not begun yet."),
                allowed=[],
                appointment=_view(tx, row),
            )
        no_show_row(tx, row)
        return 200, _view(tx, row)

    return execute(core, request, "appointment_no_show", work)


def mark_due_no_shows(core: Core, shop_id: int) -> int:
    """The keeper's command: every booked appointment of the shop not
    checked in by its start + the grace period becomes a no-show."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        grace = timedelta(minutes=appointment_settings.read(tx.shop.settings).grace_minutes)
        due = (
            tx.session.execute(
                select(Appointment).where(
                    Appointment.shop_id == tx.locked.id,
                    Appointment.status == BOOKED,
                    Appointment.start <= tx.now - grace,
                )
            )
            .scalars()
            .all()
        )
        for row in due:
            no_show_row(tx, row)
        return 200, {"no_shows": len(due)}

    outcome = execute(core, CommandRequest(KEEPER, shop_id), "appointment_no_shows", work)
    return int(outcome.body["no_shows"])


# ------------------------------------------------------------- reads


def _shop(session: Session, shop_id: int) -> Shop:
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise errors.NotFound(f"No shop {shop_id}.")
    return shop


def capacity_view(core: Core, shop_id: int, day: date) -> dict[str, Any]:
    """The shop's capacity on ``day``: labour per bay kind and the reception
    slots with their free places."""
    now = core.now()
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        days = appointment_capacity.read_days(session, shop, now, day, day)
        return appointment_capacity.day_json(days.day(day))


def today(core: Core, shop_id: int) -> date:
    """The shop's date now."""
    with core.db.read() as session:
        return core.now().astimezone(_zone(_shop(session, shop_id))).date()


def day_bounds(shop: Shop, day: date) -> tuple[datetime, datetime]:
    zone = _zone(shop)
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def list_day(core: Core, shop_id: int, day: date) -> list[dict[str, Any]]:
    """The day's appointments in time order (every status), each with
    ``late`` and ``no_show_due``."""
    now = core.now()
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        since, until = day_bounds(shop, day)
        rows = session.execute(
            select(Appointment)
            .where(
                Appointment.shop_id == shop_id,
                Appointment.start >= since,
                Appointment.start < until,
            )
            .order_by(Appointment.start, Appointment.id)
        ).scalars()
        return [appointment_json(core, row, shop, now) for row in rows]


def get(core: Core, shop_id: int, appointment_id: int) -> dict[str, Any]:
    with core.db.read() as session:
        row = session.get(Appointment, appointment_id)
        if row is None or row.shop_id != shop_id:
            raise errors.NotFound(
                errors.Message("No appointment %(id)s in this shop.", id=appointment_id)
            )
        return appointment_json(core, row, _shop(session, shop_id), core.now())


def history(core: Core, shop_id: int, appointment_id: int) -> list[dict[str, Any]]:
    """An appointment's events, oldest first."""
    with core.db.read() as session:
        row = session.get(Appointment, appointment_id)
        if row is None or row.shop_id != shop_id:
            raise errors.NotFound(
                errors.Message("No appointment %(id)s in this shop.", id=appointment_id)
            )
        events = session.execute(
            select(AppointmentEvent)
            .where(AppointmentEvent.appointment_id == appointment_id)
            .order_by(AppointmentEvent.id)
        ).scalars()
        return [
            {
                "type": e.type,
                "at": e.at.isoformat(),
                "actor": e.actor_name or e.actor,
                "data": e.data,
            }
            for e in events
        ]
