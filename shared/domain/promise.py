"""The promised time (承诺交车) and the engine's estimate (预计完工) as rules.

The promise is what the advisor told the customer; only an advisor (or a
manager) changes it, always with a reason the customer reads. The estimate
is the shop-load engine's (``planner``): it is recorded only when it moved
by more than ``ETA_THRESHOLD`` or its verdict on the promise changed, so a
shop re-planned every minute does not send every screen a change every
minute, and the log holds each real revision (what the ETA benchmark reads).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.domain import errors, policy
from shared.domain.events import EtaRevised, Event, PromiseChanged
from shared.domain.order import Actor, OrderState, allowed_moves, checked_text
from shared.domain.stages import PROMISE_RUNNING_STAGES, PauseReason, Stage

# A new estimate within this of the recorded one is not news.
ETA_THRESHOLD = timedelta(minutes=5)
# What a verdict may say, and what may put the promise at risk.
RISKS = ("", "at_risk", "late")
CAUSES = ("", "clock_overrun", "parts", "approval", "queue")
REASON_LIMIT = 200


def change_promise(
    state: OrderState, *, new: datetime, reason: str, actor: Actor, now: datetime
) -> list[Event]:
    """The advisor sets a new promised time and says why (the customer's page
    shows both, and who changed it)."""
    if not policy.may(actor, policy.Command.RECEPTION):
        raise errors.Forbidden("Only the service advisor or a manager changes the promise.")
    if state.stage not in PROMISE_RUNNING_STAGES:
        raise errors.IllegalTransition(
            "The promise can change only while the car is in the shop and not yet ready.",
            allowed=[s.value for s in allowed_moves(state)],
        )
    if new.tzinfo is None:
        raise errors.ValidationFailed("promised_at", "promised_at needs a UTC offset.")
    new = new.astimezone(UTC)
    if new <= now:
        raise errors.ValidationFailed("promised_at", "A new promised time must be in the future.")
    if state.promised_at is not None and new == state.promised_at:
        raise errors.ValidationFailed("promised_at", "That is already the promised time.")
    said = checked_text("reason", reason, required=True, limit=REASON_LIMIT)
    return [PromiseChanged(at=now, old=state.promised_at, new=new, by=actor.name, reason=said)]


def revise_eta(
    state: OrderState, *, eta: datetime, risk: str, cause: str, now: datetime
) -> list[Event]:
    """The engine's new estimate and verdict, when they are news: nothing
    when the car is not in a planned stage, the estimate moved less than the
    threshold and the verdict is the same."""
    if risk not in RISKS or cause not in CAUSES:
        raise errors.ValidationFailed("risk", f"Unknown verdict {risk!r} / cause {cause!r}.")
    if state.stage not in PROMISE_RUNNING_STAGES:
        return []
    eta = eta.astimezone(UTC)
    cause = cause if risk else ""
    same_verdict = state.risk == risk and state.risk_cause == cause
    close = state.eta is not None and abs(eta - state.eta) < ETA_THRESHOLD
    if state.eta_planned and same_verdict and close:
        return []
    return [EtaRevised(at=now, eta=eta, risk=risk, cause=cause)]


def turned_at_risk(before: OrderState | None, after: OrderState) -> bool:
    """An alert for the advisor: the engine now says the promise is at risk
    (or will be missed) where before it did not."""
    was = before.risk if before is not None else ""
    return bool(after.risk) and not was


def risk_cause(state: OrderState, now: datetime) -> str:
    """What puts this order's promise at risk, as the advisor's alert says
    it: the car waits for parts or for the customer's approval, its labour
    has run past the standard hours, or it has not reached a technician
    (the queue)."""
    waiting_for = {item.reason for item in state.pause_reasons}
    if state.stage == Stage.PAUSED and PauseReason.PARTS in waiting_for:
        return "parts"
    if state.pending_quotes or PauseReason.APPROVAL in waiting_for:
        return "approval"
    worked = state.worked_minutes
    if state.stage == Stage.IN_PROGRESS and state.stage_entered_at is not None:
        worked += (now - state.stage_entered_at).total_seconds() / 60
    if worked > state.total_labour_hours * 60 and state.stage in (Stage.IN_PROGRESS, Stage.PAUSED):
        return "clock_overrun"
    return "queue"
