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
    labour_factor,
    lounge_outlook,
    plan,
    promise,
)
from shared.domain.shop_calendar import ShopCalendar
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


# ---------------------------------------------------------------- the lounge outlook


def test_the_outlook_is_the_last_open_days_lounge_cars_at_their_wall_time() -> None:
    past = [
        PastCar(at(9, 15, MONDAY - timedelta(days=1)), 60.0),
        PastCar(at(10, 0, MONDAY - timedelta(days=2)), 30.0, "vip"),
        PastCar(at(19, 0, MONDAY - timedelta(days=1)), 60.0),  # after closing: not expected
        PastCar(at(9, 0, MONDAY - timedelta(days=30)), 60.0),  # too long ago
    ]
    outlook = lounge_outlook(MONDAY, SHOP, past)
    assert outlook is not None
    share = 1 / OUTLOOK_HISTORY_DAYS
    assert [(o.created_at, o.remaining_minutes, o.priority) for o in outlook] == [
        (at(9, 15), pytest.approx(60 * share), "normal"),
        (at(10, 0), pytest.approx(30 * share), "vip"),
    ]
    assert all(o.waiting and o.stage == Stage.CHECKED_IN and o.id < 0 for o in outlook)


def test_a_shop_without_lounge_history_keeps_the_last_hour_rule() -> None:
    assert lounge_outlook(MONDAY, SHOP, []) is None
    assert lounge_outlook(MONDAY, SHOP, [PastCar(at(9, 0), 60.0)]) is None  # today is not past


def test_holidays_are_skipped_when_reading_the_last_open_days() -> None:
    # 1-7 October are public holidays in China; 8 October 2026 is a Thursday.
    thursday = date(2026, 10, 8)
    past = [PastCar(at(9, 0, date(2026, 9, 30)), 60.0)]
    outlook = lounge_outlook(thursday, SHOP, past, days=1)
    assert outlook is not None and outlook[0].created_at == at(9, 0, thursday)


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
