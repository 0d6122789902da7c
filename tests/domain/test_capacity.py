"""Appointment capacity on hand-built shops: the calendar's days (调休, public
holidays), technicians on leave and on their own shifts, bays out of service,
the walk-in share, breaks, the lead time and the booking horizon, and the
nearest alternatives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from shared.domain.capacity import (
    BayRoom,
    Booking,
    DayCapacity,
    Rules,
    Slot,
    TechnicianDay,
    alternatives,
    day_capacity,
    refusal,
)
from shared.domain.shop_calendar import ShopCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS = ((time(8, 30), time(17, 30)),) * 5 + (None, None)
LUNCH = ((time(12, 0), time(13, 0)),)
# A shop open Monday to Friday 08:30–17:30 with lunch: 8 open hours a day.
CALENDAR = ShopCalendar(zone=SHANGHAI, week=WEEKDAYS, breaks=LUNCH)
TUESDAY = date(2026, 12, 1)
BAYS = (
    BayRoom("G1", "general"),
    BayRoom("G2", "general"),
    BayRoom("A1", "alignment"),
)
# Both trained for wheel alignment (a skilled kind: tests/domain/test_capacity_skills.py).
ALIGNMENT = frozenset({"alignment"})
TWO = (TechnicianDay(1, skills=ALIGNMENT), TechnicianDay(2, skills=ALIGNMENT))
NO_SHARE = Rules(walk_in_share=0.0, cars_per_slot=2, lead_minutes=60)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def the_day_before(day: date) -> datetime:
    return at(day - timedelta(days=1), 9)


def cap(
    day: date = TUESDAY,
    *,
    calendar: ShopCalendar = CALENDAR,
    bays: Sequence[BayRoom] = BAYS,
    technicians: Sequence[TechnicianDay] = TWO,
    held: Mapping[str, float] | None = None,
    bookings: Sequence[Booking] = (),
    rules: Rules = NO_SHARE,
    now: datetime | None = None,
) -> DayCapacity:
    return day_capacity(
        day,
        calendar=calendar,
        bays=bays,
        technicians=technicians,
        held_minutes_by_kind=held or {},
        bookings=bookings,
        rules=rules,
        now=now or the_day_before(day),
    )


def starts(slots: Sequence[Slot]) -> list[str]:
    return [slot.start.strftime("%H:%M") for slot in slots]


# ---------------------------------------------------------------- the calendar's days


def test_a_make_up_saturday_is_open_with_slots_and_labour() -> None:
    make_up = date(2026, 10, 10)
    assert make_up.weekday() == 5 and chinese_calendar.is_workday(make_up)
    day = cap(make_up)
    assert day.open
    assert day.technician_hours == pytest.approx(16.0)
    assert day.labour["general"].free == pytest.approx(16.0)
    assert starts(day.slots)[0] == "08:30" and len(day.slots) == 32
    assert refusal(day, at(make_up, 9), {"general": 60}) is None
    # The Saturday after is an ordinary one: closed.
    assert not cap(date(2026, 10, 17)).open


def test_a_public_holiday_is_closed_with_no_slots_and_no_hours() -> None:
    national_day = date(2026, 10, 1)
    assert national_day.weekday() == 3
    day = cap(national_day)
    assert not day.open and day.slots == ()
    assert day.technician_hours == 0
    assert all(hours.free == 0 for hours in day.labour.values())
    assert refusal(day, at(national_day, 9), {"general": 60}) == "closed"
    assert alternatives([day], at(national_day, 9), {"general": 60}) == []


def test_the_shops_own_closed_day_is_closed() -> None:
    calendar = ShopCalendar(
        zone=SHANGHAI, week=WEEKDAYS, breaks=LUNCH, holidays=frozenset({TUESDAY})
    )
    assert refusal(cap(calendar=calendar), at(TUESDAY, 9), {}) == "closed"


# ---------------------------------------------------------------- labour


def test_labour_per_kind_is_bounded_by_its_bays_and_by_the_technicians() -> None:
    day = cap()
    # Two technicians × 8 h; two general bays × 8 h; one alignment bay × 8 h.
    assert day.technician_hours == pytest.approx(16.0)
    assert day.labour["general"].total == pytest.approx(16.0)
    assert day.labour["alignment"].total == pytest.approx(8.0)
    # One technician: every kind is bounded by his 8 hours.
    alone = cap(technicians=(TechnicianDay(1),))
    assert alone.labour["general"].total == pytest.approx(8.0)


def test_a_technician_on_leave_brings_no_hours() -> None:
    day = cap(technicians=(TechnicianDay(1), TechnicianDay(2, on_leave=True)))
    assert day.technician_hours == pytest.approx(8.0)
    assert day.labour["general"].free == pytest.approx(8.0)
    assert refusal(day, at(TUESDAY, 9), {"general": 9 * 60}) == "labour_full"
    assert refusal(cap(), at(TUESDAY, 9), {"general": 9 * 60}) is None


def test_a_technicians_own_shift_counts_only_inside_the_opening_hours() -> None:
    # 07:00–12:30 inside 08:30–17:30 with lunch 12:00–13:00: 3.5 hours.
    early = TechnicianDay(3, shift=(time(7, 0), time(12, 30)))
    assert cap(technicians=(early,)).technician_hours == pytest.approx(3.5)


def test_a_bay_out_of_service_takes_its_kinds_hours_away() -> None:
    bays = (BayRoom("G1", "general"), BayRoom("G2", "general", in_service=False), BAYS[2])
    day = cap(bays=bays)
    assert day.labour["general"].total == pytest.approx(8.0)
    assert day.labour["alignment"].total == pytest.approx(8.0)
    assert refusal(day, at(TUESDAY, 9), {"general": 9 * 60}) == "labour_full"
    # The only alignment bay out of service: no alignment can be booked.
    no_alignment = cap(bays=(*BAYS[:2], BayRoom("A1", "alignment", in_service=False)))
    assert no_alignment.labour["alignment"].free == 0
    assert refusal(no_alignment, at(TUESDAY, 9), {"alignment": 30}) == "labour_full"
    # A kind the shop has no bay of at all.
    assert refusal(day, at(TUESDAY, 9), {"paint": 30}) == "labour_full"


def test_a_bay_of_larger_capacity_counts_as_many_places() -> None:
    day = cap(bays=(BayRoom("Q", "quick", capacity=3),), technicians=(TechnicianDay(1),) * 4)
    assert day.labour["quick"].total == pytest.approx(24.0)


def test_the_technicians_hours_are_shared_by_every_kind() -> None:
    # One technician (8 h): 6 h of general booked leaves 2 h for alignment too.
    booked = (Booking(at(TUESDAY, 9), {"general": 6 * 60}),)
    day = cap(technicians=(TechnicianDay(1, skills=ALIGNMENT),), bookings=booked)
    assert day.labour["general"].free == pytest.approx(2.0)
    assert day.labour["alignment"].free == pytest.approx(2.0)
    assert refusal(day, at(TUESDAY, 10), {"alignment": 150}) == "labour_full"
    # One booking asking for two kinds at once must fit in the shared hours.
    assert refusal(day, at(TUESDAY, 10), {"alignment": 90, "general": 60}) == "labour_full"
    assert refusal(day, at(TUESDAY, 10), {"alignment": 60, "general": 60}) is None


def test_held_and_booked_work_come_off_the_free_hours() -> None:
    booked = (
        Booking(at(TUESDAY, 9), {"general": 120}),
        Booking(at(TUESDAY, 10), {"general": 60, "alignment": 30}),
        Booking(at(TUESDAY + timedelta(days=1), 9), {"general": 600}),  # another day
    )
    day = cap(held={"general": 180}, bookings=booked)
    general = day.labour["general"]
    assert general.held == pytest.approx(3.0) and general.booked == pytest.approx(3.0)
    assert general.free == pytest.approx(16.0 - 3.0 - 3.0 - 0.5)
    assert day.labour["alignment"].free == pytest.approx(7.5)
    # Exactly what is left fits; a minute more does not.
    assert refusal(day, at(TUESDAY, 11), {"general": 9.5 * 60}) is None
    assert refusal(day, at(TUESDAY, 11), {"general": 9.5 * 60 + 1}) == "labour_full"


def test_the_walk_in_share_is_held_back_of_labour_and_of_slots() -> None:
    rules = Rules(walk_in_share=0.25, cars_per_slot=4, lead_minutes=0)
    day = cap(rules=rules)
    assert day.labour["general"].free == pytest.approx(16.0 * 0.75)
    assert day.labour["alignment"].free == pytest.approx(8.0 * 0.75)
    assert {slot.capacity for slot in day.slots} == {3}
    # Floor of the net share, but at least one car when the advisors can receive any.
    assert cap(rules=Rules(walk_in_share=0.3, cars_per_slot=2)).slots[0].capacity == 1
    assert cap(rules=Rules(walk_in_share=0.9, cars_per_slot=10)).slots[0].capacity == 1
    assert cap(rules=Rules(walk_in_share=0.3, cars_per_slot=0)).slots[0].capacity == 0


def test_held_work_over_the_bookable_share_leaves_nothing_not_less_than_nothing() -> None:
    day = cap(held={"general": 20 * 60})
    assert day.labour["general"].free == 0
    assert day.labour["alignment"].free == 0


def test_negative_minutes_are_a_callers_bug() -> None:
    with pytest.raises(ValueError):
        refusal(cap(), at(TUESDAY, 9), {"general": -30})
    with pytest.raises(ValueError):
        cap(held={"general": float("nan")})


# ---------------------------------------------------------------- reception slots


def test_slots_run_over_the_opening_hours_and_never_in_the_break() -> None:
    day = cap()
    assert starts(day.slots)[:3] == ["08:30", "08:45", "09:00"]
    assert "11:45" in starts(day.slots) and "13:00" in starts(day.slots)
    assert not any("12:00" <= start < "13:00" for start in starts(day.slots))
    assert starts(day.slots)[-1] == "17:15"
    assert all(slot.end - slot.start == timedelta(minutes=15) for slot in day.slots)
    assert refusal(day, at(TUESDAY, 12, 15), {"general": 30}) == "not_a_slot"
    assert refusal(day, at(TUESDAY, 9, 5), {"general": 30}) == "not_a_slot"


def test_slots_keep_to_the_clock_when_the_shop_opens_off_the_grid() -> None:
    calendar = ShopCalendar(zone=SHANGHAI, week=((time(8, 40), time(10, 10)),) * 7)
    day = cap(calendar=calendar)
    assert starts(day.slots) == ["08:40", "08:45", "09:00", "09:15", "09:30", "09:45", "10:00"]
    assert day.slots[0].end == at(TUESDAY, 8, 45) and day.slots[-1].end == at(TUESDAY, 10, 10)


def test_a_full_slot_refuses_and_the_next_one_takes_the_car() -> None:
    booked = tuple(Booking(at(TUESDAY, 9), {"general": 30}) for _ in range(2))
    day = cap(bookings=booked)
    nine = next(slot for slot in day.slots if slot.start == at(TUESDAY, 9))
    assert (nine.capacity, nine.booked, nine.free) == (2, 2, 0)
    assert refusal(day, at(TUESDAY, 9), {"general": 30}) == "reception_full"
    assert refusal(day, at(TUESDAY, 9, 15), {"general": 30}) is None


def test_slots_sooner_than_the_lead_time_are_not_offered() -> None:
    day = cap(now=at(TUESDAY, 9, 50), rules=Rules(walk_in_share=0, lead_minutes=60))
    withheld = [slot for slot in day.slots if slot.withheld]
    assert starts(withheld)[-1] == "10:45" and all(slot.free == 0 for slot in withheld)
    assert {slot.withheld for slot in withheld} == {"too_soon"}
    assert refusal(day, at(TUESDAY, 10, 45), {"general": 30}) == "too_soon"
    assert refusal(day, at(TUESDAY, 8, 30), {"general": 30}) == "too_soon"
    assert refusal(day, at(TUESDAY, 11), {"general": 30}) is None


def test_days_beyond_the_booking_horizon_are_not_offered() -> None:
    rules = Rules(days_ahead=14)
    now = at(TUESDAY, 9)
    last = cap(TUESDAY + timedelta(days=14), rules=rules, now=now)
    beyond = cap(TUESDAY + timedelta(days=15), rules=rules, now=now)
    assert all(slot.withheld is None for slot in last.slots)
    assert beyond.open and all(slot.free == 0 for slot in beyond.slots)
    assert refusal(beyond, beyond.slots[0].start, {"general": 30}) == "too_far"


def test_the_last_place_goes_to_exactly_one_of_twenty_bookings() -> None:
    """The sequential form of twenty bookings racing for the last place (the
    service serialises them on the shop's row; each one asks this rule)."""
    rules = Rules(walk_in_share=0, cars_per_slot=3)
    held: list[Booking] = [Booking(at(TUESDAY, 17, 15), {"general": 30})] * 2
    won = 0
    for _ in range(20):
        if refusal(cap(bookings=held, rules=rules), at(TUESDAY, 17, 15), {"general": 30}) is None:
            held.append(Booking(at(TUESDAY, 17, 15), {"general": 30}))
            won += 1
    assert won == 1


# ---------------------------------------------------------------- alternatives


def test_alternatives_are_the_nearest_fitting_slots_either_side_earlier_first_on_ties() -> None:
    full_ten = tuple(Booking(at(TUESDAY, 10), {"general": 30}) for _ in range(2))
    day = cap(bookings=full_ten)
    found = alternatives([day], at(TUESDAY, 10), {"general": 30})
    assert found == [at(TUESDAY, 9, 45), at(TUESDAY, 10, 15), at(TUESDAY, 9, 30)]
    assert alternatives([day], at(TUESDAY, 10), {"general": 30}, limit=1) == [at(TUESDAY, 9, 45)]
    assert alternatives([day], at(TUESDAY, 10), {"general": 30}, limit=0) == []


def test_alternatives_skip_the_break_the_past_and_days_without_labour() -> None:
    now = at(TUESDAY, 11)
    rules = Rules(walk_in_share=0, lead_minutes=30)
    # Tuesday has no alignment labour left; Wednesday has.
    tuesday = cap(
        bookings=(Booking(at(TUESDAY, 8, 30), {"alignment": 8 * 60}),), rules=rules, now=now
    )
    wednesday = cap(TUESDAY + timedelta(days=1), rules=rules, now=now)
    found = alternatives([tuesday, wednesday], at(TUESDAY, 12, 30), {"alignment": 60})
    assert found == [at(wednesday.day, 8, 30), at(wednesday.day, 8, 45), at(wednesday.day, 9)]
    # General work fits Tuesday: nearest to 12:30 (in the break, no slot there) are
    # 13:00, then 11:45 and 13:15 (tied, the earlier first), and nothing before 11:30
    # (the lead time).
    found = alternatives([tuesday, wednesday], at(TUESDAY, 12, 30), {"general": 60}, limit=5)
    assert found == [
        at(TUESDAY, 13),
        at(TUESDAY, 11, 45),
        at(TUESDAY, 13, 15),
        at(TUESDAY, 11, 30),
        at(TUESDAY, 13, 30),
    ]
    early = alternatives([tuesday], at(TUESDAY, 9), {"general": 60}, limit=2)
    assert early == [at(TUESDAY, 11, 30), at(TUESDAY, 11, 45)]


def test_no_alternatives_on_a_closed_week() -> None:
    golden_week = [cap(date(2026, 10, day)) for day in range(1, 8)]
    assert not any(day.open for day in golden_week)
    assert alternatives(golden_week, at(date(2026, 10, 3), 9), {"general": 30}) == []


def test_a_start_given_in_utc_is_the_same_slot_and_counts_in_it() -> None:
    """The service keeps starts in UTC: the rule compares instants, not wall times."""
    nine_utc = at(TUESDAY, 9).astimezone(ZoneInfo("UTC"))
    booked = (Booking(nine_utc, {"general": 30}), Booking(nine_utc, {"general": 30}))
    assert refusal(cap(), nine_utc, {"general": 30}) is None
    assert refusal(cap(bookings=booked), at(TUESDAY, 9), {"general": 30}) == "reception_full"
    assert alternatives([cap(bookings=booked)], nine_utc, {"general": 30}, limit=1) == [
        at(TUESDAY, 8, 45)
    ]
