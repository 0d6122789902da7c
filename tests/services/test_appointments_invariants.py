"""No slot and no day is ever over-booked, whatever the mix of bookings,
moves and cancellations: a long random run of the services (seeded, so it
finds the same thing every time), the invariants checked after each step
from the stored appointments themselves."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shared.domain import errors
from shared.persistence.appointment_models import Appointment
from shared.services import appointments
from shared.services.appointment_capacity import minutes_by_kind
from shared.services.core import Core
from tests.conftest import HandClock
from tests.services.test_appointments import NOW, SHANGHAI, booking, request

DAYS = (date(2026, 6, 2), date(2026, 6, 3))
# Two technicians × 9.5 h, 30% kept for walk-ins.
DAY_HOURS = 19.0 * 0.7
SLOTS_PER_CAR = 1


def starts() -> list[datetime]:
    found = []
    for day in DAYS:
        moment = datetime(day.year, day.month, day.day, 8, 30, tzinfo=SHANGHAI)
        while moment.hour < 18:
            found.append(moment)
            moment += timedelta(minutes=15)
    return found


def check(core: Core) -> None:
    with core.db.read() as session:
        booked = session.execute(
            select(Appointment.start, Appointment.items).where(Appointment.status == "booked")
        ).all()
    per_slot = Counter(start for start, _items in booked)
    assert max(per_slot.values(), default=0) <= SLOTS_PER_CAR
    hours: dict[date, float] = defaultdict(float)
    for start, items in booked:
        hours[start.astimezone(SHANGHAI).date()] += sum(minutes_by_kind(items).values()) / 60
    assert all(total <= DAY_HOURS + 1e-6 for total in hours.values()), hours


@pytest.mark.parametrize("seed", range(3))
def test_random_bookings_moves_and_cancellations_never_over_book(
    core: Core, shop: Any, seed: int
) -> None:
    core.clock = HandClock(NOW)
    rng = random.Random(seed)
    slots = starts()
    live: dict[int, int] = {}  # appointment id → version
    for step in range(60):
        action = rng.choice(("book", "book", "book", "move", "cancel"))
        try:
            if action == "book" or not live:
                hours = rng.choice((0.5, 1.0, 2.0, 3.5))
                made = appointments.book(
                    core,
                    request(core, shop),
                    booking(rng.choice(slots), plate=f"沪A{step:05d}", hours=hours),
                )
                live[made.body["id"]] = made.body["version"]
            elif action == "move":
                target = rng.choice(sorted(live))
                moved = appointments.reschedule(
                    core,
                    request(core, shop),
                    target,
                    start=rng.choice(slots),
                    version=live[target],
                )
                live[target] = moved.body["version"]
            else:
                target = rng.choice(sorted(live))
                appointments.cancel(
                    core, request(core, shop), target, reason="改天", version=live.pop(target)
                )
        except appointments.CapacityFull as refused:
            assert refused.extra["reason"] in ("reception_full", "labour_full")
        except errors.DomainError as refused:
            raise AssertionError(f"{action}: {refused.code} {refused.detail}") from refused
        check(core)
    assert live, "the run booked something"
