"""The service layer on a real PostgreSQL server.

SQLite serializes every writer in the file; PostgreSQL does not, so the
promises that rest on the shop row lock (one seq per event, gap-free and
strictly increasing per shop; one winner when two people act on the same
version) are only really tested here. Two ``Core`` objects on the same
database stand in for two server processes: each has its own in-process
write lock, so only PostgreSQL's row lock keeps them apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg2
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from shared.config import Settings
from shared.domain import errors
from shared.domain.events import WorkItem, event_from_record
from shared.domain.order import apply_events
from shared.domain.stages import PauseReason, Stage
from shared.persistence.database import MIGRATIONS
from shared.persistence.models import Base, OrderEvent, RepairOrder, Shop
from shared.services import orders, queries, setup
from shared.services.auth import create_api_token, resolve_bearer
from shared.services.commands import CommandRequest, IdempotencyKeyReuse, Outcome, fingerprint
from shared.services.core import Core
from shared.services.rows import state_from_row
from shared.web.app import create_app
from tests.conftest import Shop as SeededShop
from tests.conftest import offline_core, parking_lane, seed_shop, wait_for_lock_waiters

pytestmark = pytest.mark.postgres

THREADS = 8
TRANSITIONS_PER_THREAD = 25
WAIT = 10.0


@dataclass
class Workshop:
    """The app's core on PostgreSQL, a second core standing in for another
    process, and the seeded shop."""

    core: Core
    other: Core
    shop: SeededShop
    url: str

    def request(
        self, role: str = "admin", key: str | None = None, body: Any = None
    ) -> CommandRequest:
        """A command request as the web layer builds it for this role's token."""
        principal = resolve_bearer(self.core, self.shop.tokens[role])
        assert principal is not None
        return CommandRequest(
            actor=principal.actor(),
            shop_id=principal.shop_id,
            idempotency_key=key,
            fingerprint=fingerprint("POST", "/api/v1/orders", body) if key else None,
        )


def _workshop(url: str, tmp_path: Path) -> Iterator[Workshop]:
    settings = Settings.from_env(
        {},
        database_url=url,
        instance_path=tmp_path,
        async_mode="threading",
        testing=True,
    )
    app, _socketio = create_app(settings)
    core: Core = app.extensions["baylight"]
    other = offline_core(url, tmp_path)
    yield Workshop(core, other, seed_shop(core), url)
    other.db.dispose()
    core.db.dispose()


@pytest.fixture
def workshop(migrated_postgres_url: str, tmp_path: Path) -> Iterator[Workshop]:
    """The shop on a copy of the session's migrated PostgreSQL database."""
    yield from _workshop(migrated_postgres_url, tmp_path)


@pytest.fixture
def fresh_workshop(postgres_url: str, tmp_path: Path) -> Iterator[Workshop]:
    """The shop on an empty PostgreSQL database, migrated by the app."""
    yield from _workshop(postgres_url, tmp_path)


# ------------------------------------------------------------------ helpers


def _create(workshop: Workshop, plate: str, core: Core | None = None, **fields: Any) -> Outcome:
    return orders.create_order(
        core or workshop.core, workshop.request("advisor"), plate=plate, **fields
    )


def _in_progress(workshop: Workshop, plate: str) -> tuple[int, int]:
    """An order dispatched to the first technician and started; (id, version)."""
    created = _create(workshop, plate).body
    assigned = orders.assign_order(
        workshop.core,
        workshop.request("foreman"),
        created["id"],
        bay=parking_lane(workshop.core, workshop.shop.shop_id),
        technicians=[workshop.shop.technicians[0]],
        version=created["version"],
    ).body
    started = orders.transition_order(
        workshop.core,
        workshop.request("foreman"),
        created["id"],
        to=Stage.IN_PROGRESS,
        version=assigned["version"],
    ).body
    return int(started["id"]), int(started["version"])


