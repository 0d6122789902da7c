"""The shop-load engine: plan the rest of the day(s) the way a foreman would,
and read every honest time off that plan (ETA, at risk, late, the promise at
the desk, the lounge's wait).

A deterministic list schedule on the shop's calendar (``shop_calendar``):

1. Cars in progress continue first, on their assigned technicians who are
   present (a team splits the remaining minutes; each member works a share
   when free). A car in progress whose technicians are at work on other
   cars (``idle``: a failed check sent it back) waits for them as in 2.
2. Cars paused or dispatched to present technicians come next on their
   technicians, whichever can go on first: a paused car when it is expected
   back (``resume_at``), a dispatched car as soon as its technician is free
   (ties: the paused car, it stands on the lift). A technician whose car is
   not back when he is free takes other work meanwhile, whatever its length,
   and goes back to the paused car when he is through (the floor does not
   keep a technician idle for a part that is not there).
3. Every other car (checked in, or assigned only to technicians who are not
   here) is given out as the foreman does: each time a technician is free,
   the first car among those here by then in the foreman's order — cars
   already started first, then lounge-waiting before drop-off, VIP, earliest
   promise, check-in time, id — by the present technician who can start it
   first (among technicians of different hours, the one who finishes it
   first; ties by id).
4. The outlook: cars not here yet. Lounge customers go ahead of drop-offs,
   so a drop-off not yet started also waits for the lounge cars that come
   before its turn; and the foreman takes drop-offs by their promise, so a
   short job checked in later, promised earlier, goes ahead of it too. From
   the shop's past (``day_outlooks``): each of its last
   ``OUTLOOK_HISTORY_DAYS`` open days is a day today may be, its cars (lounge
   and drop-off) expected today at the same wall times with their hours;
   the shop is planned once for each such day and each order's forecast is
   the median of its forecasts. An expected drop-off gets the promise the
   desk would give it when it comes (the queue of drop-offs promised so far,
   its work, checks and buffer). A shop with no such past expects the next
   hour (``LOUNGE_OUTLOOK_MINUTES`` of working time) to bring the lounge
   cars the last hour brought: each comes again an hour after it did, with
   the same standard hours, queued after the lounge cars already here.
   Expected cars have no forecast of their own; they only hold technicians,
   and only until every car here has its place (later ones change nothing).
5. Cars in inspection or washing need no technician: their checks and wash
   are laid on the calendar from now.

What the shop's labour clock says (``labour_factor``, from its delivered
cars): the job factor (minutes worked over standard minutes, for cars that
had neither extra work nor rework) and the labour factor (all cars). A car
not yet started holds its technician for its hours times the job factor;
the surprises such cars bring on average (the rest of the labour factor:
extra work, rework) come back to the same technician after its job and its
checks' time (``SURPRISES_BACK_MINUTES``), when he goes back to them as to a
paused car of his. So the cars behind it wait for them, on average, and not
sooner than they come. Its own ETA stays its start plus its standard hours
(most cars bring none; the ETA is the likeliest time, the promise adds the
buffer).

A car being worked has left what the shop's jobs (``job_ratios``) that had
needed more than its work so far still needed, their median: a car past its
hours is not nearly done because its hours are up.

Repair ends when the last share ends; the ETA is that end plus the checks and
wash still to come, in working minutes. When no technician at all is present
(none known yet, or everyone off), each car is planned as if a technician of
shop hours were free for it alone: no queue is known, so the ETA is the
earliest the work itself allows.

Pure: ``now`` comes in; the same input gives the same plan whatever its order.
"""

from __future__ import annotations

import heapq
import itertools
import math
from bisect import bisect_right, insort
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from shared.domain import errors, stages
from shared.domain.eta import (
    AT_RISK_MINUTES,
    MINIMUM_REMAINING_SHARE,
    MINUTES_PER_CHECK,
    RECEPTION_BUFFER_MINUTES,
    WASH_MINUTES,
)
from shared.domain.events import Event, StageChanged
from shared.domain.holds import PauseItem
from shared.domain.shop_calendar import (
    MICROSECONDS_PER_MINUTE,
    NoWorkingTime,
    ShopCalendar,
    WorkingTime,
    from_microseconds,
    minutes_to_microseconds,
    to_microseconds,
)
from shared.domain.stages import CHECK_CHAIN, PauseReason, Stage

if TYPE_CHECKING:
    from shared.domain.order import OrderState

# After a failed check the car is back in repair with real work to redo:
# at least this share of its standard hours is assumed to remain.
REWORK_MINIMUM_SHARE = 0.25
# Stages the engine plans: those in which the promise runs (ready, delivered,
# cancelled and booked cars are skipped).
PLANNED_STAGES: frozenset[Stage] = frozenset(stages.PROMISE_RUNNING_STAGES)
# Stages with repair work still to do on a technician's time: the ones the
# foreman may (re)assign.
REPAIR_STAGES: frozenset[Stage] = frozenset(stages.ASSIGNABLE_STAGES)
STARTED_STAGES: frozenset[Stage] = frozenset({Stage.IN_PROGRESS, Stage.PAUSED})
# Repair not begun: all of the car's surprises (extra work, rework) are ahead.
NOT_STARTED_STAGES: frozenset[Stage] = frozenset({Stage.CHECKED_IN, Stage.DISPATCHED})
# The labour factor the engine accepts, and what it learns it from: the
# shop's delivered orders of the last LABOUR_HISTORY_DAYS, at least
# LABOUR_HISTORY_MINIMUM of them (fewer: 1, the standard hours as booked).
MIN_LABOUR_FACTOR = 0.5
MAX_LABOUR_FACTOR = 3.0
LABOUR_HISTORY_DAYS = 28
LABOUR_HISTORY_MINIMUM = 30
# The expected surprises of a car not yet started (extra work, rework; the
# labour factor over the job factor) come back to its technician this many
# working minutes after its job: its checks' time.
SURPRISES_BACK_MINUTES = float(MINUTES_PER_CHECK * len(CHECK_CHAIN))
SURPRISES_BACK = minutes_to_microseconds(SURPRISES_BACK_MINUTES)
# The outlook from history: the days today may be are the last this-many open days.
OUTLOOK_HISTORY_DAYS = 5
# A promise is a quarter-hour time.
PROMISE_STEP_MINUTES = 15
# The largest job a promise is asked for (a desk typo must not plan years ahead).
MAX_PROMISE_HOURS = 1000.0
# The lounge's range around the planned start: a fixed spread, more per car
# ahead (each car's own job can run long), and a share of the wait itself.
# The range is [start − spread/2, start + spread] (late is likelier than
# early), low rounded down and high rounded up to 5 minutes, low never below 0.
LOUNGE_SPREAD_MINUTES = 10
LOUNGE_SPREAD_PER_CAR = 5
LOUNGE_SPREAD_SHARE = 0.2
LOUNGE_STEP_MINUTES = 5
# The screen shows minutes only under the cap; a cap has at most three digits.
MAX_LOUNGE_CAP = 999
# The job a lounge car is assumed to bring when its hours are not known yet.
LOUNGE_DEFAULT_HOURS = 1.0
# The lounge outlook (rule 4): the next this-many working minutes are expected
# to bring the lounge cars the last as many brought.
LOUNGE_OUTLOOK_MINUTES = 60.0


