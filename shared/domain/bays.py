"""Who stands on a bay: a bay takes as many cars as its capacity, no more.

A car holds its bay from dispatch until it passes the inspection chain (or is
cancelled): while it is dispatched, being worked on, paused (the car stays on
the lift while parts come) or in quality check. Washing, ready, delivered and
cancelled cars have left the repair bay, though the order still names the bay
it was repaired on. A repair bay has capacity one; a wash bay or a parking lane
may take more. Pure rules, no I/O: the service reads the holders inside the
command's locked transaction and asks ``check_room``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.domain import errors
from shared.domain.events import Assigned, Event, StageChanged
from shared.domain.order import OrderState, apply_events
from shared.domain.stages import HOLDING_STAGES

# What a bay is for: repair bays (general, quick service, alignment, EV /
# high-voltage, paint) hold one car; a wash bay or a parking lane may be given
# a larger capacity.
BAY_KINDS = ("general", "quick", "alignment", "ev", "paint", "wash", "parking_lane")


@dataclass(frozen=True)
class Holder:
    """An order that stands on a bay now, as the refusal names it to the foreman."""

    order_id: int
    number: int
    plate: str

    def as_json(self) -> dict[str, object]:
        return {"id": self.order_id, "number": self.number, "plate": self.plate}


def holds_bay(state: OrderState) -> bool:
    """Whether this order stands on its bay now."""
    return state.bay is not None and state.stage in HOLDING_STAGES


def claimed_bay(before: OrderState | None, events: Sequence[Event]) -> str | None:
    """The bay these events put the order on, when it did not stand there
    before: a dispatch, a move to another bay, or a car taken back into repair
    after it had left its bay. ``None`` when they take no room anywhere (the
    order stays where it is, leaves, or has no bay).

    Only an assignment or a move from outside the holding stages into them
    can take room; every other command (the many stage changes on the floor)
    is answered without folding the events a second time."""
    if not any(_may_take_room(event) for event in events):
        return None
    after = apply_events(before, events)
    if not holds_bay(after):
        return None
    if before is not None and holds_bay(before) and before.bay == after.bay:
        return None
    return after.bay


def _may_take_room(event: Event) -> bool:
    if isinstance(event, Assigned):
        return True
    return (
        isinstance(event, StageChanged)
        and event.to_stage in HOLDING_STAGES
        and event.from_stage not in HOLDING_STAGES
    )


def check_room(bay: str, capacity: int, holders: Sequence[Holder], *, order_id: int) -> None:
    """Refuse with ``BayOccupied`` when ``capacity`` other cars stand on the bay.

    The order itself never counts against its own room (assigning an order to
    the bay it already stands on changes nothing). The first holder is named
    in ``held_by``, every holder in ``holders``, so that the foreman can see
    which car to move."""
    others = sorted(
        (h for h in holders if h.order_id != order_id), key=lambda h: (h.number, h.order_id)
    )
    if len(others) < capacity:
        return
    first = others[0] if others else None
    if capacity == 1 and first is not None:
        detail = f"Bay {bay} is taken by #{first.number} {first.plate}."
    else:
        detail = f"Bay {bay} is full: it takes {capacity} cars and has {len(others)}."
    raise errors.BayOccupied(
        detail,
        bay=bay,
        capacity=capacity,
        held_by=first.as_json() if first is not None else None,
        holders=[h.as_json() for h in others],
    )
