"""One bay, one car (or as many as the bay's capacity): the pure rule.

Which stages stand on a bay, which changes put a car on a bay it did not
stand on, and the refusal that names the cars already there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain import errors
from shared.domain.bays import Holder, check_room, claimed_bay, holds_bay
from shared.domain.events import Event
from shared.domain.order import (
    Actor,
    OrderState,
    apply_events,
    assign,
    create,
    pass_check,
    transition,
)
from shared.domain.stages import CHECK_CHAIN, HOLDING_STAGES, PauseReason, Role, Stage

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
SYSTEM = Actor("simulator", frozenset({Role.SYSTEM}))
HOLDER = Holder(order_id=41, number=7, plate="粤B12345")
OTHER = Holder(order_id=42, number=3, plate="粤B67890")


class Car:
    """One order driven through the rules; ``last`` is the step's events."""

    def __init__(self, *, wash: bool = False) -> None:
        self.events: list[Event] = create(
            number=1, plate="粤B00001", now=T0, actor=SYSTEM, wash=wash
        )
        self.state = apply_events(None, self.events)
        self.before: OrderState | None = None
        self.last = self.events

    def do(self, rule: Callable[..., list[Event]], *args: object, **kwargs: object) -> Car:
        events = rule(self.state, *args, actor=SYSTEM, now=T0 + timedelta(minutes=1), **kwargs)
        self.before, self.last = self.state, events
        self.state = apply_events(self.state, events)
        return self

    def dispatch(self, bay: str = "B01") -> Car:
        return self.do(assign, bay=bay, technicians=[5])

    def to(self, stage: Stage, **kwargs: object) -> Car:
        return self.do(transition, stage, **kwargs)

    def through_checks(self) -> Car:
        for _ in CHECK_CHAIN:
            self.do(pass_check)
        return self

    def claimed(self) -> str | None:
        return claimed_bay(self.before, self.last)


# ------------------------------------------------------------ which stages hold


def test_the_holding_stages_are_dispatch_to_quality_check() -> None:
    assert {
        Stage.DISPATCHED,
        Stage.IN_PROGRESS,
        Stage.PAUSED,
        Stage.QUALITY_CHECK,
    } == set(HOLDING_STAGES)


@pytest.mark.parametrize("stage", list(Stage))
def test_a_car_stands_on_its_bay_only_in_the_holding_stages(stage: Stage) -> None:
    state = Car().dispatch().state
    on_bay = replace(state, stage=stage)
    assert holds_bay(on_bay) == (stage in HOLDING_STAGES)
    assert not holds_bay(replace(on_bay, bay=None))


# ------------------------------------------------------------ which changes take room


def test_a_dispatch_takes_the_bay() -> None:
    assert Car().dispatch("B03").claimed() == "B03"


def test_creating_an_order_takes_no_bay() -> None:
    car = Car()
    assert claimed_bay(None, car.events) is None


def test_reassigning_the_same_bay_takes_no_more_room() -> None:
    car = Car().dispatch("B01")
    assert car.dispatch("B01").claimed() is None
    assert car.to(Stage.IN_PROGRESS).dispatch("B01").claimed() is None


def test_moving_to_another_bay_takes_the_new_one() -> None:
    car = Car().dispatch("B01").to(Stage.IN_PROGRESS)
    assert car.dispatch("B02").claimed() == "B02"


def test_work_on_the_bay_takes_no_more_room() -> None:
    car = Car().dispatch()
    assert car.to(Stage.IN_PROGRESS).claimed() is None
    assert car.to(Stage.PAUSED, pause_reason=PauseReason.OTHER).claimed() is None
    assert car.state.bay == "B01" and holds_bay(car.state), "a paused car keeps its bay"
    assert car.to(Stage.IN_PROGRESS).claimed() is None
    assert car.to(Stage.QUALITY_CHECK).claimed() is None
    assert holds_bay(car.state)
    assert car.to(Stage.IN_PROGRESS, reason="brake squeal").claimed() is None


@pytest.mark.parametrize("wash", [True, False])
def test_passing_the_checks_leaves_the_bay(wash: bool) -> None:
    car = Car(wash=wash).dispatch().to(Stage.IN_PROGRESS).to(Stage.QUALITY_CHECK)
    car.through_checks()
    assert car.state.stage == (Stage.WASHING if wash else Stage.READY)
    assert car.state.bay == "B01", "the order still names the bay it was repaired on"
    assert not holds_bay(car.state)
    assert car.claimed() is None


def test_a_car_taken_back_into_repair_after_it_left_needs_its_bay_again() -> None:
    car = Car().dispatch().to(Stage.IN_PROGRESS).to(Stage.QUALITY_CHECK).through_checks()
    assert car.state.stage == Stage.READY
    assert car.to(Stage.IN_PROGRESS, reason="noise at handover").claimed() == "B01"


def test_cancelling_or_sending_back_to_reception_takes_no_bay() -> None:
    assert Car().dispatch().to(Stage.CANCELLED, reason="customer left").claimed() is None
    back = Car().dispatch().to(Stage.CHECKED_IN)
    assert back.claimed() is None and back.state.bay is None


# ------------------------------------------------------------ room on the bay


def test_an_empty_bay_has_room() -> None:
    check_room("B01", 1, [], order_id=1)


def test_a_taken_bay_refuses_and_names_the_car_on_it() -> None:
    with pytest.raises(errors.BayOccupied) as refused:
        check_room("B01", 1, [HOLDER], order_id=1)
    error = refused.value
    assert (error.code, error.status) == ("bay_occupied", 409)
    assert isinstance(error, errors.DomainError)
    assert error.extra["held_by"] == {"id": 41, "number": 7, "plate": "粤B12345"}
    assert error.extra["holders"] == [{"id": 41, "number": 7, "plate": "粤B12345"}]
    assert (error.extra["bay"], error.extra["capacity"]) == ("B01", 1)
    assert "B01" in error.detail and "#7" in error.detail and "粤B12345" in error.detail


def test_the_order_itself_never_counts_against_its_own_room() -> None:
    check_room("B01", 1, [HOLDER], order_id=HOLDER.order_id)


def test_a_lane_takes_as_many_cars_as_its_capacity() -> None:
    check_room("P1", 2, [], order_id=1)
    check_room("P1", 2, [HOLDER], order_id=1)
    with pytest.raises(errors.BayOccupied) as refused:
        check_room("P1", 2, [HOLDER, OTHER], order_id=1)
    error = refused.value
    # The lowest queue number first: the car that has waited longest.
    assert error.extra["held_by"] == {"id": 42, "number": 3, "plate": "粤B67890"}
    holders = error.extra["holders"]
    assert isinstance(holders, list) and [h["id"] for h in holders] == [42, 41]
    assert "2" in error.detail and "P1" in error.detail
