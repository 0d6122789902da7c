"""A car checked in on another day than its appointment's (issue 18): the
shop receives it (a customer a day early is taken in), and the check-in's
event keeps the booked day and by how many of the shop's days the car was
early or late, so the appointment's history (GET /api/v1/appointments/{id})
shows it; on its own day the event says nothing more. Real SQLite, the
clock moved by hand, days on the shop's calendar (Asia/Shanghai), not UTC's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain.new_order import Customer, Vehicle
from shared.services import appointments
from shared.services.appointments import Booking, Item
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.services.core import Core
from tests.conftest import HandClock

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shop_time(day: int, hour: int, minute: int = 0) -> datetime:
    """June 2026 on the shop's clock (1 June is a Monday)."""
    return datetime(2026, 6, day, hour, minute, tzinfo=SHANGHAI)


def request(core: Core, shop: Any) -> CommandRequest:
    principal = resolve_bearer(core, shop.tokens["advisor"])
    assert principal is not None
    return CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)


def book(core: Core, shop: Any, start: datetime, plate: str) -> dict[str, Any]:
    outcome = appointments.book(
        core,
        request(core, shop),
        Booking(
            plate=plate,
            start=start,
            customer=Customer(name="张先生", phone="13800000000", notify=("sms",)),
            vehicle=Vehicle(model="朗逸"),
            complaint="保养",
            items=(Item("小保养", 1.0, "general"),),
        ),
        source="desk",
    )
    assert outcome.status == 201, outcome.body
    return dict(outcome.body)


def checked_in_event(client: Any, shop: Any, appointment_id: int) -> dict[str, Any]:
    reply = client.get(f"/api/v1/appointments/{appointment_id}", headers=shop.headers("foreman"))
    assert reply.status_code == 200, reply.get_data(as_text=True)
    found = [e for e in reply.get_json()["events"] if e["type"] == "checked_in"]
    assert len(found) == 1
    return dict(found[0]["data"])


def test_a_car_a_day_early_is_received_and_its_history_says_so(
    core: Core, shop: Any, client: Any
) -> None:
    clock = HandClock(shop_time(1, 8).astimezone(UTC))
    core.clock = clock
    booked = book(core, shop, shop_time(3, 9), "沪A10001")
    # Tuesday 2 June, 16:00: the Wednesday customer is here a day early.
    clock.now = shop_time(2, 16).astimezone(UTC)
    outcome = appointments.check_in(core, request(core, shop), booked["id"], version=1)
    assert outcome.status == 201
    assert outcome.body["plate"] == "沪A10001"
    data = checked_in_event(client, shop, booked["id"])
    assert data == {
        "order_id": outcome.body["id"],
        "number": outcome.body["number"],
        "booked_day": "2026-06-03",
        "days_early": 1,
    }
    assert appointments.get(core, shop.shop_id, booked["id"])["status"] == "checked_in"


def test_the_shops_day_not_utcs_decides(core: Core, shop: Any, client: Any) -> None:
    """07:30 in Shanghai is the previous day in UTC: still the same day."""
    clock = HandClock(shop_time(1, 8).astimezone(UTC))
    core.clock = clock
    booked = book(core, shop, shop_time(2, 9), "沪A10002")
    clock.now = shop_time(2, 7, 30).astimezone(UTC)
    assert clock.now.date().isoformat() == "2026-06-01"
    outcome = appointments.check_in(core, request(core, shop), booked["id"], version=1)
    assert outcome.status == 201
    assert checked_in_event(client, shop, booked["id"]) == {
        "order_id": outcome.body["id"],
        "number": outcome.body["number"],
    }


def test_a_car_days_late_and_not_yet_a_no_show_is_received_with_its_lateness(
    core: Core, shop: Any, client: Any
) -> None:
    clock = HandClock(shop_time(1, 8).astimezone(UTC))
    core.clock = clock
    booked = book(core, shop, shop_time(2, 9), "沪A10003")
    # The keeper did not run (the server was off): Thursday, still booked.
    clock.now = shop_time(4, 10).astimezone(UTC)
    outcome = appointments.check_in(core, request(core, shop), booked["id"], version=1)
    assert outcome.status == 201
    data = checked_in_event(client, shop, booked["id"])
    assert data["booked_day"] == "2026-06-02"
    assert data["days_late"] == 2
    assert "days_early" not in data


def test_days_early_counts_calendar_days_on_the_shops_clock() -> None:
    """Pure arithmetic of the offset: 23:50 the night before is a day early,
    00:10 on the day is on time."""
    from shared.persistence.appointment_models import Appointment
    from shared.persistence.models import Shop as ShopRow

    shop = ShopRow(timezone="Asia/Shanghai")
    row = Appointment(start=shop_time(3, 9).astimezone(UTC))
    night_before = shop_time(2, 23, 50).astimezone(UTC)
    just_after_midnight = shop_time(3, 0, 10).astimezone(UTC)
    assert appointments.days_early(row, shop, night_before) == 1
    assert appointments.days_early(row, shop, just_after_midnight) == 0
    assert appointments.off_day(row, shop, just_after_midnight) == {}
    assert appointments.off_day(row, shop, shop_time(5, 12).astimezone(UTC)) == {
        "booked_day": "2026-06-03",
        "days_late": 2,
    }
