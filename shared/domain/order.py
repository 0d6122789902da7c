"""The repair order (任务委托书) as an immutable state and the rules that change it.

Each rule takes the current state, who acts, when, and the command's inputs,
and returns the events the command causes; it raises a ``DomainError`` and
changes nothing when the command is refused. The new state is always
``apply_events(state, events)``, so replaying the stored log reproduces the
order exactly. No I/O and no framework imports here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from shared.domain import errors, policy, stages
from shared.domain.eta import estimate_eta
from shared.domain.events import (
    Assigned,
    CheckFailed,
    CheckPassed,
    Event,
    ExtraWorkDecided,
    ExtraWorkQuoted,
    OrderCreated,
    StageChanged,
    SurveySubmitted,
    WorkItem,
)
from shared.domain.new_order import NewOrder
from shared.domain.stages import (
    CHECK_CHAIN,
    CHECKERS,
    TERMINAL_STAGES,
    TRANSITIONS,
    CheckLevel,
    PauseReason,
    Role,
    Stage,
)

PRIORITIES = ("normal", "vip")
DECISION_CHANNELS = ("customer_page", "phone", "in_person")
MAX_TEXT = 2000


@dataclass(frozen=True)
class Actor:
    """Who issues a command. ``user_id`` is set for staff users (technicians
    must be assigned to an order to work on it)."""

    name: str
    roles: frozenset[Role]
    user_id: int | None = None
    ref: str = ""

    def may(self, allowed: frozenset[Role]) -> bool:
        return bool(self.roles & allowed)


@dataclass(frozen=True)
class Quote:
    """One line of additional work awaiting, or after, the customer's decision."""

    id: int
    description: str
    labour_hours: float
    price_cents: int
    status: str = "pending"  # pending | approved | declined
    version: int = 1
    channel: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True)
class OrderState:
    """Everything the rules need to know about one order."""

    number: int
    plate: str
    stage: Stage
    created_at: datetime
    updated_at: datetime
    version: int = 1
    pause_reason: PauseReason | None = None
    pause_note: str = ""
    bay: str | None = None
    technicians: tuple[int, ...] = ()
    check_level: CheckLevel | None = None
    rework_count: int = 0
    promised_at: datetime | None = None
    eta: datetime | None = None
    ready_at: datetime | None = None
    stage_entered_at: datetime | None = None
    worked_minutes: float = 0.0
    waiting: bool = False
    wash: bool = False
    priority: str = "normal"
    customer_name: str = ""
    customer_phone: str = ""
    vehicle_model: str = ""
    vehicle_vin: str = ""
    vehicle_mileage: int | None = None
    complaint: str = ""
    items: tuple[WorkItem, ...] = ()
    quotes: tuple[Quote, ...] = ()
    survey_rating: int | None = None
    survey_comment: str = ""
    advisor_id: int | None = None

    @property
    def total_labour_hours(self) -> float:
        """Standard hours sold: the job order's items plus approved extra work."""
        approved = sum(q.labour_hours for q in self.quotes if q.status == "approved")
        return sum(i.labour_hours for i in self.items) + approved

    @property
    def pending_quotes(self) -> tuple[Quote, ...]:
        return tuple(q for q in self.quotes if q.status == "pending")

    @property
    def active(self) -> bool:
        return self.stage not in TERMINAL_STAGES

    def quote(self, quote_id: int) -> Quote:
        for q in self.quotes:
            if q.id == quote_id:
                return q
        raise errors.NotFound(f"No additional-work quote {quote_id} on this order.")


# ---------------------------------------------------------------- folding

_CREATED_FIELDS = tuple(f.name for f in fields(OrderCreated) if f.name != "at")


