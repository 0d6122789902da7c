"""Additional work found during the job (作业过程中发现新项目): quote, revise,
decide, expire.

A quote is an offer the customer answers. While nobody has answered it, the
advisor or the technician may revise it (a new version; a decision must name
the version it saw, so nobody approves a price they were not shown). Once
decided it is locked: a change is a new quote. An offer nobody answers
expires after the time the shop gives one: the work is not done and the car
stops waiting for it. Each open quote is one "approval" reason of the pause
(``holds``); deciding it clears that reason and nothing else: the car goes
back to work when a technician taps resume, never by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain import errors, holds, policy, stages
from shared.domain.events import (
    Event,
    ExtraWorkDecided,
    ExtraWorkQuoted,
    PauseReasonAdded,
    PauseReasonCleared,
    QuoteExpired,
    QuoteRevised,
)
from shared.domain.holds import PauseItem
from shared.domain.order import (
    DECISION_CHANNELS,
    Actor,
    OrderState,
    Quote,
    allowed_moves,
    checked_text,
    hold,
    require_assigned,
)
from shared.domain.stages import PauseReason, Role, Stage


@dataclass(frozen=True)
class QuoteTerms:
    """What a quote offers: the work, its standard hours, its price. Parsed
    once at the edge; checked by the rules (``_check_terms``)."""

    description: str
    labour_hours: float
    price_cents: int


# How long a quote waits for the customer when the shop has not said.
DEFAULT_VALID_FOR = timedelta(hours=4)
# Channels where a member of staff takes the decision (and is recorded).
STAFF_CHANNELS = ("phone", "in_person")


def _check_quoter(state: OrderState, actor: Actor) -> None:
    if not policy.may(actor, policy.Command.QUOTE_EXTRA_WORK):
        raise errors.Forbidden("Your role may not quote additional work.")
    if Role.TECHNICIAN in actor.roles and not actor.may(stages.UNASSIGNED_OK):
        require_assigned(state, actor)


def _check_terms(description: str, labour_hours: float, price_cents: int) -> str:
    description = checked_text("description", description, required=True, limit=500, multiline=True)
    if not 0 < labour_hours <= 200:
        raise errors.ValidationFailed(
            "labour_hours", "labour_hours must be over 0 and at most 200."
        )
    if not 0 <= price_cents <= 100_000_000:
        raise errors.ValidationFailed("price_cents", "price_cents is out of range.")
    return description


def _open_quote(
    state: OrderState,
    quote_id: int,
    now: datetime,
    decided: type[errors.DomainError] = errors.QuoteLocked,
) -> Quote:
    """The quote, if a customer may still answer it: pending and in time
    (``decided`` is the refusal when it was answered already)."""
    quote = state.quote(quote_id)
    if quote.status == "expired" or (
        quote.status == "pending" and quote.expires_at is not None and now >= quote.expires_at
    ):
        raise errors.QuoteExpired(
            "This quote has expired; the advisor will send a new one.", quote_id=quote_id
        )
    if quote.status != "pending":
        raise decided(
            f"This quote was already {quote.status}; a change needs a new quote.",
            quote_id=quote_id,
        )
    return quote


def quote_extra_work(
    state: OrderState,
    *,
    description: str,
    labour_hours: float,
    price_cents: int,
    actor: Actor,
    now: datetime,
    valid_for: timedelta = DEFAULT_VALID_FOR,
) -> list[Event]:
    """Flag additional work found: the car waits for the customer's OK on it
    (besides whatever else it waits for)."""
    _check_quoter(state, actor)
    if state.stage not in (Stage.IN_PROGRESS, Stage.PAUSED):
        raise errors.IllegalTransition(
            "Additional work is quoted while the car is in repair.",
            allowed=[s.value for s in allowed_moves(state)],
        )
    description = _check_terms(description, labour_hours, price_cents)
    quote_id = max((q.id for q in state.quotes), default=0) + 1
    quoted = ExtraWorkQuoted(
        at=now,
        quote_id=quote_id,
        description=description,
        labour_hours=float(labour_hours),
        price_cents=int(price_cents),
        expires_at=now + valid_for,
    )
    item = PauseItem(holds.approval_key(quote_id), PauseReason.APPROVAL, description)
    return [quoted, *hold(state, item, now=now)]


def revise_quote(
    state: OrderState,
    *,
    quote_id: int,
    quote_version: int,
    description: str,
    labour_hours: float,
    price_cents: int,
    actor: Actor,
    now: datetime,
    valid_for: timedelta = DEFAULT_VALID_FOR,
) -> list[Event]:
    """A new version of a pending quote; the customer's time to answer starts
    again, and a decision on the old version is refused."""
    _check_quoter(state, actor)
    quote = _open_quote(state, quote_id, now)
    if quote.version != quote_version:
        raise errors.StaleVersion(
            "The quote changed; read it again before revising.", quote_version=quote.version
        )
    description = _check_terms(description, labour_hours, price_cents)
    events: list[Event] = [
        QuoteRevised(
            at=now,
            quote_id=quote_id,
            version=quote.version + 1,
            description=description,
            labour_hours=float(labour_hours),
            price_cents=int(price_cents),
            expires_at=now + valid_for,
        )
    ]
    key = holds.approval_key(quote_id)
    if state.has_reason(key):
        events.append(
            PauseReasonAdded(at=now, key=key, reason=PauseReason.APPROVAL, note=description)
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
    """Record the customer's decision on the version they saw. It clears that
    quote's approval reason only: the car stays paused until a technician
    resumes it (and may still wait for parts or another quote)."""
    if not policy.may(actor, policy.Command.DECIDE_QUOTE):
        raise errors.Forbidden("Only the customer or the advisor records a decision.")
    if channel not in DECISION_CHANNELS:
        raise errors.ValidationFailed("channel", f"channel must be one of {DECISION_CHANNELS}.")
    quote = _open_quote(state, quote_id, now, decided=errors.AlreadyDecided)
    if quote.version != quote_version:
        raise errors.StaleVersion(
            "The quote changed; read it again before deciding.", quote_version=quote.version
        )
    if not state.active:
        raise errors.IllegalTransition("The order is closed.", allowed=[])
    events: list[Event] = [
        ExtraWorkDecided(
            at=now,
            quote_id=quote_id,
            approved=approved,
            channel=channel,
            quote_version=quote.version,
            taken_by=actor.name if channel in STAFF_CHANNELS else "",
        )
    ]
    key = holds.approval_key(quote_id)
    if state.has_reason(key):
        events.append(PauseReasonCleared(at=now, key=key, why="decided"))
    return events


def due_quotes(state: OrderState, now: datetime) -> list[int]:
    """Pending quotes whose time is up (the expiry timer asks)."""
    return [
        q.id
        for q in state.pending_quotes
        if state.active and q.expires_at is not None and now >= q.expires_at
    ]


def expire_quotes(state: OrderState, *, actor: Actor, now: datetime) -> list[Event]:
    """Expire every pending quote whose time is up; each stops holding the car."""
    if not actor.may(frozenset({Role.SYSTEM})):
        raise errors.Forbidden("Quotes expire by the shop's clock only.")
    due = due_quotes(state, now)
    if not due:
        raise errors.IllegalTransition(
            "No quote of this order is due to expire.",
            allowed=[s.value for s in allowed_moves(state)],
        )
    events: list[Event] = []
    for quote_id in due:
        events.append(QuoteExpired(at=now, quote_id=quote_id))
        key = holds.approval_key(quote_id)
        if state.has_reason(key):
            events.append(PauseReasonCleared(at=now, key=key, why="expired"))
    return events
