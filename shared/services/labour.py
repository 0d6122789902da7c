"""Labour clock (电子工时): clock segments follow the order's moves.

Called by the order commands inside their transaction, after the domain rule
and before commit, so a refused clock move (e.g. a second active clock)
refuses the whole command and nothing is written. The rules themselves are
in ``shared.domain.labour``; this module loads segments, asks the rules and
writes their answer, and computes the foreman's figures from the segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.domain import labour as rules
from shared.domain.order import OrderState
from shared.domain.stages import Stage
from shared.persistence.models import LabourSegment, RepairOrder, Shop, StaffUser
from shared.services.commands import CommandRequest, Outcome, execute
from shared.services.core import Core
from shared.services.rows import state_from_row, write_state

if TYPE_CHECKING:
    from shared.services.commands import Transaction


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
    """End segments; flag them when the order's clocked hours pass 2× standard."""
    if not segments:
        return
    ended = [replace(s, ended_at=max(at, s.started_at), end_reason=reason) for s in segments]
    for order_id in {s.order_id for s in ended}:
        with session.no_autoflush:
            order = session.get(RepairOrder, order_id)
        if order is None:
            continue
        standard = state_from_row(order).total_labour_hours
        # An order sold without hours cannot overrun: skip reading its spans.
        if standard > 0 and rules.overrun(_order_hours(session, order_id, at, ended), standard):
            ended = [
                _flagged(s, rules.FLAG_OVERRUN) if s.order_id == order_id else s for s in ended
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


def _flagged(segment: rules.Segment, reason: str) -> rules.Segment:
    if reason in segment.flag_reason:
        return replace(segment, flagged=True)
    joined = "; ".join(r for r in (segment.flag_reason, reason) if r)[:200]
    return replace(segment, flagged=True, flag_reason=joined)


def _shift_end(shop: Shop, now: datetime) -> datetime:
    settings = shop.settings or {}
    return rules.shift_end_before(
        now, shop.timezone, rules.parse_shift_end(settings.get("shift_end"))
    )


def _sweep(session: Session, shop: Shop, now: datetime) -> list[rules.Segment]:
    """Close, at the shift's end and flagged, every clock left running past
    it; returns the clocks still running (one query serves both)."""
    last_end = _shift_end(shop, now)
    running = _running(session, shop.id)
    stale = [r for r in running if rules.forgotten(r, last_end)]
    _close(session, [_flagged(r, rules.FLAG_SHIFT_END) for r in stale], last_end, rules.END_SHIFT)
    return [r for r in running if r not in stale]


def _close_forgotten(session: Session, shop: Shop, now: datetime) -> int:
    """Close every clock left running past the shift's end; how many."""
    running = len(_running(session, shop.id))
    return running - len(_sweep(session, shop, now))


def _open(
    session: Session, shop_id: int, order_id: int, technicians: Sequence[int], at: datetime
) -> None:
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
            }
            for technician_id in technicians
        ],
    )


def clock_transition(
    tx: Transaction, row: RepairOrder, before: OrderState, after: OrderState
) -> None:
    """Open, close or refuse clock segments for a stage change."""
    running = _sweep(tx.session, tx.shop, tx.now)
    try:
        plan = rules.plan_stage_change(
            before=before.stage,
            after=after.stage,
            technicians=after.technicians,
            actor_id=tx.actor.user_id,
            running=running,
            order_id=row.id,
        )
    except errors.DomainError as refused:
        # The refusal carries the order as it stands: the state before this
        # command, which is what stays once the transaction rolls back.
        write_state(row, before)
        raise tx.refuse(refused, row) from None
    if plan.close_reason is not None:
        on_order = [r for r in running if r.order_id == row.id]
        _close(tx.session, on_order, tx.now, plan.close_reason)
    _open(tx.session, tx.shop.id, row.id, plan.open_for, tx.now)