def apply_event(state: OrderState | None, event: Event) -> OrderState:
    """The state after one event. Every event bumps the version by one."""
    if isinstance(event, OrderCreated):
        # Every field the event carries is the state's field of the same name.
        created = OrderState(
            **{name: getattr(event, name) for name in _CREATED_FIELDS},
            created_at=event.at,
            updated_at=event.at,
            version=1,
            stage_entered_at=event.at,
        )
        return replace(created, eta=estimate_eta(created, event.at))
    if state is None:
        raise ValueError(f"{event.type} before order_created")
    new = replace(state, version=state.version + 1, updated_at=event.at)
    if isinstance(event, StageChanged):
        new = _apply_stage_change(new, event)
    elif isinstance(event, Assigned):
        new = replace(new, bay=event.bay, technicians=event.technicians)
    elif isinstance(event, CheckPassed):
        index = CHECK_CHAIN.index(CheckLevel(event.level))
        following = CHECK_CHAIN[index + 1] if index + 1 < len(CHECK_CHAIN) else None
        new = replace(new, check_level=following)
    elif isinstance(event, CheckFailed):
        new = replace(new, rework_count=new.rework_count + 1)
    elif isinstance(event, ExtraWorkQuoted):
        quote = Quote(
            id=event.quote_id,
            description=event.description,
            labour_hours=event.labour_hours,
            price_cents=event.price_cents,
        )
        new = replace(new, quotes=(*new.quotes, quote))
    elif isinstance(event, ExtraWorkDecided):
        status = "approved" if event.approved else "declined"
        quotes = tuple(
            replace(q, status=status, channel=event.channel, decided_at=event.at)
            if q.id == event.quote_id
            else q
            for q in new.quotes
        )
        new = replace(new, quotes=quotes)
    elif isinstance(event, SurveySubmitted):
        new = replace(new, survey_rating=event.rating, survey_comment=event.comment)
    else:  # pragma: no cover - every type is handled above
        raise ValueError(f"unknown event {event!r}")
    return replace(new, eta=estimate_eta(new, event.at))


def _apply_stage_change(state: OrderState, event: StageChanged) -> OrderState:
    worked = state.worked_minutes
    if state.stage == Stage.IN_PROGRESS and state.stage_entered_at is not None:
        worked += (event.at - state.stage_entered_at).total_seconds() / 60
    new = replace(
        state,
        stage=event.to_stage,
        stage_entered_at=event.at,
        worked_minutes=worked,
        pause_reason=event.pause_reason if event.to_stage == Stage.PAUSED else None,
        pause_note=event.reason if event.to_stage == Stage.PAUSED else "",
    )
    if event.to_stage == Stage.QUALITY_CHECK:
        new = replace(new, check_level=CHECK_CHAIN[0])
    elif event.to_stage == Stage.IN_PROGRESS:
        new = replace(new, check_level=None)
    if event.to_stage == Stage.READY:
        new = replace(new, ready_at=event.at)
    elif event.to_stage == Stage.IN_PROGRESS:
        new = replace(new, ready_at=None)
    if event.to_stage == Stage.CHECKED_IN:
        new = replace(new, bay=None, technicians=())
    return new


def apply_events(state: OrderState | None, events: Iterable[Event]) -> OrderState:
    """Fold events onto a state (``None`` before the order exists)."""
    current = state
    for event in events:
        current = apply_event(current, event)
    if current is None:
        raise ValueError("no events")
    return current


# ---------------------------------------------------------------- rules


def _text(
    field: str,
    value: str,
    *,
    required: bool = False,
    limit: int = MAX_TEXT,
    multiline: bool = False,
) -> str:
    """Trimmed text, or a validation error. Control characters (C0, DEL, C1:
    terminal escapes among them) are refused; only free-text fields may hold
    line breaks and tabs."""
    cleaned = value.strip()
    if required and not cleaned:
        raise errors.ValidationFailed(field, f"{field} is required.")
    if len(cleaned) > limit:
        raise errors.ValidationFailed(field, f"{field} is longer than {limit} characters.")
    allowed = "\n\t" if multiline else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in cleaned):
        raise errors.ValidationFailed(field, f"{field} contains control characters.")
    return cleaned


def allowed_moves(state: OrderState) -> list[Stage]:
    """Next stages the rules would accept now from someone with every role,
    given this order's own facts (wash wanted, checks done, approval pending)."""
    moves: list[Stage] = []
    for frm, to in TRANSITIONS:
        if frm != state.stage:
            continue
        try:
            _guard(state, to, reason="reason", pause_reason=PauseReason.OTHER)
        except errors.DomainError:
            continue
        moves.append(to)
    return moves


