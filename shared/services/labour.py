"""Labour clock (电子工时): clock segments follow the order's moves.

An order command plans its clock moves (``plan_transition``) before it
records the order's events, so a refused clock move (e.g. a second active
clock) raises while nothing is written, and writes them (``move_clocks``)
after. Clocks left running past the shift's end are closed there by the
``end_shift`` command (the foreman's console), and by any command that finds
them first; either way the closing is announced to the staff room after
commit. Reads never write: the foreman's figures show such a clock as the
closing will leave it. The rules themselves are in ``shared.domain.labour``;
this module loads segments, asks the rules and writes their answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from shared.domain import errors, policy
from shared.domain import labour as rules
from shared.domain.order import Actor, OrderState
from shared.domain.stages import CLOCKED_STAGES, TERMINAL_STAGES, WORKING_STAGES, Role
from shared.persistence.models import LabourSegment, RepairOrder, Shop, StaffUser
from shared.realtime.publisher import Notice, staff_room
from shared.services.commands import CommandRequest, Outcome, execute
from shared.services.core import Core
from shared.services.rows import state_from_row

if TYPE_CHECKING:
    from shared.services.commands import LockedShop, Transaction


_SEGMENTS = cast(Table, LabourSegment.__table__)
_SEGMENT_COLUMNS = (
    _SEGMENTS.c.id,
    _SEGMENTS.c.order_id,
    _SEGMENTS.c.technician_id,
    _SEGMENTS.c.started_at,
    _SEGMENTS.c.ended_at,
    _SEGMENTS.c.end_reason,
    _SEGMENTS.c.flagged,
    _SEGMENTS.c.flag_reason,
)
_OPEN = insert(_SEGMENTS)
_END = (
    update(_SEGMENTS)
    .where(_SEGMENTS.c.id == bindparam("b_id"))
    .values(
        ended_at=bindparam("b_ended_at"),
        end_reason=bindparam("b_end_reason"),
        flagged=bindparam("b_flagged"),
        flag_reason=bindparam("b_flag_reason"),
    )
)


def _segments(session: Session, *where: Any, oldest_first: bool = False) -> list[rules.Segment]:
    """Segments as the rules' values, read as plain rows.

    Clocks are read and written with plain statements on the transaction's
    connection, never as ORM objects: every command reads the shop's running
    clocks, and the unit of work's per-object bookkeeping cost more than the
    statements themselves. A write is executed when the command decides it,
    so a later read in the same transaction sees it; nothing is pending, and
    these reads flush nothing the unit of work still holds.
    """
    statement = select(*_SEGMENT_COLUMNS).where(*where)
    if oldest_first:
        statement = statement.order_by(_SEGMENTS.c.id)
    return _read(session, statement, {})


def _read(session: Session, statement: Select[Any], params: dict[str, Any]) -> list[rules.Segment]:
    return [
        rules.Segment(
            id=row.id,
            order_id=row.order_id,
            technician_id=row.technician_id,
            started_at=row.started_at,
            ended_at=row.ended_at,
            end_reason=row.end_reason,
            flagged=row.flagged,
            flag_reason=row.flag_reason,
        )
        for row in session.connection().execute(statement, params)
    ]


# Read on every command: built once, so its cache key is too.
_RUNNING = select(*_SEGMENT_COLUMNS).where(
    _SEGMENTS.c.shop_id == bindparam("b_shop"), _SEGMENTS.c.ended_at.is_(None)
)


def _running(session: Session, shop_id: int) -> list[rules.Segment]:
    """The shop's running clocks, this transaction's own opens and closes included."""
    return _read(session, _RUNNING, {"b_shop": shop_id})


def _order_hours(
    session: Session, order_id: int, now: datetime, closing: Sequence[rules.Segment]
) -> float:
    """Hours clocked on one order, with ``closing`` counted as they will end."""
    ends = {s.id: s.ended_at for s in closing}
    spans = session.connection().execute(
        select(_SEGMENTS.c.id, _SEGMENTS.c.started_at, _SEGMENTS.c.ended_at).where(
            _SEGMENTS.c.order_id == order_id
        )
    )
    seconds: float = sum(
        max(0.0, ((ends.get(id_) or ended or now) - started).total_seconds())
        for id_, started, ended in spans
    )
    return seconds / 3600


def _close(session: Session, segments: Sequence[rules.Segment], at: datetime, reason: str) -> None:
    """End segments at ``at`` for ``reason``."""
    ended = [replace(s, ended_at=max(at, s.started_at), end_reason=reason) for s in segments]
    _write_ends(session, ended, at)


def _write_ends(session: Session, ended: Sequence[rules.Segment], at: datetime) -> None:
    """Write segments as ended; flag them when the order's clocked hours,
    counted up to ``at``, pass 2× standard."""
    if not ended:
        return
    for order_id in {s.order_id for s in ended}:
        with session.no_autoflush:
            order = session.get(RepairOrder, order_id)
        if order is None:
            continue
        standard = state_from_row(order).total_labour_hours
        # An order sold without hours cannot overrun: skip reading its spans.
        if standard > 0 and rules.overrun(_order_hours(session, order_id, at, ended), standard):
            ended = [
                rules.flag(s, rules.FLAG_OVERRUN) if s.order_id == order_id else s for s in ended
            ]
    session.connection().execute(
        _END,
        [
            {
                "b_id": s.id,
                "b_ended_at": s.ended_at,
                "b_end_reason": s.end_reason,
                "b_flagged": s.flagged,
                "b_flag_reason": s.flag_reason,
            }
            for s in ended
        ],
    )


def _shift_end(shop: Shop | LockedShop, now: datetime) -> datetime:
    settings = shop.settings or {}
    return rules.shift_end_before(
        now, shop.timezone, rules.parse_shift_end(settings.get("shift_end"))
    )


def _split(session: Session, shop: Shop | LockedShop, now: datetime) -> rules.ShiftSplit:
    """The shop's running clocks, split at the last shift end (reads only)."""
    return rules.split_at_shift_end(_running(session, shop.id), _shift_end(shop, now))


