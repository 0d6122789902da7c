"""Screens that reconnect together share their snapshot, built once.

In process: the real app, hub and SQLite database, Flask-SocketIO's test
client as the screens. A snapshot build is observed as the statements it
sends (the list of a shop's orders); the hub's wall clock is a counter the
test advances and the views' clock (``Core.now``) is frozen, so the age
limit is crossed exactly when the test says so.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from shared.realtime.hub import Hub, hub_of, resolve_tokens, touch_devices
from shared.services import queries
from shared.services.auth import resolve_bearer
from shared.services.core import Core
from shared.services.snapshots import MAX_AGE, SnapshotCache
from tests.conftest import Shop, seed_shop
from tests.test_socket_recheck import link_of, make_order, pair_board, statements

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


class Ticks:
    """The snapshot cache's wall clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hub(socketio: Any, core: Core) -> Iterator[Hub]:
    found = hub_of(socketio)
    assert found is not None
    found.stop()  # no background rounds: only the connects send statements
    core.clock = lambda: NOW
    found.snapshots.ticks = Ticks()
    yield found


def ticks(hub: Hub) -> Ticks:
    clock = hub.snapshots.ticks
    assert isinstance(clock, Ticks)
    return clock


def builds(sent: list[str]) -> int:
    """Snapshot builds among ``sent``: each lists a shop's orders once."""
    return sum("FROM repair_order" in sql and "ORDER BY repair_order.id" in sql for sql in sent)


def snapshot_of(client: Any) -> dict[str, Any]:
    received = [m for m in client.get_received() if m["name"] == "snapshot"]
    assert len(received) == 1, received
    return dict(received[0]["args"][0])


def connect(app: Any, socketio: Any, token: str) -> Any:
    client = socketio.test_client(app, auth={"token": token})
    assert client.is_connected()
    return client


