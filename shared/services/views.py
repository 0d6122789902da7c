"""What each audience may see of an order. Redaction happens here, on the
server: the lounge view is built from an allow-list, so a field added to the
order later can never leak to the public TV by accident."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, literal_column, select
from sqlalchemy.orm import object_session

from shared.domain import errors
from shared.domain.eta import Lateness, lateness
from shared.domain.order import OrderState
from shared.domain.stages import IN_SHOP_STAGES, Stage
from shared.persistence.models import RepairOrder
from shared.persistence.photo_models import signed_quote_ids
from shared.services.core import Core
from shared.services.rows import part_to_json, quote_to_json, reason_to_json, state_from_row


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value else None


# However many characters a screen shows, at least this many of a plate stay hidden.
PLATE_HIDDEN_MINIMUM = 2


def mask_plate(plate: str) -> str:
    """粤B12345 → 粤B·***45: region and letter, then only the last two characters."""
    if len(plate) <= 4:
        return "*" * (len(plate) - 1) + plate[-1:]
    if len(plate) < 7:
        # Too short to show region and letter and still hide three characters.
        return f"***{plate[-2:]}"
    return f"{plate[:2]}·***{plate[-2:]}"


def mask_plate_more(plate: str) -> str:
    """粤B12345 → 粤B·**345: one character more than ``mask_plate``, for the
    lounge to tell apart two cars whose masked plates read the same. Still
    never fewer than ``PLATE_HIDDEN_MINIMUM`` characters hidden: a plate too
    short for that keeps its ordinary mask."""
    if len(plate) < 5:
        return mask_plate(plate)
    if len(plate) < 7:
        return f"**{plate[-3:]}"
    return f"{plate[:2]}·**{plate[-3:]}"


def _lateness(row: RepairOrder, now: datetime) -> Lateness:
    return lateness(Stage(row.stage), row.promised_at, row.eta, row.ready_at, now)


def is_late(row: RepairOrder, now: datetime) -> bool:
    """Late: promised time passed, or the ETA says it will be
    (``shared.domain.eta.lateness`` judges it)."""
    return _lateness(row, now).late


def _promise_change(row: RepairOrder) -> dict[str, Any] | None:
    """The last change of the promised time as the customer reads it: the
    reason, who changed it and when (None while it is the first promise)."""
    if row.promise_changed_at is None:
        return None
    return {"reason": row.promise_reason, "by": row.promise_by, "at": _iso(row.promise_changed_at)}


def _signature_url(order_id: int, quote_id: int, signed: set[tuple[int, int]]) -> str | None:
    if (order_id, quote_id) not in signed:
        return None
    return f"/api/v1/orders/{order_id}/extra-work/{quote_id}/signature"


def staff_view(
    row: RepairOrder,
    names: dict[int, str],
    link_base: str,
    now: datetime,
    state: OrderState | None = None,
) -> dict[str, Any]:
    """The full order object of the public API (docs/API.md), for staff, boards and integrations.

    ``link_base`` is scheme://host[:port] of the customer link: the caller
    picks it (shared.services.links), as only the caller knows the request.
    ``state``: the row's state, when the caller has it already."""
    state = state or state_from_row(row)
    judged = _lateness(row, now)
    # Only an in-person decision can carry the customer's signature: one
    # lookup then, none for every other order.
    in_person = any(q.channel == "in_person" for q in state.quotes)
    signed = signed_quote_ids(object_session(row), [row.id]) if in_person else set()
    return {
        "id": row.id,
        "number": row.number,
        "plate": row.plate,
        "stage": row.stage,
        "pause_reason": row.pause_reason,
        "pause_note": row.pause_note,
        "pause_reasons": [reason_to_json(r) for r in state.pause_reasons],
        "parts": [part_to_json(p) for p in state.parts],
        "version": row.version,
        "bay": row.bay,
        "technicians": [{"id": t, "name": names.get(int(t), "")} for t in row.technicians],
        "promised_at": _iso(row.promised_at),
        "eta": _iso(row.eta),
        "late": judged.late,
        "at_risk": judged.at_risk,
        # The shop-load engine's verdict and why (the advisor's delay alert).
        "risk": row.risk,
        "risk_cause": row.risk_cause,
        "promise_change": _promise_change(row),
        "waiting": row.waiting,
        "wash": row.wash,
        "priority": row.priority,
        "customer": {
            "name": row.customer_name,
            "phone": row.customer_phone,
            "email": row.customer_email or "",
            # The channels the customer may be told on now (none after an opt-out).
            "notify": [] if row.notify_opted_out_at else list(row.customer_notify or ()),
            "language": row.customer_language or "",
            "opted_out": row.notify_opted_out_at is not None,
        },
        "vehicle": {
            "model": row.vehicle_model,
            "vin": row.vehicle_vin,
            "mileage": row.vehicle_mileage,
        },
        "complaint": row.complaint,
        "items": list(row.items),
        "labour_hours": state.total_labour_hours,
        "quotes": [
            {**quote_to_json(q), "signature_url": _signature_url(row.id, q.id, signed)}
            for q in state.quotes
        ],
        "check_level": row.check_level,
        "rework_count": row.rework_count,
        "stage_entered_at": _iso(row.stage_entered_at),
        "ready_at": _iso(row.ready_at),
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "customer_url": f"{link_base}/t/{row.customer_token}",
        # The day ``number`` belongs to: a car carried over from an earlier
        # day keeps its number, and the screens mark it with its day.
        "business_day": _iso(row.business_day),
    }


