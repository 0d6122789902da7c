"""What the shop's past tells the engine: the labour factor (its cars' real
labour against their standard hours) and the lounge outlook (the lounge cars
its last days brought), and how the plan uses them: the queue behind a car
not yet started grows by the factor, the car's own ETA does not."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.domain.errors import ValidationFailed
from shared.domain.planner import (
    LABOUR_HISTORY_MINIMUM,
    MAX_LABOUR_FACTOR,
    MIN_LABOUR_FACTOR,
    OUTLOOK_HISTORY_DAYS,
    PastCar,
    PlanOrder,
    Technician,
    day_outlooks,
    labour_factor,
    plan,
    promise,
)
from shared.domain.shop_calendar import ShopCalendar, to_microseconds
from shared.domain.stages import Stage

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 30)
SHOP = ShopCalendar(zone=SHANGHAI, breaks=((time(12, 0), time(13, 0)),))


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def car(order_id: int, stage: Stage = Stage.CHECKED_IN, **fields: object) -> PlanOrder:
    fields.setdefault("created_at", at(8, 30))
    return PlanOrder(id=order_id, number=order_id, stage=stage, **fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the labour factor


def test_the_factor_is_the_shops_real_labour_over_its_standard_hours() -> None:
    done = [(72.0, 60.0)] * (LABOUR_HISTORY_MINIMUM - 1) + [(30.0, 30.0)]
    expected = (72 * (LABOUR_HISTORY_MINIMUM - 1) + 30) / (60 * (LABOUR_HISTORY_MINIMUM - 1) + 30)
    assert labour_factor(done) == pytest.approx(expected)


def test_too_few_cars_say_nothing_and_the_factor_stays_in_range() -> None:
    assert labour_factor([(120.0, 60.0)] * (LABOUR_HISTORY_MINIMUM - 1)) == 1.0
    assert labour_factor([]) == 1.0
    assert labour_factor([(600.0, 60.0)] * LABOUR_HISTORY_MINIMUM) == MAX_LABOUR_FACTOR
    assert labour_factor([(6.0, 60.0)] * LABOUR_HISTORY_MINIMUM) == MIN_LABOUR_FACTOR
    # Cars booked at no hours carry no ratio and do not count.
    assert labour_factor([(60.0, 0.0)] * 100) == 1.0


def test_the_factor_lengthens_the_queue_but_not_the_cars_own_eta() -> None:
    orders = [car(1, remaining_minutes=60), car(2, created_at=at(8, 40), remaining_minutes=60)]
    plain = plan(at(9), SHOP, orders, [Technician(1)], lounge_outlook_minutes=0)
    longer = plan(at(9), SHOP, orders, [Technician(1)], lounge_outlook_minutes=0, labour_factor=1.5)
    # Car 1 is first: its own ETA is its start plus its hours either way.
    assert longer.forecasts[1].eta == plain.forecasts[1].eta
    # Car 2 waits for car 1's expected 90 minutes, not 60.
    assert plain.forecasts[2].starts_at == at(10)
    assert longer.forecasts[2].starts_at == at(10, 30)
    assert longer.forecasts[2].eta - plain.forecasts[2].eta == timedelta(minutes=30)


def test_a_started_car_is_not_lengthened_by_the_factor() -> None:
    started = car(1, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=60)
    waiting = car(2, created_at=at(8, 40), remaining_minutes=30)
    plain = plan(at(9), SHOP, [started, waiting], [Technician(1)], lounge_outlook_minutes=0)
    longer = plan(
        at(9),
        SHOP,
        [started, waiting],
        [Technician(1)],
        lounge_outlook_minutes=0,
        labour_factor=2.0,
    )
    assert longer.forecasts[1].eta == plain.forecasts[1].eta
    assert longer.forecasts[2].starts_at == plain.forecasts[2].starts_at == at(10)


def test_a_promise_plans_the_queue_with_the_factor() -> None:
    orders = [car(1, remaining_minutes=90)]
    plain = plan(at(9), SHOP, orders, [Technician(1)], lounge_outlook_minutes=0)
    longer = plan(at(9), SHOP, orders, [Technician(1)], lounge_outlook_minutes=0, labour_factor=1.5)
    early = promise(plain, SHOP, orders, 1.0, False)
    later = promise(longer, SHOP, orders, 1.0, False)
    assert (early.starts_at, later.starts_at) == (at(10, 30), at(11, 15))
    assert later.promised_at > early.promised_at


@pytest.mark.parametrize(
    "factor", [0.0, MIN_LABOUR_FACTOR / 2, MAX_LABOUR_FACTOR + 1, float("nan")]
)
def test_a_factor_out_of_range_is_refused(factor: float) -> None:
    with pytest.raises(ValidationFailed) as refused:
        plan(at(9), SHOP, [], [Technician(1)], labour_factor=factor)
    assert refused.value.field == "labour_factor"


# ---------------------------------------------------------------- the days today may be


def test_each_of_the_last_open_days_is_a_day_today_may_be() -> None:
    past = [
        PastCar(at(9, 15, MONDAY - timedelta(days=1)), 60.0),
        PastCar(at(10, 0, MONDAY - timedelta(days=2)), 30.0, "vip"),
        PastCar(at(9, 40, MONDAY - timedelta(days=2)), 240.0, waiting=False),
        PastCar(at(19, 0, MONDAY - timedelta(days=1)), 60.0),  # after closing: not expected
        PastCar(at(9, 0, MONDAY - timedelta(days=30)), 60.0),  # too long ago
    ]
    days = day_outlooks(MONDAY, SHOP, past)
    assert days is not None
    # The last five open days, oldest first; three of them had no car.
    assert len(days) == OUTLOOK_HISTORY_DAYS
    seen = [[(o.created_at, o.remaining_minutes, o.priority, o.waiting) for o in d] for d in days]
    assert seen == [
        [],
        [],
        [],
        [(at(9, 40), 240.0, "normal", False), (at(10, 0), 30.0, "vip", True)],
        [(at(9, 15), 60.0, "normal", True)],
    ]
    assert all(o.stage == Stage.CHECKED_IN and o.id < 0 for d in days for o in d)


def test_a_shop_without_history_keeps_the_last_hour_rule() -> None:
    assert day_outlooks(MONDAY, SHOP, []) is None
    assert day_outlooks(MONDAY, SHOP, [PastCar(at(9, 0), 60.0)]) is None  # today is not past


def test_holidays_are_skipped_when_reading_the_last_open_days() -> None:
    # 1-7 October are public holidays in China; 8 October 2026 is a Thursday.
    thursday = date(2026, 10, 8)
    past = [PastCar(at(9, 0, date(2026, 9, 30)), 60.0)]
    days = day_outlooks(thursday, SHOP, past, days=1)
    assert days is not None and days[0][0].created_at == at(9, 0, thursday)


def expected(at_: datetime, minutes: float, *, waiting: bool = True, id_: int = -1) -> PlanOrder:
    return PlanOrder(
        id=id_,
        number=0,
        stage=Stage.CHECKED_IN,
        created_at=at_,
        waiting=waiting,
        remaining_minutes=minutes,
    )


def test_the_forecast_is_the_median_of_the_days_today_may_be() -> None:
    """Three past days brought one, two and four hours of lounge work at
    09:30: the drop-off here is planned for each and its forecast is the
    middle one, not the one of an average day."""
    drop_off = car(1, remaining_minutes=60, created_at=at(8, 45))
    busy = car(2, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=60)
    days = [
        (expected(at(9, 30), 240),),
        (expected(at(9, 30), 60),),
        (expected(at(9, 30), 120),),
    ]
    orders = [busy, drop_off]
    found = plan(at(9), SHOP, orders, [Technician(1)], outlooks=days)
    each = [plan(at(9), SHOP, orders, [Technician(1)], outlook=d).forecasts[1] for d in days]
    assert [f.starts_at for f in each] == [at(15), at(11), at(13)]
    assert found.forecasts[1] == each[2]
    assert found.outlooks == tuple(tuple(d) for d in days)
    # Two days: the earlier of the two middles.
    two = plan(at(9), SHOP, orders, [Technician(1)], outlooks=days[:2])
    assert two.forecasts[1] == each[1]
    # No day at all: nothing is expected.
    none = plan(at(9), SHOP, orders, [Technician(1)], outlooks=[])
    assert none.forecasts[1].starts_at == at(10)
    with pytest.raises(ValueError, match="not both"):
        plan(at(9), SHOP, orders, [Technician(1)], outlook=days[0], outlooks=days)


def test_an_expected_drop_off_promised_earlier_goes_ahead() -> None:
    """A drop-off here with four hours of work is promised late; a half-hour
    drop-off expected at 09:10 will be promised earlier (the desk puts its
    work behind the same queue), so the foreman takes it first. One expected
    with four hours of work too is promised later and waits its turn."""
    long_job = car(1, remaining_minutes=240, created_at=at(8, 50), promised_at=at(14, 0))
    busy = car(2, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=30)
    short = (expected(at(9, 10), 30, waiting=False),)
    long_too = (expected(at(9, 10), 240, waiting=False),)
    alone = plan(at(9), SHOP, [busy, long_job], [Technician(1)], outlooks=[()])
    assert alone.forecasts[1].starts_at == at(9, 30)
    jumped = plan(at(9), SHOP, [busy, long_job], [Technician(1)], outlooks=[short])
    assert jumped.forecasts[1].starts_at == at(10)
    behind = plan(at(9), SHOP, [busy, long_job], [Technician(1)], outlooks=[long_too])
    assert behind.forecasts[1].starts_at == at(9, 30)


def test_a_new_drop_off_ranks_by_the_promise_the_desk_gives_it() -> None:
    """With drop-offs expected, a new short job ranks ahead of a long one
    promised later (the foreman will take it first), and the expected
    drop-offs the desk will promise later do not go ahead of it."""
    long_job = car(1, remaining_minutes=240, created_at=at(8, 50), promised_at=at(14, 0))
    busy = car(2, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=30)
    later = (expected(at(9, 5), 120, waiting=False),)
    base = plan(at(9), SHOP, [busy, long_job], [Technician(1)], outlooks=[later])
    offered = promise(base, SHOP, [busy, long_job], 0.5, False)
    assert offered.starts_at == at(9, 30)
    # Without drop-offs expected, a new car goes behind every promised one
    # (09:30 and four hours of work, lunch between).
    plain = plan(at(9), SHOP, [busy, long_job], [Technician(1)], outlooks=[()])
    assert promise(plain, SHOP, [busy, long_job], 0.5, False).starts_at == at(14, 30)


def test_an_expected_lounge_car_from_history_goes_ahead_of_a_drop_off() -> None:
    drop_off = car(1, remaining_minutes=60, created_at=at(8, 45))
    outlook = (
        PlanOrder(
            id=-1,
            number=0,
            stage=Stage.CHECKED_IN,
            created_at=at(9, 30),
            waiting=True,
            remaining_minutes=120,
        ),
    )
    busy = car(2, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=60)
    without = plan(at(9), SHOP, [busy, drop_off], [Technician(1)], lounge_outlook_minutes=0)
    with_history = plan(at(9), SHOP, [busy, drop_off], [Technician(1)], outlook=outlook)
    assert without.forecasts[1].starts_at == at(10)
    # The lounge car expected at 09:30 is here when the technician is free at 10:00.
    assert with_history.forecasts[1].starts_at == at(13)
    # An expected car already past is not planned again.
    later = plan(at(11), SHOP, [drop_off], [Technician(1)], outlook=outlook)
    assert later.forecasts[1].starts_at == at(11)


# ---------------------------------------------------------------- surprises come back later


def test_the_surprises_of_a_car_ahead_come_back_after_its_checks() -> None:
    """Cars take 1.2 times their hours on the job alone and 1.5 times with
    their extra work and rework: the car ahead holds the technician for 72
    minutes, and its 18 minutes of surprises come back 30 minutes (its
    checks) after its job, when he goes back to them before the next car
    that is not started yet if he is free by then."""
    first = car(1, remaining_minutes=60, created_at=at(8, 40))
    second = car(2, remaining_minutes=60, created_at=at(8, 50))
    third = car(3, remaining_minutes=60, created_at=at(8, 55))
    found = plan(
        at(9),
        SHOP,
        [first, second, third],
        [Technician(1)],
        lounge_outlook_minutes=0,
        labour_factor=1.5,
        job_factor=1.2,
    )
    starts = {i: f.starts_at for i, f in found.forecasts.items()}
    # 09:00–10:12 the first job; the second starts at once (its surprises
    # are not back until 10:42); 10:12–11:24 the second job, then the
    # first car's surprises (back at 10:42) before the third car.
    assert starts == {1: at(9), 2: at(10, 12), 3: at(11, 42)}
    # Each car's own ETA stays its start plus its hours.
    assert found.forecasts[1].eta == at(10)
    held = plan(
        at(9),
        SHOP,
        [first, second, third],
        [Technician(1)],
        lounge_outlook_minutes=0,
        labour_factor=1.5,
    )
    # Without a job factor the whole factor holds the technician at once.
    assert {i: f.starts_at for i, f in held.forecasts.items()} == {
        1: at(9),
        2: at(10, 30),
        3: at(13, 0),
    }


@pytest.mark.parametrize("factor", [0.0, MAX_LABOUR_FACTOR + 1, float("inf")])
def test_a_job_factor_out_of_range_is_refused(factor: float) -> None:
    with pytest.raises(ValidationFailed) as refused:
        plan(at(9), SHOP, [], [Technician(1)], job_factor=factor)
    assert refused.value.field == "job_factor"


def test_the_days_before_the_shop_came_to_the_system_are_not_days_it_had() -> None:
    """A shop whose first car came two days ago has two days to go by, not
    three empty ones besides; an open day with no car after its first is one."""
    past = [
        PastCar(at(9, 0, MONDAY - timedelta(days=3)), 60.0),
        PastCar(at(10, 0, MONDAY - timedelta(days=1)), 30.0),
    ]
    days = day_outlooks(MONDAY, SHOP, past)
    assert days is not None
    assert [[o.created_at for o in d] for d in days] == [[at(9, 0)], [], [at(10, 0)]]


def test_a_day_read_once_plans_as_the_same_cars_given_plainly() -> None:
    """``day_outlooks`` keeps each day's arrivals in microseconds for the many
    plans made with it; the plan is the one the same cars give as they are."""
    past = [
        PastCar(at(10, 0, MONDAY - timedelta(days=1)), 120.0, waiting=False),
        PastCar(at(9, 15, MONDAY - timedelta(days=1)), 60.0),
        PastCar(at(9, 40, MONDAY - timedelta(days=1)), 30.0, "vip"),
    ]
    days = day_outlooks(MONDAY, SHOP, past)
    assert days is not None
    [day] = days
    assert [o.created_at for o in day] == [at(9, 15), at(9, 40), at(10, 0)]
    assert day.arrivals == tuple(to_microseconds(o.created_at) for o in day)
    orders = [
        car(1, remaining_minutes=90, created_at=at(8, 45), promised_at=at(12)),
        car(2, Stage.IN_PROGRESS, technicians=(1,), remaining_minutes=20),
    ]
    technicians = [Technician(1), Technician(2)]
    kept = plan(at(9, 20), SHOP, orders, technicians, outlooks=[day])
    plain = plan(at(9, 20), SHOP, orders, technicians, outlooks=[tuple(day)])
    assert kept.forecasts == plain.forecasts
    assert kept.free_at == plain.free_at
