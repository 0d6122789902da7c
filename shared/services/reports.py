"""The manager's reports (issue 16; definitions in docs/REPORTS.md).

Every figure is a sum of per-order facts (``shared.domain.report_facts``)
over the local days they belong to (``shared.domain.report_figures``),
added up from the facts cache where it is current and from the log where it
is not (``shared.services.report_cache``). A request only reads
(``core.db.read()``): it never takes the write lock, so a report never
delays a command or its publish.

The interface the page (board/reports.py), the REST API
(shared/web/api_reports.py) and the benchmark use: ``summary``,
``technicians``, ``advisors``, ``order_rows`` with ``ORDER_COLUMNS`` and
``DRILL_DOWNS``; ``rebuild_facts`` and ``refresh_facts`` for the cache.
"""

from __future__ import annotations

import bisect
import heapq
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.domain import report_figures as rf
from shared.domain.report_facts import (
    APPROVED,
    DECLINED,
    OrderFacts,
    bay_open_minutes,
    same_work,
    work_text,
)
from shared.persistence.appointment_models import Appointment
from shared.persistence.models import Bay, StaffUser
from shared.persistence.reception_models import Complaint, FollowUpCall
from shared.services.core import Core
from shared.services.report_cache import (
    FACTS,
    ORDERS,
    FactsRefresher,
    RangeFacts,
    ShopView,
    Stale,
    as_day,
    chunks,
    facts_from_log,
    facts_of_row,
    fetch,
    range_totals,
    rebuild_facts,
    refresh_facts,
    relevant_ids,
    shop_view,
    stale_in_range,
)

__all__ = [
    "DRILL_DOWNS",
    "FRONT_OFFICE_COLUMNS",
    "GROUPS",
    "ORDER_COLUMNS",
    "WORKSHOP_DRILL_DOWNS",
    "WORKSHOP_FIGURES",
    "FactsRefresher",
    "advisors",
    "order_columns",
    "order_rows",
    "rebuild_facts",
    "refresh_facts",
    "summary",
    "technicians",
]

GROUPS = rf.GROUPS
# Visits a plate needs in the 12 months up to a period's end to be a
# "quality customer" (seed 000; shared/services/reception.py uses the same 4).
QUALITY_VISITS = 4
QUALITY_WINDOW_DAYS = 365
# Orders that are not visits: cancelled, or booked and not (yet) arrived.
NOT_VISITS = ("cancelled", "booked")
# Declined work counts as sold later when the same plate's order opened
# within this many days of the decline holds the same work.
LATER_SOLD_DAYS = 180


FIRST_REPORT_DAY = date(2000, 1, 1)
LAST_REPORT_DAY = date(2999, 12, 31)


def check_range(start: date, end: date) -> None:
    """A range a report takes: from ≤ to, at most about three years, its
    days from 2000 to 2999 (the previous period a report compares with must
    still be a date, and no shop has data before Baylight)."""
    for name, day in (("from", start), ("to", end)):
        if not FIRST_REPORT_DAY <= day <= LAST_REPORT_DAY:
            raise errors.ValidationFailed(
                name,
                errors.Message(
                    "A report's days lie from %(low)s to %(high)s.",
                    low=FIRST_REPORT_DAY.isoformat(),
                    high=LAST_REPORT_DAY.isoformat(),
                ),
            )
    if end < start:
        raise errors.ValidationFailed("to", "The range ends before it starts.")
    if (end - start).days + 1 > rf.MAX_DAYS:
        raise errors.ValidationFailed(
            "to", errors.Message("A range is at most %(days)s days.", days=rf.MAX_DAYS)
        )


def one_of(field: str, choices: Any) -> errors.ValidationFailed:
    """The refusal of a value not among ``choices`` (said in the reader's words)."""
    template = "%(field)s must be one of %(choices)s."
    return errors.ValidationFailed(
        field, errors.Message(template, field=field, choices=", ".join(choices))
    )