def _guard(state: OrderState, to: Stage, reason: str, pause_reason: PauseReason | None) -> None:
    """State-dependent conditions of a move (the table says only who may)."""
    if to == Stage.DISPATCHED and (not state.bay or not state.technicians):
        raise errors.ValidationFailed("bay", "Assign a bay and a technician to dispatch.")
    if to == Stage.PAUSED and pause_reason is None:
        raise errors.ValidationFailed("pause_reason", "A pause needs a reason.")
    if (
        state.stage == Stage.PAUSED
        and to == Stage.IN_PROGRESS
        and state.pause_reason == PauseReason.APPROVAL
        and state.pending_quotes
    ):
        raise errors.ApprovalPending("Waiting for the customer's decision on additional work.")
    if (
        state.stage == Stage.QUALITY_CHECK
        and to in (Stage.WASHING, Stage.READY)
        and state.check_level is not None
    ):
        raise errors.ChecksPending(f"The {state.check_level.value} check has not passed yet.")
    if to == Stage.WASHING and not state.wash:
        raise errors.IllegalTransition("The customer did not ask for a wash.")
    if state.stage == Stage.QUALITY_CHECK and to == Stage.READY and state.wash:
        raise errors.IllegalTransition("The customer asked for a wash; wash first.")
    needs_reason = to == Stage.CANCELLED or (
        to == Stage.IN_PROGRESS and state.stage in (Stage.QUALITY_CHECK, Stage.READY)
    )
    if needs_reason and not reason.strip():
        raise errors.ValidationFailed("reason", "This move needs a reason.")


def _require_assigned(state: OrderState, actor: Actor) -> None:
    """Technicians work only on orders dispatched to them; supervisors may act anywhere."""
    if not policy.is_assigned(actor, actor.user_id, state.technicians):
        raise errors.Forbidden("This order is not dispatched to you.")


def create(*, number: int, now: datetime, actor: Actor, **spelled: Any) -> list[Event]:
    """``open_order`` with the command's fields spelled out flat
    (``NewOrder.from_fields``), as the domain's tests write them."""
    return open_order(NewOrder.from_fields(**spelled), number=number, now=now, actor=actor)


def open_order(command: NewOrder, *, number: int, now: datetime, actor: Actor) -> list[Event]:
    """Open a repair order at reception, or book it ahead: check the command
    and turn it into the ``OrderCreated`` event (``number`` is the day's
    queue number the service issues)."""
    customer, vehicle, items = command.customer, command.vehicle, command.items
    if not policy.may(actor, policy.Command.RECEPTION):
        raise errors.Forbidden("Only reception may open an order.")
    if command.priority not in PRIORITIES:
        raise errors.ValidationFailed("priority", "priority must be normal or vip.")
    if vehicle.mileage is not None and not 0 <= vehicle.mileage <= 5_000_000:
        raise errors.ValidationFailed("vehicle.mileage", "mileage is out of range.")
    promised_at = command.promised_at
    if promised_at is not None and promised_at.tzinfo is None:
        raise errors.ValidationFailed("promised_at", "promised_at needs a UTC offset.")
    if promised_at is not None:
        # Kept in UTC like every stored time, so an answer reads the same as a reload.
        promised_at = promised_at.astimezone(UTC)
    if len(items) > 100:
        raise errors.ValidationFailed("items", "At most 100 work items.")
    for index, item in enumerate(items):
        _text(f"items[{index}].title", item.title, required=True, limit=200)
        if not 0 <= item.labour_hours <= 200:
            raise errors.ValidationFailed(f"items[{index}].labour_hours", "0 to 200 hours.")
    return [
        OrderCreated(
            at=now,
            number=number,
            plate=_text("plate", command.plate, required=True, limit=20),
            stage=Stage.BOOKED if command.booked else Stage.CHECKED_IN,
            customer_name=_text("customer.name", customer.name, limit=100),
            customer_phone=_text("customer.phone", customer.phone, limit=40),
            vehicle_model=_text("vehicle.model", vehicle.model, limit=100),
            vehicle_vin=_text("vehicle.vin", vehicle.vin, limit=17),
            vehicle_mileage=vehicle.mileage,
            complaint=_text("complaint", command.complaint, multiline=True),
            items=tuple(WorkItem(i.title.strip(), float(i.labour_hours)) for i in items),
            promised_at=promised_at,
            waiting=command.waiting,
            wash=command.wash,
            priority=command.priority,
            advisor_id=actor.user_id,
        )
    ]


