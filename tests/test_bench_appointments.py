"""Issue 18's benchmark code (bench/appointments_sim.py) on sizes worked out by
hand, and end to end on two shop-days, so it cannot rot: reception first
come first served in working time, the peak queue, bookings made by the
product's capacity rule, the same customers in every arm. What appointments
do to the peak is the benchmark's business, not these tests'."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from bench import appointments_sim as sim
from bench import eta_sim
from shared.domain.capacity import REFUSALS

CALENDAR = eta_sim.shop_calendar()
ZONE = CALENDAR.zone
DAY = eta_sim.FIRST_DAY


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=ZONE)


def visit(arrival: datetime, minutes: float = 10.0, waiting: bool = False) -> sim.Visit:
    car = eta_sim.Car(arrival=arrival, hours=0.5, true_minutes=30, waiting=waiting)
    return sim.Visit(car, arrival, minutes)


def test_reception_is_first_come_first_served_in_working_time() -> None:
    """Two advisors. 08:00 and 08:10 wait for the 08:30 opening; 08:20 waits
    for the first advisor free (08:40); 11:55 meets lunch and ends at 13:05."""
    visits = [visit(at(8)), visit(at(8, 10)), visit(at(8, 20)), visit(at(11, 55))]
    received = sim.receive(visits, 2, CALENDAR)
    assert [(r.reception_start, r.reception_end) for r in received] == [
        (at(8, 30), at(8, 40)),
        (at(8, 30), at(8, 40)),
        (at(8, 40), at(8, 50)),
        (at(11, 55), at(13, 5)),
    ]
    # Three cars stand waiting at 08:20 (none received before the opening).
    assert sim.peak_queue(received) == 3
    # Waits count from the opening for the early birds: 0, 0, 10 and 0 minutes.
    figures = sim.figures_of(visits, received, CALENDAR)
    assert figures["reception_wait_minutes"]["mean"] == 2.5
    assert figures["reception_wait_minutes"]["max"] == 10.0


def test_no_show_is_not_received_and_a_free_advisor_takes_the_next_car_at_once() -> None:
    missing = sim.Visit(visit(at(9)).car, None, 10.0, booked=True, slot=at(9))
    received = sim.receive([missing, visit(at(9, 1)), visit(at(9, 2))], 1, CALENDAR)
    assert [(r.arrival, r.reception_start) for r in received] == [
        (at(9, 1), at(9, 1)),
        (at(9, 2), at(9, 11)),
    ]
    assert sim.peak_queue(received) == 1


def test_the_floor_starts_the_lounge_car_after_its_reception() -> None:
    received = sim.receive([visit(at(9), 15, waiting=True)], 1, CALENDAR)
    sim.through_the_floor(received, 1, CALENDAR)
    (only,) = received
    assert only.work_started == at(9, 15)
    assert only.ready is not None and only.ready > only.work_started
    figures = sim.figures_of([only.visit], received, CALENDAR)
    assert figures["lounge_wait_minutes"]["mean"] == 15.0


def test_bookings_follow_the_capacity_rule_and_every_arm_has_the_same_customers() -> None:
    cars = [car for car in eta_sim.draw_cars(7, 1, CALENDAR) if car.arrival.date() == DAY]
    booking = sim.AppointmentLoad()
    arms = {
        arm: sim.visits_of_day(
            DAY,
            cars,
            seed=7,
            arm=arm,
            calendar=CALENDAR,
            technicians=20,
            load=booking,
        )
        for arm in sim.ARMS
    }
    for visits in arms.values():
        assert [v.car for v in visits] == cars
        assert [v.reception_minutes for v in visits] == [
            v.reception_minutes for v in arms["without"]
        ]
    assert not any(v.booked for v in arms["without"])
    assert [v.slot for v in arms["with"]] == [v.slot for v in arms["with_all_show"]]
    assert all(v.arrival is not None for v in arms["with_all_show"])
    missing = [v for v in arms["with"] if v.arrival is None]
    assert missing and all(v.booked for v in missing)

    booked = [v for v in arms["with"] if v.booked]
    assert abs(len(booked) / len(cars) - booking.booked_share) < 0.1
    # No slot over its net capacity (6 advisors × 1 car, 30 % kept: 4), none at lunch.
    per_slot = Counter(v.slot for v in booked)
    assert max(per_slot.values()) == 4
    assert all(not (at(12) <= slot < at(13)) for slot in per_slot if slot is not None)
    # And the capacity rule, asked again with every booking, agrees.
    cap = sim.shop_capacity(
        DAY,
        CALENDAR,
        20,
        [sim.Booking(v.slot, {sim.KIND: v.car.hours * 60}) for v in booked if v.slot],
        booking.rules(),
        at(8) - timedelta(days=1),
    )
    assert all(slot.booked <= slot.capacity for slot in cap.slots)
    assert sum(slot.booked for slot in cap.slots) == len(booked)
    # Booked customers come near their slot.
    for v in booked:
        if v.arrival is not None and v.slot is not None:
            low, high = booking.punctuality_range
            assert v.slot + timedelta(minutes=low) <= v.arrival <= v.slot + timedelta(minutes=high)


def test_two_days_end_to_end_write_the_results_file(tmp_path: Path) -> None:
    path = sim.main(["--days", "2", "--seeds", "1", "2", "--out", str(tmp_path)])
    report = json.loads(path.read_text())
    assert path.name.startswith("appointments-") and path.parent == tmp_path
    assert report["days"] == 2 and report["seeds"] == [1, 2]
    assert sorted((run["seed"], run["arm"]) for run in report["runs"]) == sorted(
        (seed, arm) for seed in (1, 2) for arm in sim.ARMS
    )
    for run in report["runs"]:
        assert run["cars_came"] + run["no_shows"] == run["customers"]
        assert len(run["peak_reception_queue"]["per_day"]) == 2
        assert run["lounge_wait_minutes"]["n"] > 0
        assert set(run["slot_asked_refused"]) <= set(REFUSALS)
        assert (run["booked"] > 0) == (run["arm"] != "without")
    queue = report["medians"]["without"]["peak_reception_queue.max"]
    assert len(queue["seeds"]) == 2 and queue["median"] is not None