def check_group(group: str | None) -> None:
    """day, week or month (or none). Said as "the grouping": the field
    label of ``group`` is the dealer group's."""
    if group is not None and group not in GROUPS:
        raise errors.ValidationFailed(
            "group",
            errors.Message("The grouping must be one of %(choices)s.", choices=", ".join(GROUPS)),
        )


# ---------------------------------------------------------------- context


@dataclass
class Span:
    """What the figures need beyond the per-day totals, for a whole span of
    days, from which each period takes its days (``context``)."""

    open_per_day: dict[date, float]
    bays: dict[str, int]
    # Plate → sorted visit days (only plates that may reach QUALITY_VISITS).
    visits: dict[str, list[date]] = field(default_factory=dict)
    # (delivered day, follow-up closing) of each low score.
    low_scores: list[tuple[date, str]] = field(default_factory=list)
    # (quote day, price) of each declined quote sold later.
    declined_sold: list[tuple[date, int]] = field(default_factory=list)

    def context(self, start: date, end: date) -> rf.Context:
        per_day = sum(m for d, m in self.open_per_day.items() if start <= d <= end)
        quality = 0
        orders = 0
        window = end - timedelta(days=QUALITY_WINDOW_DAYS - 1)
        for days in self.visits.values():
            seen = bisect.bisect_right(days, end) - bisect.bisect_left(days, window)
            if seen >= QUALITY_VISITS:
                quality += 1
                orders += bisect.bisect_right(days, end) - bisect.bisect_left(days, start)
        closing: dict[str, int] = {}
        for day, outcome in self.low_scores:
            if start <= day <= end:
                closing[outcome] = closing.get(outcome, 0) + 1
        return rf.Context(
            bay_open_minutes={code: per_day * cap for code, cap in self.bays.items()},
            quality_customers=quality,
            quality_customer_orders=orders,
            low_score_follow_up=closing,
            declined_sold_later_cents=sum(
                cents for day, cents in self.declined_sold if start <= day <= end
            ),
        )


def _open_per_day(shop: ShopView, start: date, end: date) -> dict[date, float]:
    out = {}
    day = start
    while day <= end:
        out[day] = bay_open_minutes(shop.calendar, day)
        day += timedelta(days=1)
    return out


def _bays(session: Session, shop_id: int) -> dict[str, int]:
    """Bays in service and their capacity (a wash bay for two has twice the room)."""
    rows = session.execute(
        select(Bay.code, Bay.capacity).where(Bay.shop_id == shop_id, Bay.active)
    ).all()
    return {code: max(1, capacity or 1) for code, capacity in rows}


def _visits(session: Session, shop: ShopView, start: date, end: date) -> dict[str, list[date]]:
    """Each plate's visits (orders opened, not cancelled, not merely
    booked, by the day opened) from 12 months before ``start`` to ``end``;
    only plates with at least QUALITY_VISITS of them.

    Read through the (shop, plate) indexes alone: the plates with that many
    orders at all (few in any shop), and only their orders' days and
    stages; the range and the stages are sorted out here (a condition on
    the day would lead SQLite to the day's index and every order's row)."""
    window = start - timedelta(days=QUALITY_WINDOW_DAYS - 1)
    mine = ORDERS.c.shop_id == shop.id
    often = (
        select(ORDERS.c.plate)
        .where(mine)
        .group_by(ORDERS.c.plate)
        .having(func.count() >= QUALITY_VISITS)
    )
    found: dict[str, list[date]] = {}
    for plate, raw, stage in fetch(
        session,
        select(ORDERS.c.plate, ORDERS.c.business_day, ORDERS.c.stage).where(
            mine, ORDERS.c.plate.in_(often)
        ),
    ):
        day = as_day(raw)
        if window <= day <= end and stage not in NOT_VISITS:
            found.setdefault(plate, []).append(day)
    return {p: sorted(days) for p, days in found.items() if len(days) >= QUALITY_VISITS}


