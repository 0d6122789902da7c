"""Mapping between the order row and the domain's ``OrderState``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain.events import WorkItem
from shared.domain.order import OrderState, Quote
from shared.domain.stages import CheckLevel, PauseReason, Stage
from shared.persistence.models import RepairOrder


def _quote_from_json(data: dict[str, Any]) -> Quote:
    decided = data.get("decided_at")
    return Quote(
        id=int(data["id"]),
        description=data["description"],
        labour_hours=float(data["labour_hours"]),
        price_cents=int(data["price_cents"]),
        status=data.get("status", "pending"),
        version=int(data.get("version", 1)),
        channel=data.get("channel"),
        decided_at=datetime.fromisoformat(decided) if decided else None,
    )


def quote_to_json(quote: Quote) -> dict[str, Any]:
    return {
        "id": quote.id,
        "description": quote.description,
        "labour_hours": quote.labour_hours,
        "price_cents": quote.price_cents,
        "status": quote.status,
        "version": quote.version,
        "channel": quote.channel,
        "decided_at": quote.decided_at.isoformat() if quote.decided_at else None,
    }


def state_from_row(row: RepairOrder) -> OrderState:
    return OrderState(
        number=row.number,
        plate=row.plate,
        stage=Stage(row.stage),
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        pause_reason=PauseReason(row.pause_reason) if row.pause_reason else None,
        pause_note=row.pause_note,
        bay=row.bay,
        technicians=tuple(int(t) for t in row.technicians),
        check_level=CheckLevel(row.check_level) if row.check_level else None,
        rework_count=row.rework_count,
        promised_at=row.promised_at,
        eta=row.eta,
        ready_at=row.ready_at,
        stage_entered_at=row.stage_entered_at,
        worked_minutes=row.worked_minutes,
        waiting=row.waiting,
        wash=row.wash,
        priority=row.priority,
        customer_name=row.customer_name,
        customer_phone=row.customer_phone,
        vehicle_model=row.vehicle_model,
        vehicle_vin=row.vehicle_vin,
        vehicle_mileage=row.vehicle_mileage,
        complaint=row.complaint,
        items=tuple(WorkItem(i["title"], float(i["labour_hours"])) for i in row.items),
        quotes=tuple(_quote_from_json(q) for q in row.quotes),
        survey_rating=row.survey_rating,
        survey_comment=row.survey_comment or "",
        advisor_id=row.advisor_id,
    )


def changed_columns(row: RepairOrder, state: OrderState) -> dict[str, Any]:
    """The columns whose stored value the state changes (every column the
    fold owns for a new row). A stage change alters a handful of the thirty."""
    values: dict[str, Any] = {
        "number": state.number,
        "plate": state.plate,
        "stage": state.stage.value,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "version": state.version,
        "pause_reason": state.pause_reason.value if state.pause_reason else None,
        "pause_note": state.pause_note,
        "bay": state.bay,
        "technicians": list(state.technicians),
        "check_level": state.check_level.value if state.check_level else None,
        "rework_count": state.rework_count,
        "promised_at": state.promised_at,
        "eta": state.eta,
        "ready_at": state.ready_at,
        "stage_entered_at": state.stage_entered_at,
        "worked_minutes": state.worked_minutes,
        "waiting": state.waiting,
        "wash": state.wash,
        "priority": state.priority,
        "customer_name": state.customer_name,
        "customer_phone": state.customer_phone,
        "vehicle_model": state.vehicle_model,
        "vehicle_vin": state.vehicle_vin,
        "vehicle_mileage": state.vehicle_mileage,
        "complaint": state.complaint,
        "items": [{"title": i.title, "labour_hours": i.labour_hours} for i in state.items],
        "quotes": [quote_to_json(q) for q in state.quotes],
        "survey_rating": state.survey_rating,
        "survey_comment": state.survey_comment,
        "advisor_id": state.advisor_id,
    }
    fresh = row.id is None
    changed = {k: v for k, v in values.items() if fresh or getattr(row, k) != v}
    if not state.active and row.closed_at is None:
        changed["closed_at"] = state.updated_at
    elif state.active and (fresh or row.closed_at is not None):
        changed["closed_at"] = None
    return changed


def write_state(row: RepairOrder, state: OrderState) -> None:
    """Copy the state onto the row, assigning only the changed columns (each
    assignment to a mapped attribute costs history bookkeeping and flush work)."""
    for name, value in changed_columns(row, state).items():
        setattr(row, name, value)
