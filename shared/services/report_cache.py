"""The reports' facts cache: per-order facts kept in ``report_fact``, summed
per day in SQL, refreshed off the request path, rebuildable from the log.

Why a cache: a year of a busy shop is ~110,000 orders and a million events;
folding them for every report would take minutes. Each order's facts
(``shared.domain.report_facts``) are stored once it is closed (delivered or
cancelled: no clock runs on it, and only a survey or a comeback flag can
still change it), and a report adds them up with SQL sums per day.

When a stored row may be trusted: its ``version`` is the order's (every
event raises the order's version), its ``basis`` is the shop's calendar now,
and the order is closed. Anything else (an open order, a survey since, a
row not yet written, a calendar changed) is recomputed from the log in
memory for the request, its stored part taken out of the sums first. So a
report is always the log's answer, whatever state the cache is in.

Writes: only ``refresh_facts`` (the ``FactsRefresher`` background task of
every server process, like the re-planner and the quote timer) and
``rebuild_facts``. The refresh writes when this process's write lock is free
(``Database.write_if_free``), in small batches, and never inside a command:
a command never waits for it and a report request never writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.domain import report_figures as rf
from shared.domain.report_facts import (
    DECLINED,
    DWELL_STAGES,
    BayDay,
    ClockSpan,
    Comeback,
    LogEvent,
    OrderFacts,
    QuoteFact,
    TechLabour,
    order_facts,
)
from shared.domain.shop_calendar import ShopCalendar
from shared.domain.stages import TERMINAL_STAGES, Stage
from shared.persistence.models import LabourSegment, OrderEvent, RepairOrder, Shop
from shared.persistence.report_day_models import ReportDay, ReportMark
from shared.persistence.report_models import ReportFact, ReportFactPart
from shared.services.core import Core

if TYPE_CHECKING:
    from shared.services.report_process import ReportWorker

log = logging.getLogger(__name__)
T = TypeVar("T")

TERMINAL = tuple(s.value for s in TERMINAL_STAGES)
OPEN = tuple(s.value for s in Stage if s not in TERMINAL_STAGES)
# Orders read or written per statement.
CHUNK = 500
# Orders written per refresh transaction: short, so a command that comes
# meanwhile waits for a few milliseconds at most.
REFRESH_BATCH = 100
REFRESH_SECONDS = 10.0
# A background round stores only when the writer is free: it tries this
# many times, this far apart, before leaving its facts for the next round.
FREE_TRIES = 20
FREE_WAIT_SECONDS = 0.005
# Settings that change what a day's open time is (and so the facts).
CALENDAR_SETTINGS = ("opening_hours", "week", "breaks", "public_holidays", "holidays", "workdays")

FACTS = cast(Table, ReportFact.__table__)
PARTS = cast(Table, ReportFactPart.__table__)
ORDERS = cast(Table, RepairOrder.__table__)
ROLLUP = cast(Table, ReportDay.__table__)
MARK = cast(Table, ReportMark.__table__)
# PostgreSQL advisory lock (this key, the shop) held by every transaction
# that writes a shop's facts and days: two processes' refreshes never sum
# a day from each other's half-written facts.
ROLLUP_LOCK = 160023
# Days apart that one rollup recomputation still covers together.
ROLLUP_GAP = 3

LABOUR, BAY, QUOTE, COMEBACK = "labour", "bay", "quote", "comeback"


# ---------------------------------------------------------------- shop


@dataclass(frozen=True)
class ShopView:
    """What reports need of a shop: its zone, calendar and their digest."""

    id: int
    zone: ZoneInfo
    calendar: ShopCalendar
    basis: str


def basis_of(timezone: str, settings: dict[str, Any]) -> str:
    """A digest of the zone and calendar settings the facts depend on."""
    relevant = {key: settings.get(key) for key in CALENDAR_SETTINGS}
    text = json.dumps([timezone, relevant], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def shop_view(session: Session, shop_id: int) -> ShopView:
    row = session.get(Shop, shop_id)
    if row is None:
        raise errors.NotFound(f"No shop {shop_id}.")
    settings = row.settings or {}
    calendar = ShopCalendar.from_settings(row.timezone, settings)
    return ShopView(row.id, ZoneInfo(row.timezone), calendar, basis_of(row.timezone, settings))


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight at the start of ``day``, as UTC."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ---------------------------------------------------------------- from the log


def facts_from_log(
    session: Session, shop: ShopView, order_ids: Sequence[int], now: datetime
) -> list[OrderFacts]:
    """Each order's facts recomputed from its events and clock segments."""
    out: list[OrderFacts] = []
    for chunk in chunks(order_ids):
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


