"""The manager's reports (issue 16; definitions in docs/REPORTS.md).

Every figure is a sum of per-order facts (``shared.domain.report_facts``)
over the local days they belong to (``shared.domain.report_figures``). A
request only reads (``core.db.read()``): it never takes the write lock, so a
report never delays a command or its publish.

This first version computes each order's facts from its log for every
request; the facts cache (``report_fact``) takes its place for closed orders.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.domain import report_figures as rf
from shared.domain.report_facts import (
    DECLINED,
    ClockSpan,
    LogEvent,
    OrderFacts,
    bay_open_minutes,
    order_facts,
)
from shared.domain.shop_calendar import ShopCalendar
from shared.domain.stages import TERMINAL_STAGES
from shared.persistence.models import Bay, LabourSegment, OrderEvent, RepairOrder, Shop, StaffUser
from shared.persistence.reception_models import Complaint, FollowUpCall
from shared.services.core import Core

GROUPS = rf.GROUPS
# Visits a plate needs in the 12 months up to a period's end to be a
# "quality customer" (seed 000; the desk's history uses the same number).
QUALITY_VISITS = 4
QUALITY_WINDOW_DAYS = 365
# Orders read per query (the IN list of event and clock reads).
CHUNK = 500
_TERMINAL = tuple(s.value for s in TERMINAL_STAGES)


# ---------------------------------------------------------------- shop


@dataclass(frozen=True)
class ShopView:
    """What a report needs of its shop: the zone and the calendar."""

    id: int
    zone: ZoneInfo
    calendar: ShopCalendar


def _shop(session: Session, shop_id: int) -> ShopView:
    row = session.get(Shop, shop_id)
    if row is None:
        raise errors.NotFound(f"No shop {shop_id}.")
    calendar = ShopCalendar.from_settings(row.timezone, row.settings or {})
    return ShopView(row.id, ZoneInfo(row.timezone), calendar)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight at the start of ``day``, as UTC."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def check_range(start: date, end: date) -> None:
    """A range a report takes: from ≤ to, at most about three years."""
    if end < start:
        raise errors.ValidationFailed("to", "to must not be before from.")
    if (end - start).days + 1 > rf.MAX_DAYS:
        raise errors.ValidationFailed("to", f"A report covers at most {rf.MAX_DAYS} days.")


# ---------------------------------------------------------------- facts


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def _relevant_ids(session: Session, shop: ShopView, start: date, end: date) -> list[int]:
    """Orders whose facts may fall in [start, end]: opened before its end and
    changed since its start, or still open (a car on its bay occupies it
    every day it stands there, event or not)."""
    low, high = day_start(start, shop.zone), day_start(end + timedelta(days=1), shop.zone)
    rows = session.execute(
        select(RepairOrder.id)
        .where(
            RepairOrder.shop_id == shop.id,
            RepairOrder.created_at < high,
            or_(RepairOrder.updated_at >= low, RepairOrder.stage.not_in(_TERMINAL)),
        )
        .order_by(RepairOrder.id)
    ).scalars()
    return list(rows)


def facts_from_log(
    session: Session, shop: ShopView, order_ids: Sequence[int], now: datetime
) -> list[OrderFacts]:
    """Each order's facts recomputed from its events and clock segments."""
    out: list[OrderFacts] = []
    for chunk in _chunks(order_ids):
        events: dict[int, list[LogEvent]] = {i: [] for i in chunk}
        for order_id, type_, at, data in session.execute(
            select(OrderEvent.order_id, OrderEvent.type, OrderEvent.at, OrderEvent.data)
            .where(OrderEvent.order_id.in_(chunk))
            .order_by(OrderEvent.order_id, OrderEvent.seq)
        ):
            events[order_id].append(LogEvent(type_, at, data or {}))
        spans: dict[int, list[ClockSpan]] = {i: [] for i in chunk}
        for order_id, tech, started, ended in session.execute(
            select(
                LabourSegment.order_id,
                LabourSegment.technician_id,
                LabourSegment.started_at,
                LabourSegment.ended_at,
            ).where(LabourSegment.order_id.in_(chunk))
        ):
            spans[order_id].append(ClockSpan(tech, started, ended))
        for order_id in chunk:
            out.append(order_facts(order_id, events[order_id], spans[order_id], shop.calendar, now))
    return out


def _range_facts(
    session: Session, shop: ShopView, start: date, end: date, now: datetime
) -> list[OrderFacts]:
    return facts_from_log(session, shop, _relevant_ids(session, shop, start, end), now)


