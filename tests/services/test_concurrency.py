"""Many writers at once on the SQLite file: seq stays gap-free and in commit
order, a version race has exactly one winner, and the stored event log alone
rebuilds every order row after a long random mix of commands."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import select

from shared.domain import errors
from shared.domain.events import WorkItem, event_from_record
from shared.domain.extra_work import QuoteTerms
from shared.domain.order import OrderState, allowed_moves, apply_events
from shared.domain.stages import PauseReason, Stage
from shared.persistence.models import OrderEvent, RepairOrder
from shared.services import orders, queries
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest, Outcome
from shared.services.core import Core
from shared.services.rows import state_from_row
from tests.conftest import parking_lane

T0 = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)


def request(core: Core, shop: Any, role: str) -> CommandRequest:
    principal = resolve_bearer(core, shop.tokens[role])
    assert principal is not None
    return CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)


def dispatched_order(core: Core, shop: Any, technician: int, plate: str) -> int:
    """An order on the parking lane, dispatched and at version 3."""
    order_id = int(
        orders.create_order(core, request(core, shop, "advisor"), plate=plate).body["id"]
    )
    orders.assign_order(
        core,
        request(core, shop, "foreman"),
        order_id,
        bay=parking_lane(core, shop.shop_id),
        technicians=[technician],
        version=1,
    )
    return order_id


def all_events(core: Core, shop_id: int) -> list[OrderEvent]:
    with core.db.read() as session:
        found = list(
            session.execute(
                select(OrderEvent).where(OrderEvent.shop_id == shop_id).order_by(OrderEvent.seq)
            ).scalars()
        )
        session.expunge_all()
        return found


def run_threads(targets: list[Callable[[], None]], timeout: float = 60) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads)


@pytest.fixture
def board(app: Any, socketio: Any, shop: Any) -> Iterator[Any]:
    client = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    assert [m["name"] for m in client.get_received()] == ["snapshot"]
    yield client
    client.disconnect()


def test_parallel_writers_keep_seq_gap_free_and_in_commit_order(
    core: Core, shop: Any, board: Any
) -> None:
    order_ids = [dispatched_order(core, shop, shop.technicians[0], f"粤B1000{n}") for n in range(8)]
    board.get_received()
    seq_before = queries.current_seq(core, shop.shop_id)
    start = threading.Barrier(len(order_ids))
    failures: list[BaseException] = []

    def worker(order_id: int) -> Callable[[], None]:
        def run() -> None:
            caller = request(core, shop, "foreman")
            version = 3
            start.wait()
            try:
                # Start, then alternate pause and resume: twenty legal moves.
                for step in range(20):
                    pausing = step % 2 == 1
                    outcome = orders.transition_order(
                        core,
                        caller,
                        order_id,
                        to=Stage.PAUSED if pausing else Stage.IN_PROGRESS,
                        version=version,
                        pause_reason=PauseReason.OTHER if pausing else None,
                    )
                    version = outcome.body["version"]
            except BaseException as failure:
                failures.append(failure)

        return run

    run_threads([worker(order_id) for order_id in order_ids])

    assert failures == []
    events = [e for e in all_events(core, shop.shop_id) if e.seq > seq_before]
    last_seq = queries.current_seq(core, shop.shop_id)
    assert [e.seq for e in events] == list(range(seq_before + 1, last_seq + 1))
    # The start is one event; each pause and each resume two (the stage
    # change and the reason it adds or clears).
    per_order = 1 + 19 * 2
    assert len(events) == 8 * per_order
    for order_id in order_ids:
        mine = [e for e in events if e.order_id == order_id]
        assert len(mine) == per_order
    with core.db.read() as session:
        versions = session.execute(select(RepairOrder.version)).scalars().all()
    assert versions == [3 + per_order] * 8
    # Emits left in commit order: the board saw every seq, strictly rising,
    # each message chained to the one before by prev_seq.
    # One message per command, carrying the seq of its last event.
    messages = [m["args"][0] for m in board.get_received() if m["name"] == "order"]
    seqs = [m["seq"] for m in messages]
    assert len(messages) == 8 * 20
    assert seqs == sorted(set(seqs)) and set(seqs) <= {e.seq for e in events}
    assert seqs[-1] == last_seq
    assert [m["prev_seq"] for m in messages] == [seq_before, *seqs[:-1]]


def race(core: Core, shop: Any, order_id: int) -> list[Outcome | errors.DomainError]:
    """Two technicians' taps at version 4, released together: one pauses the
    job, the other sends it to the check."""
    start = threading.Barrier(2)
    results: list[Outcome | errors.DomainError] = []

    def racer(to: Stage, pause_reason: PauseReason | None) -> None:
        caller = request(core, shop, "technician")
        start.wait()
        try:
            results.append(
                orders.transition_order(
                    core, caller, order_id, to=to, version=4, pause_reason=pause_reason
                )
            )
        except errors.DomainError as refused:
            results.append(refused)

    run_threads(
        [
            lambda: racer(Stage.PAUSED, PauseReason.OTHER),
            lambda: racer(Stage.QUALITY_CHECK, None),
        ]
    )
    return results


def test_version_race_has_one_winner_and_one_stale_loser(core: Core, shop: Any) -> None:
    for round_number in range(3):
        order_id = dispatched_order(core, shop, shop.technicians[0], f"粤C2000{round_number}")
        orders.transition_order(
            core, request(core, shop, "foreman"), order_id, to=Stage.IN_PROGRESS, version=3
        )

        results = race(core, shop, order_id)

        won = [r for r in results if isinstance(r, Outcome)]
        lost = [r for r in results if isinstance(r, errors.DomainError)]
        assert len(won) == 1 and len(lost) == 1
        assert isinstance(lost[0], errors.StaleVersion)
        current = cast(dict[str, Any], lost[0].extra["order"])
        # A check is one event; a pause two (the stage and its reason).
        assert current["version"] == won[0].body["version"]
        assert current["version"] == (6 if won[0].body["stage"] == "paused" else 5)
        assert current["stage"] == won[0].body["stage"]
        with core.db.read() as session:
            row = session.get(RepairOrder, order_id)
            assert row is not None
            assert (row.version, row.stage) == (current["version"], current["stage"])


class RandomShop:
    """Issues random commands, most of them sensible, some refused on purpose."""

    ROLES = ("admin", "manager", "advisor", "foreman", "technician", "technician2")

    def __init__(self, core: Core, shop: Any, rng: random.Random) -> None:
        self.core = core
        self.shop = shop
        self.rng = rng
        self.order_ids: list[int] = []
        self.callers = {role: request(core, shop, role) for role in self.ROLES}
        self.accepted: dict[str, int] = {}
        self.refused = 0

    def step(self) -> None:
        rng = self.rng
        order_id, state = self.pick_order()
        if state is None or rng.random() < 0.08:
            kind = "create"
        elif rng.random() < 0.8:
            kind = self.sensible(state)
        else:
            kind = rng.choice(["transition", "assign", "pass_check", "quote", "decide"])
        # Half the commands come from an admin, who may do nearly anything, so
        # orders travel far; the rest from anyone, so refusals happen too.
        caller = self.callers["admin" if rng.random() < 0.5 else rng.choice(self.ROLES)]
        try:
            self.run(kind, caller, order_id, state)
        except errors.DomainError:
            self.refused += 1
        else:
            self.accepted[kind] = self.accepted.get(kind, 0) + 1

    def pick_order(self) -> tuple[int | None, OrderState | None]:
        """Mostly an open order; a closed one now and then, to be refused."""
        if not self.order_ids:
            return None, None
        with self.core.db.read() as session:
            open_ids = list(
                session.execute(
                    select(RepairOrder.id).where(RepairOrder.closed_at.is_(None))
                ).scalars()
            )
            pool = open_ids if open_ids and self.rng.random() < 0.9 else self.order_ids
            order_id = self.rng.choice(pool)
            row = session.get(RepairOrder, order_id)
            assert row is not None
            return order_id, state_from_row(row)

    def sensible(self, state: OrderState) -> str:
        """The command a shop would most likely give next in this stage."""
        if state.stage == Stage.CHECKED_IN:
            return "assign"
        if state.stage == Stage.QUALITY_CHECK and state.check_level is not None:
            return "pass_check" if self.rng.random() < 0.8 else "transition"
        if state.pending_quotes:
            return "decide"
        if state.stage == Stage.IN_PROGRESS and self.rng.random() < 0.25:
            return "quote"
        return "transition"

    def run(
        self, kind: str, caller: CommandRequest, order_id: int | None, state: OrderState | None
    ) -> None:
        rng = self.rng
        if kind == "create" or order_id is None or state is None:
            outcome = orders.create_order(
                self.core,
                self.callers["advisor"],
                plate=f"粤B{rng.randint(10000, 99999)}",
                items=[WorkItem("保养", rng.choice([0.5, 1.0, 2.5]))],
                wash=rng.random() < 0.5,
                booked=rng.random() < 0.15,
                promised_at=self.core.now() + timedelta(hours=rng.randint(1, 6)),
            )
            self.order_ids.append(int(outcome.body["id"]))
            return
        # One command in ten carries a version the caller should not have.
        version = state.version - (1 if rng.random() < 0.1 else 0)
        if kind == "transition":
            # Mostly a move forward; a cancel or any stage at all now and then.
            moves = [m for m in allowed_moves(state) if m != Stage.CANCELLED]
            to = rng.choice(moves) if moves and rng.random() < 0.9 else rng.choice(list(Stage))
            orders.transition_order(
                self.core,
                caller,
                order_id,
                to=to,
                version=version,
                reason="" if rng.random() < 0.2 else "客户要求 customer asked",
                pause_reason=None if rng.random() < 0.1 else rng.choice(list(PauseReason)),
            )
        elif kind == "assign":
            technicians = rng.sample(self.shop.technicians, rng.randint(1, 2))
            orders.assign_order(
                self.core,
                caller,
                order_id,
                bay=rng.choice(["B01", "B02", "B03"]),
                technicians=technicians,
                version=version,
            )
        elif kind == "pass_check":
            orders.pass_check(self.core, caller, order_id, version=version)
        elif kind == "quote":
            orders.quote_extra_work(
                self.core,
                caller,
                order_id,
                QuoteTerms(
                    "发现新项目 extra work", rng.choice([0.5, 1.25]), rng.randint(100, 90_000)
                ),
                version=version,
            )
        else:
            quote_id = rng.choice([q.id for q in state.quotes] or [1])
            orders.decide_extra_work(
                self.core,
                caller,
                order_id,
                quote_id=quote_id,
                approved=rng.random() < 0.7,
                quote_version=1,
                channel=rng.choice(["phone", "in_person", "customer_page"]),
            )


def test_event_log_replays_to_every_order_row(core: Core, shop: Any) -> None:
    rng = random.Random(7)
    now = [T0]
    core.clock = lambda: now[0]
    driver = RandomShop(core, shop, rng)

    for _ in range(300):
        now[0] += timedelta(minutes=rng.randint(0, 25), seconds=rng.randint(0, 59))
        driver.step()

    # The mix must really have exercised every command and some refusals.
    assert set(driver.accepted) == {
        "create",
        "transition",
        "assign",
        "pass_check",
        "quote",
        "decide",
    }, driver.accepted
    assert driver.refused > 20
    events = all_events(core, shop.shop_id)
    assert [e.seq for e in events] == list(range(1, queries.current_seq(core, shop.shop_id) + 1))
    with core.db.read() as session:
        rows = session.execute(select(RepairOrder)).scalars().all()
        assert len(rows) == len(driver.order_ids)
        for row in rows:
            logged = [
                event_from_record(e.type, e.at, e.data) for e in events if e.order_id == row.id
            ]
            assert apply_events(None, logged) == state_from_row(row), row.id
        stages = {row.stage for row in rows}
    assert len(stages) >= 5, stages