# ---------------------------------------------------------------- rows


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def fact_row(f: OrderFacts, shop_id: int, basis: str) -> dict[str, Any]:
    """The ``report_fact`` row of one order's facts."""
    row: dict[str, Any] = {
        "order_id": f.order_id,
        "shop_id": shop_id,
        "version": f.version,
        "basis": basis,
        "number": f.number,
        "stage": f.stage,
        "advisor_id": f.advisor_id,
        "checkin_at": f.checkin_at,
        "dispatched_at": f.dispatched_at,
        "ready_at": f.ready_at,
        "delivered_at": f.delivered_at,
        "cancelled_at": f.cancelled_at,
        "promised_at": f.promised_at,
        "checkin_day": f.checkin_day,
        "ready_day": f.ready_day,
        "delivered_day": f.delivered_day,
        "cancelled_day": f.cancelled_day,
        "labour_day": f.labour_day,
        "ready_on_time": f.ready_on_time,
        "delivered_on_time": f.delivered_on_time,
        "first_time_fix": f.first_time_fix,
        "carried_over": f.carried_over,
        "cycle_minutes": f.cycle_minutes,
        "reception_wait_minutes": f.reception_wait_minutes,
        "sold_hours": f.sold_hours,
        "sold_hours_clocked": f.sold_hours_clocked,
        "clocked_hours": f.clocked_hours,
        "rework_count": f.rework_count,
        "reopened_count": f.reopened_count,
        "survey_rating": f.survey_rating,
        "data": {
            "last_promised_at": _iso(f.last_promised_at),
            "labour": [[p.technician_id, p.clocked_hours, p.sold_hours] for p in f.labour],
            "bays": [[b.bay, b.day.isoformat(), b.minutes] for b in f.bay_days],
            "quotes": [
                [
                    q.quote_id,
                    q.day.isoformat(),
                    q.status,
                    q.price_cents,
                    q.labour_hours,
                    _iso(q.decided_at),
                ]
                for q in f.quotes
            ],
            "comebacks": [[c.of_order_id, c.day.isoformat(), c.days] for c in f.comebacks],
        },
    }
    for stage in DWELL_STAGES:
        row[f"dwell_{stage}"] = f.dwell.get(stage)
    return row


def part_rows(f: OrderFacts, shop_id: int) -> list[dict[str, Any]]:
    """The ``report_fact_part`` rows of one order's facts."""

    def part(kind: str, day: date, key: str, amount: float, amount2: float = 0.0) -> dict[str, Any]:
        return {
            "order_id": f.order_id,
            "shop_id": shop_id,
            "kind": kind,
            "day": day,
            "key": key,
            "advisor_id": f.advisor_id,
            "amount": amount,
            "amount2": amount2,
        }

    rows = []
    if f.labour_day is not None:
        rows += [
            part(LABOUR, f.labour_day, str(p.technician_id), p.clocked_hours, p.sold_hours)
            for p in f.labour
        ]
    rows += [part(BAY, b.day, b.bay, b.minutes) for b in f.bay_days]
    rows += [part(QUOTE, q.day, q.status, q.price_cents, q.quote_id) for q in f.quotes]
    rows += [part(COMEBACK, c.day, str(c.of_order_id or ""), 1.0) for c in f.comebacks]
    return rows


def facts_of_row(row: Any) -> OrderFacts:
    """An ``OrderFacts`` back from its stored row (``fact_row``'s inverse)."""
    data = row.data or {}
    return OrderFacts(
        order_id=row.order_id,
        version=row.version,
        number=row.number,
        advisor_id=row.advisor_id,
        stage=row.stage,
        checkin_at=row.checkin_at,
        checkin_day=row.checkin_day,
        dispatched_at=row.dispatched_at,
        ready_at=row.ready_at,
        ready_day=row.ready_day,
        delivered_at=row.delivered_at,
        delivered_day=row.delivered_day,
        cancelled_at=row.cancelled_at,
        cancelled_day=row.cancelled_day,
        promised_at=row.promised_at,
        last_promised_at=_time(data.get("last_promised_at")),
        ready_on_time=row.ready_on_time,
        delivered_on_time=row.delivered_on_time,
        cycle_minutes=row.cycle_minutes,
        reception_wait_minutes=row.reception_wait_minutes,
        carried_over=bool(row.carried_over),
        dwell={
            stage: value
            for stage in DWELL_STAGES
            if (value := getattr(row, f"dwell_{stage}")) is not None
        },
        sold_hours=row.sold_hours,
        sold_hours_clocked=row.sold_hours_clocked,
        clocked_hours=row.clocked_hours,
        labour_day=row.labour_day,
        labour=tuple(TechLabour(int(t), c, s) for t, c, s in data.get("labour", [])),
        bay_days=tuple(
            BayDay(bay, date.fromisoformat(day), minutes)
            for bay, day, minutes in data.get("bays", [])
        ),
        quotes=tuple(
            QuoteFact(int(i), date.fromisoformat(day), status, int(cents), hours, _time(at))
            for i, day, status, cents, hours, at in data.get("quotes", [])
        ),
        rework_count=row.rework_count,
        reopened_count=row.reopened_count,
        first_time_fix=row.first_time_fix,
        comebacks=tuple(
            Comeback(of, date.fromisoformat(day), days)
            for of, day, days in data.get("comebacks", [])
        ),
        survey_rating=row.survey_rating,
    )


