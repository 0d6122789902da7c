"""Property tests of appointment capacity: whatever the shop and whatever
bookings come, booking greedily into whatever ``refusal`` accepts never puts
more cars in a slot than it receives, nor more hours on a kind (or on the
technicians) than the day has after the walk-in share and the held work, nor
more hours of a skilled kind (alignment, paint, ev) than the technicians
trained for it work that day."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.capacity import (
    SKILLED_KINDS,
    BayRoom,
    Booking,
    DayCapacity,
    Rules,
    TechnicianDay,
    alternatives,
    day_capacity,
    refusal,
)
from shared.domain.shop_calendar import ShopCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Bays are of the first four; the last is a kind no shop has a bay of.
KINDS = ("general", "quick", "alignment", "paint", "ev")
SHOP_KINDS = KINDS[:4]
# Tolerance of float sums of minutes turned into hours.
EPSILON = 1e-6


@dataclass(frozen=True)
class Shop:
    calendar: ShopCalendar
    bays: tuple[BayRoom, ...]
    technicians: tuple[TechnicianDay, ...]
    held: Mapping[str, float]
    rules: Rules
    day: date
    now: datetime

    def capacity(self, bookings: list[Booking]) -> DayCapacity:
        return day_capacity(
            self.day,
            calendar=self.calendar,
            bays=self.bays,
            technicians=self.technicians,
            held_minutes_by_kind=self.held,
            bookings=bookings,
            rules=self.rules,
            now=self.now,
        )


def quarter_hours(low: int, high: int) -> st.SearchStrategy[time]:
    return st.integers(low * 4, high * 4).map(lambda q: time(q // 4, q % 4 * 15))


@st.composite
def hours(draw: st.DrawFn) -> tuple[time, time]:
    start = draw(quarter_hours(6, 11))
    end = draw(quarter_hours(13, 22))
    return start, end


@st.composite
def shops(draw: st.DrawFn, busy: bool = False) -> Shop:
    """Any shop on any day (closed days, no advisors, a horizon of today
    only...), or, ``busy``, an open shop the bookings can fill up."""
    every_day = draw(hours())
    week = tuple(draw(st.sampled_from([every_day] * 4 + [None])) for _ in range(7))
    if busy:
        week = (every_day,) * 7
    if all(day is None for day in week):
        week = (every_day, *week[1:])
    breaks = draw(st.sampled_from([(), ((time(12), time(13)),), ((time(11, 50), time(13, 10)),)]))
    calendar = ShopCalendar(
        zone=SHANGHAI, week=week, breaks=breaks, public_holidays=not busy and draw(st.booleans())
    )
    bays = tuple(
        BayRoom(f"B{n}", kind, capacity, in_service)
        for n, (kind, capacity, in_service) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(SHOP_KINDS),
                        st.integers(1, 3),
                        st.sampled_from([True, True, True, False]),
                    ),
                    min_size=1,
                    max_size=6,
                )
            )
        )
    )
    shift = st.one_of(st.none(), hours())
    # Each technician trained for none, one or two of the skilled kinds.
    skills = st.frozensets(st.sampled_from(SKILLED_KINDS), max_size=2)
    technicians = tuple(
        TechnicianDay(n, shift_hours, leave, trained)
        for n, (shift_hours, leave, trained) in enumerate(
            draw(
                st.lists(
                    st.tuples(shift, st.sampled_from([False, False, True]), skills),
                    min_size=1,
                    max_size=3,
                )
            )
        )
    )
    held = draw(st.dictionaries(st.sampled_from(KINDS), st.floats(0, 300), max_size=3))
    rules = Rules(
        slot_minutes=draw(st.sampled_from([10, 15, 20, 30])),
        cars_per_slot=draw(st.sampled_from([0, 1, 2, 2, 3, 4])),
        walk_in_share=draw(st.sampled_from([0.0, 0.0, 0.1, 0.3, 0.5, 0.9])),
        lead_minutes=draw(st.sampled_from([0, 60, 120])),
        days_ahead=draw(st.sampled_from([0, 1, 3, 14])),
    )
    if busy:
        rules = Rules(
            slot_minutes=rules.slot_minutes,
            cars_per_slot=draw(st.integers(1, 3)),
            walk_in_share=draw(st.sampled_from([0.0, 0.2, 0.5])),
            lead_minutes=rules.lead_minutes,
            days_ahead=14,
        )
    # The shops' technicians are few (so that they, not the bays, often bound
    # the day's labour). Around National Day and its make-up days, and any day of the year.
    day = draw(
        st.one_of(
            st.dates(date(2026, 9, 25), date(2026, 10, 12)),
            st.dates(date(2026, 1, 1), date(2026, 12, 31)),
        )
    )
    now = datetime.combine(day, time(0), tzinfo=SHANGHAI) + timedelta(
        minutes=draw(st.integers(-2 * 24 * 60, 20 * 60))
    )
    if busy:
        held = {kind: minutes / 4 for kind, minutes in held.items()}
        now = datetime.combine(day - timedelta(days=1), time(18), tzinfo=SHANGHAI)
    return Shop(calendar, bays, technicians, held, rules, day, now)


# Mostly kinds the shops have bays of, often two at once (one booking's kinds
# share the technicians), and sometimes a kind no shop has.
work = st.dictionaries(
    st.sampled_from((*SHOP_KINDS, *SHOP_KINDS, KINDS[4])), st.floats(0, 240), min_size=1, max_size=3
)
attempts = st.lists(st.tuples(st.integers(0, 200), work, st.booleans()), min_size=1, max_size=60)


def book_greedily(shop: Shop, tries: list[tuple[int, dict[str, float], bool]]) -> list[Booking]:
    """Each customer asks for a slot (by index; or 09:00 on a day without
    slots); refused, some take the first alternative offered."""
    bookings: list[Booking] = []
    for pick, minutes, take_alternative in tries:
        cap = shop.capacity(bookings)
        start = (
            cap.slots[pick % len(cap.slots)].start
            if cap.slots
            else datetime.combine(shop.day, time(9), tzinfo=SHANGHAI)
        )
        if refusal(cap, start, minutes) is not None:
            if not take_alternative:
                continue
            offered = alternatives([cap], start, minutes, limit=1)
            if not offered:
                continue
            start = offered[0]
            assert refusal(cap, start, minutes) is None
        bookings.append(Booking(start, minutes))
    return bookings


@settings(max_examples=200, deadline=None)
@given(st.one_of(shops(), shops(busy=True)), attempts)
def test_greedy_booking_never_overbooks_a_slot_nor_a_kind_nor_the_technicians_nor_a_skill(
    shop: Shop, tries: list[tuple[int, dict[str, float], bool]]
) -> None:
    bookings = book_greedily(shop, tries)
    final = shop.capacity(bookings)
    keep = 1 - shop.rules.walk_in_share

    # Reception: no slot receives more than its net capacity; every booking
    # starts a slot that was offered, and never inside a break or closed time.
    per_start = Counter(booking.start for booking in bookings)
    slots = {slot.start: slot for slot in final.slots}
    intervals = shop.calendar.intervals(shop.day)
    for start, cars in per_start.items():
        slot = slots[start]
        assert cars <= slot.capacity and slot.withheld is None
        assert start >= shop.now + timedelta(minutes=shop.rules.lead_minutes)
        assert any(begin <= start < end for begin, end in intervals)

    # Labour, recomputed here from the shop itself.
    open_hours = sum((end - begin).total_seconds() for begin, end in intervals) / 3600

    def working_hours(t: TechnicianDay) -> float:
        return (
            shop.calendar.working_time(t.shift).between(
                int(datetime.combine(shop.day, time(0), tzinfo=SHANGHAI).timestamp() * 1e6),
                int(
                    datetime.combine(shop.day, time(23, 59, 59), tzinfo=SHANGHAI).timestamp() * 1e6
                ),
            )
            / 3.6e9
        )

    at_work = [t for t in shop.technicians if not t.on_leave]
    technician_hours = sum(working_hours(t) for t in at_work)
    skilled_hours = {
        kind: sum(working_hours(t) for t in at_work if kind in t.skills) for kind in SKILLED_KINDS
    }
    booked: dict[str, float] = {}
    for booking in bookings:
        for kind, minutes in booking.minutes_by_kind.items():
            booked[kind] = booked.get(kind, 0.0) + minutes / 60
    for kind, hours_booked in booked.items():
        if hours_booked == 0:
            continue
        bay_hours = sum(
            bay.capacity * open_hours for bay in shop.bays if bay.kind == kind and bay.in_service
        )
        limit = min(bay_hours, technician_hours, skilled_hours.get(kind, math.inf))
        bookable = limit * keep - shop.held.get(kind, 0) / 60
        assert hours_booked <= max(0.0, bookable) + EPSILON
        # A skilled kind never gets more hours than its trained technicians work.
        if kind in SKILLED_KINDS:
            assert hours_booked <= skilled_hours[kind] + EPSILON
            assert final.labour[kind].total <= skilled_hours[kind] + EPSILON
    all_held = sum(shop.held.values()) / 60
    assert sum(booked.values()) <= max(0.0, technician_hours * keep - all_held) + EPSILON
    assert all(hours.free >= 0 for hours in final.labour.values())


@settings(max_examples=60, deadline=None)
@given(st.one_of(shops(), shops(busy=True)), attempts, work, st.integers(0, 200), st.integers(0, 5))
def test_alternatives_fit_are_nearest_first_and_never_withheld(
    shop: Shop,
    tries: list[tuple[int, dict[str, float], bool]],
    minutes: dict[str, float],
    pick: int,
    limit: int,
) -> None:
    cap = shop.capacity(book_greedily(shop, tries))
    start = (
        cap.slots[pick % len(cap.slots)].start
        if cap.slots
        else datetime.combine(shop.day, time(9), tzinfo=SHANGHAI)
    )
    found = alternatives([cap], start, minutes, limit=limit)
    assert len(found) <= limit
    assert all(refusal(cap, moment, minutes) is None for moment in found)
    distances = [abs(moment - start) for moment in found]
    assert distances == sorted(distances)
    # Nothing nearer was left out.
    fitting = [s.start for s in cap.slots if refusal(cap, s.start, minutes) is None]
    if len(found) < limit:
        assert sorted(found) == sorted(fitting)
    elif found:
        assert all(abs(other - start) >= distances[-1] for other in fitting if other not in found)
