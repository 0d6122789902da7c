"""Group commit: the commands waiting for the writer share one transaction
and one disk sync.

A command's cost on SQLite with ``synchronous=FULL`` is dominated by the
commit's ``fsync``, and one writer at a time means that under load commands
queue for it. So the writer takes every command of the same shop that is
waiting when it starts, runs each in its own savepoint (each keeps its own
idempotency record, result, seq and version check; a refused one rolls back
to its savepoint and spoils nothing of the others), and commits them all at
once: the way PostgreSQL's WAL writer and SQLite-backed servers batch. With
one command waiting it is one command in one transaction, without a
savepoint (``commands.run_batch``).

Who runs a batch: the leader of the queue (``shared.services.batching``).
The disk wait runs off the hub (``Database.sync_commit``), and that wait is
when the next batch gathers.

A batch holds one shop's commands only, so on PostgreSQL a transaction locks
one shop row, as a single command does, and two processes cannot deadlock
over two shops.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.services.batching import Batcher, Request

# Enough to turn a burst into a few commits; small enough that the batch's
# own commands don't wait long behind each other.
MAX_BATCH = 64


@dataclass(eq=False)
class Job(Request):
    """One command waiting for the writer. ``run(session, savepoint)`` is
    called inside the batch's transaction and returns its answer: in a
    savepoint of its own when ``savepoint`` is true, else alone in the
    transaction (``commands.run_batch``); ``publish`` is called after the
    commit, in batch order, with the publish lock held. ``error`` is what
    the caller gets instead of an answer. ``keyed``: a refusal of the rules
    is stored with the command's Idempotency-Key."""

    shop_id: int = 0
    run: Callable[[Any, bool], Any] = field(default=lambda _session, _savepoint: None)
    publish: Callable[[Any], None] = field(default=lambda _answer: None)
    keyed: bool = False


def same_shop(queue: deque[Job]) -> list[Job]:
    """The oldest waiting command and every later one of the same shop, in
    their order, up to ``MAX_BATCH``; the others stay queued."""
    if not queue:
        return []
    shop_id = queue[0].shop_id
    batch: list[Job] = []
    kept: deque[Job] = deque()
    while queue:
        job = queue.popleft()
        if job.shop_id == shop_id and len(batch) < MAX_BATCH:
            batch.append(job)
        else:
            kept.append(job)
    queue.extend(kept)
    return batch


def group_committer(run_batch: Callable[[list[Job]], None]) -> Batcher[Job]:
    """The writer's queue: ``run_batch`` commits each batch."""
    return Batcher(same_shop, run_batch)
