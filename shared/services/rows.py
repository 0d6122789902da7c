"""Mapping between the order row and the domain's ``OrderState``: each field
of the state is the column of the same name, so a new field is one column."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from shared.domain.events import WorkItem
from shared.domain.holds import PartRequest, PauseItem
from shared.domain.order import OrderState, Quote
from shared.domain.stages import CheckLevel, PauseReason, Stage
from shared.persistence.models import RepairOrder


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _quote_from_json(data: dict[str, Any]) -> Quote:
    decided_version = data.get("decided_version")
    return Quote(
        id=int(data["id"]),
        description=data["description"],
        labour_hours=float(data["labour_hours"]),
        price_cents=int(data["price_cents"]),
        status=data.get("status", "pending"),
        version=int(data.get("version", 1)),
        channel=data.get("channel"),
        decided_at=_time(data.get("decided_at")),
        expires_at=_time(data.get("expires_at")),
        decided_version=None if decided_version is None else int(decided_version),
        taken_by=data.get("taken_by") or "",
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
        "decided_at": _iso(quote.decided_at),
        "expires_at": _iso(quote.expires_at),
        "decided_version": quote.decided_version,
        "taken_by": quote.taken_by,
    }


def reason_to_json(item: PauseItem) -> dict[str, Any]:
    return {
        "key": item.key,
        "reason": item.reason.value,
        "note": item.note,
        "expected_at": _iso(item.expected_at),
    }


def _reason_from_json(data: dict[str, Any]) -> PauseItem:
    return PauseItem(
        key=data["key"],
        reason=PauseReason(data["reason"]),
        note=data.get("note") or "",
        expected_at=_time(data.get("expected_at")),
    )


def part_to_json(part: PartRequest) -> dict[str, Any]:
    return {
        "id": part.id,
        "description": part.description,
        "status": part.status,
        "eta": _iso(part.eta),
        "requested_at": _iso(part.requested_at),
        "arrived_at": _iso(part.arrived_at),
    }


def _part_from_json(data: dict[str, Any]) -> PartRequest:
    return PartRequest(
        id=int(data["id"]),
        description=data["description"],
        status=data.get("status", "requested"),
        eta=_time(data.get("eta")),
        requested_at=_time(data.get("requested_at")),
        arrived_at=_time(data.get("arrived_at")),
    )


def _items_to_json(items: tuple[WorkItem, ...]) -> list[dict[str, Any]]:
    return [{"title": i.title, "labour_hours": i.labour_hours} for i in items]


def _items_from_json(items: list[dict[str, Any]]) -> tuple[WorkItem, ...]:
    return tuple(WorkItem(i["title"], float(i["labour_hours"])) for i in items)


def _value_or_none(member: Stage | PauseReason | CheckLevel | None) -> str | None:
    return None if member is None else member.value


def _same(value: Any) -> Any:
    return value


# Every field of ``OrderState`` is the column of the same name; these are the
# fields whose stored form differs (state value to column, column to state).
# A field stored as it is needs no entry here.
_STORED_AS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "stage": (_value_or_none, Stage),
    "pause_reason": (_value_or_none, lambda v: PauseReason(v) if v else None),
    "check_level": (_value_or_none, lambda v: CheckLevel(v) if v else None),
    "technicians": (list, lambda v: tuple(int(t) for t in v)),
    "items": (_items_to_json, _items_from_json),
    "quotes": (
        lambda quotes: [quote_to_json(q) for q in quotes],
        lambda stored: tuple(_quote_from_json(q) for q in stored),
    ),
    "survey_comment": (_same, lambda v: v or ""),
    "pause_reasons": (
        lambda reasons: [reason_to_json(r) for r in reasons],
        lambda stored: tuple(_reason_from_json(r) for r in stored or ()),
    ),
    "parts": (
        lambda parts: [part_to_json(p) for p in parts],
        lambda stored: tuple(_part_from_json(p) for p in stored or ()),
    ),
}
_COLUMNS: tuple[tuple[str, Callable[[Any], Any], Callable[[Any], Any]], ...] = tuple(
    (field.name, *_STORED_AS.get(field.name, (_same, _same))) for field in fields(OrderState)
)
# The same, with None for "stored as it is": ``state_from_row`` and
# ``changed_columns`` run twice for every command, over thirty-odd columns,
# and calling ``_same`` for most of them was a third of their calls.
_CONVERSIONS: tuple[tuple[str, Callable[[Any], Any] | None, Callable[[Any], Any] | None], ...] = (
    tuple(
        (name, None if store is _same else store, None if load is _same else load)
        for name, store, load in _COLUMNS
    )
)


def _stored(row: RepairOrder | Row[Any]) -> Mapping[Any, Any]:
    """The row's loaded column values by name: an ORM row's own dict (its
    attribute descriptors are Python calls, one per column read), a plain
    row's mapping. A column an ORM row does not hold (expired) is read
    through the attribute, which loads it."""
    return row.__dict__ if isinstance(row, RepairOrder) else row._mapping


def state_from_row(row: RepairOrder | Row[Any]) -> OrderState:
    """The order's state as the row stores it (an ORM row, or a plain row of
    the order table's columns: the planner reads those, without the ORM)."""
    stored = _stored(row)
    values: dict[str, Any] = {}
    for name, _store, load in _CONVERSIONS:
        value = stored[name] if name in stored else getattr(row, name)
        values[name] = value if load is None else load(value)
    return OrderState(**values)


def changed_columns(row: RepairOrder, state: OrderState) -> dict[str, Any]:
    """The columns whose stored value the state changes (every column the
    fold owns for a new row). A stage change alters a handful of the thirty."""
    fresh = row.id is None
    stored = _stored(row)
    changed: dict[str, Any] = {}
    for name, store, _load in _CONVERSIONS:
        value = getattr(state, name)
        if store is not None:
            value = store(value)
        if fresh:
            changed[name] = value
            continue
        before = stored[name] if name in stored else getattr(row, name)
        if before != value:
            changed[name] = value
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
