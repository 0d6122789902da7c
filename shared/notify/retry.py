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


class Pacer:
    """At most ``rate_per_second`` sends through one channel: each send waits
    for its slot (``sleep`` is the async mode's, so a green thread yields
    while it waits instead of blocking the hub)."""

    def __init__(
        self,
        rate_per_second: float,
        sleep: Callable[[float], object],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / rate_per_second if rate_per_second > 0 else 0.0
        self.sleep = sleep
        self.monotonic = monotonic
        self._next = monotonic()

    def wait(self) -> None:
        """Return when the next send may go."""
        now = self.monotonic()
        if self._next > now:
            self.sleep(self._next - now)
            now = self.monotonic()
        self._next = max(now, self._next) + self.interval
