"""The labour clock (电子工时) as pure rules.

A clock segment is one stretch of one technician's work on one order. The
rules here decide which segments a stage change opens or closes, refuse a
clock that would make the hours untrue, and turn segments into the figures
the foreman and the manager read (exceptions, sold vs clocked hours). No I/O:
the service layer loads segments, asks these rules, and writes the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from shared.domain import errors
from shared.domain.stages import Stage

# A job clocked beyond this multiple of its standard (sold) hours is flagged.
OVERRUN_FACTOR = 2.0
DEFAULT_SHIFT_END = time(18, 0)

# Why a segment ended.
END_PAUSE = "pause"
END_FINISH = "finish"
END_REASSIGNED = "reassigned"
END_SHIFT = "shift_end"
END_STOPPED = "stopped"

FLAG_SHIFT_END = "left running at shift end"
FLAG_OVERRUN = "over 2x standard labour hours"


class ClockConflict(errors.DomainError):
    """A technician already has a clock running on another order."""

    code = "clock_conflict"
    status = 409


class ClockNotAllowed(errors.DomainError):
    """A clock on an order that is not being worked by this technician (not
    dispatched to them, or paused for parts or approval)."""

    code = "clock_not_allowed"
    status = 409


@dataclass(frozen=True)
class Segment:
    """One stretch of clocked work; ``ended_at`` is None while it runs."""

    order_id: int
    technician_id: int
    started_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None
    flagged: bool = False
    flag_reason: str = ""
    id: int | None = None

    @property
    def running(self) -> bool:
        return self.ended_at is None

    def hours(self, now: datetime) -> float:
        """Clocked hours; a running segment counts up to ``now``."""
        end = self.ended_at or now
        return max(0.0, (end - self.started_at).total_seconds() / 3600)


@dataclass(frozen=True)
class ClockPlan:
    """What a stage change does to the clock: technicians whose clock opens
    on this order, and the end reason for the order's running segments
    (None: leave them running)."""

    open_for: tuple[int, ...] = ()
    close_reason: str | None = None


def end_reason_for(to: Stage) -> str:
    if to == Stage.PAUSED:
        return END_PAUSE
    if to == Stage.QUALITY_CHECK:
        return END_FINISH
    return END_STOPPED


def check_can_clock(
    *,
    technician_id: int,
    stage: Stage,
    technicians: Sequence[int],
    running: Iterable[Segment],
    order_id: int,
) -> None:
    """Refuse a clock that would not be true work: the order must be in
    progress and dispatched to this technician, and the technician must have
    no clock running elsewhere (one active clock per technician)."""
    if technician_id not in technicians:
        raise ClockNotAllowed("This order is not dispatched to you; no clock can run on it.")
    if stage != Stage.IN_PROGRESS:
        raise ClockNotAllowed(f"The order is {stage.value}; the clock runs only while in progress.")
    for segment in running:
        if segment.technician_id == technician_id and segment.order_id != order_id:
            raise ClockConflict(
                f"Your clock is running on order {segment.order_id}; pause or finish it first.",
                running_order_id=segment.order_id,
            )


def plan_stage_change(
    *,
    before: Stage,
    after: Stage,
    technicians: Sequence[int],
    actor_id: int | None,
    running: Sequence[Segment],
    order_id: int,
) -> ClockPlan:
    """The clock moves of one stage change.

    Entering in_progress opens one clock: the acting technician's own, when
    an assigned technician taps it (refused if theirs runs elsewhere). Nobody
    else's move opens a clock (a foreman's start or resume, a customer's
    decision, an integration): a clock is true only when the technician
    chose it, so the others clock on themselves (or the foreman does it for
    them, as an explicit act of its own). Leaving in_progress closes every
    segment running on the order: a paused order (parts, approval or other)
    never has a clock.
    """
    if before == Stage.IN_PROGRESS and after != Stage.IN_PROGRESS:
        return ClockPlan(close_reason=end_reason_for(after))
    if after != Stage.IN_PROGRESS or before == Stage.IN_PROGRESS:
        return ClockPlan()
    if actor_id is None or actor_id not in technicians:
        return ClockPlan()
    check_can_clock(
        technician_id=actor_id,
        stage=after,
        technicians=technicians,
        running=running,
        order_id=order_id,
    )
    already = {s.technician_id for s in running if s.order_id == order_id}
    return ClockPlan(open_for=() if actor_id in already else (actor_id,))


def removed_technicians(before: Sequence[int], after: Sequence[int]) -> tuple[int, ...]:
    """Technicians taken off an order by a reassignment: their clocks stop."""
    kept = set(after)
    return tuple(t for t in before if t not in kept)


def overrun(clocked_hours: float, standard_hours: float) -> bool:
    """Over 2× the sold hours. An order sold without hours cannot overrun."""
    return standard_hours > 0 and clocked_hours > OVERRUN_FACTOR * standard_hours


# ---------------------------------------------------------------- shift end


def shift_end_before(now: datetime, timezone: str, shift_end: time = DEFAULT_SHIFT_END) -> datetime:
    """The most recent shift end at or before ``now``, in the shop's time zone."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), shift_end, tzinfo=zone)
    if candidate > local:
        candidate -= timedelta(days=1)
    return candidate


def forgotten(segment: Segment, last_shift_end: datetime) -> bool:
    """A clock still running that was started before the last shift ended."""
    return segment.running and segment.started_at < last_shift_end


