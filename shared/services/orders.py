"""Order commands: one function per command, each through ``commands.execute``.

Each loads the order, checks the version the caller saw, applies the domain
rule, and records the events; ``execute`` commits and then publishes.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from shared.domain import bays, errors
from shared.domain import order as rules
from shared.domain.events import Event, WorkItem
from shared.domain.order import OrderState
from shared.domain.plates import normalise_plate
from shared.domain.stages import PauseReason, Stage
from shared.persistence.models import Bay, RepairOrder, StaffUser
from shared.services import labour
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core
from shared.services.rows import quote_to_json, state_from_row


def new_customer_token() -> str:
    """The customer's capability token: 256 bits from ``secrets``."""
    return secrets.token_urlsafe(32)


def _next_number(tx: Transaction, business_day: Any) -> int:
    highest = tx.session.execute(
        select(func.max(RepairOrder.number)).where(
            RepairOrder.shop_id == tx.shop.id, RepairOrder.business_day == business_day
        )
    ).scalar_one()
    return int(highest or 0) + 1


def _record(
    tx: Transaction, row: RepairOrder, state: OrderState | None, events: Sequence[Event]
) -> OrderState:
    """Every order command's write: refuse first when the events would put the
    car on a bay that has no room, then record them.

    The holders are read inside the command's transaction, after the shop row
    was locked, so two dispatches to the same bay cannot both see it free."""
    bay = bays.claimed_bay(state, events)
    if bay is not None:
        capacity = tx.session.execute(
            select(Bay.capacity).where(Bay.shop_id == tx.shop.id, Bay.code == bay)
        ).scalar_one_or_none()
        holders = [
            bays.Holder(order_id, number, plate)
            for order_id, number, plate in tx.session.execute(
                select(RepairOrder.id, RepairOrder.number, RepairOrder.plate).where(
                    RepairOrder.shop_id == tx.shop.id,
                    RepairOrder.bay == bay,
                    RepairOrder.stage.in_([stage.value for stage in bays.HOLDING_STAGES]),
                    RepairOrder.id != row.id,
                )
            ).all()
        ]
        try:
            # A bay no longer on the shop's list (a car taken back into repair
            # on it) still takes one car, like any repair bay.
            bays.check_room(bay, 1 if capacity is None else capacity, holders, order_id=row.id)
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
    return tx.record(row, state, events)


def create_order(
    core: Core,
    request: CommandRequest,
    *,
    plate: str,
    customer_name: str = "",
    customer_phone: str = "",
    vehicle_model: str = "",
    vehicle_vin: str = "",
    vehicle_mileage: int | None = None,
    complaint: str = "",
    items: Sequence[WorkItem] = (),
    promised_at: datetime | None = None,
    waiting: bool = False,
    wash: bool = False,
    priority: str = "normal",
    booked: bool = False,
) -> Outcome:
    """Open a repair order (or book one); issues the day's queue number."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        # Inside the command, so a refused plate binds its Idempotency-Key
        # like every other refusal of the domain.
        canonical_plate = normalise_plate(plate)
        business_day = tx.now.astimezone(ZoneInfo(tx.shop.timezone)).date()
        number = _next_number(tx, business_day)
        events = rules.create(
            number=number,
            plate=canonical_plate,
            now=tx.now,
            actor=tx.actor,
            booked=booked,
            customer_name=customer_name,
            customer_phone=customer_phone,
            vehicle_model=vehicle_model,
            vehicle_vin=vehicle_vin.upper(),
            vehicle_mileage=vehicle_mileage,
            complaint=complaint,
            items=items,
            promised_at=promised_at,
            waiting=waiting,
            wash=wash,
            priority=priority,
        )
        row = RepairOrder(
            shop_id=tx.shop.id,
            business_day=business_day,
            customer_token=new_customer_token(),
        )
        _record(tx, row, None, events)
        return 201, tx.view(row)

    return execute(core, request, "create_order", work)


def transition_order(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    to: Stage,
    version: int,
    reason: str = "",
    pause_reason: PauseReason | None = None,
) -> Outcome:
    """Move an order to another stage (start, pause, resume, finish, hand over…)."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        state = tx.check_version(row, version)
        try:
            events = rules.transition(
                state, to, actor=tx.actor, now=tx.now, reason=reason, pause_reason=pause_reason
            )
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
        # The clocks are planned before anything is written: a refusal (a
        # second running clock) leaves the row as loaded.
        clocks = labour.plan_transition(tx, row, state, events)
        _record(tx, row, state, events)
        labour.move_clocks(tx, clocks)
        return 200, tx.view(row)

    return execute(core, request, "transition", work)