@dataclass(frozen=True)
class PlanOrder:
    """What the engine needs of one active order (``plan_order`` derives it)."""

    id: int
    number: int
    stage: Stage
    created_at: datetime
    priority: str = "normal"  # normal | vip
    waiting: bool = False  # the customer waits in the lounge
    promised_at: datetime | None = None
    technicians: tuple[int, ...] = ()
    bay: str | None = None
    remaining_minutes: float = 0.0  # repair labour left
    after_repair_minutes: float = 0.0  # inspections and wash left
    resume_at: datetime | None = None  # a paused car cannot continue before this
    # The whole job's standard labour, done or not (None: ``remaining_minutes``):
    # what a car like it brings, for the lounge outlook.
    labour_minutes: float | None = None
    # In progress, but its technicians are at work on other cars (a failed
    # check sent it back while they were): it waits for them.
    idle: bool = False

    def __post_init__(self) -> None:
        for name in ("remaining_minutes", "after_repair_minutes", "labour_minutes"):
            value = getattr(self, name)
            if value is None:
                continue
            if not (math.isfinite(value) and value >= 0):
                raise errors.ValidationFailed(name, f"{name} must be a number of minutes >= 0.")

    @property
    def standard_minutes(self) -> float:
        """The whole job's standard labour (``remaining_minutes`` when unknown)."""
        return self.remaining_minutes if self.labour_minutes is None else self.labour_minutes


@dataclass(frozen=True)
class Technician:
    """A technician the plan may give work to. ``shift`` is their own hours
    on open days (None: the shop's hours; an end not after the start runs to
    23:59); a technician not ``present`` gets no work in this plan."""

    id: int
    shift: tuple[time, time] | None = None
    present: bool = True


