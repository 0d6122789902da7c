"""The shop-load engine: hand-made shops with known answers, the engine's view
of an order's state, and properties that hold for any shop."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import ValidationFailed
from shared.domain.eta import MINUTES_PER_CHECK, WASH_MINUTES
from shared.domain.events import WorkItem
from shared.domain.extra_work import decide_extra_work, quote_extra_work
from shared.domain.holds import PauseItem
from shared.domain.order import Actor, OrderState, apply_events, assign, create, transition
from shared.domain.parts import request_parts
from shared.domain.planner import (
    LoungeWait,
    Plan,
    PlanOrder,
    Technician,
    lounge_wait,
    plan,
    plan_order,
    promise,
)
from shared.domain.shop_calendar import ShopCalendar
from shared.domain.stages import CHECK_CHAIN, CheckLevel, PauseReason, Role, Stage

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 30)
LUNCH = ((time(12, 0), time(13, 0)),)
# Open every day 08:30–18:00 with lunch 12:00–13:00, closed on public holidays.
SHOP = ShopCalendar(zone=SHANGHAI, breaks=LUNCH)
WEEKDAYS = ShopCalendar(
    zone=SHANGHAI, breaks=LUNCH, week=((time(8, 30), time(18, 0)),) * 5 + (None, None)
)
CHECKS = MINUTES_PER_CHECK * len(CHECK_CHAIN)
SYSTEM = Actor("simulator", frozenset({Role.SYSTEM}))


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def car(order_id: int, stage: Stage = Stage.CHECKED_IN, **fields: Any) -> PlanOrder:
    fields.setdefault("created_at", at(8, 0))
    fields.setdefault("after_repair_minutes", 30.0)
    return PlanOrder(id=order_id, number=order_id, stage=stage, **fields)


def starts_and_etas(result: Plan) -> dict[int, tuple[datetime | None, datetime]]:
    return {i: (f.starts_at, f.eta) for i, f in result.forecasts.items()}


# ---------------------------------------------------------------- hand-made shops


def test_one_technician_takes_two_cars_one_after_the_other() -> None:
    orders = [
        car(2, created_at=at(8, 50), remaining_minutes=90),
        car(1, created_at=at(8, 40), remaining_minutes=60),
    ]
    result = plan(at(9), SHOP, orders, [Technician(1)])
    assert starts_and_etas(result) == {
        1: (at(9), at(10, 30)),
        2: (at(10), at(12)),  # repair ends 11:30, checks end at noon
    }
    assert result.forecasts[2].technicians == (1,)
    assert result.free_at == {1: at(11, 30)}


def test_a_team_of_two_splits_the_work() -> None:
    job = car(1, Stage.IN_PROGRESS, technicians=(1, 2), remaining_minutes=120)
    result = plan(at(9), SHOP, [job], [Technician(1), Technician(2)])
    assert starts_and_etas(result) == {1: (at(9), at(10, 30))}
    assert result.forecasts[1].technicians == (1, 2)
    assert result.free_at == {1: at(10), 2: at(10)}
    # With one of them away, the other does it all.
    alone = plan(at(9), SHOP, [job], [Technician(1), Technician(2, present=False)])
    assert starts_and_etas(alone) == {1: (at(9), at(11, 30))}
    assert alone.free_at == {1: at(11)}


def test_a_dispatched_car_waits_for_its_technicians_current_work() -> None:
    orders = [
        car(1, Stage.DISPATCHED, technicians=(1,), remaining_minutes=30),
        car(2, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=45),
    ]
    result = plan(at(9), SHOP, orders, [Technician(1), Technician(2)])
    # Technician 2 is free, but the foreman gave the car to technician 1.
    assert starts_and_etas(result) == {
        1: (at(9, 45), at(10, 45)),
        2: (at(9), at(10, 15)),
    }


def test_a_technician_whose_car_waits_for_a_part_takes_the_next_cars_meanwhile() -> None:
    """The floor does not keep a technician idle for a part that is not
    there: he takes the next car whatever its length (not only one that ends
    before the part comes) and goes back to the paused car when through."""
    orders = [
        car(1, Stage.PAUSED, technicians=(1,), remaining_minutes=90, resume_at=at(14)),
        car(2, created_at=at(8), remaining_minutes=120),
        car(3, created_at=at(8, 30), remaining_minutes=240),
    ]
    result = plan(at(9), SHOP, orders, [Technician(1)])
    assert starts_and_etas(result) == {
        2: (at(9), at(11, 30)),
        # 11:00–12:00 and 13:00–16:00: the part is back at 14:00, but he is busy.
        3: (at(11), at(16, 30)),
        1: (at(16), at(18)),
    }


def test_a_technician_goes_back_to_his_paused_car_before_the_next_car_once_it_is_back() -> None:
    orders = [
        car(1, Stage.PAUSED, technicians=(1,), remaining_minutes=30, resume_at=at(9, 30)),
        car(2, created_at=at(8), remaining_minutes=60),
        car(3, created_at=at(8, 30), remaining_minutes=60),
    ]
    result = plan(at(9), SHOP, orders, [Technician(1)])
    # Car 2 from 09:00; at 10:00 the part is there: car 1, then car 3.
    assert starts_and_etas(result) == {
        2: (at(9), at(10, 30)),
        1: (at(10), at(11)),
        3: (at(10, 30), at(12)),
    }


def test_a_car_dispatched_beside_a_paused_car_starts_at_once() -> None:
    """The foreman gave the car to a technician whose own car waits: he
    starts it now, and the paused car waits for him (it is ahead only when
    it is back by the time he is free)."""
    orders = [
        car(1, Stage.PAUSED, technicians=(1,), remaining_minutes=60, resume_at=at(9, 30)),
        car(2, Stage.DISPATCHED, technicians=(1,), remaining_minutes=90),
    ]
    result = plan(at(9), SHOP, orders, [Technician(1)])
    assert starts_and_etas(result) == {
        2: (at(9), at(11)),
        1: (at(10, 30), at(12)),  # 10:30–11:30, then the checks
    }
    # Back already, or back before he is free from the car in progress: first.
    busy = [
        car(1, Stage.PAUSED, technicians=(1,), remaining_minutes=60, resume_at=at(9, 30)),
        car(2, Stage.DISPATCHED, technicians=(1,), remaining_minutes=90),
        car(3, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=45),
    ]
    result = plan(at(9), SHOP, busy, [Technician(1)])
    assert starts_and_etas(result) == {
        3: (at(9), at(10, 15)),
        1: (at(9, 45), at(11, 15)),
        2: (at(10, 45), at(13, 45)),  # 10:45–12:00, 13:00–13:15, checks
    }
    # A team too: the dispatched car first, the paused one when both are free.
    team = [
        car(1, Stage.PAUSED, technicians=(1, 2), remaining_minutes=60, resume_at=at(9, 30)),
        car(2, Stage.DISPATCHED, technicians=(1, 2), remaining_minutes=90),
    ]
    result = plan(at(9), SHOP, team, [Technician(1), Technician(2)])
    assert starts_and_etas(result) == {
        2: (at(9), at(10, 15)),  # 45 minutes each
        1: (at(9, 45), at(10, 45)),
    }


def test_a_lounge_car_goes_ahead_of_an_earlier_drop_off() -> None:
    orders = [
        car(1, created_at=at(8, 0), remaining_minutes=60),
        car(2, created_at=at(8, 55), remaining_minutes=60, waiting=True),
    ]
    result = plan(at(9), SHOP, orders, [Technician(1)])
    # The lounge car came at 08:55, so the outlook expects another at 09:55:
    # it too goes ahead of the drop-off (10:00–11:00; checks after lunch).
    assert starts_and_etas(result) == {1: (at(11), at(13, 30)), 2: (at(9), at(10, 30))}
    alone = plan(at(9), SHOP, orders, [Technician(1)], lounge_outlook_minutes=0)
    assert starts_and_etas(alone) == {1: (at(10), at(11, 30)), 2: (at(9), at(10, 30))}


def test_the_lounge_outlook_expects_the_last_hours_lounge_cars_again() -> None:
    """Each lounge car checked in during the last working hour (in any
    stage: it came) comes again an hour of working time after it did, with
    its standard hours; a drop-off whose turn comes later waits for it."""
    state = order(hours=0.5)  # a lounge car of half an hour
    state = step(state, assign(state, bay="B1", technicians=[1], actor=SYSTEM, now=at(8, 40)))
    state = step(state, transition(state, Stage.IN_PROGRESS, actor=SYSTEM, now=at(8, 40)))
    in_work = plan_order(7, replace(state, created_at=at(8, 40)), at(9))
    assert in_work.labour_minutes == pytest.approx(30)  # what a car like it brings
    assert in_work.remaining_minutes == pytest.approx(10)
    orders = [
        in_work,  # technician 1 is free at 09:10
        car(3, created_at=at(8, 50), remaining_minutes=30, waiting=True),
        car(2, created_at=at(8, 45), remaining_minutes=60),
        car(4, created_at=at(8, 46), remaining_minutes=60),
    ]
    result = plan(at(9), SHOP, orders, [Technician(1)])
    # 09:10 car 3; 09:40 car 7's twin (here at 09:40); 10:10 car 3's twin
    # (here at 09:50); then the drop-offs: 10:40–11:40 and 11:40–12:00,
    # 13:00–13:40, each with 30 minutes of checks.
    assert starts_and_etas(result) == {
        7: (at(9), at(9, 40)),
        3: (at(9, 10), at(10, 10)),
        2: (at(10, 40), at(13, 10)),
        4: (at(11, 40), at(14, 10)),
    }
    unexpected = plan(at(9), SHOP, orders, [Technician(1)], lounge_outlook_minutes=0)
    assert starts_and_etas(unexpected) == {
        7: (at(9), at(9, 40)),
        3: (at(9, 10), at(10, 10)),
        2: (at(9, 40), at(11, 10)),
        4: (at(10, 40), at(13, 10)),
    }


@pytest.mark.parametrize(
    ("checked_in", "now", "expected"),
    [
        (at(8, 55), at(9), True),
        (at(7, 59), at(9), True),  # before opening: 30 working minutes ago
        (at(17, 45, day=MONDAY - timedelta(days=1)), at(9), True),  # 15 + 30 minutes
        (at(8, 55), at(10), False),  # 65 working minutes ago
        (at(11, 31), at(13, 30), True),  # lunch is no working time: 59 minutes
        (at(11, 30), at(13, 30), False),  # an hour ago
        (at(9, 30), at(9), False),  # not checked in yet
    ],
)
def test_the_lounge_outlook_looks_back_one_working_hour(
    checked_in: datetime, now: datetime, expected: bool
) -> None:
    """A drop-off whose turn comes after the expected car waits 30 minutes
    more for it; one the outlook does not expect changes nothing."""
    orders = [
        car(1, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=120),
        car(2, Stage.QUALITY_CHECK, created_at=checked_in, waiting=True, labour_minutes=30),
        car(3, created_at=now - timedelta(minutes=1), remaining_minutes=60),
    ]
    techs = [Technician(1)]
    start = plan(now, SHOP, orders, techs).forecasts[3].starts_at
    without = plan(now, SHOP, orders, techs, lounge_outlook_minutes=0).forecasts[3].starts_at
    assert start is not None and without is not None
    assert SHOP.working_minutes(without, start) == (30 if expected else 0)


def test_an_expected_lounge_car_does_not_hold_a_free_technician() -> None:
    """The foreman gives a free technician the cars that are here: a drop-off
    starts now, even though the lounge car expected at 09:30 would rank first."""
    orders = [
        car(1, created_at=at(8, 30), remaining_minutes=30, waiting=True, stage=Stage.QUALITY_CHECK),
        car(2, created_at=at(8, 45), remaining_minutes=60),
    ]
    result = plan(at(9), SHOP, orders, [Technician(1)])
    assert result.forecasts[2].starts_at == at(9)
    # Once every car here has its place, the cars still to come change no
    # forecast and are not planned: the technician is free at 10:00.
    assert result.free_at == {1: at(10)}


def test_the_lounge_outlook_refuses_a_window_that_is_no_time() -> None:
    for window in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValidationFailed) as refused:
            plan(at(9), SHOP, [], [Technician(1)], lounge_outlook_minutes=window)
        assert refused.value.field == "lounge_outlook_minutes"


def test_the_foremans_order_vip_then_promise_then_check_in() -> None:
    orders = [
        car(1, created_at=at(8, 0), remaining_minutes=30),
        car(2, created_at=at(8, 10), remaining_minutes=30, promised_at=at(17)),
        car(3, created_at=at(8, 20), remaining_minutes=30, promised_at=at(12)),
        car(4, created_at=at(8, 30), remaining_minutes=30, priority="vip"),
    ]
    result = plan(at(9), SHOP, orders, [Technician(1)])
    starts = {i: f.starts_at for i, f in result.forecasts.items()}
    assert starts == {4: at(9), 3: at(9, 30), 2: at(10), 1: at(10, 30)}


def test_the_earliest_free_technician_takes_the_next_car_ties_by_id() -> None:
    orders = [
        car(1, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=60),
        car(2, created_at=at(8, 0), remaining_minutes=60),
        car(3, created_at=at(8, 10), remaining_minutes=60),
    ]
    result = plan(at(9), SHOP, orders, [Technician(3), Technician(2), Technician(1)])
    assert result.forecasts[2].technicians == (2,)
    assert result.forecasts[3].technicians == (3,)


def test_work_crosses_lunch_and_closing() -> None:
    job = car(1, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=8 * 60)
    result = plan(at(11), SHOP, [job], [Technician(1)])
    # 11–12, 13–18 (6 h), 08:30–10:30 next day, then 30 minutes of checks.
    tuesday = MONDAY + timedelta(days=1)
    assert starts_and_etas(result) == {1: (at(11), at(11, day=tuesday))}


def test_work_skips_the_weekend_and_a_technicians_shift_ends_early() -> None:
    friday = date(2026, 11, 27)
    job = car(1, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=60, after_repair_minutes=0)
    early = Technician(1, shift=(time(7, 0), time(16, 30)))
    result = plan(at(16, day=friday), WEEKDAYS, [job], [early])
    assert result.forecasts[1].eta == at(9, day=MONDAY)
    assert result.free_at == {1: at(9, day=MONDAY)}


def test_cars_past_repair_need_no_technician_and_finished_cars_are_skipped() -> None:
    orders = [
        car(1, Stage.QUALITY_CHECK, after_repair_minutes=20),
        car(2, Stage.WASHING, after_repair_minutes=0),
        car(3, Stage.READY),
        car(4, Stage.DELIVERED),
        car(5, Stage.CANCELLED),
        car(6, Stage.BOOKED, remaining_minutes=60),
    ]
    result = plan(at(17, 50), SHOP, orders, [])
    tuesday = MONDAY + timedelta(days=1)
    assert starts_and_etas(result) == {
        1: (None, at(8, 40, day=tuesday)),
        2: (None, at(17, 50)),
    }


def test_with_nobody_present_each_car_is_planned_on_shop_hours_alone() -> None:
    orders = [
        car(1, remaining_minutes=60),
        car(2, Stage.IN_PROGRESS, technicians=(7,), remaining_minutes=30),
    ]
    result = plan(at(9), SHOP, orders, [Technician(7, present=False)])
    assert starts_and_etas(result) == {1: (at(9), at(10, 30)), 2: (at(9), at(10))}
    assert result.free_at == {}


def test_a_car_of_an_absent_technician_goes_to_someone_present() -> None:
    orders = [car(1, Stage.DISPATCHED, technicians=(7,), remaining_minutes=60)]
    result = plan(at(9), SHOP, orders, [Technician(7, present=False), Technician(8)])
    assert result.forecasts[1].technicians == (8,)
    assert result.forecasts[1].eta == at(10, 30)


def test_late_and_at_risk() -> None:
    orders = [
        car(1, remaining_minutes=60, promised_at=at(10, 15)),  # ETA 10:30: late
        car(2, remaining_minutes=60, promised_at=at(10, 40)),  # 10 minutes to spare: at risk
        car(3, remaining_minutes=60, promised_at=at(11)),  # 30 minutes to spare
        car(4, remaining_minutes=0, promised_at=at(8, 59)),  # the promise has passed
        car(5, remaining_minutes=60),  # nothing promised
    ]
    techs = [Technician(i) for i in range(1, 6)]
    result = plan(at(9), SHOP, orders, techs, margin_minutes=15)
    flags = {i: (f.late, f.at_risk) for i, f in result.forecasts.items()}
    assert flags == {
        1: (True, False),
        2: (False, True),
        3: (False, False),
        4: (True, False),
        5: (False, False),
    }


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        plan(at(9), SHOP, [car(1), car(1)], [])
    assert refused.value.field == "orders"
    with pytest.raises(ValidationFailed):
        car(1, remaining_minutes=float("nan"))


# ---------------------------------------------------------------- promise and lounge


def test_a_promise_to_a_lounge_customer_comes_before_the_drop_offs() -> None:
    orders = [car(1, created_at=at(8), remaining_minutes=120)]
    now = at(9, 7)
    base = plan(now, SHOP, orders, [Technician(1)])
    lounge = promise(base, SHOP, orders, 1.5, True, buffer_minutes=30)
    # 09:07 + 1.5 h + 30 checks = 11:07, + 30 buffer = 11:37, up to the quarter.
    assert lounge.starts_at == now
    assert lounge.queue_minutes == 0
    assert lounge.promised_at == at(11, 45)
    drop_off = promise(base, SHOP, orders, 1.5, False, buffer_minutes=30)
    # Behind the 2 h car: 11:07–12:00 and 13:00–13:37, checks to 14:07, buffer 14:37.
    assert drop_off.starts_at == at(11, 7)
    assert drop_off.queue_minutes == 120
    assert drop_off.promised_at == at(14, 45)


def test_a_promise_past_closing_is_tomorrows_and_a_buffer_stops_at_closing() -> None:
    base = plan(at(16, 30), SHOP, [], [Technician(1)])
    tuesday = MONDAY + timedelta(days=1)
    # 1.5 h + 30 min of checks from 16:30: 18:00 then 08:30–09:00.
    late = promise(base, SHOP, [], 1.5, True, buffer_minutes=30)
    assert late.promised_at == at(9, 30, day=tuesday)
    # Done at 17:30: the buffer stops at 18:00 instead of spilling to tomorrow.
    today = promise(base, SHOP, [], 0.5, True, buffer_minutes=45)
    assert today.promised_at == at(18)


def test_a_promise_is_never_rounded_into_closed_time() -> None:
    odd = ShopCalendar(zone=SHANGHAI, week=((time(8, 30), time(17, 50)),) * 7)
    base = plan(at(16), odd, [], [Technician(1)])
    # Done at 17:30: with 10 minutes of buffer 17:40, up to 17:45.
    assert promise(base, odd, [], 1.0, True, buffer_minutes=10).promised_at == at(17, 45)
    # With 17 minutes 17:47: the next quarter (18:00) is closed, so the closing time.
    assert promise(base, odd, [], 1.0, True, buffer_minutes=17).promised_at == at(17, 50)


def test_promise_refuses_impossible_hours() -> None:
    base = plan(at(9), SHOP, [], [Technician(1)])
    for hours in (-1.0, float("inf"), 5000.0):
        with pytest.raises(ValidationFailed) as refused:
            promise(base, SHOP, [], hours, False)
        assert refused.value.field == "labour_hours"


def test_lounge_wait_counts_the_cars_ahead_and_gives_a_range() -> None:
    orders = [
        car(1, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=20),
        car(2, created_at=at(8, 30), remaining_minutes=30, waiting=True),
        car(3, created_at=at(8, 40), remaining_minutes=30, waiting=True),
        car(4, created_at=at(8, 50), remaining_minutes=300),  # a drop-off: not ahead
    ]
    base = plan(at(9), SHOP, orders, [Technician(1)])
    wait = lounge_wait(base, SHOP, orders)
    # Starts at 10:20 (80 min): spread 10 + 2×5 + 16 = 36 → 62–116, rounded to 5.
    assert wait == LoungeWait(cars_ahead=2, low_minutes=60, high_minutes=120, after=None)
    capped = lounge_wait(base, SHOP, orders, cap_minutes=100)
    assert capped.after == at(10, 20)
    assert (capped.low_minutes, capped.high_minutes) == (60, 120)


def test_a_long_lounge_wait_says_after_when_instead_of_minutes() -> None:
    orders = [car(1, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=600)]
    base = plan(at(9), SHOP, orders, [Technician(1)])
    wait = lounge_wait(base, SHOP, orders, cap_minutes=180)
    # 09–12 and 13–18 today, 08:30–10:30 tomorrow.
    assert wait.after == at(10, 30, day=MONDAY + timedelta(days=1))
    assert wait.high_minutes > 180
    with pytest.raises(ValidationFailed):
        lounge_wait(base, SHOP, orders, cap_minutes=1000)


# ---------------------------------------------------------------- from the order's state


def order(hours: float = 2.0, **changes: Any) -> OrderState:
    events = create(
        number=7,
        plate="粤B·12345",
        now=at(8),
        actor=SYSTEM,
        items=[WorkItem("brakes", hours)],
        waiting=True,
    )
    return replace(apply_events(None, events), **changes)


def step(state: OrderState, events: list[Any]) -> OrderState:
    return apply_events(state, events)


def test_plan_order_in_progress_counts_down_with_a_floor() -> None:
    state = order(
        stage=Stage.IN_PROGRESS, stage_entered_at=at(9), worked_minutes=30, technicians=(4,)
    )
    derived = plan_order(11, state, at(9, 30))
    assert (derived.id, derived.number, derived.waiting) == (11, 7, True)
    assert derived.technicians == (4,)
    assert derived.remaining_minutes == pytest.approx(60)
    assert derived.after_repair_minutes == CHECKS
    assert derived.resume_at is None
    overrun = plan_order(11, state, at(13))
    assert overrun.remaining_minutes == pytest.approx(12)  # 10 % of 2 h


def test_plan_order_counts_the_running_stretch_in_working_minutes() -> None:
    """Nobody taps pause for lunch or the night: with the shop's calendar the
    stretch in progress counts only its working minutes."""
    state = order(hours=3.0, stage=Stage.IN_PROGRESS, stage_entered_at=at(11), worked_minutes=0)
    # 11:00–14:00 on the clock is two working hours (lunch 12–13).
    assert plan_order(1, state, at(14), calendar=SHOP).remaining_minutes == pytest.approx(60)
    assert plan_order(1, state, at(14)).remaining_minutes == pytest.approx(18)  # clock: floor
    tuesday = MONDAY + timedelta(days=1)
    overnight = replace(state, stage_entered_at=at(17, 30))
    # 17:30–18:00 and 08:30–09:00: an hour of work, not a night of it.
    derived = plan_order(1, overnight, at(9, day=tuesday), calendar=SHOP)
    assert derived.remaining_minutes == pytest.approx(120)
    washing = order(stage=Stage.WASHING, stage_entered_at=at(11, 55), wash=True)
    assert plan_order(1, washing, at(13, 5), calendar=SHOP).after_repair_minutes == (
        pytest.approx(WASH_MINUTES - 10)
    )


def test_plan_order_after_rework_keeps_a_quarter_of_the_hours() -> None:
    state = order(stage=Stage.IN_PROGRESS, stage_entered_at=at(9), worked_minutes=150)
    assert plan_order(1, state, at(10)).remaining_minutes == pytest.approx(12)
    reworked = replace(state, rework_count=1)
    assert plan_order(1, reworked, at(10)).remaining_minutes == pytest.approx(30)


def test_pending_quote_hours_do_not_count_and_approved_ones_do() -> None:
    state = order(hours=1.0)
    state = step(state, assign(state, bay="B1", technicians=[1], actor=SYSTEM, now=at(9)))
    state = step(state, transition(state, Stage.IN_PROGRESS, actor=SYSTEM, now=at(9)))
    quoted = step(
        state,
        quote_extra_work(
            state,
            description="brake discs",
            labour_hours=2.0,
            price_cents=80000,
            actor=SYSTEM,
            now=at(9, 30),
        ),
    )
    assert quoted.stage == Stage.PAUSED
    pending = plan_order(1, quoted, at(9, 30))
    assert pending.remaining_minutes == pytest.approx(30)
    assert pending.resume_at == at(10, 30)  # the approval default: an hour
    approved = step(
        quoted,
        decide_extra_work(
            quoted,
            quote_id=1,
            approved=True,
            quote_version=1,
            channel="phone",
            actor=SYSTEM,
            now=at(9, 40),
        ),
    )
    counted = plan_order(1, approved, at(9, 40))
    assert counted.remaining_minutes == pytest.approx(150)
    assert counted.resume_at == at(9, 40)  # nothing left to wait for
    techs = [Technician(1)]
    before = plan(at(9, 40), SHOP, [pending], techs).forecasts[1].eta
    after = plan(at(9, 40), SHOP, [counted], techs).forecasts[1].eta
    assert before == at(11, 30)  # from 10:30, 30 min of work and 30 of checks
    assert after == at(13, 40)  # from 09:40, 2.5 h of work over lunch, checks


def test_a_paused_car_waits_for_the_parts_expected_arrival() -> None:
    state = order(hours=2.0)
    state = step(state, assign(state, bay="B1", technicians=[1], actor=SYSTEM, now=at(9)))
    state = step(state, transition(state, Stage.IN_PROGRESS, actor=SYSTEM, now=at(9)))
    paused = step(
        state,
        request_parts(state, description="pads", eta=at(14), actor=SYSTEM, now=at(9, 30)),
    )
    assert paused.stage == Stage.PAUSED
    derived = plan_order(1, paused, at(9, 30))
    assert derived.resume_at == at(14)
    assert derived.remaining_minutes == pytest.approx(90)
    result = plan(at(9, 30), SHOP, [derived], [Technician(1)])
    assert result.forecasts[1].starts_at == at(14)
    assert result.forecasts[1].eta == at(16)
    # Unknown arrival, or one already overdue: the parts default from now.
    unknown = replace(paused, pause_reasons=(PauseItem("parts:1", PauseReason.PARTS),))
    assert plan_order(1, unknown, at(9, 30)).resume_at == at(11, 30)
    assert plan_order(1, paused, at(15), parts_default_minutes=45).resume_at == at(15, 45)
    other = replace(paused, pause_reasons=(PauseItem("other:3", PauseReason.OTHER),))
    assert plan_order(1, other, at(9, 30)).resume_at == at(9, 30)


def test_plan_order_after_repair() -> None:
    checking = order(stage=Stage.QUALITY_CHECK, check_level=CheckLevel.QC, wash=True)
    derived = plan_order(1, checking, at(10))
    assert derived.remaining_minutes == 0
    assert derived.after_repair_minutes == 2 * MINUTES_PER_CHECK + WASH_MINUTES
    washing = order(stage=Stage.WASHING, stage_entered_at=at(10), wash=True)
    assert plan_order(1, washing, at(10, 5)).after_repair_minutes == pytest.approx(15)
    assert plan_order(1, washing, at(11)).after_repair_minutes == 0


# ---------------------------------------------------------------- properties

REPAIR = (Stage.CHECKED_IN, Stage.DISPATCHED, Stage.IN_PROGRESS, Stage.PAUSED)
CALENDARS = (SHOP, WEEKDAYS)
SHIFTS = (None, None, (time(7, 0), time(15, 30)), (time(12, 0), time(21, 0)), (time(19), time(22)))


@st.composite
def shops(draw: st.DrawFn) -> tuple[datetime, ShopCalendar, list[PlanOrder], list[Technician]]:
    now = draw(
        st.datetimes(
            min_value=datetime(2026, 9, 24),
            max_value=datetime(2027, 1, 5),
            timezones=st.just(SHANGHAI),
        )
    )
    calendar = draw(st.sampled_from(CALENDARS))
    technicians = [
        Technician(i, shift=draw(st.sampled_from(SHIFTS)), present=draw(st.booleans()))
        for i in range(1, draw(st.integers(0, 4)) + 1)
    ]
    orders = []
    for i in range(1, draw(st.integers(0, 10)) + 1):
        # Mostly cars in repair: they are what the schedule orders.
        stage = draw(st.sampled_from(REPAIR) | st.sampled_from(list(Stage)))
        offset = st.floats(min_value=-600, max_value=3000, allow_nan=False)
        orders.append(
            PlanOrder(
                id=i * 3,
                number=i,
                stage=stage,
                created_at=now - timedelta(minutes=draw(st.sampled_from([0, 15, 600]))),
                priority=draw(st.sampled_from(["normal", "vip"])),
                waiting=draw(st.booleans()),
                promised_at=draw(st.none() | offset.map(lambda m: now + timedelta(minutes=m))),
                technicians=tuple(draw(st.sets(st.integers(1, 5), max_size=2))),
                remaining_minutes=draw(st.floats(min_value=0, max_value=900)),
                after_repair_minutes=draw(st.sampled_from([0.0, 10.0, 30.0, 50.0])),
                resume_at=draw(st.none() | offset.map(lambda m: now + timedelta(minutes=m)))
                if stage == Stage.PAUSED
                else None,
            )
        )
    return now, calendar, orders, technicians


def closed_inside(calendar: ShopCalendar, moment: datetime) -> bool:
    """Strictly inside closed time (a stretch's start and end are not)."""
    return not any(opens <= moment <= closes for opens, closes in calendar.intervals(moment.date()))


@settings(max_examples=150, deadline=None)
@given(shops())
def test_an_eta_is_never_before_now_nor_in_closed_time(
    shop: tuple[datetime, ShopCalendar, list[PlanOrder], list[Technician]],
) -> None:
    now, calendar, orders, technicians = shop
    result = plan(now, calendar, orders, technicians)
    assert set(result.forecasts) == {o.id for o in orders if o.stage in (*REPAIR, *AFTER)}
    for forecast in result.forecasts.values():
        assert forecast.eta >= now
        assert not closed_inside(calendar, forecast.eta), forecast
        if forecast.starts_at is not None:
            assert now <= forecast.starts_at <= forecast.eta


AFTER = (Stage.QUALITY_CHECK, Stage.WASHING)


@settings(max_examples=100, deadline=None)
@given(shops(), st.data())
def test_the_plan_does_not_depend_on_the_order_of_its_input(
    shop: tuple[datetime, ShopCalendar, list[PlanOrder], list[Technician]], data: st.DataObject
) -> None:
    now, calendar, orders, technicians = shop
    shuffled = data.draw(st.permutations(orders))
    crew = data.draw(st.permutations(technicians))
    assert plan(now, calendar, shuffled, crew) == plan(now, calendar, orders, technicians)


@settings(max_examples=150, deadline=None)
@given(shops(), st.data())
def test_more_work_never_brings_an_eta_forward(
    shop: tuple[datetime, ShopCalendar, list[PlanOrder], list[Technician]], data: st.DataObject
) -> None:
    now, calendar, orders, technicians = shop
    repair = [o for o in orders if o.stage in REPAIR]
    if not repair:
        return
    chosen = data.draw(st.sampled_from(repair))
    more = data.draw(st.floats(min_value=0, max_value=600))
    bigger = replace(chosen, remaining_minutes=chosen.remaining_minutes + more)
    others = [o for o in orders if o.id != chosen.id]
    before = plan(now, calendar, orders, technicians).forecasts[chosen.id].eta
    after = plan(now, calendar, [*others, bigger], technicians).forecasts[chosen.id].eta
    assert after >= before


@settings(max_examples=100, deadline=None)
@given(
    shops(),
    st.floats(min_value=0, max_value=40),
    st.booleans(),
    st.floats(min_value=0, max_value=90),
)
def test_a_promise_is_never_before_now_nor_in_closed_time(
    shop: tuple[datetime, ShopCalendar, list[PlanOrder], list[Technician]],
    hours: float,
    waiting: bool,
    buffer: float,
) -> None:
    now, calendar, orders, technicians = shop
    base = plan(now, calendar, orders, technicians)
    answer = promise(base, calendar, orders, hours, waiting, buffer_minutes=buffer)
    assert answer.promised_at >= now
    assert answer.starts_at >= now
    assert answer.queue_minutes >= 0
    assert not closed_inside(calendar, answer.promised_at), answer


@settings(max_examples=100, deadline=None)
@given(shops(), st.integers(min_value=1, max_value=999))
def test_a_lounge_wait_is_an_honest_range(
    shop: tuple[datetime, ShopCalendar, list[PlanOrder], list[Technician]], cap: int
) -> None:
    now, calendar, orders, technicians = shop
    base = plan(now, calendar, orders, technicians)
    wait = lounge_wait(base, calendar, orders, cap_minutes=cap)
    assert 0 <= wait.low_minutes <= wait.high_minutes
    assert wait.low_minutes % 5 == 0 and wait.high_minutes % 5 == 0
    assert wait.cars_ahead >= 0
    if wait.after is None:
        assert wait.high_minutes <= cap
    else:
        assert wait.after >= now


@settings(max_examples=150, deadline=None)
@given(shops())
def test_the_lounge_outlook_never_holds_up_the_lounge_nor_work_given_out(
    shop: tuple[datetime, ShopCalendar, list[PlanOrder], list[Technician]],
) -> None:
    """Expected lounge cars queue after every lounge car here and never take
    a technician from the work already given to him: lounge cars checked in,
    and cars in progress or dispatched on a present technician, get the same
    forecast as without the outlook."""
    now, calendar, orders, technicians = shop
    with_outlook = plan(now, calendar, orders, technicians).forecasts
    without = plan(now, calendar, orders, technicians, lounge_outlook_minutes=0).forecasts
    assert with_outlook.keys() == without.keys()
    for item in orders:
        if item.id not in without:
            continue
        on_own = set(without[item.id].technicians) <= set(item.technicians)
        given_out = item.stage in (Stage.IN_PROGRESS, Stage.DISPATCHED) and on_own
        if given_out or (item.stage == Stage.CHECKED_IN and item.waiting):
            assert with_outlook[item.id] == without[item.id], item