def _toggle(
    core: Core, request: CommandRequest, order_id: int, stage: str, version: int
) -> Outcome:
    """Pause a running order, or resume a paused one."""
    if stage == Stage.IN_PROGRESS:
        return orders.transition_order(
            core,
            request,
            order_id,
            to=Stage.PAUSED,
            version=version,
            pause_reason=PauseReason.OTHER,
        )
    return orders.transition_order(core, request, order_id, to=Stage.IN_PROGRESS, version=version)


def _seqs(core: Core, shop_id: int) -> list[int]:
    with core.db.read() as session:
        return list(
            session.execute(
                select(OrderEvent.seq).where(OrderEvent.shop_id == shop_id).order_by(OrderEvent.seq)
            ).scalars()
        )


def _last_seq(core: Core, shop_id: int) -> int:
    with core.db.read() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        return int(shop.last_seq)


def _assert_rows_are_their_event_folds(core: Core, shop_id: int) -> None:
    """Replaying each order's stored events reproduces its row exactly."""
    with core.db.read() as session:
        rows = session.execute(select(RepairOrder).where(RepairOrder.shop_id == shop_id)).scalars()
        for row in rows:
            stored = session.execute(
                select(OrderEvent).where(OrderEvent.order_id == row.id).order_by(OrderEvent.seq)
            ).scalars()
            replayed = apply_events(None, [event_from_record(e.type, e.at, e.data) for e in stored])
            assert replayed == state_from_row(row), row.id


def _run_together(*targets: Callable[[], None]) -> None:
    """Run callables in threads and re-raise the first failure."""
    failures: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as failure:  # surfaced below, not lost in the thread
            failures.append(failure)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if failures:
        raise failures[0]


# -------------------------------------------------------------------- tests


def test_migrations_create_the_schema_on_postgres(fresh_workshop: Workshop) -> None:
    workshop = fresh_workshop
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with workshop.core.db.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert workshop.core.db.engine.dialect.name == "postgresql"
    assert version == head
    assert set(Base.metadata.tables) <= tables


def test_create_assign_transition_round_trip(workshop: Workshop) -> None:
    created = _create(
        workshop,
        "沪A·12345",
        customer_name="陈女士",
        items=[WorkItem("更换机油", 0.5), WorkItem("四轮定位", 1.0)],
        wash=True,
    )
    assert created.status == 201
    order_id = created.body["id"]
    assert created.body["stage"] == "checked_in" and created.body["version"] == 1
    assert created.body["number"] == 1

    assigned = orders.assign_order(
        workshop.core,
        workshop.request("foreman"),
        order_id,
        bay="B02",
        technicians=workshop.shop.technicians,
        version=1,
    )
    assert assigned.body["stage"] == "dispatched" and assigned.body["bay"] == "B02"
    started = orders.transition_order(
        workshop.core,
        workshop.request("technician"),
        order_id,
        to=Stage.IN_PROGRESS,
        version=assigned.body["version"],
    )
    assert started.body["stage"] == "in_progress"
    assert [c.seq for c in started.changes] == [4]

    fetched = queries.get_order(workshop.core, workshop.shop.shop_id, order_id)
    assert fetched["stage"] == "in_progress" and fetched["version"] == 4
    assert fetched["plate"] == created.body["plate"]
    assert [(e["seq"], e["type"]) for e in fetched["history"]] == [
        (1, "order_created"),
        (2, "assigned"),
        (3, "stage_changed"),
        (4, "stage_changed"),
    ]
    assert fetched["history"][1]["data"]["technicians"] == workshop.shop.technicians
    _assert_rows_are_their_event_folds(workshop.core, workshop.shop.shop_id)


