"""Typed events of a repair order.

Every change to an order is one or more of these; the order's state is the fold
of its events (``order.apply_event``). The same types are written to the
append-only event table and sent, redacted, to screens. Documented per type in
docs/EVENTS.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from shared.domain.stages import CheckLevel, PauseReason, Stage


@dataclass(frozen=True)
class WorkItem:
    """One line of the job order: what to do and its standard labour hours (工时)."""

    title: str
    labour_hours: float


@dataclass(frozen=True)
class Event:
    """Base of every order event: when it happened."""

    type: ClassVar[str] = "event"
    at: datetime

    def data(self) -> dict[str, Any]:
        """The event's own fields as JSON-ready values (without ``at``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "at":
                continue
            out[f.name] = _to_json(getattr(self, f.name))
        return out


@dataclass(frozen=True)
class OrderCreated(Event):
    """Reception opened the order (or booked it)."""

    type: ClassVar[str] = "order_created"
    number: int = 0
    plate: str = ""
    stage: Stage = Stage.CHECKED_IN
    customer_name: str = ""
    customer_phone: str = ""
    vehicle_model: str = ""
    vehicle_vin: str = ""
    vehicle_mileage: int | None = None
    complaint: str = ""
    items: tuple[WorkItem, ...] = ()
    promised_at: datetime | None = None
    waiting: bool = False
    wash: bool = False
    priority: str = "normal"
    advisor_id: int | None = None


@dataclass(frozen=True)
class StageChanged(Event):
    """The order moved from one stage to another."""

    type: ClassVar[str] = "stage_changed"
    from_stage: Stage = Stage.CHECKED_IN
    to_stage: Stage = Stage.CHECKED_IN
    reason: str = ""
    pause_reason: PauseReason | None = None


@dataclass(frozen=True)
class Assigned(Event):
    """The foreman put the order on a bay with these technicians (派工)."""

    type: ClassVar[str] = "assigned"
    bay: str = ""
    technicians: tuple[int, ...] = ()


@dataclass(frozen=True)
class CheckPassed(Event):
    """One level of the inspection chain passed."""

    type: ClassVar[str] = "check_passed"
    level: str = CheckLevel.TEAM_LEAD.value
    # True when the person who signed had signed an earlier level of the same
    # job and the shop's setting let them (a small shop); false otherwise.
    checks_by_one_person_allowed: bool = False


@dataclass(frozen=True)
class CheckFailed(Event):
    """An inspection (or the advisor's final check) failed: the car goes back
    to repair and this counts as a rework (返工)."""

    type: ClassVar[str] = "check_failed"
    level: str = CheckLevel.TEAM_LEAD.value
    reason: str = ""


@dataclass(frozen=True)
class ExtraWorkQuoted(Event):
    """Additional work found during the job (作业过程中发现新项目), priced."""

    type: ClassVar[str] = "extra_work_quoted"
    quote_id: int = 0
    description: str = ""
    labour_hours: float = 0.0
    price_cents: int = 0
    expires_at: datetime | None = None


@dataclass(frozen=True)
class QuoteRevised(Event):
    """A pending quote changed before the customer decided: a new version,
    which is the only one a decision may name."""

    type: ClassVar[str] = "quote_revised"
    quote_id: int = 0
    version: int = 2
    description: str = ""
    labour_hours: float = 0.0
    price_cents: int = 0
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ExtraWorkDecided(Event):
    """The customer approved or declined a quote (客户同意并授权), by some
    channel: the version decided, and for a phone or in-person decision the
    member of staff who took it."""

    type: ClassVar[str] = "extra_work_decided"
    quote_id: int = 0
    approved: bool = False
    channel: str = "phone"
    quote_version: int = 1
    taken_by: str = ""


@dataclass(frozen=True)
class QuoteExpired(Event):
    """Nobody decided a quote in the time the shop gives one: the work is not
    done, the car stops waiting for it, and the advisor is told."""

    type: ClassVar[str] = "quote_expired"
    quote_id: int = 0


@dataclass(frozen=True)
class PauseReasonAdded(Event):
    """The order now also waits for this (parts, the customer's OK, other)."""

    type: ClassVar[str] = "pause_reason_added"
    key: str = ""
    reason: PauseReason = PauseReason.OTHER
    note: str = ""
    expected_at: datetime | None = None