def flag(segment: Segment, reason: str) -> Segment:
    """The segment flagged for ``reason`` (once, however often it is asked)."""
    if reason in segment.flag_reason:
        return replace(segment, flagged=True)
    joined = "; ".join(r for r in (segment.flag_reason, reason) if r)[:200]
    return replace(segment, flagged=True, flag_reason=joined)


@dataclass(frozen=True)
class ShiftClosed:
    """Clocks left running past the shift's end, closed at that end and
    flagged for the foreman. Not an order event: a clock is no part of an
    order's state, so it moves no order's version; screens that show clocks
    (the foreman's console) hear of it and read their figures again."""

    type: ClassVar[str] = "shift_closed"
    shift_end: datetime
    clocks: tuple[Segment, ...]

    def data(self) -> dict[str, Any]:
        """The message screens get: which clocks closed, at which shift end."""
        return {
            "shift_end": self.shift_end.isoformat(),
            "clocks": [
                {"order_id": c.order_id, "technician_id": c.technician_id} for c in self.clocks
            ],
        }


@dataclass(frozen=True)
class ShiftSplit:
    """The shop's running clocks at one moment: those closing at the last
    shift end (already ended and flagged as they will be written) and those
    that keep running."""

    shift_end: datetime
    closing: tuple[Segment, ...]
    running: tuple[Segment, ...]

    def event(self) -> ShiftClosed | None:
        """The event of closing them; None when nothing was left running."""
        return ShiftClosed(self.shift_end, self.closing) if self.closing else None


def split_at_shift_end(running: Sequence[Segment], last_shift_end: datetime) -> ShiftSplit:
    """Which running clocks the last shift end closes, without closing any:
    a command plans with the clocks that keep running (yesterday's forgotten
    clock does not block today's), and a read shows the day as closing will
    leave it."""
    closing = tuple(
        replace(flag(s, FLAG_SHIFT_END), ended_at=last_shift_end, end_reason=END_SHIFT)
        for s in running
        if forgotten(s, last_shift_end)
    )
    keep = tuple(s for s in running if not forgotten(s, last_shift_end))
    return ShiftSplit(last_shift_end, closing, keep)


def parse_shift_end(raw: object) -> time:
    """The shop's ``shift_end`` setting (``"HH:MM"``), or the default."""
    if isinstance(raw, str):
        try:
            return time.fromisoformat(raw)
        except ValueError:
            return DEFAULT_SHIFT_END
    return DEFAULT_SHIFT_END


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class LabourException:
    """One line of the foreman's daily exception list."""

    kind: str  # shift_end | overrun
    order_id: int
    technician_ids: tuple[int, ...]
    detail: str
    clocked_hours: float = 0.0
    standard_hours: float = 0.0


def hours_by_order(segments: Iterable[Segment], now: datetime) -> dict[int, float]:
    totals: dict[int, float] = {}
    for segment in segments:
        totals[segment.order_id] = totals.get(segment.order_id, 0.0) + segment.hours(now)
    return totals


def exceptions(
    segments: Sequence[Segment], standard_hours: Mapping[int, float], now: datetime
) -> list[LabourException]:
    """The day's exceptions: clocks closed at shift end, and orders whose
    clocked hours exceed 2× their standard hours (running clocks count)."""
    found: list[LabourException] = []
    for segment in segments:
        if segment.end_reason == END_SHIFT:
            found.append(
                LabourException(
                    kind=END_SHIFT,
                    order_id=segment.order_id,
                    technician_ids=(segment.technician_id,),
                    detail=FLAG_SHIFT_END,
                    clocked_hours=round(segment.hours(now), 2),
                )
            )
    for order_id, clocked in sorted(hours_by_order(segments, now).items()):
        standard = standard_hours.get(order_id, 0.0)
        if overrun(clocked, standard):
            who = tuple(sorted({s.technician_id for s in segments if s.order_id == order_id}))
            found.append(
                LabourException(
                    kind="overrun",
                    order_id=order_id,
                    technician_ids=who,
                    detail=FLAG_OVERRUN,
                    clocked_hours=round(clocked, 2),
                    standard_hours=standard,
                )
            )
    return found


@dataclass(frozen=True)
class Efficiency:
    """Sold vs clocked hours of one technician (labour efficiency 工时效率)."""

    technician_id: int
    sold_hours: float
    clocked_hours: float

    @property
    def ratio(self) -> float | None:
        return round(self.sold_hours / self.clocked_hours, 2) if self.clocked_hours else None


def sold_vs_clocked(
    segments: Sequence[Segment], standard_hours: Mapping[int, float], now: datetime
) -> list[Efficiency]:
    """Per technician: hours clocked, and the order's sold hours shared among
    the technicians who clocked on it in proportion to their clocked time
    (two people on one 2 h job each sold 1 h if they clocked equally)."""
    per_order = hours_by_order(segments, now)
    clocked: dict[int, float] = {}
    sold: dict[int, float] = {}
    for segment in segments:
        hours = segment.hours(now)
        clocked[segment.technician_id] = clocked.get(segment.technician_id, 0.0) + hours
        total = per_order.get(segment.order_id, 0.0)
        share = hours / total if total else 0.0
        sold[segment.technician_id] = sold.get(segment.technician_id, 0.0) + share * (
            standard_hours.get(segment.order_id, 0.0)
        )
    return [
        Efficiency(technician_id=t, sold_hours=round(sold[t], 2), clocked_hours=round(c, 2))
        for t, c in sorted(clocked.items())
    ]


def business_day(at: datetime, timezone: str) -> date:
    return at.astimezone(ZoneInfo(timezone)).date()
