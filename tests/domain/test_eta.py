"""Time rules: the running ETA and the promised time suggested at reception."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import DomainError
from shared.domain.eta import (
    MINUTES_PER_CHECK,
    RECEPTION_BUFFER_MINUTES,
    WASH_MINUTES,
    estimate_eta,
    suggest_promised_at,
)
from shared.domain.events import WorkItem
from shared.domain.order import (
    Actor,
    OrderState,
    Quote,
    apply_events,
    assign,
    create,
    pass_check,
    transition,
)
from shared.domain.stages import CHECK_CHAIN, CheckLevel, PauseReason, Role, Stage

SHANGHAI = timezone(timedelta(hours=8))
T0 = datetime(2025, 3, 3, 8, 0, tzinfo=SHANGHAI)
SYSTEM = Actor("simulator", frozenset({Role.SYSTEM}))
CHECKS = timedelta(minutes=MINUTES_PER_CHECK * len(CHECK_CHAIN))
WASH = timedelta(minutes=WASH_MINUTES)
IN_REPAIR = (
    Stage.CHECKED_IN,
    Stage.DISPATCHED,
    Stage.IN_PROGRESS,
    Stage.PAUSED,
    Stage.QUALITY_CHECK,
    Stage.WASHING,
)


def base_state(*, hours: float = 2.0, wash: bool = False, booked: bool = False) -> OrderState:
    events = create(
        number=1,
        plate="粤B·1",
        now=T0,
        actor=SYSTEM,
        booked=booked,
        wash=wash,
        items=[WorkItem("job", hours)] if hours else [],
    )
    return apply_events(None, events)


def drive(state: OrderState, minutes: int, command: str) -> OrderState:
    """Run one command ``minutes`` after the state's last change."""
    now = state.updated_at + timedelta(minutes=minutes)
    if command == "assign":
        events = assign(state, bay="B1", technicians=[1], actor=SYSTEM, now=now)
    elif command == "check":
        events = pass_check(state, actor=SYSTEM, now=now)
    elif command == "pause":
        events = transition(
            state, Stage.PAUSED, actor=SYSTEM, now=now, pause_reason=PauseReason.PARTS
        )
    else:
        events = transition(state, Stage(command), actor=SYSTEM, now=now)
    return apply_events(state, events)


# ---------------------------------------------------------------- estimate_eta, by stage


def test_booked_and_cancelled_have_no_eta() -> None:
    booked = base_state(booked=True)
    assert booked.eta is None
    assert estimate_eta(booked, T0 + timedelta(days=2)) is None
    cancelled = apply_events(
        booked, transition(booked, Stage.CANCELLED, actor=SYSTEM, now=T0, reason="no show")
    )
    assert estimate_eta(cancelled, T0 + timedelta(hours=1)) is None


@pytest.mark.parametrize("wash", [False, True])
def test_ready_and_delivered_answer_ready_at(wash: bool) -> None:
    state = drive(base_state(wash=wash), 5, "assign")
    state = drive(state, 5, "in_progress")
    state = drive(state, 90, "quality_check")
    for _ in CHECK_CHAIN:
        state = drive(state, 10, "check")
    if wash:
        assert state.stage == Stage.WASHING
        state = drive(state, 25, "ready")
    assert state.stage == Stage.READY
    ready_at = state.updated_at
    assert state.ready_at == ready_at
    assert state.eta == ready_at
    # however late we ask, the car has been ready since ready_at
    assert estimate_eta(state, ready_at + timedelta(hours=5)) == ready_at
    delivered = drive(state, 60, "delivered")
    assert delivered.eta == ready_at
    assert estimate_eta(delivered, ready_at + timedelta(days=3)) == ready_at


def test_checked_in_and_dispatched_eta_is_hours_plus_checks() -> None:
    state = base_state(hours=2.5)
    assert state.eta == T0 + timedelta(hours=2.5) + CHECKS
    later = T0 + timedelta(minutes=45)
    assert estimate_eta(state, later) == later + timedelta(hours=2.5) + CHECKS
    dispatched = drive(state, 10, "assign")
    assert dispatched.stage == Stage.DISPATCHED
    assert dispatched.eta == dispatched.updated_at + timedelta(hours=2.5) + CHECKS


def test_in_progress_counts_down_and_pause_freezes_the_work() -> None:
    state = drive(drive(base_state(hours=2.0), 0, "assign"), 0, "in_progress")
    started = state.updated_at
    assert state.eta == started + timedelta(hours=2) + CHECKS
    # while the work runs, the ETA stays put
    assert estimate_eta(state, started + timedelta(minutes=30)) == state.eta
    paused = drive(state, 30, "pause")
    assert paused.worked_minutes == 30
    assert paused.eta == paused.updated_at + timedelta(minutes=90) + CHECKS
    # while paused, the remaining work moves with the clock
    later = paused.updated_at + timedelta(hours=1)
    assert estimate_eta(paused, later) == later + timedelta(minutes=90) + CHECKS


