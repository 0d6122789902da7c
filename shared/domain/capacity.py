"""What a shop can still take on one day: the rule every appointment is booked by.

An appointment is a promise that the car will be received and worked that
day, so it is booked against two things the shop really has, not against a
count of cars:

- **Labour** per bay kind, in hours. Work of a kind needs a bay of that kind
  and a technician, so a kind's hours are bounded by its bays in service
  (bays × capacity × the day's open minutes) and by the technicians at work
  that day (each one's own shift on the shop's calendar, nobody on leave).
  The technicians' hours are shared by every kind: booking two hours of
  general work leaves two hours fewer for alignment too.
- **Skills**: a kind of ``SKILLED_KINDS`` (EV/high voltage 新能源/高压,
  body and paint 钣金喷漆, wheel alignment 四轮定位) needs a technician
  trained for it, so its hours are also bounded by the working hours of the
  technicians at work that day who hold that skill. A shop where nobody
  holds it has no hours of that kind at all (its ``total`` is 0). The other
  kinds (general, quick, wash, parking) take any technician. A technician
  with a skill still brings their hours to the shared total: the bound is on
  top of the others, never instead of them.
- **Reception**: the cars the advisors can receive in each slot (15 minutes
  by default) of the opening hours, never in a break, so that bookings
  spread the 8:00–9:00 peak instead of adding to it.

A share of both (``walk_in_share``) is held back for the cars that come
without booking: the shop does not give every hour to the phone. What active
work already holds that day (``held``, computed by the shop-load engine and
given in) and the bookings already made (``booked``) come off the rest.

Days come from the shop's calendar (``ShopCalendar``): opening hours,
breaks, China's statutory holidays (closed) and make-up working days (调休,
open), and the shop's own closed and open days.

Pure: no database and no clock; ``now`` is an argument. The answers are
reason codes (``refusal``), never sentences: the web layer says them in the
reader's language.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from shared.domain.shop_calendar import (
    MICROSECONDS_PER_MINUTE,
    ShopCalendar,
    from_microseconds,
    to_microseconds,
)

# The reasons ``refusal`` gives, as stable codes.
CLOSED = "closed"  # the shop does not open that day (holiday, closed weekday)
TOO_SOON = "too_soon"  # the slot starts before now + lead_minutes
TOO_FAR = "too_far"  # the slot's day lies beyond today + days_ahead
NOT_A_SLOT = "not_a_slot"  # the start is not the start of one of the day's slots
RECEPTION_FULL = "reception_full"  # the slot has no free reception place
LABOUR_FULL = "labour_full"  # a kind's hours (or the technicians' hours) are used up
REFUSALS = (CLOSED, TOO_SOON, TOO_FAR, NOT_A_SLOT, RECEPTION_FULL, LABOUR_FULL)

# The bay kinds whose work needs a technician trained for it; the skill has
# the kind's name (a technician's qualification: ``ev``, ``paint``,
# ``alignment``).
SKILLED_KINDS: tuple[str, ...] = ("ev", "paint", "alignment")

# Hours are floats summed from minutes: a booking that exactly fills the
# day must fit, whatever the rounding of the sums on the way.
_EPSILON_HOURS = 1e-9


@dataclass(frozen=True)
class BayRoom:
    """A bay as capacity counts it: ``capacity`` cars of ``kind`` at once,
    none while it is out of service."""

    code: str
    kind: str
    capacity: int = 1
    in_service: bool = True


@dataclass(frozen=True)
class TechnicianDay:
    """A technician on one day: their own shift (None: the shop's hours),
    whether they are on leave (then they bring no hours at all), and the
    skills they hold (kinds of ``SKILLED_KINDS`` they are trained for; other
    values are ignored)."""

    id: int
    shift: tuple[time, time] | None = None
    on_leave: bool = False
    skills: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Booking:
    """An appointment already booked: when the car comes, and the standard
    minutes of its work per bay kind."""

    start: datetime
    minutes_by_kind: Mapping[str, float]


@dataclass(frozen=True)
class Rules:
    """The shop's appointment settings, as the rule needs them.

    ``cars_per_slot``: cars the advisors can receive per slot (advisors ×
    cars per advisor). ``walk_in_share``: the part of labour and reception
    kept for cars that come without booking. ``lead_minutes``: how soon a
    slot may start after the booking (the shop needs time to prepare).
    ``days_ahead``: how many days ahead the shop books."""

    slot_minutes: int = 15
    cars_per_slot: int = 2
    walk_in_share: float = 0.3
    lead_minutes: int = 60
    days_ahead: int = 14

    def __post_init__(self) -> None:
        if self.slot_minutes < 1:
            raise ValueError("slot_minutes must be at least 1.")
        if self.cars_per_slot < 0:
            raise ValueError("cars_per_slot cannot be negative.")
        if not 0 <= self.walk_in_share < 1:
            raise ValueError("walk_in_share must lie in [0, 1).")
        if self.lead_minutes < 0 or self.days_ahead < 0:
            raise ValueError("lead_minutes and days_ahead cannot be negative.")


@dataclass(frozen=True)
class KindHours:
    """One bay kind's labour on a day, in hours. ``total``: what the bays and
    technicians allow; ``held``: what active work already holds; ``booked``:
    the appointments' hours; ``free``: what may still be booked (after the
    walk-in share, and never more than the technicians have left)."""

    total: float
    held: float
    booked: float
    free: float


@dataclass(frozen=True)
class Slot:
    """A reception slot [start, end). ``capacity`` is already net of the
    walk-in share; ``booked`` counts the bookings that start in it.
    ``withheld`` says why the slot is not offered at all (``too_soon`` or
    ``too_far``; None: offered): a withheld slot has nothing free."""

    start: datetime
    end: datetime
    capacity: int
    booked: int
    withheld: str | None = None

    @property
    def free(self) -> int:
        """Cars that may still be booked into this slot."""
        if self.withheld is not None:
            return 0
        return max(0, self.capacity - self.booked)


@dataclass(frozen=True)
class DayCapacity:
    """What the shop can take on ``day``. ``technician_hours``: the day's
    working hours of the technicians not on leave; ``labour`` per bay kind;
    ``slots`` in time order (none on a closed day). ``technician_free``: the
    technicians' hours still free for bookings, shared by all kinds (a
    booking's hours of every kind together must fit in it)."""

    day: date
    open: bool
    technician_hours: float
    labour: Mapping[str, KindHours]
    slots: tuple[Slot, ...]
    technician_free: float = field(default=0.0)


