"""Honest time through the real services on a real database: the promise
changed with its reason (an event with old, new, by and why), the engine's
revisions recorded only when they are news, a delay alert exactly once when
an order turns at risk, and revisions that never make a person's edit stale.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from shared.config import ConfigError, Settings
from shared.domain import errors
from shared.domain.events import WorkItem
from shared.domain.stages import Stage
from shared.persistence.models import OrderEvent, RepairOrder
from shared.persistence.models import Shop as ShopRow
from shared.services import orders, replanning, shop_load, shop_profile, shop_settings
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.services.core import Core
from shared.services.views import customer_view
from tests.conftest import HandClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Tuesday, an ordinary working day, mid-morning.
START = datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(START)
    core.clock = fixed
    return fixed


def caller(core: Core, shop: Any, role: str) -> CommandRequest:
    principal = resolve_bearer(core, shop.tokens[role])
    assert principal is not None
    return CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)


def open_order(core: Core, shop: Any, *, hours: float, promised: datetime) -> dict[str, Any]:
    outcome = orders.create_order(
        core,
        caller(core, shop, "advisor"),
        plate="粤B12345",
        items=[WorkItem("保养", hours)],
        promised_at=promised,
    )
    return outcome.body


def started(core: Core, shop: Any, order: dict[str, Any]) -> dict[str, Any]:
    """A dispatched order put in progress by its technician."""
    return orders.transition_order(
        core,
        caller(core, shop, "technician"),
        order["id"],
        to=Stage.IN_PROGRESS,
        version=order["version"],
    ).body


def waits_for_part(core: Core, shop: Any, order_id: int) -> None:
    """The technician asks for a part nobody has dated (the car pauses)."""
    orders.request_parts(
        core,
        caller(core, shop, "technician"),
        order_id,
        description="左前减震器",
        eta=None,
        version=None,
    )


def events_of(core: Core, order_id: int) -> list[tuple[str, dict[str, Any]]]:
    with core.db.read() as session:
        rows = session.execute(
            select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.seq)
        ).scalars()
        return [(row.type, dict(row.data)) for row in rows]


def revisions(core: Core, order_id: int) -> list[dict[str, Any]]:
    return [data for kind, data in events_of(core, order_id) if kind == "eta_revised"]


def test_a_promise_change_is_an_event_with_old_new_by_and_why(
    core: Core, shop: Any, clock: HandClock
) -> None:
    first = START + timedelta(hours=3)
    order = open_order(core, shop, hours=1, promised=first)
    later = START + timedelta(hours=5)
    changed = orders.change_promise(
        core,
        caller(core, shop, "advisor"),
        order["id"],
        promised_at=later,
        reason="等配件到货",
        version=order["version"],
    ).body
    assert datetime.fromisoformat(changed["promised_at"]) == later
    kind, data = events_of(core, order["id"])[-1]
    assert kind == "promise_changed"
    assert datetime.fromisoformat(data["old"]) == first
    assert datetime.fromisoformat(data["new"]) == later
    assert data["reason"] == "等配件到货"
    advisor = resolve_bearer(core, shop.tokens["advisor"])
    assert advisor is not None and data["by"] == advisor.actor().name
    # The customer's page reads the new time, the reason, who and when.
    with core.db.read() as session:
        row = session.get(RepairOrder, order["id"])
        assert row is not None
        seen = customer_view(row)
    note = seen["promise_change"]
    assert (note["reason"], note["by"]) == ("等配件到货", data["by"])
    assert datetime.fromisoformat(note["at"]) == START


@pytest.mark.parametrize(
    ("role", "when", "reason", "code"),
    [
        ("advisor", timedelta(hours=-1), "晚了", "validation_error"),
        ("advisor", timedelta(hours=3), "同一时间", "validation_error"),
        ("advisor", timedelta(hours=4), "   ", "validation_error"),
        ("technician", timedelta(hours=4), "我说的", "forbidden"),
    ],
)
def test_a_refused_promise_change_changes_nothing(
    core: Core, shop: Any, clock: HandClock, role: str, when: timedelta, reason: str, code: str
) -> None:
    order = open_order(core, shop, hours=1, promised=START + timedelta(hours=3))
    before = events_of(core, order["id"])
    with pytest.raises(errors.DomainError) as refused:
        orders.change_promise(
            core,
            caller(core, shop, role),
            order["id"],
            promised_at=START + when,
            reason=reason,
            version=order["version"],
        )
    assert refused.value.code == code
    assert events_of(core, order["id"]) == before


def test_an_order_turning_at_risk_alerts_exactly_once(
    core: Core, shop: Any, clock: HandClock
) -> None:
    # Three hours of work promised in one: the engine says it will be missed.
    order = open_order(core, shop, hours=3, promised=START + timedelta(hours=1))
    assert replanning.replan_shop(core, shop.shop_id) == [order["id"]]
    [alert] = revisions(core, order["id"])
    assert alert["risk"] in ("at_risk", "late") and alert["cause"] == "queue"
    # Planned again at once, and a minute later: nothing is news.
    assert replanning.replan_shop(core, shop.shop_id) == []
    clock.advance(minutes=1)
    assert replanning.replan_shop(core, shop.shop_id) == []
    assert len(revisions(core, order["id"])) == 1
    # The advisor sets an honest promise: the next plan clears the verdict.
    with core.db.read() as session:
        row = session.get(RepairOrder, order["id"])
        assert row is not None
        version, eta = row.version, row.eta
    assert eta is not None
    orders.change_promise(
        core,
        caller(core, shop, "advisor"),
        order["id"],
        promised_at=eta + timedelta(hours=1),
        reason="车间比预期繁忙",
        version=version,
    )
    assert replanning.replan_shop(core, shop.shop_id) == [order["id"]]
    assert revisions(core, order["id"])[-1]["risk"] == ""


def test_a_plan_revising_many_orders_records_them_a_few_per_command(
    core: Core, shop: Any, clock: HandClock
) -> None:
    """A plan that moves every estimate (a busy shop after a restart) is
    recorded ``REVISE_CHUNK`` orders per command, the hub let in between,
    and every order still gets its one revision."""
    count = replanning.REVISE_CHUNK * 2 + 3
    opened = [
        open_order(core, shop, hours=3, promised=START + timedelta(hours=1))["id"]
        for _ in range(count)
    ]
    pauses: list[int] = []

    revised = replanning.replan_shop(core, shop.shop_id, between=lambda: pauses.append(1))

    assert sorted(revised) == sorted(opened)
    assert len(pauses) == 2  # three commands: a chunk, a chunk and 3 orders
    assert all(len(revisions(core, order_id)) == 1 for order_id in opened)
    assert replanning.replan_shop(core, shop.shop_id) == []


def test_engine_revisions_never_make_an_edit_stale(core: Core, shop: Any, clock: HandClock) -> None:
    order = open_order(core, shop, hours=3, promised=START + timedelta(hours=1))
    replanning.replan_shop(core, shop.shop_id)
    with core.db.read() as session:
        row = session.get(RepairOrder, order["id"])
        assert row is not None
        assert (row.version, row.edit_version) == (2, 1)
    # The foreman saw version 1; the engine's revision since does not matter.
    assigned = orders.assign_order(
        core,
        caller(core, shop, "foreman"),
        order["id"],
        bay="B01",
        technicians=[shop.technicians[0]],
        version=1,
    ).body
    assert assigned["stage"] == Stage.DISPATCHED.value
    # A person's change since does: version 1 is stale now.
    with pytest.raises(errors.StaleVersion):
        orders.transition_order(
            core, caller(core, shop, "technician"), order["id"], to=Stage.IN_PROGRESS, version=1
        )


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_replanner_coalesces_marks_and_ignores_its_own(core: Core, shop: Any) -> None:
    ticks = Ticks()
    planner = replanning.Replanner(core, lambda _seconds: None, monotonic=ticks)
    person = caller(core, shop, "advisor").actor
    # A burst of changes: planned once it settles, not while it goes on.
    for _ in range(5):
        planner.mark(shop.shop_id, person)
        ticks.now += 0.05
    assert planner.due() == []
    ticks.now += replanning.SETTLE_SECONDS
    assert planner.due() == [shop.shop_id]
    assert planner.due() == []
    # Another change right away waits until a second has passed since the plan.
    planner.mark(shop.shop_id, person)
    ticks.now += replanning.SETTLE_SECONDS
    assert planner.due() == []
    ticks.now += replanning.MIN_INTERVAL_SECONDS
    assert planner.due() == [shop.shop_id]
    # The plan clock's own revisions ask for no plan.
    planner.mark(shop.shop_id, replanning.PLAN_CLOCK)
    ticks.now += replanning.MIN_INTERVAL_SECONDS
    assert planner.due() == []
    # Every shop at least once a minute, marked or not.
    ticks.now += replanning.EVERY_SECONDS
    assert shop.shop_id in planner.due()


class StopAfter:
    """A ``sleep`` that ends the re-planner's loop after ``rounds`` sleeps."""

    def __init__(self, rounds: int) -> None:
        self.left = rounds
        self.slept = 0

    def __call__(self, _seconds: float) -> None:
        self.slept += 1
        self.left -= 1
        if self.left < 0:
            raise StopIteration


