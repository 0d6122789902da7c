"""The shop's load as the engine sees it, and what reception and the lounge
ask of it: the promise for a new order, the wait for a car checking in now.

Read in one go from the database (active orders and the earlier stretches
in progress of those worked, active technicians, the shop's calendar, what
its past says) and planned by the pure engine (``shared/domain/planner``);
nothing here writes. ``replanning`` records the engine's revisions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session

from shared.domain import errors, planner
from shared.domain import labour as labour_rules
from shared.domain.events import Event, StageChanged, event_from_record
from shared.domain.order import OrderState
from shared.domain.shop_calendar import ShopCalendar
from shared.domain.stages import PROMISE_RUNNING_STAGES, Role, Stage
from shared.persistence.models import LabourSegment, OrderEvent, RepairOrder, Shop, StaffUser
from shared.services.core import Core, TtlCache
from shared.services.rows import state_from_row

# The hours a desk may ask a promise for.
MAX_LABOUR_HOURS = 200.0
# A part with no expected arrival is planned to come this much later.
DEFAULT_PARTS_WAIT_MINUTES = 120.0


# What the shop's past says is read at most this often per shop (it moves
# only as cars are delivered; the outlook only with the day).
HISTORY_TTL_SECONDS = 900.0
# The stages of a car whose labour is all done.
DONE_STAGES = (Stage.READY.value, Stage.DELIVERED.value)


@dataclass(frozen=True)
class ShopHistory:
    """What the shop's past says (``planner.labour_factor`` of all its
    finished cars and of those with neither extra work nor rework, the
    latter's ``planner.job_ratios``, ``planner.day_outlooks``)."""

    labour_factor: float = 1.0
    job_factor: float | None = None
    outlooks: tuple[tuple[planner.PlanOrder, ...], ...] | None = None
    ratios: tuple[float, ...] = ()


@dataclass(frozen=True)
class ShopLoad:
    """What the engine needs of one shop, read in one go."""

    now: datetime
    calendar: ShopCalendar
    states: dict[int, OrderState]
    orders: tuple[planner.PlanOrder, ...]
    technicians: tuple[planner.Technician, ...]
    history: ShopHistory = ShopHistory()


# Keyed by database, shop and day: one process may serve several databases (tests).
_histories = TtlCache(HISTORY_TTL_SECONDS, limit=1_000)


# The plan's reads, built once: the report worker plans every busy shop
# once a second, and building these statements anew (SQLAlchemy's operator
# and coercion machinery) was a quarter of its time in the busy dealer.
_SHOP = select(Shop).where(Shop.id == bindparam("shop"))
# Column reads go through the session's connection: an ORM execution sets
# up its compile state on every call, for rows that need none of it.
_STAFF = StaffUser.__table__.c
_SEGMENTS = LabourSegment.__table__.c
_EVENTS = OrderEvent.__table__.c
_ORDERS = RepairOrder.__table__.c
_ACTIVE_ORDERS = select(*_ORDERS).where(
    _ORDERS.shop_id == bindparam("shop"),
    _ORDERS.stage.in_([s.value for s in PROMISE_RUNNING_STAGES]),
)
_TECHNICIANS = select(_STAFF.id).where(
    _STAFF.shop_id == bindparam("shop"),
    _STAFF.role == Role.TECHNICIAN.value,
    _STAFF.active.is_(True),
)
_RUNNING_CLOCKS = select(_SEGMENTS.order_id, _SEGMENTS.technician_id).where(
    _SEGMENTS.shop_id == bindparam("shop"),
    _SEGMENTS.ended_at.is_(None),
    _SEGMENTS.started_at >= bindparam("since"),
)
_STAGE_CHANGES = (
    select(_EVENTS.order_id, _EVENTS.seq, _EVENTS.at, _EVENTS.data)
    .where(
        _EVENTS.order_id.in_(bindparam("orders", expanding=True)),
        _EVENTS.type == StageChanged.type,
        _EVENTS.seq > bindparam("after"),
    )
    .order_by(_EVENTS.order_id, _EVENTS.seq)
)


def calendar_of(shop: Shop) -> ShopCalendar:
    return ShopCalendar.from_settings(shop.timezone, shop.settings or {})


def read_load(session: Session, shop: Shop, now: datetime) -> ShopLoad:
    # Read past the ORM, so flush as its own query would: a command's
    # transaction (a check-in's promise) sees what it has written.
    session.flush()
    rows = session.connection().execute(_ACTIVE_ORDERS, {"shop": shop.id})
    states = {row.id: state_from_row(row) for row in rows}
    stretches = read_stretches(session, states)
    idle = idle_orders(session, shop, now, states)
    parts_wait = parts_wait_minutes(shop.settings or {})
    technicians = session.connection().execute(_TECHNICIANS, {"shop": shop.id}).scalars()
    calendar = calendar_of(shop)
    history = history_of(session, shop, now, calendar)
    return ShopLoad(
        now=now,
        calendar=calendar,
        states=states,
        orders=tuple(
            planner.plan_order(
                i,
                s,
                now,
                parts_default_minutes=parts_wait,
                calendar=calendar,
                stretches=stretches.get(i, ()),
                idle=i in idle,
                ratios=history.ratios,
            )
            for i, s in sorted(states.items())
        ),
        technicians=tuple(planner.Technician(id=t) for t in sorted(technicians)),
        history=history,
    )


