"""The read side: lists, one order with its history, the event feed, and what
a screen receives on connect (snapshot) or on reconnect (what it missed)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.domain import bays as bay_rules
from shared.domain import errors, planner, policy
from shared.domain.shop_calendar import ShopCalendar
from shared.domain.stages import (
    ACTIVE_STAGES,
    HOLDING_STAGES,
    IN_SHOP_STAGES,
    WORKING_STAGES,
    PauseReason,
    Role,
    Stage,
    stage_groups,
)
from shared.persistence.models import Bay, OrderEvent, RepairOrder, Shop, StaffUser
from shared.services import kiosk_login, labour, links, shop_load, shop_settings
from shared.services.auth import Principal
from shared.services.core import Core
from shared.services.rows import state_from_row
from shared.services.views import customer_view, lounge_view, staff_view

log = logging.getLogger(__name__)

# Beyond this many missed events a full snapshot is cheaper than the replay.
RESYNC_LIMIT = 500
# The largest seq a reader may ask to read after: far beyond any shop's log,
# and small enough for every database's BIGINT.
EVENTS_AFTER_MAX = 2**62
ACTIVE = [s.value for s in ACTIVE_STAGES]
# The shop setting that caps the lounge's minutes (beyond it the TV names the
# time work should start instead), and its default.
LOUNGE_CAP_SETTING = "lounge_wait_cap_minutes"
DEFAULT_LOUNGE_CAP_MINUTES = 180
# The queue when it cannot be told (no shop calendar to plan on): the TV shows "—".
UNKNOWN_QUEUE: dict[str, Any] = {
    "ahead": -1,
    "low_minutes": None,
    "high_minutes": None,
    "after": None,
}


def _names(session: Session, shop_id: int) -> dict[int, str]:
    rows = session.execute(
        select(StaffUser.id, StaffUser.name).where(StaffUser.shop_id == shop_id)
    ).all()
    return {user_id: name for user_id, name in rows}


def last_seq(session: Session, shop_id: int) -> int:
    value = session.execute(select(Shop.last_seq).where(Shop.id == shop_id)).scalar()
    return int(value or 0)


def current_seq(core: Core, shop_id: int) -> int:
    with core.db.read() as session:
        return last_seq(session, shop_id)


def current_seqs(core: Core, shop_ids: list[int]) -> dict[int, int]:
    """Each shop's newest seq, in one query (a shop that is gone reads 0)."""
    with core.db.read() as session:
        rows = session.execute(select(Shop.id, Shop.last_seq).where(Shop.id.in_(shop_ids)))
        found = {shop_id: int(seq or 0) for shop_id, seq in rows}
    return {shop_id: found.get(shop_id, 0) for shop_id in shop_ids}


def list_orders(
    core: Core, shop_id: int, *, active: bool | None = True, stage: str | None = None
) -> list[dict[str, Any]]:
    if stage is not None and stage not in {s.value for s in Stage}:
        raise errors.ValidationFailed("stage", f"Unknown stage {stage!r}.")
    with core.db.read() as session:
        query = select(RepairOrder).where(RepairOrder.shop_id == shop_id)
        if active is True:
            query = query.where(RepairOrder.stage.in_(ACTIVE))
        elif active is False:
            query = query.where(RepairOrder.stage.not_in(ACTIVE))
        if stage is not None:
            query = query.where(RepairOrder.stage == stage)
        rows = session.execute(query.order_by(RepairOrder.id)).scalars().all()
        names = _names(session, shop_id)
        now = core.now()
        return [staff_view(r, names, links.base_url(core.settings), now) for r in rows]


def _event_json(event: OrderEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "type": event.type,
        "order_id": event.order_id,
        "at": event.at.isoformat(),
        "actor": event.actor_name or event.actor,
        "data": event.data,
    }


def get_order(core: Core, shop_id: int, order_id: int) -> dict[str, Any]:
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        if row is None or row.shop_id != shop_id:
            raise errors.NotFound(f"No order {order_id}.")
        events = session.execute(
            select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.seq)
        ).scalars()
        view = staff_view(row, _names(session, shop_id), links.base_url(core.settings), core.now())
        view["history"] = [_event_json(e) for e in events]
        return view