def _follow_ups(session: Session, order_ids: Sequence[int]) -> dict[int, str]:
    """How each low score's follow-up stands: ``complaint_resolved``,
    ``complaint_open``, else the last call's outcome (``reached``,
    ``no_answer``, ``call_back``), else ``not_called``."""
    found = {order_id: "not_called" for order_id in order_ids}
    for chunk in chunks(list(order_ids)):
        for order_id, outcome in session.execute(
            select(FollowUpCall.order_id, FollowUpCall.outcome)
            .where(FollowUpCall.order_id.in_(chunk))
            .order_by(FollowUpCall.recorded_at, FollowUpCall.id)
        ):
            found[order_id] = outcome
        for order_id, status in session.execute(
            select(Complaint.order_id, Complaint.status)
            .where(Complaint.order_id.in_(chunk))
            .order_by(Complaint.opened_at, Complaint.id)
        ):
            found[order_id] = "complaint_resolved" if status == "resolved" else "complaint_open"
    return found


def _low_scores(facts: RangeFacts, start: date, end: date) -> list[tuple[int, date]]:
    """(order, delivered day) of every low score delivered in [start, end]."""
    return [
        (order_id, day)
        for day, totals in facts.days.items()
        if start <= day <= end
        for order_id in totals.low_scores
    ]


def _declined(facts: RangeFacts, start: date, end: date) -> list[tuple[int, int, date]]:
    """(order, quote, quote day) of every declined quote quoted in range."""
    return sorted(
        {
            (order_id, quote_id, day)
            for day, totals in facts.days.items()
            if start <= day <= end
            for order_id, quote_id in totals.declined
        }
    )


def _sold_texts(items: Any, quotes: Any) -> list[str]:
    texts = [work_text(str(i.get("title") or "")) for i in items or []]
    texts += [
        work_text(str(q.get("description") or ""))
        for q in quotes or []
        if q.get("status") == APPROVED
    ]
    return [t for t in texts if t]


def _json(value: Any) -> Any:
    """A JSON column as the driver returns it (SQLite: text; psycopg2: parsed)."""
    return json.loads(value) if isinstance(value, str) else value


