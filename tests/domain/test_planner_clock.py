"""The planner's working-time arithmetic on the days it keeps (``_Clock``) is
the calendar's own (``WorkingTime``): the same answers for any moments and
amounts, on a shop with breaks, closed days, technicians' shifts and a time
zone whose clocks change."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.planner import _Clock
from shared.domain.shop_calendar import ShopCalendar, from_microseconds, to_microseconds

SHANGHAI = ShopCalendar(zone=ZoneInfo("Asia/Shanghai"), breaks=((time(12, 0), time(13, 0)),))
# Berlin moves its clocks on 29 March and 25 October 2026; closed on Sundays.
BERLIN = ShopCalendar(
    zone=ZoneInfo("Europe/Berlin"),
    breaks=((time(12, 30), time(13, 0)),),
    week=((time(7, 0), time(17, 0)),) * 6 + (None,),
)
SHIFTS = (None, (time(6, 0), time(14, 0)), (time(14, 0), time(23, 30)))

# Moments over a few weeks around Berlin's autumn change of the clocks.
START = datetime(2026, 10, 20, tzinfo=ZoneInfo("UTC"))
moments = st.integers(0, 14 * 24 * 60).map(lambda m: START + timedelta(minutes=m))


@settings(max_examples=300, deadline=None)
@given(
    calendar=st.sampled_from((SHANGHAI, BERLIN)),
    shift=st.sampled_from(SHIFTS),
    asked=st.lists(st.tuples(moments, st.integers(-10, 3000)), min_size=1, max_size=12),
)
def test_the_clock_answers_as_the_calendar(
    calendar: ShopCalendar,
    shift: tuple[time, time] | None,
    asked: list[tuple[datetime, int]],
) -> None:
    working = calendar.working_time(shift)
    clock = _Clock(working, calendar.zone)
    for moment, minutes in asked:  # one clock asked again and again, in any order
        at = to_microseconds(moment)
        amount = minutes * 60_000_000
        assert clock.open(at) == working.next_open(at)
        assert clock.add(at, amount) == working.add(at, amount)
        local = from_microseconds(clock.round_up(at, 15), calendar.zone)
        assert local.minute % 15 == 0 and local.second == 0
        assert timedelta(0) <= local - moment < timedelta(minutes=15)