@dataclass(frozen=True)
class Forecast:
    """One order's times in the plan. ``starts_at``: when its (remaining)
    repair work starts — for a car in progress, when it continues; None for
    cars past repair. ``technicians``: who the plan has doing it."""

    order_id: int
    starts_at: datetime | None
    eta: datetime
    at_risk: bool
    late: bool
    technicians: tuple[int, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The shop's plan at ``now``: each planned order's forecast, and when
    each present technician is next free after all the planned work (the
    lounge cars the outlook expects included).
    ``technicians`` and ``margin_minutes`` are what it was planned with, so
    that a promise can re-plan with a new car."""

    now: datetime
    forecasts: dict[int, Forecast]
    free_at: dict[int, datetime]
    technicians: tuple[Technician, ...] = ()
    margin_minutes: float = AT_RISK_MINUTES
    labour_factor: float = 1.0
    outlook: tuple[PlanOrder, ...] | None = None
    job_factor: float | None = None
    outlooks: tuple[tuple[PlanOrder, ...], ...] | None = None


@dataclass(frozen=True)
class Promise:
    """The earliest honest completion for a new order (``promise``)."""

    promised_at: datetime
    starts_at: datetime
    queue_minutes: int


@dataclass(frozen=True)
class LoungeWait:
    """What the lounge tells a car checking in now. ``after`` is set when
    the range passes the shop's cap: the screen then says "today after
    HH:MM" or "tomorrow" instead of the minutes."""

    cars_ahead: int
    low_minutes: int
    high_minutes: int
    after: datetime | None


# ---------------------------------------------------------------- from the domain


def plan_order(
    order_id: int,
    state: OrderState,
    now: datetime,
    *,
    parts_default_minutes: float = 120,
    approval_default_minutes: float = 60,
    calendar: ShopCalendar | None = None,
    stretches: Iterable[tuple[datetime, datetime]] = (),
    idle: bool = False,
    ratios: Sequence[float] = (),
) -> PlanOrder:
    """The engine's view of one order at ``now``.

    Remaining repair = standard minutes (items and approved quotes: pending
    quotes are not work yet) − minutes worked − the running stretch when in
    progress, never below ``MINIMUM_REMAINING_SHARE`` of the standard while
    in repair, nor below ``REWORK_MINIMUM_SHARE`` after a failed check.
    A paused car resumes when its last open reason is expected to end: a
    part at its expected arrival (``parts_default_minutes`` from now when
    unknown, or when overdue), an approval ``approval_default_minutes`` from
    now, any other reason now.

    With the shop's ``calendar``, the running stretch (and a wash under
    way) counts the shop's working minutes only: a car left in progress over
    lunch or the night was not worked then. Without it, the clock's minutes
    (the old reading, kept for callers that have no calendar).

    ``stretches``: the order's earlier stretches in progress, closed, as
    its log has them (``in_progress_stretches``). The state's
    ``worked_minutes`` counts them on the clock; with the calendar, the
    closed time inside them (lunch, nights, closed days) is taken off
    again, so earlier stretches count working minutes like the running one.
    A stretch the log does not give stays as the state counts it.

    ``idle``: the car is in progress but its technicians are at work on
    other cars (their labour clocks say so): its running stretch is not
    work on it, and it waits for them like a paused car that is back.

    ``ratios``: the shop's jobs as its labour clock saw them (``job_ratios``:
    minutes worked over standard minutes, sorted). With them, a car that has
    been worked (and not reworked) has left the median of what the shop's
    jobs that had needed more than that still needed: a car past its hours
    is not nearly done because its hours are up, and a job half done in
    half its hours is likelier the usual length than a long one."""
    stage = state.stage
    remaining = 0.0
    after = 0.0
    resume_at: datetime | None = None
    checks = float(MINUTES_PER_CHECK * len(CHECK_CHAIN))
    wash = float(WASH_MINUTES) if state.wash else 0.0
    if stage in REPAIR_STAGES:
        total = state.total_labour_hours * 60
        running = 0.0
        if stage == Stage.IN_PROGRESS and state.stage_entered_at is not None and not idle:
            running = _elapsed(state.stage_entered_at, now, calendar)
        floor = total * MINIMUM_REMAINING_SHARE
        if state.rework_count > 0 and stage != Stage.CHECKED_IN:
            floor = max(floor, total * REWORK_MINIMUM_SHARE)
        worked = state.worked_minutes
        if calendar is not None:
            worked = max(0.0, worked - _closed_minutes(stretches, calendar))
        remaining = max(total - worked - running, floor, 0.0)
        if ratios and state.rework_count == 0 and total > 0 and worked + running > 0:
            # What cars like it still needed once worked this long.
            remaining = max(_left_after(ratios, (worked + running) / total) * total, floor)
        after = checks + wash
        if stage == Stage.PAUSED:
            resume_at = _resume_at(
                state.pause_reasons, now, parts_default_minutes, approval_default_minutes
            )
    elif stage == Stage.QUALITY_CHECK:
        level = state.check_level
        left = len(CHECK_CHAIN) - CHECK_CHAIN.index(level) if level else 0
        after = float(MINUTES_PER_CHECK * left) + wash
    elif stage == Stage.WASHING:
        washed = _elapsed(state.stage_entered_at or now, now, calendar)
        after = max(0.0, WASH_MINUTES - washed)
    return PlanOrder(
        id=order_id,
        number=state.number,
        stage=stage,
        created_at=state.created_at,
        priority=state.priority,
        waiting=state.waiting,
        promised_at=state.promised_at,
        technicians=tuple(state.technicians),
        bay=state.bay,
        remaining_minutes=remaining,
        after_repair_minutes=after,
        resume_at=resume_at,
        labour_minutes=state.total_labour_hours * 60,
        idle=idle and stage == Stage.IN_PROGRESS,
    )


def in_progress_stretches(events: Iterable[Event]) -> tuple[tuple[datetime, datetime], ...]:
    """The order's closed stretches in progress, read off its events in log
    order the way the fold counts ``worked_minutes``: each from the stage
    change into ``in_progress`` to the next stage change. The stretch
    still running is not among them (``plan_order`` counts it from the
    state's ``stage_entered_at``)."""
    found: list[tuple[datetime, datetime]] = []
    since: datetime | None = None
    for event in events:
        if not isinstance(event, StageChanged):
            continue
        if since is not None:
            found.append((since, event.at))
        since = event.at if event.to_stage == Stage.IN_PROGRESS else None
    return tuple(found)


def _left_after(ratios: Sequence[float], done: float) -> float:
    """The median share of its standard hours a job still needs once
    ``done`` of them are worked, among the shop's jobs (``ratios``: minutes
    worked over standard minutes, sorted) that needed more than that; the
    floor's share when none did."""
    first = bisect_right(ratios, done)
    longer = len(ratios) - first
    if longer <= 0:
        return MINIMUM_REMAINING_SHARE
    middle = first + (longer - 1) // 2
    return ratios[middle] - done


def _closed_minutes(
    stretches: Iterable[tuple[datetime, datetime]], calendar: ShopCalendar
) -> float:
    """The minutes of the clock inside ``stretches`` that are not the shop's
    working time (nobody works through lunch or the night)."""
    closed = 0.0
    for start, end in stretches:
        if end > start:
            wall = (end - start).total_seconds() / 60
            closed += max(0.0, wall - calendar.working_minutes(start, end))
    return closed


def _elapsed(since: datetime, now: datetime, calendar: ShopCalendar | None) -> float:
    """Minutes of work done in the stage's running stretch: the shop's
    working minutes when its calendar is known (nobody taps pause for lunch
    or the night, and nobody works through them), else the clock's."""
    if calendar is not None:
        return calendar.working_minutes(since, now)
    return max(0.0, (now - since).total_seconds() / 60)


def _resume_at(
    reasons: Sequence[PauseItem], now: datetime, parts_default: float, approval_default: float
) -> datetime:
    """The latest expected end among the open reasons, never before ``now``."""
    latest = now
    for reason in reasons:
        if reason.reason == PauseReason.PARTS:
            if reason.expected_at is not None and reason.expected_at > now:
                end = reason.expected_at
            else:
                end = now + timedelta(minutes=parts_default)
        elif reason.reason == PauseReason.APPROVAL:
            end = now + timedelta(minutes=approval_default)
        else:
            end = now
        latest = max(latest, end)
    return latest


# ---------------------------------------------------------------- the schedule


class _Clock:
    """Working time (``WorkingTime``) on the days it was last asked about,
    their stretches kept in one list: the planner asks about the same few
    days thousands of times, and then no calendar day is looked up."""

    __slots__ = (
        "_days",
        "_ends",
        "_high",
        "_low",
        "_midnights",
        "_offsets",
        "_starts",
        "_stretch",
        "time",
        "zone",
    )

    def __init__(self, working: WorkingTime, zone: ZoneInfo) -> None:
        self.time = working
        self.zone = zone
        self._low = self._high = 0  # the days kept: [local midnight, local midnight)
        self._days: list[int] = []  # their ordinals
        self._midnights: list[int] = []  # where each begins
        self._offsets: list[int | None] = []  # each day's UTC offset (None: it changes)
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._stretch = (0, 0)  # the working stretch last found: [start, end)

    def _midnight(self, ordinal: int) -> int:
        return to_microseconds(datetime.combine(date.fromordinal(ordinal), time(0), self.zone))

    def _keep(self, ordinal: int) -> None:
        """Keep one more day, the one after the last kept (or ``ordinal``, anew)."""
        if not self._days or ordinal != self._days[-1] + 1:
            self._days, self._midnights, self._offsets = [], [], []
            self._starts, self._ends = [], []
            self._low = self._midnight(ordinal)
        start = self._low if not self._days else self._high
        self._high = self._midnight(ordinal + 1)
        naive = (ordinal - _EPOCH_ORDINAL) * _MICROSECONDS_PER_DAY
        offsets = {naive - start, naive + _MICROSECONDS_PER_DAY - self._high}
        self._days.append(ordinal)
        self._midnights.append(start)
        self._offsets.append(offsets.pop() if len(offsets) == 1 else None)
        for span_start, span_end in self.time.spans(ordinal):
            self._starts.append(span_start)
            self._ends.append(span_end)

    def _cover(self, at: int) -> None:
        if self._low <= at < self._high:
            return
        if self._days and self._high <= at < self._high + 2 * _MICROSECONDS_PER_DAY:
            while at >= self._high:
                self._keep(self._days[-1] + 1)
            return
        self._keep(self.time.day_of(at))

    def open(self, at: int) -> int:
        """``WorkingTime.next_open``."""
        low, high = self._stretch
        if low <= at < high:
            return at
        self._cover(at)
        index = bisect_right(self._starts, at) - 1
        if index < 0 or at >= self._ends[index]:
            index += 1
            if index >= len(self._starts):
                return self.time.next_open(at)  # past the days kept: rare
            at = self._starts[index]
        self._stretch = (self._starts[index], self._ends[index])
        return at

    def add(self, at: int, amount: int) -> int:
        """``WorkingTime.add``."""
        low, high = self._stretch
        if amount > 0 and low <= at < high and at + amount <= high:
            return at + amount
        begin = self.open(at)
        if amount <= 0:
            return begin
        self._cover(begin)
        index = bisect_right(self._starts, begin) - 1
        while index < len(self._starts):
            available = self._ends[index] - begin
            if amount <= available:
                return begin + amount
            amount -= available
            index += 1
            if index < len(self._starts):
                begin = self._starts[index]
        return self.time.add(self._high, amount)  # past the days kept: rare

    def round_up(self, at: int, step_minutes: int) -> int:
        """Up to the next ``step_minutes`` of the shop's wall clock."""
        self._cover(at)
        shift: int | None = None
        if self._low <= at < self._high:
            shift = self._offsets[bisect_right(self._midnights, at) - 1]
        if shift is None:  # the clocks change that day
            offset = from_microseconds(at, self.zone).utcoffset() or timedelta()
            shift = offset // timedelta(microseconds=1)
        step = step_minutes * MICROSECONDS_PER_MINUTE
        return -(-(at + shift) // step) * step - shift

    def back(self, at: int, amount: int) -> int:
        """The moment ``amount`` of working time before ``at`` (never before
        the working time of the day before ``at``'s: a floor, not an error)."""
        day = self.time.day_of(at)
        for ordinal in (day, day - 1):
            for start, end in reversed(self.time.spans(ordinal)):
                if start >= at:
                    continue
                high = min(end, at)
                if high - start >= amount:
                    return high - amount
                amount -= high - start
                at = start
        return at


_MICROSECONDS_PER_DAY = 24 * 60 * MICROSECONDS_PER_MINUTE
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class _Lane:
    """One present technician's timeline: busy blocks of work, in order, and
    his own paused cars that are not back yet (``waiting``: he takes other
    work meanwhile and goes back to each when he is free after it is back)."""

    __slots__ = ("_idle", "add", "blocks", "clock", "id", "key", "open", "time", "waiting")

    def __init__(self, technician_id: int, working: WorkingTime, zone: ZoneInfo, now: int) -> None:
        self.id = technician_id
        self.time = working
        self.clock = _Clock(working, zone)
        # ``WorkingTime.next_open`` and ``add`` on this technician's hours.
        self.open = self.clock.open
        self.add = self.clock.add
        self.blocks: list[tuple[int, int]] = []
        self._idle = (0, now)  # blocks[:i] leave no working time free from now to at
        self.key = self.open(now)  # no start on this lane is earlier
        # (back at, rank, paused car or None for surprises, minutes of work), a heap
        self.waiting: list[tuple[int, int, _Job | None, int]] = []

    def fit(self, release: int, amount: int) -> tuple[int, int]:
        """The earliest (start, end) of ``amount`` of work released at ``release``,
        in a gap between blocks or after the last."""
        index, at = self._idle
        if release > at:
            # Blocks are apart and in order: skip those ended by the release.
            index, at = max(0, bisect_right(self.blocks, (release,)) - 1), release
        blocks = self.blocks
        for position in range(index, len(blocks)):
            block_start, block_end = blocks[position]
            if block_end <= at:
                continue
            if at < block_start:
                start = self.open(at)
                if start < block_start:
                    end = self.add(start, amount)
                    if end <= block_start:
                        return start, end
            at = block_end
        start = self.open(at)
        return start, self.add(start, amount)

    def fit_after_own(self, release: int, amount: int, now: int) -> tuple[int, int]:
        """``fit``, once the technician has gone back to every paused car of
        his that is back by the moment he could start (it goes first)."""
        while True:
            start, end = self.fit(release, amount)
            if not self.waiting or self.waiting[0][0] > start:
                return start, end
            self.go_back(now)

    def go_back(self, now: int) -> None:
        """Plan the first of his paused cars, or expected surprises, to come
        back; surprises back by the time he starts on them are done in one
        go."""
        back, _, job, amount = heapq.heappop(self.waiting)
        start, end = self.fit(back, amount)
        if job is None:
            while self.waiting and self.waiting[0][2] is None and self.waiting[0][0] <= start:
                amount += heapq.heappop(self.waiting)[3]
                start, end = self.fit(back, amount)
        self.take(start, end, now)
        if job is not None:
            job.starts, job.repair_end, job.technicians = start, end, (self.id,)

    def take(self, start: int, end: int, now: int) -> None:
        blocks = self.blocks
        if end > start:
            if blocks and blocks[-1][1] == start:
                # Straight after his last block: one block (fewer to scan).
                blocks[-1] = (blocks[-1][0], end)
                index, at = self._idle
                if index == len(blocks) and at == start:
                    self._idle = (index, end)
            else:
                insort(blocks, (start, end))
        self.key = self._first_idle(now)

    def _first_idle(self, now: int) -> int:
        """The first free working moment from ``now``. The blocks before the
        first gap found stay gap-free as blocks are added (a block only
        ever goes into free working time), so the scan resumes there."""
        index, at = self._idle
        blocks = self.blocks
        while index < len(blocks):
            block_start, block_end = blocks[index]
            if at < block_start:
                opening = self.open(at)
                if opening < block_start:
                    self._idle = (index, at)
                    return opening
            at = max(at, block_end)
            index += 1
        self._idle = (index, at)
        return self.open(at)

    def free_at(self, now: int) -> int:
        last = self.blocks[-1][1] if self.blocks else now
        return self.open(max(last, now))


# The foreman's order: (not waiting, expected, not VIP, no promise, promise, check-in, id).
_ForemanKey = tuple[bool, bool, bool, bool, int, int, int]


@dataclass(slots=True)
class _Job:
    order: PlanOrder
    release: int
    amount: int
    promised: int | None
    created: int
    starts: int | None = None
    repair_end: int = 0
    technicians: tuple[int, ...] = ()
    expected: bool = False  # a lounge car of the outlook, not one that is here
    own_amount: int = -1  # its own hours, before the labour factor (-1: ``amount``)
    # The surprises it is expected to bring (extra work, rework): they come
    # back to its technician after its job (``SURPRISES_BACK_MINUTES``).
    surprises: int = 0

    def __post_init__(self) -> None:
        if self.own_amount < 0:
            self.own_amount = self.amount

    def foreman_key(self) -> _ForemanKey:
        """Lounge-waiting first (those here before those expected), then
        VIP, earliest promise, check-in time, id."""
        order = self.order
        return (
            not order.waiting,
            self.expected and order.waiting,
            order.priority != "vip",
            self.promised is None,
            self.promised or 0,
            self.created,
            order.id,
        )

    def pool_key(self) -> tuple[bool, _ForemanKey]:
        """Cars already started first, then the foreman's order."""
        return (self.order.stage not in STARTED_STAGES, self.foreman_key())


def _pool_keys(pool: list[_Job]) -> list[tuple[int, tuple[bool, _ForemanKey], int]]:
    """(release, pool key, index) of each job, in the order they come."""
    return sorted((job.release, job.pool_key(), index) for index, job in enumerate(pool))


def plan(
    now: datetime,
    calendar: ShopCalendar,
    orders: Sequence[PlanOrder],
    technicians: Sequence[Technician],
    *,
    margin_minutes: float = AT_RISK_MINUTES,
    lounge_outlook_minutes: float = LOUNGE_OUTLOOK_MINUTES,
    labour_factor: float = 1.0,
    outlook: Sequence[PlanOrder] | None = None,
    job_factor: float | None = None,
    outlooks: Sequence[Sequence[PlanOrder]] | None = None,
) -> Plan:
    """Plan the active orders on the present technicians (see the module's rules).

    Ready, delivered, cancelled and booked orders are skipped. ``late``: the
    promise has passed or the ETA is after it; ``at_risk``: not late, and the
    ETA is within ``margin_minutes`` of the promise. ``lounge_outlook_minutes``:
    the last-hour outlook's window (0: none).

    ``labour_factor``: how much longer than their standard hours the shop's
    cars really take, extra work and rework included; ``job_factor``: the
    same for a job alone (None: the labour factor, all of it held at once).
    Both are read by ``labour_factor`` below from the shop's delivered
    orders. A car not yet started holds its technician for its hours times
    the job factor, and its share of surprises (the rest of the labour
    factor) comes back to him ``SURPRISES_BACK_MINUTES`` after its job.

    ``outlooks``: the days the shop may have today, each the cars expected
    later (``day_outlooks`` below, from its past days): the shop is planned
    once for each, and every order's forecast is the median one (by ETA,
    the lower of two middles). ``outlook``: a single such day (not with
    ``outlooks``). Neither: the last hour's lounge cars come again."""
    if outlooks is not None and outlook is not None:
        # A caller's mistake, never a person's input: not a refusal to translate.
        raise ValueError("Give outlook or outlooks, not both.")
    if not (math.isfinite(lounge_outlook_minutes) and lounge_outlook_minutes >= 0):
        raise errors.ValidationFailed(
            "lounge_outlook_minutes", "lounge_outlook_minutes must be a number of minutes >= 0."
        )
    if not (
        math.isfinite(labour_factor) and MIN_LABOUR_FACTOR <= labour_factor <= MAX_LABOUR_FACTOR
    ):
        raise errors.ValidationFailed(
            "labour_factor",
            f"labour_factor must be between {MIN_LABOUR_FACTOR:g} and {MAX_LABOUR_FACTOR:g}.",
        )
    alone = labour_factor if job_factor is None else job_factor
    if not (math.isfinite(alone) and MIN_LABOUR_FACTOR <= alone <= MAX_LABOUR_FACTOR):
        raise errors.ValidationFailed(
            "job_factor",
            f"job_factor must be between {MIN_LABOUR_FACTOR:g} and {MAX_LABOUR_FACTOR:g}.",
        )
    factors = _Factors(min(alone, labour_factor), labour_factor)
    _unique("orders", [o.id for o in orders])
    _unique("technicians", [t.id for t in technicians])
    planned = sorted((o for o in orders if o.stage in PLANNED_STAGES), key=lambda o: o.id)
    now_us = to_microseconds(now)
    days: tuple[tuple[PlanOrder, ...], ...] | None = None
    if outlooks is not None:
        # One plan for each day the shop may have; each order's forecast is
        # the median one by ETA (the lower of two middles; ties: the earlier
        # day given), each technician free at the median of his moments.
        days = tuple(day if isinstance(day, DayOutlook) else tuple(day) for day in outlooks)
        each = [
            _plan_times(now_us, calendar, planned, technicians, factors, day, 0.0)
            for day in days or ((),)
        ]
        middle = (len(each) - 1) // 2
        times = {
            order.id: sorted(
                (found[0][order.id][1], index, found[0][order.id])
                for index, found in enumerate(each)
            )[middle][2]
            for order in planned
        }
        free = {
            technician: sorted(found[1][technician] for found in each)[middle]
            for technician in each[0][1]
        }
    else:
        times, free = _plan_times(
            now_us,
            calendar,
            planned,
            technicians,
            factors,
            None if outlook is None else tuple(outlook),
            lounge_outlook_minutes,
        )
    margin = minutes_to_microseconds(margin_minutes)
    forecasts = {
        order.id: _forecast(order, *times[order.id], now_us, margin, calendar) for order in planned
    }
    return Plan(
        now=now,
        forecasts=forecasts,
        free_at={t: from_microseconds(at, calendar.zone) for t, at in sorted(free.items())},
        technicians=tuple(sorted(technicians, key=lambda t: t.id)),
        margin_minutes=margin_minutes,
        labour_factor=labour_factor,
        outlook=None if outlook is None else tuple(outlook),
        job_factor=factors.job,
        outlooks=days,
    )


# An order's times in one plan: (repair starts, ETA, technicians), in microseconds.
_Times = tuple[int | None, int, tuple[int, ...]]


def _plan_times(
    now: int,
    calendar: ShopCalendar,
    orders: list[PlanOrder],
    technicians: Sequence[Technician],
    factors: _Factors,
    outlook: tuple[PlanOrder, ...] | None,
    lounge_outlook_minutes: float,
) -> tuple[dict[int, _Times], dict[int, int]]:
    """One plan (the module's rules) with one outlook (None: the last-hour
    rule): each planned order's times, and when each present technician is
    next free."""
    shop = calendar.working_time()
    lanes = _lanes(calendar, technicians, now)
    jobs: list[_Job] = []
    times: dict[int, _Times] = {}
    for order in orders:
        if order.stage in REPAIR_STAGES:
            release = now
            if order.resume_at is not None:
                release = max(release, to_microseconds(order.resume_at))
            minutes = order.remaining_minutes
            job_minutes, surprises = minutes, 0.0
            if order.stage in NOT_STARTED_STAGES and minutes >= order.standard_minutes:
                job_minutes, surprises = factors.split(minutes)
            jobs.append(
                _Job(
                    order=order,
                    release=release,
                    own_amount=minutes_to_microseconds(minutes),
                    amount=minutes_to_microseconds(job_minutes),
                    promised=_us_or_none(order.promised_at),
                    created=to_microseconds(order.created_at),
                    surprises=minutes_to_microseconds(surprises),
                )
            )
        else:
            after = minutes_to_microseconds(order.after_repair_minutes)
            times[order.id] = (None, shop.add(now, after), ())
    expected: list[_Job] = []
    if not lanes:
        pass
    elif outlook is None:
        expected = _expected_lounge(orders, calendar, now, lounge_outlook_minutes, factors)
    else:
        if isinstance(outlook, DayOutlook):
            first = bisect_right(outlook.arrivals, now)
            expected = [
                _expected_job(car, factors, at)
                for car, at in zip(outlook[first:], outlook.arrivals[first:], strict=True)
            ]
        else:
            moment = from_microseconds(now, calendar.zone)
            expected = [_expected_job(o, factors) for o in outlook if o.created_at > moment]
        _promise_expected(expected, orders, shop, calendar, now, len(lanes))
    _schedule([*jobs, *expected], lanes, shop, now)
    for job in jobs:
        repair_end = job.repair_end
        if job.own_amount < job.amount and job.starts is not None and job.technicians:
            # The factor holds the technician for the car's expected share of
            # surprises (the cars behind it wait for them, on average), but
            # most cars bring none: its own ETA is its start plus its hours.
            own = -(-job.own_amount // len(job.technicians))
            repair_end = min(repair_end, shop.add(job.starts, own))
        after = minutes_to_microseconds(job.order.after_repair_minutes)
        eta = shop.add(repair_end, after) if after > 0 else repair_end
        times[job.order.id] = (job.starts, eta, job.technicians)
    free = {lane.id: lane.free_at(now) for lane in lanes.values()}
    return times, free


# ---------------------------------------------------------------- what the shop's past says


@dataclass(frozen=True)
class _Factors:
    """The shop's labour per standard minute: ``job`` for a job alone,
    ``labour`` with the extra work and rework its cars bring on average."""

    job: float
    labour: float

    def split(self, minutes: float) -> tuple[float, float]:
        """A car not yet started: its job's minutes as the shop's jobs run,
        and the surprises it is expected to bring later."""
        return minutes * self.job, minutes * (self.labour - self.job)


class DayOutlook(tuple[PlanOrder, ...]):
    """One day the shop may have (``day_outlooks``): its cars in the order
    they come, and when each comes in microseconds, read once for the
    many plans made with it."""

    arrivals: tuple[int, ...]

    def __new__(cls, cars: Iterable[PlanOrder]) -> DayOutlook:
        day = super().__new__(cls, sorted(cars, key=lambda car: car.created_at))
        day.arrivals = tuple(to_microseconds(car.created_at) for car in day)
        return day


@dataclass(frozen=True)
class PastCar:
    """A car the shop had (``day_outlooks``): when it checked in, its
    standard labour minutes, priority, and whether its customer waited in
    the lounge."""

    checked_in: datetime
    labour_minutes: float
    priority: str = "normal"
    waiting: bool = True


def job_ratios(done: Iterable[tuple[float, float]]) -> tuple[float, ...]:
    """Minutes worked over standard minutes booked of the shop's finished
    jobs (pass those with neither extra work nor rework), sorted, for
    ``plan_order``; none with fewer than ``LABOUR_HISTORY_MINIMUM``."""
    found = sorted(
        worked / booked
        for worked, booked in done
        if booked > 0 and math.isfinite(worked) and worked >= 0
    )
    return tuple(found) if len(found) >= LABOUR_HISTORY_MINIMUM else ()


def labour_factor(done: Iterable[tuple[float, float]]) -> float:
    """The shop's real labour per standard minute: over its delivered
    orders' (minutes worked, standard minutes booked at check-in), the sum
    of the first over the sum of the second — approved extra work and
    rework included, which is the point: a car not yet started will bring
    its share of them. 1 with fewer than ``LABOUR_HISTORY_MINIMUM`` orders
    (or none booked), and never outside the accepted range."""
    count = 0
    worked = booked = 0.0
    for minutes_worked, minutes_booked in done:
        if minutes_booked > 0 and math.isfinite(minutes_worked) and minutes_worked >= 0:
            count += 1
            worked += minutes_worked
            booked += minutes_booked
    if count < LABOUR_HISTORY_MINIMUM or booked <= 0:
        return 1.0
    return min(MAX_LABOUR_FACTOR, max(MIN_LABOUR_FACTOR, worked / booked))


def day_outlooks(
    today: date,
    calendar: ShopCalendar,
    past: Iterable[PastCar],
    *,
    days: int = OUTLOOK_HISTORY_DAYS,
) -> tuple[tuple[PlanOrder, ...], ...] | None:
    """The days ``today`` may be, read off the shop's last ``days`` open
    days before it: for each of them, every car that checked in that day
    (lounge and drop-off) expected today at the same wall time (if the shop
    is open then), with its standard minutes and priority. ``plan`` plans
    the shop once for each and takes the median forecasts: no day is
    averaged away (an average day is a smooth stream of small cars, which
    holds technicians in a way no real day does). A day before the earliest
    car in ``past`` is not one (the shop was not on the system yet); None
    when none of those days had a car (a new shop: the last-hour rule
    stands in). Read once a day: the past does not change."""
    zone = calendar.zone
    open_days: list[date] = []
    day = today - timedelta(days=1)
    for _ in range(days * 4 + 14):  # holidays in between
        if len(open_days) == days:
            break
        if calendar.is_open_day(day):
            open_days.append(day)
        day -= timedelta(days=1)
    shop = calendar.working_time()
    picked: dict[date, list[tuple[datetime, PastCar]]] = {d: [] for d in open_days}
    came_days: set[date] = set()
    earliest: date | None = None
    for car in past:
        came = car.checked_in.astimezone(zone)
        if earliest is None or came.date() < earliest:
            earliest = came.date()
        cars = picked.get(came.date())
        if cars is None:
            continue
        came_days.add(came.date())
        again = datetime.combine(today, came.time(), tzinfo=zone)
        moment = to_microseconds(again)
        if shop.next_open(moment) == moment:
            cars.append((again, car))
    if not came_days or earliest is None:
        return None
    # The days before the first car it shows are not days the shop had (it
    # came to the system after them), not days it had no car.
    return tuple(
        DayOutlook(
            PlanOrder(
                id=-(index + 1),
                number=0,
                stage=Stage.CHECKED_IN,
                created_at=at,
                priority=car.priority,
                waiting=car.waiting,
                remaining_minutes=car.labour_minutes,
            )
            for index, (at, car) in enumerate(
                sorted(
                    picked[d],
                    key=lambda pair: (pair[0], not pair[1].waiting, pair[1].labour_minutes),
                )
            )
        )
        for d in sorted(open_days)
        if d >= earliest
    )


def _unique(name: str, ids: list[int]) -> None:
    if len(set(ids)) != len(ids):
        raise errors.ValidationFailed(name, f"Two {name} share one id.")


def _us_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else to_microseconds(moment)


def _lanes(calendar: ShopCalendar, technicians: Sequence[Technician], now: int) -> dict[int, _Lane]:
    """A lane per present technician with working time (a shift that never
    meets the opening hours leaves the technician out, like an absent one)."""
    lanes: dict[int, _Lane] = {}
    for technician in sorted(technicians, key=lambda t: t.id):
        if not technician.present:
            continue
        try:
            lanes[technician.id] = _Lane(
                technician.id, calendar.working_time(technician.shift), calendar.zone, now
            )
        except NoWorkingTime:
            continue
    return lanes


def _expected_lounge(
    orders: Sequence[PlanOrder],
    calendar: ShopCalendar,
    now: int,
    outlook_minutes: float,
    factors: _Factors,
) -> list[_Job]:
    """The lounge outlook: each lounge car checked in during the last
    ``outlook_minutes`` of working time (any stage: it came) is expected to
    come again that much working time after it did, with the same standard
    hours and priority, and no promise yet. They queue after the lounge cars
    here and before every drop-off not yet given to a technician, as the
    foreman will take them when they come; nobody waits for them
    (``_in_turn``)."""
    window = minutes_to_microseconds(outlook_minutes)
    if window <= 0:
        return []
    shop = calendar.working_time()
    expected: list[_Job] = []
    for order in sorted(orders, key=lambda o: o.id):
        if not order.waiting or order.stage not in PLANNED_STAGES:
            continue
        checked_in = to_microseconds(order.created_at)
        if checked_in > now or shop.between(checked_in, now) >= window:
            continue
        arrival = shop.add(checked_in, window)
        twin = PlanOrder(
            id=order.id,
            number=order.number,
            stage=Stage.CHECKED_IN,
            created_at=from_microseconds(arrival, calendar.zone),
            priority=order.priority,
            waiting=True,
            remaining_minutes=order.standard_minutes,
        )
        expected.append(_expected_job(twin, factors))
    return expected


def _promise_expected(
    expected: list[_Job],
    orders: Sequence[PlanOrder],
    shop: WorkingTime,
    calendar: ShopCalendar,
    now: int,
    lanes: int,
) -> None:
    """Each expected drop-off gets the promise the desk would give it when it
    comes (``_desk_promise``), so that the foreman's order puts it ahead of
    the drop-offs here promised later, as he will. The queue a drop-off
    checked in then would wait for grows by each expected car's share of
    the technicians."""
    if all(job.order.waiting for job in expected):
        return
    clock = _Clock(shop, calendar.zone)
    queue = _drop_off_queue(orders, clock, now)
    for job in sorted(expected, key=lambda job: (job.release, job.order.id)):
        queue = clock.open(max(queue, job.release))
        if not job.order.waiting:
            job.promised = _desk_promise(queue, job.order.standard_minutes, clock, calendar)
        queue = clock.add(queue, job.amount // max(1, lanes))


# The desk's promise leaves the checks and its buffer after the work.
_DESK_MINUTES = MINUTES_PER_CHECK * len(CHECK_CHAIN) + RECEPTION_BUFFER_MINUTES


def _drop_off_queue(orders: Sequence[PlanOrder], clock: _Clock, now: int) -> int:
    """When a drop-off checked in now would start by the promises given so
    far (``promise`` ranks a new drop-off behind every one promised): the
    latest promise of a drop-off not yet started, less its work, checks and
    buffer; never before now."""
    queue = now
    for order in orders:
        if order.waiting or order.promised_at is None or order.stage not in NOT_STARTED_STAGES:
            continue
        own = minutes_to_microseconds(order.standard_minutes + _DESK_MINUTES)
        queue = max(queue, clock.back(to_microseconds(order.promised_at), own))
    return queue


def _desk_promise(start: int, minutes: float, clock: _Clock, calendar: ShopCalendar) -> int:
    """The promise of a drop-off of ``minutes`` of work that starts at ``start``."""
    done = clock.add(start, minutes_to_microseconds(minutes + _DESK_MINUTES))
    return clock.round_up(done, PROMISE_STEP_MINUTES)


def _expected_job(order: PlanOrder, factors: _Factors, arrival: int | None = None) -> _Job:
    """A car expected at ``order.created_at`` (``arrival``, when known): it
    holds a technician when it comes, and has no forecast of its own."""
    if arrival is None:
        arrival = to_microseconds(order.created_at)
    job_minutes, surprises = factors.split(order.remaining_minutes)
    return _Job(
        order=order,
        release=arrival,
        amount=minutes_to_microseconds(job_minutes),
        surprises=minutes_to_microseconds(surprises),
        promised=None,
        created=arrival,
        expected=True,
    )


def _schedule(jobs: list[_Job], lanes: dict[int, _Lane], shop: WorkingTime, now: int) -> None:
    """Give every repair job its start, end and technicians (the module's rules)."""
    if not lanes:
        for job in jobs:
            job.starts = shop.next_open(job.release)
            job.repair_end = shop.add(job.starts, job.amount)
        return
    own: list[tuple[_Job, list[_Lane]]] = []
    pool: list[_Job] = []
    for job in jobs:
        team = [lanes[t] for t in sorted(set(job.order.technicians)) if t in lanes]
        if job.order.stage == Stage.CHECKED_IN or not team:
            pool.append(job)
        else:
            own.append((job, team))
    own.sort(key=lambda pair: pair[0].foreman_key())
    ranks = itertools.count(len(own))
    for job, team in own:
        if job.order.stage == Stage.IN_PROGRESS and not job.order.idle:
            _run_team(job, team, now)
    waits = [pair for pair in own if pair[0].order.stage != Stage.IN_PROGRESS or pair[0].order.idle]
    _run_own_cars(waits, now, ranks)
    groups = _Groups(lanes.values())
    # Expected cars matter only while a car here waits for its place: once
    # every car here has one, and every paused car here is back before any
    # technician could start anything more, the cars still to come change
    # no forecast.
    here = sum(1 for job in pool if not job.expected)
    back = max(
        (at for lane in lanes.values() for at, _, job, _ in lane.waiting if job is not None),
        default=now,
    )
    for job in _in_turn(pool, groups):
        if here == 0 and groups.first_idle() >= back:
            break
        here -= not job.expected
        lane, start, end = groups.best(job.release, job.amount, now)
        lane.take(start, end, now)
        job.starts, job.repair_end, job.technicians = start, end, (lane.id,)
        _surprises_back(job, [lane], ranks)
        groups.settle(lane)
    for lane in sorted(lanes.values(), key=lambda lane: lane.id):
        while lane.waiting:
            lane.go_back(now)


def _surprises_back(job: _Job, team: list[_Lane], ranks: Iterator[int]) -> None:
    """The surprises a car not yet started is expected to bring come back
    to its technicians ``SURPRISES_BACK_MINUTES`` after its job (a quote
    decided, a failed check): each goes back to his share when he is free
    after that, as to a paused car of his."""
    if job.surprises <= 0:
        return
    share = -(-job.surprises // len(team))
    for lane in team:
        back = lane.add(job.repair_end, SURPRISES_BACK)
        heapq.heappush(lane.waiting, (back, next(ranks), None, share))


def _run_own_cars(own: list[tuple[_Job, list[_Lane]]], now: int, ranks: Iterator[int]) -> None:
    """Cars paused or dispatched on their technicians, after the work in
    progress: whichever can go on first goes first — a paused car when it is
    expected back, a dispatched one as soon as its technicians are free (a
    technician whose car waits starts the car he was given; the paused car
    then waits for him). Ties: the paused car (it stands on the lift), then
    the foreman's order. A technician's paused car that is not back when he
    is free waits in his lane (``_Lane.waiting``): he takes the next car
    meanwhile, whatever its length. A team's paused car keeps its place."""
    heap: list[tuple[int, int, int]] = []
    for rank, (job, team) in enumerate(own):
        heapq.heappush(heap, (_ready(job, team, now), _phase(job), rank))
    while heap:
        ready, phase, rank = heapq.heappop(heap)
        job, team = own[rank]
        ready_now = _ready(job, team, now)
        if ready_now > ready:  # its technicians took other work meanwhile
            heapq.heappush(heap, (ready_now, phase, rank))
            continue
        if len(team) == 1 and job.release > team[0].free_at(now):
            heapq.heappush(team[0].waiting, (job.release, rank, job, job.amount))
            continue
        _run_team(job, team, now)
        _surprises_back(job, team, ranks)


def _phase(job: _Job) -> int:
    """A paused car, or one in progress waiting for its technician, stands on
    the lift: on a tie it goes before a car only dispatched."""
    return 1 if job.order.stage == Stage.DISPATCHED else 0


def _ready(job: _Job, team: list[_Lane], now: int) -> int:
    """When the job could go on: its release, once one of its technicians
    is through with the work already planned for him."""
    return max(job.release, min(lane.free_at(now) for lane in team))


def _in_turn(pool: list[_Job], groups: _Groups) -> Iterator[_Job]:
    """The pool in the order the foreman gives it out: each time a
    technician is free, the first car in the foreman's order among those
    here by then (a car expected later does not hold up a technician who is
    free before it comes)."""
    # Lazy on purpose: each turn reads the technicians after the cars given before.
    coming = _pool_keys(pool)
    here: list[tuple[tuple[bool, _ForemanKey], int]] = []
    position = 0
    while position < len(coming) or here:
        free = groups.first_idle()
        if not here:
            free = max(free, coming[position][0])
        while position < len(coming) and coming[position][0] <= free:
            _, key, index = coming[position]
            heapq.heappush(here, (key, index))
            position += 1
        yield pool[heapq.heappop(here)[1]]


def _run_team(job: _Job, team: list[_Lane], now: int) -> None:
    """Each member works an equal share of the job when free; the job's
    repair ends when the last share does."""
    share = -(-job.amount // len(team))  # rounded up: never less than the whole
    starts: list[int] = []
    ends: list[int] = []
    for lane in team:
        start, end = lane.fit(job.release, share)
        lane.take(start, end, now)
        starts.append(start)
        ends.append(end)
    job.starts, job.repair_end = min(starts), max(ends)
    job.technicians = tuple(lane.id for lane in team)


class _Groups:
    """Present technicians grouped by their hours, each group a heap by the
    earliest moment a technician could start anything (a lower bound of any
    real start), so picking one looks at few technicians."""

    def __init__(self, lanes: Iterable[_Lane]) -> None:
        by_time: dict[int, list[tuple[int, int, _Lane]]] = {}
        order: list[int] = []
        for lane in sorted(lanes, key=lambda lane: lane.id):
            key = id(lane.time)
            if key not in by_time:
                by_time[key] = []
                order.append(key)
            by_time[key].append((lane.key, lane.id, lane))
        self.heaps = [by_time[key] for key in order]
        for heap in self.heaps:
            heapq.heapify(heap)
        self._home: dict[int, list[tuple[int, int, _Lane]]] = {
            lane_id: heap for heap in self.heaps for _, lane_id, _ in heap
        }

    def best(self, release: int, amount: int, now: int) -> tuple[_Lane, int, int]:
        """The technician who can start the job first within each group of
        equal hours (ties by id), and of those the one who ends it first. He
        is out of his group's heap until ``settle`` puts him back."""
        winner: tuple[int, int, int, _Lane] | None = None  # (end, start, id, lane)
        popped: list[tuple[list[tuple[int, int, _Lane]], _Lane]] = []
        for heap in self.heaps:
            found: tuple[int, int, int, _Lane] | None = None  # (start, id, end, lane)
            while heap and (found is None or (heap[0][0], heap[0][1]) < (found[0], found[1])):
                lane = heapq.heappop(heap)[2]
                popped.append((heap, lane))
                start, end = lane.fit_after_own(release, amount, now)
                if found is None or (start, lane.id) < (found[0], found[1]):
                    found = (start, lane.id, end, lane)
            if found is not None:
                candidate = (found[2], found[0], found[1], found[3])
                if winner is None or candidate[:3] < winner[:3]:
                    winner = candidate
        for heap, lane in popped:
            if winner is None or lane is not winner[3]:
                heapq.heappush(heap, (lane.key, lane.id, lane))
        if winner is None:
            raise NoWorkingTime("No technician can take work.")
        return winner[3], winner[1], winner[0]

    def first_idle(self) -> int:
        """A lower bound of the moment the first technician is free."""
        return min(heap[0][0] for heap in self.heaps if heap)

    def settle(self, lane: _Lane) -> None:
        """Put ``lane`` (the one ``best`` gave) back in its heap under its new key."""
        heapq.heappush(self._home[lane.id], (lane.key, lane.id, lane))


def _forecast(
    order: PlanOrder,
    starts: int | None,
    eta: int,
    technicians: tuple[int, ...],
    now: int,
    margin: int,
    calendar: ShopCalendar,
) -> Forecast:
    late = at_risk = False
    if order.promised_at is not None:
        promised = to_microseconds(order.promised_at)
        late = now > promised or eta > promised
        at_risk = not late and eta > promised - margin
    zone = calendar.zone
    return Forecast(
        order_id=order.id,
        starts_at=None if starts is None else from_microseconds(starts, zone),
        eta=from_microseconds(eta, zone),
        at_risk=at_risk,
        late=late,
        technicians=technicians,
    )


# ---------------------------------------------------------------- a new car


def _with_new_car(
    plan_: Plan,
    calendar: ShopCalendar,
    orders: Sequence[PlanOrder],
    labour_hours: float,
    waiting: bool,
) -> tuple[Plan, int]:
    """The plan again with a car checked in at ``plan_.now`` (not yet
    dispatched, so a lounge car goes ahead of the drop-offs not yet given
    to a technician; when drop-offs are expected to come, a drop-off ranks
    by the promise the desk gives a drop-off now, as they will); returns
    the new plan and the new car's id."""
    if not (math.isfinite(labour_hours) and 0 <= labour_hours <= MAX_PROMISE_HOURS):
        raise errors.ValidationFailed(
            "labour_hours", f"labour_hours must be between 0 and {MAX_PROMISE_HOURS:g}."
        )
    new_id = max((o.id for o in orders), default=0) + 1
    ranked: datetime | None = None
    expected = (*(plan_.outlook or ()), *(car for day in plan_.outlooks or () for car in day))
    if not waiting and any(not car.waiting for car in expected):
        # Drop-offs are expected to come and be promised: the new car ranks
        # among them by the promise the desk gives a drop-off now.
        clock = _Clock(calendar.working_time(), calendar.zone)
        now = clock.open(to_microseconds(plan_.now))
        start = _drop_off_queue(orders, clock, now)
        key = _desk_promise(start, labour_hours * 60, clock, calendar)
        ranked = from_microseconds(key, calendar.zone)
    car = PlanOrder(
        id=new_id,
        number=0,
        stage=Stage.CHECKED_IN,
        created_at=plan_.now,
        waiting=waiting,
        promised_at=ranked,
        remaining_minutes=labour_hours * 60,
        after_repair_minutes=float(MINUTES_PER_CHECK * len(CHECK_CHAIN)),
    )
    again = plan(
        plan_.now,
        calendar,
        [*orders, car],
        plan_.technicians,
        margin_minutes=plan_.margin_minutes,
        labour_factor=plan_.labour_factor,
        outlook=plan_.outlook,
        job_factor=plan_.job_factor,
        outlooks=plan_.outlooks,
    )
    return again, new_id


def promise(
    plan: Plan,
    calendar: ShopCalendar,
    orders: Sequence[PlanOrder],
    labour_hours: float,
    waiting: bool,
    *,
    buffer_minutes: float = RECEPTION_BUFFER_MINUTES,
) -> Promise:
    """The earliest honest completion of a new order of ``labour_hours``
    checked in at ``plan.now`` (its checks included; a wash is the buffer's).

    The car is planned with the others (a lounge car ahead of the drop-offs
    not yet given to a technician), then ``buffer_minutes`` of working time
    are added — but a buffer that would spill past that day's closing stops
    at the closing (the work itself is done that day) — and the time is
    rounded up to the quarter hour, never past the end of the working
    stretch it falls in (a shop closing at 17:50 promises 17:50). So the
    promise is never in closed time: past closing it is tomorrow's.
    ``queue_minutes``: working minutes from now until the work starts."""
    again, new_id = _with_new_car(plan, calendar, orders, labour_hours, waiting)
    forecast = again.forecasts[new_id]
    assert forecast.starts_at is not None  # a checked-in car always gets a start
    shop = calendar.working_time()
    done = to_microseconds(forecast.eta)
    buffered = (
        shop.add(done, minutes_to_microseconds(buffer_minutes)) if buffer_minutes > 0 else done
    )
    if shop.day_of(buffered) != shop.day_of(done):
        buffered = _day_close(shop, done)
    promised = _round_up(buffered, calendar, PROMISE_STEP_MINUTES)
    stretch_end = shop.stretch_end(buffered)
    if stretch_end is not None and promised > stretch_end:
        promised = stretch_end
    now = to_microseconds(plan.now)
    start = to_microseconds(forecast.starts_at)
    queue = shop.between(now, start)
    return Promise(
        promised_at=from_microseconds(promised, calendar.zone),
        starts_at=forecast.starts_at,
        queue_minutes=-(-queue // MICROSECONDS_PER_MINUTE),
    )


def _day_close(shop: WorkingTime, at: int) -> int:
    """The end of the last working stretch of ``at``'s day (``at`` when none is later)."""
    ends = [end for _, end in shop.spans(shop.day_of(at)) if end >= at]
    return max(ends, default=at)


def _round_up(at: int, calendar: ShopCalendar, step_minutes: int) -> int:
    """Up to the next ``step_minutes`` of the shop's wall clock."""
    local = from_microseconds(at, calendar.zone)
    offset = local.utcoffset() or timedelta()
    shift = offset // timedelta(microseconds=1)
    step = step_minutes * MICROSECONDS_PER_MINUTE
    return -(-(at + shift) // step) * step - shift


def lounge_wait(
    plan: Plan,
    calendar: ShopCalendar,
    orders: Sequence[PlanOrder],
    *,
    cap_minutes: int = 180,
    labour_hours: float = LOUNGE_DEFAULT_HOURS,
) -> LoungeWait:
    """How long a lounge car checking in now waits before work starts.

    ``cars_ahead``: cars not yet in work (checked in or dispatched) that the
    plan starts before it. The range is the planned start (wall minutes
    from now) widened as ``LOUNGE_SPREAD_*`` say. When the range's high end
    passes ``cap_minutes`` (at most 999), ``after`` is the planned start and
    the screen says "after HH:MM"/"tomorrow" instead of the minutes. The
    new car's own job is taken as ``labour_hours`` (it matters only for the
    gaps a paused car leaves, which a short job can fill)."""
    if not 0 < cap_minutes <= MAX_LOUNGE_CAP:
        raise errors.ValidationFailed(
            "cap_minutes", f"cap_minutes must be between 1 and {MAX_LOUNGE_CAP}."
        )
    again, new_id = _with_new_car(plan, calendar, orders, labour_hours, True)
    start_at = again.forecasts[new_id].starts_at
    assert start_at is not None  # a checked-in car always gets a start
    stages = {o.id: o.stage for o in orders}
    ahead = sum(
        1
        for order_id, forecast in again.forecasts.items()
        if stages.get(order_id) in (Stage.CHECKED_IN, Stage.DISPATCHED)
        and forecast.starts_at is not None
        and forecast.starts_at < start_at
    )
    wait = max(0.0, (start_at - plan.now).total_seconds() / 60)
    spread = LOUNGE_SPREAD_MINUTES + LOUNGE_SPREAD_PER_CAR * ahead + LOUNGE_SPREAD_SHARE * wait
    step = LOUNGE_STEP_MINUTES
    low = int(math.floor(max(0.0, wait - spread / 2) / step) * step)
    high = int(math.ceil((wait + spread) / step) * step)
    return LoungeWait(
        cars_ahead=ahead,
        low_minutes=low,
        high_minutes=high,
        after=start_at if high > cap_minutes else None,
    )
