"""Bad news at once, good news once it holds: the re-planner records a
later estimate at once and an earlier one (same verdict) only after the
plans have found it for ``HOLD_SECONDS``; an earlier estimate that goes back
within the hold is never shown. Through the real services on a real
database, and the hold's own rule on revisions made by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.services import orders, replanning
from shared.services.core import Core
from shared.services.replanning import ImprovementHold, Revision
from tests.conftest import HandClock
from tests.services.test_honest_time import (
    START,
    Ticks,
    caller,
    clock,
    open_order,
    revisions,
    started,
    waits_for_part,
)

__all__ = ["clock"]  # the fixture, used by name


def _revision(order_id: int, *, better: bool) -> Revision:
    return Revision(order_id, START, "", "", better)


def test_good_news_waits_for_the_hold_and_bad_news_does_not() -> None:
    hold = ImprovementHold(hold_seconds=30)
    worse, better = _revision(1, better=False), _revision(2, better=True)
    assert hold.now_due(7, [worse, better], 100.0) == [worse]
    assert hold.recheck_at(7) == 130.0
    assert hold.now_due(7, [better], 129.0) == []
    assert hold.now_due(7, [better], 130.0) == [better]
    assert hold.recheck_at(7) is None


def test_good_news_that_goes_away_within_the_hold_is_forgotten() -> None:
    hold = ImprovementHold(hold_seconds=30)
    better = _revision(2, better=True)
    assert hold.now_due(7, [better], 100.0) == []
    # The next plan has nothing for order 2 (its estimate went back): the
    # hold starts again when it comes back.
    assert hold.now_due(7, [], 110.0) == []
    assert hold.recheck_at(7) is None
    assert hold.now_due(7, [better], 120.0) == []
    assert hold.now_due(7, [better], 149.0) == []
    assert hold.now_due(7, [better], 150.0) == [better]


def test_shops_are_held_apart() -> None:
    hold = ImprovementHold(hold_seconds=30)
    better = _revision(2, better=True)
    assert hold.now_due(7, [better], 100.0) == []
    assert hold.now_due(8, [better], 125.0) == []
    assert hold.now_due(7, [better], 130.0) == [better]
    assert hold.now_due(8, [better], 130.0) == []


def _dispatched(core: Core, shop: Any, hours: float, bay: str) -> dict[str, Any]:
    order = open_order(core, shop, hours=hours, promised=START + timedelta(hours=8))
    return orders.assign_order(
        core,
        caller(core, shop, "foreman"),
        order["id"],
        bay=bay,
        technicians=[shop.technicians[0]],
        version=order["version"],
    ).body


def _eta(core: Core, order_id: int) -> datetime:
    return datetime.fromisoformat(revisions(core, order_id)[-1]["eta"])


def test_a_car_paused_for_parts_shows_the_car_behind_it_earlier_only_once_it_holds(
    core: Core, shop: Any, clock: HandClock
) -> None:
    """One technician, two cars: the second waits for the first. The first
    stops for a part: its own later estimate is recorded at once, the
    second car's earlier one only after the hold, at the plan the hold
    asks for by itself (no change needed to plan the shop again)."""
    ticks = Ticks()
    planner = replanning.Replanner(core, lambda _seconds: None, monotonic=ticks)
    first = _dispatched(core, shop, 1, "B01")
    second = _dispatched(core, shop, 1, "B02")
    first = started(core, shop, first)
    # The first plan of each car is shown at once (nothing was planned yet).
    assert sorted(planner.plan([shop.shop_id])[shop.shop_id]) == [first["id"], second["id"]]
    second_before = _eta(core, second["id"])

    waits_for_part(core, shop, first["id"])
    ticks.now += 1
    assert planner.plan([shop.shop_id]) == {shop.shop_id: [first["id"]]}
    assert len(revisions(core, second["id"])) == 1

    # Nothing marks the shop again; the hold's own recheck plans it.
    ticks.now += replanning.HOLD_SECONDS - 1
    assert planner.due() == []
    ticks.now += 1
    assert planner.due() == [shop.shop_id]
    assert planner.plan([shop.shop_id]) == {shop.shop_id: [second["id"]]}
    assert _eta(core, second["id"]) < second_before - replanning.rules.ETA_THRESHOLD
