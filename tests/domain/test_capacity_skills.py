"""Technician skills in appointment capacity, on hand-built shops: work of a
skilled kind (EV/high voltage, body and paint, wheel alignment) gets at most
the hours of the technicians trained for it who are at work that day, on top
of the bounds by bays and by the technicians' shared hours; other kinds take
any technician."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from shared.domain.capacity import (
    SKILLED_KINDS,
    BayRoom,
    Booking,
    DayCapacity,
    Rules,
    TechnicianDay,
    day_capacity,
    refusal,
)
from shared.domain.shop_calendar import ShopCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday to Friday 08:30–17:30 with lunch: 8 working hours a day.
CALENDAR = ShopCalendar(
    zone=SHANGHAI,
    week=((time(8, 30), time(17, 30)),) * 5 + (None, None),
    breaks=((time(12, 0), time(13, 0)),),
)
TUESDAY = date(2026, 12, 1)
# Bays for every kind, plenty of them: the technicians bound the labour.
BAYS = (
    BayRoom("G1", "general", capacity=3),
    BayRoom("E1", "ev", capacity=3),
    BayRoom("P1", "paint", capacity=3),
    BayRoom("A1", "alignment", capacity=3),
    BayRoom("W1", "wash", capacity=3),
)
NO_SHARE = Rules(walk_in_share=0.0, cars_per_slot=4, lead_minutes=60)
EV = frozenset({"ev"})
NINE = datetime.combine(TUESDAY, time(9), tzinfo=SHANGHAI)


def cap(
    technicians: Sequence[TechnicianDay],
    *,
    bookings: Sequence[Booking] = (),
    rules: Rules = NO_SHARE,
    bays: Sequence[BayRoom] = BAYS,
) -> DayCapacity:
    return day_capacity(
        TUESDAY,
        calendar=CALENDAR,
        bays=bays,
        technicians=technicians,
        held_minutes_by_kind={},
        bookings=bookings,
        rules=rules,
        now=datetime.combine(date(2026, 11, 30), time(9), tzinfo=SHANGHAI),
    )


def test_the_skilled_kinds_are_ev_paint_and_alignment() -> None:
    assert set(SKILLED_KINDS) == {"ev", "paint", "alignment"}


def test_an_ev_job_with_no_ev_trained_technician_is_labour_full() -> None:
    day = cap((TechnicianDay(1), TechnicianDay(2, skills=frozenset({"paint"}))))
    # Nobody trained for EV work: the kind has no hours at all, whatever its bays.
    assert day.labour["ev"].total == 0 and day.labour["ev"].free == 0
    assert refusal(day, NINE, {"ev": 30}) == "labour_full"
    # The same shop books general and paint work.
    assert day.labour["general"].total == pytest.approx(16.0)
    assert day.labour["paint"].total == pytest.approx(8.0)
    assert refusal(day, NINE, {"general": 60}) is None
    assert refusal(day, NINE, {"paint": 60}) is None


def test_an_ev_job_is_bounded_by_the_ev_trained_technicians_hours() -> None:
    early = TechnicianDay(2, shift=(time(8, 30), time(12, 0)), skills=EV)  # 3.5 h
    day = cap((TechnicianDay(1), early, TechnicianDay(3)))
    assert day.technician_hours == pytest.approx(19.5)
    assert day.labour["ev"].total == pytest.approx(3.5)
    assert refusal(day, NINE, {"ev": 3.5 * 60}) is None
    assert refusal(day, NINE, {"ev": 3.5 * 60 + 1}) == "labour_full"
    # What is booked of EV work comes off the EV hours, and off everyone's.
    booked = cap(
        (TechnicianDay(1), early, TechnicianDay(3)), bookings=(Booking(NINE, {"ev": 180}),)
    )
    assert booked.labour["ev"].free == pytest.approx(0.5)
    assert booked.labour["general"].free == pytest.approx(19.5 - 3.0)
    assert refusal(booked, NINE, {"ev": 45}) == "labour_full"
    assert refusal(booked, NINE, {"ev": 30}) is None


def test_the_skill_bound_comes_on_top_of_the_bays_and_the_walk_in_share() -> None:
    trained = (TechnicianDay(1, skills=EV), TechnicianDay(2, skills=EV))
    # One EV bay of one place: 8 h, although two trained technicians bring 16 h.
    one_bay = cap(trained, bays=(BayRoom("E1", "ev"),))
    assert one_bay.labour["ev"].total == pytest.approx(8.0)
    # The walk-in share is kept back of the skilled hours too.
    shared = cap((TechnicianDay(1, skills=EV), TechnicianDay(2)), rules=Rules(walk_in_share=0.25))
    assert shared.labour["ev"].total == pytest.approx(8.0)
    assert shared.labour["ev"].free == pytest.approx(6.0)


def test_an_ev_trained_technician_on_leave_brings_no_ev_hours() -> None:
    away = cap((TechnicianDay(1, skills=EV, on_leave=True), TechnicianDay(2)))
    assert away.technician_hours == pytest.approx(8.0)
    assert away.labour["ev"].total == 0
    assert refusal(away, NINE, {"ev": 30}) == "labour_full"
    assert refusal(away, NINE, {"general": 60}) is None
    # Another trained colleague at work: their hours, not the absent one's.
    covered = cap(
        (
            TechnicianDay(1, skills=EV, on_leave=True),
            TechnicianDay(2, shift=(time(13, 0), time(17, 30)), skills=EV),  # 4.5 h
        )
    )
    assert covered.labour["ev"].total == pytest.approx(4.5)


def test_kinds_without_a_skill_take_any_technician() -> None:
    day = cap((TechnicianDay(1), TechnicianDay(2)))
    assert day.labour["general"].total == pytest.approx(16.0)
    assert day.labour["wash"].total == pytest.approx(16.0)
    for kind in ("ev", "paint", "alignment"):
        assert day.labour[kind].total == 0


def test_a_technician_with_several_skills_counts_for_each_and_once_for_the_shop() -> None:
    both = TechnicianDay(1, skills=frozenset({"ev", "alignment", "not_a_kind"}))
    day = cap((both,))
    assert day.technician_hours == pytest.approx(8.0)
    assert day.labour["ev"].total == pytest.approx(8.0)
    assert day.labour["alignment"].total == pytest.approx(8.0)
    assert day.labour["paint"].total == 0
    # Their 8 hours are shared: 5 h of EV and 4 h of alignment do not fit together.
    assert refusal(day, NINE, {"ev": 300, "alignment": 240}) == "labour_full"
    assert refusal(day, NINE, {"ev": 300, "alignment": 180}) is None
