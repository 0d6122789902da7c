"""Handing the car over (交车): the advisor's checklist and the delivery, in
one command.

Seed 001 steps 12–13: the advisor's own final check (终检), old parts shown,
next service date and mileage given. The checklist row and the ``delivered``
stage change are written in the same transaction, so a delivered order
always has its checklist and a refused delivery leaves no checklist behind.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from shared.domain import errors
from shared.domain import order as rules
from shared.domain.stages import Stage
from shared.persistence.reception_models import HandoverRecord
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core
from shared.services.reception import clean_note

MAX_MILEAGE = 5_000_000


def handover_json(record: HandoverRecord) -> dict[str, Any]:
    return {
        "old_parts_shown": record.old_parts_shown,
        "next_service_date": record.next_service_date.isoformat()
        if record.next_service_date
        else None,
        "next_service_mileage": record.next_service_mileage,
        "final_check_done": record.final_check_done,
        "note": record.note,
        "recorded_by": record.recorded_by,
        "recorded_at": record.recorded_at.isoformat(),
    }


def _check(
    tx: Transaction,
    current_mileage: int | None,
    next_service_date: date,
    next_service_mileage: int,
    final_check_done: bool,
) -> None:
    if not final_check_done:
        raise errors.ValidationFailed(
            "final_check_done", "Do the final check (终检) before handing the car over."
        )
    today = tx.now.astimezone(ZoneInfo(tx.shop.timezone)).date()
    if next_service_date <= today:
        raise errors.ValidationFailed("next_service_date", "The next service is after today.")
    if not 0 < next_service_mileage <= MAX_MILEAGE:
        raise errors.ValidationFailed("next_service_mileage", "The mileage is out of range.")
    if current_mileage is not None and next_service_mileage <= current_mileage:
        raise errors.ValidationFailed(
            "next_service_mileage", "The next service mileage is above today's mileage."
        )


def hand_over(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    version: int,
    old_parts_shown: bool,
    next_service_date: date,
    next_service_mileage: int,
    final_check_done: bool,
    note: str = "",
) -> Outcome:
    """Record the handover checklist and deliver the order (ready → delivered)."""
    note = clean_note(note)

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        state = tx.check_version(row, version)
        _check(tx, row.vehicle_mileage, next_service_date, next_service_mileage, final_check_done)
        try:
            events = rules.transition(state, Stage.DELIVERED, actor=tx.actor, now=tx.now)
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
        record = HandoverRecord(
            shop_id=tx.locked.id,
            order_id=row.id,
            old_parts_shown=old_parts_shown,
            next_service_date=next_service_date,
            next_service_mileage=next_service_mileage,
            final_check_done=final_check_done,
            note=note,
            recorded_by=tx.actor.ref or tx.actor.name,
            recorded_at=tx.now,
        )
        tx.session.add(record)
        tx.record(row, state, events)
        return 200, {**tx.view(row), "handover": handover_json(record)}

    return execute(core, request, "hand_over", work)


def get_handover(core: Core, shop_id: int, order_id: int) -> dict[str, Any] | None:
    """The checklist recorded with an order's delivery, if it was delivered so."""
    with core.db.read() as session:
        record = session.execute(
            select(HandoverRecord).where(
                HandoverRecord.shop_id == shop_id, HandoverRecord.order_id == order_id
            )
        ).scalar_one_or_none()
        return handover_json(record) if record else None
