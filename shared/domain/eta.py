"""Single-order time rules, and the verdict on a promise.

``estimate_eta`` is an order's estimate until the shop-load engine
(``planner``) first plans it, and the fold's fallback once the car has left
the planned stages: remaining labour hours, plus a fixed allowance for each
inspection still to come and for the wash; never a time in the past.
``suggest_promised_at`` (the demo's bookings) and ``queue_wait_minutes`` are
the first rules reception and the lounge used; they stay as the baseline
``make bench-eta`` measures the engine against. ``lateness`` judges late and
at-risk for every screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.domain.stages import CHECK_CHAIN, PROMISE_RUNNING_STAGES, Stage

if TYPE_CHECKING:
    from shared.domain.order import OrderState

MINUTES_PER_CHECK = 10
WASH_MINUTES = 20
RECEPTION_BUFFER_MINUTES = 30
# Work never looks finished before it is: at least this share of the standard
# hours is assumed to remain while a job is still in repair.
MINIMUM_REMAINING_SHARE = 0.1
# A promise this close (by the ETA or by the clock) is shown as at risk, so the
# foreman can act while there is still time to keep it.
AT_RISK_MINUTES = 15


def _round_up(moment: datetime, minutes: int) -> datetime:
    step = minutes * 60
    seconds = moment.timestamp()
    rounded = math.ceil(seconds / step) * step
    return datetime.fromtimestamp(rounded, tz=moment.tzinfo)


def suggest_promised_at(
    now: datetime, labour_hours: float, backlog_hours: float, technicians_on_shift: int
) -> datetime:
    """Promised time for a new order: its own hours, plus its share of the work
    already waiting in the shop, plus a buffer; rounded up to a quarter hour."""
    share = backlog_hours / max(technicians_on_shift, 1)
    total = timedelta(hours=labour_hours + share, minutes=RECEPTION_BUFFER_MINUTES)
    return _round_up(now + total, 15)


def _after_repair(state: OrderState) -> timedelta:
    wash = timedelta(minutes=WASH_MINUTES) if state.wash else timedelta()
    return timedelta(minutes=MINUTES_PER_CHECK * len(CHECK_CHAIN)) + wash


def estimate_eta(state: OrderState, now: datetime) -> datetime | None:
    """When the car should be ready, as far as we know at ``now``."""
    total = timedelta(hours=state.total_labour_hours)
    floor = total * MINIMUM_REMAINING_SHARE
    worked = timedelta(minutes=state.worked_minutes)
    stage = state.stage
    if stage in (Stage.BOOKED, Stage.CANCELLED):
        return None
    if stage in (Stage.READY, Stage.DELIVERED):
        return state.ready_at
    if stage in (Stage.CHECKED_IN, Stage.DISPATCHED):
        return now + total + _after_repair(state)
    if stage == Stage.IN_PROGRESS:
        running = now - state.stage_entered_at if state.stage_entered_at else timedelta()
        remaining = max(total - worked - running, floor)
        return now + remaining + _after_repair(state)
    if stage == Stage.PAUSED:
        # Work goes on once the last expected part is here (a reason without
        # an expected time is counted from now, as before).
        restart = max([now, *(r.expected_at for r in state.pause_reasons if r.expected_at)])
        return restart + max(total - worked, floor) + _after_repair(state)
    if stage == Stage.QUALITY_CHECK:
        level = state.check_level
        left = len(CHECK_CHAIN) - CHECK_CHAIN.index(level) if level else 0
        wash = timedelta(minutes=WASH_MINUTES) if state.wash else timedelta()
        return now + timedelta(minutes=MINUTES_PER_CHECK * left) + wash
    # washing
    entered = state.stage_entered_at or now
    return max(entered + timedelta(minutes=WASH_MINUTES), now)


def queue_wait_minutes(backlog_hours: float, technicians_free: int) -> int:
    """Roughly how long a newly checked-in car waits before work starts: the
    standard hours of the cars ahead shared by the technicians, in 5-minute
    steps (the lounge's question: how many cars and how many minutes are ahead)."""
    minutes = backlog_hours * 60 / max(technicians_free, 1)
    return int(math.ceil(minutes / 5) * 5)


@dataclass(frozen=True)
class Lateness:
    """How an order stands against its promised time, for every screen that
    shows it (the screens display this verdict, they do not judge it)."""

    late: bool
    at_risk: bool


def lateness(
    stage: Stage,
    promised_at: datetime | None,
    eta: datetime | None,
    ready_at: datetime | None,
    now: datetime,
) -> Lateness:
    """Late: the promised time has passed, or the ETA says it will be; a ready
    car was late if it became ready after the promise. At risk: not late, but
    the ETA (or the clock) is within ``AT_RISK_MINUTES`` of the promise.

    A booked car's promise does not run yet, and once the car has left (or
    the order was cancelled) nobody is waiting for it any more."""
    if promised_at is not None and stage == Stage.READY:
        return Lateness(late=ready_at is not None and ready_at > promised_at, at_risk=False)
    if promised_at is None or stage not in PROMISE_RUNNING_STAGES:
        return Lateness(late=False, at_risk=False)
    late = now > promised_at or (eta is not None and eta > promised_at)
    expected = max(eta, now) if eta is not None else now
    at_risk = not late and promised_at - expected <= timedelta(minutes=AT_RISK_MINUTES)
    return Lateness(late=late, at_risk=at_risk)