def clock_assignment(
    tx: Transaction, row: RepairOrder, before: OrderState, after: OrderState
) -> None:
    """Close the segments of technicians taken off the order."""
    removed = set(rules.removed_technicians(before.technicians, after.technicians))
    if not removed:
        return
    stopped = [
        r
        for r in _running(tx.session, tx.shop.id)
        if r.order_id == row.id and r.technician_id in removed
    ]
    _close(tx.session, stopped, tx.now, rules.END_REASSIGNED)


def clock_on(core: Core, request: CommandRequest, order_id: int) -> Outcome:
    """A technician joins an order already in progress (a second technician,
    or the morning after a clock was closed at shift end)."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        technician_id = tx.actor.user_id
        if technician_id is None:
            raise errors.Forbidden("Only a signed-in technician clocks on.")
        running = _sweep(tx.session, tx.shop, tx.now)
        state = state_from_row(row)
        try:
            rules.check_can_clock(
                technician_id=technician_id,
                stage=state.stage,
                technicians=state.technicians,
                running=running,
                order_id=row.id,
            )
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
        mine = [r for r in running if r.order_id == row.id and r.technician_id == technician_id]
        if not mine:
            _open(tx.session, tx.shop.id, row.id, [technician_id], tx.now)
        return 200, {"order": tx.view(row), "clock": _clock_json(tx.session, technician_id)}

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


def close_shift(core: Core, shop_id: int) -> int:
    """Close and flag clocks left running past the last shift end; how many.
    Safe to call any time (a CLI cron, the foreman's screen): a clock is
    closed at the shift's end, not at the moment of the sweep."""
    with core.db.write() as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            raise errors.NotFound(f"No shop {shop_id}.")
        return _close_forgotten(session, shop, core.now())


def _day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return start, start + timedelta(days=1)


def _day_segments(
    session: Session, shop: Shop, day: date
) -> tuple[list[rules.Segment], dict[int, float], dict[int, RepairOrder]]:
    """Segments that touch the shop's business day, with their orders' standard hours."""
    start, end = _day_bounds(day, shop.timezone)
    segments = _segments(
        session,
        _SEGMENTS.c.shop_id == shop.id,
        _SEGMENTS.c.started_at < end,
        or_(_SEGMENTS.c.ended_at.is_(None), _SEGMENTS.c.ended_at >= start),
    )
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
    """The foreman's exception list for a business day (default: today)."""
    close_shift(core, shop_id)
    now = core.now()
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        segments, standard, orders = _day_segments(session, shop, day or _today(core, shop))
        names = _names(session, shop_id)
        return [
            {
                "kind": e.kind,
                "order_id": e.order_id,
                "number": orders[e.order_id].number if e.order_id in orders else None,
                "plate": orders[e.order_id].plate if e.order_id in orders else "",
                "technicians": [{"id": t, "name": names.get(t, "")} for t in e.technician_ids],
                "detail": e.detail,
                "clocked_hours": e.clocked_hours,
                "standard_hours": e.standard_hours,
            }
            for e in rules.exceptions(segments, standard, now)
        ]


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
        segments, standard, _orders = _day_segments(session, shop, day or _today(core, shop))
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
        segments, _standard, _orders = _day_segments(session, shop, day or _today(core, shop))
        clocked = rules.hours_by_order(segments, now)
        active = [s.value for s in Stage if s not in (Stage.BOOKED, Stage.CHECKED_IN)]
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
            if order.stage in ("delivered", "cancelled") and order.id not in clocked:
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
    order paused, and why), or idle."""
    with core.db.read() as session:
        running = {r.technician_id: r for r in _running(session, shop_id)}
        orders = list(
            session.execute(
                select(RepairOrder).where(
                    RepairOrder.shop_id == shop_id,
                    RepairOrder.stage.in_(["dispatched", "in_progress", "paused"]),
                )
            ).scalars()
        )
        people = session.execute(
            select(StaffUser)
            .where(StaffUser.shop_id == shop_id, StaffUser.role == "technician", StaffUser.active)
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