@dataclass(frozen=True)
class PauseReasonCleared(Event):
    """One reason is over: ``why`` is arrived (the parts), decided or expired
    (the quote), cleared (an "other" reason, by the floor) or resumed (the
    resume tap ends the "other" reasons still open)."""

    type: ClassVar[str] = "pause_reason_cleared"
    key: str = ""
    why: str = "cleared"


@dataclass(frozen=True)
class PartsRequested(Event):
    """A technician asked for parts (what is needed; when, if known)."""

    type: ClassVar[str] = "parts_requested"
    part_id: int = 0
    description: str = ""
    eta: datetime | None = None


@dataclass(frozen=True)
class PartsStatusChanged(Event):
    """The parts counter moved a request on: ordered (expected ``eta``) or arrived."""

    type: ClassVar[str] = "parts_status_changed"
    part_id: int = 0
    status: str = "ordered"
    eta: datetime | None = None


@dataclass(frozen=True)
class SurveySubmitted(Event):
    """The customer's satisfaction rating after delivery (满意度调查), once."""

    type: ClassVar[str] = "survey_submitted"
    rating: int = 0
    comment: str = ""


@dataclass(frozen=True)
class PromiseChanged(Event):
    """The advisor set a new promised time (承诺交车), telling the customer why.
    ``by`` is the advisor's name as the customer reads it."""

    type: ClassVar[str] = "promise_changed"
    old: datetime | None = None
    new: datetime | None = None
    by: str = ""
    reason: str = ""


@dataclass(frozen=True)
class EtaRevised(Event):
    """The shop-load engine moved the estimate (预计完工) by more than its
    threshold, or changed its verdict: ``risk`` is "" (on time), "at_risk" or
    "late", ``cause`` what puts the promise at risk (clock_overrun, parts,
    approval, queue)."""

    type: ClassVar[str] = "eta_revised"
    eta: datetime | None = None
    risk: str = ""
    cause: str = ""


@dataclass(frozen=True)
class ComebackFlagged(Event):
    """The advisor marked this visit a comeback (返修): the same car back with
    the same fault within the shop's ``comeback_days`` of an earlier visit's
    delivery. ``of_order_id`` and ``of_number`` name that visit, ``days`` the
    shop days from its delivery to this check-in, ``note`` the fault."""

    type: ClassVar[str] = "comeback_flagged"
    of_order_id: int = 0
    of_number: int = 0
    days: int = 0
    note: str = ""


@dataclass(frozen=True)
class ComebackUnflagged(Event):
    """A comeback mark set by mistake was withdrawn, and why; the order may
    be marked again. Reports count a mark only while it stands."""

    type: ClassVar[str] = "comeback_unflagged"
    of_order_id: int = 0
    reason: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        OrderCreated,
        StageChanged,
        Assigned,
        CheckPassed,
        CheckFailed,
        ExtraWorkQuoted,
        QuoteRevised,
        ExtraWorkDecided,
        QuoteExpired,
        PauseReasonAdded,
        PauseReasonCleared,
        PartsRequested,
        PartsStatusChanged,
        SurveySubmitted,
        PromiseChanged,
        EtaRevised,
        ComebackFlagged,
        ComebackUnflagged,
    )
}


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, WorkItem):
        return asdict(value)
    return value


def event_from_record(type_name: str, at: datetime, data: dict[str, Any]) -> Event:
    """Rebuild a typed event from its stored form (used to replay the log)."""
    cls = EVENT_TYPES[type_name]
    kwargs: dict[str, Any] = {"at": at}
    for f in fields(cls):
        if f.name == "at" or f.name not in data:
            continue
        kwargs[f.name] = _from_json(str(f.type), data[f.name])
    return cls(**kwargs)


def _from_json(annotation: str, value: Any) -> Any:
    """The stored value as the field's declared type (annotations are strings
    here: ``from __future__ import annotations``)."""
    if value is None:
        return None
    if annotation.startswith("tuple[WorkItem"):
        return tuple(
            WorkItem(title=i["title"], labour_hours=float(i["labour_hours"])) for i in value
        )
    if annotation.startswith("tuple[int"):
        return tuple(int(v) for v in value)
    if annotation.startswith("datetime"):
        return datetime.fromisoformat(value)
    if annotation == "Stage":
        return Stage(value)
    if annotation.startswith("PauseReason"):
        return PauseReason(value)
    return value
