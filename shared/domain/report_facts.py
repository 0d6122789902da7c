"""One order's report facts, from its event log and its labour clock.

The manager's figures (docs/REPORTS.md) are sums over orders, and every
order's part of them is decided here, from that order alone: its events (the
log is the truth) and its labour segments (clocks are not events). The
answer, ``OrderFacts``, says which local day each part belongs to (check-in,
ready, delivery, cancellation, the labour's day, each quote's day, each bay
day), so that a report of any range only adds facts up. The facts cache table
(``shared/persistence/report_models.py``) stores exactly these values and can
always be rebuilt from the log with this function.

Pure: no I/O and no clock reads; the shop's calendar, its zone and ``now``
(for an order still open: a car still on its bay occupies it until now) come
in as arguments. Events are read as stored records (type, time, data), so a
type this module does not know (added later) is skipped, and a field missing
from an older event reads as its default, as docs/EVENTS.md promises.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain.shop_calendar import ShopCalendar, to_microseconds
from shared.domain.stages import HOLDING_STAGES, Stage

# The stages whose dwell a report shows (booked is the appointment's lead
# time, not the shop's; delivered and cancelled are ends).
DWELL_STAGES: tuple[str, ...] = (
    Stage.CHECKED_IN.value,
    Stage.DISPATCHED.value,
    Stage.IN_PROGRESS.value,
    Stage.PAUSED.value,
    Stage.QUALITY_CHECK.value,
    Stage.WASHING.value,
    Stage.READY.value,
)
_HOLDING = frozenset(s.value for s in HOLDING_STAGES)
# The level of a check failed when a ready car is sent back to repair.
HANDOVER = "handover"
# The advisor's comeback mark (返修) on an order, of an earlier visit, and
# its withdrawal: a mark counts only while it stands.
COMEBACK_FLAGGED = "comeback_flagged"
COMEBACK_UNFLAGGED = "comeback_unflagged"
# Quote statuses, as the order's fold names them.
PENDING, APPROVED, DECLINED, EXPIRED = "pending", "approved", "declined", "expired"
QUOTE_STATUSES = (PENDING, APPROVED, DECLINED, EXPIRED)


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One stored order event as the reports read it."""

    type: str
    at: datetime
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ClockSpan:
    """One labour segment (``labour_segment``): who, from when, until when
    (None: still running)."""

    technician_id: int
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class TechLabour:
    """One technician's part of an order's labour: hours clocked, and the
    order's sold hours shared among its technicians by clocked time."""

    technician_id: int
    clocked_hours: float
    sold_hours: float


@dataclass(frozen=True, slots=True)
class BayDay:
    """Open (working) minutes one car stood on one bay on one local day."""

    bay: str
    day: date
    minutes: float


@dataclass(frozen=True, slots=True)
class QuoteFact:
    """One additional-work quote as it ended: its last version's price and
    hours, its status, the day it was first quoted and when it was decided
    (or expired). Its words are not facts: retention erases them, and the
    reports read them from the order when they match declined work with
    work sold later (``same_work``)."""

    quote_id: int
    day: date
    status: str
    price_cents: int
    labour_hours: float
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Comeback:
    """A standing comeback mark of this order (``comeback_flagged`` not
    withdrawn by a later ``comeback_unflagged``): the earlier order it came
    back for, and the day it was flagged."""

    of_order_id: int | None
    day: date
    days: int | None


@dataclass(frozen=True)
class OrderFacts:
    """Everything the reports add up about one order (docs/REPORTS.md)."""

    order_id: int
    version: int
    number: int = 0
    plate: str = ""
    advisor_id: int | None = None
    stage: str = Stage.CHECKED_IN.value
    checkin_at: datetime | None = None
    checkin_day: date | None = None
    dispatched_at: datetime | None = None
    ready_at: datetime | None = None
    ready_day: date | None = None
    delivered_at: datetime | None = None
    delivered_day: date | None = None
    cancelled_at: datetime | None = None
    cancelled_day: date | None = None
    promised_at: datetime | None = None
    last_promised_at: datetime | None = None
    ready_on_time: bool | None = None
    delivered_on_time: bool | None = None
    cycle_minutes: float | None = None
    reception_wait_minutes: float | None = None
    carried_over: bool = False
    dwell: Mapping[str, float] = field(default_factory=dict)
    sold_hours: float = 0.0
    sold_hours_clocked: float = 0.0
    clocked_hours: float = 0.0
    labour_day: date | None = None
    labour: tuple[TechLabour, ...] = ()
    bay_days: tuple[BayDay, ...] = ()
    quotes: tuple[QuoteFact, ...] = ()
    rework_count: int = 0
    reopened_count: int = 0
    first_time_fix: bool | None = None
    comebacks: tuple[Comeback, ...] = ()
    survey_rating: int | None = None

    @property
    def closed(self) -> bool:
        """Delivered or cancelled: nothing but a survey or a comeback flag can
        change its facts any more (no clock runs on it)."""
        return self.stage in (Stage.DELIVERED.value, Stage.CANCELLED.value)


_PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)


def work_text(text: str) -> str:
    """A work line's text for matching a declined quote with work sold later:
    NFKC, case-folded, without spaces and punctuation (更换 刹车片。 = 更换刹车片)."""
    return _PUNCTUATION.sub("", unicodedata.normalize("NFKC", text).casefold())


def same_work(declined: str, sold: str) -> bool:
    """The declined work was sold: one normalised text holds the other, and
    both have at least two characters (so "a" does not match everything)."""
    if len(declined) < 2 or len(sold) < 2:
        return False
    return declined in sold or sold in declined


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None


def _minutes(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 60)


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _open_minutes_by_day(
    calendar: ShopCalendar, start: datetime, end: datetime
) -> list[tuple[date, float]]:
    """Working minutes of [start, end) on the shop's calendar, per local day."""
    if end <= start:
        return []
    lane = calendar.working_time()
    low, high = to_microseconds(start), to_microseconds(end)
    out: list[tuple[date, float]] = []
    day = lane.day_of(low)
    last = lane.day_of(high)
    while day <= last:
        total = 0
        for span_start, span_end in lane.spans(day):
            a = span_start if span_start > low else low
            b = span_end if span_end < high else high
            if b > a:
                total += b - a
        if total:
            out.append((date.fromordinal(day), total / 60_000_000))
        day += 1
    return out


def bay_open_minutes(calendar: ShopCalendar, day: date) -> float:
    """A bay's open minutes on a local day: the shop's working stretches."""
    spans = calendar.working_time().spans(day.toordinal())
    return sum(end - start for start, end in spans) / 60_000_000


@dataclass
class _Walk:
    """The running fold of one order's log, as the facts need it."""

    stage: str = Stage.CHECKED_IN.value
    entered: datetime | None = None
    bay: str | None = None
    dwell: dict[str, float] = field(default_factory=dict)
    occupied: list[tuple[str, datetime, datetime | None]] = field(default_factory=list)
    standing_since: datetime | None = None


