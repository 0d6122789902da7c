"""The labour clock rules (shared/domain/labour.py), pure: no database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from shared.domain import labour
from shared.domain.labour import ClockConflict, ClockNotAllowed, Segment
from shared.domain.stages import Stage

T0 = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
WANG, LI = 1, 2


def running(order_id: int, technician_id: int, started: datetime = T0) -> Segment:
    return Segment(order_id=order_id, technician_id=technician_id, started_at=started)


def plan(before: Stage, after: Stage, actor: int | None, live: list[Segment], order: int = 10):
    return labour.plan_stage_change(
        before=before,
        after=after,
        technicians=(WANG, LI),
        actor_id=actor,
        running=live,
        order_id=order,
    )


def test_an_assigned_technician_starting_opens_only_their_own_clock() -> None:
    assert plan(Stage.DISPATCHED, Stage.IN_PROGRESS, WANG, []).open_for == (WANG,)


def test_a_second_active_clock_is_refused() -> None:
    with pytest.raises(ClockConflict) as refused:
        plan(Stage.PAUSED, Stage.IN_PROGRESS, WANG, [running(99, WANG)])
    assert refused.value.code == "clock_conflict"
    assert refused.value.status == 409
    assert refused.value.extra["running_order_id"] == 99


@pytest.mark.parametrize("actor", [None, 3], ids=["no-user", "not-on-the-order"])
@pytest.mark.parametrize("before", [Stage.DISPATCHED, Stage.PAUSED, Stage.QUALITY_CHECK])
def test_someone_else_moving_the_car_into_work_opens_no_clock(
    before: Stage, actor: int | None
) -> None:
    # A foreman's start or resume, an integration, an inspector failing a
    # check: nobody on the order chose to clock, so no clock opens, even for
    # a technician who is free.
    moved = plan(before, Stage.IN_PROGRESS, actor, [running(99, WANG)])
    assert moved.open_for == ()


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        (Stage.PAUSED, labour.END_PAUSE),
        (Stage.QUALITY_CHECK, labour.END_FINISH),
        (Stage.CANCELLED, labour.END_STOPPED),
    ],
)
def test_leaving_in_progress_closes_the_order_clocks(to: Stage, reason: str) -> None:
    moved = plan(Stage.IN_PROGRESS, to, WANG, [running(10, WANG)])
    assert moved.close_reason == reason
    assert moved.open_for == ()


@pytest.mark.parametrize("stage", [s for s in Stage if s != Stage.IN_PROGRESS])
def test_no_clock_outside_in_progress(stage: Stage) -> None:
    """Dispatched-but-not-started, paused for parts or approval, checks: no clock."""
    with pytest.raises(ClockNotAllowed):
        labour.check_can_clock(
            technician_id=WANG, stage=stage, technicians=(WANG,), running=[], order_id=10
        )


def test_no_clock_on_an_order_not_dispatched_to_the_technician() -> None:
    with pytest.raises(ClockNotAllowed):
        labour.check_can_clock(
            technician_id=3, stage=Stage.IN_PROGRESS, technicians=(WANG,), running=[], order_id=10
        )


def test_a_technician_not_on_the_order_acting_does_not_clock_themselves() -> None:
    # An inspector (technician 3) failing a check sends it back to the
    # assigned ones, who clock on when they pick it up again.
    moved = labour.plan_stage_change(
        before=Stage.QUALITY_CHECK,
        after=Stage.IN_PROGRESS,
        technicians=(WANG,),
        actor_id=3,
        running=[],
        order_id=10,
    )
    assert moved.open_for == ()


def test_reassignment_names_the_removed_technicians() -> None:
    assert labour.removed_technicians((WANG, LI), (LI, 3)) == (WANG,)
    assert labour.removed_technicians((WANG,), (WANG,)) == ()


def test_overrun_is_more_than_twice_the_standard_hours() -> None:
    assert not labour.overrun(2.0, 1.0)
    assert labour.overrun(2.01, 1.0)
    assert not labour.overrun(50.0, 0.0)  # nothing sold: nothing to compare with


def test_shift_end_is_the_last_one_in_the_shop_time_zone() -> None:
    evening = datetime(2030, 1, 7, 11, 0, tzinfo=UTC)  # 19:00 Shanghai
    morning = datetime(2030, 1, 8, 0, 30, tzinfo=UTC)  # 08:30 next day
    end = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)  # 18:00 Shanghai
    assert labour.shift_end_before(evening, "Asia/Shanghai") == end
    assert labour.shift_end_before(morning, "Asia/Shanghai") == end
    assert labour.shift_end_before(evening, "Asia/Shanghai", time(20, 0)) == end - timedelta(
        hours=22
    )
    assert labour.forgotten(running(1, WANG, T0), end)
    assert not labour.forgotten(running(1, WANG, end + timedelta(minutes=1)), end)
    assert labour.parse_shift_end("17:30") == time(17, 30)
    assert labour.parse_shift_end("nonsense") == labour.DEFAULT_SHIFT_END


def test_exceptions_list_shift_end_closures_and_overruns() -> None:
    segments = [
        Segment(10, WANG, T0, T0 + timedelta(hours=3), labour.END_FINISH),
        Segment(11, LI, T0, T0 + timedelta(hours=9), labour.END_SHIFT, True, labour.FLAG_SHIFT_END),
        Segment(12, WANG, T0 + timedelta(hours=3), T0 + timedelta(hours=4), labour.END_FINISH),
    ]
    found = labour.exceptions(segments, {10: 1.0, 11: 8.0, 12: 1.0}, T0 + timedelta(hours=10))
    kinds = [(e.kind, e.order_id) for e in found]
    assert kinds == [("shift_end", 11), ("overrun", 10)]
    assert found[1].clocked_hours == 3.0
    assert found[1].standard_hours == 1.0


def test_a_running_clock_counts_towards_overrun_up_to_now() -> None:
    live = [running(10, WANG)]
    assert labour.exceptions(live, {10: 1.0}, T0 + timedelta(hours=1)) == []
    assert [e.kind for e in labour.exceptions(live, {10: 1.0}, T0 + timedelta(hours=3))] == [
        "overrun"
    ]


def test_sold_hours_are_shared_in_proportion_to_clocked_time() -> None:
    segments = [
        Segment(10, WANG, T0, T0 + timedelta(hours=1), labour.END_FINISH),
        Segment(10, LI, T0, T0 + timedelta(hours=3), labour.END_FINISH),
        Segment(11, WANG, T0 + timedelta(hours=1), T0 + timedelta(hours=2), labour.END_FINISH),
    ]
    figures = {e.technician_id: e for e in labour.sold_vs_clocked(segments, {10: 2.0, 11: 1.5}, T0)}
    assert figures[WANG].clocked_hours == 2.0
    assert figures[WANG].sold_hours == 0.5 + 1.5
    assert figures[LI].clocked_hours == 3.0
    assert figures[LI].sold_hours == 1.5
    assert figures[LI].ratio == 0.5
