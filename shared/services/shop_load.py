"""The shop's load as the engine sees it, and what reception and the lounge
ask of it: the promise for a new order, the wait for a car checking in now.

Read in one go from the database (active orders, active technicians, the
shop's calendar) and planned by the pure engine (``shared/domain/planner``);
nothing here writes. ``replanning`` records the engine's revisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.domain import errors, planner
from shared.domain.order import OrderState
from shared.domain.shop_calendar import ShopCalendar
from shared.domain.stages import PROMISE_RUNNING_STAGES, Role
from shared.persistence.models import RepairOrder, Shop, StaffUser
from shared.services.core import Core
from shared.services.rows import state_from_row

# The hours a desk may ask a promise for.
MAX_LABOUR_HOURS = 200.0
# A part with no expected arrival is planned to come this much later.
DEFAULT_PARTS_WAIT_MINUTES = 120.0


@dataclass(frozen=True)
class ShopLoad:
    """What the engine needs of one shop, read in one go."""

    now: datetime
    calendar: ShopCalendar
    states: dict[int, OrderState]
    orders: tuple[planner.PlanOrder, ...]
    technicians: tuple[planner.Technician, ...]


def calendar_of(shop: Shop) -> ShopCalendar:
    return ShopCalendar.from_settings(shop.timezone, shop.settings or {})


def read_load(session: Session, shop: Shop, now: datetime) -> ShopLoad:
    rows = session.execute(
        select(RepairOrder).where(
            RepairOrder.shop_id == shop.id,
            RepairOrder.stage.in_([s.value for s in PROMISE_RUNNING_STAGES]),
        )
    ).scalars()
    states = {row.id: state_from_row(row) for row in rows}
    parts_wait = parts_wait_minutes(shop.settings or {})
    technicians = session.execute(
        select(StaffUser.id).where(
            StaffUser.shop_id == shop.id,
            StaffUser.role == Role.TECHNICIAN.value,
            StaffUser.active.is_(True),
        )
    ).scalars()
    calendar = calendar_of(shop)
    return ShopLoad(
        now=now,
        calendar=calendar,
        states=states,
        orders=tuple(
            planner.plan_order(i, s, now, parts_default_minutes=parts_wait, calendar=calendar)
            for i, s in sorted(states.items())
        ),
        technicians=tuple(planner.Technician(id=t) for t in sorted(technicians)),
    )


def parts_wait_minutes(settings: dict[str, Any]) -> float:
    """How long a part with no expected arrival is planned to take: the
    shop's ``parts_wait_minutes`` setting (0–10080), else two hours."""
    value = settings.get("parts_wait_minutes")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 10080:
        return float(value)
    return DEFAULT_PARTS_WAIT_MINUTES


def load_of(core: Core, shop_id: int) -> ShopLoad:
    with core.db.read() as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            raise errors.NotFound(f"No shop {shop_id}.")
        return read_load(session, shop, core.now())


def plan_of(load: ShopLoad) -> planner.Plan:
    return planner.plan(load.now, load.calendar, load.orders, load.technicians)


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