def _close_at_shift_end(tx: Transaction, split: rules.ShiftSplit) -> None:
    """Write the clocks the last shift end closed, and announce it to the
    staff room with the command's publish."""
    closed = split.event()
    if closed is None:
        return
    _write_ends(tx.session, split.closing, split.shift_end)
    tx.notify(Notice(closed.type, closed.data(), (staff_room(tx.locked.id),)))


def _who(actor: Actor) -> str:
    """The actor as a clock records who started it (their credential's ref)."""
    return actor.ref or actor.name


# How a clock started: the technician's own tap, or a foreman's explicit act.
STARTED_OWN = "own"
STARTED_BY_FOREMAN = "foreman"


def _open(
    session: Session,
    shop_id: int,
    order_id: int,
    technicians: Sequence[int],
    at: datetime,
    *,
    started_by: str,
    how: str = STARTED_OWN,
) -> None:
    """Start clocks, recording who started each (the acting person) and how."""
    if not technicians:
        return
    session.connection().execute(
        _OPEN,
        [
            {
                "shop_id": shop_id,
                "order_id": order_id,
                "technician_id": technician_id,
                "started_at": at,
                "ended_at": None,
                "end_reason": None,
                "flagged": False,
                "flag_reason": "",
                "started_by": started_by,
                "started_how": how,
            }
            for technician_id in technicians
        ],
    )


@dataclass(frozen=True)
class ClockMoves:
    """One order command's clock moves, planned before anything is written:
    the clocks the last shift end closes, the order's running clocks that
    stop (and why), and the technicians whose clock starts on it."""

    order_id: int
    shift: rules.ShiftSplit
    stop: tuple[rules.Segment, ...] = ()
    stop_reason: str | None = None
    start_for: tuple[int, ...] = ()


