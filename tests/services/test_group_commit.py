"""Group commit on the real SQLite file: the commands that waited for the
writer share one transaction and one commit, each keeps its own answer,
version check, seq and idempotency record, and a refused one (even one that
had already recorded events) spoils nothing of the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select

from shared.domain import errors
from shared.domain.order import transition
from shared.domain.stages import Stage
from shared.persistence.models import IdempotencyRecord, OrderEvent, RepairOrder
from shared.services import commands, orders
from shared.services.commands import CommandRequest, Outcome, Transaction
from shared.services.core import Core
from tests.services.test_concurrency import all_events, dispatched_order, request


@contextmanager
def commits(core: Core) -> Iterator[list[float]]:
    """Every COMMIT the engine sends to the database, as it happens."""
    seen: list[float] = []

    def count(_connection: Any) -> None:
        seen.append(time.monotonic())

    event.listen(core.db.engine, "commit", count)
    try:
        yield seen
    finally:
        event.remove(core.db.engine, "commit", count)


@contextmanager
def writer_busy(core: Core) -> Iterator[None]:
    """Hold the writer, as a long commit would, so that commands queue."""
    core.db.write_lock.acquire()
    try:
        yield
    finally:
        core.db.write_lock.release()


def queue_behind_the_writer(
    core: Core, calls: list[Callable[[], Any]]
) -> list[Outcome | BaseException]:
    """Run ``calls`` in threads while the writer is held: the first becomes
    the leader (its batch is itself, waiting for the writer); the rest queue
    behind it and are then committed as one batch."""
    results: list[Outcome | BaseException] = [RuntimeError("never ran")] * len(calls)

    def runner(index: int) -> Callable[[], None]:
        def run() -> None:
            try:
                results[index] = calls[index]()
            except BaseException as failure:
                results[index] = failure

        return run

    threads = [threading.Thread(target=runner(i)) for i in range(len(calls))]
    with writer_busy(core):
        threads[0].start()
        deadline = time.monotonic() + 10
        while core.committer.batches == 0:
            assert time.monotonic() < deadline, "the first command never reached the writer"
            time.sleep(0.005)
        for thread in threads[1:]:
            thread.start()
        while core.committer.pending() < len(calls) - 1:
            assert time.monotonic() < deadline, "the commands never queued"
            time.sleep(0.005)
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    return results


def in_progress(core: Core, shop: Any, order_id: int) -> Callable[[], Outcome]:
    return lambda: orders.transition_order(
        core, request(core, shop, "foreman"), order_id, to=Stage.IN_PROGRESS, version=3
    )


def test_waiting_commands_share_one_commit_and_keep_their_own_answers(
    core: Core, shop: Any
) -> None:
    technician = shop.technicians[0]
    ids = [dispatched_order(core, shop, technician, f"粤G1000{i}") for i in range(6)]
    keyed = CommandRequest(
        actor=request(core, shop, "foreman").actor,
        shop_id=shop.shop_id,
        idempotency_key="batch-key-1",
        fingerprint="f1",
    )
    calls: list[Callable[[], Any]] = [in_progress(core, shop, order_id) for order_id in ids[:4]]
    # A stale version in the middle of the batch, and a keyed command after it.
    calls.insert(
        2,
        lambda: orders.transition_order(
            core, request(core, shop, "foreman"), ids[4], to=Stage.IN_PROGRESS, version=1
        ),
    )
    calls.append(
        lambda: orders.transition_order(core, keyed, ids[5], to=Stage.IN_PROGRESS, version=3)
    )
    before = core.committer.batches
    seq_before = max(e.seq for e in all_events(core, shop.shop_id))

    with commits(core) as seen:
        results = queue_behind_the_writer(core, calls)

    # The leader's own command, then everything that queued behind it: two
    # transactions, two commits for six commands.
    assert core.committer.batches - before == 2
    assert len(seen) == 2
    assert core.committer.largest >= len(calls) - 1
    refused = results[2]
    assert isinstance(refused, errors.StaleVersion), refused
    assert refused.extra["order"]["version"] == 3
    accepted = [r for i, r in enumerate(results) if i != 2]
    assert all(isinstance(r, Outcome) and r.status == 200 for r in accepted), accepted
    with core.db.read() as session:
        rows = {
            row.id: (row.stage, row.version)
            for row in session.execute(select(RepairOrder)).scalars()
        }
        keys = session.execute(
            select(func.count())
            .select_from(IdempotencyRecord)
            .where(IdempotencyRecord.key == "batch-key-1")
        ).scalar_one()
    for order_id in [*ids[:4], ids[5]]:
        assert rows[order_id] == ("in_progress", 4)
    assert rows[ids[4]] == ("dispatched", 3)
    assert keys == 1
    # One event per accepted command, seq gap-free and in the callers' order.
    new = [e for e in all_events(core, shop.shop_id) if e.seq > seq_before]
    assert [e.seq for e in new] == list(range(seq_before + 1, seq_before + 6))
    assert [e.order_id for e in new] == [*ids[:2], *ids[2:4], ids[5]]

    # The keyed command's replay is its stored answer, not a second change.
    replay = orders.transition_order(core, keyed, ids[5], to=Stage.IN_PROGRESS, version=3)
    assert replay.replayed and replay.body["version"] == 4


def test_a_command_refused_after_recording_leaves_no_gap_in_seq(core: Core, shop: Any) -> None:
    """A command whose rule refuses after it recorded events: its savepoint
    is rolled back, and the next command of the same batch takes the seq it
    would have used, from the database, not from the undone write."""
    technician = shop.technicians[0]
    first, second = (dispatched_order(core, shop, technician, f"粤G2000{i}") for i in range(2))
    foreman = request(core, shop, "foreman")

    def records_then_refuses(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(first)
        state = tx.check_version(row, 3)
        tx.record(row, state, transition(state, Stage.IN_PROGRESS, actor=tx.actor, now=tx.now))
        raise errors.ValidationFailed("note", "Refused after recording.")

    calls: list[Callable[[], Any]] = [
        in_progress(core, shop, second),
        lambda: commands.execute(core, foreman, "test_refusal", records_then_refuses),
        lambda: orders.transition_order(core, foreman, first, to=Stage.IN_PROGRESS, version=3),
    ]
    seq_before = max(e.seq for e in all_events(core, shop.shop_id))
    results = queue_behind_the_writer(core, calls)

    assert isinstance(results[1], errors.ValidationFailed)
    assert isinstance(results[0], Outcome) and isinstance(results[2], Outcome)
    assert results[2].body["version"] == 4
    new = [e for e in all_events(core, shop.shop_id) if e.seq > seq_before]
    assert [(e.seq, e.order_id) for e in new] == [(seq_before + 1, second), (seq_before + 2, first)]
    with core.db.read() as session:
        assert session.execute(select(func.max(OrderEvent.seq))).scalar_one() == seq_before + 2


def test_a_command_alone_is_one_command_in_one_transaction(core: Core, shop: Any) -> None:
    order_id = dispatched_order(core, shop, shop.technicians[0], "粤G30001")
    before = core.committer.batches
    with commits(core) as seen:
        outcome = in_progress(core, shop, order_id)()
    assert outcome.body["version"] == 4
    assert core.committer.batches - before == 1
    assert len(seen) == 1


@pytest.mark.parametrize("keyed", [False, True])
def test_a_command_alone_refused_after_recording_writes_nothing_but_its_key(
    core: Core, shop: Any, keyed: bool
) -> None:
    """Alone in its transaction a command runs without a savepoint: one that
    recorded events and then was refused leaves no event, no version and no
    seq behind (the transaction is rolled back). With an Idempotency-Key its
    refusal is stored with the key all the same (run again in a savepoint),
    and the key answers that refusal again; an accepted command alone takes
    no savepoint at all."""
    order_id = dispatched_order(core, shop, shop.technicians[0], "粤G31001")
    actor = request(core, shop, "foreman").actor
    asking = CommandRequest(
        actor=actor,
        shop_id=shop.shop_id,
        idempotency_key="alone-refused" if keyed else None,
        fingerprint="f-alone" if keyed else None,
    )

    def records_then_refuses(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        state = tx.check_version(row, 3)
        tx.record(row, state, transition(state, Stage.IN_PROGRESS, actor=tx.actor, now=tx.now))
        raise errors.ValidationFailed("note", "Refused after recording.")

    seq_before = max(e.seq for e in all_events(core, shop.shop_id))
    named: list[str] = []

    def note(_connection: Any, name: str) -> None:
        named.append(name)

    event.listen(core.db.engine, "savepoint", note)
    try:
        with pytest.raises(errors.ValidationFailed):
            commands.execute(core, asking, "test_refusal", records_then_refuses)
        refused_savepoints = len(named)
        named.clear()
        accepted = in_progress(core, shop, order_id)()
    finally:
        event.remove(core.db.engine, "savepoint", note)
    assert [e.seq for e in all_events(core, shop.shop_id)][-1] == seq_before + 1
    assert accepted.body["version"] == 4
    assert named == []  # the accepted command alone: no savepoint
    with core.db.read() as session:
        keys = session.execute(
            select(func.count())
            .select_from(IdempotencyRecord)
            .where(IdempotencyRecord.key == "alone-refused")
        ).scalar_one()
    assert keys == (1 if keyed else 0)
    # Keyed: run again in its savepoint, and the refusal's record in one more.
    assert refused_savepoints == (2 if keyed else 0)
    if keyed:
        with pytest.raises(commands.ReplayedRefusal) as again:
            commands.execute(core, asking, "test_refusal", records_then_refuses)
        assert again.value.code == "validation_error"


@pytest.mark.parametrize("broken_at", ["first", "middle"])
def test_a_command_that_breaks_fails_alone(core: Core, shop: Any, broken_at: str) -> None:
    """Not a refusal but a bug (any exception): that caller gets it, the
    batch's other commands are committed."""
    ids = [dispatched_order(core, shop, shop.technicians[0], f"粤G4000{i}") for i in range(3)]
    foreman = request(core, shop, "foreman")

    def breaks(tx: Transaction) -> tuple[int, dict[str, Any]]:
        tx.load_order(ids[0])
        raise ZeroDivisionError("a bug")

    calls: list[Callable[[], Any]] = [in_progress(core, shop, order_id) for order_id in ids[1:]]
    calls.insert(
        0 if broken_at == "first" else 1, lambda: commands.execute(core, foreman, "bug", breaks)
    )
    results = queue_behind_the_writer(core, calls)
    broken = [r for r in results if isinstance(r, ZeroDivisionError)]
    assert len(broken) == 1
    assert sum(isinstance(r, Outcome) for r in results) == 2
    with core.db.read() as session:
        stages = [session.get(RepairOrder, order_id).stage for order_id in ids[1:]]  # type: ignore[union-attr]
    assert stages == ["in_progress", "in_progress"]
