"""One query for the lookups that arrive together.

When every screen reconnects at once, each connect asks the database the
same small questions for its own key: whose token is this, what is the
shop's seq now, is this screen's last-seen time due. One question with an
IN list answers a batch of them for about the cost of one.

Who asks the batch: whoever holds the leader lock (as group commit does,
``shared.services.group_commit``). A lookup joins the queue, then waits for
that lock; if its key was answered meanwhile by another leader, it just takes
its answer. The leader first yields once (``pause``: the async mode's
``sleep(0)``), so under eventlet and gevent the connects already running
reach the queue before it takes it; with threads the yield costs nothing
and batches form while a query runs. A lone lookup is one query, as before.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Keys per query: the database's IN list bound (shared.services.auth).
BATCH_LIMIT = 500


@dataclass(eq=False)
class _Ask(Generic[K, V]):
    key: K
    value: V | None = None
    error: BaseException | None = None
    done: bool = field(default=False)


class Gather(Generic[K, V]):
    """Single-key lookups answered by one many-key ``fetch`` per batch;
    ``fetch`` returns what it found (a key it leaves out is answered None)."""

    def __init__(
        self,
        fetch: Callable[[list[K]], Mapping[K, V]],
        pause: Callable[[], object],
        limit: int = BATCH_LIMIT,
    ) -> None:
        self._fetch = fetch
        self._pause = pause
        self._limit = limit
        self._queue: deque[_Ask[K, V]] = deque()
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()
        self.batches = 0

    def pending(self) -> int:
        """Lookups queued and not yet taken into a batch."""
        with self._queue_lock:
            return len(self._queue)

    def get(self, key: K) -> V | None:
        """``key``'s answer, from this caller's batch or another's."""
        ask: _Ask[K, V] = _Ask(key)
        with self._queue_lock:
            self._queue.append(ask)
        while not ask.done:
            with self._leader:
                if ask.done:
                    break
                self._pause()
                self._answer(self._take())
        if ask.error is not None:
            raise ask.error
        return ask.value

    def _take(self) -> list[_Ask[K, V]]:
        with self._queue_lock:
            count = min(len(self._queue), self._limit)
            return [self._queue.popleft() for _ in range(count)]

    def _answer(self, batch: list[_Ask[K, V]]) -> None:
        if not batch:
            return
        self.batches += 1
        try:
            found = self._fetch(list(dict.fromkeys(ask.key for ask in batch)))
        except Exception as failure:
            # Every lookup of the batch fails with the reason, as a lone one would.
            for ask in batch:
                ask.error = failure
        except BaseException:
            for ask in batch:
                ask.error = RuntimeError("the lookup was interrupted")
            raise
        else:
            for ask in batch:
                ask.value = found.get(ask.key)
        finally:
            for ask in batch:
                ask.done = True