def stored_facts(session: Session, order_ids: Sequence[int]) -> list[OrderFacts]:
    out: list[OrderFacts] = []
    for chunk in chunks(order_ids):
        out += [
            facts_of_row(row)
            for row in session.execute(select(FACTS).where(FACTS.c.order_id.in_(chunk)))
        ]
    return out


# ---------------------------------------------------------------- freshness


def _relevant(shop: ShopView, start: date, end: date) -> Any:
    """Orders whose facts may fall in [start, end]: opened before its end and
    changed since its start, or still open (a car on its bay occupies it
    every day it stands there, event or not)."""
    low, high = day_start(start, shop.zone), day_start(end + timedelta(days=1), shop.zone)
    return and_(
        ORDERS.c.shop_id == shop.id,
        ORDERS.c.created_at < high,
        or_(ORDERS.c.updated_at >= low, ORDERS.c.stage.not_in(TERMINAL)),
    )


def relevant_ids(session: Session, shop: ShopView, start: date, end: date) -> list[int]:
    """Every order whose facts may fall in [start, end] (``_relevant``)."""
    statement = select(ORDERS.c.id).where(_relevant(shop, start, end)).order_by(ORDERS.c.id)
    return list(session.execute(statement).scalars())


def _stale(shop: ShopView) -> Any:
    return or_(
        FACTS.c.order_id.is_(None),
        FACTS.c.version != ORDERS.c.version,
        FACTS.c.basis != shop.basis,
        ORDERS.c.stage.not_in(TERMINAL),
    )


@dataclass(frozen=True)
class Stale:
    """The orders of a range whose stored facts cannot be used: those with a
    stored row (its part comes out of the sums) and all of them (recomputed)."""

    ids: list[int]
    stored: list[int]


def stale_in_range(session: Session, shop: ShopView, start: date, end: date) -> Stale:
    found = select(ORDERS.c.id, FACTS.c.order_id.is_not(None)).select_from(
        ORDERS.outerjoin(FACTS, FACTS.c.order_id == ORDERS.c.id)
    )
    found = found.where(_relevant(shop, start, end), _stale(shop))
    mark = marked(session, shop)
    if mark is None:
        rows = [(i, bool(stored)) for i, stored in session.execute(found.order_by(ORDERS.c.id))]
    else:
        # Only an open order or one with an event since the mark can be
        # stale (``ReportMark``): read those through their indexes, not
        # every order of the range.
        changed = select(OrderEvent.order_id).where(
            OrderEvent.shop_id == shop.id, OrderEvent.seq > mark
        )
        stale: dict[int, bool] = {}
        for where in (ORDERS.c.stage.in_(OPEN), ORDERS.c.id.in_(changed)):
            stale.update((i, bool(stored)) for i, stored in session.execute(found.where(where)))
        rows = sorted(stale.items())
    return Stale([i for i, _ in rows], [i for i, stored in rows if stored])


# ---------------------------------------------------------------- the mark


@dataclass(frozen=True)
class Mark:
    """A shop's ``report_mark`` as read: its claim (None: none on this
    calendar) and generation (None: no row yet)."""

    seq: int | None
    generation: int | None


def read_mark(session: Session, shop: ShopView) -> Mark:
    row = session.execute(
        select(MARK.c.seq, MARK.c.basis, MARK.c.generation).where(MARK.c.shop_id == shop.id)
    ).first()
    if row is None:
        return Mark(None, None)
    seq, basis, generation = row
    return Mark(seq if seq >= 0 and basis == shop.basis else None, generation)


def marked(session: Session, shop: ShopView) -> int | None:
    """The seq up to which the shop's stored facts are complete, if known."""
    return read_mark(session, shop).seq


# Built once: the refresher moves every changed shop's mark every round (50
# shops every 10 s in the busy dealer of ``make bench``), and building these
# anew each time cost more than running them.
_MARK_GENERATION = select(MARK.c.generation).where(MARK.c.shop_id == bindparam("b_shop"))
_MARK_MOVE = (
    MARK.update()
    .where(MARK.c.shop_id == bindparam("b_shop"))
    .values(seq=bindparam("b_seq"), basis=bindparam("b_basis"))
)


def _set_mark(session: Session, shop_id: int, seq: int, basis: str, seen: Mark) -> None:
    """Claim completeness up to ``seq`` unless a rebuild came between (the
    generation read with the facts is not the row's now)."""
    now = session.execute(_MARK_GENERATION, {"b_shop": shop_id}).scalar_one_or_none()
    if now is None and seen.generation is None:
        session.execute(
            insert(MARK), {"shop_id": shop_id, "seq": seq, "basis": basis, "generation": 0}
        )
    elif now is not None and now == seen.generation:
        session.execute(_MARK_MOVE, {"b_shop": shop_id, "b_seq": seq, "b_basis": basis})


def _forget_mark(session: Session, shop_id: int) -> None:
    """No claim any more, and a new generation (the rebuild)."""
    m = MARK.c
    now = session.execute(select(m.generation).where(m.shop_id == shop_id)).scalar_one_or_none()
    if now is None:
        session.execute(insert(MARK), {"shop_id": shop_id, "seq": -1, "basis": "", "generation": 1})
    else:
        session.execute(
            MARK.update().where(m.shop_id == shop_id).values(seq=-1, generation=now + 1)
        )


