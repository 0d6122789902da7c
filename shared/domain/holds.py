"""What holds a paused order: its open pause reasons, and the parts it waits for.

A pause is a set of open reasons, not one word: a car can wait for brake pads
and for the customer's OK at once, and it goes back to work only when the
last reason has cleared and a technician taps resume. Each reason has a key
that says what clears it:

- ``parts:<part id>``: that parts request arrives;
- ``approval:<quote id>``: the customer decides that quote, or it expires;
- ``other:<n>``: a technician or the foreman says it is over (or resumes).

Pure values and functions on tuples of them; the order's rules
(``order``, ``extra_work``, ``parts``) decide when they change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from shared.domain.stages import PauseReason

# A parts request's life: asked for on the floor, ordered by the parts
# counter (with an expected arrival), arrived.
PART_REQUESTED = "requested"
PART_ORDERED = "ordered"
PART_ARRIVED = "arrived"
PART_STATUSES = (PART_REQUESTED, PART_ORDERED, PART_ARRIVED)
# The moves a request may make (ordered → ordered moves the expected arrival).
PART_MOVES: dict[str, tuple[str, ...]] = {
    PART_REQUESTED: (PART_ORDERED, PART_ARRIVED),
    PART_ORDERED: (PART_ORDERED, PART_ARRIVED),
    PART_ARRIVED: (),
}


# Why a reason ended (``PauseReasonCleared.why``): its parts arrived, its
# quote was decided or expired, the floor cleared it, or a resume tap did.
CLEARED_WHY = ("arrived", "decided", "expired", "cleared", "resumed")


@dataclass(frozen=True)
class PauseItem:
    """One open reason the order waits for."""

    key: str
    reason: PauseReason
    note: str = ""
    expected_at: datetime | None = None


@dataclass(frozen=True)
class PartRequest:
    """Parts a technician asked for on one order (领料/订件), and where they are."""

    id: int
    description: str
    status: str = PART_REQUESTED
    eta: datetime | None = None
    requested_at: datetime | None = None
    arrived_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.status != PART_ARRIVED


def parts_key(part_id: int) -> str:
    return f"parts:{part_id}"


def approval_key(quote_id: int) -> str:
    return f"approval:{quote_id}"


def other_key(version: int) -> str:
    """An "other" reason's key: the order's version when it was added, which
    no other reason of the order ever had."""
    return f"other:{version}"


def with_reason(reasons: tuple[PauseItem, ...], item: PauseItem) -> tuple[PauseItem, ...]:
    """The reasons with ``item`` open (one of the same key is replaced where it stands)."""
    if any(r.key == item.key for r in reasons):
        return tuple(item if r.key == item.key else r for r in reasons)
    return (*reasons, item)


def without(reasons: tuple[PauseItem, ...], key: str) -> tuple[PauseItem, ...]:
    return tuple(r for r in reasons if r.key != key)


def expected(
    reasons: tuple[PauseItem, ...], key: str, at: datetime | None
) -> tuple[PauseItem, ...]:
    """The reasons with the expected end of ``key`` moved to ``at``."""
    return tuple(replace(r, expected_at=at) if r.key == key else r for r in reasons)


def blocking(reasons: tuple[PauseItem, ...]) -> tuple[PauseItem, ...]:
    """Reasons a resume tap cannot clear: parts and approvals clear only by
    their own event (arrival, the customer's decision, expiry)."""
    return tuple(r for r in reasons if r.reason != PauseReason.OTHER)


def set_part(parts: tuple[PartRequest, ...], part: PartRequest) -> tuple[PartRequest, ...]:
    """The requests with ``part`` replacing the one of its id (or added)."""
    if any(p.id == part.id for p in parts):
        return tuple(part if p.id == part.id else p for p in parts)
    return (*parts, part)