def _utc(value: Any) -> datetime:
    """A moment as the driver returns it (SQLite: naive UTC text, as
    ``UTCDateTime`` stores it; psycopg2: aware), aware."""
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _declined_sold(
    session: Session, shop: ShopView, declined: Sequence[tuple[int, int, date]]
) -> list[tuple[date, int]]:
    """(quote day, price) of each declined quote whose work was sold after
    all: approved later on the same order (another quote of the same work),
    or on an order of the same plate opened within LATER_SOLD_DAYS after the
    decline (a job item or an approved quote of the same work). The words
    are the order's as stored now (retention erases them: then nothing
    matches).

    Read in two steps: the plates' orders without their texts first, then
    the texts of only those opened within a decline's window."""
    if not declined:
        return []
    # (order, plate, quotes) of the orders with a declined quote.
    rows: dict[int, tuple[str, list[Any]]] = {}
    for chunk in chunks(sorted({order_id for order_id, _q, _d in declined})):
        for order_id, plate, quotes in fetch(
            session,
            select(ORDERS.c.id, ORDERS.c.plate, ORDERS.c.quotes).where(ORDERS.c.id.in_(chunk)),
        ):
            rows[order_id] = (plate, _json(quotes) or [])
    # Each declined quote still to look for on a later order: (its day, its
    # price, its text, the order, the plate, when it was decided).
    out: list[tuple[date, int]] = []
    wanted: list[tuple[date, int, str, int, str, datetime]] = []
    for order_id, quote_id, day in declined:
        found = rows.get(order_id)
        if found is None:
            continue
        plate, quotes = found
        quote = next((q for q in quotes if int(q.get("id", 0)) == quote_id), None)
        if quote is None or quote.get("status") != DECLINED or not quote.get("decided_at"):
            continue
        decided = datetime.fromisoformat(quote["decided_at"])
        text = work_text(str(quote.get("description") or ""))
        cents = int(quote.get("price_cents") or 0)
        same_order = any(
            other.get("status") == APPROVED
            and other.get("decided_at")
            and datetime.fromisoformat(other["decided_at"]) >= decided
            and same_work(text, work_text(str(other.get("description") or "")))
            for other in quotes
        )
        if same_order:
            out.append((day, cents))
        elif len(text) >= 2 and plate:
            wanted.append((day, cents, text, order_id, plate, decided))
    if not wanted:
        return out
    low = min(w[5] for w in wanted)
    high = max(w[5] for w in wanted) + timedelta(days=LATER_SOLD_DAYS)
    plates = sorted({w[4] for w in wanted})
    # Each plate's orders by when they were opened (no texts yet).
    later: dict[str, list[tuple[datetime, int]]] = {}
    for some_plates in chunks(plates):
        for other_id, plate, created in fetch(
            session,
            select(ORDERS.c.id, ORDERS.c.plate, ORDERS.c.created_at).where(
                ORDERS.c.shop_id == shop.id,
                ORDERS.c.plate.in_(some_plates),
                ORDERS.c.stage != "cancelled",
                ORDERS.c.created_at > low,
                ORDERS.c.created_at <= high,
            ),
        ):
            later.setdefault(plate, []).append((_utc(created), other_id))
    for visits in later.values():
        visits.sort()
    candidates: list[list[int]] = []
    for _day, _cents, _text, order_id, plate, decided in wanted:
        visits = later.get(plate, [])
        first = bisect.bisect_right(visits, decided, key=lambda visit: visit[0])
        last = bisect.bisect_right(
            visits, decided + timedelta(days=LATER_SOLD_DAYS), key=lambda visit: visit[0]
        )
        candidates.append([i for _at, i in visits[first:last] if i != order_id])
    # The texts sold on the candidates, read once each.
    texts: dict[int, list[str]] = {}
    for chunk in chunks(sorted({i for found in candidates for i in found})):
        for other_id, items, quotes in fetch(
            session,
            select(ORDERS.c.id, ORDERS.c["items"], ORDERS.c.quotes).where(ORDERS.c.id.in_(chunk)),
        ):
            texts[other_id] = _sold_texts(_json(items), _json(quotes))
    for (day, cents, text, _order, _plate, _decided), others in zip(
        wanted, candidates, strict=True
    ):
        if any(same_work(text, t) for i in others for t in texts.get(i, ())):
            out.append((day, cents))
    return out


def _span(
    session: Session, shop: ShopView, facts: RangeFacts, start: date, end: date, *, front: bool
) -> Span:
    span = Span(_open_per_day(shop, start, end), _bays(session, shop.id))
    if not front:
        return span
    span.visits = _visits(session, shop, start, end)
    low = _low_scores(facts, start, end)
    outcomes = _follow_ups(session, [order_id for order_id, _day in low])
    span.low_scores = [(day, outcomes[order_id]) for order_id, day in low]
    span.declined_sold = _declined_sold(session, shop, _declined(facts, start, end))
    return span


# ---------------------------------------------------------------- reports


def _period(
    days: rf.Days, span: Span, start: date, end: date, workshop_only: bool
) -> dict[str, Any]:
    found = rf.figures(rf.collapse(days, start, end), span.context(start, end))
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
    cached: bool = True,
) -> dict[str, Any]:
    """The shop's figures for [start, end] (local days, inclusive), per
    period when ``group`` is day, week or month, and the previous period of
    as many days. ``workshop_only``: the foreman's half
    (``WORKSHOP_FIGURES``: no money or customers). ``cached`` False
    computes everything from the log (what the tests hold the cache equal
    to)."""
    check_range(start, end)
    check_group(group)
    now = core.now()
    before_start, before_end = rf.previous_range(start, end)
    with core.db.read() as session:
        shop = shop_view(session, shop_id)
        facts = range_totals(session, shop, before_start, end, now, cached=cached)
        span = _span(session, shop, facts, before_start, end, front=not workshop_only)
        out = _period(facts.days, span, start, end, workshop_only)
        out["group"] = group
        if group is not None:
            out["periods"] = [
                _period(facts.days, span, a, b, workshop_only)
                for a, b in rf.periods(start, end, group)
            ]
        out["previous"] = _period(facts.days, span, before_start, before_end, workshop_only)
        if not workshop_only:
            # Bookings and no-shows are the front office's (the customers').
            out["appointments"] = appointment_figures(session, shop, start, end)
        return out