def plan_transition(
    tx: Transaction, row: RepairOrder, before: OrderState, after: OrderState
) -> ClockMoves:
    """The clock moves of the order's change from ``before`` to ``after`` (its
    events folded), or the refusal (e.g. a second active clock). Call it
    before recording the events: it only reads, so a refusal leaves the row
    as loaded and nothing written; ``move_clocks`` writes the plan once the
    events are recorded."""
    shift = _split(tx.session, tx.locked, tx.now)
    try:
        plan = rules.plan_stage_change(
            before=before.stage,
            after=after.stage,
            technicians=after.technicians,
            actor_id=tx.actor.user_id,
            running=shift.running,
            order_id=row.id,
        )
    except errors.DomainError as refused:
        raise tx.refuse(refused, row) from None
    stop: tuple[rules.Segment, ...] = ()
    if plan.close_reason is not None:
        stop = tuple(r for r in shift.running if r.order_id == row.id)
    return ClockMoves(row.id, shift, stop, plan.close_reason, plan.open_for)


def move_clocks(tx: Transaction, moves: ClockMoves) -> None:
    """Write planned clock moves (in the command's transaction)."""
    _close_at_shift_end(tx, moves.shift)
    if moves.stop_reason is not None:
        _close(tx.session, moves.stop, tx.now, moves.stop_reason)
    _open(
        tx.session,
        tx.locked.id,
        moves.order_id,
        moves.start_for,
        tx.now,
        started_by=_who(tx.actor),
    )


def clock_assignment(
    tx: Transaction, row: RepairOrder, before: OrderState, after: OrderState
) -> None:
    """Close the segments of technicians taken off the order."""
    removed = set(rules.removed_technicians(before.technicians, after.technicians))
    if not removed:
        return
    stopped = [
        r
        for r in _running(tx.session, tx.locked.id)
        if r.order_id == row.id and r.technician_id in removed
    ]
    _close(tx.session, stopped, tx.now, rules.END_REASSIGNED)


def clock_on(
    core: Core, request: CommandRequest, order_id: int, technician_id: int | None = None
) -> Outcome:
    """A technician joins an order already in progress (a second technician,
    the morning after a clock was closed at shift end, or after a resume by
    someone else). With ``technician_id`` the foreman starts that
    technician's clock: an explicit act, recorded as the foreman's."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        how = STARTED_OWN
        clocked = tx.actor.user_id
        if technician_id is not None and technician_id != clocked:
            if not policy.may(tx.actor, policy.Command.DISPATCH):
                raise tx.refuse(errors.Forbidden("Only the foreman starts another's clock."), row)
            clocked, how = technician_id, STARTED_BY_FOREMAN
        if clocked is None:
            raise errors.Forbidden("Only a signed-in technician clocks on.")
        shift = _split(tx.session, tx.locked, tx.now)
        state = state_from_row(row)
        try:
            rules.check_can_clock(
                technician_id=clocked,
                stage=state.stage,
                technicians=state.technicians,
                running=shift.running,
                order_id=row.id,
            )
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
        _close_at_shift_end(tx, shift)
        mine = [r for r in shift.running if r.order_id == row.id and r.technician_id == clocked]
        if not mine:
            _open(
                tx.session,
                tx.locked.id,
                row.id,
                [clocked],
                tx.now,
                started_by=_who(tx.actor),
                how=how,
            )
            # Screens that show clocks (the technician's kiosk, the console)
            # hear of it: it changes no order, so no order message says so.
            started = {"order_id": row.id, "technician_id": clocked, "how": how}
            tx.notify(Notice("clock_started", started, (staff_room(tx.locked.id),)))
        return 200, {"order": tx.view(row), "clock": _clock_json(tx.session, clocked)}

    return execute(core, request, "clock_on", work)


# ---------------------------------------------------------------- reads


def _clock_json(session: Session, technician_id: int) -> dict[str, Any] | None:
    running = _segments(
        session, _SEGMENTS.c.technician_id == technician_id, _SEGMENTS.c.ended_at.is_(None)
    )
    if not running:
        return None
    return {"order_id": running[0].order_id, "started_at": running[0].started_at.isoformat()}


def running_clock(core: Core, technician_id: int) -> dict[str, Any] | None:
    """The technician's running clock (order and start), if any."""
    with core.db.read() as session:
        return _clock_json(session, technician_id)