# ---------------------------------------------------------------- context


def _bay_open(session: Session, shop: ShopView, start: date, end: date) -> dict[str, float]:
    """Each bay's open minutes in [start, end]: the shop's working time of
    each day times the bay's capacity (a wash bay for two has twice the room)."""
    per_day = 0.0
    day = start
    while day <= end:
        per_day += bay_open_minutes(shop.calendar, day)
        day += timedelta(days=1)
    bays = session.execute(
        select(Bay.code, Bay.capacity).where(Bay.shop_id == shop.id, Bay.active)
    ).all()
    return {code: per_day * max(1, capacity or 1) for code, capacity in bays}


def _quality_customers(session: Session, shop: ShopView, start: date, end: date) -> tuple[int, int]:
    """Plates with ≥ 4 visits (orders opened, not cancelled, not merely
    booked) in the 12 months up to ``end``, and how many of the period's
    orders were theirs."""
    window = end - timedelta(days=QUALITY_WINDOW_DAYS - 1)
    rows = session.execute(
        select(RepairOrder.plate, RepairOrder.business_day).where(
            RepairOrder.shop_id == shop.id,
            RepairOrder.business_day >= min(window, start),
            RepairOrder.business_day <= end,
            RepairOrder.stage.not_in(("cancelled", "booked")),
        )
    ).all()
    visits: dict[str, int] = {}
    for plate, day in rows:
        if day >= window:
            visits[plate] = visits.get(plate, 0) + 1
    quality = {plate for plate, n in visits.items() if n >= QUALITY_VISITS}
    orders = sum(1 for plate, day in rows if plate in quality and start <= day <= end)
    return len(quality), orders


def _follow_ups(session: Session, order_ids: Sequence[int]) -> dict[int, str]:
    """How each low score's follow-up stands: ``complaint_resolved``,
    ``complaint_open``, the last call's outcome (reached, no_answer,
    call_back), or ``not_called``."""
    found = {order_id: "not_called" for order_id in order_ids}
    for chunk in _chunks(list(order_ids)):
        for order_id, outcome in session.execute(
            select(FollowUpCall.order_id, FollowUpCall.outcome)
            .where(FollowUpCall.order_id.in_(chunk))
            .order_by(FollowUpCall.recorded_at, FollowUpCall.id)
        ):
            found[order_id] = outcome
        for order_id, status in session.execute(
            select(Complaint.order_id, Complaint.status).where(Complaint.order_id.in_(chunk))
        ):
            found[order_id] = "complaint_resolved" if status == "resolved" else "complaint_open"
    return found


def _low_scores(facts: Sequence[OrderFacts], start: date, end: date) -> list[int]:
    return [
        f.order_id
        for f in facts
        if f.survey_rating is not None
        and f.survey_rating <= rf.LOW_SCORE
        and f.delivered_day is not None
        and start <= f.delivered_day <= end
    ]


def _context(
    session: Session, shop: ShopView, facts: Sequence[OrderFacts], start: date, end: date
) -> rf.Context:
    quality, quality_orders = _quality_customers(session, shop, start, end)
    closing: dict[str, int] = {}
    for outcome in _follow_ups(session, _low_scores(facts, start, end)).values():
        closing[outcome] = closing.get(outcome, 0) + 1
    return rf.Context(
        bay_open_minutes=_bay_open(session, shop, start, end),
        quality_customers=quality,
        quality_customer_orders=quality_orders,
        low_score_follow_up=closing,
    )


# ---------------------------------------------------------------- reports


def _period(
    session: Session,
    shop: ShopView,
    days: rf.Days,
    facts: Sequence[OrderFacts],
    start: date,
    end: date,
    workshop_only: bool,
) -> dict[str, Any]:
    found = rf.figures(rf.collapse(days, start, end), _context(session, shop, facts, start, end))
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "figures": rf.workshop_half(found) if workshop_only else found,
    }