def test_idempotent_replay_returns_the_first_result(workshop: Workshop) -> None:
    body = {"plate": "粤B99999"}
    request = workshop.request("advisor", key="create-粤B99999-1", body=body)
    first = orders.create_order(workshop.core, request, plate="粤B99999")
    again = orders.create_order(workshop.other, request, plate="粤B99999")
    assert not first.replayed and again.replayed
    assert (again.status, again.body) == (first.status, first.body)
    assert again.changes == []
    assert _seqs(workshop.core, workshop.shop.shop_id) == [1]

    other_body = workshop.request("advisor", key="create-粤B99999-1", body={"plate": "粤B00000"})
    with pytest.raises(IdempotencyKeyReuse) as refused:
        orders.create_order(workshop.core, other_body, plate="粤B00000")
    assert refused.value.code == "idempotency_key_reuse"
    assert len(queries.list_orders(workshop.core, workshop.shop.shop_id)) == 1


def test_stale_version_is_refused_with_the_current_order(workshop: Workshop) -> None:
    order_id, version = _in_progress(workshop, "津C11111")
    seq_before = _last_seq(workshop.core, workshop.shop.shop_id)
    with pytest.raises(errors.StaleVersion) as refused:
        orders.transition_order(
            workshop.core,
            workshop.request("foreman"),
            order_id,
            to=Stage.PAUSED,
            version=version - 1,
            pause_reason=PauseReason.PARTS,
        )
    assert refused.value.status == 409 and refused.value.code == "stale_version"
    current = refused.value.extra["order"]
    assert (current["id"], current["version"], current["stage"]) == (
        order_id,
        version,
        "in_progress",
    )
    assert _last_seq(workshop.core, workshop.shop.shop_id) == seq_before
    assert _seqs(workshop.core, workshop.shop.shop_id)[-1] == seq_before


def test_seq_is_gap_free_and_increasing_under_concurrent_writers(workshop: Workshop) -> None:
    """Eight writers on two "processes", each moving its own order: every event
    gets its own seq, without gaps, and each writer sees its seqs rise."""
    shop_id = workshop.shop.shop_id
    started = [_in_progress(workshop, f"苏E{index:05d}") for index in range(THREADS)]
    setup_events = _last_seq(workshop.core, shop_id)
    seen: dict[int, list[int]] = {index: [] for index in range(THREADS)}

    def writer(index: int) -> Callable[[], None]:
        core = (workshop.core, workshop.other)[index % 2]
        order_id, version = started[index]

        def run() -> None:
            stage, current = Stage.IN_PROGRESS.value, version
            for _ in range(TRANSITIONS_PER_THREAD):
                outcome = _toggle(core, workshop.request("foreman"), order_id, stage, current)
                stage, current = outcome.body["stage"], outcome.body["version"]
                seen[index].extend(change.seq for change in outcome.changes)

        return run

    _run_together(*(writer(index) for index in range(THREADS)))

    for index, seqs in seen.items():
        assert len(seqs) == TRANSITIONS_PER_THREAD, index
        assert seqs == sorted(set(seqs)), index
    everything = _seqs(workshop.core, shop_id)
    assert everything == list(range(1, len(everything) + 1))
    assert everything[-1] == _last_seq(workshop.core, shop_id)
    # Each pause adds its reason and each resume clears it: two events a
    # command, on consecutive seqs (the shop row is held for the command),
    # the command's change carrying the second.
    assert len(everything) == setup_events + 2 * THREADS * TRANSITIONS_PER_THREAD
    assert sorted(s for seqs in seen.values() for s in seqs) == everything[setup_events + 1 :: 2]
    _assert_rows_are_their_event_folds(workshop.core, shop_id)