def test_quality_check_eta_shrinks_with_each_check() -> None:
    state = drive(drive(drive(base_state(), 0, "assign"), 0, "in_progress"), 60, "quality_check")
    etas = []
    for level in CHECK_CHAIN:
        assert state.check_level == level
        left = len(CHECK_CHAIN) - CHECK_CHAIN.index(level)
        assert state.eta == state.updated_at + timedelta(minutes=MINUTES_PER_CHECK * left)
        etas.append(state.eta - state.updated_at)
        state = drive(state, 0, "check")
    assert etas == sorted(etas, reverse=True)


def test_washing_eta_is_entry_plus_wash_but_never_past() -> None:
    state = drive(drive(base_state(wash=True), 0, "assign"), 0, "in_progress")
    state = drive(state, 60, "quality_check")
    for _ in CHECK_CHAIN:
        state = drive(state, 5, "check")
    assert state.stage == Stage.WASHING
    entered = state.stage_entered_at
    assert entered is not None
    assert state.eta == entered + WASH
    assert estimate_eta(state, entered + timedelta(minutes=5)) == entered + WASH
    late = entered + timedelta(minutes=50)
    assert estimate_eta(state, late) == late


@pytest.mark.parametrize(
    "stage",
    [Stage.CHECKED_IN, Stage.DISPATCHED, Stage.IN_PROGRESS, Stage.PAUSED, Stage.QUALITY_CHECK],
    ids=str,
)
def test_wash_adds_wash_time(stage: Stage) -> None:
    dry = replace(
        base_state(hours=3),
        stage=stage,
        stage_entered_at=T0,
        check_level=CheckLevel.QC if stage == Stage.QUALITY_CHECK else None,
    )
    wet = replace(dry, wash=True)
    now = T0 + timedelta(minutes=20)
    dry_eta, wet_eta = estimate_eta(dry, now), estimate_eta(wet, now)
    assert dry_eta is not None and wet_eta is not None
    assert wet_eta - dry_eta == WASH


def test_wash_through_the_rules_adds_wash_time() -> None:
    dry, wet = base_state(wash=False), base_state(wash=True)
    assert dry.eta is not None and wet.eta is not None
    assert wet.eta - dry.eta == WASH


def test_approved_extra_work_moves_the_eta() -> None:
    state = base_state(hours=1)
    now = T0 + timedelta(minutes=10)
    base_eta = estimate_eta(state, now)
    pending = replace(state, quotes=(Quote(1, "pads", 2.0, 100),))
    approved = replace(state, quotes=(Quote(1, "pads", 2.0, 100, status="approved"),))
    declined = replace(state, quotes=(Quote(1, "pads", 2.0, 100, status="declined"),))
    assert estimate_eta(pending, now) == base_eta
    assert estimate_eta(declined, now) == base_eta
    assert base_eta is not None
    assert estimate_eta(approved, now) == base_eta + timedelta(hours=2)


def test_overrun_work_still_shows_some_time_left() -> None:
    state = replace(
        base_state(hours=2), stage=Stage.IN_PROGRESS, stage_entered_at=T0, worked_minutes=0
    )
    way_later = T0 + timedelta(hours=10)
    eta = estimate_eta(state, way_later)
    assert eta is not None
    assert eta == way_later + timedelta(hours=2) * 0.1 + CHECKS


# ---------------------------------------------------------------- never in the past

AWARE = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2040, 1, 1),
    timezones=st.sampled_from([UTC, SHANGHAI, timezone(timedelta(hours=-5, minutes=-30))]),
)


