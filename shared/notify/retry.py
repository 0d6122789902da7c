"""When the sender tries a message again, and how fast it may talk to a
provider (docs/NOTIFICATIONS.md).

A provider that refuses or throttles is asked again after an exponential
backoff with jitter, so a shop's worth of messages queued during an outage
does not arrive at the provider in one burst when the network returns, and
several senders do not retry in step. A message is given up after
``max_attempts`` attempts or once it is ``give_up_after`` old: news a day
late is no longer news.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff after a failed attempt: ``first`` after the first, doubling up
    to ``cap``; each delay shortened by up to ``jitter`` of itself at random
    (never past the cap, never to nothing)."""

    first: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=15)
    max_attempts: int = 12
    give_up_after: timedelta = timedelta(hours=24)
    jitter: float = 0.2

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """The wait after the ``attempts``-th failed attempt (1 = the first)."""
        exponent = max(0, attempts - 1)
        # 2**exponent overflows nothing: the cap is reached by the sixth.
        base = min(self.cap.total_seconds(), self.first.total_seconds() * 2 ** min(exponent, 30))
        return timedelta(seconds=base * (1.0 - self.jitter * rng.random()))

    def exhausted(self, attempts: int, created_at: datetime, now: datetime) -> bool:
        """No further attempt: too many already, or the message is too old."""
        return attempts >= self.max_attempts or now - created_at >= self.give_up_after


# Answers that mean "too many a second" (Alibaba Cloud's Throttling.*,
# Tencent Cloud's RequestLimitExceeded: the channels' reason for both). Such
# a message is tried again after ``THROTTLE_PAUSE_SECONDS``, up to
# ``THROTTLE_RETRIES`` times, before the ordinary backoff: the provider's
# limit is per second, so waiting 30 s for it wastes 29.
THROTTLED_REASONS = frozenset({"sms rate limit reached"})
THROTTLE_RETRIES = 3
THROTTLE_PAUSE_SECONDS = 1.0


def throttled(reason: str) -> bool:
    """Whether a retryable refusal says the provider's per-second limit was hit."""
    return reason in THROTTLED_REASONS


class Pacer:
    """At most ``rate_per_second`` sends through one channel ARRIVE at the
    provider in any one-second window, which is how providers count.

    Spacing the starts evenly (one every ``1 / rate`` s) is not enough: a
    send that is slow to get out lets the next ones catch up, and then more
    than ``rate`` land in one of the provider's seconds. So a send waits
    until ``window`` (plus a small ``margin``) after the RETURN of the send
    ``rate`` places back: whatever reached the provider by then, the new one
    reaches it later, so no second ever holds more than ``rate``. Starts are
    also kept a quarter of a slot apart (a full slot below one a second),
    which spreads a batch a little without losing the time the sender
    spends preparing the next batch (that is made up within the window). ``hold`` pauses the
    channel after a throttled answer. ``sleep`` is the async mode's, so a
    green thread yields while it waits."""

    def __init__(
        self,
        rate_per_second: float,
        sleep: Callable[[float], object],
        monotonic: Callable[[], float] = time.monotonic,
        *,
        window: float = 1.0,
        margin: float = 0.01,
    ) -> None:
        self.rate = rate_per_second
        self.interval = 1.0 / rate_per_second if rate_per_second > 0 else 0.0
        self.gap = self.interval if rate_per_second < 1 else self.interval / 4
        self.sleep = sleep
        self.monotonic = monotonic
        self.window = window
        self.margin = margin
        # Return times of the last ``rate`` sends (a rate below one is kept
        # by ``gap``).
        self._returns: deque[float] = deque(maxlen=max(1, int(rate_per_second)))
        self._next = monotonic()
        self._held = 0.0

    def wait(self) -> None:
        """Return when the next send may go (call ``done`` when it returns)."""
        if self.interval <= 0:
            return
        due = max(self._next, self._held)
        if len(self._returns) == self._returns.maxlen:
            due = max(due, self._returns[0] + self.window + self.margin)
        now = self.monotonic()
        if due > now:
            self.sleep(due - now)
            now = self.monotonic()
        self._next = max(now, due) + self.gap

    def done(self) -> None:
        """The send that last waited has returned (taken, refused or lost)."""
        if self.interval > 0:
            self._returns.append(self.monotonic())

    def hold(self, seconds: float) -> None:
        """No send through this channel for ``seconds`` (it throttled us)."""
        self._held = max(self._held, self.monotonic() + seconds)
