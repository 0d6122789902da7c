"""Requests that arrive together, served as one batch by whoever leads.

The pattern of group commit (``group_commit``) and of the socket hub's
batched lookups (``shared.realtime.gather``): a request joins the queue,
then waits for the leader lock. Whoever holds it takes a batch from the
queue (``take``) and serves it (``serve``); a request already served by
another leader just takes its answer. A lone request is a batch of one.
The locks are ``threading`` locks, green ones once eventlet or gevent has
patched ``threading``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar


@dataclass(eq=False)
class Request:
    """One waiting request: its answer, or the error its caller gets."""

    answer: Any = None
    error: BaseException | None = None
    done: bool = False


R = TypeVar("R", bound=Request)


class Batcher(Generic[R]):
    """The queue, the leader lock, and what a leader does with a batch.

    ``take`` removes the next batch from the queue (called with the queue
    locked); ``serve`` sets each request's answer or error. If ``serve``
    raises, every request of the batch fails with that error: nothing of it
    was served. ``before_take`` runs once a leader holds the lock (the hub
    yields there, so connects already running join the batch)."""

    def __init__(
        self,
        take: Callable[[deque[R]], list[R]],
        serve: Callable[[list[R]], None],
        before_take: Callable[[], object] = lambda: None,
    ) -> None:
        self._take = take
        self._serve = serve
        self._before_take = before_take
        self._queue: deque[R] = deque()
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()
        self.batches = 0
        self.largest = 0

    def pending(self) -> int:
        """Requests queued and not yet taken into a batch."""
        with self._queue_lock:
            return len(self._queue)

    def submit(self, request: R) -> Any:
        """Queue ``request``, see it served (by this thread or another), and
        return its answer or raise its error."""
        with self._queue_lock:
            self._queue.append(request)
        while not request.done:
            with self._leader:
                if request.done:
                    break
                self._before_take()
                with self._queue_lock:
                    batch = self._take(self._queue)
                if batch:
                    self._lead(batch, request)
        if request.error is not None:
            raise request.error
        return request.answer

    def _lead(self, batch: list[R], own: R) -> None:
        self.batches += 1
        self.largest = max(self.largest, len(batch))
        try:
            self._serve(batch)
        except Exception as failure:
            for taken in batch:
                taken.answer, taken.error = None, failure
        except BaseException:
            for taken in batch:
                if taken is not own:
                    taken.answer = None
                    taken.error = RuntimeError("the batch was interrupted")
            raise
        finally:
            for taken in batch:
                taken.done = True