def test_replanning_off_plans_nothing_in_the_background(core: Core, shop: Any) -> None:
    core.settings = replace(core.settings, replanning=False)
    sleep = StopAfter(3)
    replanning.Replanner(core, sleep).run()  # returns: no loop at all
    assert sleep.slept == 0
    core.settings = replace(core.settings, replanning=True)
    with pytest.raises(StopIteration):
        replanning.Replanner(core, sleep).run()
    assert sleep.slept == 4


@pytest.mark.parametrize(("value", "on"), [("", True), ("on", True), ("OFF", False)])
def test_the_replanning_switch_is_on_or_off(value: str, on: bool) -> None:
    settings = Settings.from_env({"BAYLIGHT_REPLANNING": value, "BAYLIGHT_SECRET_KEY": "k"})
    assert settings.replanning is on


def test_a_replanning_switch_that_is_neither_is_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"BAYLIGHT_REPLANNING": "maybe", "BAYLIGHT_SECRET_KEY": "k"})
    assert "BAYLIGHT_REPLANNING" in str(refused.value)


def test_a_part_without_an_expected_arrival_waits_the_shops_default(
    core: Core, shop: Any, clock: HandClock
) -> None:
    """A car paused for a part nobody has dated is planned to resume after
    the shop's ``parts_wait_minutes`` (two hours unless set)."""
    order = open_order(core, shop, hours=1, promised=START + timedelta(hours=6))
    order = orders.assign_order(
        core,
        caller(core, shop, "foreman"),
        order["id"],
        bay="B01",
        technicians=[shop.technicians[0]],
        version=order["version"],
    ).body
    order = started(core, shop, order)
    waits_for_part(core, shop, order["id"])

    def resumes() -> datetime:
        load = shop_load.load_of(core, shop.shop_id)
        forecast = shop_load.plan_of(load).forecasts[order["id"]]
        assert forecast.starts_at is not None
        return forecast.starts_at

    assert resumes() == START + timedelta(hours=2)
    with core.db.write() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        row.settings = {**(row.settings or {}), "parts_wait_minutes": 300}
    assert resumes() == START + timedelta(hours=5)


def test_new_opening_hours_are_planned_at_once_other_profile_changes_are_not(
    core: Core, shop: Any
) -> None:
    """New hours move every estimate: the change listeners (the re-planner)
    hear of it after commit, as of an order's change; a new hotline moves none."""
    heard: list[int] = []
    core.change_listeners.append(lambda shop_id, _actor: heard.append(shop_id))
    admin = caller(core, shop, "admin")
    version = shop_profile.profile(core, shop.shop_id)["version"]
    shop_profile.update_profile(
        core, admin, shop_profile.ProfileChange(hotline="400-800-1234"), version=version
    )
    assert heard == []
    hours = shop_settings.Hours(open="08:00", close="17:30")
    shop_profile.update_profile(
        core, admin, shop_profile.ProfileChange(hours=hours), version=version + 1
    )
    assert heard == [shop.shop_id]
