"""The work an order has had, as the engine counts it: every stretch in
progress in the shop's working minutes, the earlier ones (read off the log,
``in_progress_stretches``) as well as the one running. Nobody taps pause
for lunch or the night, so a stretch over them was not worked through them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.events import Event, WorkItem
from shared.domain.order import Actor, OrderState, apply_events, assign, create, pass_check
from shared.domain.order import transition as move
from shared.domain.planner import (
    LABOUR_HISTORY_MINIMUM,
    MINIMUM_REMAINING_SHARE,
    REWORK_MINIMUM_SHARE,
    PlanOrder,
    Technician,
    in_progress_stretches,
    job_ratios,
    plan,
    plan_order,
)
from shared.domain.shop_calendar import ShopCalendar
from shared.domain.stages import PauseReason, Role, Stage

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 30)
TUESDAY = MONDAY + timedelta(days=1)
# Open every day 08:30–18:00 with lunch 12:00–13:00.
SHOP = ShopCalendar(zone=SHANGHAI, breaks=((time(12, 0), time(13, 0)),))
ADVISOR = Actor("advisor", frozenset({Role.ADVISOR}), user_id=1)
FOREMAN = Actor("foreman", frozenset({Role.FOREMAN}), user_id=2)
TECHNICIAN = Actor("T4", frozenset({Role.TECHNICIAN}), user_id=4)
INSPECTOR = Actor("QC", frozenset({Role.QC_INSPECTOR, Role.TEAM_LEAD}), user_id=3)


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


class Log:
    """One order's events as its log holds them, and its state."""

    def __init__(self, hours: float) -> None:
        self.events: list[Event] = list(
            create(
                number=1,
                plate="粤B·12345",
                now=at(8, 30),
                actor=ADVISOR,
                items=[WorkItem("engine", hours)],
            )
        )
        self.state: OrderState = apply_events(None, self.events)
        self.then(assign(self.state, bay="B1", technicians=[4], actor=FOREMAN, now=at(8, 31)))

    def then(self, events: list[Event]) -> None:
        self.events.extend(events)
        self.state = apply_events(self.state, events)

    def start(self, moment: datetime) -> None:
        self.then(move(self.state, Stage.IN_PROGRESS, actor=TECHNICIAN, now=moment))

    def pause(self, moment: datetime) -> None:
        self.then(
            move(
                self.state,
                Stage.PAUSED,
                actor=TECHNICIAN,
                now=moment,
                reason="the customer's call",
                pause_reason=PauseReason.OTHER,
            )
        )

    def remaining(self, now: datetime, **how: Any) -> float:
        return plan_order(1, self.state, now, **how).remaining_minutes


def test_a_stretch_over_lunch_counts_its_working_minutes() -> None:
    log = Log(hours=4.0)
    log.start(at(11))
    log.pause(at(14))  # 11:00–14:00: three hours on the clock, two of work
    log.start(at(15))
    assert log.state.worked_minutes == pytest.approx(180)
    stretches = in_progress_stretches(log.events)
    assert stretches == ((at(11), at(14)),)
    now = at(15, 30)
    # 240 − 120 worked before − 30 running.
    assert log.remaining(now, calendar=SHOP, stretches=stretches) == pytest.approx(90)
    # Without the stretches (or the calendar) the earlier stretch counts
    # its clock minutes, lunch included.
    assert log.remaining(now, calendar=SHOP) == pytest.approx(30)
    assert log.remaining(now, stretches=stretches) == pytest.approx(30)


def test_a_stretch_over_the_night_counts_its_working_minutes() -> None:
    log = Log(hours=4.0)
    log.start(at(17))
    log.pause(at(9, 30, TUESDAY))  # 17:00–18:00 and 08:30–09:30: two hours
    log.start(at(10, day=TUESDAY))
    assert log.state.worked_minutes == pytest.approx(16.5 * 60)
    stretches = in_progress_stretches(log.events)
    now = at(10, 30, TUESDAY)
    assert log.remaining(now, calendar=SHOP, stretches=stretches) == pytest.approx(90)
    # Counted on the clock, the night's 14.5 hours looked like work done:
    # only the floor of the standard hours was left.
    assert log.remaining(now, calendar=SHOP) == pytest.approx(240 * MINIMUM_REMAINING_SHARE)