def appointment_figures(session: Session, shop: ShopView, start: date, end: date) -> dict[str, Any]:
    """The appointments of [start, end] by the appointment's own day (shop
    time): how many were booked (cancelled ones aside), checked in and
    no-shows, and the show rate (checked in of those decided; null when
    none is decided yet)."""
    since = datetime.combine(start, time(0), tzinfo=shop.zone)
    until = datetime.combine(end + timedelta(days=1), time(0), tzinfo=shop.zone)
    counts = dict(
        session.execute(
            select(Appointment.status, func.count())
            .where(
                Appointment.shop_id == shop.id,
                Appointment.start >= since,
                Appointment.start < until,
            )
            .group_by(Appointment.status)
        ).all()
    )
    checked_in = int(counts.get("checked_in", 0))
    no_shows = int(counts.get("no_show", 0))
    decided = checked_in + no_shows
    return {
        "booked": decided + int(counts.get("booked", 0)),
        "checked_in": checked_in,
        "no_shows": no_shows,
        "show_rate": round(checked_in / decided, 4) if decided else None,
    }


def _names(session: Session, shop_id: int) -> dict[int, str]:
    rows = session.execute(
        select(StaffUser.id, StaffUser.name).where(StaffUser.shop_id == shop_id)
    ).all()
    return {user_id: name for user_id, name in rows}


def _totals(
    core: Core, shop_id: int, start: date, end: date, cached: bool
) -> tuple[rf.Totals, dict[int, str]]:
    check_range(start, end)
    now = core.now()
    with core.db.read() as session:
        shop = shop_view(session, shop_id)
        facts = range_totals(session, shop, start, end, now, cached=cached, values=False)
        return rf.collapse(facts.days, start, end), _names(session, shop_id)


def technicians(
    core: Core, shop_id: int, start: date, end: date, *, cached: bool = True
) -> list[dict[str, Any]]:
    """Per technician: hours clocked, sold hours (shared by clocked time),
    efficiency = sold ÷ clocked; the labour of orders ready (or cancelled)
    in the range. The team is the summary's ``labour``."""
    totals, names = _totals(core, shop_id, start, end, cached)
    rows = rf.technician_rows(totals)
    for row in rows:
        row["name"] = names.get(row["technician_id"], "")
    return rows


def advisors(
    core: Core, shop_id: int, start: date, end: date, *, cached: bool = True
) -> list[dict[str, Any]]:
    """Per advisor (who opened the order): orders checked in, on-time rate,
    approval rate by count and value, CSAT."""
    totals, names = _totals(core, shop_id, start, end, cached)
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

# The foreman's half (docs/REPORTS.md, "The foreman's half"): the figures
# (report_figures.WORKSHOP_FIGURES), the lists behind them, and the orders'
# columns without money or customers. The REST API and the /reports page
# both give a foreman exactly this.
WORKSHOP_FIGURES = rf.WORKSHOP_FIGURES
WORKSHOP_DRILL_DOWNS = (
    "late",
    "rework",
    "not_first_time_fix",
    "reopened",
    "cancelled",
    "carried_over",
)
FRONT_OFFICE_COLUMNS = frozenset(
    {"quotes", "approved_cents", "declined_cents", "comeback_of", "survey_rating"}
)


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
    raise one_of("only", DRILL_DOWNS)


def check_only(only: str | None, *, workshop_only: bool = False) -> None:
    """A drill-down key (None: every order); for the workshop's half, one
    of ``WORKSHOP_DRILL_DOWNS`` (another is the front office's: 403)."""
    if only is not None and only not in DRILL_DOWNS:
        raise one_of("only", DRILL_DOWNS)
    if workshop_only and only is not None and only not in WORKSHOP_DRILL_DOWNS:
        raise errors.Forbidden(errors.Message("That list is the service manager's."))