def order_facts(
    order_id: int,
    events: Sequence[LogEvent],
    segments: Iterable[ClockSpan],
    calendar: ShopCalendar,
    now: datetime,
) -> OrderFacts:
    """The facts of one order from its whole log (oldest first) and its labour
    segments, on the shop's calendar; ``now`` ends what is still running."""
    zone = calendar.zone
    if not events or events[0].type != "order_created":
        return OrderFacts(order_id=order_id, version=len(events))
    created = events[0]
    data = created.data
    walk = _Walk(stage=str(data.get("stage") or Stage.CHECKED_IN.value), entered=created.at)
    checkin_at = created.at if walk.stage == Stage.CHECKED_IN.value else None
    promised = _time(data.get("promised_at"))
    last_promised = promised
    items = data.get("items") or []
    item_hours = sum(float(i.get("labour_hours") or 0) for i in items)
    dispatched_at: datetime | None = None
    ready_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    rework = reopened = 0
    rating: int | None = None
    quotes: dict[int, dict[str, Any]] = {}
    comebacks: list[Comeback] = []

    def leave(at: datetime) -> None:
        if walk.entered is not None and walk.stage in DWELL_STAGES:
            walk.dwell[walk.stage] = walk.dwell.get(walk.stage, 0.0) + _minutes(walk.entered, at)
        if walk.standing_since is not None and walk.bay is not None:
            walk.occupied.append((walk.bay, walk.standing_since, at))
        walk.standing_since = None

    def enter(stage: str, at: datetime) -> None:
        walk.stage, walk.entered = stage, at
        if stage == Stage.CHECKED_IN.value:
            walk.bay = None
        if stage in _HOLDING and walk.bay is not None:
            walk.standing_since = at

    for event in events[1:]:
        d = event.data
        if event.type == "stage_changed":
            to = str(d.get("to_stage") or "")
            leave(event.at)
            enter(to, event.at)
            if to == Stage.CHECKED_IN.value and checkin_at is None:
                checkin_at = event.at
            elif to == Stage.DISPATCHED.value and dispatched_at is None:
                dispatched_at = event.at
            elif to == Stage.READY.value:
                ready_at = event.at
            elif to == Stage.IN_PROGRESS.value:
                ready_at = None
            elif to == Stage.DELIVERED.value:
                delivered_at = event.at
            elif to == Stage.CANCELLED.value:
                cancelled_at = event.at
        elif event.type == "assigned":
            # A re-balance moves a standing car to another bay at once.
            if walk.standing_since is not None and walk.bay is not None:
                walk.occupied.append((walk.bay, walk.standing_since, event.at))
                walk.standing_since = None
            walk.bay = str(d.get("bay") or "") or None
            if walk.stage in _HOLDING and walk.bay is not None:
                walk.standing_since = event.at
        elif event.type == "check_failed":
            rework += 1
            if d.get("level") == HANDOVER:
                reopened += 1
        elif event.type == "extra_work_quoted":
            quotes[int(d.get("quote_id") or 0)] = {
                "day": local_day(event.at, zone),
                "status": PENDING,
                "price_cents": int(d.get("price_cents") or 0),
                "labour_hours": float(d.get("labour_hours") or 0),
                "decided_at": None,
            }
        elif event.type == "quote_revised":
            quote = quotes.get(int(d.get("quote_id") or 0))
            if quote is not None:
                quote.update(
                    price_cents=int(d.get("price_cents") or 0),
                    labour_hours=float(d.get("labour_hours") or 0),
                )
        elif event.type == "extra_work_decided":
            quote = quotes.get(int(d.get("quote_id") or 0))
            if quote is not None:
                quote["status"] = APPROVED if d.get("approved") else DECLINED
                quote["decided_at"] = event.at
        elif event.type == "quote_expired":
            quote = quotes.get(int(d.get("quote_id") or 0))
            if quote is not None:
                quote["status"] = EXPIRED
                quote["decided_at"] = event.at
        elif event.type == "promise_changed":
            new = _time(d.get("new"))
            if promised is None:
                promised = new
            last_promised = new
        elif event.type == "survey_submitted":
            rating = int(d.get("rating") or 0) or None
        elif event.type == COMEBACK_FLAGGED:
            of = d.get("of_order_id")
            days = d.get("days")
            comebacks.append(
                Comeback(
                    of_order_id=int(of) if of is not None else None,
                    day=local_day(event.at, zone),
                    days=int(days) if days is not None else None,
                )
            )
        elif event.type == COMEBACK_UNFLAGGED:
            # One mark at a time: the withdrawal ends the standing one.
            comebacks = comebacks[:-1]
    # What is still running runs until now.
    end = now
    if walk.standing_since is not None and walk.bay is not None:
        walk.occupied.append((walk.bay, walk.standing_since, None))
    cancelled = walk.stage == Stage.CANCELLED.value
    if cancelled:
        ready_at = delivered_at = None
    else:
        cancelled_at = None
    if delivered_at is not None and walk.stage != Stage.DELIVERED.value:
        delivered_at = None  # pragma: no cover - a delivered order does not move
    if walk.stage not in (Stage.READY.value, Stage.DELIVERED.value):
        ready_at = None

    quote_facts = _quote_facts(quotes)
    approved_hours = sum(q.labour_hours for q in quote_facts if q.status == APPROVED)
    sold = 0.0 if cancelled else item_hours + approved_hours
    labour, clocked = _labour(segments, sold, now)
    checkin_day = local_day(checkin_at, zone) if checkin_at else None
    ready_day = local_day(ready_at, zone) if ready_at else None
    delivered_day = local_day(delivered_at, zone) if delivered_at else None
    cancelled_day = local_day(cancelled_at, zone) if cancelled_at else None
    labour_day = ready_day or (cancelled_day if clocked > 0 else None)
    if labour_day is None:
        labour = ()
    # Carried over: the car was not ready by the end of its check-in day.
    carried = False
    if checkin_day is not None and not cancelled:
        carried = (ready_day or local_day(now, zone)) > checkin_day
    return OrderFacts(
        order_id=order_id,
        version=len(events),
        number=int(data.get("number") or 0),
        plate=str(data.get("plate") or ""),
        advisor_id=_int_or_none(data.get("advisor_id")),
        stage=walk.stage,
        checkin_at=checkin_at,
        checkin_day=checkin_day,
        dispatched_at=dispatched_at,
        ready_at=ready_at,
        ready_day=ready_day,
        delivered_at=delivered_at,
        delivered_day=delivered_day,
        cancelled_at=cancelled_at,
        cancelled_day=cancelled_day,
        promised_at=promised,
        last_promised_at=last_promised,
        ready_on_time=(ready_at <= promised) if ready_at and promised else None,
        delivered_on_time=(delivered_at <= promised) if delivered_at and promised else None,
        cycle_minutes=_minutes(checkin_at, ready_at) if checkin_at and ready_at else None,
        reception_wait_minutes=(
            _minutes(checkin_at, dispatched_at)
            if checkin_at and dispatched_at and not cancelled
            else None
        ),
        carried_over=carried,
        dwell=dict(walk.dwell) if delivered_at else {},
        sold_hours=round(sold, 4) if labour_day else 0.0,
        sold_hours_clocked=round(sold, 4) if labour_day and clocked > 0 else 0.0,
        clocked_hours=round(clocked, 4) if labour_day else 0.0,
        labour_day=labour_day,
        labour=labour,
        bay_days=_bay_days(walk.occupied, calendar, end),
        quotes=quote_facts,
        rework_count=rework,
        reopened_count=reopened,
        first_time_fix=(rework == 0) if delivered_at else None,
        comebacks=tuple(comebacks),
        survey_rating=rating,
    )


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None


