"""What appointments do to the morning peak (issue 18): ``make bench-appointments``.

``python -m bench.appointments_sim [--days N] [--seeds S ...] [--out DIR]``
replays the same simulated shop-days (``bench/eta_sim.py``: 20 technicians,
140–160 cars a day, three quarters of them between 08:30 and 11:00, a third
of the customers waiting in the lounge) three ways, seed by seed:

* ``without``: every car comes when the existing simulator draws it (the
  morning peak), as a walk-in;
* ``with``: 60 % of the customers book first, by the product's own rule
  (``shared/domain/capacity.py``: ``day_capacity``, ``refusal``,
  ``alternatives``, with the shop's default appointment settings); each asks
  for the slot of the moment they would have come and, refused, takes the
  nearest slot that fits that day (none fits: they come as walk-ins). A
  booked customer comes near the slot (punctuality noise) or not at all (a
  no-show); the other 40 % come as before;
* ``with_all_show``: the same bookings, nobody missing: the levelling alone,
  without the lighter day the no-shows make.

Reception is what the peak hurts first, and the simulator had none (a car was
checked in the moment it came): here six service advisors (``AppointmentLoad.advisors``) receive
the cars first come first served, each reception taking a drawn number of
working minutes; the car enters the floor (``eta_sim.Simulation``, the
foreman's rules, true job lengths, lunch and closing) when its reception
ends. Measured per run: the peak reception queue (cars come and not yet
received, per day), the reception wait, and the lounge customers' wait until
work on their car starts (from the moment they came; a customer early for
the opening waits from the opening), mean and p90. Per arm, the median over
the seeds, every seed kept.

The load (``AppointmentLoad``) was fixed before any result was seen. Results
go to bench/results/appointments-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from bench import eta_sim
from bench.eta import machine, quantile
from shared.domain.capacity import (
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

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DAYS = 20
DEFAULT_SEEDS = (1, 2, 3, 4, 5)
ARMS = ("without", "with", "with_all_show")
ARM_LABELS = {
    "without": "without appointments (all walk-ins)",
    "with": "60 % booked, no-shows",
    "with_all_show": "60 % booked, everyone shows",
}
# The bay kind every booking of this shop is (one general bay per technician,
# as the simulator's foreman dispatches).
KIND = "general"


@dataclass(frozen=True)
class AppointmentLoad:
    """The booking side of the load, fixed before any result was seen.

    Six advisors for about 150 cars a day (one per 25 cars, a busy 4S
    dealer), a reception of about ten minutes (walk-round, the customer's
    complaint, the job order): enough for the day (about half their time),
    not for three quarters of the cars in two and a half hours. The
    appointment settings are the product's defaults (walk-in share 0.3, one
    car per advisor per 15-minute slot, lead 60 minutes); customers book
    the evening before. No-shows: the issue's figure (an 85 % show rate at
    one dealer). Punctuality: booked customers come a little early on
    average, most within a quarter of an hour of their slot."""

    booked_share: float = 0.6
    no_show_share: float = 0.15
    advisors: int = 6
    reception_median_minutes: float = 10.0
    reception_sigma: float = 0.35
    reception_range: tuple[float, float] = (4.0, 30.0)
    early_mean_minutes: float = 5.0  # mean minutes before the slot (negative: late)
    punctuality_sd_minutes: float = 10.0
    punctuality_range: tuple[float, float] = (-30.0, 45.0)  # minutes after the slot
    booked_at: clock = clock(17, 0)  # the evening before
    slot_minutes: int = 15
    cars_per_advisor_per_slot: int = 1
    walk_in_share: float = 0.3
    lead_minutes: int = 60
    days_ahead: int = 14

    def rules(self) -> Rules:
        """The shop's appointment settings as the capacity rule reads them."""
        return Rules(
            slot_minutes=self.slot_minutes,
            cars_per_slot=max(1, self.advisors * self.cars_per_advisor_per_slot),
            walk_in_share=self.walk_in_share,
            lead_minutes=self.lead_minutes,
            days_ahead=self.days_ahead,
        )


@dataclass(frozen=True)
class Visit:
    """One customer's day: the car (``car.arrival`` when they would have come
    unbooked), whether they booked and into which slot, whether they come,
    and when they really come."""

    car: eta_sim.Car
    arrival: datetime | None  # None: a no-show
    reception_minutes: float
    booked: bool = False
    slot: datetime | None = None
    moved_minutes: float = 0.0  # |slot − the slot asked for|
    unbookable: bool = False  # wanted to book, nothing fitted that day
    refused: str | None = None  # why the slot asked was refused (``capacity.REFUSALS``)


@dataclass
class Received:
    """A visit through reception and the floor."""

    visit: Visit
    arrival: datetime
    reception_start: datetime
    reception_end: datetime
    work_started: datetime | None = None
    ready: datetime | None = None


