"""The shop calendar: opening hours, breaks, China's public holidays and make-up
working days (调休), the shop's own days, and working-minute arithmetic."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import ValidationFailed
from shared.domain.shop_calendar import (
    DEFAULT_HOURS,
    NoWorkingTime,
    ShopCalendar,
    to_microseconds,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS_ONLY = ((time(8, 30), time(18, 0)),) * 5 + (None, None)
LUNCH = ((time(12, 0), time(13, 0)),)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def shop(**changes: Any) -> ShopCalendar:
    return ShopCalendar(zone=SHANGHAI, **changes)


# ---------------------------------------------------------------- public holidays


def test_a_make_up_saturday_is_a_working_day_for_a_shop_closed_on_saturdays() -> None:
    calendar = shop(week=WEEKDAYS_ONLY)
    make_up = date(2026, 10, 10)
    assert make_up.weekday() == 5 and chinese_calendar.is_workday(make_up)
    assert calendar.is_open_day(make_up)
    assert calendar.intervals(make_up) == [(at(make_up, 8, 30), at(make_up, 18, 0))]
    # An ordinary Saturday stays closed: the package, not the weekday, opened it.
    assert not calendar.is_open_day(date(2026, 10, 17))
    # Without public holidays the shop keeps its own week.
    assert not shop(week=WEEKDAYS_ONLY, public_holidays=False).is_open_day(make_up)


def test_a_make_up_day_has_the_hours_of_the_first_open_weekday() -> None:
    week = (None, (time(9, 0), time(17, 0)), *((time(8, 0), time(18, 0)),) * 3, None, None)
    make_up = date(2026, 10, 10)
    assert shop(week=week).intervals(make_up) == [(at(make_up, 9), at(make_up, 17))]


def test_national_day_is_closed_even_for_a_shop_open_every_day() -> None:
    calendar = shop()
    assert not calendar.is_open_day(date(2026, 10, 1))
    assert calendar.intervals(date(2026, 10, 1)) == []
    assert calendar.is_open_day(date(2026, 9, 30))
    assert calendar.is_open_day(date(2026, 10, 8))
    # A shop that works through public holidays is open.
    assert shop(public_holidays=False).is_open_day(date(2026, 10, 1))


def test_work_before_national_day_continues_after_it() -> None:
    calendar = shop()
    assert calendar.add_working(at(date(2026, 9, 30), 17, 30), 60) == at(date(2026, 10, 8), 9)
    assert calendar.next_open(at(date(2026, 10, 3), 10)) == at(date(2026, 10, 8), 8, 30)


def test_years_without_holiday_data_fall_back_to_the_week_and_the_shops_days() -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.get_holiday_detail(date(2027, 10, 1))
    calendar = shop(holidays=frozenset({date(2027, 1, 2)}))
    assert calendar.is_open_day(date(2027, 10, 1))
    assert not calendar.is_open_day(date(2027, 1, 2))
    # Work runs from the last year with data into the first without it.
    assert calendar.add_working(at(date(2026, 12, 31), 17, 30), 60) == at(date(2027, 1, 1), 9)
    assert calendar.add_working(at(date(2027, 1, 1), 17, 30), 60) == at(date(2027, 1, 3), 9)
    assert shop(week=WEEKDAYS_ONLY).working_minutes(
        at(date(2027, 3, 5), 8), at(date(2027, 3, 9), 8)
    ) == pytest.approx(2 * 570)


# ---------------------------------------------------------------- the shop's own days


def test_a_shop_holiday_closes_and_a_shop_workday_opens() -> None:
    monday = date(2026, 11, 30)
    assert not shop(holidays=frozenset({monday})).is_open_day(monday)
    national_day = date(2026, 10, 1)
    assert shop(workdays=frozenset({national_day})).is_open_day(national_day)
    sunday = date(2026, 11, 29)
    opened = shop(week=WEEKDAYS_ONLY, workdays=frozenset({sunday}))
    assert opened.intervals(sunday) == [(at(sunday, 8, 30), at(sunday, 18))]


def test_a_shop_workday_wins_over_its_own_holiday() -> None:
    day = date(2026, 11, 30)
    both = shop(holidays=frozenset({day}), workdays=frozenset({day}))
    assert both.is_open_day(day)


# ---------------------------------------------------------------- working arithmetic


def test_lunch_is_skipped() -> None:
    calendar = shop(breaks=LUNCH)
    day = date(2026, 11, 30)
    assert calendar.intervals(day) == [
        (at(day, 8, 30), at(day, 12)),
        (at(day, 13), at(day, 18)),
    ]
    assert calendar.add_working(at(day, 11, 30), 60) == at(day, 13, 30)
    assert calendar.working_minutes(at(day, 11), at(day, 14)) == pytest.approx(120)
    assert calendar.next_open(at(day, 12, 20)) == at(day, 13)
    # Work that fills the morning ends at noon, not after lunch.
    assert calendar.add_working(at(day, 11), 60) == at(day, 12)


def test_work_past_closing_and_midnight_lands_on_the_next_open_day() -> None:
    calendar = shop(week=WEEKDAYS_ONLY)
    friday = date(2026, 11, 27)
    monday = date(2026, 11, 30)
    assert calendar.add_working(at(friday, 17, 30), 60) == at(monday, 9)
    assert calendar.add_working(at(friday, 23, 50), 30) == at(monday, 9)
    assert calendar.next_open(at(friday, 23, 59)) == at(monday, 8, 30)
    # Ending exactly at closing stays on the day.
    assert calendar.add_working(at(friday, 17), 60) == at(friday, 18)


def test_next_open_is_the_moment_itself_inside_working_time() -> None:
    calendar = shop()
    moment = at(date(2026, 11, 30), 10, 17) + timedelta(seconds=3)
    assert calendar.next_open(moment) == moment
    # A stretch is half-open: its end is closed time, its start is not.
    assert calendar.next_open(at(date(2026, 11, 30), 18)) == at(date(2026, 12, 1), 8, 30)
    assert calendar.next_open(at(date(2026, 11, 30), 8, 30)) == at(date(2026, 11, 30), 8, 30)


def test_no_work_ends_at_the_next_open_moment() -> None:
    calendar = shop()
    evening = at(date(2026, 11, 30), 20)
    assert calendar.add_working(evening, 0) == at(date(2026, 12, 1), 8, 30)
    assert calendar.add_working(evening, -5) == at(date(2026, 12, 1), 8, 30)


def test_answers_are_on_the_shops_clock() -> None:
    utc_moment = datetime(2026, 11, 30, 2, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Shanghai
    answer = shop().add_working(utc_moment, 30)
    assert answer.tzinfo is SHANGHAI
    assert (answer.hour, answer.minute) == (10, 30)
    # West of UTC a shop's evening is the next day in UTC: still the same shop day.
    los_angeles = ZoneInfo("America/Los_Angeles")
    evening = datetime(2026, 11, 30, 17, 0, tzinfo=los_angeles)
    west = ShopCalendar(zone=los_angeles)
    assert west.next_open(evening) == evening
    assert west.add_working(evening, 30) == evening + timedelta(minutes=30)
    assert west.working_minutes(evening - timedelta(hours=1), evening) == pytest.approx(60)


def test_daylight_saving_changes_are_counted_in_real_minutes() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    calendar = ShopCalendar(zone=berlin)
    spring = date(2026, 3, 29)  # 02:00 → 03:00
    [(opens, closes)] = calendar.intervals(spring)
    assert (opens.hour, opens.minute, closes.hour) == (8, 30, 18)
    assert closes - opens == timedelta(hours=9, minutes=30)
    evening = datetime(2026, 3, 28, 17, 0, tzinfo=berlin)
    morning = datetime(2026, 3, 29, 9, 30, tzinfo=berlin)
    assert calendar.working_minutes(evening, morning) == pytest.approx(120)
    assert calendar.add_working(evening, 120) == morning


def test_a_calendar_without_any_open_day_says_so() -> None:
    closed = shop(week=(None,) * 7, public_holidays=False)
    with pytest.raises(NoWorkingTime):
        closed.next_open(at(date(2026, 11, 30), 9))
    with pytest.raises(NoWorkingTime):
        closed.add_working(at(date(2026, 11, 30), 9), 10)


def test_a_technicians_shift_is_cut_to_the_opening_hours() -> None:
    calendar = shop(breaks=LUNCH)
    day = date(2026, 11, 30)
    early = calendar.working_time((time(7, 0), time(12, 30)))
    spans = early.spans(day.toordinal())
    assert spans == ((to_microseconds(at(day, 8, 30)), to_microseconds(at(day, 12))),)


def test_calendars_are_values() -> None:
    one = ShopCalendar.from_settings(
        "Asia/Shanghai", {"breaks": [{"start": "12:00", "end": "13:00"}]}
    )
    one.add_working(at(date(2026, 11, 30), 9), 30)  # fills its cache
    two = ShopCalendar.from_settings(
        "Asia/Shanghai", {"breaks": [{"start": "12:00", "end": "13:00"}]}
    )
    assert one == two and hash(one) == hash(two)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2025, 12, 20),
        max_value=datetime(2027, 1, 10),
        timezones=st.just(SHANGHAI),
    ),
    minutes=st.floats(min_value=0.5, max_value=3000, allow_nan=False),
    weekdays_only=st.booleans(),
)
def test_added_minutes_are_working_minutes_and_never_end_in_closed_time(
    start: datetime, minutes: float, weekdays_only: bool
) -> None:
    calendar = shop(breaks=LUNCH, week=WEEKDAYS_ONLY if weekdays_only else shop().week)
    end = calendar.add_working(start, minutes)
    assert end > start
    assert calendar.working_minutes(start, end) == pytest.approx(minutes, abs=1e-4)
    assert any(opens < end <= closes for opens, closes in calendar.intervals(end.date())), (
        f"{end} ends in closed time"
    )


# ---------------------------------------------------------------- settings


def test_settings_shape_of_today_gives_every_day_those_hours() -> None:
    calendar = ShopCalendar.from_settings(
        "Asia/Shanghai", {"opening_hours": {"open": "09:00", "close": "17:30"}, "other": 1}
    )
    assert calendar.week == ((time(9), time(17, 30)),) * 7
    assert calendar.public_holidays
    assert ShopCalendar.from_settings("Asia/Shanghai", {}).week == (DEFAULT_HOURS,) * 7


def test_settings_across_midnight_are_planned_until_a_minute_before_midnight() -> None:
    calendar = ShopCalendar.from_settings(
        "Asia/Shanghai", {"opening_hours": {"open": "20:00", "close": "02:00"}}
    )
    day = date(2026, 11, 30)
    assert calendar.intervals(day) == [(at(day, 20), at(day, 23, 59))]
    # The same rule for hours given directly, and for a technician's shift.
    direct = shop(week=((time(20), time(2)),) * 7)
    assert direct.intervals(day) == [(at(day, 20), at(day, 23, 59))]
    late_shift = shop().working_time((time(17), time(1)))
    assert late_shift.spans(day.toordinal()) == (
        (to_microseconds(at(day, 17)), to_microseconds(at(day, 18))),
    )


def test_settings_with_every_new_key() -> None:
    calendar = ShopCalendar.from_settings(
        "Asia/Shanghai",
        {
            "week": [{"open": "08:00", "close": "18:00"}] * 6 + [None],
            "breaks": [{"start": "12:00", "end": "13:00"}],
            "public_holidays": False,
            "holidays": ["2026-12-24"],
            "workdays": ["2026-12-27"],
        },
    )
    assert calendar.week[6] is None and calendar.week[0] == (time(8), time(18))
    assert calendar.breaks == LUNCH
    assert not calendar.public_holidays
    assert calendar.holidays == frozenset({date(2026, 12, 24)})
    assert calendar.is_open_day(date(2026, 12, 27))  # a Sunday opened by the shop
    assert calendar.is_open_day(date(2026, 10, 1))  # public holidays ignored


@pytest.mark.parametrize(
    ("timezone", "settings_", "field"),
    [
        ("Mars/Olympus", {}, "timezone"),
        ("", {}, "timezone"),
        ("Asia/Shanghai", {"opening_hours": {"open": "8:30", "close": "18:00"}}, "opening_hours"),
        ("Asia/Shanghai", {"opening_hours": {"open": "08:30"}}, "opening_hours"),
        ("Asia/Shanghai", {"opening_hours": {"open": "09:00", "close": "09:00"}}, "opening_hours"),
        ("Asia/Shanghai", {"opening_hours": "08:30-18:00"}, "opening_hours"),
        ("Asia/Shanghai", {"week": [None] * 6}, "week"),
        ("Asia/Shanghai", {"week": [None] * 7}, "week"),
        ("Asia/Shanghai", {"week": [{"open": "25:00", "close": "18:00"}] * 7}, "week"),
        ("Asia/Shanghai", {"breaks": [{"start": "13:00", "end": "12:00"}]}, "breaks"),
        ("Asia/Shanghai", {"breaks": {"start": "12:00", "end": "13:00"}}, "breaks"),
        ("Asia/Shanghai", {"public_holidays": "yes"}, "public_holidays"),
        ("Asia/Shanghai", {"holidays": ["2026-13-01"]}, "holidays"),
        ("Asia/Shanghai", {"holidays": ["01/10/2026"]}, "holidays"),
        ("Asia/Shanghai", {"workdays": "2026-10-10"}, "workdays"),
        ("Asia/Shanghai", {"workdays": [20261010]}, "workdays"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(
    timezone: str, settings_: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        ShopCalendar.from_settings(timezone, settings_)
    assert refused.value.field == field
    assert refused.value.detail
