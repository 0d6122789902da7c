"""Complaints (投诉): opened by a follow-up call, owned by a member of staff,
listed on the desk until resolved with their outcome.

One function per command (``change_owner``, ``resolve``; the opening is part
of ``reception.record_follow_up``, the call that hears it). Each goes through
``commands.execute``: the shop's row lock, the Idempotency-Key (a replay
answers the first answer and writes nothing), the caller's version checked
against the complaint's (409 ``stale_version`` with the complaint as it is),
the domain rule (shared/domain/complaints.py), the row and one
``complaint_event`` per change in the same transaction, then after commit a
``complaint`` hint to the staff screens, which read the list again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.domain import complaints as rules
from shared.domain import errors
from shared.domain.policy import Command, may
from shared.domain.stages import Role
from shared.persistence.models import RepairOrder, StaffUser
from shared.persistence.reception_models import Complaint, ComplaintEvent
from shared.realtime.publisher import Notice, staff_room
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core

# The staff screens' hint: a complaint was opened, handed on or resolved.
COMPLAINT_MESSAGE = "complaint"
# Who may own a complaint: the people who call customers back and fix what
# went wrong (a foreman for the workmanship), never a screen or a token.
OWNER_ROLES = (Role.ADVISOR, Role.MANAGER, Role.ADMIN, Role.FOREMAN)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def clean_text(value: str, field: str) -> str:
    """The customer's words or the outcome: trimmed, required, at most
    ``rules.MAX_TEXT`` characters (the text rule itself is the parser's)."""
    cleaned = value.strip()
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


def _state(row: Complaint) -> rules.Complaint:
    return rules.Complaint(
        order_id=row.order_id,
        description=row.description,
        status=row.status,
        owner_id=row.owner_id,
        outcome=row.outcome,
        opened_at=row.opened_at,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        version=row.version,
    )


def _write(row: Complaint, state: rules.Complaint, now: datetime) -> None:
    row.description = state.description
    row.status = state.status
    row.owner_id = state.owner_id
    row.outcome = state.outcome
    row.resolved_at = state.resolved_at
    row.resolved_by = state.resolved_by
    row.version = state.version
    row.updated_at = now


def _record(
    tx: Transaction, row: Complaint, events: Sequence[rules.ComplaintEvent]
) -> rules.Complaint:
    """Apply ``events`` to the complaint, write its row and append each to
    its log, in the command's transaction."""
    state = _state(row) if row.id is not None else None
    for event in events:
        state = rules.apply(state, event)
    assert state is not None
    _write(row, state, tx.now)
    if row.id is None:
        tx.session.add(row)
        tx.session.flush()
    for event in events:
        tx.session.add(
            ComplaintEvent(
                shop_id=tx.locked.id,
                complaint_id=row.id,
                type=event.type,
                at=event.at,
                actor=tx.actor.ref or tx.actor.name,
                actor_name=tx.actor.name,
                data=event.data(),
                idempotency_key=tx.request.idempotency_key,
            )
        )
    if events:
        tx.notify(
            Notice(
                COMPLAINT_MESSAGE,
                {"id": row.id, "status": row.status, "version": row.version},
                (staff_room(tx.locked.id),),
            )
        )
    return state


def _owner(session: Session, shop_id: int, owner_id: int) -> StaffUser:
    """An active member of this shop's staff who may own a complaint."""
    user = session.get(StaffUser, owner_id)
    if (
        user is None
        or user.shop_id != shop_id
        or not user.active
        or user.role not in {r.value for r in OWNER_ROLES}
    ):
        raise errors.ValidationFailed("owner_id", f"No staff member {owner_id} in this shop.")
    return user


def _names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    found = session.execute(
        select(StaffUser.id, StaffUser.name, StaffUser.display_name).where(StaffUser.id.in_(wanted))
    ).all()
    return {user_id: display or name for user_id, name, display in found}


def complaint_json(row: Complaint, order: RepairOrder, names: dict[int, str]) -> dict[str, Any]:
    """A complaint as the desk and the API show it: the order and customer
    it is about, the customer's words, who owns it, and how it was closed."""
    return {
        "id": row.id,
        "order_id": row.order_id,
        "number": order.number,
        "business_day": order.business_day.isoformat(),
        "plate": order.plate,
        "customer": {"name": order.customer_name, "phone": order.customer_phone},
        "vehicle_model": order.vehicle_model,
        "survey_rating": order.survey_rating,
        "survey_comment": order.survey_comment,
        "description": row.description,
        "status": row.status,
        "owner": None
        if row.owner_id is None
        else {"id": row.owner_id, "name": names.get(row.owner_id, "")},
        "outcome": row.outcome,
        "opened_at": _iso(row.opened_at),
        "opened_by": row.opened_by,
        "resolved_at": _iso(row.resolved_at),
        "resolved_by": row.resolved_by,
        "version": row.version,
    }


def _view(session: Session, row: Complaint) -> dict[str, Any]:
    order = session.get(RepairOrder, row.order_id)
    assert order is not None
    return complaint_json(row, order, _names(session, [row.owner_id]))


# ------------------------------------------------------------- commands


def open_from_call(
    tx: Transaction,
    order: RepairOrder,
    follow_up_id: int,
    description: str,
    owner_id: int | None,
) -> Complaint:
    """Open a complaint in the transaction of the follow-up call that heard
    it (``reception.record_follow_up``). The owner is the one named, else
    the member of staff who took the call, else nobody yet (a token without
    a person behind it): the desk lists it to be given one."""
    description = clean_text(description, "note")
    if owner_id is not None:
        _owner(tx.session, tx.locked.id, owner_id)
    elif tx.actor.user_id is not None:
        taker = tx.session.get(StaffUser, tx.actor.user_id)
        if taker is not None and taker.role in {r.value for r in OWNER_ROLES}:
            owner_id = taker.id
    row = Complaint(
        shop_id=tx.locked.id,
        order_id=order.id,
        follow_up_id=follow_up_id,
        opened_by=tx.actor.name,
        opened_at=tx.now,
    )
    _record(tx, row, [rules.open_complaint(order.id, description, owner_id, tx.now)])
    return row


def _load(tx: Transaction, complaint_id: int, version: int) -> Complaint:
    """The complaint, locked with the shop, after the caller's checks: may
    they act at all, is it this shop's, did they see its current version."""
    if not may(tx.actor, Command.RECEPTION):
        role = ", ".join(sorted(r.value for r in tx.actor.roles))
        raise errors.Forbidden(f"The role {role} may not do this.")
    row = tx.session.get(Complaint, complaint_id)
    if row is None or row.shop_id != tx.locked.id:
        raise errors.NotFound(
            errors.Message("No complaint %(complaint)s in this shop.", complaint=complaint_id)
        )
    if row.version != version:
        raise errors.StaleVersion(
            errors.Message(
                "The complaint changed (version %(current)s, you sent %(sent)s). "
                "Here is the current state.",
                current=row.version,
                sent=version,
            ),
            complaint=_view(tx.session, row),
        )
    if not row.status == rules.OPEN:
        raise errors.IllegalTransition(
            errors.Message("The complaint is resolved already."),
            allowed=[],
            complaint=_view(tx.session, row),
        )
    return row


def change_owner(
    core: Core, request: CommandRequest, complaint_id: int, *, owner_id: int, version: int
) -> Outcome:
    """Hand an open complaint to another member of staff. Naming its owner
    again changes nothing (no event, same version)."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = _load(tx, complaint_id, version)
        _owner(tx.session, tx.locked.id, owner_id)
        _record(tx, row, rules.change_owner(_state(row), owner_id, tx.now))
        return 200, _view(tx.session, row)

    return execute(core, request, "change_complaint_owner", work)


def resolve(
    core: Core, request: CommandRequest, complaint_id: int, *, outcome: str, version: int
) -> Outcome:
    """Close an open complaint with its outcome: what was done and what the
    customer said. It leaves the desk's list; its record stays."""
    outcome = clean_text(outcome, "outcome")

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = _load(tx, complaint_id, version)
        _record(tx, row, [rules.resolve(_state(row), outcome, tx.actor.name, tx.now)])
        return 200, _view(tx.session, row)

    return execute(core, request, "resolve_complaint", work)


# ------------------------------------------------------------- reads


def open_complaints(core: Core, shop_id: int) -> list[dict[str, Any]]:
    """The shop's open complaints, oldest first."""
    with core.db.read() as session:
        rows = (
            session.execute(
                select(Complaint)
                .where(Complaint.shop_id == shop_id, Complaint.status == rules.OPEN)
                .order_by(Complaint.opened_at, Complaint.id)
            )
            .scalars()
            .all()
        )
        names = _names(session, [r.owner_id for r in rows])
        orders = {
            o.id: o
            for o in session.execute(
                select(RepairOrder).where(RepairOrder.id.in_([r.order_id for r in rows]))
            ).scalars()
        }
        return [complaint_json(r, orders[r.order_id], names) for r in rows]


def owners(core: Core, shop_id: int) -> list[dict[str, Any]]:
    """Who may own a complaint in this shop, by name."""
    with core.db.read() as session:
        found = session.execute(
            select(StaffUser.id, StaffUser.name, StaffUser.display_name, StaffUser.role)
            .where(
                StaffUser.shop_id == shop_id,
                StaffUser.active.is_(True),
                StaffUser.role.in_([r.value for r in OWNER_ROLES]),
            )
            .order_by(StaffUser.name, StaffUser.id)
        ).all()
        return [
            {"id": user_id, "name": display or name, "role": role}
            for user_id, name, display, role in found
        ]


def history(core: Core, shop_id: int, complaint_id: int) -> list[dict[str, Any]]:
    """A complaint's events, oldest first (who, when, what)."""
    with core.db.read() as session:
        row = session.get(Complaint, complaint_id)
        if row is None or row.shop_id != shop_id:
            raise errors.NotFound(
                errors.Message("No complaint %(complaint)s in this shop.", complaint=complaint_id)
            )
        events = session.execute(
            select(ComplaintEvent)
            .where(ComplaintEvent.complaint_id == complaint_id)
            .order_by(ComplaintEvent.id)
        ).scalars()
        return [
            {
                "type": e.type,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "actor_name": e.actor_name,
                "data": dict(e.data),
            }
            for e in events
        ]