# ---------------------------------------------------------------- booking


def shop_capacity(
    day: date,
    calendar: ShopCalendar,
    technicians: int,
    bookings: Sequence[Booking],
    rules: Rules,
    now: datetime,
) -> DayCapacity:
    """The benchmark shop's capacity on ``day`` by the product's rule: one
    general bay per technician, everyone at work; nothing held (bookings are
    made the evening before, when the shop-load engine's hold on the next
    day is not modelled here)."""
    return day_capacity(
        day,
        calendar=calendar,
        bays=tuple(BayRoom(f"B{n}", KIND) for n in range(1, technicians + 1)),
        technicians=tuple(TechnicianDay(n) for n in range(1, technicians + 1)),
        held_minutes_by_kind={},
        bookings=bookings,
        rules=rules,
        now=now,
    )


def _reception_minutes(rng: random.Random, load: AppointmentLoad) -> float:
    low, high = load.reception_range
    drawn = rng.lognormvariate(math.log(load.reception_median_minutes), load.reception_sigma)
    return min(high, max(low, drawn))


def _slot_asked(cap: DayCapacity, moment: datetime) -> datetime:
    """The slot a customer who would come at ``moment`` asks for: the one
    it falls in, else (in the lunch break) the next one, else the last."""
    for slot in cap.slots:
        if moment < slot.end:
            return slot.start
    return cap.slots[-1].start


def visits_of_day(
    day: date,
    cars: Sequence[eta_sim.Car],
    *,
    seed: int,
    arm: str,
    calendar: ShopCalendar,
    technicians: int,
    load: AppointmentLoad,
) -> list[Visit]:
    """The day's customers for one arm. The draws (who books, the order they
    book in, no-show, punctuality, reception time) come from one RNG per day
    in a fixed order whatever the arm, so every arm has the same customers
    with the same reception times, and ``with`` and ``with_all_show`` the
    same bookings."""
    rng = random.Random(f"appointments:{seed}:{day.isoformat()}")
    draws = [
        (
            rng.random() < load.booked_share,
            rng.random() < load.no_show_share,
            min(
                max(
                    rng.gauss(-load.early_mean_minutes, load.punctuality_sd_minutes),
                    load.punctuality_range[0],
                ),
                load.punctuality_range[1],
            ),
            _reception_minutes(rng, load),
        )
        for _ in cars
    ]
    order = list(range(len(cars)))
    rng.shuffle(order)
    if arm == "without":
        return [
            Visit(car, car.arrival, reception)
            for car, (_, _, _, reception) in zip(cars, draws, strict=True)
        ]

    rules = load.rules()
    now = datetime.combine(day - timedelta(days=1), load.booked_at, tzinfo=calendar.zone)
    bookings: list[Booking] = []
    slots: dict[int, tuple[datetime | None, float, str | None]] = {}
    for index in order:
        if not draws[index][0]:
            continue
        car = cars[index]
        work = {KIND: car.hours * 60}
        cap = shop_capacity(day, calendar, technicians, bookings, rules, now)
        if not cap.slots:
            slots[index] = (None, 0.0, "closed")
            continue
        asked = _slot_asked(cap, car.arrival)
        start: datetime | None = asked
        refused = refusal(cap, asked, work)
        if refused is not None:
            offered = alternatives([cap], asked, work, limit=1)
            start = offered[0] if offered else None
        if start is None:
            slots[index] = (None, 0.0, refused)
            continue
        bookings.append(Booking(start, work))
        slots[index] = (start, abs((start - asked).total_seconds()) / 60, refused)

    visits: list[Visit] = []
    for index, car in enumerate(cars):
        wants, missing, offset, reception = draws[index]
        if not wants:
            visits.append(Visit(car, car.arrival, reception))
            continue
        start, moved, refused = slots[index]
        if start is None:
            visits.append(Visit(car, car.arrival, reception, unbookable=True, refused=refused))
            continue
        comes = not (missing and arm == "with")
        arrival = start + timedelta(minutes=offset) if comes else None
        visits.append(Visit(car, arrival, reception, True, start, moved, refused=refused))
    return visits


# ---------------------------------------------------------------- reception and the floor


def receive(visits: Sequence[Visit], advisors: int, calendar: ShopCalendar) -> list[Received]:
    """First come, first served by ``advisors`` advisors, in working time
    (nobody is received before the opening or in the lunch break; a
    reception that meets one goes on after it). Ties: the earlier-drawn
    customer first. No-shows are not received."""
    coming = sorted(
        (visit for visit in visits if visit.arrival is not None),
        key=lambda visit: visit.arrival or datetime.min,
    )
    free: list[datetime] = []  # when each advisor at work so far is free (a heap)
    out: list[Received] = []
    for visit in coming:
        assert visit.arrival is not None
        # An advisor not yet busy is free at once; else the one free first.
        advisor_free = visit.arrival if len(free) < advisors else heapq.heappop(free)
        start = calendar.next_open(max(visit.arrival, advisor_free))
        end = calendar.add_working(start, visit.reception_minutes)
        heapq.heappush(free, end)
        out.append(Received(visit, visit.arrival, start, end))
    return out


