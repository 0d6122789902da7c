"""Parts requests (领料/订件): asked for on the floor, moved on by the parts
counter (desk or foreman): requested → ordered (expected arrival) → arrived.

A request is one "parts" reason of the pause (``holds``): the car waits for
it, the expected arrival is when it should end, and its arrival clears that
reason (and only that one): the technician's kiosk hears of it and the
technician resumes the work.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.domain import errors, holds, policy
from shared.domain.events import Event, PartsStatusChanged, PauseReasonCleared
from shared.domain.order import (
    Actor,
    OrderState,
    allowed_moves,
    checked_text,
    hold_for_parts,
    require_assigned,
)
from shared.domain.stages import Stage


def _checked_eta(eta: datetime | None) -> datetime | None:
    if eta is None:
        return None
    if eta.tzinfo is None:
        raise errors.ValidationFailed("eta", "eta needs a UTC offset.")
    return eta.astimezone(UTC)


def request_parts(
    state: OrderState,
    *,
    description: str,
    eta: datetime | None = None,
    actor: Actor,
    now: datetime,
) -> list[Event]:
    """Ask for parts while working on the car (or while it waits already):
    the car waits for them."""
    if not policy.may(actor, policy.Command.PARTS):
        raise errors.Forbidden("Your role may not request parts.")
    if state.stage not in (Stage.IN_PROGRESS, Stage.PAUSED):
        raise errors.IllegalTransition(
            "Parts are requested while the car is in repair.",
            allowed=[s.value for s in allowed_moves(state)],
        )
    require_assigned(state, actor)
    description = checked_text("description", description, required=True, limit=200)
    return hold_for_parts(state, description=description, eta=_checked_eta(eta), now=now)


def change_parts_status(
    state: OrderState,
    *,
    part_id: int,
    status: str,
    eta: datetime | None = None,
    actor: Actor,
    now: datetime,
) -> list[Event]:
    """The parts counter moves a request on; an arrival clears its reason."""
    if not policy.may(actor, policy.Command.HANDLE_PARTS):
        raise errors.Forbidden("Parts are handled at the desk or by the foreman.")
    part = state.part(part_id)
    if status not in (holds.PART_ORDERED, holds.PART_ARRIVED):
        raise errors.ValidationFailed("status", "status is ordered or arrived.")
    if not state.active:
        raise errors.IllegalTransition("The order is closed.", allowed=[])
    if status not in holds.PART_MOVES[part.status]:
        raise errors.ValidationFailed(
            "status", f"A parts request that is {part.status} cannot become {status}."
        )
    eta = _checked_eta(eta)
    events: list[Event] = [
        PartsStatusChanged(
            at=now,
            part_id=part_id,
            status=status,
            eta=eta if eta is not None or status == holds.PART_ARRIVED else part.eta,
        )
    ]
    key = holds.parts_key(part_id)
    if status == holds.PART_ARRIVED and state.has_reason(key):
        events.append(PauseReasonCleared(at=now, key=key, why="arrived"))
    return events