def day_capacity(
    day: date,
    *,
    calendar: ShopCalendar,
    bays: Sequence[BayRoom],
    technicians: Sequence[TechnicianDay],
    held_minutes_by_kind: Mapping[str, float],
    bookings: Sequence[Booking],
    rules: Rules,
    now: datetime,
) -> DayCapacity:
    """The shop's capacity on ``day`` (a local date of the shop) seen at ``now``.

    ``bookings`` may include other days' appointments: only those starting on
    ``day`` (shop time) count. ``held_minutes_by_kind`` is what work already
    in the shop will take of ``day``."""
    ordinal = day.toordinal()
    keep = 1.0 - rules.walk_in_share
    open_spans = calendar.working_time().spans(ordinal)
    is_open = bool(open_spans)

    technician_minutes = 0.0
    skilled_minutes = dict.fromkeys(SKILLED_KINDS, 0.0)
    for technician in technicians:
        if technician.on_leave:
            continue
        spans = calendar.working_time(technician.shift).spans(ordinal)
        minutes = _span_minutes(spans)
        technician_minutes += minutes
        for skill in technician.skills:
            if skill in skilled_minutes:
                skilled_minutes[skill] += minutes
    technician_hours = technician_minutes / 60.0

    open_hours = _span_minutes(open_spans) / 60.0
    bay_hours: dict[str, float] = {}
    for bay in bays:
        room = bay.capacity * open_hours if bay.in_service else 0.0
        bay_hours[bay.kind] = bay_hours.get(bay.kind, 0.0) + room

    todays = [b for b in bookings if b.start.astimezone(calendar.zone).date() == day]
    booked_hours: dict[str, float] = {}
    for booking in todays:
        for kind, minutes in booking.minutes_by_kind.items():
            booked_hours[kind] = booked_hours.get(kind, 0.0) + _checked(minutes) / 60.0
    held_hours = {k: _checked(m) / 60.0 for k, m in held_minutes_by_kind.items()}

    # The technicians' hours are shared: whatever any kind holds or books is
    # gone for every other kind.
    technician_free = max(
        0.0,
        technician_hours * keep - sum(held_hours.values()) - sum(booked_hours.values()),
    )
    labour: dict[str, KindHours] = {}
    for kind in sorted({*bay_hours, *held_hours, *booked_hours}):
        total = min(bay_hours.get(kind, 0.0), technician_hours)
        if kind in skilled_minutes:
            # Only the technicians trained for it: nobody trained, no hours.
            total = min(total, skilled_minutes[kind] / 60.0)
        held = held_hours.get(kind, 0.0)
        booked = booked_hours.get(kind, 0.0)
        own_free = total * keep - held - booked
        labour[kind] = KindHours(
            total=total, held=held, booked=booked, free=max(0.0, min(own_free, technician_free))
        )

    slots = _slots(day, open_spans, calendar, rules, todays, now) if is_open else ()
    return DayCapacity(
        day=day,
        open=is_open,
        technician_hours=technician_hours,
        labour=labour,
        slots=slots,
        technician_free=technician_free,
    )


