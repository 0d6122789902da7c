"""The in-process store of rate-limit counters, without a thread per hit.

limits' ``memory://`` store expires its counters from a ``threading.Timer``
that it starts again on nearly every hit (whenever the last one, 10 ms long,
has ended): on a server taking a request every few milliseconds that is a new
thread, or green thread, per API call. Fixed-window counters need no timer:
``get`` already drops a counter whose window is over, so this store relies on
that and sweeps the rest (keys never asked for again, such as one-off
addresses) every ``SWEEP_EVERY`` hits, so memory stays bounded.

Used when the app has no message queue (one process); with Redis the
counters live there and are shared by every worker.
"""

from __future__ import annotations

import time
from typing import Any

from limits.storage import MemoryStorage

SCHEME = "baylight-memory"
SWEEP_EVERY = 1024


class LazyExpiryMemoryStorage(MemoryStorage):
    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 - limits reads it as a list: "baylight-memory://"

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._hits = 0

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        self.get(key)  # a counter whose window is over starts again at 0
        self._hits += 1
        if self._hits % SWEEP_EVERY == 0:
            self.sweep()
        with self.locks[key]:
            self.storage[key] += amount
            if self.storage[key] == amount:
                self.expirations[key] = time.time() + expiry
        return self.storage.get(key, 0)

    def decr(self, key: str, amount: int = 1) -> int:
        self.get(key)
        with self.locks[key]:
            self.storage[key] = max(self.storage[key] - amount, 0)
        return self.storage.get(key, 0)

    def sweep(self) -> int:
        """Drop every counter whose window is over; how many were dropped."""
        now = time.time()
        over = [key for key, ends in list(self.expirations.items()) if ends <= now]
        for key in over:
            self.storage.pop(key, None)
            self.expirations.pop(key, None)
            self.locks.pop(key, None)
        return len(over)