# What the staff recorded about a decision, not the customer's business.
_STAFF_ONLY_QUOTE_FIELDS = ("channel", "taken_by")


_ORDER_COLUMNS = RepairOrder.__table__.c


def _constant(value: str) -> ColumnElement[str]:
    """A stage code written into the SQL itself: a list of bound values is
    expanded into parameters anew on every execution (about two fifths of
    the lounge view's cost, in a profile of the busy dealer), and these
    codes never change."""
    if not value.isidentifier():
        raise ValueError(f"not a plain stage code: {value!r}")
    return literal_column(f"'{value}'")


# Built once: the statement's construction and cache key cost more than its
# answer (a handful of rows through the (shop, stage) index), and it runs for
# the lounge view of every change.
_MASK_TWIN_PLATES = select(_ORDER_COLUMNS.plate).where(
    _ORDER_COLUMNS.id.in_(
        select(_ORDER_COLUMNS.id).where(
            _ORDER_COLUMNS.shop_id == bindparam("shop"),
            _ORDER_COLUMNS.stage.in_([_constant(s.value) for s in IN_SHOP_STAGES]),
        )
    ),
    _ORDER_COLUMNS.id != bindparam("order"),
    _ORDER_COLUMNS.plate.endswith(bindparam("tail")),
)


def _has_mask_twin(row: RepairOrder) -> bool:
    """Another car in the shop whose masked plate reads the same as this one's.

    The cars in the shop are found through the (shop, stage) index first:
    asked in one statement, SQLite answers from the reports' covering index
    on (shop, plate, day, stage) instead, reading every order the shop ever
    had (9 ms on a busy shop's year, for each lounge view of every change).
    It reads through the session's connection, in the command's transaction:
    plates are written when an order is created (flushed then), and stage
    changes by plain statements on that connection, so nothing it asks about
    waits in the unit of work."""
    session = object_session(row)
    if session is None:
        return False
    masked = mask_plate(row.plate)
    params = {"shop": row.shop_id, "order": row.id, "tail": row.plate[-2:]}
    others = session.connection().execute(_MASK_TWIN_PLATES, params).scalars()
    return any(mask_plate(plate) == masked for plate in others)