def idle_orders(
    session: Session, shop: Shop, now: datetime, states: dict[int, OrderState]
) -> set[int]:
    """The orders in progress whose technicians are all at work on other
    cars: each has a labour clock running elsewhere, started this shift
    (a clock forgotten since an earlier shift says nothing), and none runs
    on the order itself. A failed check sends a car back in progress while
    its technician is on his next car; the engine then has it wait for him."""
    busy = [i for i, s in states.items() if s.stage == Stage.IN_PROGRESS and s.technicians]
    if not busy:
        return set()
    shift_end = labour_rules.shift_end_before(
        now, shop.timezone, labour_rules.parse_shift_end((shop.settings or {}).get("shift_end"))
    )
    running = (
        session.connection().execute(_RUNNING_CLOCKS, {"shop": shop.id, "since": shift_end}).all()
    )
    on: dict[int, set[int]] = defaultdict(set)
    clocked: set[int] = set()
    for order_id, technician_id in running:
        on[technician_id].add(order_id)
        clocked.add(order_id)
    return {
        order_id
        for order_id in busy
        if order_id not in clocked and all(on[t] - {order_id} for t in states[order_id].technicians)
    }


# The stage changes read so far of each order being worked, per database:
# (the order's version then, the last seq read, its stage changes). The log
# only grows, so a plan reads only the changes after the last seq; a plan a
# second of a busy shop decoded every stage change of every worked order
# each time (a third of the report worker's time in the busy dealer).
# Forgotten after an hour, or all at once past the limit: a plan then reads
# those orders whole once more.
STRETCH_SECONDS = 3_600.0
STRETCH_ORDERS = 4_096
_stage_changes = TtlCache(STRETCH_SECONDS, limit=STRETCH_ORDERS)


def read_stretches(
    session: Session, states: dict[int, OrderState]
) -> dict[int, tuple[tuple[datetime, datetime], ...]]:
    """The earlier stretches in progress of the orders with repair still
    to do that have been worked (``planner.in_progress_stretches``, from
    their stage changes in the log), so the engine counts them in working
    minutes: one query on the log's order index, for the few such cars,
    reading only what came after what an earlier plan read of them."""
    worked = sorted(
        order_id
        for order_id, state in states.items()
        if state.worked_minutes > 0 and state.stage in planner.REPAIR_STAGES
    )
    if not worked:
        return {}
    database = database_key(session.get_bind().engine)
    known: dict[int, tuple[int, tuple[Event, ...]]] = {}
    for order_id in worked:
        entry = _stage_changes.get(stretch_key(database, order_id))
        # An order older than what was read of it: not the log that was read
        # (another database at the same address); read it whole.
        if entry is not None and entry[0] <= states[order_id].version:
            known[order_id] = (entry[1], entry[2])
    after = min((known[o][0] if o in known else 0) for o in worked)
    fresh: dict[int, list[Event]] = defaultdict(list)
    last: dict[int, int] = {}
    for order_id, seq, at, data in session.connection().execute(
        _STAGE_CHANGES, {"orders": worked, "after": after}
    ):
        if order_id in known and seq <= known[order_id][0]:
            continue
        fresh[order_id].append(event_from_record(StageChanged.type, at, data))
        last[order_id] = seq
    stretches: dict[int, tuple[tuple[datetime, datetime], ...]] = {}
    for order_id in worked:
        seq, before = known.get(order_id, (0, ()))
        changes = before + tuple(fresh.get(order_id, ()))
        _stage_changes.put(
            stretch_key(database, order_id),
            (states[order_id].version, last.get(order_id, seq), changes),
        )
        if changes:
            stretches[order_id] = planner.in_progress_stretches(changes)
    return stretches


_database_keys: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def database_key(engine: Engine) -> str:
    """The database an engine reaches, as the caches here key it (its URL,
    rendered once per engine rather than on every plan)."""
    key = _database_keys.get(engine)
    if key is None:
        key = _database_keys[engine] = str(engine.url)
    return key


def stretch_key(database: str, order_id: int) -> str:
    """Where ``read_stretches`` keeps what it read of one order."""
    return f"{database}|{order_id}"


def history_of(session: Session, shop: Shop, now: datetime, calendar: ShopCalendar) -> ShopHistory:
    """The shop's history as the engine uses it, read once per
    ``HISTORY_TTL_SECONDS`` and shop day."""
    today = now.astimezone(calendar.zone).date()
    key = f"{database_key(session.get_bind().engine)}|{shop.id}|{today.isoformat()}"
    found: ShopHistory | None = _histories.get(key)
    if found is None:
        found = read_history(session, shop.id, today, calendar)
        _histories.put(key, found)
    return found