def through_the_floor(received: list[Received], technicians: int, calendar: ShopCalendar) -> None:
    """Every received car onto the simulator's floor at the end of its
    reception (its check-in); when its work started and when it was ready."""
    ordered = sorted(received, key=lambda item: item.reception_end)
    cars = [replace(item.visit.car, arrival=item.reception_end) for item in ordered]
    records = eta_sim.simulate(cars, technicians, calendar, measure=False)
    for item, record in zip(ordered, records, strict=True):
        assert record.checked_in == item.reception_end
        item.work_started = record.started_at
        item.ready = record.ready_at


# ---------------------------------------------------------------- figures


def _minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60


def waited_from(item: Received, calendar: ShopCalendar) -> datetime:
    """When the customer's wait counts from: their arrival, or the opening
    when they came before it (the early bird waits for the door, not for
    the shop)."""
    return calendar.next_open(item.arrival)


def peak_queue(received: Sequence[Received]) -> int:
    """The most cars come and not yet being received at any moment."""
    steps = sorted(
        [(item.reception_start, -1) for item in received] + [(item.arrival, 1) for item in received]
    )
    waiting = peak = 0
    for _, step in steps:
        waiting += step
        peak = max(peak, waiting)
    return peak


def _summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "mean": None, "median": None, "p90": None, "max": None}
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 1),
        "median": round(statistics.median(values), 1),
        "p90": round(quantile(values, 0.9), 1),
        "max": round(max(values), 1),
    }


def figures_of(
    visits: Sequence[Visit], received: Sequence[Received], calendar: ShopCalendar
) -> dict[str, Any]:
    """One run's figures (all waits in wall minutes)."""
    by_day: dict[date, list[Received]] = {}
    for item in received:
        by_day.setdefault(item.visit.car.arrival.astimezone(calendar.zone).date(), []).append(item)
    peaks = [peak_queue(items) for _, items in sorted(by_day.items())]
    reception_wait = [
        _minutes(item.reception_start, waited_from(item, calendar)) for item in received
    ]
    lounge = [item for item in received if item.visit.car.waiting]
    lounge_wait = [
        _minutes(item.work_started, waited_from(item, calendar))
        for item in lounge
        if item.work_started is not None
    ]
    lounge_ready = [
        _minutes(item.ready, waited_from(item, calendar))
        for item in lounge
        if item.ready is not None
    ]
    hours: dict[int, int] = {}
    for item in received:
        hour = item.arrival.astimezone(calendar.zone).hour
        hours[hour] = hours.get(hour, 0) + 1
    days = max(1, len(by_day))
    booked = [visit for visit in visits if visit.booked]
    moved = [visit.moved_minutes for visit in booked if visit.moved_minutes > 0]
    return {
        "customers": len(visits),
        "cars_came": len(received),
        "booked": len(booked),
        "booked_in_the_slot_asked": sum(1 for visit in booked if visit.moved_minutes == 0),
        "booked_moved": {
            **_summary(moved),
            "share": round(len(moved) / len(booked), 3) if booked else None,
        },
        "unbookable": sum(1 for visit in visits if visit.unbookable),
        "slot_asked_refused": dict(
            sorted(Counter(v.refused for v in visits if v.refused is not None).items())
        ),
        "no_shows": sum(1 for visit in visits if visit.arrival is None),
        "peak_reception_queue": {
            "max": max(peaks) if peaks else None,
            "median_of_days": statistics.median(peaks) if peaks else None,
            "per_day": peaks,
        },
        "reception_wait_minutes": _summary(reception_wait),
        "lounge_wait_minutes": _summary(lounge_wait),
        "lounge_until_ready_minutes": _summary(lounge_ready),
        "arrivals_per_day_by_hour": {
            f"{hour:02d}": round(count / days, 1) for hour, count in sorted(hours.items())
        },
    }