def pass_check(core: Core, request: CommandRequest, order_id: int, *, version: int) -> Outcome:
    """Sign the next inspection level (team lead, QC, final)."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        state = tx.check_version(row, version)
        try:
            events = rules.pass_check(state, actor=tx.actor, now=tx.now)
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
        _record(tx, row, state, events)
        return 200, tx.view(row)

    return execute(core, request, "pass_check", work)


def assign_order(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    bay: str,
    technicians: Sequence[int],
    version: int,
) -> Outcome:
    """Dispatch (派工): put the order on a bay with technicians of this shop."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        state = tx.check_version(row, version)
        known_bay = tx.session.execute(
            select(Bay.id).where(Bay.shop_id == tx.shop.id, Bay.code == bay, Bay.active)
        ).scalar_one_or_none()
        if known_bay is None:
            raise errors.ValidationFailed("bay", f"No active bay {bay!r} in this shop.")
        found = set(
            tx.session.execute(
                select(StaffUser.id).where(
                    StaffUser.shop_id == tx.shop.id,
                    StaffUser.id.in_(list(technicians)),
                    StaffUser.role == "technician",
                    StaffUser.active,
                )
            ).scalars()
        )
        missing = [t for t in technicians if t not in found]
        if missing:
            raise errors.ValidationFailed("technicians", f"Not technicians of this shop: {missing}")
        try:
            events = rules.assign(
                state, bay=bay, technicians=technicians, actor=tx.actor, now=tx.now
            )
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
        after = _record(tx, row, state, events)
        labour.clock_assignment(tx, row, state, after)
        return 200, tx.view(row)

    return execute(core, request, "assign", work)


def quote_extra_work(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    description: str,
    labour_hours: float,
    price_cents: int,
    version: int,
) -> Outcome:
    """Flag additional work; the order waits in paused/approval for the customer."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        state = tx.check_version(row, version)
        try:
            events = rules.quote_extra_work(
                state,
                description=description,
                labour_hours=labour_hours,
                price_cents=price_cents,
                actor=tx.actor,
                now=tx.now,
            )
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
        clocks = labour.plan_transition(tx, row, state, events)
        new_state = _record(tx, row, state, events)
        labour.move_clocks(tx, clocks)
        quote = new_state.quotes[-1]
        return 201, {**quote_to_json(quote), "order": tx.view(row)}

    return execute(core, request, "quote_extra_work", work)


def decide_extra_work(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    quote_id: int,
    approved: bool,
    quote_version: int,
    channel: str,
) -> Outcome:
    """Record the customer's yes or no to one quote (by page, phone or in person)."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        state = state_from_row(row)
        try:
            events = rules.decide_extra_work(
                state,
                quote_id=quote_id,
                approved=approved,
                quote_version=quote_version,
                channel=channel,
                actor=tx.actor,
                now=tx.now,
            )
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
        # The clocks are planned before anything is written: a refusal (a
        # second running clock) leaves the row as loaded.
        clocks = labour.plan_transition(tx, row, state, events)
        _record(tx, row, state, events)
        labour.move_clocks(tx, clocks)
        return 200, tx.view(row)

    return execute(core, request, "decide_extra_work", work)


def submit_survey(
    core: Core, request: CommandRequest, order_id: int, *, rating: int, comment: str
) -> Outcome:
    """Record the satisfaction survey of a delivered order (once)."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        state = state_from_row(row)
        try:
            events = rules.submit_survey(
                state, rating=rating, comment=comment, actor=tx.actor, now=tx.now
            )
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
        _record(tx, row, state, events)
        return 201, tx.view(row)

    return execute(core, request, "submit_survey", work)
