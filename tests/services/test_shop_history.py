"""The shop's past as the engine reads it from the database
(``shop_load.read_history``): the labour factor from the labour clock of the
cars finished in the last weeks, the lounge outlook from yesterday's lounge
cars, and today's plan that reads both."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.domain.planner import LABOUR_HISTORY_MINIMUM
from shared.persistence.models import Shop as ShopRow
from shared.services import shop_load
from shared.services.core import Core
from tests.conftest import HandClock
from tests.request_flow import Rest

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 30 November 2026, 08:40; yesterday (Sunday) the shop was open too.
YESTERDAY = datetime(2026, 11, 29, 8, 40, tzinfo=SHANGHAI)
TODAY = datetime(2026, 11, 30, 8, 40, tzinfo=SHANGHAI)


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(YESTERDAY)
    core.clock = fixed
    return fixed


@pytest.fixture
def rest(client: Any, shop: Any, core: Core) -> Rest:
    return Rest(client, shop, core)


def finish(
    rest: Rest,
    clock: HandClock,
    index: int,
    *,
    worked_minutes: float,
    extra_hours: float = 0.0,
    who: int = 0,
) -> dict[str, Any]:
    """Car ``index`` of the last ten days taken through the floor (four a
    day, from 09:00, two hours apart, inside the shift: the clock is never
    closed at shift end) by technician ``who`` on a bay of his: in progress
    for ``worked_minutes`` on the labour clock, then checked to ready. With
    ``extra_hours``, extra work is quoted half-way and approved at once."""
    day, slot = divmod(index, 4)
    clock.now = (TODAY - timedelta(days=10 - day)).replace(hour=9 + 2 * slot, minute=0)
    promised = (clock() + timedelta(hours=6)).isoformat()
    order = rest.create(promised_at=promised)
    bay = rest.shop.bays[who]
    technician = rest.shop.technicians[who]
    body = {"bay": bay, "technicians": [technician], "version": order["version"]}
    order = rest.ok("PUT", f"/api/v1/orders/{order['id']}/assignment", body, role="foreman")
    # The technician's own taps start and stop his clock.
    role = "technician" if who == 0 else "technician2"
    order = rest.move(order, "in_progress", role=role)
    if extra_hours:
        clock.advance(minutes=worked_minutes / 2)
        body = {
            "description": "更换刹车片",
            "labour_hours": extra_hours,
            "price_cents": 30000,
            "version": order["version"],
        }
        quote = rest.ok("POST", f"/api/v1/orders/{order['id']}/extra-work", body, role=role)
        decision = {"approved": True, "quote_version": 1, "channel": "phone"}
        path = f"/api/v1/orders/{order['id']}/extra-work/{quote['id']}/decision"
        rest.ok("POST", path, decision, role="advisor")
        order = rest.move(rest.order(order["id"]), "in_progress", role=role)
        clock.advance(minutes=worked_minutes / 2)
    else:
        clock.advance(minutes=worked_minutes)
    order = rest.move(order, "quality_check", role=role)
    for _level in range(3):
        order = rest.ok(
            "POST", f"/api/v1/orders/{order['id']}/checks", {"version": order["version"]}
        )
    assert order["stage"] == "ready", order
    return order


def history(core: Core, shop: Any) -> shop_load.ShopHistory:
    with core.db.read() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        calendar = shop_load.calendar_of(row)
        return shop_load.read_history(session, shop.shop_id, TODAY.date(), calendar)


def test_the_labour_clock_of_yesterdays_cars_gives_the_factor(
    core: Core, shop: Any, rest: Rest, clock: HandClock
) -> None:
    # Booked at an hour each, they took 75 minutes on the clock.
    for index in range(LABOUR_HISTORY_MINIMUM):
        finish(rest, clock, index, worked_minutes=75)
    found = history(core, shop)
    assert found.labour_factor == pytest.approx(1.25, abs=0.01)
    # None had extra work or rework: the job alone takes as long, each of
    # them 1.25 times its hours.
    assert found.job_factor == pytest.approx(1.25, abs=0.01)
    assert found.ratios == pytest.approx((1.25,) * LABOUR_HISTORY_MINIMUM, abs=0.01)
    # The ten of them that came in the last five open days (none waited in
    # the lounge) are expected again today at their times.
    assert found.outlooks is not None
    assert sum(len(day) for day in found.outlooks) == 10
    assert not any(car.waiting for day in found.outlooks for car in day)
    # Today's plans (ETAs, promises, the lounge's wait) are made with it.
    clock.now = TODAY
    load = shop_load.load_of(core, shop.shop_id)
    assert load.history == found
    assert shop_load.plan_of(load).labour_factor == found.labour_factor


def test_too_few_finished_cars_keep_the_booked_hours(
    core: Core, shop: Any, rest: Rest, clock: HandClock
) -> None:
    for index in range(3):
        finish(rest, clock, index, worked_minutes=120)
    assert history(core, shop).labour_factor == 1.0


def test_yesterdays_cars_are_expected_today_at_their_time(
    core: Core, shop: Any, rest: Rest, clock: HandClock
) -> None:
    promised = (YESTERDAY + timedelta(hours=4)).isoformat()
    rest.create(promised_at=promised, waiting=True)  # 08:40, an hour's work
    clock.advance(minutes=80)
    rest.create(promised_at=promised, waiting=False)  # 10:00, a drop-off
    found = history(core, shop)
    # Yesterday is the only day the shop had on the system: the days before
    # it are not days without cars.
    assert found.outlooks is not None
    [yesterday] = found.outlooks
    assert [(o.created_at, o.waiting, o.remaining_minutes) for o in yesterday] == [
        (TODAY, True, pytest.approx(60)),
        (TODAY + timedelta(minutes=80), False, pytest.approx(60)),
    ]


def test_cars_with_extra_work_are_left_out_of_the_job_factor(
    core: Core, shop: Any, rest: Rest, clock: HandClock
) -> None:
    """Thirty cars took 75 minutes for an hour's job; thirty more had half
    an hour of extra work approved and took 135: the labour factor counts
    them all, the job factor only the first thirty."""
    for index in range(LABOUR_HISTORY_MINIMUM):
        finish(rest, clock, index, worked_minutes=75)
    for index in range(LABOUR_HISTORY_MINIMUM):
        finish(rest, clock, index, worked_minutes=135, extra_hours=0.5, who=1)
    found = history(core, shop)
    assert found.job_factor == pytest.approx(1.25, abs=0.01)
    assert found.labour_factor == pytest.approx((75 + 135) / 120, abs=0.01)
    assert found.ratios == pytest.approx((1.25,) * LABOUR_HISTORY_MINIMUM, abs=0.01)
    clock.now = TODAY
    load = shop_load.load_of(core, shop.shop_id)
    assert shop_load.plan_of(load).job_factor == pytest.approx(1.25, abs=0.01)


def test_a_car_past_its_hours_is_given_what_the_shops_jobs_still_needed(
    core: Core, shop: Any, rest: Rest, clock: HandClock
) -> None:
    """The shop's jobs took 1.25 times their hours: a one-hour job worked for
    66 minutes today still has 9 minutes left, not the floor's 6."""
    for index in range(LABOUR_HISTORY_MINIMUM):
        finish(rest, clock, index, worked_minutes=75)
    clock.now = TODAY
    order = rest.create(promised_at=(TODAY + timedelta(hours=4)).isoformat())
    body = {"bay": rest.shop.bays[0], "technicians": [rest.shop.technicians[0]]}
    order = rest.ok(
        "PUT",
        f"/api/v1/orders/{order['id']}/assignment",
        {**body, "version": order["version"]},
        role="foreman",
    )
    rest.move(order, "in_progress", role="technician")
    clock.advance(minutes=66)
    load = shop_load.load_of(core, shop.shop_id)
    [planned] = [o for o in load.orders if o.id == order["id"]]
    assert planned.remaining_minutes == pytest.approx(9, abs=0.1)
