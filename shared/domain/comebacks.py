"""Comebacks (返修): the same car back with the same fault soon after a visit.

A comeback is the advisor's judgement, not a figure the plate alone gives:
the same plate often comes back within weeks for something else (a tyre
after a service). So the advisor marks a visit as the comeback of an
earlier one, naming the fault, and the rules here only check that the mark
can be true: the same plate, the earlier visit delivered, its delivery at
most the shop's ``comeback_days`` shop days before this visit's check-in.
Each mark is the order event ``comeback_flagged``; a mark set by mistake is
withdrawn by ``comeback_unflagged`` (and may then be set again). Reports
count the marks that stand.

Pure: no session, no clock, no web. The service (shared/services/comebacks.py)
loads the two visits, checks the version, asks these rules and records the
events in the command's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain import errors
from shared.domain.events import ComebackFlagged, ComebackUnflagged, Event
from shared.domain.stages import Stage

# The shop setting ``comeback_days``: how many shop days after a delivery a
# return of the same car can be its comeback (the industry's usual 30).
DEFAULT_DAYS = 30
MIN_DAYS = 1
MAX_DAYS = 365
# The fault in the advisor's words, and why a mark was withdrawn.
MAX_TEXT = 500

FLAGGED = ComebackFlagged.type
UNFLAGGED = ComebackUnflagged.type
TYPES = (FLAGGED, UNFLAGGED)


class AlreadyFlagged(errors.DomainError):
    """The order is marked a comeback already (of the visit the body names);
    withdraw that mark first to name another."""

    code = "already_flagged"
    status = 409


class NotFlagged(errors.DomainError):
    """A withdrawal of a mark the order does not carry."""

    code = "not_flagged"
    status = 409


@dataclass(frozen=True)
class Visit:
    """One visit of a car as the rules need it: when it came in (None: only
    booked), when it was delivered (None: not delivered)."""

    order_id: int
    number: int
    plate: str
    stage: str
    checked_in_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class Mark:
    """A comeback mark that stands: of which visit, how many shop days after
    its delivery, the fault, when and by whom it was set."""

    of_order_id: int
    of_number: int
    days: int
    note: str
    at: datetime
    by: str = ""

    def json(self) -> dict[str, Any]:
        return {
            "of_order_id": self.of_order_id,
            "of_number": self.of_number,
            "days": self.days,
            "note": self.note,
            "at": self.at.isoformat(),
            "by": self.by,
        }


def shop_day(at: datetime, timezone: str) -> date:
    return at.astimezone(ZoneInfo(timezone)).date()


def days_after(delivered_at: datetime, checked_in_at: datetime, timezone: str) -> int:
    """Shop days from a delivery to a later check-in (0: the same day)."""
    return (shop_day(checked_in_at, timezone) - shop_day(delivered_at, timezone)).days


def _refused(template: str, **params: object) -> errors.ValidationFailed:
    return errors.ValidationFailed("of_order_id", errors.Message(template, **params))


def window_days(visit: Visit, earlier: Visit, limit: int, timezone: str) -> int:
    """The shop days between ``earlier``'s delivery and ``visit``'s check-in,
    when ``visit`` can be a comeback of ``earlier``; else ``ValidationFailed``
    naming ``of_order_id`` and why."""
    if visit.checked_in_at is None:
        raise errors.IllegalTransition(
            errors.Message("Only a car that was checked in can be a comeback."), allowed=[]
        )
    if earlier.order_id == visit.order_id:
        raise _refused("A visit cannot be a comeback of itself.")
    if earlier.plate != visit.plate:
        raise _refused(
            "Order %(number)s was another car (%(plate)s).",
            number=earlier.number,
            plate=earlier.plate,
        )
    if earlier.stage != Stage.DELIVERED.value or earlier.delivered_at is None:
        raise _refused("Order %(number)s was not delivered.", number=earlier.number)
    if earlier.delivered_at > visit.checked_in_at:
        raise _refused(
            "Order %(number)s was delivered after this car came in.", number=earlier.number
        )
    days = days_after(earlier.delivered_at, visit.checked_in_at, timezone)
    if days > limit:
        raise _refused(
            "Order %(number)s was delivered %(days)s days before this visit; a comeback is "
            "within %(limit)s days.",
            number=earlier.number,
            days=days,
            limit=limit,
        )
    return days


def flag(
    current: Mark | None,
    visit: Visit,
    earlier: Visit,
    note: str,
    *,
    limit: int,
    timezone: str,
    at: datetime,
) -> list[Event]:
    """Mark ``visit`` a comeback of ``earlier`` for the fault ``note`` (the
    caller has trimmed it and checked it says something)."""
    if current is not None:
        raise AlreadyFlagged(
            errors.Message(
                "This visit is marked a comeback of order %(number)s already.",
                number=current.of_number,
            ),
            comeback=current.json(),
        )
    days = window_days(visit, earlier, limit, timezone)
    return [
        ComebackFlagged(
            at=at, of_order_id=earlier.order_id, of_number=earlier.number, days=days, note=note
        )
    ]


def unflag(current: Mark | None, reason: str, *, at: datetime) -> list[Event]:
    """Withdraw the mark that stands, saying why."""
    if current is None:
        raise NotFlagged(errors.Message("This visit is not marked a comeback."))
    return [ComebackUnflagged(at=at, of_order_id=current.of_order_id, reason=reason)]


def mark_of(events: Iterable[tuple[str, dict[str, Any], datetime, str]]) -> Mark | None:
    """The mark that stands after an order's comeback events (type, data,
    at, who), oldest first: the last flag, unless withdrawn since."""
    mark: Mark | None = None
    for type_name, data, at, by in events:
        if type_name == FLAGGED:
            mark = Mark(
                of_order_id=int(data.get("of_order_id") or 0),
                of_number=int(data.get("of_number") or 0),
                days=int(data.get("days") or 0),
                note=str(data.get("note") or ""),
                at=at,
                by=by,
            )
        elif type_name == UNFLAGGED:
            mark = None
    return mark
