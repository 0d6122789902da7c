"""The dispatch rule places cars as the wall board does, through the real
services on a real database: a car being washed stands on the wash bay (a
dispatch there is refused while it is full, naming the car being washed)
and no longer on the bay it was repaired on; a ready car stands on none."""

from __future__ import annotations

import pytest

from shared.domain.stages import Stage
from shared.services import setup
from shared.services.core import Core
from tests.conftest import Shop
from tests.services.test_bay_occupied import Car, Floor


@pytest.fixture
def floor(core: Core, shop: Shop) -> Floor:
    setup.add_bay(core, shop.shop_id, "W1", "洗车位", kind="wash", capacity=1)
    return Floor(core, shop)


def washed(floor: Floor, bay: str = "B01", plate: str = "粤B10001") -> Car:
    """A car repaired on ``bay``, passed the checks and now being washed."""
    car = floor.move(
        floor.move(floor.on_bay(bay, wash=True, plate=plate), Stage.IN_PROGRESS),
        Stage.QUALITY_CHECK,
    )
    car = floor.through_checks(car)
    assert car.stage == "washing"
    return car


def test_a_car_being_washed_holds_the_wash_bay_and_not_its_repair_bay(floor: Floor) -> None:
    in_wash = washed(floor)

    # Its repair bay takes the next car ...
    assert floor.assign(floor.arrive("粤B20002"), "B01").stage == "dispatched"
    # ... and the wash bay is full: a job sent there is refused, naming it.
    refused = floor.refused(lambda: floor.assign(floor.arrive("粤B30003"), "W1"))
    assert refused.extra["held_by"] == {
        "id": in_wash.id,
        "number": in_wash.number,
        "plate": "粤B10001",
    }
    assert (refused.extra["bay"], refused.extra["capacity"]) == ("W1", 1)


def test_a_ready_car_holds_no_bay(floor: Floor) -> None:
    ready = floor.move(washed(floor), Stage.READY)
    assert ready.stage == "ready"

    assert floor.assign(floor.arrive("粤B20002"), "W1").stage == "dispatched"
    assert floor.assign(floor.arrive("粤B30003"), "B01").stage == "dispatched"


def test_a_second_wash_bay_takes_the_next_car_to_wash(floor: Floor, core: Core, shop: Shop) -> None:
    setup.add_bay(core, shop.shop_id, "W2", "洗车位 2", kind="wash", capacity=1)
    first = washed(floor, "B01", "粤B10001")
    second = washed(floor, "B02", "粤B10002")

    # The first car to the wash is on W1, the second on W2: both are full.
    on_w1 = floor.refused(lambda: floor.assign(floor.arrive("粤B30003"), "W1"))
    on_w2 = floor.refused(lambda: floor.assign(floor.arrive("粤B30004"), "W2"))
    assert on_w1.extra["held_by"]["id"] == first.id  # type: ignore[index]
    assert on_w2.extra["held_by"]["id"] == second.id  # type: ignore[index]