def refusal(cap: DayCapacity, start: datetime, minutes_by_kind: Mapping[str, float]) -> str | None:
    """Why a booking starting at ``start`` with this work cannot be taken
    (a code of ``REFUSALS``), or None when it fits.

    Checked in the order a person would want to hear it: the day, then the
    slot (withheld, full), then the labour."""
    if not cap.open:
        return CLOSED
    slot = _slot_at(cap, start)
    if slot is None:
        return NOT_A_SLOT
    if slot.withheld is not None:
        return slot.withheld
    if slot.free < 1:
        return RECEPTION_FULL
    wanted = {kind: _checked(minutes) / 60.0 for kind, minutes in minutes_by_kind.items()}
    wanted = {kind: hours for kind, hours in wanted.items() if hours > 0}
    for kind, hours in wanted.items():
        room = cap.labour.get(kind)
        if room is None or hours > room.free + _EPSILON_HOURS:
            return LABOUR_FULL
    if sum(wanted.values()) > cap.technician_free + _EPSILON_HOURS:
        return LABOUR_FULL
    return None


def alternatives(
    caps: Sequence[DayCapacity],
    start: datetime,
    minutes_by_kind: Mapping[str, float],
    limit: int = 3,
) -> list[datetime]:
    """The free slot starts nearest to ``start`` (before or after it; ties:
    the earlier) where this work fits, at most ``limit``. Withheld slots
    (too soon, too far) are never offered, so every answer lies in the
    future the shop books."""
    fitting = [
        slot.start
        for cap in caps
        for slot in cap.slots
        if slot.free > 0 and refusal(cap, slot.start, minutes_by_kind) is None
    ]
    fitting.sort(key=lambda moment: (abs(moment - start), moment))
    return fitting[: max(0, limit)]


# ---------------------------------------------------------------- helpers


def _span_minutes(spans: Sequence[tuple[int, int]]) -> float:
    return sum(end - begin for begin, end in spans) / MICROSECONDS_PER_MINUTE


def _checked(minutes: float) -> float:
    """Minutes of work as given; a negative or infinite amount is a caller's
    bug (it would make room out of nothing), not a booking to refuse."""
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"Work minutes must be a finite number >= 0, not {minutes!r}.")
    return float(minutes)


def _slot_capacity(rules: Rules) -> int:
    """Cars per slot after the walk-in share, at least one when the advisors
    can receive any (a shop with one advisor still books)."""
    if rules.cars_per_slot < 1:
        return 0
    net = math.floor(rules.cars_per_slot * (1.0 - rules.walk_in_share) + 1e-9)
    return max(1, net)


def _slots(
    day: date,
    spans: Sequence[tuple[int, int]],
    calendar: ShopCalendar,
    rules: Rules,
    bookings: Sequence[Booking],
    now: datetime,
) -> tuple[Slot, ...]:
    """The day's reception slots: each working stretch (breaks already cut
    out) cut on the clock's ``slot_minutes`` grid, the first slot starting at
    the opening itself and the last ending at the stretch's end, so no slot
    lies in a break or after closing."""
    step = rules.slot_minutes * MICROSECONDS_PER_MINUTE
    capacity = _slot_capacity(rules)
    earliest = to_microseconds(now) + rules.lead_minutes * MICROSECONDS_PER_MINUTE
    last_day = now.astimezone(calendar.zone).date() + timedelta(days=rules.days_ahead)
    too_far = day > last_day
    starts = sorted(to_microseconds(b.start) for b in bookings)

    slots: list[Slot] = []
    for begin, end in spans:
        at = begin
        while at < end:
            wall = from_microseconds(at, calendar.zone)
            into_step = (
                (wall.hour * 60 + wall.minute) * MICROSECONDS_PER_MINUTE
                + (wall.second * 1_000_000 + wall.microsecond)
            ) % step
            following = min(at + step - into_step, end)
            booked = sum(1 for s in starts if at <= s < following)
            withheld = TOO_FAR if too_far else (TOO_SOON if at < earliest else None)
            slots.append(
                Slot(
                    start=wall,
                    end=from_microseconds(following, calendar.zone),
                    capacity=capacity,
                    booked=booked,
                    withheld=withheld,
                )
            )
            at = following
    return tuple(slots)


def _slot_at(cap: DayCapacity, start: datetime) -> Slot | None:
    """The slot that begins exactly at ``start`` (None: no slot does)."""
    for slot in cap.slots:
        if slot.start == start:
            return slot
    return None
