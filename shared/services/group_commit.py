"""Group commit: the commands waiting for the writer share one transaction
and one disk sync.

A command's cost on SQLite with ``synchronous=FULL`` is dominated by the
commit's ``fsync``, and one writer at a time means that under load commands
queue for it. So the writer takes every command of the same shop that is
waiting when it starts, runs each in its own savepoint (each keeps its own
idempotency record, result, seq and version check; a refused one rolls back
to its savepoint and spoils nothing of the others), and commits them all at
once: the way PostgreSQL's WAL writer and SQLite-backed servers batch. With
one command waiting it is one command in one transaction, as before.

Who runs a batch: whoever holds the leader lock. A command joins the queue,
then waits for that lock; if its command was committed meanwhile by another
leader, it just takes its result. The disk wait runs off the hub
(``Database.sync_commit``), and that wait is when the next batch gathers.

A batch holds one shop's commands only, so on PostgreSQL a transaction locks
one shop row, as a single command does, and two processes cannot deadlock
over two shops.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Enough to turn a burst into a few commits; small enough that the batch's
# own commands don't wait long behind each other.
MAX_BATCH = 64


@dataclass(eq=False)
class Job:
    """One command waiting for the writer. ``run`` is called inside the
    batch's transaction (in a savepoint of its own) and returns its answer;
    ``publish`` is called after the commit, in batch order, with the publish
    lock held. ``error`` is what the caller gets instead of an answer."""

    shop_id: int
    run: Callable[[Any], Any]
    publish: Callable[[Any], None] = lambda _answer: None
    answer: Any = None
    error: BaseException | None = None
    done: bool = field(default=False)


class GroupCommitter:
    """The queue of commands waiting for the writer, and the leader that
    commits them (see the module docstring)."""

    def __init__(self, run_batch: Callable[[list[Job]], None]) -> None:
        self._run_batch = run_batch
        self._queue: deque[Job] = deque()
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()
        self.batches = 0
        self.largest = 0

    def pending(self) -> int:
        """Commands queued and not yet taken into a batch."""
        with self._queue_lock:
            return len(self._queue)

    def submit(self, job: Job) -> Any:
        """Queue ``job``, see it committed (by this thread or another), and
        return its answer or raise its error."""
        with self._queue_lock:
            self._queue.append(job)
        while not job.done:
            with self._leader:
                if job.done:
                    break
                batch = self._take()
                try:
                    self._run_batch(batch)
                except Exception as failure:
                    # Nothing of the batch was committed: every command in it
                    # fails with the reason (its caller may retry with its key).
                    for taken in batch:
                        taken.answer, taken.error = None, failure
                except BaseException:
                    for taken in batch:
                        if taken is not job:
                            taken.answer = None
                            taken.error = RuntimeError("the writer was interrupted")
                    raise
                finally:
                    for taken in batch:
                        taken.done = True
        if job.error is not None:
            raise job.error
        return job.answer

    def _take(self) -> list[Job]:
        """The oldest waiting command and every later one of the same shop,
        in their order, up to ``MAX_BATCH``."""
        with self._queue_lock:
            if not self._queue:
                return []
            shop_id = self._queue[0].shop_id
            batch: list[Job] = []
            kept: deque[Job] = deque()
            while self._queue:
                job = self._queue.popleft()
                if job.shop_id == shop_id and len(batch) < MAX_BATCH:
                    batch.append(job)
                else:
                    kept.append(job)
            self._queue = kept
        self.batches += 1
        self.largest = max(self.largest, len(batch))
        return batch
