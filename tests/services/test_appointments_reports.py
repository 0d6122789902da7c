"""The manager's summary counts the appointments of the range by their own
day: booked (cancelled ones aside), checked in, no-shows and the show rate."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from shared.services import appointments, reports
from shared.services.core import Core
from tests.conftest import HandClock
from tests.services.test_appointments import NOW, TUESDAY, at, booking, request


def test_the_summary_counts_appointments_by_their_day(core: Core, shop: Any) -> None:
    clock = HandClock(NOW)
    core.clock = clock
    shown = appointments.book(core, request(core, shop), booking(at(9))).body
    missed = appointments.book(core, request(core, shop), booking(at(10), plate="沪B22222")).body
    dropped = appointments.book(core, request(core, shop), booking(at(11), plate="沪C33333")).body
    appointments.book(core, request(core, shop), booking(at(12), plate="沪D44444"))
    appointments.book(
        core, request(core, shop), booking(at(9, day=TUESDAY + timedelta(days=1)), plate="沪E5555")
    )
    appointments.cancel(core, request(core, shop), dropped["id"], reason="改天", version=1)
    clock.now = at(9).astimezone(UTC)
    appointments.check_in(core, request(core, shop), shown["id"], version=1)
    clock.now = at(10, 5).astimezone(UTC)
    appointments.mark_no_show(core, request(core, shop), missed["id"], version=1)
    found = reports.summary(core, shop.shop_id, TUESDAY, TUESDAY)
    assert found["appointments"] == {
        "booked": 3,
        "checked_in": 1,
        "no_shows": 1,
        "show_rate": 0.5,
    }
    empty = reports.summary(core, shop.shop_id, date(2026, 5, 1), date(2026, 5, 31))
    assert empty["appointments"] == {"booked": 0, "checked_in": 0, "no_shows": 0, "show_rate": None}
