"""Who stands on a bay: a bay takes as many cars as its capacity, no more.

A car holds its bay from dispatch until it passes the inspection chain (or is
cancelled): while it is dispatched, being worked on, paused (the car stays on
the lift while parts come) or in quality check. Washing, ready, delivered and
cancelled cars have left the repair bay, though the order still names the bay
it was repaired on. A car being washed stands on the shop's wash bay instead
(``standing``); a ready car stands on no bay. A repair bay has capacity one; a
wash bay or a parking lane may take more. Pure rules, no I/O: the service reads
the cars inside the command's locked transaction and asks ``check_room``; the
wall board places the cars by the same rule (``screen_rule``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.domain import errors
from shared.domain.events import Assigned, Event, StageChanged
from shared.domain.order import OrderState, apply_events
from shared.domain.stages import HOLDING_STAGES, Stage

# What a bay is for: repair bays (general, quick service, alignment, EV /
# high-voltage, paint) hold one car; a wash bay or a parking lane may be given
# a larger capacity.
BAY_KINDS = ("general", "quick", "alignment", "ev", "paint", "wash", "parking_lane")
# The kinds of bay a car being washed stands on.
WASH_KINDS = ("wash",)
# A car in these stages stands on a wash bay, not on the bay it was repaired on.
WASHING_STAGES: tuple[Stage, ...] = (Stage.WASHING,)


@dataclass(frozen=True)
class Holder:
    """An order that stands on a bay now, as the refusal names it to the foreman."""

    order_id: int
    number: int
    plate: str

    def as_json(self) -> dict[str, object]:
        return {"id": self.order_id, "number": self.number, "plate": self.plate}


@dataclass(frozen=True)
class Place:
    """A bay as the standing rule needs it: its code, kind and capacity (in
    the shop's order), and whether it is in service."""

    code: str
    kind: str
    capacity: int = 1
    in_service: bool = True


@dataclass(frozen=True)
class Standing:
    """An active order as the standing rule needs it. ``since``: when it
    entered its stage (cars go to the wash bays in the order they came)."""

    holder: Holder
    stage: Stage
    bay: str | None
    since: datetime | None = None


def standing(cars: Sequence[Standing], places: Sequence[Place]) -> dict[str, list[Holder]]:
    """Who stands on which bay now: ``{bay code: holders}``, the holders in
    the order they came (a bay nobody stands on is absent).

    - A car from dispatch to quality check stands on its own bay.
    - A car being washed stands on a wash bay: its own bay when that is one
      (a wash-only job dispatched there), else the shop's wash bays in the
      shop's order, each filled up to its capacity, cars in the order they
      came to the wash. Those that find no room wait at the first wash bay in
      service (over its capacity, so that the board still names them). A shop
      without a wash bay washes elsewhere: no bay.
    - Every other car (booked, checked in, ready, delivered, cancelled)
      stands on no bay, whatever bay its order still names.

    The dispatch rule counts a bay's holders from this (``check_room``) and
    the wall board draws its bay strip from the same rule, so that what the
    board shows free the foreman can dispatch to."""
    found: dict[str, list[Holder]] = {}
    kinds = {place.code: place.kind for place in places}
    washing: list[Standing] = []
    for car in sorted(cars, key=_arrival):
        if car.bay is not None and car.stage in HOLDING_STAGES:
            found.setdefault(car.bay, []).append(car.holder)
        elif car.stage in WASHING_STAGES:
            if car.bay is not None and kinds.get(car.bay) in WASH_KINDS:
                found.setdefault(car.bay, []).append(car.holder)
            else:
                washing.append(car)
    wash_bays = [p for p in places if p.kind in WASH_KINDS and p.in_service]
    for car in washing:
        room = [p for p in wash_bays if len(found.get(p.code, ())) < p.capacity]
        if room or wash_bays:
            found.setdefault((room or wash_bays)[0].code, []).append(car.holder)
    return found


def _arrival(car: Standing) -> tuple[bool, float, int, int]:
    """First come, first placed: by the moment the car entered its stage (a
    moment without a zone is UTC; none at all comes last), then by number."""
    moment = car.since
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    at = moment.timestamp() if moment is not None else 0.0
    return (moment is None, at, car.holder.number, car.holder.order_id)


def screen_rule() -> Mapping[str, list[str]]:
    """The standing rule's stage and kind lists, for the wall board's script
    (``static/js/board.js`` places the cars with exactly ``standing``)."""
    return {
        "holding": [s.value for s in HOLDING_STAGES],
        "washing": [s.value for s in WASHING_STAGES],
        "wash_kinds": list(WASH_KINDS),
    }


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