def end_shift(core: Core, request: CommandRequest) -> Outcome:
    """Close every clock left running past the last shift end: each at that
    end, flagged for the foreman, and the closing announced to the staff room
    after commit (``shift_closed``). A command like every other (the shop
    row locked, an Idempotency-Key replayed); safe to run any time, since a
    clock is closed at the shift's end, not at the moment of the command,
    and a second run finds nothing left. Answers 200 {closed, shift_end}."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        shift = _split(tx.session, tx.locked, tx.now)
        _close_at_shift_end(tx, shift)
        return 200, {"closed": len(shift.closing), "shift_end": shift.shift_end.isoformat()}

    return execute(core, request, "close_shift", work)


# Who closes a shift when no person does (a timer, a cron job, a test).
SHIFT_CLOCK = Actor(name="shift clock", roles=frozenset({Role.SYSTEM}), ref="system:shift")


def close_shift(core: Core, shop_id: int) -> int:
    """``end_shift`` for the shop as the system; how many clocks it closed."""
    return int(end_shift(core, CommandRequest(SHIFT_CLOCK, shop_id)).body["closed"])


def _day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return start, start + timedelta(days=1)


def _as_closing_leaves_them(
    segments: Sequence[rules.Segment], shop: Shop, now: datetime
) -> list[rules.Segment]:
    """Segments with each clock left running past the last shift end shown
    as closing it will leave it (ended there, flagged), without writing."""
    split = _split_of(segments, shop, now)
    closing = {s.id: s for s in split.closing}
    return [closing.get(s.id, s) for s in segments]


def _split_of(segments: Sequence[rules.Segment], shop: Shop, now: datetime) -> rules.ShiftSplit:
    running = [s for s in segments if s.running]
    return rules.split_at_shift_end(running, _shift_end(shop, now))


def _day_segments(
    session: Session, shop: Shop, day: date, now: datetime
) -> tuple[list[rules.Segment], dict[int, float], dict[int, RepairOrder]]:
    """Segments that touch the shop's business day, with their orders'
    standard hours; a clock left running past the shift end counts as
    closed there (the figures the closing will give)."""
    start, end = _day_bounds(day, shop.timezone)
    read = _segments(
        session,
        _SEGMENTS.c.shop_id == shop.id,
        _SEGMENTS.c.started_at < end,
        or_(_SEGMENTS.c.ended_at.is_(None), _SEGMENTS.c.ended_at >= start),
    )
    segments = [
        s
        for s in _as_closing_leaves_them(read, shop, now)
        if s.ended_at is None or s.ended_at >= start
    ]
    orders: dict[int, RepairOrder] = {}
    for order_id in {s.order_id for s in segments}:
        order = session.get(RepairOrder, order_id)
        if order is not None:
            orders[order_id] = order
    standard = {i: state_from_row(o).total_labour_hours for i, o in orders.items()}
    return segments, standard, orders


def _shop(session: Session, shop_id: int) -> Shop:
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise errors.NotFound(f"No shop {shop_id}.")
    return shop


def _today(core: Core, shop: Shop) -> date:
    return rules.business_day(core.now(), shop.timezone)


def daily_exceptions(core: Core, shop_id: int, day: date | None = None) -> list[dict[str, Any]]:
    """The foreman's exception list for a business day (default: today).
    A read: a clock left running past the shift end is listed as closed
    there, as ``end_shift`` will close it, but nothing is written."""
    now = core.now()
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        segments, standard, orders = _day_segments(session, shop, day or _today(core, shop), now)
        names = _names(session, shop_id)
        return [
            _exception_json(e, orders, names) for e in rules.exceptions(segments, standard, now)
        ]


def _exception_json(
    e: rules.LabourException, orders: dict[int, RepairOrder], names: dict[int, str]
) -> dict[str, Any]:
    order = orders.get(e.order_id)
    return {
        "kind": e.kind,
        "order_id": e.order_id,
        "number": order.number if order is not None else None,
        "plate": order.plate if order is not None else "",
        "technicians": [{"id": t, "name": names.get(t, "")} for t in e.technician_ids],
        "detail": e.detail,
        "clocked_hours": e.clocked_hours,
        "standard_hours": e.standard_hours,
    }


# The longest range one read covers (a year, and a leap day).
EXCEPTIONS_MAX_DAYS = 366


def exceptions_between(core: Core, shop_id: int, start: date, end: date) -> list[dict[str, Any]]:
    """The foreman's daily exception list for each shop day from ``start``
    to ``end`` (inclusive, the shop's calendar), oldest day first, each line
    with its ``day``: for every day exactly what ``daily_exceptions`` lists
    for it. History is the ``labour_segment`` rows as they are (a closed
    day's clocks were closed by ``end_shift`` or a later command); a clock
    still left running past the shift end is listed as closing will leave
    it. A read: it never writes (closing a shift is the ``end_shift``
    command). Days after today have nothing yet. One read of the segments
    of the whole range, grouped by the days each touches."""
    if end < start:
        raise errors.ValidationFailed("to", errors.Message("The range ends before it starts."))
    if (end - start).days + 1 > EXCEPTIONS_MAX_DAYS:
        raise errors.ValidationFailed(
            "to",
            errors.Message("A range is at most %(days)s days.", days=EXCEPTIONS_MAX_DAYS),
        )
    now = core.now()
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        last = min(end, _today(core, shop))
        if last < start:
            return []
        zone = ZoneInfo(shop.timezone)
        first_start, _unused = _day_bounds(start, shop.timezone)
        _unused, last_end = _day_bounds(last, shop.timezone)
        read = _segments(
            session,
            _SEGMENTS.c.shop_id == shop.id,
            _SEGMENTS.c.started_at < last_end,
            or_(_SEGMENTS.c.ended_at.is_(None), _SEGMENTS.c.ended_at >= first_start),
        )
        by_day: dict[date, list[rules.Segment]] = {}
        for segment in _as_closing_leaves_them(read, shop, now):
            # The days a segment touches: from the day it started (or the
            # range's first) to the day it ended, a running one to today.
            first = max(segment.started_at.astimezone(zone).date(), start)
            stop = min((segment.ended_at or now).astimezone(zone).date(), last)
            day = first
            while day <= stop:
                by_day.setdefault(day, []).append(segment)
                day += timedelta(days=1)
        ids = sorted({s.order_id for segments in by_day.values() for s in segments})
        orders: dict[int, RepairOrder] = {}
        if ids:
            orders = {
                o.id: o
                for o in session.execute(
                    select(RepairOrder).where(RepairOrder.id.in_(ids))
                ).scalars()
            }
        standard = {i: state_from_row(o).total_labour_hours for i, o in orders.items()}
        names = _names(session, shop_id)
        found: list[dict[str, Any]] = []
        for day in sorted(by_day):
            for e in rules.exceptions(by_day[day], standard, now):
                found.append({"day": day.isoformat(), **_exception_json(e, orders, names)})
        return found


def _names(session: Session, shop_id: int) -> dict[int, str]:
    rows = session.execute(
        select(StaffUser.id, StaffUser.name).where(StaffUser.shop_id == shop_id)
    ).all()
    return {user_id: name for user_id, name in rows}


def sold_vs_clocked(core: Core, shop_id: int, day: date | None = None) -> list[dict[str, Any]]:
    """Sold vs clocked hours per technician over a business day, from the segments."""
    now = core.now()
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        segments, standard, _orders = _day_segments(session, shop, day or _today(core, shop), now)
        names = _names(session, shop_id)
        return [
            {
                "technician": {"id": e.technician_id, "name": names.get(e.technician_id, "")},
                "sold_hours": e.sold_hours,
                "clocked_hours": e.clocked_hours,
                "ratio": e.ratio,
            }
            for e in rules.sold_vs_clocked(segments, standard, now)
        ]


def bay_plan(core: Core, shop_id: int, day: date | None = None) -> list[dict[str, Any]]:
    """The day's plan vs actual per bay: each order on the bay with its sold
    (planned) hours and the hours clocked on it so far."""
    now = core.now()
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        segments, _standard, _orders = _day_segments(session, shop, day or _today(core, shop), now)
        clocked = rules.hours_by_order(segments, now)
        active = [s.value for s in CLOCKED_STAGES]
        rows = session.execute(
            select(RepairOrder)
            .where(
                RepairOrder.shop_id == shop_id,
                RepairOrder.bay.is_not(None),
                or_(RepairOrder.id.in_(list(clocked)), RepairOrder.stage.in_(active)),
            )
            .order_by(RepairOrder.id)
        ).scalars()
        plan: dict[str, list[dict[str, Any]]] = {}
        for order in rows:
            if order.bay is None:
                continue
            if order.stage in TERMINAL_STAGES and order.id not in clocked:
                continue
            plan.setdefault(order.bay, []).append(
                {
                    "order_id": order.id,
                    "number": order.number,
                    "plate": order.plate,
                    "stage": order.stage,
                    "planned_hours": state_from_row(order).total_labour_hours,
                    "clocked_hours": round(clocked.get(order.id, 0.0), 2),
                }
            )
        return [
            {
                "bay": bay,
                "orders": entries,
                "planned_hours": round(sum(e["planned_hours"] for e in entries), 2),
                "clocked_hours": round(sum(e["clocked_hours"] for e in entries), 2),
            }
            for bay, entries in sorted(plan.items())
        ]


def technician_states(core: Core, shop_id: int) -> list[dict[str, Any]]:
    """Each technician: working (clock running, on which order), paused (on an
    order paused, and why), or idle. A clock left running past the shift end
    is not working: closing the shift ends it."""
    now = core.now()
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        split = _split_of(_running(session, shop_id), shop, now)
        running = {r.technician_id: r for r in split.running}
        orders = list(
            session.execute(
                select(RepairOrder).where(
                    RepairOrder.shop_id == shop_id,
                    RepairOrder.stage.in_([s.value for s in WORKING_STAGES]),
                )
            ).scalars()
        )
        people = session.execute(
            select(StaffUser)
            .where(
                StaffUser.shop_id == shop_id,
                StaffUser.role == Role.TECHNICIAN.value,
                StaffUser.active,
            )
            .order_by(StaffUser.name)
        ).scalars()
        states = []
        for person in people:
            mine = [o for o in orders if person.id in [int(t) for t in o.technicians]]
            states.append(_technician_state(person, running.get(person.id), mine))
        return states


def _technician_state(
    person: StaffUser, clock: rules.Segment | None, mine: list[RepairOrder]
) -> dict[str, Any]:
    state: dict[str, Any] = {"id": person.id, "name": person.name, "state": "idle"}
    if clock is not None:
        state.update(state="working", order_id=clock.order_id, since=clock.started_at.isoformat())
        return state
    paused = [o for o in mine if o.stage == "paused"]
    if paused:
        state.update(state="paused", order_id=paused[0].id, reason=paused[0].pause_reason)
    state["assigned"] = [o.id for o in mine]
    return state


def order_segments(core: Core, order_id: int) -> list[rules.Segment]:
    """Every segment of one order, oldest first (for tests and audits)."""
    with core.db.read() as session:
        return _segments(session, _SEGMENTS.c.order_id == order_id, oldest_first=True)