def test_many_boards_get_one_snapshot_built_once(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    http = app.test_client()
    made = [make_order(http, shop) for _ in range(3)]
    tokens = [pair_board(core, shop, f"看板 {n}")[1] for n in range(12)]
    with statements(core) as sent:
        boards = [connect(app, socketio, token) for token in tokens]
    assert builds(sent) == 1, sent
    assert hub.snapshots.builds == 1
    snapshots = [snapshot_of(board) for board in boards]
    assert all(s == snapshots[0] for s in snapshots)
    assert [o["id"] for o in snapshots[0]["orders"]] == [o["id"] for o in made]
    assert snapshots[0]["seq"] == queries.current_seq(core, shop.shop_id)
    # The same snapshot as one built for a single screen now.
    principal = resolve_bearer(core, tokens[0])
    assert principal is not None
    assert snapshots[0] == json.loads(json.dumps(queries.snapshot(core, principal)))


def test_a_change_is_in_the_next_connects_snapshot(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    http = app.test_client()
    first = snapshot_of(connect(app, socketio, shop.tokens["display-board"]))
    order = make_order(http, shop)
    with statements(core) as sent:
        second = snapshot_of(connect(app, socketio, shop.tokens["display-board"]))
    assert builds(sent) == 1
    assert second["seq"] > first["seq"]
    assert order["id"] in [o["id"] for o in second["orders"]]
    assert order["id"] not in [o["id"] for o in first["orders"]]


def test_a_snapshot_older_than_the_age_limit_is_built_again(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    make_order(app.test_client(), shop)
    token = shop.tokens["display-board"]
    connect(app, socketio, token)
    age = MAX_AGE.total_seconds()

    with statements(core) as young:
        ticks(hub).now += age / 2
        connect(app, socketio, token)
    with statements(core) as old_by_the_wall:
        ticks(hub).now += age
        connect(app, socketio, token)
    with statements(core) as old_by_the_views_clock:
        # Late and at-risk flags are the views' clock's: a snapshot is as
        # old as that clock says too (and one set back is no younger).
        core.clock = lambda: NOW + timedelta(minutes=5)
        connect(app, socketio, token)
    with statements(core) as set_back:
        core.clock = lambda: NOW
        connect(app, socketio, token)
    assert [builds(young), builds(old_by_the_wall), builds(old_by_the_views_clock)] == [0, 1, 1]
    assert builds(set_back) == 1


def test_audiences_never_share_a_snapshot(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    http = app.test_client()
    order = make_order(http, shop)
    # The lounge and the customer first: a staff snapshot in the cache must
    # not be what they get, nor theirs what staff get.
    staff = snapshot_of(connect(app, socketio, shop.tokens["display-board"]))
    with statements(core) as sent:
        lounge = snapshot_of(connect(app, socketio, shop.tokens["display-lounge"]))
        customer = snapshot_of(connect(app, socketio, link_of(order)))
        again = snapshot_of(connect(app, socketio, shop.tokens["foreman"]))
    assert builds(sent) == 1  # the lounge's; the customer's lists one order by id
    assert hub.snapshots.builds == 3
    assert again == staff
    assert staff["orders"][0]["customer"]["phone"] == "13912345678"
    for redacted in (lounge, customer):
        text = json.dumps(redacted, ensure_ascii=False)
        assert "13912345678" not in text and "欧阳" not in text, text
    assert "plate_masked" in lounge["orders"][0] and "bays" in staff and lounge["bays"] == []
    assert [o["id"] for o in customer["orders"]] == [order["id"]]


def test_customers_get_only_their_own_order(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    http = app.test_client()
    first, second = make_order(http, shop), make_order(http, shop)
    mine = snapshot_of(connect(app, socketio, link_of(first)))
    theirs = snapshot_of(connect(app, socketio, link_of(second)))
    assert [o["id"] for o in mine["orders"]] == [first["id"]]
    assert [o["id"] for o in theirs["orders"]] == [second["id"]]
    assert hub.snapshots.builds == 2


def test_two_shops_never_share_a_snapshot(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    other = seed_shop(core, slug="other")
    http = app.test_client()
    here, there = make_order(http, shop), make_order(http, other)
    with statements(core) as sent:
        ours = snapshot_of(connect(app, socketio, shop.tokens["display-board"]))
        theirs = snapshot_of(connect(app, socketio, other.tokens["display-board"]))
    assert builds(sent) == 2
    assert [o["id"] for o in ours["orders"]] == [here["id"]]
    assert [o["id"] for o in theirs["orders"]] == [there["id"]]


def test_the_shared_packet_is_byte_for_byte_an_emit(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    """What goes on the wire is what ``emit("snapshot", ...)`` sent each
    screen before: python-socketio's own packet of the same snapshot."""
    make_order(app.test_client(), shop)
    board = connect(app, socketio, shop.tokens["display-board"])
    board.disconnect()
    sent: list[str] = []
    deliver = socketio.server._send_eio_packet

    def record(eio_sid: str, pkt: eio_packet.Packet) -> None:
        sent.append(pkt.encode())
        deliver(eio_sid, pkt)

    socketio.server._send_eio_packet = record
    board.connect(auth={"token": shop.tokens["display-board"]})
    board.disconnect()
    board.connect(auth={"token": shop.tokens["display-board"]})
    principal = resolve_bearer(core, shop.tokens["display-board"])
    assert principal is not None
    emitted = sio_packet.Packet(
        sio_packet.EVENT, namespace="/", data=["snapshot", queries.snapshot(core, principal)]
    ).encode()
    snapshots = [text for text in sent if text.startswith('42["snapshot"')]
    assert snapshots == ["4" + emitted, "4" + emitted]
    assert hub.snapshots.builds == 1


def test_resuming_screens_are_sent_what_they_missed_not_a_snapshot(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    http = app.test_client()
    seq = snapshot_of(connect(app, socketio, shop.tokens["display-board"]))["seq"]
    current = socketio.test_client(app, auth={"token": shop.tokens["display-board"], "since": seq})
    assert current.get_received() == []
    order = make_order(http, shop)
    behind = socketio.test_client(app, auth={"token": shop.tokens["display-board"], "since": seq})
    received = behind.get_received()
    assert [m["name"] for m in received] == ["order"]
    assert received[0]["args"][0]["order"]["id"] == order["id"]
    ahead = socketio.test_client(app, auth={"token": shop.tokens["display-board"], "since": 10**6})
    assert [m["name"] for m in ahead.get_received()] == ["snapshot"]


# ------------------------------------------------------------ batched lookups


def test_a_batch_of_tokens_is_resolved_in_a_few_queries(app: Any, core: Core, shop: Shop) -> None:
    boards = [pair_board(core, shop, f"屏 {n}")[1] for n in range(60)]
    order = make_order(app.test_client(), shop)
    tokens = [*boards, shop.tokens["foreman"], link_of(order), "unknown", "\ud800"]
    with statements(core) as sent:
        found = resolve_tokens(core, tokens)
    # API tokens, devices, customer links: one IN list each.
    assert len(sent) <= 3, sent
    assert {t for t in tokens if t in found} == {*boards, shop.tokens["foreman"], link_of(order)}
    assert found[link_of(order)].credential.kind == "customer"
    assert found[link_of(order)].principal.order_id == order["id"]
    assert {found[t].principal.kind for t in boards} == {"device"}
    assert found[shop.tokens["foreman"]].credential.kind == "bearer"


def test_a_connect_remembers_a_bearer_token_briefly_and_a_revocation_forgets_it(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    from shared.services import devices

    device_id, token = pair_board(core, shop, "看板")
    connect(app, socketio, token)
    with statements(core) as sent:
        connect(app, socketio, token)
    assert not any("FROM device" in sql and "token_hash IN" in sql for sql in sent), sent
    devices.revoke_device(core, device_id)
    refused = socketio.test_client(app, auth={"token": token})
    assert not refused.is_connected()


def test_last_seen_times_that_are_due_are_written_in_one_transaction(
    core: Core, shop: Shop
) -> None:
    from shared.persistence.models import Device

    ids = [pair_board(core, shop, f"屏 {n}")[0] for n in range(5)]
    core.clock = lambda: NOW
    touch_devices(core, ids[:2])
    core.clock = lambda: NOW + timedelta(seconds=30)
    with statements(core) as sent:
        touch_devices(core, ids)
    updates = [sql for sql in sent if sql.startswith("UPDATE device")]
    assert len(updates) == 1, sent
    with core.db.read() as session:
        seen = {d.id: d.last_seen_at for d in session.query(Device).filter(Device.id.in_(ids))}
    assert seen[ids[0]] == seen[ids[1]] == NOW
    assert all(seen[i] == NOW + timedelta(seconds=30) for i in ids[2:])
    with statements(core) as nothing_due:
        touch_devices(core, ids)
    assert not any(sql.startswith("UPDATE") for sql in nothing_due)


# ------------------------------------------------------- the cache on its own


class Gate:
    """A build that waits until the test lets it finish."""

    def __init__(self, seqs: list[int]) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.seqs = seqs
        self.calls = 0

    def __call__(self) -> tuple[int, object]:
        self.calls += 1
        self.started.set()
        assert self.release.wait(10)
        return self.seqs[min(self.calls, len(self.seqs)) - 1], object()


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.005)


def test_askers_during_a_build_wait_for_it_instead_of_building() -> None:
    clock = Ticks()
    cache: SnapshotCache[object] = SnapshotCache(lambda: NOW, ticks=clock)
    build = Gate([7])
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("k", 7, build)))]
    threads[0].start()
    assert build.started.wait(10)
    threads += [
        threading.Thread(target=lambda: got.append(cache.get("k", 7, build))) for _ in range(7)
    ]
    for thread in threads[1:]:
        thread.start()
    until(lambda: cache.waiting("k") == 7)
    # Whoever asked after the build would find it too old and build again:
    # one build in all means all seven waited for the first.
    clock.now += 10
    build.release.set()
    for thread in threads:
        thread.join(10)
    assert len(got) == 8 and all(value is got[0] for value in got)
    assert build.calls == cache.builds == 1


def test_a_waiter_asking_for_a_newer_seq_builds_again() -> None:
    cache: SnapshotCache[object] = SnapshotCache(lambda: NOW, ticks=Ticks())
    build = Gate([7, 8])
    got: dict[int, object] = {}
    first = threading.Thread(target=lambda: got.setdefault(7, cache.get("k", 7, build)))
    first.start()
    assert build.started.wait(10)
    second = threading.Thread(target=lambda: got.setdefault(8, cache.get("k", 8, build)))
    second.start()
    until(lambda: cache.waiting("k") == 1)
    build.release.set()
    first.join(10)
    second.join(10)
    assert build.calls == 2 and got[7] is not got[8]
    assert cache.get("k", 8, build) is got[8]


def test_a_failed_build_fails_its_waiters_and_the_next_ask_builds() -> None:
    cache: SnapshotCache[object] = SnapshotCache(lambda: NOW, ticks=Ticks())
    release = threading.Event()
    errors: list[BaseException] = []

    def broken() -> tuple[int, object]:
        assert release.wait(10)
        raise RuntimeError("database away")

    def ask() -> None:
        try:
            cache.get("k", 1, broken)
        except RuntimeError as error:
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    until(lambda: cache.waiting("k") == 3)
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(errors) == 4
    assert cache.get("k", 1, lambda: (1, "built")) == "built"


def test_the_cache_keeps_a_bounded_number_of_snapshots() -> None:
    cache: SnapshotCache[str] = SnapshotCache(lambda: NOW, limit=3, ticks=Ticks())
    for key in "abcde":
        cache.get(key, 1, lambda key=key: (1, key))  # type: ignore[misc]
    assert cache.builds == 5
    assert cache.get("e", 1, lambda: (1, "rebuilt")) == "e"
    assert cache.get("a", 1, lambda: (1, "rebuilt")) == "rebuilt"
