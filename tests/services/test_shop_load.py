"""The shop's load as the engine reads it from the database
(``shop_load.read_load``): an order's earlier stretches in progress come from
its log (``read_stretches``), so a stretch over lunch or the night counts
its working minutes only, as the stretch running does."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from shared.persistence.models import OrderEvent, RepairOrder
from shared.persistence.models import Shop as ShopRow
from shared.services import shop_load, shop_profile, shop_settings
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.services.core import Core, TtlCache
from shared.services.rows import state_from_row
from tests.conftest import HandClock
from tests.request_flow import Rest

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 30 November 2026, an ordinary working day.
MONDAY = date(2026, 11, 30)


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(at(8, 30))
    core.clock = fixed
    return fixed


@pytest.fixture
def rest(client: Any, shop: Any, core: Core) -> Rest:
    """The seeded shop, open 08:30–18:00 with lunch 12:00–13:00."""
    admin = admin_of(core, shop)
    version = shop_profile.profile(core, shop.shop_id)["version"]
    hours = shop_settings.Hours(open="08:30", close="18:00", breaks=(("12:00", "13:00"),))
    change = shop_profile.ProfileChange(hours=hours)
    shop_profile.update_profile(core, admin, change, version=version)
    return Rest(client, shop, core)


def admin_of(core: Core, shop: Any) -> CommandRequest:
    principal = resolve_bearer(core, shop.tokens["admin"])
    assert principal is not None
    return CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)


def four_hour_job(rest: Rest) -> dict[str, Any]:
    order = rest.create(items=[{"title": "发动机", "labour_hours": 4.0}], promised_at=None)
    body = {
        "bay": rest.shop.bays[0],
        "technicians": [rest.shop.technicians[0]],
        "version": order["version"],
    }
    return rest.ok("PUT", f"/api/v1/orders/{order['id']}/assignment", body, role="foreman")


def pause(rest: Rest, order: dict[str, Any]) -> dict[str, Any]:
    return dict(
        rest.move(order, "paused", role="technician", pause_reason="other", reason="客户电话")
    )


def planned(core: Core, shop: Any, order_id: int) -> float:
    load = shop_load.load_of(core, shop.shop_id)
    [found] = [o for o in load.orders if o.id == order_id]
    return found.remaining_minutes


def test_a_stretch_over_lunch_counts_two_hours_not_three(
    core: Core, shop: Any, rest: Rest, clock: HandClock
) -> None:
    order = four_hour_job(rest)
    clock.now = at(11)
    order = rest.move(order, "in_progress", role="technician")
    clock.now = at(14)
    order = pause(rest, order)  # 11:00–14:00: two working hours
    clock.now = at(15)
    order = rest.move(order, "in_progress", role="technician")
    clock.now = at(15, 30)
    # 240 − 120 before − 30 running; the stretch on the clock would say 30.
    assert planned(core, shop, order["id"]) == pytest.approx(90, abs=0.01)
    with core.db.read() as session:
        row = session.get(RepairOrder, order["id"])
        assert row is not None
        state = state_from_row(row)
        assert state.worked_minutes == pytest.approx(180)
        stretches = shop_load.read_stretches(session, {row.id: state})
    assert stretches == {order["id"]: ((at(11), at(14)),)}


def test_a_car_paused_overnight_after_a_stretch_over_the_night(
    core: Core, shop: Any, rest: Rest, clock: HandClock
) -> None:
    order = four_hour_job(rest)
    clock.now = at(17)
    order = rest.move(order, "in_progress", role="technician")
    tuesday = MONDAY + timedelta(days=1)
    clock.now = at(9, 30, tuesday)
    # 17:00–18:00 and 08:30–09:30: two hours of work, not 16.5.
    order = pause(rest, order)
    clock.now = at(10, 0, tuesday)
    assert planned(core, shop, order["id"]) == pytest.approx(120, abs=0.01)


def test_orders_never_worked_read_no_log(
    core: Core, shop: Any, rest: Rest, clock: HandClock
) -> None:
    order = four_hour_job(rest)
    with core.db.read() as session:
        load = shop_load.load_of(core, shop.shop_id)
        assert shop_load.read_stretches(session, load.states) == {}
    assert planned(core, shop, order["id"]) == pytest.approx(240)


def job_on(rest: Rest, bay: int, hours: float = 1.0) -> dict[str, Any]:
    order = rest.create(items=[{"title": "保养", "labour_hours": hours}], promised_at=None)
    body = {
        "bay": rest.shop.bays[bay],
        "technicians": [rest.shop.technicians[0]],
        "version": order["version"],
    }
    return rest.ok("PUT", f"/api/v1/orders/{order['id']}/assignment", body, role="foreman")


def test_a_car_sent_back_while_its_technician_is_on_another_waits_for_him(
    core: Core, shop: Any, rest: Rest, clock: HandClock
) -> None:
    """Car A fails its check at 10:00 while the technician has started car B
    (his clock runs on B): the engine has A wait for him, and its time in
    progress since 10:00 is not work on it."""
    first, second = job_on(rest, 0), job_on(rest, 1)
    clock.now = at(9)
    first = rest.move(first, "in_progress", role="technician")
    clock.now = at(9, 50)
    first = rest.move(first, "quality_check", role="technician")
    clock.now = at(9, 55)
    second = rest.move(second, "in_progress", role="technician")
    clock.now = at(10)
    first = rest.move(first, "in_progress", reason="异响")  # the check failed
    clock.now = at(10, 20)
    load = shop_load.load_of(core, shop.shop_id)
    orders = {o.id: o for o in load.orders}
    assert orders[first["id"]].idle
    assert not orders[second["id"]].idle
    found = shop_load.plan_of(load).forecasts
    assert found[second["id"]].starts_at == at(10, 20)
    assert found[first["id"]].starts_at == at(10, 55)  # after B's last 35 minutes
    # Once B is through, A is the car under his hands.
    clock.now = at(10, 55)
    rest.move(rest.order(second["id"]), "quality_check", role="technician")
    clock.now = at(11)
    load = shop_load.load_of(core, shop.shop_id)
    assert not any(o.idle for o in load.orders)


def test_a_clock_forgotten_since_yesterday_says_nothing(
    core: Core, shop: Any, rest: Rest, clock: HandClock
) -> None:
    first, second = job_on(rest, 0), job_on(rest, 1)
    clock.now = at(17)
    second = rest.move(second, "in_progress", role="technician")  # left running
    clock.now = at(9, day=MONDAY + timedelta(days=1))
    first = rest.move(first, "in_progress", role="foreman")  # nobody's clock
    with core.db.read() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        load = shop_load.load_of(core, shop.shop_id)
        assert shop_load.idle_orders(session, row, clock(), load.states) == set()


def stretches_now(core: Core, order_id: int) -> dict[int, tuple[tuple[datetime, datetime], ...]]:
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        assert row is not None
        return shop_load.read_stretches(session, {row.id: state_from_row(row)})


def test_a_later_plan_reads_only_the_new_stage_changes_and_finds_the_same(
    core: Core, shop: Any, rest: Rest, clock: HandClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a plan read of an order's stage changes is kept; the next plan
    adds what came after and finds what a whole read finds."""
    order = four_hour_job(rest)
    clock.now = at(9)
    order = rest.move(order, "in_progress", role="technician")
    clock.now = at(10)
    order = pause(rest, order)
    assert stretches_now(core, order["id"]) == {order["id"]: ((at(9), at(10)),)}
    clock.now = at(10, 30)
    order = rest.move(order, "in_progress", role="technician")
    clock.now = at(11, 15)
    order = pause(rest, order)
    # The second read decodes only the two new stage changes.
    decoded: list[str] = []
    real = shop_load.event_from_record

    def counted(kind: str, at: datetime, data: Any) -> Any:
        decoded.append(kind)
        return real(kind, at, data)

    monkeypatch.setattr(shop_load, "event_from_record", counted)
    kept = stretches_now(core, order["id"])
    assert len(decoded) == 2
    assert kept == {order["id"]: ((at(9), at(10)), (at(10, 30), at(11, 15)))}
    # A whole read (nothing kept) finds the same, decoding every one.
    monkeypatch.setattr(shop_load, "_stage_changes", TtlCache(shop_load.STRETCH_SECONDS))
    assert stretches_now(core, order["id"]) == kept
    with core.db.read() as session:
        logged = session.execute(
            select(func.count())
            .select_from(OrderEvent)
            .where(OrderEvent.order_id == order["id"], OrderEvent.type == "stage_changed")
        ).scalar_one()
    assert logged >= 5 and len(decoded) == 2 + logged


def test_what_was_kept_of_a_newer_order_is_not_trusted(
    core: Core, shop: Any, rest: Rest, clock: HandClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order at a lower version than the one read before is another log
    (a database restored at the same address): it is read whole."""
    order = four_hour_job(rest)
    clock.now = at(9)
    order = rest.move(order, "in_progress", role="technician")
    clock.now = at(10)
    order = pause(rest, order)
    expected = {order["id"]: ((at(9), at(10)),)}
    assert stretches_now(core, order["id"]) == expected
    with core.db.read() as session:
        key = shop_load.stretch_key(str(session.get_bind().engine.url), order["id"])
    version, _seq, changes = shop_load._stage_changes.get(key)
    # As if read from a log where this order had gone further, with its
    # stage changes up to a seq beyond this log's.
    shop_load._stage_changes.put(key, (version + 5, 10**9, changes[:1]))
    assert stretches_now(core, order["id"]) == expected
