"""Comebacks (返修): the advisor marks a visit as the comeback of an earlier
one of the same car, and withdraws a mark set by mistake.

One function per command (``flag_comeback``, ``unflag_comeback``), each
through ``commands.execute``: the shop's row lock, the Idempotency-Key (a
replay answers the first answer and writes nothing), the caller's version
checked against the order's (409 ``stale_version`` with the order as it
is), the domain rule (``shared.domain.comebacks``), then the order event
``comeback_flagged`` / ``comeback_unflagged`` in the same transaction and
the order's new view to every screen after commit.

The mark is not a column of the order: it is read from the order's log
(``marks``), so adding it needed no migration and the log stays the one
truth reports count. Reads here never write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.domain import comebacks as rules
from shared.domain import errors
from shared.domain.policy import Command, may
from shared.domain.stages import TERMINAL_STAGES, Stage
from shared.domain.text import check_text
from shared.persistence.models import OrderEvent, RepairOrder, Shop
from shared.services import shop_settings
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core

# How many earlier visits the candidates list names at most (a car back
# twice within a month is already rare).
CANDIDATES_MAX = 5


def clean_text(value: str, field: str) -> str:
    """The fault or the reason: trimmed, required, at most ``rules.MAX_TEXT``;
    several lines allowed (the API and the desk take them as written)."""
    cleaned = check_text(field, value, multiline=True).strip()
    if not cleaned:
        raise errors.ValidationFailed(field, errors.Message("%(field)s is required.", field=field))
    if len(cleaned) > rules.MAX_TEXT:
        raise errors.ValidationFailed(
            field,
            errors.Message(
                "%(field)s is longer than %(limit)s characters.", field=field, limit=rules.MAX_TEXT
            ),
        )
    return cleaned


# ------------------------------------------------------------- the log


def marks(session: Session, order_ids: Iterable[int]) -> dict[int, rules.Mark]:
    """The comeback marks that stand on these orders, from their logs (one
    query on the log's order index)."""
    wanted = sorted(set(order_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(
            OrderEvent.order_id,
            OrderEvent.type,
            OrderEvent.data,
            OrderEvent.at,
            OrderEvent.actor_name,
        )
        .where(OrderEvent.order_id.in_(wanted), OrderEvent.type.in_(rules.TYPES))
        .order_by(OrderEvent.order_id, OrderEvent.seq)
    ).all()
    per_order: dict[int, list[tuple[str, dict[str, Any], datetime, str]]] = {}
    for order_id, type_name, data, at, by in rows:
        per_order.setdefault(order_id, []).append((type_name, dict(data or {}), at, by or ""))
    found = {order_id: rules.mark_of(events) for order_id, events in per_order.items()}
    return {order_id: mark for order_id, mark in found.items() if mark is not None}


def _checked_in_at(session: Session, rows: Sequence[RepairOrder]) -> dict[int, datetime | None]:
    """When each order came in: its opening, or for an order that was booked
    first, its move to ``checked_in`` (None while only booked)."""
    found: dict[int, datetime | None] = {}
    ids = [r.id for r in rows]
    booked_first: set[int] = set()
    if ids:
        for order_id, data in session.execute(
            select(OrderEvent.order_id, OrderEvent.data).where(
                OrderEvent.order_id.in_(ids), OrderEvent.type == "order_created"
            )
        ):
            if (data or {}).get("stage") == Stage.BOOKED.value:
                booked_first.add(order_id)
    for row in rows:
        found[row.id] = None if row.id in booked_first else row.created_at
    if booked_first:
        moves = session.execute(
            select(OrderEvent.order_id, OrderEvent.data, OrderEvent.at)
            .where(OrderEvent.order_id.in_(booked_first), OrderEvent.type == "stage_changed")
            .order_by(OrderEvent.seq)
        )
        for order_id, data, at in moves:
            if found[order_id] is None and (data or {}).get("to_stage") == Stage.CHECKED_IN.value:
                found[order_id] = at
    return found


def _visit(row: RepairOrder, checked_in_at: datetime | None) -> rules.Visit:
    delivered = row.closed_at if row.stage == Stage.DELIVERED.value else None
    return rules.Visit(
        order_id=row.id,
        number=row.number,
        plate=row.plate,
        stage=row.stage,
        checked_in_at=checked_in_at,
        delivered_at=delivered,
    )


def _mark_json(session: Session, mark: rules.Mark | None) -> dict[str, Any] | None:
    """A mark as the API shows it, with the earlier visit's day and delivery."""
    if mark is None:
        return None
    earlier = session.get(RepairOrder, mark.of_order_id)
    return {
        **mark.json(),
        "of_business_day": earlier.business_day.isoformat() if earlier else None,
        "of_delivered_at": earlier.closed_at.isoformat()
        if earlier is not None and earlier.closed_at is not None
        else None,
    }


def _candidate_json(row: RepairOrder, days: int) -> dict[str, Any]:
    assert row.closed_at is not None
    return {
        "order_id": row.id,
        "number": row.number,
        "business_day": row.business_day.isoformat(),
        "delivered_at": row.closed_at.isoformat(),
        "days": days,
        "complaint": row.complaint,
        "items": [str(item.get("title", "")) for item in (row.items or [])],
    }


def _candidates(
    session: Session, shop: Shop, visits: dict[int, rules.Visit]
) -> dict[int, list[dict[str, Any]]]:
    """Each visit's earlier delivered visits of the same plate within the
    shop's window, the latest delivery first (one query for them all)."""
    limit = shop_settings.comeback_days(shop.settings or {})
    came = [v.checked_in_at for v in visits.values() if v.checked_in_at is not None]
    found: dict[int, list[dict[str, Any]]] = {order_id: [] for order_id in visits}
    if not came:
        return found
    # A day either side of the window, for the shop's offset: the rule decides.
    since = min(came) - timedelta(days=limit + 2)
    plates = sorted({v.plate for v in visits.values()})
    earlier = (
        session.execute(
            select(RepairOrder)
            .where(
                RepairOrder.shop_id == shop.id,
                RepairOrder.plate.in_(plates),
                RepairOrder.stage == Stage.DELIVERED.value,
                RepairOrder.closed_at >= since,
            )
            .order_by(RepairOrder.closed_at.desc(), RepairOrder.id.desc())
        )
        .scalars()
        .all()
    )
    for order_id, visit in visits.items():
        for row in earlier:
            if row.plate != visit.plate or len(found[order_id]) >= CANDIDATES_MAX:
                continue
            try:
                days = rules.window_days(visit, _visit(row, None), limit, shop.timezone)
            except errors.DomainError:
                continue
            found[order_id].append(_candidate_json(row, days))
    return found


# ------------------------------------------------------------- commands


def _check_role(tx: Transaction) -> None:
    if not may(tx.actor, Command.RECEPTION):
        role = ", ".join(sorted(r.value for r in tx.actor.roles))
        raise errors.Forbidden(errors.Message("The role %(role)s may not do this.", role=role))


def _answer(tx: Transaction, row: RepairOrder) -> dict[str, Any]:
    mark = marks(tx.session, [row.id]).get(row.id)
    return {"order": tx.view(row), "comeback": _mark_json(tx.session, mark)}


def flag_comeback(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    of_order_id: int,
    note: str,
    version: int,
) -> Outcome:
    """Mark order ``order_id`` a comeback of the earlier visit ``of_order_id``
    for the fault ``note``. Answers 200 {order, comeback}."""
    note = clean_text(note, "note")

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _check_role(tx)
        row = tx.load_order(order_id)
        state = tx.check_version(row, version)
        earlier = tx.session.get(RepairOrder, of_order_id)
        if earlier is None or earlier.shop_id != tx.locked.id:
            raise tx.refuse(
                errors.ValidationFailed(
                    "of_order_id",
                    errors.Message("No order %(order)s in this shop.", order=of_order_id),
                ),
                row,
            )
        came = _checked_in_at(tx.session, [row])[row.id]
        try:
            events = rules.flag(
                marks(tx.session, [row.id]).get(row.id),
                _visit(row, came),
                _visit(earlier, None),
                note,
                limit=shop_settings.comeback_days(tx.shop.settings or {}),
                timezone=tx.shop.timezone,
                at=tx.now,
            )
        except errors.DomainError as refused:
            if isinstance(refused, rules.AlreadyFlagged):
                # The mark as the API shows it everywhere, with its visit's day.
                refused.extra["comeback"] = _answer(tx, row)["comeback"]
            raise tx.refuse(refused, row) from None
        tx.record(row, state, events)
        return 200, _answer(tx, row)

    return execute(core, request, "flag_comeback", work)


def unflag_comeback(
    core: Core, request: CommandRequest, order_id: int, *, reason: str, version: int
) -> Outcome:
    """Withdraw the comeback mark set on ``order_id`` by mistake, saying why.
    Answers 200 {order, comeback: null}."""
    reason = clean_text(reason, "reason")

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _check_role(tx)
        row = tx.load_order(order_id)
        state = tx.check_version(row, version)
        try:
            events = rules.unflag(marks(tx.session, [row.id]).get(row.id), reason, at=tx.now)
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
        tx.record(row, state, events)
        return 200, _answer(tx, row)

    return execute(core, request, "unflag_comeback", work)


# ------------------------------------------------------------- reads


def _shop(session: Session, shop_id: int) -> Shop:
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise errors.NotFound(errors.Message("No shop %(shop)s.", shop=shop_id))
    return shop


def candidates(core: Core, shop_id: int, order_id: int) -> dict[str, Any]:
    """One order's comeback mark, if any, and the earlier delivered visits of
    its plate it could be the comeback of (GET …/comeback-candidates)."""
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        row = session.get(RepairOrder, order_id)
        if row is None or row.shop_id != shop_id:
            raise errors.NotFound(
                errors.Message("No order %(order)s in this shop.", order=order_id)
            )
        came = _checked_in_at(session, [row])[row.id]
        visit = _visit(row, came)
        return {
            "order_id": row.id,
            "plate": row.plate,
            "checked_in_at": came.isoformat() if came else None,
            "comeback_days": shop_settings.comeback_days(shop.settings or {}),
            "comeback": _mark_json(session, marks(session, [row.id]).get(row.id)),
            "candidates": _candidates(session, shop, {row.id: visit})[row.id],
        }


def desk_view(core: Core, shop_id: int) -> dict[str, Any]:
    """For every car in the shop: its comeback mark, or the earlier visits it
    could be a comeback of (only cars that have one are listed). The desk
    reads it when a car arrives or a mark changes."""
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        rows = (
            session.execute(
                select(RepairOrder).where(
                    RepairOrder.shop_id == shop_id,
                    RepairOrder.stage.not_in([s.value for s in TERMINAL_STAGES]),
                    RepairOrder.stage != Stage.BOOKED.value,
                )
            )
            .scalars()
            .all()
        )
        came = _checked_in_at(session, rows)
        visits = {row.id: _visit(row, came[row.id]) for row in rows}
        standing = marks(session, visits)
        unmarked = {i: v for i, v in visits.items() if i not in standing}
        found = _candidates(session, shop, unmarked)
        orders: dict[str, Any] = {}
        for row in rows:
            mark = standing.get(row.id)
            if mark is not None:
                orders[str(row.id)] = {
                    "version": row.version,
                    "comeback": _mark_json(session, mark),
                    "candidates": [],
                }
            elif found.get(row.id):
                orders[str(row.id)] = {
                    "version": row.version,
                    "comeback": None,
                    "candidates": found[row.id],
                }
        return {"comeback_days": shop_settings.comeback_days(shop.settings or {}), "orders": orders}