def events_after(core: Core, shop_id: int, after: int, limit: int) -> dict[str, Any]:
    with core.db.read() as session:
        events = (
            session.execute(
                select(OrderEvent)
                .where(OrderEvent.shop_id == shop_id, OrderEvent.seq > after)
                .order_by(OrderEvent.seq)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        return {
            "events": [_event_json(e) for e in events],
            "last_seq": last_seq(session, shop_id),
        }


def customer_timeline(session: Session, order_id: int) -> list[dict[str, Any]]:
    """Stage changes with their times, for the customer's own page."""
    events = session.execute(
        select(OrderEvent)
        .where(
            OrderEvent.order_id == order_id, OrderEvent.type.in_(["order_created", "stage_changed"])
        )
        .order_by(OrderEvent.seq)
    ).scalars()
    timeline = []
    for event in events:
        stage = event.data.get("to_stage") or event.data.get("stage")
        timeline.append({"stage": stage, "at": event.at.isoformat()})
    return timeline


def _view_for(
    principal: Principal, row: RepairOrder, names: dict[int, str], core: Core
) -> dict[str, Any]:
    if principal.audience == "lounge":
        return lounge_view(row)
    if principal.audience == "customer":
        return customer_view(row, now=core.now())
    return staff_view(row, names, links.base_url(core.settings), core.now())


SnapshotKey = tuple[int, str, int | None]


def snapshot_key(principal: Principal) -> SnapshotKey:
    """What ``snapshot`` depends on besides the data and the time: the shop,
    the audience, and for a customer the order. Every principal with the same
    key gets the same snapshot, so screens may share one
    (``shared.services.snapshots``); a snapshot that came to depend on more
    of the principal must add it here."""
    order_id = principal.order_id if principal.audience == "customer" else None
    return (principal.shop_id, principal.audience, order_id)


def snapshot(core: Core, principal: Principal) -> dict[str, Any]:
    """Everything a screen shows, stamped with the seq it is consistent with.
    It depends on the principal only through ``snapshot_key``."""
    with core.db.read() as session:
        seq = last_seq(session, principal.shop_id)
        if principal.audience == "customer":
            row = session.get(RepairOrder, principal.order_id)
            orders = []
            if row is not None:
                view = customer_view(row, customer_timeline(session, row.id), now=core.now())
                orders = [view]
            return {
                "seq": seq,
                "orders": orders,
                "bays": [],
                "technicians": [],
                "shop": shop_info(session, principal.shop_id),
                "stage_groups": stage_groups(),
            }
        query = select(RepairOrder).where(RepairOrder.shop_id == principal.shop_id)
        if principal.audience == "lounge":
            query = query.where(RepairOrder.stage.in_(sorted(s.value for s in IN_SHOP_STAGES)))
        else:
            query = query.where(RepairOrder.stage.in_(ACTIVE))
        rows = session.execute(query.order_by(RepairOrder.id)).scalars().all()
        names = _names(session, principal.shop_id) if principal.is_staff else {}
        orders = [_view_for(principal, r, names, core) for r in rows]
        if principal.audience == "lounge":
            return {
                "seq": seq,
                "orders": orders,
                "bays": [],
                "technicians": [],
                "shop": shop_info(session, principal.shop_id),
                "stage_groups": stage_groups(),
                "queue": reception_queue(session, principal.shop_id, core.now()),
            }
        return {
            "seq": seq,
            "orders": orders,
            "bays": bays(session, principal.shop_id),
            "bays_version": bays_version(session, principal.shop_id),
            "technicians": technicians(session, principal.shop_id),
            "shop": shop_info(session, principal.shop_id),
            # The screens draw their columns and steps from these, never
            # from lists of their own.
            "stage_groups": stage_groups(),
        }


def shop_info(session: Session, shop_id: int) -> dict[str, Any]:
    """What every screen needs of the shop: its name, time zone (to show
    times right), opening hours (the lounge TV goes blank outside them), its
    own stage words, lounge settings, and the profile's version
    (``shop_settings.screen_info``; the ``shop`` message carries the same)."""
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise errors.NotFound(f"No shop {shop_id}.")
    return shop_settings.screen_info(shop)


def bays_version(session: Session, shop_id: int) -> int:
    """How many times the shop's bays were changed: a staff screen keeps the
    newer of a snapshot's bays and a ``bays`` message's."""
    settings = session.execute(select(Shop.settings).where(Shop.id == shop_id)).scalar()
    return shop_settings.bays_version(settings or {})


def shop_timezone(core: Core, shop_id: int) -> str:
    """The shop's IANA zone, for the pages that name it in their head."""
    with core.db.read() as session:
        return str(shop_info(session, shop_id)["timezone"])


def lounge_cap_minutes(settings: Mapping[str, Any] | None) -> int:
    """The shop's cap on the lounge's minutes (``lounge_wait_cap_minutes``,
    1 to ``planner.MAX_LOUNGE_CAP``); anything else there reads as the default,
    so a bad setting can never take the lounge's queue away."""
    value = (settings or {}).get(LOUNGE_CAP_SETTING)
    if isinstance(value, bool) or not isinstance(value, int):
        return DEFAULT_LOUNGE_CAP_MINUTES
    if 0 < value <= planner.MAX_LOUNGE_CAP:
        return value
    return DEFAULT_LOUNGE_CAP_MINUTES


def lounge_queue_json(wait: planner.LoungeWait, zone: ZoneInfo) -> dict[str, Any]:
    """What the lounge TV receives of the wait: cars ahead and a range of
    minutes, or, past the shop's cap, only when work should start (in the
    shop's zone, with its offset) and no minutes at all, so the screen can
    never show a four-digit wait."""
    if wait.after is not None:
        return {
            "ahead": wait.cars_ahead,
            "low_minutes": None,
            "high_minutes": None,
            "after": wait.after.astimezone(zone).isoformat(),
        }
    return {
        "ahead": wait.cars_ahead,
        "low_minutes": wait.low_minutes,
        "high_minutes": wait.high_minutes,
        "after": None,
    }


def reception_queue(session: Session, shop_id: int, now: datetime) -> dict[str, Any]:
    """The wait a car checking in now faces before work starts, from the
    shop-load engine (``planner.lounge_wait``): the cars the plan starts
    before it, and an honest range around its planned start on the shop's
    calendar and technicians (not the backlog divided by whoever is idle)."""
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise errors.NotFound(f"No shop {shop_id}.")
    try:
        load = shop_load.read_load(session, shop, now)
        wait = planner.lounge_wait(
            shop_load.plan_of(load),
            load.calendar,
            load.orders,
            cap_minutes=lounge_cap_minutes(shop.settings),
        )
    except errors.DomainError as refused:
        # A calendar that cannot be planned on (bad settings, no working
        # time in a year): the lounge says it does not know, and stays up.
        log.warning("lounge queue of shop %s not planned: %s", shop_id, refused)
        return dict(UNKNOWN_QUEUE)
    return lounge_queue_json(wait, load.calendar.zone)


def lounge_queue(core: Core, shop_id: int) -> dict[str, Any]:
    """The lounge's ``queue`` ack: the reception queue at this moment. Every
    lounge TV asks after each change; the shop is planned once a second at
    most per change for all of them (``Core.lounge_queues``, keyed by the
    shop's seq and settings, so neither a change nor a new cap is answered
    with the wait from before it)."""
    with core.db.read() as session:
        shop = session.get(Shop, shop_id)
        settings = json.dumps(shop.settings if shop else None, sort_keys=True, default=str)
        key = f"{shop_id}:{last_seq(session, shop_id)}:{settings}"
        found = core.lounge_queues.get(key)
        if found is None:
            found = reception_queue(session, shop_id, core.now())
            core.lounge_queues.put(key, found)
    return dict(found)


def bays_in_order(session: Session, shop_id: int) -> list[Bay]:
    """The shop's bays in the order the board shows them: by the position an
    admin gave them, then by code (bays never moved keep their code order)."""
    return list(
        session.execute(
            select(Bay).where(Bay.shop_id == shop_id, Bay.active).order_by(Bay.position, Bay.code)
        ).scalars()
    )


def bay_json(bay: Bay, position: int) -> dict[str, Any]:
    """A bay as the screens and the API show it; ``position`` is its place
    on the board, from 1. Out of service: the reason is why, else empty."""
    return {
        "id": bay.id,
        "code": bay.code,
        "name": bay.name,
        "kind": bay.kind,
        "capacity": bay.capacity,
        "position": position,
        "in_service": not bay.out_of_service_reason,
        "out_of_service_reason": bay.out_of_service_reason,
    }


def bays(session: Session, shop_id: int) -> list[dict[str, Any]]:
    return [bay_json(b, n) for n, b in enumerate(bays_in_order(session, shop_id), start=1)]


def technicians(session: Session, shop_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(StaffUser)
        .where(
            StaffUser.shop_id == shop_id,
            StaffUser.role == Role.TECHNICIAN.value,
            StaffUser.active,
        )
        .order_by(StaffUser.name)
    ).scalars()
    return [
        {"id": u.id, "name": u.name, "badge": u.badge, "qualifications": list(u.qualifications)}
        for u in rows
    ]


def list_bays(core: Core, shop_id: int) -> list[dict[str, Any]]:
    with core.db.read() as session:
        return bays(session, shop_id)


def list_technicians(core: Core, shop_id: int) -> list[dict[str, Any]]:
    with core.db.read() as session:
        return technicians(session, shop_id)


def missed(core: Core, principal: Principal, since: int) -> list[dict[str, Any]] | None:
    """The ``order`` messages a screen missed after ``since``: each changed
    order once, in its current state, stamped with its newest seq; ``None``
    when a snapshot is the better answer (too much missed, or ``since`` is
    from the future, e.g. after a database restore)."""
    with core.db.read() as session:
        newest = last_seq(session, principal.shop_id)
        if since > newest:
            return None
        if since == newest:
            return []
        query = (
            select(OrderEvent.order_id, func.max(OrderEvent.seq))
            .where(OrderEvent.shop_id == principal.shop_id, OrderEvent.seq > since)
            .group_by(OrderEvent.order_id)
        )
        if principal.audience == "customer":
            query = query.where(OrderEvent.order_id == principal.order_id)
        count = session.execute(
            select(func.count())
            .select_from(OrderEvent)
            .where(OrderEvent.shop_id == principal.shop_id, OrderEvent.seq > since)
        ).scalar_one()
        if count > RESYNC_LIMIT:
            return None
        changed = sorted(session.execute(query).all(), key=lambda pair: pair[1])
        names = _names(session, principal.shop_id) if principal.is_staff else {}
        messages = []
        for order_id, seq in changed:
            row = session.get(RepairOrder, order_id)
            if row is None:
                continue
            messages.append({"seq": int(seq), "order": _view_for(principal, row, names, core)})
        return messages


def _biggest_first(order: dict[str, Any]) -> tuple[float, str]:
    return (-float(order.get("labour_hours") or 0), order.get("promised_at") or "9999")


def technician_work(core: Core, principal: Principal) -> dict[str, Any]:
    """What a technician's kiosk shows: their own jobs and the checks they
    may sign (each biggest first, each with the ``allowed_actions`` the
    viewer may tap, asked of the policy), their running clock, and what a
    job in each stage offers before the server has seen a queued tap
    (``actions_by_stage``)."""
    user_id = principal.user_id
    active = list_orders(core, principal.shop_id, active=True)
    clock = labour.running_clock(core, user_id or 0)
    clock_order = clock["order_id"] if clock else None
    working = {s.value for s in WORKING_STAGES}
    jobs, checks = [], []
    for order in active:
        mine = any(t["id"] == user_id for t in order["technicians"])
        if order["stage"] in working and mine:
            reasons = {r["reason"] for r in order["pause_reasons"]}
            actions = policy.job_actions(
                principal,
                stage=order["stage"],
                assigned=True,
                waiting=bool(reasons - {PauseReason.OTHER}),
                other_open=PauseReason.OTHER in reasons,
                clock_here=clock_order == order["id"],
            )
            jobs.append({**order, "allowed_actions": [a.value for a in actions]})
        elif order["stage"] == Stage.QUALITY_CHECK and policy.may_sign(
            principal, order.get("check_level")
        ):
            actions = policy.check_actions(
                principal, stage=order["stage"], level=order.get("check_level")
            )
            checks.append({**order, "allowed_actions": [a.value for a in actions]})
    return {
        "jobs": sorted(jobs, key=_biggest_first),
        "checks": sorted(checks, key=_biggest_first),
        "clock": clock,
        "actions_by_stage": policy.job_actions_by_stage(principal),
    }


def _dispatch_key(order: dict[str, Any]) -> tuple[int, int, str, int]:
    """Customers waiting in the lounge first, then VIP, then by promised
    time: the order the shop-load engine plans the foreman's dispatches in
    (``planner._Job.foreman_key``), so the estimates shown hold when he
    follows this list. It put VIP first until 29 November: a VIP car left
    with the shop then went ahead of a customer sitting in the lounge, whose
    estimate had been planned the other way round."""
    return (
        0 if order.get("waiting") else 1,
        0 if order.get("priority") == "vip" else 1,
        order.get("promised_at") or "9999",
        int(order.get("number") or 0),
    )


def dispatch_queue(active: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checked-in orders waiting for dispatch, in the order to dispatch them."""
    return sorted((o for o in active if o["stage"] == Stage.CHECKED_IN), key=_dispatch_key)


def _standing_on_bays(session: Session, shop_id: int) -> dict[str, list[dict[str, object]]]:
    """Who stands on each bay now, by the one placement rule
    (``shared.domain.bays.standing``): what the dispatch check counts and the
    wall board draws, so a bay the console shows free can be dispatched to."""
    places = [
        bay_rules.Place(b.code, b.kind, b.capacity, not b.out_of_service_reason)
        for b in bays_in_order(session, shop_id)
    ]
    read = [s.value for s in (*HOLDING_STAGES, *bay_rules.WASHING_STAGES)]
    rows = session.execute(
        select(
            RepairOrder.id,
            RepairOrder.number,
            RepairOrder.plate,
            RepairOrder.stage,
            RepairOrder.bay,
            RepairOrder.stage_entered_at,
        ).where(RepairOrder.shop_id == shop_id, RepairOrder.stage.in_(read))
    ).all()
    cars = [
        bay_rules.Standing(bay_rules.Holder(id_, number, plate), Stage(stage), code, since)
        for id_, number, plate, stage, code, since in rows
    ]
    placed = bay_rules.standing(cars, places)
    return {code: [h.as_json() for h in holders] for code, holders in placed.items()}


def _technician_loads(session: Session, shop_id: int, now: datetime) -> dict[int, dict[str, Any]]:
    """Each technician's current load: the jobs dispatched to them that are
    not through repair yet (dispatched, in progress, paused) and the repair
    labour those jobs have left, by the shop-load engine's reading
    (``planner.plan_order``: standard hours less the hours worked), a job
    shared by several technicians counted as an equal share of each."""
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise errors.NotFound(f"No shop {shop_id}.")
    try:
        calendar: ShopCalendar | None = shop_load.calendar_of(shop)
    except errors.DomainError:
        calendar = None  # bad calendar settings: the clock's minutes stand in
    rows = session.execute(
        select(RepairOrder).where(
            RepairOrder.shop_id == shop_id,
            RepairOrder.stage.in_([s.value for s in WORKING_STAGES]),
        )
    ).scalars()
    loads: dict[int, dict[str, Any]] = {}
    for row in rows:
        people = [int(t) for t in row.technicians]
        if not people:
            continue
        left = planner.plan_order(row.id, state_from_row(row), now, calendar=calendar)
        share = left.remaining_minutes / 60 / len(people)
        for person in people:
            load = loads.setdefault(person, {"jobs": 0, "remaining_hours": 0.0})
            load["jobs"] += 1
            load["remaining_hours"] += share
    for load in loads.values():
        load["remaining_hours"] = round(load["remaining_hours"], 1)
    return loads


def foreman_overview(core: Core, shop_id: int) -> dict[str, Any]:
    """Everything the foreman's console draws, in one read: bays, the
    dispatch queue, technicians' state, plan vs actual, exceptions, locked
    badges. It writes nothing: a clock left running past the shift end is
    listed as an exception, and closed only by the close-shift command.

    Beyond the shared shapes, for dispatching: each bay's ``holders`` (the
    cars standing on it by the placement rule, ``{id, number, plate}``) and
    each technician's ``qualifications`` and ``load`` (``{jobs,
    remaining_hours}``, see ``_technician_loads``)."""
    active = list_orders(core, shop_id, active=True)
    now = core.now()
    with core.db.read() as session:
        on_bays = _standing_on_bays(session, shop_id)
        shop_bays = [
            {**bay, "holders": on_bays.get(bay["code"], [])} for bay in bays(session, shop_id)
        ]
        qualified = {t["id"]: t["qualifications"] for t in technicians(session, shop_id)}
        loads = _technician_loads(session, shop_id, now)
    people = [
        {
            **state,
            "qualifications": qualified.get(state["id"], []),
            "load": loads.get(state["id"], {"jobs": 0, "remaining_hours": 0.0}),
        }
        for state in labour.technician_states(core, shop_id)
    ]
    return {
        "now": now.isoformat(),
        "orders": active,
        "bays": shop_bays,
        "queue": dispatch_queue(active),
        "technicians": people,
        "plan": labour.bay_plan(core, shop_id),
        "exceptions": labour.daily_exceptions(core, shop_id),
        "efficiency": labour.sold_vs_clocked(core, shop_id),
        "locked_badges": kiosk_login.locked_badges(core, shop_id),
    }