def test_a_paused_car_and_a_reworked_car_count_every_stretch() -> None:
    log = Log(hours=2.0)
    log.start(at(9))
    log.pause(at(11, 30))  # 2.5 h of work on a 2 h job: overrun
    stretches = in_progress_stretches(log.events)
    assert stretches == ((at(9), at(11, 30)),)
    # Paused, nothing runs: what is left is the floor either way.
    assert log.remaining(at(14), calendar=SHOP, stretches=stretches) == pytest.approx(12)
    log.start(at(14))
    log.then(move(log.state, Stage.QUALITY_CHECK, actor=TECHNICIAN, now=at(14, 10)))
    log.then(
        move(log.state, Stage.IN_PROGRESS, actor=INSPECTOR, now=at(14, 20), reason="brake noise")
    )
    stretches = in_progress_stretches(log.events)
    # The stretch still running (since 14:20) is not an earlier one.
    assert stretches == ((at(9), at(11, 30)), (at(14), at(14, 10)))
    assert log.state.rework_count == 1
    # 160 minutes worked: the rework keeps a quarter of the hours.
    rework_floor = 120 * REWORK_MINIMUM_SHARE
    assert log.remaining(at(14, 30), calendar=SHOP, stretches=stretches) == (
        pytest.approx(rework_floor)
    )


def test_checks_and_washing_are_not_stretches_in_progress() -> None:
    log = Log(hours=1.0)
    log.start(at(9))
    log.then(move(log.state, Stage.QUALITY_CHECK, actor=TECHNICIAN, now=at(10)))
    for _level in range(3):
        log.then(pass_check(log.state, actor=INSPECTOR, now=at(10, 20), one_person_allowed=True))
    assert log.state.stage == Stage.READY
    assert in_progress_stretches(log.events) == ((at(9), at(10)),)
    assert in_progress_stretches([]) == ()


# ---------------------------------------------------------------- any order's log

# A day's moments from 07:00 to 19:59 (some before opening, some after closing).
moments = st.tuples(st.integers(0, 3), st.integers(7 * 60, 20 * 60 - 1))


@settings(max_examples=120, deadline=None)
@given(hours=st.floats(0.5, 12.0), steps=st.lists(moments, min_size=1, max_size=8))
def test_every_earlier_stretch_counts_its_working_minutes_and_no_more(
    hours: float, steps: list[tuple[int, int]]
) -> None:
    """Started and paused in turn at any moments: the engine counts exactly
    the working minutes of every stretch, however they lie on the clock."""
    log = Log(hours=hours)
    times = sorted(at(0, day=MONDAY + timedelta(days=d)) + timedelta(minutes=m) for d, m in steps)
    for index, moment in enumerate(times):
        if index % 2 == 0:
            log.start(moment)
        else:
            log.pause(moment)
    now = times[-1] + timedelta(minutes=7)
    stretches = in_progress_stretches(log.events)
    worked = sum(SHOP.working_minutes(start, end) for start, end in stretches)
    assert sum((end - start).total_seconds() / 60 for start, end in stretches) == (
        pytest.approx(log.state.worked_minutes)
    )
    running = 0.0
    if log.state.stage == Stage.IN_PROGRESS:
        running = SHOP.working_minutes(times[-1], now)
    total = hours * 60
    expected = max(total - worked - running, total * MINIMUM_REMAINING_SHARE)
    counted = log.remaining(now, calendar=SHOP, stretches=stretches)
    assert counted == pytest.approx(expected, abs=1e-6)
    # Never less left than when the clock's minutes count.
    assert counted >= log.remaining(now, calendar=SHOP) - 1e-9


# ---------------------------------------------------------------- sent back to a busy technician


def test_a_car_sent_back_waits_for_its_technicians_current_car() -> None:
    """A failed check sends car 1 back in progress at 10:00 while its
    technician works on car 2 (his clock runs there): car 2 goes on first
    and car 1 after it, and its time in progress since 10:00 is no work."""
    log = Log(hours=1.0)
    log.start(at(9))
    log.then(move(log.state, Stage.QUALITY_CHECK, actor=TECHNICIAN, now=at(9, 50)))
    log.then(move(log.state, Stage.IN_PROGRESS, actor=INSPECTOR, now=at(10), reason="noise"))
    now = at(10, 20)
    stretches = in_progress_stretches(log.events)
    sent_back = plan_order(1, log.state, now, calendar=SHOP, stretches=stretches, idle=True)
    # 60 − 50 worked = 10 minutes, but a reworked car keeps a quarter: 15.
    assert sent_back.remaining_minutes == pytest.approx(60 * REWORK_MINIMUM_SHARE)
    assert sent_back.idle
    # Counted as running, the 20 minutes since the failed check would look
    # like work done (the floor is all that is left either way here).
    running = plan_order(1, log.state, now, calendar=SHOP, stretches=stretches)
    assert not running.idle
    current = PlanOrder(
        id=2,
        number=2,
        stage=Stage.IN_PROGRESS,
        created_at=at(8, 45),
        technicians=(4,),
        remaining_minutes=40,
        after_repair_minutes=30,
    )
    found = plan(now, SHOP, [sent_back, current], [Technician(4)], lounge_outlook_minutes=0)
    assert found.forecasts[2].starts_at == now
    assert found.forecasts[2].eta == at(11, 30)
    assert found.forecasts[1].starts_at == at(11)
    assert found.forecasts[1].eta == at(11, 45)
    # Not told, the engine had the car sent back go first (it came first),
    # holding up the car under the technician's hands.
    told_nothing = plan(now, SHOP, [running, current], [Technician(4)], lounge_outlook_minutes=0)
    assert told_nothing.forecasts[1].starts_at == now
    assert told_nothing.forecasts[2].starts_at == at(10, 35)