def order_columns(*, workshop_only: bool = False) -> list[tuple[str, Any]]:
    """The orders' columns (key, label): all of ``ORDER_COLUMNS``, or for
    the workshop's half those without money and customers."""
    return [
        (key, label)
        for key, label in ORDER_COLUMNS
        if not workshop_only or key not in FRONT_OFFICE_COLUMNS
    ]


def _local(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return moment.astimezone(zone).isoformat(timespec="minutes") if moment else None


def _minutes(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _row(f: OrderFacts, order: Any, zone: ZoneInfo, names: dict[int, str]) -> dict[str, Any]:
    """One order as the export's row (times on the shop's clock)."""
    techs = [part.technician_id for part in f.labour]
    if not techs and order is not None:
        techs = [int(t) for t in order.technicians or []]
    items = (order.items if order is not None else None) or []
    return {
        "order_id": f.order_id,
        "number": f.number,
        "plate": order.plate if order is not None else f.plate,
        "advisor": names.get(f.advisor_id, "") if f.advisor_id is not None else "",
        "technicians": "、".join(names.get(t, str(t)) for t in techs),
        "work": "；".join(str(i.get("title") or "") for i in items if isinstance(i, dict)),
        "stage": f.stage,
        "checked_in_at": _local(f.checkin_at, zone),
        "promised_at": _local(f.promised_at, zone),
        "ready_at": _local(f.ready_at, zone),
        "delivered_at": _local(f.delivered_at, zone),
        "cancelled_at": _local(f.cancelled_at, zone),
        "ready_on_time": f.ready_on_time,
        "delivered_on_time": f.delivered_on_time,
        "cycle_minutes": _minutes(f.cycle_minutes),
        "reception_wait_minutes": _minutes(f.reception_wait_minutes),
        "sold_hours": round(f.sold_hours, 2),
        "clocked_hours": round(f.clocked_hours, 2),
        "rework_count": f.rework_count,
        "reopened_count": f.reopened_count,
        "first_time_fix": f.first_time_fix,
        "quotes": len(f.quotes),
        "approved_cents": sum(q.price_cents for q in f.quotes if q.status == APPROVED),
        "declined_cents": sum(q.price_cents for q in f.quotes if q.status == DECLINED),
        "comeback_of": f.comebacks[0].of_order_id if f.comebacks else None,
        "survey_rating": f.survey_rating,
    }


def order_rows(
    core: Core,
    shop_id: int,
    start: date,
    end: date,
    *,
    only: str | None = None,
    workshop_only: bool = False,
    cached: bool = True,
) -> Iterator[dict[str, Any]]:
    """One row per order in [start, end] (checked in, ready, delivered or
    cancelled then), or only those behind the drill-down ``only``, by order
    id; columns ``ORDER_COLUMNS``, for ``workshop_only`` (the foreman's
    half) ``order_columns(workshop_only=True)`` and the workshop's lists
    only. The arguments are checked now, before the first row is asked for;
    rows are read in batches as they are taken."""
    check_range(start, end)
    check_only(only, workshop_only=workshop_only)
    rows = _order_rows(core, shop_id, start, end, only, cached)
    if not workshop_only:
        return rows
    keys = [key for key, _label in order_columns(workshop_only=True)]
    return ({key: row.get(key) for key in keys} for row in rows)


_ROW_ORDER = (ORDERS.c.plate, ORDERS.c["items"], ORDERS.c.technicians)


def _order_rows(
    core: Core, shop_id: int, start: date, end: date, only: str | None, cached: bool
) -> Iterator[dict[str, Any]]:
    now = core.now()
    with core.db.read() as session:
        shop = shop_view(session, shop_id)
        names = _names(session, shop_id)
        # The rows come from the stored facts; only the stale or open
        # orders' facts are recomputed (no sums are needed here).
        if cached:
            stale = stale_in_range(session, shop, start, end)
        else:
            stale = Stale(relevant_ids(session, shop, start, end), [])
        found = facts_from_log(session, shop, stale.ids, now)
        live = sorted((f for f in found if matches(f, only, start, end)), key=lambda f: f.order_id)
        skip = set(stale.ids)
        stored = _stored_rows(session, shop, start, end, only, skip, names) if cached else iter(())
        yield from _merged(stored, _live_rows(session, live, shop.zone, names))


def _merged(
    first: Iterator[dict[str, Any]], second: Iterator[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    return heapq.merge(first, second, key=lambda row: int(row["order_id"]))


def _live_rows(
    session: Session, live: Sequence[OrderFacts], zone: ZoneInfo, names: dict[int, str]
) -> Iterator[dict[str, Any]]:
    for chunk in chunks(list(live)):
        orders = {
            row.id: row
            for row in session.execute(
                select(ORDERS.c.id, *_ROW_ORDER).where(ORDERS.c.id.in_([f.order_id for f in chunk]))
            )
        }
        for f in chunk:
            yield _row(f, orders.get(f.order_id), zone, names)


def _stored_rows(
    session: Session,
    shop: ShopView,
    start: date,
    end: date,
    only: str | None,
    stale: set[int],
    names: dict[int, str],
) -> Iterator[dict[str, Any]]:
    f = FACTS.c
    in_range = or_(
        *(
            and_(column >= start, column <= end)
            for column in (f.checkin_day, f.ready_day, f.delivered_day, f.cancelled_day)
        )
    )
    statement = (
        select(*FACTS.columns, *_ROW_ORDER)
        .join(ORDERS, ORDERS.c.id == f.order_id)
        .where(f.shop_id == shop.id, in_range)
        .order_by(f.order_id)
    )
    for row in session.execute(statement, execution_options={"yield_per": 1000}):
        if row.order_id in stale:
            continue
        if only is None:
            # Every order of the range: straight from the row, no facts built.
            yield _plain_row(row, shop.zone, names)
            continue
        fact = facts_of_row(row)
        if matches(fact, only, start, end):
            yield _row(fact, row, shop.zone, names)


def _plain_row(row: Any, zone: ZoneInfo, names: dict[int, str]) -> dict[str, Any]:
    """``_row`` of a stored row's facts, read from the row itself."""
    data = row.data or {}
    techs = [int(part[0]) for part in data.get("labour", [])]
    if not techs:
        techs = [int(t) for t in row.technicians or []]
    quotes = data.get("quotes", [])
    comebacks = data.get("comebacks", [])
    advisor = row.advisor_id
    return {
        "order_id": row.order_id,
        "number": row.number,
        "plate": row.plate,
        "advisor": names.get(advisor, "") if advisor is not None else "",
        "technicians": "、".join(names.get(t, str(t)) for t in techs),
        "work": "；".join(
            str(i.get("title") or "") for i in row.items or [] if isinstance(i, dict)
        ),
        "stage": row.stage,
        "checked_in_at": _local(row.checkin_at, zone),
        "promised_at": _local(row.promised_at, zone),
        "ready_at": _local(row.ready_at, zone),
        "delivered_at": _local(row.delivered_at, zone),
        "cancelled_at": _local(row.cancelled_at, zone),
        "ready_on_time": row.ready_on_time,
        "delivered_on_time": row.delivered_on_time,
        "cycle_minutes": _minutes(row.cycle_minutes),
        "reception_wait_minutes": _minutes(row.reception_wait_minutes),
        "sold_hours": round(row.sold_hours, 2),
        "clocked_hours": round(row.clocked_hours, 2),
        "rework_count": row.rework_count,
        "reopened_count": row.reopened_count,
        "first_time_fix": row.first_time_fix,
        "quotes": len(quotes),
        "approved_cents": sum(int(q[3]) for q in quotes if q[2] == APPROVED),
        "declined_cents": sum(int(q[3]) for q in quotes if q[2] == DECLINED),
        "comeback_of": comebacks[0][0] if comebacks else None,
        "survey_rating": row.survey_rating,
    }