def lounge_view(row: RepairOrder) -> dict[str, Any]:
    """Public TV: no names, no phone, no complaint, no price; plate masked.

    ``plate_masked_more`` is the mask with one character more, sent only
    while another car in the shop has the same mask (else null): the TV shows
    it for the cars whose masks read the same on its screen. Neither is ever
    the whole plate, and a car with no twin gives the TV no more of its plate."""
    return {
        "id": row.id,
        "number": row.number,
        # The day the number was given: a carry-over is marked with its day.
        "business_day": _iso(row.business_day),
        "plate_masked": mask_plate(row.plate),
        "plate_masked_more": mask_plate_more(row.plate) if _has_mask_twin(row) else None,
        "stage": row.stage,
        # What the car waits for, as codes the TV puts in words: no notes.
        "pause_reasons": [r["reason"] for r in row.pause_reasons or ()],
        "eta": _iso(row.eta),
        "ready": row.stage == Stage.READY.value,
    }


def customer_view(
    row: RepairOrder,
    history: list[dict[str, Any]] | None = None,
    *,
    now: datetime | None = None,
    state: OrderState | None = None,
) -> dict[str, Any]:
    """The customer's own car. Not the phone or VIN (a forwarded link must not
    leak them), not the technicians' names, not other orders.

    ``late`` is judged at ``now``; without it, as of the order's last change
    (when a command's view is built, that is now). The page keeps it current
    between changes with the clock."""
    state = state or state_from_row(row)
    view: dict[str, Any] = {
        "id": row.id,
        "number": row.number,
        "plate": row.plate,
        "stage": row.stage,
        "pause_reason": row.pause_reason,
        # What the car waits for and when it should come, in the page's own
        # words: the workshop's notes stay in the workshop.
        "pause_reasons": [
            {"reason": r.reason.value, "expected_at": _iso(r.expected_at)}
            for r in state.pause_reasons
        ],
        "version": row.version,
        "promised_at": _iso(row.promised_at),
        "eta": _iso(row.eta),
        "late": _lateness(row, now or row.updated_at).late,
        "promise_change": _promise_change(row),
        "ready": row.stage == Stage.READY.value,
        "vehicle": {"model": row.vehicle_model},
        "items": [{"title": i["title"]} for i in row.items],
        "quotes": [
            {k: v for k, v in quote_to_json(q).items() if k not in _STAFF_ONLY_QUOTE_FIELDS}
            for q in state.quotes
        ],
        "wash": row.wash,
        "stage_entered_at": _iso(row.stage_entered_at),
        "updated_at": _iso(row.updated_at),
    }
    if history is not None:
        view["timeline"] = history
    return view


def booked_work(row: RepairOrder) -> dict[str, Any]:
    """The work booked on the job order (任务委托书) as its customer reads it,
    on their phone page and on the printed ticket: each work item with its
    standard labour hours, and the hours in total. A work item carries no
    price (the order records none), so neither place shows one."""
    items = [{"title": i["title"], "labour_hours": float(i["labour_hours"])} for i in row.items]
    return {"items": items, "labour_hours": round(sum(i["labour_hours"] for i in items), 2)}


def customer_work(core: Core, order_id: int) -> dict[str, Any]:
    """``booked_work`` of the order behind a customer's link. The work items
    are fixed when the order is opened, so the page reads them once; the
    additional work, its prices and decisions come live with ``customer_view``."""
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        if row is None:
            raise errors.NotFound(f"No order {order_id}.")
        return booked_work(row)


def ticket_view(core: Core, shop_id: int, order_id: int) -> dict[str, Any]:
    """What the printed job ticket shows besides its header (the customer's
    name, the car, the customer's own words and the booked work). The
    customer is handed the ticket in person and signs it, so it carries the
    VIN and mileage, which ``customer_view`` (a forwardable link) never does."""
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        if row is None or row.shop_id != shop_id:
            raise errors.NotFound(f"No order {order_id}.")
        return {
            "customer_name": row.customer_name,
            "vin": row.vehicle_vin,
            "mileage": row.vehicle_mileage,
            "complaint": row.complaint,
            **booked_work(row),
        }