def transition(
    state: OrderState,
    to: Stage,
    *,
    actor: Actor,
    now: datetime,
    reason: str = "",
    pause_reason: PauseReason | None = None,
) -> list[Event]:
    """Move the order to another stage, as the table and the guards allow."""
    reason = _text("reason", reason, limit=500, multiline=True)
    roles = TRANSITIONS.get((state.stage, to))
    if roles is None:
        raise errors.IllegalTransition(
            f"An order cannot go from {state.stage.value} to {to.value}.",
            allowed=[s.value for s in allowed_moves(state)],
        )
    if not actor.may(roles):
        raise errors.Forbidden(f"Your role may not move an order to {to.value}.")
    # Failing a level is signing it: only that level's checkers may.
    if (
        state.stage == Stage.QUALITY_CHECK
        and state.check_level is not None
        and not actor.may(CHECKERS[state.check_level])
    ):
        raise errors.Forbidden(f"Your role may not sign the {state.check_level.value} check.")
    if to in (Stage.IN_PROGRESS, Stage.PAUSED, Stage.QUALITY_CHECK) and state.stage in (
        Stage.DISPATCHED,
        Stage.IN_PROGRESS,
        Stage.PAUSED,
    ):
        _require_assigned(state, actor)
    try:
        _guard(state, to, reason, pause_reason)
    except errors.IllegalTransition as refused:
        raise errors.IllegalTransition(
            refused.detail, allowed=[s.value for s in allowed_moves(state)]
        ) from None
    events: list[Event] = []
    if to == Stage.IN_PROGRESS and state.stage in (Stage.QUALITY_CHECK, Stage.READY):
        level = state.check_level.value if state.check_level else "handover"
        events.append(CheckFailed(at=now, level=level, reason=reason))
    events.append(
        StageChanged(
            at=now,
            from_stage=state.stage,
            to_stage=to,
            reason=reason,
            pause_reason=pause_reason if to == Stage.PAUSED else None,
        )
    )
    return events


def pass_check(state: OrderState, *, actor: Actor, now: datetime) -> list[Event]:
    """Pass the next level of the inspection chain; the last pass sends the car
    to the wash, or straight to ready when no wash was asked for."""
    if state.stage != Stage.QUALITY_CHECK or state.check_level is None:
        raise errors.IllegalTransition(
            "There is no inspection waiting on this order.",
            allowed=[s.value for s in allowed_moves(state)],
        )
    level = state.check_level
    if not actor.may(CHECKERS[level]):
        raise errors.Forbidden(f"Your role may not sign the {level.value} check.")
    events: list[Event] = [CheckPassed(at=now, level=level.value)]
    if level == CHECK_CHAIN[-1]:
        to = Stage.WASHING if state.wash else Stage.READY
        events.append(StageChanged(at=now, from_stage=state.stage, to_stage=to))
    return events


def assign(
    state: OrderState, *, bay: str, technicians: Sequence[int], actor: Actor, now: datetime
) -> list[Event]:
    """Dispatch (派工) or re-balance: set bay and technicians; a checked-in order
    becomes dispatched."""
    if not policy.may(actor, policy.Command.DISPATCH):
        raise errors.Forbidden("Only the foreman dispatches work.")
    if state.stage not in stages.ASSIGNABLE_STAGES:
        raise errors.IllegalTransition(
            f"An order in {state.stage.value} cannot be (re)assigned.",
            allowed=[s.value for s in allowed_moves(state)],
        )
    bay = _text("bay", bay, required=True, limit=40)
    if not technicians:
        raise errors.ValidationFailed("technicians", "Assign at least one technician.")
    if len(set(technicians)) != len(technicians):
        raise errors.ValidationFailed("technicians", "A technician is listed twice.")
    events: list[Event] = [Assigned(at=now, bay=bay, technicians=tuple(technicians))]
    if state.stage == Stage.CHECKED_IN:
        events.append(StageChanged(at=now, from_stage=Stage.CHECKED_IN, to_stage=Stage.DISPATCHED))
    return events


