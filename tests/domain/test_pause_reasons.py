"""Every combination of open pause reasons, settled in every order.

A car at work may come to wait for parts, for one or two quotes, and for
something else, in any mix. Whatever settles first (an arrival, a decision
either way, an "other" cleared by the floor), the car stays paused while
anything is still open, no settling event moves it or starts a clock, and
once nothing but "other" is left the technician's resume takes it back to
work, opening that technician's clock only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import combinations, permutations
from typing import Any

import pytest

from shared.domain import errors
from shared.domain import labour as clock_rules
from shared.domain.events import Event, StageChanged
from shared.domain.extra_work import decide_extra_work, quote_extra_work
from shared.domain.order import (
    Actor,
    OrderState,
    apply_events,
    assign,
    clear_pause_reason,
    create,
    transition,
)
from shared.domain.parts import change_parts_status, request_parts
from shared.domain.stages import PauseReason, Role, Stage

T0 = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)
WANG, LI = 7, 8
TECH = Actor("王师傅", frozenset({Role.TECHNICIAN}), user_id=WANG)
FOREMAN = Actor("foreman", frozenset({Role.FOREMAN}), user_id=1)
ADVISOR = Actor("advisor", frozenset({Role.ADVISOR}), user_id=2)
CUSTOMER = Actor("customer", frozenset({Role.CUSTOMER}), ref="track:x")

# What can hold the car, and how each is settled.
HOLDS = ("parts", "quote_a", "quote_b", "other")
SETTLE = {
    "parts": ("arrived",),
    "quote_a": ("approved", "declined"),
    "quote_b": ("approved", "declined"),
    "other": ("cleared",),
}


class Car:
    def __init__(self) -> None:
        self.now = T0
        self.state: OrderState = apply_events(
            None, create(number=1, plate="粤B12345", now=T0, actor=ADVISOR)
        )
        self.run(assign, bay="B01", technicians=[WANG, LI], actor=FOREMAN)
        self.run(transition, Stage.IN_PROGRESS, actor=TECH)
        self.keys: dict[str, str] = {}

    def run(self, rule: Callable[..., list[Event]], *args: Any, **kwargs: Any) -> list[Event]:
        self.now += timedelta(minutes=1)
        before = self.state
        events = rule(self.state, *args, now=self.now, **kwargs)
        self.state = apply_events(self.state, events)
        self.last_clocks = clock_rules.plan_stage_change(
            before=before.stage,
            after=self.state.stage,
            technicians=self.state.technicians,
            actor_id=kwargs["actor"].user_id,
            running=[],
            order_id=1,
        )
        return events

    def hold(self, name: str) -> None:
        if name == "parts":
            self.run(request_parts, description="刹车片", actor=TECH)
            self.keys[name] = "parts:1"
        elif name == "other":
            # "Other" is a pause of its own, so it comes while the car is at work.
            assert self.state.stage == Stage.IN_PROGRESS
            self.run(
                transition,
                Stage.PAUSED,
                actor=TECH,
                pause_reason=PauseReason.OTHER,
                reason="等试车道",
            )
            self.keys[name] = self.state.pause_reasons[-1].key
        else:
            self.run(
                quote_extra_work,
                description=name,
                labour_hours=0.5,
                price_cents=1_000,
                actor=TECH,
            )
            self.keys[name] = f"approval:{self.state.quotes[-1].id}"

    def settle(self, name: str, how: str) -> list[Event]:
        key = self.keys[name]
        if name == "parts":
            return self.run(change_parts_status, part_id=1, status="arrived", actor=ADVISOR)
        if name == "other":
            return self.run(clear_pause_reason, key, actor=TECH)
        return self.run(
            decide_extra_work,
            quote_id=int(key.split(":")[1]),
            approved=how == "approved",
            quote_version=1,
            channel="customer_page",
            actor=CUSTOMER,
        )


def _cases() -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    """(what holds, in the order it came; the order it settles; how each settles)."""
    found = []
    for size in range(1, len(HOLDS) + 1):
        for held in combinations(HOLDS, size):
            # "other" is a pause of its own: it comes first when it comes.
            arrival = tuple(sorted(held, key=lambda h: h != "other"))
            for settling in permutations(held):
                ways = [SETTLE[name] for name in settling]
                for choice in _product(ways):
                    found.append((arrival, settling, choice))
    return found


def _product(ways: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    combos: list[tuple[str, ...]] = [()]
    for options in ways:
        combos = [(*c, o) for c in combos for o in options]
    return combos


CASES = _cases()


@pytest.mark.parametrize(
    ("held", "settling", "how"),
    CASES,
    ids=[
        "+".join(h) + "/" + ",".join(f"{s}:{w}" for s, w in zip(o, hw, strict=True))
        for h, o, hw in CASES
    ],
)
def test_the_car_waits_until_everything_settles_and_the_technician_resumes(
    held: tuple[str, ...], settling: tuple[str, ...], how: tuple[str, ...]
) -> None:
    car = Car()
    for name in held:
        car.hold(name)
    assert car.state.stage == Stage.PAUSED
    assert [r.key for r in car.state.pause_reasons] == [car.keys[n] for n in held]
    for step, (name, way) in enumerate(zip(settling, how, strict=True)):
        events = car.settle(name, way)
        # Settling moves no stage and starts no clock.
        assert not any(isinstance(e, StageChanged) for e in events)
        assert car.last_clocks.open_for == ()
        assert car.state.stage == Stage.PAUSED
        left = [n for n in settling[step + 1 :]]
        assert [r.key for r in car.state.pause_reasons] == [car.keys[n] for n in held if n in left]
        blocking = [n for n in left if n != "other"]
        if blocking:
            expected = (
                errors.ApprovalPending
                if any(n.startswith("quote") for n in blocking)
                else errors.PartsPending
            )
            with pytest.raises(expected):
                transition(car.state, Stage.IN_PROGRESS, actor=TECH, now=car.now)
    # Nothing left: a resume by someone else opens no clock; the
    # technician's own opens theirs only.
    assert car.state.pause_reasons == ()
    by_foreman = clock_rules.plan_stage_change(
        before=Stage.PAUSED,
        after=Stage.IN_PROGRESS,
        technicians=car.state.technicians,
        actor_id=FOREMAN.user_id,
        running=[],
        order_id=1,
    )
    assert by_foreman.open_for == ()
    car.run(transition, Stage.IN_PROGRESS, actor=TECH)
    assert car.state.stage == Stage.IN_PROGRESS
    assert car.last_clocks.open_for == (WANG,)
    approved = sum(1 for n, w in zip(settling, how, strict=True) if w == "approved")
    assert car.state.total_labour_hours == pytest.approx(0.5 * approved)


def test_there_are_many_cases() -> None:
    assert len(CASES) > 100


def test_the_eta_waits_for_the_expected_parts() -> None:
    car = Car()
    car.run(request_parts, description="刹车片", actor=TECH)
    without = car.state.eta
    assert without is not None
    expected = car.now + timedelta(hours=5)
    car.run(change_parts_status, part_id=1, status="ordered", eta=expected, actor=ADVISOR)
    assert car.state.pause_reasons[0].expected_at == expected
    assert car.state.eta is not None and car.state.eta > expected
    # The work after the parts is what the ETA adds to their arrival.
    assert car.state.eta - expected == without - (car.now - timedelta(minutes=1))