def summary(
    core: Core,
    shop_id: int,
    start: date,
    end: date,
    group: str | None = None,
    *,
    workshop_only: bool = False,
) -> dict[str, Any]:
    """The shop's figures for [start, end] (local days), per period when
    ``group`` is day, week or month, with the previous period as long."""
    check_range(start, end)
    if group is not None and group not in GROUPS:
        raise errors.ValidationFailed("group", "group is day, week or month.")
    now = core.now()
    before_start, before_end = rf.previous_range(start, end)
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        facts = _range_facts(session, shop, before_start, end, now)
        days = rf.day_totals(facts, before_start, end)
        out = _period(session, shop, days, facts, start, end, workshop_only)
        out["group"] = group
        if group is not None:
            out["periods"] = [
                _period(session, shop, days, facts, a, b, workshop_only)
                for a, b in rf.periods(start, end, group)
            ]
        out["previous"] = _period(
            session, shop, days, facts, before_start, before_end, workshop_only
        )
        return out


def _names(session: Session, shop_id: int) -> dict[int, str]:
    rows = session.execute(
        select(StaffUser.id, StaffUser.name).where(StaffUser.shop_id == shop_id)
    ).all()
    return {user_id: name for user_id, name in rows}


def technicians(core: Core, shop_id: int, start: date, end: date) -> list[dict[str, Any]]:
    """Per technician: sold and clocked hours, efficiency; and the team."""
    check_range(start, end)
    now = core.now()
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        facts = _range_facts(session, shop, start, end, now)
        totals = rf.collapse(rf.day_totals(facts, start, end), start, end)
        names = _names(session, shop_id)
        rows = rf.technician_rows(totals)
        for row in rows:
            row["name"] = names.get(row["technician_id"], "")
        return rows


def advisors(core: Core, shop_id: int, start: date, end: date) -> list[dict[str, Any]]:
    """Per advisor: orders, on-time rate, approval rate, CSAT."""
    check_range(start, end)
    now = core.now()
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        facts = _range_facts(session, shop, start, end, now)
        totals = rf.collapse(rf.day_totals(facts, start, end), start, end)
        names = _names(session, shop_id)
        rows = rf.advisor_rows(totals)
        for row in rows:
            advisor = row["advisor_id"]
            row["name"] = names.get(advisor, "") if advisor is not None else ""
        return rows


# ---------------------------------------------------------------- order rows

# The export's columns: (key, label). Labels are translated when rendered.
ORDER_COLUMNS: list[tuple[str, Any]] = [
    ("order_id", _l("Order")),
    ("number", _l("Queue number")),
    ("plate", _l("Plate")),
    ("advisor", _l("Service advisor")),
    ("technicians", _l("Technicians")),
    ("work", _l("Work")),
    ("stage", _l("Stage")),
    ("checked_in_at", _l("Checked in at")),
    ("promised_at", _l("Promised at")),
    ("ready_at", _l("Ready at")),
    ("delivered_at", _l("Delivered at")),
    ("cancelled_at", _l("Cancelled at")),
    ("ready_on_time", _l("Ready on time")),
    ("delivered_on_time", _l("Delivered on time")),
    ("cycle_minutes", _l("Check-in to ready (min)")),
    ("reception_wait_minutes", _l("Reception wait (min)")),
    ("sold_hours", _l("Sold hours")),
    ("clocked_hours", _l("Clocked hours")),
    ("rework_count", _l("Rework")),
    ("reopened_count", _l("Reopened")),
    ("first_time_fix", _l("First-time fix")),
    ("quotes", _l("Quotes")),
    ("approved_cents", _l("Approved (cents)")),
    ("declined_cents", _l("Declined (cents)")),
    ("comeback_of", _l("Comeback of order")),
    ("survey_rating", _l("Satisfaction")),
]

# Drill-down keys: which orders stand behind a figure.
DRILL_DOWNS: dict[str, Any] = {
    "late": _l("Late (ready or delivered after the promise)"),
    "rework": _l("Reworked"),
    "not_first_time_fix": _l("Not fixed first time"),
    "reopened": _l("Reopened after ready"),
    "comeback": _l("Comebacks"),
    "low_score": _l("Low satisfaction scores"),
    "declined_quote": _l("Declined additional work"),
    "cancelled": _l("Cancelled"),
    "carried_over": _l("Carried over"),
}


def _within(day: date | None, start: date, end: date) -> bool:
    return day is not None and start <= day <= end


def in_range(f: OrderFacts, start: date, end: date) -> bool:
    """An order belongs to a range's list when it was checked in, ready,
    delivered or cancelled within it."""
    return any(
        _within(day, start, end)
        for day in (f.checkin_day, f.ready_day, f.delivered_day, f.cancelled_day)
    )