def quote_extra_work(
    state: OrderState,
    *,
    description: str,
    labour_hours: float,
    price_cents: int,
    actor: Actor,
    now: datetime,
) -> list[Event]:
    """Flag additional work found; work on the order waits for the customer."""
    if not policy.may(actor, policy.Command.QUOTE_EXTRA_WORK):
        raise errors.Forbidden("Your role may not quote additional work.")
    if state.stage not in (Stage.IN_PROGRESS, Stage.PAUSED):
        raise errors.IllegalTransition(
            "Additional work is quoted while the car is in repair.",
            allowed=[s.value for s in allowed_moves(state)],
        )
    if Role.TECHNICIAN in actor.roles and not actor.may(stages.UNASSIGNED_OK):
        _require_assigned(state, actor)
    description = _text("description", description, required=True, limit=500, multiline=True)
    if not 0 < labour_hours <= 200:
        raise errors.ValidationFailed(
            "labour_hours", "labour_hours must be over 0 and at most 200."
        )
    if not 0 <= price_cents <= 100_000_000:
        raise errors.ValidationFailed("price_cents", "price_cents is out of range.")
    quote_id = max((q.id for q in state.quotes), default=0) + 1
    events: list[Event] = [
        ExtraWorkQuoted(
            at=now,
            quote_id=quote_id,
            description=description,
            labour_hours=float(labour_hours),
            price_cents=int(price_cents),
        )
    ]
    if state.stage == Stage.IN_PROGRESS or (
        state.stage == Stage.PAUSED and state.pause_reason != PauseReason.APPROVAL
    ):
        events.append(
            StageChanged(
                at=now,
                from_stage=state.stage,
                to_stage=Stage.PAUSED,
                reason=description,
                pause_reason=PauseReason.APPROVAL,
            )
        )
    return events


def decide_extra_work(
    state: OrderState,
    *,
    quote_id: int,
    approved: bool,
    quote_version: int,
    channel: str,
    actor: Actor,
    now: datetime,
) -> list[Event]:
    """Record the customer's decision; when nothing else is pending, work resumes."""
    if not policy.may(actor, policy.Command.DECIDE_QUOTE):
        raise errors.Forbidden("Only the customer or the advisor records a decision.")
    if channel not in DECISION_CHANNELS:
        raise errors.ValidationFailed("channel", f"channel must be one of {DECISION_CHANNELS}.")
    quote = state.quote(quote_id)
    if quote.status != "pending":
        raise errors.AlreadyDecided(f"This quote was already {quote.status}.")
    if quote.version != quote_version:
        raise errors.StaleVersion("The quote changed; read it again before deciding.")
    if not state.active:
        raise errors.IllegalTransition("The order is closed.", allowed=[])
    events: list[Event] = [
        ExtraWorkDecided(at=now, quote_id=quote_id, approved=approved, channel=channel)
    ]
    still_pending = [q for q in state.pending_quotes if q.id != quote_id]
    if (
        not still_pending
        and state.stage == Stage.PAUSED
        and state.pause_reason == PauseReason.APPROVAL
    ):
        events.append(
            StageChanged(
                at=now,
                from_stage=Stage.PAUSED,
                to_stage=Stage.IN_PROGRESS,
                reason="customer decision",
            )
        )
    return events


def submit_survey(
    state: OrderState, *, rating: int, comment: str, actor: Actor, now: datetime
) -> list[Event]:
    """The customer rates the service once the car is handed over (回访, 满意度调查)."""
    if not policy.may(actor, policy.Command.RATE_SERVICE):
        raise errors.Forbidden("Only the customer, or an advisor on the follow-up call, rates.")
    if state.stage != Stage.DELIVERED:
        raise errors.IllegalTransition(
            "The survey opens once the car is delivered.",
            allowed=[s.value for s in allowed_moves(state)],
        )
    if state.survey_rating is not None:
        raise errors.AlreadySubmitted("This service was rated already; thank you.")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise errors.ValidationFailed("rating", "rating is a whole number from 1 to 5.")
    return [
        SurveySubmitted(
            at=now, rating=rating, comment=_text("comment", comment, limit=1000, multiline=True)
        )
    ]
