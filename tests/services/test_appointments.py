"""Appointments through the services: booked against real capacity (409
``capacity_full`` with alternatives), checked in from the booking in one
command, cancelled, moved, marked no-show; idempotent and version-checked;
real SQLite, the clock moved by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from shared.domain import errors
from shared.domain.events import WorkItem
from shared.domain.new_order import Customer, Vehicle
from shared.persistence.appointment_models import Appointment, AppointmentEvent
from shared.persistence.models import RepairOrder
from shared.services import appointments, orders
from shared.services.appointments import Booking, Item
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.services.core import Core
from tests.conftest import HandClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 1 June 2026, 08:00 in Shanghai: an ordinary working week.
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=SHANGHAI).astimezone(UTC)
TUESDAY = date(2026, 6, 2)


def at(hour: int, minute: int = 0, day: date = TUESDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def request(core: Core, shop: Any, role: str = "advisor", key: str | None = None) -> CommandRequest:
    principal = resolve_bearer(core, shop.tokens[role])
    assert principal is not None
    return CommandRequest(
        actor=principal.actor(), shop_id=shop.shop_id, idempotency_key=key, fingerprint=key
    )


def booking(start: datetime, plate: str = "沪A12345", hours: float = 1.0, **more: Any) -> Booking:
    return Booking(
        plate=plate,
        start=start,
        customer=Customer(name="张先生", phone="13800000000", notify=("sms",)),
        vehicle=Vehicle(model="朗逸", vin="lsvab", mileage=42000),
        complaint="保养",
        items=(Item("小保养", hours, "general"),),
        **more,
    )


@pytest.fixture
def clock(core: Core) -> HandClock:
    hand = HandClock(NOW)
    core.clock = hand
    return hand


def test_a_booking_is_stored_with_its_event_and_shown_on_the_day(
    core: Core, shop: Any, clock: HandClock
) -> None:
    outcome = appointments.book(core, request(core, shop), booking(at(9)), source="desk")
    assert outcome.status == 201
    body = outcome.body
    assert body["status"] == "booked" and body["version"] == 1
    assert body["plate"] == "沪A12345"
    assert body["vehicle"] == {"model": "朗逸", "vin": "LSVAB", "mileage": 42000}
    assert body["customer"]["notify"] == ["sms"]
    assert body["labour_hours"] == 1.0
    assert body["manage_url"].startswith("http://127.0.0.1:5000/a/")
    assert len(body["manage_url"].rsplit("/", 1)[1]) >= 43  # 256 bits
    assert datetime.fromisoformat(body["start"]) == at(9)
    assert [n.event for n in outcome.notices] == ["appointments"]
    assert outcome.notices[0].data == {
        "id": body["id"],
        "status": "booked",
        "version": 1,
        "day": "2026-06-02",
    }
    day = appointments.list_day(core, shop.shop_id, TUESDAY)
    assert [a["id"] for a in day] == [body["id"]]
    assert appointments.list_day(core, shop.shop_id, TUESDAY + timedelta(days=1)) == []
    with core.db.read() as session:
        types = session.execute(select(AppointmentEvent.type)).scalars().all()
    assert types == ["booked"]


def test_the_slot_s_reception_place_is_taken_once_and_alternatives_are_offered(
    core: Core, shop: Any, clock: HandClock
) -> None:
    # No advisor staff: one car per slot (cars_per_slot at least 1).
    appointments.book(core, request(core, shop), booking(at(9)))
    with pytest.raises(appointments.CapacityFull) as refused:
        appointments.book(core, request(core, shop), booking(at(9), plate="沪B22222"))
    assert refused.value.extra["reason"] == "reception_full"
    alternatives = [datetime.fromisoformat(a) for a in refused.value.extra["alternatives"]]
    assert alternatives == [at(8, 45), at(9, 15), at(8, 30)]
    capacity = appointments.capacity_view(core, shop.shop_id, TUESDAY)
    nine = next(s for s in capacity["slots"] if datetime.fromisoformat(s["start"]) == at(9))
    assert nine == {**nine, "capacity": 1, "booked": 1, "free": 0}
    assert capacity["labour"]["general"]["booked"] == 1.0


def test_too_soon_closed_and_labour_full_are_refused_with_their_reason(
    core: Core, shop: Any, clock: HandClock
) -> None:
    with pytest.raises(appointments.CapacityFull) as soon:
        appointments.book(core, request(core, shop), booking(at(8, 30, date(2026, 6, 1))))
    assert soon.value.extra["reason"] == "too_soon"
    # Dragon Boat Festival 2026: Friday 19 June, a statutory holiday.
    with pytest.raises(appointments.CapacityFull) as closed:
        appointments.book(core, request(core, shop), booking(at(9, 0, date(2026, 6, 19))))
    assert closed.value.extra["reason"] == "closed"
    # Two technicians × 9 h 30 × 0.7 = 13.3 h: 14 hours do not fit.
    with pytest.raises(appointments.CapacityFull) as full:
        appointments.book(core, request(core, shop), booking(at(10), hours=14))
    assert full.value.extra["reason"] == "labour_full"
    with core.db.read() as session:
        assert session.execute(select(Appointment)).first() is None


def test_check_in_opens_the_prefilled_order_in_the_same_command(
    core: Core, shop: Any, clock: HandClock
) -> None:
    booked = appointments.book(core, request(core, shop), booking(at(9))).body
    clock.now = at(8, 50).astimezone(UTC)
    outcome = appointments.check_in(core, request(core, shop), booked["id"], version=1)
    assert outcome.status == 201
    order = outcome.body
    assert order["plate"] == "沪A12345"
    assert order["number"] == 1
    assert order["stage"] == "checked_in"
    assert order["customer"]["name"] == "张先生"
    assert order["customer"]["notify"] == ["sms"]
    assert order["vehicle"] == {"model": "朗逸", "vin": "LSVAB", "mileage": 42000}
    assert [i["title"] for i in order["items"]] == ["小保养"]
    assert order["promised_at"] is not None
    after = appointments.get(core, shop.shop_id, booked["id"])
    assert after["status"] == "checked_in" and after["order_id"] == order["id"]
    assert after["version"] == 2
    # A second check-in: 409 with the appointment as it is, no second order.
    with pytest.raises(errors.IllegalTransition) as again:
        appointments.check_in(core, request(core, shop), booked["id"], version=2)
    assert again.value.extra["appointment"]["order_id"] == order["id"]
    with core.db.read() as session:
        assert len(session.execute(select(RepairOrder)).all()) == 1


def test_commands_are_version_checked_and_idempotent(
    core: Core, shop: Any, clock: HandClock
) -> None:
    first = appointments.book(core, request(core, shop, key="k1"), booking(at(9)))
    replay = appointments.book(core, request(core, shop, key="k1"), booking(at(9)))
    assert replay.replayed and replay.body == first.body
    with core.db.read() as session:
        assert len(session.execute(select(Appointment)).all()) == 1
    appointment_id = first.body["id"]
    moved = appointments.reschedule(
        core, request(core, shop), appointment_id, start=at(10), version=1
    )
    assert datetime.fromisoformat(moved.body["start"]) == at(10)
    assert moved.body["version"] == 2
    with pytest.raises(errors.StaleVersion) as stale:
        appointments.cancel(core, request(core, shop), appointment_id, reason="改天", version=1)
    assert stale.value.extra["appointment"]["version"] == 2
    with pytest.raises(errors.ValidationFailed):
        appointments.cancel(core, request(core, shop), appointment_id, reason="  ", version=2)
    cancelled = appointments.cancel(
        core, request(core, shop), appointment_id, reason="改天", version=2
    )
    assert cancelled.body["status"] == "cancelled"
    assert cancelled.body["cancel_reason"] == "改天"
    # The capacity returns: the 10:00 slot takes another car.
    appointments.book(core, request(core, shop), booking(at(10), plate="沪C33333"))


def test_a_reschedule_does_not_count_the_moved_appointment_against_itself(
    core: Core, shop: Any, clock: HandClock
) -> None:
    # 13 hours fit once (13.3 free); moving them to another slot of the same
    # day must not see its own 13 hours as taken.
    booked = appointments.book(core, request(core, shop), booking(at(9), hours=13)).body
    moved = appointments.reschedule(
        core, request(core, shop), booked["id"], start=at(11), version=1
    )
    assert moved.status == 200


def test_no_show_only_after_the_start_and_the_keeper_marks_them_after_the_grace(
    core: Core, shop: Any, clock: HandClock
) -> None:
    first = appointments.book(core, request(core, shop), booking(at(9))).body
    second = appointments.book(core, request(core, shop), booking(at(10), plate="沪B22222")).body
    with pytest.raises(errors.IllegalTransition):
        appointments.mark_no_show(core, request(core, shop), first["id"], version=1)
    clock.now = at(9, 5).astimezone(UTC)
    day = {a["id"]: a for a in appointments.list_day(core, shop.shop_id, TUESDAY)}
    assert day[first["id"]]["late"] and not day[first["id"]]["no_show_due"]
    assert not day[second["id"]]["late"]
    marked = appointments.mark_no_show(core, request(core, shop), first["id"], version=1)
    assert marked.body["status"] == "no_show"
    clock.now = at(10, 29).astimezone(UTC)
    assert appointments.mark_due_no_shows(core, shop.shop_id) == 0
    clock.now = at(10, 30).astimezone(UTC)
    assert appointments.mark_due_no_shows(core, shop.shop_id) == 1
    assert appointments.get(core, shop.shop_id, second["id"])["status"] == "no_show"
    # Capacity returns: the 10:00 slot is free again for the day's view.
    capacity = appointments.capacity_view(core, shop.shop_id, TUESDAY)
    assert capacity["labour"].get("general", {}).get("booked", 0) == 0


def test_readers_cannot_book(core: Core, shop: Any, clock: HandClock) -> None:
    with pytest.raises(errors.Forbidden):
        appointments.book(core, request(core, shop, "technician"), booking(at(9)))


def test_a_booking_without_work_items_checks_in_too(
    core: Core, shop: Any, clock: HandClock
) -> None:
    bare = Booking(plate="沪A12345", start=at(9))
    booked = appointments.book(core, request(core, shop), bare).body
    assert booked["items"] == [] and booked["labour_hours"] == 0
    order = appointments.check_in(core, request(core, shop), booked["id"], version=1).body
    assert order["items"] == [] and order["stage"] == "checked_in"


def test_active_work_holds_its_hours_on_the_days_it_is_planned(
    core: Core, shop: Any, clock: HandClock
) -> None:
    monday = NOW.astimezone(SHANGHAI).date()
    before = appointments.capacity_view(core, shop.shop_id, monday)
    assert before["labour"]["general"]["held"] == 0
    orders.create_order(
        core,
        request(core, shop),
        plate="沪F66666",
        items=(WorkItem("大修", 12.0),),
    )
    monday_after = appointments.capacity_view(core, shop.shop_id, monday)
    tuesday_after = appointments.capacity_view(core, shop.shop_id, TUESDAY)
    held = monday_after["labour"]["general"]["held"] + tuesday_after["labour"]["general"]["held"]
    # Twelve hours on the engine's plan, spread over the working time to its ETA.
    assert monday_after["labour"]["general"]["held"] > 0
    assert held == pytest.approx(12.0, abs=0.05)
    assert monday_after["labour"]["general"]["free"] < before["labour"]["general"]["free"]