def run_arm(
    seed: int,
    days: int,
    arm: str,
    load: eta_sim.Load | None = None,
    booking: AppointmentLoad | None = None,
) -> dict[str, Any]:
    """One seed, one arm: draw the days, book, receive, work; the figures."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}")
    load = load or eta_sim.Load()
    booking = booking or AppointmentLoad()
    calendar = eta_sim.shop_calendar()
    cars = eta_sim.draw_cars(seed, days, calendar, load)
    by_day: dict[date, list[eta_sim.Car]] = {}
    for car in cars:
        by_day.setdefault(car.arrival.astimezone(calendar.zone).date(), []).append(car)
    visits: list[Visit] = []
    for day, todays in sorted(by_day.items()):
        visits += visits_of_day(
            day,
            todays,
            seed=seed,
            arm=arm,
            calendar=calendar,
            technicians=load.technicians,
            load=booking,
        )
    received = receive(visits, booking.advisors, calendar)
    through_the_floor(received, load.technicians, calendar)
    return {"seed": seed, "arm": arm, **figures_of(visits, received, calendar)}


HEADLINE = (
    ("peak_reception_queue", "max"),
    ("peak_reception_queue", "median_of_days"),
    ("reception_wait_minutes", "mean"),
    ("reception_wait_minutes", "p90"),
    ("lounge_wait_minutes", "mean"),
    ("lounge_wait_minutes", "p90"),
    ("lounge_until_ready_minutes", "median"),
    ("booked_moved", "share"),
    ("booked_moved", "median"),
)


def medians(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per arm, the median over the seeds of each headline figure, with
    every seed's value beside it."""
    out: dict[str, dict[str, Any]] = {}
    for arm in ARMS:
        mine = sorted((run for run in runs if run["arm"] == arm), key=lambda run: run["seed"])
        if not mine:
            continue
        figures: dict[str, Any] = {}
        for group, name in HEADLINE:
            values = [run[group][name] for run in mine]
            present = [value for value in values if value is not None]
            figures[f"{group}.{name}"] = {
                "median": statistics.median(present) if present else None,
                "seeds": values,
            }
        out[arm] = figures
    return out


def run(days: int, seeds: Sequence[int], booking: AppointmentLoad) -> dict[str, Any]:
    load = eta_sim.Load()
    started = time.perf_counter()
    runs = [run_arm(seed, days, arm, load, booking) for seed in seeds for arm in ARMS]
    return {
        "command": " ".join(["python -m bench.appointments_sim", *sys.argv[1:]]),
        "days": days,
        "seeds": list(seeds),
        "first_day": eta_sim.shop_days(eta_sim.shop_calendar(), 1)[0].isoformat(),
        "load": {key: value for key, value in vars(load).items()},
        "booking": {**asdict(booking), "rules": asdict(booking.rules())},
        "simulation_s": round(time.perf_counter() - started, 1),
        "medians": medians(runs),
        "runs": runs,
    }


# ---------------------------------------------------------------- markdown


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def markdown(report: Mapping[str, Any]) -> str:
    """The table docs/PERFORMANCE.md shows: per arm, the median over the
    seeds and every seed's value."""
    seeds = ", ".join(str(seed) for seed in report["seeds"])
    lines = [
        f"{report['days']} shop-days from {report['first_day']}, seeds {seeds}, "
        f"{report['booking']['advisors']} advisors; "
        "median over the seeds (every seed in brackets).",
        "",
        "| | " + " | ".join(ARM_LABELS[arm] for arm in ARMS) + " |",
        "|---|" + "---|" * len(ARMS),
    ]
    labels = {
        "peak_reception_queue.max": "peak reception queue, worst day (cars)",
        "peak_reception_queue.median_of_days": "peak reception queue, median day (cars)",
        "reception_wait_minutes.mean": "reception wait, mean (min)",
        "reception_wait_minutes.p90": "reception wait, p90 (min)",
        "lounge_wait_minutes.mean": "lounge wait until work starts, mean (min)",
        "lounge_wait_minutes.p90": "lounge wait until work starts, p90 (min)",
        "lounge_until_ready_minutes.median": "lounge customer's time until ready, median (min)",
        "booked_moved.share": "bookings given another slot than asked (share)",
        "booked_moved.median": "… moved by, median (min)",
    }
    for key, label in labels.items():
        cells = []
        for arm in ARMS:
            figure = report["medians"][arm][key]
            every = " / ".join(_fmt(value) for value in figure["seeds"])
            cells.append(f"{_fmt(figure['median'])} ({every})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m bench.appointments_sim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="shop-days (default 20)")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(DEFAULT_SEEDS),
        help="seeds (default 1 to 5)",
    )
    parser.add_argument(
        "--advisors",
        type=int,
        default=AppointmentLoad.advisors,
        help="service advisors receiving (default 6; a sensitivity check, not the load)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    if args.days < 1 or args.advisors < 1:
        parser.error("--days and --advisors must be at least 1")
    started = time.monotonic()
    info = machine()
    report = run(args.days, args.seeds, AppointmentLoad(advisors=args.advisors))
    report["machine"] = info
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"appointments-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str, ensure_ascii=False))
    print(markdown(report))
    print(f"\nelapsed {report['elapsed_s']} s; results in {path}")
    return path


if __name__ == "__main__":
    main()