def read_history(
    session: Session, shop_id: int, today: date, calendar: ShopCalendar
) -> ShopHistory:
    """The labour factor and the job factor from the cars finished in the
    last ``planner.LABOUR_HISTORY_DAYS`` (minutes on the labour clock against
    the standard hours booked; a car nobody clocked on says nothing; the job
    factor of those with no approved extra work and no rework), and the days
    today may be from the cars of the days before today."""
    zone = calendar.zone
    start = datetime.combine(today, time(0), tzinfo=zone)
    since = start - timedelta(days=planner.LABOUR_HISTORY_DAYS)
    finished = (
        RepairOrder.shop_id == shop_id,
        RepairOrder.stage.in_(DONE_STAGES),
        RepairOrder.ready_at >= since,
        RepairOrder.ready_at < start,
    )
    done = session.execute(
        select(
            RepairOrder.id, RepairOrder.items, RepairOrder.quotes, RepairOrder.rework_count
        ).where(*finished)
    ).all()
    booked = {order_id: _labour_minutes(items) for order_id, items, _, _ in done}
    plain = {
        order_id
        for order_id, _, quotes, rework_count in done
        if not rework_count and not any(q.get("status") == "approved" for q in quotes or ())
    }
    clocked: dict[int, float] = defaultdict(float)
    for order_id, began, ended in session.execute(
        select(LabourSegment.order_id, LabourSegment.started_at, LabourSegment.ended_at)
        .join(RepairOrder, RepairOrder.id == LabourSegment.order_id)
        .where(*finished, LabourSegment.ended_at.is_not(None))
    ):
        if ended is not None:
            clocked[order_id] += max(0.0, (ended - began).total_seconds() / 60)
    worked = [
        (order_id, clocked[order_id], minutes)
        for order_id, minutes in booked.items()
        if clocked[order_id]
    ]
    factor = planner.labour_factor((w, b) for _, w, b in worked)
    alone = [(w, b) for order_id, w, b in worked if order_id in plain]
    job_factor = planner.labour_factor(alone)
    came = session.execute(
        select(
            RepairOrder.created_at, RepairOrder.items, RepairOrder.priority, RepairOrder.waiting
        ).where(
            RepairOrder.shop_id == shop_id,
            RepairOrder.stage != Stage.BOOKED.value,
            RepairOrder.created_at >= start - timedelta(days=planner.OUTLOOK_HISTORY_DAYS * 3 + 14),
            RepairOrder.created_at < start,
        )
    ).all()
    outlooks = planner.day_outlooks(
        today,
        calendar,
        (
            planner.PastCar(created, _labour_minutes(items), priority, waiting=bool(waiting))
            for created, items, priority, waiting in came
        ),
    )
    return ShopHistory(
        labour_factor=factor,
        job_factor=job_factor,
        outlooks=outlooks,
        ratios=planner.job_ratios(alone),
    )


def _labour_minutes(items: list[Any] | None) -> float:
    """The standard minutes of a job order's items as booked."""
    return sum(float(item["labour_hours"]) for item in items or ()) * 60


def parts_wait_minutes(settings: dict[str, Any]) -> float:
    """How long a part with no expected arrival is planned to take: the
    shop's ``parts_wait_minutes`` setting (0–10080), else two hours."""
    value = settings.get("parts_wait_minutes")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 10080:
        return float(value)
    return DEFAULT_PARTS_WAIT_MINUTES


def load_of(core: Core, shop_id: int) -> ShopLoad:
    with core.db.read() as session:
        return load_in(session, shop_id, core.now())


def load_in(session: Session, shop_id: int, now: datetime) -> ShopLoad:
    """``load_of`` in a read session of the caller's (several shops planned
    in one round share one, not a transaction each)."""
    shop = session.execute(_SHOP, {"shop": shop_id}).scalar_one_or_none()
    if shop is None:
        raise errors.NotFound(f"No shop {shop_id}.")
    return read_load(session, shop, now)


def plan_of(load: ShopLoad) -> planner.Plan:
    return planner.plan(
        load.now,
        load.calendar,
        load.orders,
        load.technicians,
        labour_factor=load.history.labour_factor,
        job_factor=load.history.job_factor,
        outlooks=load.history.outlooks,
    )


def suggest_promise(
    core: Core, shop_id: int, labour_hours: float, *, waiting: bool
) -> dict[str, Any]:
    """The promised time to offer at reception for a new order of these
    hours: the engine's earliest honest completion, with when work would
    start and the queue before it, in the shop's time zone."""
    if not 0 <= labour_hours <= MAX_LABOUR_HOURS:
        raise errors.ValidationFailed("labour_hours", "labour_hours is 0 to 200.")
    load = load_of(core, shop_id)
    offered = planner.promise(plan_of(load), load.calendar, load.orders, labour_hours, waiting)
    zone = load.calendar.zone
    backlog = sum(o.remaining_minutes for o in load.orders) / 60
    return {
        "promised_at": offered.promised_at.astimezone(zone).isoformat(),
        "starts_at": offered.starts_at.astimezone(zone).isoformat(),
        "queue_minutes": offered.queue_minutes,
        "labour_hours": labour_hours,
        "waiting": waiting,
        "backlog_hours": round(backlog, 2),
        "technicians": len(load.technicians),
    }