def test_two_writers_on_the_same_version_one_wins(workshop: Workshop) -> None:
    """Both commands are held at the shop row lock until both are queued, so
    they truly race; the second one in must see the first one's commit."""
    order_id, version = _in_progress(workshop, "浙A22222")
    results: dict[str, Outcome | errors.DomainError] = {}

    def attempt(name: str, core: Core) -> Callable[[], None]:
        def run() -> None:
            try:
                results[name] = orders.transition_order(
                    core,
                    workshop.request("foreman"),
                    order_id,
                    to=Stage.PAUSED,
                    version=version,
                    pause_reason=PauseReason.OTHER,
                )
            except errors.DomainError as refused:
                results[name] = refused

        return run

    holder = psycopg2.connect(workshop.url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM shop WHERE id = %s FOR UPDATE", (workshop.shop.shop_id,))
        racers = [
            threading.Thread(target=attempt("first", workshop.core)),
            threading.Thread(target=attempt("second", workshop.other)),
        ]
        for racer in racers:
            racer.start()
        wait_for_lock_waiters(workshop.url, 2)
    finally:
        holder.rollback()
        holder.close()
    for racer in racers:
        racer.join(WAIT)

    won = [r for r in results.values() if isinstance(r, Outcome)]
    lost = [r for r in results.values() if isinstance(r, errors.DomainError)]
    assert len(won) == 1 and len(lost) == 1, results
    # The pause and the reason it adds: two events.
    assert won[0].body["version"] == version + 2
    assert isinstance(lost[0], errors.StaleVersion)
    assert lost[0].extra["order"]["version"] == version + 2
    fetched = queries.get_order(workshop.core, workshop.shop.shop_id, order_id)
    assert fetched["stage"] == "paused" and fetched["version"] == version + 2
    assert [e["type"] for e in fetched["history"]].count("stage_changed") == 3


def test_two_shops_keep_separate_seq_counters(workshop: Workshop) -> None:
    first = workshop.shop.shop_id
    second = setup.ensure_shop(workshop.core, slug="second", name="第二店")
    token = create_api_token(workshop.core, shop_id=second, role="advisor", name="second advisor")
    principal = resolve_bearer(workshop.core, token)
    assert principal is not None and principal.shop_id == second
    second_request = CommandRequest(actor=principal.actor(), shop_id=second)

    numbers: dict[int, list[int]] = {first: [], second: []}
    for index in range(6):
        if index % 2:
            outcome = orders.create_order(workshop.other, second_request, plate=f"鲁B{index:05d}")
            numbers[second].append(outcome.body["number"])
        else:
            numbers[first].append(_create(workshop, f"鲁A{index:05d}").body["number"])

    for shop_id in (first, second):
        assert _seqs(workshop.core, shop_id) == [1, 2, 3]
        assert _last_seq(workshop.core, shop_id) == 3
        assert numbers[shop_id] == [1, 2, 3]
    assert {o["plate"][:2] for o in queries.list_orders(workshop.core, second)} == {"鲁B"}


def test_utc_datetimes_round_trip_with_their_zone(workshop: Workshop) -> None:
    """Aware datetimes go in in any zone and come back aware, in UTC, the same
    instant, to the microsecond; PostgreSQL stores them as timestamptz."""
    now = datetime(2026, 3, 8, 1, 2, 3, 456789, tzinfo=UTC)
    workshop.core.clock = lambda: now
    promised = datetime(2026, 3, 8, 18, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    order_id = _create(workshop, "川A33333", promised_at=promised).body["id"]

    with workshop.other.db.read() as session:
        row = session.get(RepairOrder, order_id)
        assert row is not None
        event = session.execute(
            select(OrderEvent).where(OrderEvent.order_id == order_id)
        ).scalar_one()
        read_back = (row.created_at, row.updated_at, row.promised_at, row.eta, event.at)
        kinds = dict(
            session.execute(
                text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'repair_order'"
                )
            ).all()
        )
    for value in read_back:
        assert value is not None and value.utcoffset() == timedelta(0), value
    created_at, updated_at, promised_at, _eta, event_at = read_back
    assert created_at == updated_at == event_at == now
    assert promised_at == promised
    assert promised_at is not None and promised_at.tzinfo == UTC and promised_at.hour == 10
    assert kinds["promised_at"] == kinds["created_at"] == "timestamp with time zone"