def matches(f: OrderFacts, only: str | None, start: date, end: date) -> bool:
    """The order stands behind the drill-down ``only`` in [start, end]."""
    if only is None:
        return in_range(f, start, end)
    delivered = _within(f.delivered_day, start, end)
    if only == "late":
        return (f.ready_on_time is False and _within(f.ready_day, start, end)) or (
            f.delivered_on_time is False and delivered
        )
    if only == "rework":
        return delivered and f.rework_count > 0
    if only == "not_first_time_fix":
        return delivered and f.first_time_fix is False
    if only == "reopened":
        return delivered and f.reopened_count > 0
    if only == "comeback":
        return any(_within(c.day, start, end) for c in f.comebacks)
    if only == "low_score":
        return delivered and f.survey_rating is not None and f.survey_rating <= rf.LOW_SCORE
    if only == "declined_quote":
        return any(q.status == DECLINED and _within(q.day, start, end) for q in f.quotes)
    if only == "cancelled":
        return _within(f.cancelled_day, start, end)
    if only == "carried_over":
        return f.carried_over and _within(f.checkin_day, start, end)
    raise errors.ValidationFailed("only", f"only is one of {', '.join(DRILL_DOWNS)}.")


def check_only(only: str | None) -> None:
    if only is not None and only not in DRILL_DOWNS:
        raise errors.ValidationFailed("only", f"only is one of {', '.join(DRILL_DOWNS)}.")


def _local(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return moment.astimezone(zone).isoformat(timespec="minutes") if moment else None


def _row(
    f: OrderFacts, order: RepairOrder | None, zone: ZoneInfo, names: dict[int, str]
) -> dict[str, Any]:
    techs = sorted({part.technician_id for part in f.labour})
    if order is not None and not techs:
        techs = [int(t) for t in order.technicians or []]
    return {
        "order_id": f.order_id,
        "number": f.number,
        "plate": order.plate if order is not None else f.plate,
        "advisor": names.get(f.advisor_id, "") if f.advisor_id is not None else "",
        "technicians": "、".join(names.get(t, str(t)) for t in techs),
        "work": "；".join(str(i.get("title", "")) for i in (order.items if order else []) or []),
        "stage": f.stage,
        "checked_in_at": _local(f.checkin_at, zone),
        "promised_at": _local(f.promised_at, zone),
        "ready_at": _local(f.ready_at, zone),
        "delivered_at": _local(f.delivered_at, zone),
        "cancelled_at": _local(f.cancelled_at, zone),
        "ready_on_time": f.ready_on_time,
        "delivered_on_time": f.delivered_on_time,
        "cycle_minutes": round(f.cycle_minutes, 1) if f.cycle_minutes is not None else None,
        "reception_wait_minutes": (
            round(f.reception_wait_minutes, 1) if f.reception_wait_minutes is not None else None
        ),
        "sold_hours": round(f.sold_hours, 2),
        "clocked_hours": round(f.clocked_hours, 2),
        "rework_count": f.rework_count,
        "reopened_count": f.reopened_count,
        "first_time_fix": f.first_time_fix,
        "quotes": len(f.quotes),
        "approved_cents": sum(q.price_cents for q in f.quotes if q.status == "approved"),
        "declined_cents": sum(q.price_cents for q in f.quotes if q.status == DECLINED),
        "comeback_of": f.comebacks[0].of_order_id if f.comebacks else None,
        "survey_rating": f.survey_rating,
    }


def order_rows(
    core: Core, shop_id: int, start: date, end: date, *, only: str | None = None
) -> Iterator[dict[str, Any]]:
    """One row per order in [start, end] (checked in, ready, delivered or
    cancelled then), or only those behind the drill-down ``only``; columns
    ``ORDER_COLUMNS``. Checked before the first row is asked for."""
    check_range(start, end)
    check_only(only)
    return _order_rows(core, shop_id, start, end, only)


def _order_rows(
    core: Core, shop_id: int, start: date, end: date, only: str | None
) -> Iterator[dict[str, Any]]:
    now = core.now()
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        names = _names(session, shop_id)
        ids = _relevant_ids(session, shop, start, end)
        for chunk in _chunks(ids):
            facts = [
                f for f in facts_from_log(session, shop, chunk, now) if matches(f, only, start, end)
            ]
            orders = {
                row.id: row
                for row in session.execute(
                    select(RepairOrder).where(RepairOrder.id.in_([f.order_id for f in facts]))
                ).scalars()
            }
            for f in facts:
                yield _row(f, orders.get(f.order_id), shop.zone, names)
