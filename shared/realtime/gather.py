"""One query for the lookups that arrive together.

When every screen reconnects at once, each connect asks the database the
same small questions for its own key: whose token is this, what is the
shop's seq now, is this screen's last-seen time due. One question with an
IN list answers a batch of them for about the cost of one.

Who asks the batch: the leader of the queue (``shared.services.batching``,
as for group commit); a lookup answered meanwhile by another leader just
takes its answer. The leader first yields once (``pause``: the async mode's
``sleep(0)``), so under eventlet and gevent the connects already running
reach the queue before it takes it; with threads the yield costs nothing
and batches form while a query runs. A lone lookup is one query, as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.services.batching import Batcher, Request

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Keys per query: the database's IN list bound (shared.services.auth).
BATCH_LIMIT = 500


@dataclass(eq=False)
class _Ask(Request):
    key: Any = None


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
        self._limit = limit
        self._batcher: Batcher[_Ask] = Batcher(self._take, self._answer, before_take=pause)

    @property
    def batches(self) -> int:
        return self._batcher.batches

    def pending(self) -> int:
        """Lookups queued and not yet taken into a batch."""
        return self._batcher.pending()

    def get(self, key: K) -> V | None:
        """``key``'s answer, from this caller's batch or another's."""
        found: V | None = self._batcher.submit(_Ask(key=key))
        return found

    def _take(self, queue: deque[_Ask]) -> list[_Ask]:
        return [queue.popleft() for _ in range(min(len(queue), self._limit))]

    def _answer(self, batch: list[_Ask]) -> None:
        found = self._fetch(list(dict.fromkeys(ask.key for ask in batch)))
        for ask in batch:
            ask.answer = found.get(ask.key)
