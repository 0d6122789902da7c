"""The shop's past as the engine reads it from the database
(``shop_load.read_history``): the labour factor from the labour clock of the
cars finished in the last weeks, the lounge outlook from yesterday's lounge
cars, and today's plan that reads both."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.domain.planner import LABOUR_HISTORY_MINIMUM, OUTLOOK_HISTORY_DAYS
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


def finish(rest: Rest, clock: HandClock, index: int, *, worked_minutes: float) -> dict[str, Any]:
    """Car ``index`` of the last ten days taken through the floor (four a
    day, from 09:00, two hours apart, inside the shift: the clock is never
    closed at shift end): in progress for ``worked_minutes`` on the labour
    clock, then checked to ready."""
    day, slot = divmod(index, 4)
    clock.now = (TODAY - timedelta(days=10 - day)).replace(hour=9 + 2 * slot, minute=0)
    promised = (clock() + timedelta(hours=6)).isoformat()
    order = rest.create(promised_at=promised)
    bay = rest.shop.bays[0]
    technician = rest.shop.technicians[0]
    body = {"bay": bay, "technicians": [technician], "version": order["version"]}
    order = rest.ok("PUT", f"/api/v1/orders/{order['id']}/assignment", body, role="foreman")
    # The technician's own taps start and stop his clock.
    order = rest.move(order, "in_progress", role="technician")
    clock.advance(minutes=worked_minutes)
    order = rest.move(order, "quality_check", role="technician")
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
    # None of them waited in the lounge: nothing to expect.
    assert found.outlook is None
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


def test_yesterdays_lounge_cars_are_expected_today_at_their_time(
    core: Core, shop: Any, rest: Rest, clock: HandClock
) -> None:
    promised = (YESTERDAY + timedelta(hours=4)).isoformat()
    rest.create(promised_at=promised, waiting=True)  # 08:40, an hour's work
    clock.advance(minutes=80)
    rest.create(promised_at=promised, waiting=False)  # a drop-off: not the lounge's
    found = history(core, shop)
    assert found.outlook is not None
    [expected] = found.outlook
    assert expected.created_at == TODAY
    assert expected.waiting
    assert expected.remaining_minutes == pytest.approx(60 / OUTLOOK_HISTORY_DAYS)