def test_idle_means_nothing_for_a_car_not_in_progress() -> None:
    log = Log(hours=1.0)
    assert not plan_order(1, log.state, at(9), calendar=SHOP, idle=True).idle


# ---------------------------------------------------------------- what the shop's jobs still needed

# Forty jobs of the shop: ten each took 0.8, 1.0, 1.2 and 1.6 times their hours.
RATIOS = job_ratios([(r * 60, 60.0) for r in (1.6, 0.8, 1.2, 1.0) * 10])


def in_progress_for(
    worked: float, hours: float = 1.0, **changes: Any
) -> tuple[OrderState, datetime]:
    """In progress since 09:00, ``worked`` minutes of the clock later."""
    log = Log(hours=hours)
    log.start(at(9))
    return replace(log.state, stage_entered_at=at(9), **changes), at(9) + timedelta(minutes=worked)


def test_job_ratios_are_sorted_and_need_enough_jobs() -> None:
    assert RATIOS == (0.8,) * 10 + (1.0,) * 10 + (1.2,) * 10 + (1.6,) * 10
    assert job_ratios([(60.0, 60.0)] * (LABOUR_HISTORY_MINIMUM - 1)) == ()
    # A job booked at no hours says nothing.
    assert job_ratios([(60.0, 0.0)] * 100) == ()


@pytest.mark.parametrize(
    ("worked", "left"),
    [
        (30, 30),  # half its hours: all forty needed more; their median job took 1.0
        (54, 18),  # 0.9: thirty needed more, their median took 1.2
        (84, 12),  # 1.4: the ten that took 1.6 needed 0.2 more
        (120, 6),  # 2.0: none needed that long: the floor
    ],
)
def test_a_car_worked_this_long_needs_what_such_jobs_still_needed(
    worked: float, left: float
) -> None:
    state, now = in_progress_for(worked)
    found = plan_order(1, state, now, calendar=SHOP, ratios=RATIOS)
    assert found.remaining_minutes == pytest.approx(left)
    # Without the shop's jobs: its hours less the work, never below the floor.
    alone = plan_order(1, state, now, calendar=SHOP)
    assert alone.remaining_minutes == pytest.approx(max(60 - worked, 6))


def test_a_reworked_car_and_a_car_not_started_keep_their_rules() -> None:
    state, now = in_progress_for(84, rework_count=1)
    found = plan_order(1, state, now, calendar=SHOP, ratios=RATIOS)
    assert found.remaining_minutes == pytest.approx(60 * REWORK_MINIMUM_SHARE)
    waiting = Log(hours=1.0).state
    assert plan_order(1, waiting, at(9), calendar=SHOP, ratios=RATIOS).remaining_minutes == 60


@settings(max_examples=150, deadline=None)
@given(
    ratios=st.lists(st.floats(0.3, 4.0), min_size=LABOUR_HISTORY_MINIMUM, max_size=80),
    worked=st.floats(1.0, 600.0),
    hours=st.floats(0.5, 8.0),
)
def test_what_is_left_is_never_below_the_floor_nor_past_the_longest_job(
    ratios: list[float], worked: float, hours: float
) -> None:
    known = job_ratios((r * 60, 60.0) for r in ratios)
    state, now = in_progress_for(worked, hours=hours)
    left = plan_order(1, state, now, calendar=SHOP, ratios=known).remaining_minutes
    total = hours * 60
    done = SHOP.working_minutes(at(9), now)
    assert left >= total * MINIMUM_REMAINING_SHARE - 1e-9
    assert left <= max(max(known) * total - done, total * MINIMUM_REMAINING_SHARE) + 1e-6
