"""The hub's re-check of open sockets, in process: the real app, hub and
SQLite database, Flask-SocketIO's test client as the screens.

What the end-to-end tests (tests/e2e/test_revocation.py) cannot pin down
from outside: a ``resync`` from a socket whose link died is not answered even
before the next round; a round's cost does not grow with the number of
sockets; the registry counts a socket once however often it is dropped; and
a database outage neither cuts the screens nor floods the log.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from shared.persistence.models import ApiToken, Device, RepairOrder
from shared.realtime.hub import Credential, Hub, current_principals, hub_of
from shared.services import devices, reception
from shared.services.auth import hash_secret, new_secret, resolve_bearer
from shared.services.commands import CommandRequest
from shared.services.core import Core
from tests.conftest import Shop

ORDER = {
    "plate": "粤B54321",
    "customer": {"name": "欧阳先生", "phone": "13912345678"},
    "items": [{"title": "更换机油", "labour_hours": 0.5}],
}


@pytest.fixture
def hub(socketio: Any) -> Iterator[Hub]:
    """The app's hub, its background rounds stopped at the end (a test that
    wants rounds runs them itself or lowers ``sweep_seconds``)."""
    found = hub_of(socketio)
    assert found is not None
    yield found
    found.stop()


def make_order(client: Any, shop: Shop) -> dict[str, Any]:
    reply = client.post("/api/v1/orders", json=ORDER, headers=shop.headers("advisor"))
    assert reply.status_code == 201, reply.get_json()
    return dict(reply.get_json())


def link_of(order: dict[str, Any]) -> str:
    return str(order["customer_url"]).rsplit("/", 1)[-1]


def pair_board(core: Core, shop: Shop, name: str) -> tuple[int, str]:
    started = devices.start_pairing(core, "board")
    device_id = devices.approve_pairing(
        core, started.user_code, kind="board", name=name, shop_id=shop.shop_id
    )
    return device_id, str(devices.poll_pairing(core, started.device_code)["device_token"])


def sid_of(socketio: Any, client: Any) -> str:
    return str(socketio.server.manager.sid_from_eio_sid(client.eio_sid, "/"))


@contextmanager
def statements(core: Core) -> Iterator[list[str]]:
    """The SQL statements the block sends to the database."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql)

    event.listen(core.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(core.db.engine, "before_cursor_execute", count)


def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def test_resync_from_a_dead_link_is_not_answered(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    """Checked at the resync itself, not at the next round (stopped here)."""
    hub.stop()
    http = app.test_client()
    order = make_order(http, shop)
    phone = socketio.test_client(app, auth={"token": link_of(order)})
    assert phone.is_connected()
    phone.get_received()
    phone.emit("resync", {"since": 0})
    assert [m["name"] for m in phone.get_received()] == ["order"]  # alive: answered

    advisor = resolve_bearer(core, shop.tokens["advisor"])
    assert advisor is not None
    reception.reissue_customer_token(
        core, CommandRequest(actor=advisor.actor(), shop_id=shop.shop_id), order["id"]
    )
    phone.emit("resync", {"since": 0})
    assert not phone.is_connected()
    assert phone.queue == []  # what it was sent, read without the connected check
    assert core.metrics.connections == 0


def test_a_round_costs_the_same_queries_for_many_sockets(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    hub.stop()
    clients = []
    for index in range(40):
        _device_id, token = pair_board(core, shop, f"看板 {index}")
        clients.append(socketio.test_client(app, auth={"token": token}))
    http = app.test_client()
    for _ in range(3):
        clients.append(socketio.test_client(app, auth={"token": link_of(make_order(http, shop))}))
    clients.append(socketio.test_client(app, auth={"token": shop.tokens["foreman"]}))
    clients.append(socketio.test_client(app, auth={"token": shop.tokens["technician"]}))
    assert all(c.is_connected() for c in clients)

    with statements(core) as few:
        assert hub.sweep() == 0
    for client in clients[5:40]:
        client.disconnect()
    with statements(core) as fewer:
        assert hub.sweep() == 0
    # Tokens (with their users), devices, customer links: one IN list each.
    assert len(few) == len(fewer) <= 4, few


def test_two_thousand_screens_are_checked_in_a_few_queries(core: Core, shop: Shop) -> None:
    tokens = [new_secret() for _ in range(2000)]
    with core.db.write() as session:
        session.add_all(
            Device(
                shop_id=shop.shop_id,
                kind="board",
                name=f"看板 {index}",
                status="revoked" if index % 10 == 0 else "active",
                token_hash=hash_secret(token),
            )
            for index, token in enumerate(tokens)
        )
        session.add(
            ApiToken(shop_id=shop.shop_id, role="manager", name="x", token_hash=hash_secret("bl_a"))
        )
    credentials = [Credential("bearer", t) for t in [*tokens, "bl_a", "bl_unknown"]]
    credentials += [Credential("customer", new_secret()) for _ in range(700)]
    with statements(core) as sent:
        found = current_principals(core, credentials)
    assert len(found) == 1800 + 1
    assert {p.kind for p in found.values()} == {"device", "token"}
    # 2,002 bearer tokens: 5 IN lists of tokens, 5 of devices; 700 links: 2.
    assert len(sent) <= 12, len(sent)


def test_the_registry_counts_a_socket_once(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    hub.stop()
    first = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    second = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    assert core.metrics.connections == 2
    gone = sid_of(socketio, first)
    socketio.server.disconnect(gone)
    socketio.server.disconnect(gone)
    assert not first.is_connected()
    assert core.metrics.connections == 1
    # A client event named like the life-cycle changes nothing either.
    second.emit("disconnect")
    second.emit("connect", {}, {"token": shop.tokens["display-board"]})
    assert core.metrics.connections == 1
    second.get_received()
    second.emit("resync", {})
    assert [m["name"] for m in second.get_received()] == ["snapshot"]
    assert hub.sweep() == 0 and second.is_connected()
    second.disconnect()
    assert core.metrics.connections == 0 and hub.connections == {}


@contextmanager
def database_away(core: Core) -> Iterator[None]:
    """The SQLite file gone for the block (a directory in its place, so it
    cannot be re-created), back afterwards."""
    path = Path(str(core.db.engine.url.database))
    aside = path.with_suffix(".away")
    core.db.dispose()
    path.rename(aside)
    path.mkdir()
    try:
        yield
    finally:
        shutil.rmtree(path)
        aside.rename(path)
        core.db.dispose()


def test_a_database_outage_keeps_the_sockets_and_logs_once(
    app: Any,
    socketio: Any,
    core: Core,
    shop: Shop,
    hub: Hub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub.sweep_seconds = 0.05
    device_id, token = pair_board(core, shop, "看板 断库")
    screen = socketio.test_client(app, auth={"token": token})
    assert screen.is_connected()
    caplog.set_level(logging.WARNING, logger="shared.realtime.hub")
    with database_away(core):
        time.sleep(0.6)  # about a dozen rounds
        assert screen.is_connected()
        failures = [r for r in caplog.records if "failed" in r.getMessage()]
        assert len(failures) == 1, caplog.records
    until(lambda: any("works again" in r.getMessage() for r in caplog.records))
    assert screen.is_connected()
    with core.db.write() as session:
        session.execute(update(Device).where(Device.id == device_id).values(status="revoked"))
    until(lambda: not screen.is_connected())
    # The client sees the cut before the server's disconnect handler has run.
    until(lambda: core.metrics.connections == 0)


def test_a_link_a_day_after_closing_is_cut_by_the_round(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    hub.stop()
    order = make_order(app.test_client(), shop)
    phone = socketio.test_client(app, auth={"token": link_of(order)})
    assert hub.sweep() == 0 and phone.is_connected()
    with core.db.write() as session:
        session.execute(
            update(RepairOrder)
            .where(RepairOrder.id == order["id"])
            .values(closed_at=core.now() - reception_ttl_and_an_hour())
        )
    assert hub.sweep() == 1
    assert not phone.is_connected()


def reception_ttl_and_an_hour() -> Any:
    from datetime import timedelta

    from shared.services.auth import CUSTOMER_LINK_TTL

    return CUSTOMER_LINK_TTL + timedelta(hours=1)