@settings(max_examples=300, deadline=None)
@given(
    stage=st.sampled_from(IN_REPAIR),
    hours=st.lists(st.floats(min_value=0, max_value=200, allow_nan=False), max_size=4),
    approved=st.floats(min_value=0, max_value=200, allow_nan=False),
    worked=st.floats(min_value=0, max_value=100_000, allow_nan=False),
    entered_offset=st.one_of(
        st.none(), st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=60))
    ),
    level=st.one_of(st.none(), st.sampled_from(CHECK_CHAIN)),
    wash=st.booleans(),
    now=AWARE,
)
def test_eta_is_never_before_now_while_in_repair(
    stage: Stage,
    hours: list[float],
    approved: float,
    worked: float,
    entered_offset: timedelta | None,
    level: CheckLevel | None,
    wash: bool,
    now: datetime,
) -> None:
    state = replace(
        base_state(),
        stage=stage,
        items=tuple(WorkItem(f"i{n}", h) for n, h in enumerate(hours)),
        quotes=(Quote(1, "extra", approved, 0, status="approved"),),
        worked_minutes=worked,
        stage_entered_at=None if entered_offset is None else now - entered_offset,
        check_level=level if stage == Stage.QUALITY_CHECK else None,
        wash=wash or stage == Stage.WASHING,
    )
    eta = estimate_eta(state, now)
    assert eta is not None
    assert eta >= now
    assert eta.utcoffset() is not None


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=600),
            st.sampled_from(["in_progress", "pause", "quality_check", "check"]),
        ),
        max_size=12,
    ),
    hours=st.floats(min_value=0, max_value=20, allow_nan=False),
    wash=st.booleans(),
    ask_after=st.integers(min_value=0, max_value=24 * 60),
)
def test_eta_through_the_rules_is_never_before_now(
    steps: list[tuple[int, str]], hours: float, wash: bool, ask_after: int
) -> None:
    state = drive(base_state(hours=hours, wash=wash), 5, "assign")
    for minutes, command in steps:
        try:
            state = drive(state, minutes, command)
        except DomainError:  # only the commands the rules accept matter here
            continue
        if state.stage in IN_REPAIR:
            assert state.eta is not None and state.eta >= state.updated_at
            now = state.updated_at + timedelta(minutes=ask_after)
            eta = estimate_eta(state, now)
            assert eta is not None and eta >= now


# ---------------------------------------------------------------- suggest_promised_at


def test_suggest_simple_cases() -> None:
    # 1 h of work + 30 min buffer from 08:00 is exactly 09:30: no extra quarter
    assert suggest_promised_at(T0, 1.0, 0, 4) == datetime(2025, 3, 3, 9, 30, tzinfo=SHANGHAI)
    # 08:07 + 1.5 h + 0.5 h = 10:07 -> 10:15
    at = T0 + timedelta(minutes=7)
    assert suggest_promised_at(at, 1.5, 0, 4) == datetime(2025, 3, 3, 10, 15, tzinfo=SHANGHAI)
    # 8 h backlog over 4 technicians adds 2 h
    assert suggest_promised_at(T0, 1.0, 8.0, 4) == datetime(2025, 3, 3, 11, 30, tzinfo=SHANGHAI)
    # nobody on shift counts as one technician
    assert suggest_promised_at(T0, 0, 2.0, 0) == suggest_promised_at(T0, 0, 2.0, 1)
    assert suggest_promised_at(T0, 0, 2.0, 0) == datetime(2025, 3, 3, 10, 30, tzinfo=SHANGHAI)


@settings(max_examples=300, deadline=None)
@given(
    now=AWARE,
    hours=st.floats(min_value=0, max_value=200, allow_nan=False),
    backlog=st.floats(min_value=0, max_value=500, allow_nan=False),
    technicians=st.integers(min_value=0, max_value=60),
)
def test_suggest_rounds_up_to_a_quarter_hour(
    now: datetime, hours: float, backlog: float, technicians: int
) -> None:
    promised = suggest_promised_at(now, hours, backlog, technicians)
    assert promised.tzinfo == now.tzinfo
    assert (promised.minute % 15, promised.second, promised.microsecond) == (0, 0, 0)
    share = backlog / max(technicians, 1)
    unrounded = now + timedelta(hours=hours + share, minutes=RECEPTION_BUFFER_MINUTES)
    assert unrounded <= promised < unrounded + timedelta(minutes=15)


@settings(max_examples=200, deadline=None)
@given(
    now=AWARE,
    hours=st.floats(min_value=0, max_value=50, allow_nan=False),
    backlog=st.floats(min_value=0, max_value=300, allow_nan=False),
    more=st.floats(min_value=0, max_value=300, allow_nan=False),
    technicians=st.integers(min_value=1, max_value=60),
    extra_techs=st.integers(min_value=0, max_value=30),
)
def test_suggest_grows_with_backlog_and_shrinks_with_technicians(
    now: datetime, hours: float, backlog: float, more: float, technicians: int, extra_techs: int
) -> None:
    base = suggest_promised_at(now, hours, backlog, technicians)
    assert suggest_promised_at(now, hours, backlog + more, technicians) >= base
    assert suggest_promised_at(now, hours, backlog, technicians + extra_techs) <= base
    assert suggest_promised_at(now, hours + more, backlog, technicians) >= base


def test_suggest_strictly_moves_with_load() -> None:
    base = suggest_promised_at(T0, 2.0, 12.0, 4)
    assert suggest_promised_at(T0, 2.0, 16.0, 4) == base + timedelta(hours=1)
    assert suggest_promised_at(T0, 2.0, 12.0, 6) == base - timedelta(hours=1)
    assert suggest_promised_at(T0, 2.0, 12.0, 12) == base - timedelta(hours=2)
