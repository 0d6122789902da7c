"""A customer's complaint (投诉) and how it was closed (DOMAIN.md: "complaints
and how they were closed").

A follow-up call (回访) that ends in a complaint opens one: the customer's
words, and a member of staff who owns it. It stays open, on the desk, until
its owner resolves it with the outcome (what was done, what the customer
said). Every change is one typed event; the complaint's state is the fold of
its events, as an order's is of its own (``order.apply_events``).

Pure: no session, no clock, no web. The service (shared/services/complaints.py)
loads, checks the version, applies these rules and stores rows and events.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, ClassVar

OPEN = "open"
RESOLVED = "resolved"
STATUSES = (OPEN, RESOLVED)
# The customer's words and the outcome: a paragraph or two, as a note.
MAX_TEXT = 2000


@dataclass(frozen=True)
class ComplaintEvent:
    """Base of every complaint event: when it happened."""

    type: ClassVar[str] = "complaint_event"
    at: datetime

    def data(self) -> dict[str, Any]:
        """The event's own fields as JSON values (without ``at``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "at"}


@dataclass(frozen=True)
class ComplaintOpened(ComplaintEvent):
    """A follow-up call recorded a complaint: what the customer said, and who owns it."""

    type: ClassVar[str] = "complaint_opened"
    order_id: int = 0
    description: str = ""
    owner_id: int | None = None


@dataclass(frozen=True)
class OwnerChanged(ComplaintEvent):
    """Another member of staff owns the complaint now."""

    type: ClassVar[str] = "complaint_owner_changed"
    old_owner_id: int | None = None
    owner_id: int = 0


@dataclass(frozen=True)
class ComplaintResolved(ComplaintEvent):
    """The owner closed the complaint with its outcome; ``by`` is who did."""

    type: ClassVar[str] = "complaint_resolved"
    outcome: str = ""
    by: str = ""


EVENT_TYPES: dict[str, type[ComplaintEvent]] = {
    cls.type: cls for cls in (ComplaintOpened, OwnerChanged, ComplaintResolved)
}


@dataclass(frozen=True)
class Complaint:
    """A complaint as its events leave it. ``version`` counts its events, so
    a caller names the version it saw and a change made meanwhile is caught."""

    order_id: int
    description: str
    status: str = OPEN
    owner_id: int | None = None
    outcome: str = ""
    opened_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str = ""
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.status == OPEN


def apply(state: Complaint | None, event: ComplaintEvent) -> Complaint:
    """The complaint after ``event``."""
    if isinstance(event, ComplaintOpened):
        return Complaint(
            order_id=event.order_id,
            description=event.description,
            owner_id=event.owner_id,
            opened_at=event.at,
            version=1,
        )
    if state is None:
        raise ValueError(f"{event.type} before complaint_opened")
    if isinstance(event, OwnerChanged):
        return replace(state, owner_id=event.owner_id, version=state.version + 1)
    if isinstance(event, ComplaintResolved):
        return replace(
            state,
            status=RESOLVED,
            outcome=event.outcome,
            resolved_at=event.at,
            resolved_by=event.by,
            version=state.version + 1,
        )
    raise ValueError(f"unknown complaint event {event.type}")


def apply_events(state: Complaint | None, events: list[ComplaintEvent]) -> Complaint:
    for event in events:
        state = apply(state, event)
    if state is None:
        raise ValueError("no events")
    return state


def open_complaint(
    order_id: int, description: str, owner_id: int | None, at: datetime
) -> ComplaintOpened:
    """The event that opens a complaint (the caller has checked the words
    are there and the owner is a member of staff)."""
    return ComplaintOpened(at=at, order_id=order_id, description=description, owner_id=owner_id)


def change_owner(state: Complaint, owner_id: int, at: datetime) -> list[ComplaintEvent]:
    """Give an open complaint to ``owner_id``: one event, or none when it
    is theirs already (asking twice changes nothing). The caller refuses a
    resolved complaint first (``is_open``)."""
    if not state.is_open:
        raise ValueError("a resolved complaint keeps its owner")
    if state.owner_id == owner_id:
        return []
    return [OwnerChanged(at=at, old_owner_id=state.owner_id, owner_id=owner_id)]


def resolve(state: Complaint, outcome: str, by: str, at: datetime) -> ComplaintResolved:
    """Close an open complaint with its outcome (the caller checked it is open
    and the outcome says something)."""
    if not state.is_open:
        raise ValueError("the complaint is resolved already")
    if not outcome.strip():
        raise ValueError("a resolution needs its outcome")
    return ComplaintResolved(at=at, outcome=outcome, by=by)
