"""The one rule that says whether an order is late or at risk of it: every
screen shows this verdict, so its corners are pinned here, on plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.eta import AT_RISK_MINUTES, Lateness, lateness
from shared.domain.stages import Stage

PROMISED = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
NEAR = PROMISED - timedelta(minutes=AT_RISK_MINUTES)
FAR = PROMISED - timedelta(minutes=AT_RISK_MINUTES + 1)
# Every stage but the four whose verdict the clock cannot change.
IN_WORK = [
    s for s in Stage if s not in {Stage.BOOKED, Stage.READY, Stage.DELIVERED, Stage.CANCELLED}
]
ON_TIME = Lateness(late=False, at_risk=False)
AT_RISK = Lateness(late=False, at_risk=True)
LATE = Lateness(late=True, at_risk=False)


@pytest.mark.parametrize("stage", IN_WORK)
@pytest.mark.parametrize(
    ("eta", "now", "verdict"),
    [
        (FAR, FAR, ON_TIME),
        (None, FAR, ON_TIME),
        # The ETA comes within the margin: at risk, though the clock is far off.
        (NEAR, FAR, AT_RISK),
        # The clock comes within the margin, whatever the ETA says.
        (FAR, NEAR, AT_RISK),
        (None, NEAR, AT_RISK),
        # Due this very minute is not late yet.
        (PROMISED, PROMISED, AT_RISK),
        (PROMISED + MINUTE, FAR, LATE),
        (FAR, PROMISED + MINUTE, LATE),
        (None, PROMISED + MINUTE, LATE),
    ],
    ids=[
        "far",
        "far-no-eta",
        "eta-near",
        "clock-near",
        "clock-near-no-eta",
        "due-now",
        "eta-after-promise",
        "promise-passed",
        "promise-passed-no-eta",
    ],
)
def test_a_car_in_work(
    stage: Stage, eta: datetime | None, now: datetime, verdict: Lateness
) -> None:
    assert lateness(stage, PROMISED, eta, None, now) == verdict


@pytest.mark.parametrize(
    ("ready_at", "verdict"),
    [(PROMISED - MINUTE, ON_TIME), (PROMISED, ON_TIME), (PROMISED + MINUTE, LATE), (None, ON_TIME)],
    ids=["in-time", "on-the-minute", "too-late", "no-time"],
)
def test_a_ready_car_is_judged_by_when_it_became_ready(
    ready_at: datetime | None, verdict: Lateness
) -> None:
    """The customer not having collected it yet makes nobody late; and a ready
    car is never at risk."""
    later = PROMISED + timedelta(hours=3)
    assert lateness(Stage.READY, PROMISED, ready_at, ready_at, later) == verdict


@pytest.mark.parametrize("stage", [Stage.BOOKED, Stage.DELIVERED, Stage.CANCELLED])
def test_no_verdict_where_the_promise_does_not_run(stage: Stage) -> None:
    long_after = PROMISED + timedelta(days=1)
    assert lateness(stage, PROMISED, long_after, long_after, long_after) == ON_TIME


@pytest.mark.parametrize("stage", list(Stage))
def test_no_promise_no_verdict(stage: Stage) -> None:
    long_after = PROMISED + timedelta(days=1)
    assert lateness(stage, None, long_after, long_after, long_after) == ON_TIME


minutes = st.integers(min_value=-600, max_value=600).map(lambda m: PROMISED + m * MINUTE)


@given(stage=st.sampled_from(IN_WORK), eta=st.none() | minutes, now=minutes, later=minutes)
def test_the_clock_only_brings_the_promise_nearer(
    stage: Stage, eta: datetime | None, now: datetime, later: datetime
) -> None:
    """What the screens rely on between messages: for a car in work, time
    passing never takes a flag back, and it turns at risk into late only."""
    first, second = sorted((now, later))
    before = lateness(stage, PROMISED, eta, None, first)
    after = lateness(stage, PROMISED, eta, None, second)
    assert not (before.late and before.at_risk)
    assert after.late or not before.late
    assert after.late or after.at_risk or not before.at_risk