# ---------------------------------------------------------------- the rollup

_DAYS: dict[str, date] = {}


def as_day(value: Any) -> date:
    """A day as the driver returns it (SQLite: text), as a date."""
    if isinstance(value, date):
        return value
    found = _DAYS.get(value)
    if found is None:
        found = _DAYS[value] = date.fromisoformat(value)
    return found


def _by_day(rows: list[Any]) -> Iterator[tuple[Any, list[float]]]:
    """(day, values) of (day, value) rows sorted by day."""
    for day, group in groupby(rows, key=itemgetter(0)):
        yield day, list(map(itemgetter(1), group))


def _sqlite_text(value: Any) -> Any:
    """A bound date or moment as SQLite stores it (``UTCDateTime``: naive UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def fetch(session: Session, statement: Any) -> list[Any]:
    """A read's rows as the database driver gives them, without
    SQLAlchemy's per-row work: a year's summary reads a few hundred
    thousand numbers, and the result machinery would cost more than the
    database. Dates come back as the driver has them (``as_day``)."""
    connection = session.connection()
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    params = compiled.construct_params()
    if compiled.positional:
        # SQLite: dates and moments as the text it stores them as.
        bound: Any = tuple(
            _sqlite_text(value) for value in (params[name] for name in compiled.positiontup or ())
        )
    else:
        bound = params
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), bound)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _true(column: Any) -> Any:
    return func.sum(case((column.is_(True), 1), else_=0))


def _known(column: Any) -> Any:
    return func.sum(case((column.is_not(None), 1), else_=0))


def _between(column: Any, start: date, end: date, shop_id: int) -> Any:
    return and_(FACTS.c.shop_id == shop_id, column >= start, column <= end)


def stored_days(
    session: Session, shop_id: int, start: date, end: date, *, values: bool = True
) -> rf.Days:
    """Every stored row's part of the per-day totals in [start, end], summed
    in SQL (as ``report_figures.add_facts`` adds one order's facts).
    ``values`` False leaves out the values of the medians (the per-person
    tables need none): they are most of what a year's summary reads."""
    days: rf.Days = {}

    def at(raw: Any) -> rf.Totals:
        day = as_day(raw)
        found = days.get(day)
        if found is None:
            found = days[day] = rf.Totals()
        return found

    f = FACTS.c
    checkin = select(f.checkin_day, f.advisor_id, func.count(), _true(f.carried_over)).where(
        _between(f.checkin_day, start, end, shop_id)
    )
    for day, advisor, n, carried in fetch(session, checkin.group_by(f.checkin_day, f.advisor_id)):
        t = at(day)
        t.sums["checked_in"] += n
        t.sums["carried_over"] += carried or 0
        t.advisor(advisor)["orders"] += n
    waits = select(f.checkin_day, f.reception_wait_minutes).where(
        _between(f.checkin_day, start, end, shop_id), f.reception_wait_minutes.is_not(None)
    )
    for day, found in _by_day(fetch(session, waits.order_by(f.checkin_day)) if values else []):
        at(day).wait.extend(found)
    ready = select(
        f.ready_day, f.advisor_id, func.count(), _known(f.ready_on_time), _true(f.ready_on_time)
    ).where(_between(f.ready_day, start, end, shop_id))
    for day, advisor, n, promised, on_time in fetch(
        session, ready.group_by(f.ready_day, f.advisor_id)
    ):
        t = at(day)
        t.sums["ready"] += n
        t.sums["ready_promised"] += promised or 0
        t.sums["ready_on_time"] += on_time or 0
        if promised:
            a = t.advisor(advisor)
            a["ready_promised"] += promised
            a["ready_on_time"] += on_time or 0
    cycles = select(f.ready_day, f.cycle_minutes).where(
        _between(f.ready_day, start, end, shop_id), f.cycle_minutes.is_not(None)
    )
    for day, found in _by_day(fetch(session, cycles.order_by(f.ready_day)) if values else []):
        at(day).cycle.extend(found)
    dwell = [
        column
        for stage in DWELL_STAGES
        for column in (
            func.coalesce(func.sum(f[f"dwell_{stage}"]), 0.0),
            _known(f[f"dwell_{stage}"]),
        )
    ]
    delivered = select(
        f.delivered_day,
        f.advisor_id,
        func.count(),
        _known(f.delivered_on_time),
        _true(f.delivered_on_time),
        _true(f.first_time_fix),
        func.sum(f.rework_count),
        func.sum(f.reopened_count),
        _known(f.survey_rating),
        func.coalesce(func.sum(f.survey_rating), 0),
        func.sum(case((f.survey_rating <= rf.LOW_SCORE, 1), else_=0)),
        *dwell,
    ).where(_between(f.delivered_day, start, end, shop_id))
    for row in fetch(session, delivered.group_by(f.delivered_day, f.advisor_id)):
        day, advisor, n, promised, on_time, ftf, rework, reopened, responses, rating, low = row[:11]
        t = at(day)
        a = t.advisor(advisor)
        t.sums["delivered"] += n
        a["delivered"] += n
        t.sums["delivered_promised"] += promised or 0
        t.sums["delivered_on_time"] += on_time or 0
        t.sums["first_time_fix"] += ftf or 0
        t.sums["rework"] += rework or 0
        t.sums["reopened"] += reopened or 0
        if responses:
            t.sums["responses"] += responses
            t.sums["rating_sum"] += rating
            t.sums["low_scores"] += low or 0
            a["responses"] += responses
            a["rating_sum"] += rating
        for index, stage in enumerate(DWELL_STAGES):
            total, count = row[11 + 2 * index], row[12 + 2 * index]
            if count:
                t.sums[f"dwell_sum:{stage}"] += total
                t.sums[f"dwell_n:{stage}"] += count
    for day, rating, n in fetch(
        session,
        select(f.delivered_day, f.survey_rating, func.count())
        .where(_between(f.delivered_day, start, end, shop_id), f.survey_rating.is_not(None))
        .group_by(f.delivered_day, f.survey_rating),
    ):
        at(day).ratings[rating] += n
    if values:
        for day, order_id in fetch(
            session,
            select(f.delivered_day, f.order_id)
            .where(_between(f.delivered_day, start, end, shop_id), f.survey_rating <= rf.LOW_SCORE)
            .order_by(f.order_id),
        ):
            at(day).low_scores.append(order_id)
    for day, n in fetch(
        session,
        select(f.cancelled_day, func.count())
        .where(_between(f.cancelled_day, start, end, shop_id))
        .group_by(f.cancelled_day),
    ):
        at(day).sums["cancelled"] += n
    for day, sold, sold_clocked, clocked in fetch(
        session,
        select(
            f.labour_day,
            func.sum(f.sold_hours),
            func.sum(f.sold_hours_clocked),
            func.sum(f.clocked_hours),
        )
        .where(_between(f.labour_day, start, end, shop_id))
        .group_by(f.labour_day),
    ):
        t = at(day)
        t.sums["sold_hours"] += sold or 0.0
        t.sums["sold_hours_clocked"] += sold_clocked or 0.0
        t.sums["clocked_hours"] += clocked or 0.0
    p = PARTS.c
    if values:
        for day, order_id, quote_id in fetch(
            session,
            select(p.day, p.order_id, p.amount2)
            .where(
                p.shop_id == shop_id,
                p.kind == QUOTE,
                p.key == DECLINED,
                p.day >= start,
                p.day <= end,
            )
            .order_by(p.order_id, p.amount2),
        ):
            at(day).declined.append((order_id, int(quote_id)))
    # Only quotes are counted per advisor: the other parts' rows are not
    # multiplied by the advisors.
    advisor_of = case((p.kind == QUOTE, p.advisor_id), else_=None)
    for kind, day, key, advisor, n, amount, amount2 in fetch(
        session,
        select(
            p.kind,
            p.day,
            p.key,
            advisor_of,
            func.count(),
            func.sum(p.amount),
            func.sum(p.amount2),
        )
        .where(p.shop_id == shop_id, p.day >= start, p.day <= end)
        .group_by(p.kind, p.day, p.key, advisor_of),
    ):
        t = at(day)
        if kind == LABOUR:
            mine = t.techs.setdefault(int(key), [0.0, 0.0])
            mine[0] += amount
            mine[1] += amount2
        elif kind == BAY:
            t.bays[key] = t.bays.get(key, 0.0) + amount
        elif kind == QUOTE:
            a = t.advisor(advisor)
            t.sums["quotes"] += n
            t.sums[f"quotes:{key}"] += n
            t.sums[f"cents:{key}"] += amount
            a[f"quotes:{key}"] += n
            a[f"cents:{key}"] += amount
        elif kind == COMEBACK:
            t.sums["comebacks"] += n
    return days


# ---------------------------------------------------------------- the days' rollup


def _doubles(values: Sequence[float]) -> bytes:
    found = array("d", values)
    if sys.byteorder != "little":
        found.byteswap()
    return found.tobytes()


def _of_doubles(raw: bytes) -> list[float]:
    found = array("d")
    found.frombytes(raw)
    if sys.byteorder != "little":
        found.byteswap()
    return found.tolist()


def day_row(shop_id: int, day: date, t: rf.Totals) -> dict[str, Any]:
    """One day's ``Totals`` as its ``report_day`` row: the sums as JSON
    (floats as ``repr``: read back exactly), the medians' values as doubles."""
    totals = json.dumps(
        [
            {key: value for key, value in t.sums.items() if value},
            [[tech, clocked, sold] for tech, (clocked, sold) in t.techs.items()],
            t.bays,
            [
                [advisor, {key: value for key, value in sums.items() if value}]
                for advisor, sums in t.advisors.items()
            ],
            [[rating, n] for rating, n in t.ratings.items() if n],
            t.low_scores,
            t.declined,
        ],
        separators=(",", ":"),
    )
    return {
        "shop_id": shop_id,
        "day": day,
        "totals": totals,
        "cycle": _doubles(t.cycle),
        "wait": _doubles(t.wait),
    }


def totals_of_day(totals: str, cycle: bytes | None = None, wait: bytes | None = None) -> rf.Totals:
    """``day_row``'s inverse (without ``cycle`` and ``wait``: no medians' values)."""
    sums, techs, bays, advisors, ratings, low_scores, declined = json.loads(totals)
    t = rf.Totals()
    t.sums.update(sums)
    if cycle is not None:
        t.cycle = _of_doubles(cycle)
    if wait is not None:
        t.wait = _of_doubles(wait)
    t.techs = {tech: [clocked, sold] for tech, clocked, sold in techs}
    t.bays = bays
    for advisor, found in advisors:
        t.advisor(advisor).update(found)
    t.ratings.update({rating: n for rating, n in ratings})
    t.low_scores = low_scores
    t.declined = [(order_id, quote_id) for order_id, quote_id in declined]
    return t


def rollup_days(
    session: Session, shop_id: int, start: date, end: date, *, values: bool = True
) -> rf.Days:
    """The stored facts' per-day totals in [start, end] from ``report_day``:
    what ``stored_days`` sums, a row a day."""
    r = ROLLUP.c
    where = (r.shop_id == shop_id, r.day >= start, r.day <= end)
    if not values:
        return {
            as_day(day): totals_of_day(totals)
            for day, totals in fetch(session, select(r.day, r.totals).where(*where))
        }
    return {
        as_day(day): totals_of_day(totals, cycle, wait)
        for day, totals, cycle, wait in fetch(
            session, select(r.day, r.totals, r.cycle, r.wait).where(*where)
        )
    }


def _runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as (first, last) runs, days up to ``ROLLUP_GAP`` apart together."""
    out: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if out and (day - out[-1][1]).days <= ROLLUP_GAP:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def facts_days(f: OrderFacts) -> set[date]:
    """Every day one order's facts have a part on."""
    found = {
        day
        for day in (f.checkin_day, f.ready_day, f.delivered_day, f.cancelled_day, f.labour_day)
        if day is not None
    }
    found.update(b.day for b in f.bay_days)
    found.update(q.day for q in f.quotes)
    found.update(c.day for c in f.comebacks)
    return found


def _stored_days_of(session: Session, ids: Sequence[int]) -> set[date]:
    """Every day the stored facts of ``ids`` have a part on."""
    f, p = FACTS.c, PARTS.c
    found: set[date] = set()
    for row in session.execute(
        select(f.checkin_day, f.ready_day, f.delivered_day, f.cancelled_day, f.labour_day).where(
            f.order_id.in_(ids)
        )
    ):
        found.update(day for day in row if day is not None)
    found.update(session.execute(select(p.day).where(p.order_id.in_(ids)).distinct()).scalars())
    return found


def roll_up(session: Session, shop_id: int, days: Iterable[date]) -> None:
    """Sum ``days`` again from the stored facts into ``report_day`` (in the
    transaction that changed those facts)."""
    r = ROLLUP.c
    for first, last in _runs(days):
        totals = stored_days(session, shop_id, first, last)
        session.execute(delete(ROLLUP).where(r.shop_id == shop_id, r.day >= first, r.day <= last))
        if totals:
            session.execute(
                insert(ROLLUP),
                [day_row(shop_id, day, t) for day, t in sorted(totals.items())],
            )


def _lock_shop_facts(session: Session, shop_id: int) -> None:
    """Order the writers of one shop's facts across processes (SQLite's
    ``BEGIN IMMEDIATE`` already does)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key, :shop)"),
            {"key": ROLLUP_LOCK, "shop": shop_id},
        )


@dataclass
class RangeFacts:
    """A range's per-day totals and the facts recomputed for it from the log
    (open orders, and closed ones whose stored facts were stale)."""

    days: rf.Days
    live: list[OrderFacts]
    stale: Stale


def range_totals(
    session: Session,
    shop: ShopView,
    start: date,
    end: date,
    now: datetime,
    *,
    cached: bool = True,
    values: bool = True,
) -> RangeFacts:
    """The per-day totals of [start, end]: the stored rows summed in SQL,
    the stale ones' stored part taken out and their facts from the log put
    in. ``cached`` False: everything from the log (the reference)."""
    if not cached:
        ids = relevant_ids(session, shop, start, end)
        live = facts_from_log(session, shop, ids, now)
        return RangeFacts(rf.day_totals(live, start, end), live, Stale(ids, []))
    stale = stale_in_range(session, shop, start, end)
    days = rollup_days(session, shop.id, start, end, values=values)
    if stale.stored:
        old = rf.day_totals(stored_facts(session, stale.stored), start, end)
        for day, totals in old.items():
            days.setdefault(day, rf.Totals()).subtract(totals)
    live = facts_from_log(session, shop, stale.ids, now)
    for day, totals in rf.day_totals(live, start, end).items():
        days.setdefault(day, rf.Totals()).add(totals)
    return RangeFacts(days, live, stale)


# ---------------------------------------------------------------- writing


def _write(session: Session, shop_id: int, basis: str, facts: Iterable[OrderFacts]) -> int:
    facts = list(facts)
    ids = [f.order_id for f in facts]
    if not ids:
        return 0
    _lock_shop_facts(session, shop_id)
    # The days the old facts and the new ones touch are summed again.
    days = _stored_days_of(session, ids)
    for f in facts:
        days |= facts_days(f)
    session.execute(delete(PARTS).where(PARTS.c.order_id.in_(ids)))
    session.execute(delete(FACTS).where(FACTS.c.order_id.in_(ids)))
    session.execute(insert(FACTS), [fact_row(f, shop_id, basis) for f in facts])
    parts = [row for f in facts for row in part_rows(f, shop_id)]
    if parts:
        session.execute(insert(PARTS), parts)
    roll_up(session, shop_id, days)
    return len(ids)


def _due(session: Session, shop: ShopView, limit: int, mark: int | None) -> list[int]:
    """Closed orders whose stored facts are missing or stale. With a mark
    (``ReportMark``: every closed order without a later event has its facts
    stored), only the orders with an event since the mark are looked at,
    through the events' (shop, seq) index: the refresher asks every few
    seconds, and the join over a busy shop's year of orders is tens of
    milliseconds of SQLite, which under eventlet or gevent hold every
    green thread (every screen's publish) that long."""
    statement = (
        select(ORDERS.c.id)
        .select_from(ORDERS.outerjoin(FACTS, FACTS.c.order_id == ORDERS.c.id))
        .where(
            ORDERS.c.shop_id == shop.id,
            ORDERS.c.stage.in_(TERMINAL),
            or_(
                FACTS.c.order_id.is_(None),
                FACTS.c.version != ORDERS.c.version,
                FACTS.c.basis != shop.basis,
            ),
        )
    )
    if mark is not None:
        changed = select(OrderEvent.order_id).where(
            OrderEvent.shop_id == shop.id, OrderEvent.seq > mark
        )
        statement = statement.where(ORDERS.c.id.in_(changed))
    return list(session.execute(statement.order_by(ORDERS.c.id).limit(limit)).scalars())


@dataclass(frozen=True)
class _Pending:
    """What one shop's refresh has to store: the facts read from the log
    and, when they were all there was, the mark to move up to ``seq``."""

    shop_id: int
    basis: str
    facts: list[OrderFacts]
    complete: bool
    seq: int
    mark: Mark


def _pending(core: Core, shop_id: int, limit: int) -> _Pending | None:
    """The read half of a refresh (no lock taken); None: nothing to store."""
    now = core.now()
    with core.db.read() as session:
        shop = shop_view(session, shop_id)
        # Read before the due orders: every event up to it is seen by them.
        seq = session.execute(select(Shop.last_seq).where(Shop.id == shop_id)).scalar_one()
        mark = read_mark(session, shop)
        ids = _due(session, shop, limit, mark.seq)
        facts = facts_from_log(session, shop, ids, now)
        versions = (
            dict(
                session.execute(
                    select(ORDERS.c.id, ORDERS.c.version).where(ORDERS.c.id.in_(ids))
                ).all()
            )
            if ids
            else {}
        )
    # An order that moved between the read of its events and of its version
    # is left for the next round (its facts are of an older version; it has
    # an event after ``seq``, so the mark does not cover it).
    facts = [f for f in facts if versions.get(f.order_id) == f.version]
    complete = len(ids) < limit and (mark.seq is None or mark.seq < seq)
    if not facts and not complete:
        return None
    return _Pending(shop_id, shop.basis, facts, complete, seq, mark)


def pending_of(core: Core, shop_ids: Sequence[int], limit: int) -> list[_Pending]:
    """``_pending`` of each shop, for the refresher's round in the report
    worker (``ReportWorker.run``); the shops with nothing to store left out."""
    found = (_pending(core, shop_id, limit) for shop_id in shop_ids)
    return [pending for pending in found if pending is not None]


def _store(session: Session, pending: _Pending) -> int:
    """The write half: the facts, then the mark; how many orders' facts."""
    written = _write(session, pending.shop_id, pending.basis, pending.facts)
    if pending.complete:
        _lock_shop_facts(session, pending.shop_id)
        _set_mark(session, pending.shop_id, pending.seq, pending.basis, pending.mark)
    return written


def refresh_facts(core: Core, shop_id: int, limit: int = REFRESH_BATCH) -> int:
    """Store the facts of up to ``limit`` closed orders whose stored facts
    are missing or stale, waiting for the writer; how many were written
    (the background task, ``FactsRefresher``, stores only when the writer is
    free). When that was all there was to store, the mark (``ReportMark``)
    moves up to the shop's last event as read before looking."""
    pending = _pending(core, shop_id, limit)
    if pending is None:
        return 0
    with core.db.write() as session:
        return _store(session, pending)


def rebuild_facts(core: Core, shop_id: int) -> int:
    """Throw the shop's stored facts away and store every closed order's
    again from the log; how many orders it stored."""
    with core.db.write() as session:
        _lock_shop_facts(session, shop_id)
        _forget_mark(session, shop_id)
        session.execute(delete(ROLLUP).where(ROLLUP.c.shop_id == shop_id))
        session.execute(delete(PARTS).where(PARTS.c.shop_id == shop_id))
        session.execute(delete(FACTS).where(FACTS.c.shop_id == shop_id))
    total = 0
    while True:
        written = refresh_facts(core, shop_id, CHUNK)
        if not written:
            return total
        total += written


def shop_ids(core: Core) -> list[int]:
    with core.db.read() as session:
        return list(session.execute(select(Shop.id).order_by(Shop.id)).scalars())


def _groups(pending: list[_Pending], most: int) -> Iterator[list[_Pending]]:
    """``pending`` in order, cut into groups of at most ``most`` orders'
    facts (a shop's own batch is never cut; marks alone weigh nothing)."""
    group: list[_Pending] = []
    size = 0
    for item in pending:
        if group and size + len(item.facts) > most:
            yield group
            group, size = [], 0
        group.append(item)
        size += len(item.facts)
    if group:
        yield group


class FactsRefresher:
    """The per-process background task that keeps the stored facts current
    (``socketio.sleep`` as ``sleep``: it cooperates in every async mode).
    Every ``REFRESH_SECONDS`` it stores the facts of each shop's newly closed
    or changed orders: half the period idle, the other half reading the
    shops one by one at an even pace, then one short write."""

    def __init__(
        self,
        core: Core,
        sleep: Callable[[float], object],
        every: float = REFRESH_SECONDS,
        worker: ReportWorker | None = None,
    ) -> None:
        self.core = core
        self.sleep = sleep
        self.every = every
        self.worker = worker

    def round(self, spread: float = 0.0) -> int:
        """One pass over every shop; how many orders' facts it stored.

        Each shop's due facts are read on their own, the reads spread evenly
        over ``spread`` seconds, then stored together in as few transactions
        as their size allows: a quiet round is one transaction. A busy
        dealer's round was a burst: fifty shops read back to back (about
        100 ms of the process's time) and fifty commits in a row, each
        moving only a mark and holding the writer for its fsync; every
        change arriving meanwhile queued behind it, and the changes'
        publish took up to 110 ms for a third of a second every ten
        (measured in the busy dealer of ``make bench``)."""
        total = 0
        shops = shop_ids(self.core)
        while shops:
            pending = self._read(shops, spread)
            if pending is None:
                break  # the worker could not read them: the next round
            written = self._store_all(pending)
            if written is None:
                break  # the writer stayed busy: the next round
            total += sum(written.values())
            # A shop with a full batch may have more to store.
            shops = [shop_id for shop_id, count in written.items() if count >= REFRESH_BATCH]
        return total

    def _read(self, shops: list[int], spread: float) -> list[_Pending] | None:
        """The read half of a round for ``shops``. In the worker process
        when there is one (``serve`` starts it): one job reads them all
        there, at its low priority, and none of it takes the server's GIL
        (in the busy dealer of ``make bench`` the reads were 3 % of the
        server's Python time). Without a worker, here, the shops one by one
        at an even pace over ``spread`` seconds. None: the worker did not
        answer in time (logged)."""
        if self.worker is not None:
            # Not at the top: report_process imports the reports, and them this.
            from shared.services.report_process import ReportUnavailable

            try:
                return self.worker.run(pending_of, self.core.now(), shops, REFRESH_BATCH)
            except ReportUnavailable:
                log.warning("the worker could not read %s shop(s)' facts in time", len(shops))
                return None
        pause = spread / len(shops)
        pending: list[_Pending] = []
        for shop_id in shops:
            found = _pending(self.core, shop_id, REFRESH_BATCH)
            if found is not None:
                pending.append(found)
            self.sleep(pause)
        return pending

    def _store_all(self, pending: list[_Pending]) -> dict[int, int] | None:
        """Store ``pending`` in groups of at most ``REFRESH_BATCH`` orders'
        facts, one transaction each, each when the writer is free (a few
        tries a moment apart); how many each shop got stored, or None when
        the writer was busy before anything was."""
        written: dict[int, int] = {}
        for group in _groups(pending, REFRESH_BATCH):
            stored = self._store_group(group)
            if stored is None:
                return written or None
            written.update(stored)
        return written

    def _store_group(self, group: list[_Pending]) -> dict[int, int] | None:
        for _try in range(FREE_TRIES):
            with self.core.db.write_if_free() as free:
                if free is not None:
                    return {p.shop_id: _store(free, p) for p in group}
            self.sleep(FREE_WAIT_SECONDS)
        return None

    def run(self) -> None:
        while True:
            self.sleep(self.every / 2)
            try:
                self.round(spread=self.every / 2)
            except Exception:
                log.warning("refreshing the report facts failed", exc_info=True)
