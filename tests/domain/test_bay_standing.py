"""Where each car stands, the pure rule (``shared.domain.bays.standing``):
repair stages on their own bay, a car being washed on the wash bay and not
on the bay it was repaired on, a ready car on none. The wall board places
the cars with the same rule (``static/js/board.js``); the dispatch rule
counts a bay's holders from it (tests/services/test_wash_bay_room.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.bays import Holder, Place, Standing, screen_rule, standing
from shared.domain.stages import HOLDING_STAGES, Stage

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SHOP = (
    Place("B01", "general"),
    Place("B02", "quick"),
    Place("W1", "wash", capacity=2),
    Place("P1", "parking_lane", capacity=3),
)


def car(
    order_id: int, stage: Stage, bay: str | None = "B01", minutes: int = 0, number: int = 0
) -> Standing:
    return Standing(
        Holder(order_id, number or order_id, f"粤B0000{order_id}"),
        stage,
        bay,
        T0 + timedelta(minutes=minutes),
    )


def ids(found: dict[str, list[Holder]]) -> dict[str, list[int]]:
    return {bay: [h.order_id for h in holders] for bay, holders in found.items()}


@pytest.mark.parametrize("stage", list(Stage))
def test_a_car_stands_on_its_own_bay_only_from_dispatch_to_quality_check(stage: Stage) -> None:
    found = ids(standing([car(1, stage, "B02")], SHOP))
    if stage in HOLDING_STAGES:
        assert found == {"B02": [1]}
    elif stage == Stage.WASHING:
        assert found == {"W1": [1]}, "a car being washed stands on the wash bay"
    else:
        assert found == {}, f"a {stage} car stands on no bay"


def test_a_washed_car_frees_its_repair_bay_and_a_ready_one_holds_none() -> None:
    cars = [
        car(1, Stage.WASHING, "B01"),
        car(2, Stage.READY, "B02"),
        car(3, Stage.IN_PROGRESS, "B02"),
    ]
    assert ids(standing(cars, SHOP)) == {"W1": [1], "B02": [3]}


def test_wash_bays_fill_up_to_their_capacity_in_the_order_the_cars_came() -> None:
    places = (Place("W1", "wash", capacity=1), Place("W2", "wash", capacity=1))
    cars = [car(1, Stage.WASHING, minutes=5), car(2, Stage.WASHING, minutes=1)]
    assert ids(standing(cars, places)) == {"W1": [2], "W2": [1]}


def test_cars_beyond_the_wash_room_wait_at_the_first_wash_bay_in_service() -> None:
    places = (
        Place("W0", "wash", capacity=1, in_service=False),
        Place("W1", "wash", capacity=1),
        Place("W2", "wash", capacity=1),
    )
    cars = [car(n, Stage.WASHING, minutes=n) for n in (1, 2, 3)]
    assert ids(standing(cars, places)) == {"W1": [1, 3], "W2": [2]}


def test_a_car_dispatched_to_the_wash_bay_counts_before_the_cars_sent_to_wash() -> None:
    # A wash-only job dispatched to W1 (capacity 2) stands there; so does a
    # car being washed whose own bay is W1; the next washed car finds W1 full.
    places = (Place("B01", "general"), Place("W1", "wash", capacity=2), Place("W2", "wash"))
    cars = [
        car(1, Stage.IN_PROGRESS, "W1", minutes=9),
        car(2, Stage.WASHING, "W1", minutes=8),
        car(3, Stage.WASHING, "B01", minutes=1),
    ]
    assert ids(standing(cars, places)) == {"W1": [2, 1], "W2": [3]}


def test_a_shop_without_a_wash_bay_washes_elsewhere() -> None:
    assert standing([car(1, Stage.WASHING)], (Place("B01", "general"),)) == {}


def test_arrival_without_a_moment_comes_last_and_a_naive_moment_is_utc() -> None:
    places = (Place("W1", "wash"), Place("W2", "wash"), Place("W3", "wash"))
    naive = Standing(Holder(1, 1, "粤B1"), Stage.WASHING, None, datetime(2026, 11, 28, 9, 30))
    aware = Standing(
        Holder(2, 2, "粤B2"), Stage.WASHING, None, datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
    )
    unknown = Standing(Holder(3, 3, "粤B3"), Stage.WASHING, None, None)
    assert ids(standing([unknown, aware, naive], places)) == {"W1": [1], "W2": [2], "W3": [3]}


def test_the_boards_copy_of_the_rule_names_the_same_stages() -> None:
    assert screen_rule() == {
        "holding": ["dispatched", "in_progress", "paused", "quality_check"],
        "washing": ["washing"],
        "wash_kinds": ["wash"],
    }
