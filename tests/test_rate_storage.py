"""The in-process rate-limit store: counters behave as limits' own memory
store (a window counts, then starts again), without starting a timer thread
per hit, and keys nobody asks for again are swept so memory stays bounded."""

from __future__ import annotations

import time

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from shared.web.rate_storage import SCHEME, SWEEP_EVERY, LazyExpiryMemoryStorage


def test_the_app_uses_it_and_windows_count_then_start_again() -> None:
    storage = storage_from_string(f"{SCHEME}://")
    assert isinstance(storage, LazyExpiryMemoryStorage)
    limiter = FixedWindowRateLimiter(storage)
    two_a_second = RateLimitItemPerSecond(2, 1)
    assert limiter.hit(two_a_second, "desk") and limiter.hit(two_a_second, "desk")
    assert not limiter.hit(two_a_second, "desk")
    assert limiter.hit(two_a_second, "another desk")
    time.sleep(1.05)
    assert limiter.hit(two_a_second, "desk")


def test_no_timer_thread_is_started_per_hit() -> None:
    storage = LazyExpiryMemoryStorage()
    first_timer = storage.timer
    for n in range(200):
        storage.incr(f"address-{n % 7}", expiry=60)
        time.sleep(0.0001)
    time.sleep(0.03)  # longer than the stock store's 10 ms timer
    storage.incr("address-0", expiry=60)
    assert storage.timer is first_timer
    assert storage.get("address-0") == 200 // 7 + 1 + 1


def test_keys_never_asked_for_again_are_swept() -> None:
    storage = LazyExpiryMemoryStorage()
    storage.timer.join()  # the one timer the stock store starts when made
    for n in range(SWEEP_EVERY - 1):
        storage.incr(f"one-off-{n}", expiry=0.01)
    time.sleep(0.02)
    assert len(storage.storage) == SWEEP_EVERY - 1
    storage.incr("regular", expiry=60)  # the SWEEP_EVERY-th hit sweeps
    assert set(storage.storage) == {"regular"}
    assert set(storage.expirations) == {"regular"}