def _quote_facts(quotes: Mapping[int, Mapping[str, Any]]) -> tuple[QuoteFact, ...]:
    return tuple(
        QuoteFact(
            quote_id=quote_id,
            day=q["day"],
            status=q["status"],
            price_cents=q["price_cents"],
            labour_hours=q["labour_hours"],
            decided_at=q["decided_at"],
        )
        for quote_id, q in sorted(quotes.items())
    )


def _labour(
    segments: Iterable[ClockSpan], sold: float, now: datetime
) -> tuple[tuple[TechLabour, ...], float]:
    """Per technician: hours clocked (a running clock counts until now), and
    the sold hours shared by clocked time (two technicians clocking equally
    on a 2 h job sold 1 h each), as ``shared.domain.labour.sold_vs_clocked``."""
    clocked: dict[int, float] = {}
    for span in segments:
        end = span.ended_at or now
        hours = max(0.0, (end - span.started_at).total_seconds() / 3600)
        clocked[span.technician_id] = clocked.get(span.technician_id, 0.0) + hours
    total = sum(clocked.values())
    labour = tuple(
        TechLabour(
            technician_id=tech,
            clocked_hours=round(hours, 4),
            sold_hours=round(sold * hours / total, 4) if total else 0.0,
        )
        for tech, hours in sorted(clocked.items())
    )
    return labour, total


def _bay_days(
    occupied: Sequence[tuple[str, datetime, datetime | None]],
    calendar: ShopCalendar,
    now: datetime,
) -> tuple[BayDay, ...]:
    """Open minutes per (bay, local day) the car stood on a bay: the time
    outside opening hours (a car left on the lift overnight) is not open
    time, so it neither fills nor frees the bay."""
    found: dict[tuple[str, date], float] = {}
    for bay, start, end in occupied:
        for day, minutes in _open_minutes_by_day(calendar, start, end or now):
            found[(bay, day)] = found.get((bay, day), 0.0) + minutes
    return tuple(
        BayDay(bay=bay, day=day, minutes=round(minutes, 4))
        for (bay, day), minutes in sorted(found.items())
    )
