"""The repair order (任务委托书) as an immutable state and the rules that change it.

Each rule takes the current state, who acts, when, and the command's inputs,
and returns the events the command causes; it raises a ``DomainError`` and
changes nothing when the command is refused. The new state is always
``apply_events(state, events)``, so replaying the stored log reproduces the
order exactly. No I/O and no framework imports here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from shared.domain import errors, holds, policy, stages
from shared.domain.eta import estimate_eta
from shared.domain.events import (
    Assigned,
    CheckFailed,
    CheckPassed,
    ComebackFlagged,
    ComebackUnflagged,
    EtaRevised,
    Event,
    ExtraWorkDecided,
    ExtraWorkQuoted,
    OrderCreated,
    PartsRequested,
    PartsStatusChanged,
    PauseReasonAdded,
    PauseReasonCleared,
    PromiseChanged,
    QuoteExpired,
    QuoteRevised,
    StageChanged,
    SurveySubmitted,
    WorkItem,
)
from shared.domain.holds import PartRequest, PauseItem
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
QUOTE_STATUSES = ("pending", "approved", "declined", "expired")
MAX_TEXT = 2000


class SamePersonChecks(errors.DomainError):
    """One person signs at most one level of a job's inspection chain (team
    lead, QC, final), unless the shop's setting lets one person sign more
    (``checks_by_one_person_allowed``: a small shop)."""

    code = "same_person_checks"
    status = 409


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
    """One line of additional work awaiting, or after, the customer's decision.

    ``version`` counts its revisions while pending; a decision names the
    version it saw. ``decided_version`` and ``taken_by`` (the member of staff
    who took a phone or in-person decision) record what was agreed."""

    id: int
    description: str
    labour_hours: float
    price_cents: int
    status: str = "pending"  # pending | approved | declined | expired
    version: int = 1
    channel: str | None = None
    decided_at: datetime | None = None
    expires_at: datetime | None = None
    decided_version: int | None = None
    taken_by: str = ""


@dataclass(frozen=True)
class OrderState:
    """Everything the rules need to know about one order."""

    number: int
    plate: str
    stage: Stage
    created_at: datetime
    updated_at: datetime
    version: int = 1
    # The version of the last change a person (or a rule acting for one)
    # made: the engine's estimate revisions bump ``version`` (screens order
    # updates by it) but leave this, so they never make an edit stale.
    edit_version: int = 1
    # The first open reason (what a one-line screen shows); ``pause_reasons``
    # holds them all.
    pause_reason: PauseReason | None = None
    pause_note: str = ""
    pause_reasons: tuple[PauseItem, ...] = ()
    parts: tuple[PartRequest, ...] = ()
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
    # The estimate came from the shop-load engine (eta_revised): other events
    # leave it standing until the engine revises it, instead of replacing it
    # with the single-order rule that knows nothing of the queue.
    eta_planned: bool = False
    # The engine's verdict on the promise ("", "at_risk", "late") and why.
    risk: str = ""
    risk_cause: str = ""
    # The last promise change: why, by whom (as the customer reads it), when.
    promise_reason: str = ""
    promise_by: str = ""
    promise_changed_at: datetime | None = None

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

    def part(self, part_id: int) -> PartRequest:
        for p in self.parts:
            if p.id == part_id:
                return p
        raise errors.NotFound(f"No parts request {part_id} on this order.")

    def has_reason(self, key: str) -> bool:
        return any(r.key == key for r in self.pause_reasons)


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
    # The version bump goes into the event's own copy of the state where it
    # can (a copy costs more than anything in it): a person's change moves
    # ``edit_version`` with it, the engine's estimate revision does not.
    version = state.version + 1
    bump: dict[str, Any] = {"version": version, "updated_at": event.at}
    if not isinstance(event, EtaRevised):
        bump["edit_version"] = version
    if isinstance(event, StageChanged):
        new = _apply_stage_change(state, event, bump)
    else:
        new = replace(state, **bump)
    if isinstance(event, StageChanged):
        pass  # its fields went into the bump's copy above
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
            expires_at=event.expires_at,
        )
        new = replace(new, quotes=(*new.quotes, quote))
    elif isinstance(event, QuoteRevised):
        new = _with_quote(
            new,
            event.quote_id,
            version=event.version,
            description=event.description,
            labour_hours=event.labour_hours,
            price_cents=event.price_cents,
            expires_at=event.expires_at,
        )
    elif isinstance(event, ExtraWorkDecided):
        new = _with_quote(
            new,
            event.quote_id,
            status="approved" if event.approved else "declined",
            channel=event.channel,
            decided_at=event.at,
            decided_version=event.quote_version,
            taken_by=event.taken_by,
        )
    elif isinstance(event, QuoteExpired):
        new = _with_quote(new, event.quote_id, status="expired", decided_at=event.at)
    elif isinstance(event, PauseReasonAdded):
        item = PauseItem(event.key, event.reason, event.note, event.expected_at)
        new = _with_reasons(new, holds.with_reason(new.pause_reasons, item))
    elif isinstance(event, PauseReasonCleared):
        new = _with_reasons(new, holds.without(new.pause_reasons, event.key))
    elif isinstance(event, PartsRequested):
        part = PartRequest(event.part_id, event.description, eta=event.eta, requested_at=event.at)
        new = replace(new, parts=holds.set_part(new.parts, part))
        new = _with_reasons(
            new, holds.expected(new.pause_reasons, holds.parts_key(event.part_id), event.eta)
        )
    elif isinstance(event, PartsStatusChanged):
        part = replace(
            new.part(event.part_id),
            status=event.status,
            eta=event.eta,
            arrived_at=event.at if event.status == holds.PART_ARRIVED else None,
        )
        new = replace(new, parts=holds.set_part(new.parts, part))
        new = _with_reasons(
            new, holds.expected(new.pause_reasons, holds.parts_key(event.part_id), event.eta)
        )
    elif isinstance(event, SurveySubmitted):
        new = replace(new, survey_rating=event.rating, survey_comment=event.comment)
    elif isinstance(event, PromiseChanged):
        new = replace(
            new,
            promised_at=event.new,
            promise_reason=event.reason,
            promise_by=event.by,
            promise_changed_at=event.at,
        )
    elif isinstance(event, ComebackFlagged | ComebackUnflagged):
        # The comeback mark is read from the log (shared/services/comebacks.py),
        # not kept on the order: only the version moves.
        pass
    elif isinstance(event, EtaRevised):
        return replace(
            new, eta=event.eta, eta_planned=True, risk=event.risk, risk_cause=event.cause
        )
    else:  # pragma: no cover - every type is handled above
        raise ValueError(f"unknown event {event!r}")
    if new.eta_planned and new.stage in stages.PROMISE_RUNNING_STAGES:
        # The engine's estimate stands until the engine revises it (it
        # re-plans the shop within a second of every change).
        return new
    return replace(new, eta=estimate_eta(new, event.at), eta_planned=False, risk="", risk_cause="")


def _with_quote(state: OrderState, quote_id: int, **changes: Any) -> OrderState:
    quotes = tuple(replace(q, **changes) if q.id == quote_id else q for q in state.quotes)
    return replace(state, quotes=quotes)


def _with_reasons(state: OrderState, reasons: tuple[PauseItem, ...]) -> OrderState:
    """The open reasons, and the first of them as the one-line reason."""
    return replace(state, **_reason_fields(reasons))


def _reason_fields(reasons: tuple[PauseItem, ...]) -> dict[str, Any]:
    first = reasons[0] if reasons else None
    return {
        "pause_reasons": reasons,
        "pause_reason": first.reason if first else None,
        "pause_note": first.note if first else "",
    }


def _apply_stage_change(state: OrderState, event: StageChanged, bump: dict[str, Any]) -> OrderState:
    """The stage's own fields and the version ``bump``, gathered and copied in
    once (a transition is the commonest command, and each copy costs)."""
    worked = state.worked_minutes
    if state.stage == Stage.IN_PROGRESS and state.stage_entered_at is not None:
        worked += (event.at - state.stage_entered_at).total_seconds() / 60
    to = event.to_stage
    changes = {**bump, "stage": to, "stage_entered_at": event.at, "worked_minutes": worked}
    if to != Stage.PAUSED:
        # Leaving the pause (resumed, or cancelled) leaves nothing to wait for.
        changes.update(_reason_fields(()))
    if to == Stage.QUALITY_CHECK:
        changes["check_level"] = CHECK_CHAIN[0]
    elif to == Stage.IN_PROGRESS:
        changes["check_level"] = None
    if to == Stage.READY:
        changes["ready_at"] = event.at
    elif to == Stage.IN_PROGRESS:
        changes["ready_at"] = None
    if to == Stage.CHECKED_IN:
        changes.update(bay=None, technicians=())
    return replace(state, **changes)


def apply_events(state: OrderState | None, events: Iterable[Event]) -> OrderState:
    """Fold events onto a state (``None`` before the order exists)."""
    current = state
    for event in events:
        current = apply_event(current, event)
    if current is None:
        raise ValueError("no events")
    return current


# ---------------------------------------------------------------- rules


def checked_text(
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
    if to == Stage.PAUSED and pause_reason == PauseReason.APPROVAL:
        raise errors.ValidationFailed(
            "pause_reason", "Work waits for the customer's OK through a quote: quote the work."
        )
    if state.stage == Stage.PAUSED and to == Stage.IN_PROGRESS:
        waiting = holds.blocking(state.pause_reasons)
        if any(r.reason == PauseReason.APPROVAL for r in waiting):
            raise errors.ApprovalPending(
                "Waiting for the customer's decision on additional work.",
                pause_reasons=[r.key for r in waiting],
            )
        if waiting:
            raise errors.PartsPending(
                "Waiting for parts to arrive.", pause_reasons=[r.key for r in waiting]
            )
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


def require_assigned(state: OrderState, actor: Actor) -> None:
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
        checked_text(f"items[{index}].title", item.title, required=True, limit=200)
        if not 0 <= item.labour_hours <= 200:
            raise errors.ValidationFailed(f"items[{index}].labour_hours", "0 to 200 hours.")
    return [
        OrderCreated(
            at=now,
            number=number,
            plate=checked_text("plate", command.plate, required=True, limit=20),
            stage=Stage.BOOKED if command.booked else Stage.CHECKED_IN,
            customer_name=checked_text("customer.name", customer.name, limit=100),
            customer_phone=checked_text("customer.phone", customer.phone, limit=40),
            vehicle_model=checked_text("vehicle.model", vehicle.model, limit=100),
            vehicle_vin=checked_text("vehicle.vin", vehicle.vin, limit=17),
            vehicle_mileage=vehicle.mileage,
            complaint=checked_text("complaint", command.complaint, multiline=True),
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
    reason = checked_text("reason", reason, limit=500, multiline=True)
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
        require_assigned(state, actor)
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
    if to == Stage.IN_PROGRESS and state.stage == Stage.PAUSED:
        # The resume tap is what ends the reasons only a person can end.
        events.extend(
            PauseReasonCleared(at=now, key=r.key, why="resumed") for r in state.pause_reasons
        )
    if to == Stage.PAUSED and pause_reason == PauseReason.PARTS:
        # The older way to ask for parts: a pause whose reason says what is
        # needed (``parts.request_parts`` is the command of its own).
        return hold_for_parts(state, description=reason, eta=None, now=now)
    events.append(
        StageChanged(
            at=now,
            from_stage=state.stage,
            to_stage=to,
            reason=reason,
            pause_reason=pause_reason if to == Stage.PAUSED else None,
        )
    )
    if to == Stage.PAUSED:
        key = holds.other_key(state.version + 1)
        events.append(PauseReasonAdded(at=now, key=key, reason=PauseReason.OTHER, note=reason))
    return events


def hold(state: OrderState, item: PauseItem, *, now: datetime) -> list[Event]:
    """The events of one more reason to wait: a car in work pauses for it, a
    paused car keeps its other reasons and adds this one."""
    events: list[Event] = []
    if state.stage == Stage.IN_PROGRESS:
        events.append(
            StageChanged(
                at=now,
                from_stage=state.stage,
                to_stage=Stage.PAUSED,
                reason=item.note,
                pause_reason=item.reason,
            )
        )
    events.append(
        PauseReasonAdded(
            at=now, key=item.key, reason=item.reason, note=item.note, expected_at=item.expected_at
        )
    )
    return events


def hold_for_parts(
    state: OrderState, *, description: str, eta: datetime | None, now: datetime
) -> list[Event]:
    """A parts request, and the car waiting for it (checked by the caller)."""
    part_id = max((p.id for p in state.parts), default=0) + 1
    item = PauseItem(holds.parts_key(part_id), PauseReason.PARTS, description, eta)
    requested = PartsRequested(at=now, part_id=part_id, description=description, eta=eta)
    return [requested, *hold(state, item, now=now)]


def clear_pause_reason(state: OrderState, key: str, *, actor: Actor, now: datetime) -> list[Event]:
    """A technician or the foreman ends an "other" reason; parts and approvals
    end only by their own events (arrival, the customer's decision)."""
    if not policy.may(actor, policy.Command.CLEAR_REASON):
        raise errors.Forbidden("Your role may not clear a pause reason.")
    require_assigned(state, actor)
    item = next((r for r in state.pause_reasons if r.key == key), None)
    if item is None:
        raise errors.NotFound(f"The order does not wait for {key!r}.")
    if item.reason != PauseReason.OTHER:
        raise errors.ValidationFailed(
            "key", "Parts clear when they arrive, approvals when the customer decides."
        )
    return [PauseReasonCleared(at=now, key=key, why="cleared")]


def pass_check(
    state: OrderState,
    *,
    actor: Actor,
    now: datetime,
    signed_by: Collection[int] = (),
    one_person_allowed: bool = False,
) -> list[Event]:
    """Pass the next level of the inspection chain; the last pass sends the car
    to the wash, or straight to ready when no wash was asked for.

    ``signed_by``: the people (staff user ids) who passed an earlier level
    since the car last came into quality check (the service reads them from
    the log). One of them is refused (``same_person_checks``) unless the
    shop lets one person sign more than one level (``one_person_allowed``);
    then the event says it was allowed. An actor who is no person (an
    integration's token, the demo) signs as the system it speaks for."""
    if state.stage != Stage.QUALITY_CHECK or state.check_level is None:
        raise errors.IllegalTransition(
            "There is no inspection waiting on this order.",
            allowed=[s.value for s in allowed_moves(state)],
        )
    level = state.check_level
    if not actor.may(CHECKERS[level]):
        raise errors.Forbidden(f"Your role may not sign the {level.value} check.")
    again = policy.signed_earlier(actor.user_id, signed_by)
    if again and not one_person_allowed:
        raise SamePersonChecks(
            f"You signed an earlier check of this order: another person signs the "
            f"{level.value} check.",
            level=level.value,
        )
    events: list[Event] = [
        CheckPassed(at=now, level=level.value, checks_by_one_person_allowed=again)
    ]
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
    bay = checked_text("bay", bay, required=True, limit=40)
    if not technicians:
        raise errors.ValidationFailed("technicians", "Assign at least one technician.")
    if len(set(technicians)) != len(technicians):
        raise errors.ValidationFailed("technicians", "A technician is listed twice.")
    events: list[Event] = [Assigned(at=now, bay=bay, technicians=tuple(technicians))]
    if state.stage == Stage.CHECKED_IN:
        events.append(StageChanged(at=now, from_stage=Stage.CHECKED_IN, to_stage=Stage.DISPATCHED))
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
            at=now,
            rating=rating,
            comment=checked_text("comment", comment, limit=1000, multiline=True),
        )
    ]
