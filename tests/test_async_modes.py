"""The real server in every supported async mode.

Each test starts ``baylight serve`` as a subprocess, exactly as an operator
would, and talks to it the way a wall board does: a python-socketio client on
the websocket transport. The PostgreSQL test proves that a query waiting on a
row lock does not stall the eventlet or gevent hub: it fails (every health
check times out) when the driver is left blocking, e.g. without psycogreen
under gevent.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests
import socketio

from tests.conftest import (
    LiveServer,
    Shop,
    free_port,
    offline_core,
    seed_shop,
    server_env,
    wait_for_lock_waiters,
)

MODES = ("eventlet", "gevent", "threading")
WAIT = 10.0
LOCK_HELD_SECONDS = 2.0
# A SELECT 1 on an idle server answers in milliseconds; a blocked hub would
# hold it for the whole LOCK_HELD_SECONDS.
HEALTHZ_BUDGET_SECONDS = 0.5


class BoardClient:
    """A python-socketio client that records what the server sends it."""

    def __init__(self) -> None:
        self.client = socketio.Client(reconnection=False)
        self.messages: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client.on("snapshot", lambda data: self.messages.put(("snapshot", data)))
        self.client.on("order", lambda data: self.messages.put(("order", data)))

    def connect(self, url: str, token: str) -> None:
        self.client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=WAIT)

    def next(self, name: str, timeout: float = WAIT) -> Any:
        """The next message called ``name``, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {name!r} message within {timeout} s")
            try:
                kind, data = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if kind == name:
                return data

    def order_update(self, order_id: int, stage: str) -> dict[str, Any]:
        """Wait for the ``order`` message that shows this order in this stage."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            message = self.next("order", timeout=max(0.01, deadline - time.monotonic()))
            if message["order"]["id"] == order_id and message["order"]["stage"] == stage:
                return dict(message)
        raise AssertionError(f"order {order_id} never reached {stage} on the board")

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


@pytest.fixture
def board() -> Iterator[BoardClient]:
    client = BoardClient()
    yield client
    client.close()


def _create_booked_order(server: LiveServer, shop: Shop, plate: str) -> dict[str, Any]:
    response = requests.post(
        f"{server.url}/api/v1/orders",
        json={"plate": plate, "booked": True, "customer": {"name": "张先生"}},
        headers=shop.headers("advisor"),
        timeout=WAIT,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _check_in(server: LiveServer, shop: Shop, order: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{server.url}/api/v1/orders/{order['id']}/transitions",
        json={"to": "checked_in", "version": order["version"]},
        headers=shop.headers("advisor"),
        timeout=WAIT + LOCK_HELD_SECONDS,
    )


def _socket_connections(server: LiveServer) -> int:
    text = requests.get(f"{server.url}/metrics", timeout=WAIT).text
    found = re.search(r"^baylight_socket_connections (\d+)$", text, re.MULTILINE)
    assert found, text
    return int(found.group(1))


def _assert_clean_log(log: Path) -> None:
    output = log.read_text(errors="replace")
    assert "Eventlet is deprecated" not in output, output
    assert "Traceback" not in output, output


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode", [pytest.param(mode, marks=pytest.mark.async_mode(mode)) for mode in MODES]
)
def test_server_serves_a_board_in_each_async_mode(
    mode: str, live: tuple[LiveServer, Shop], board: BoardClient
) -> None:
    """Health, snapshot, a live update after a REST command, metrics, and a
    log an operator need not worry about."""
    server, shop = live
    health = requests.get(f"{server.url}/healthz", timeout=WAIT).json()
    assert health == {"status": "ok", "database": "ok", "async_mode": mode}

    board.connect(server.url, shop.tokens["display-board"])
    snapshot = board.next("snapshot")
    assert snapshot["seq"] == 0 and snapshot["orders"] == []

    order = _create_booked_order(server, shop, "粤B12345")
    response = _check_in(server, shop, order)
    assert response.status_code == 200, response.text
    update = board.order_update(order["id"], "checked_in")
    assert update["seq"] == 2
    assert update["order"]["version"] == response.json()["version"] == 2
    assert update["order"]["plate"] == order["plate"]

    assert _socket_connections(server) >= 1
    board.close()
    server.stop()
    _assert_clean_log(server.log)


# ------------------------------------------------------------- PostgreSQL


GREEN_MODES = ("eventlet", "gevent")


def _start_postgres_server(postgres_url: str, tmp_path: Path, mode: str) -> tuple[LiveServer, Shop]:
    """A server in ``mode`` on its own PostgreSQL database."""
    seeded = seed_shop(offline_core(postgres_url, tmp_path))
    port = free_port()
    server = LiveServer(
        server_env(postgres_url, port, tmp_path, mode), port, tmp_path / "server.log"
    )
    server.start()
    return server, seeded


def _lock_shop_row(postgres_url: str, shop_id: int) -> Any:
    """Another connection holding the shop row lock every command needs."""
    holder = psycopg2.connect(postgres_url)
    with holder.cursor() as cursor:
        cursor.execute("SELECT id FROM shop WHERE id = %s FOR UPDATE", (shop_id,))
    return holder


def _timed_healthz(server: LiveServer) -> float:
    """Seconds /healthz took; infinity when it did not answer at all (a
    blocked hub answers only once the lock is gone)."""
    started = time.monotonic()
    try:
        response = requests.get(f"{server.url}/healthz", timeout=HEALTHZ_BUDGET_SECONDS * 4)
    except requests.Timeout:
        return float("inf")
    assert response.status_code == 200, response.text
    return time.monotonic() - started


class CommandInBackground:
    """The check-in command, sent from a thread so the test can watch the
    server while the command waits."""

    def __init__(self, server: LiveServer, shop: Shop, order: dict[str, Any]) -> None:
        self.results: list[requests.Response | Exception] = []
        self.thread = threading.Thread(target=self._run, args=(server, shop, order))

    def _run(self, server: LiveServer, shop: Shop, order: dict[str, Any]) -> None:
        try:
            self.results.append(_check_in(server, shop, order))
        except Exception as failure:  # reported by the test, not lost in the thread
            self.results.append(failure)

    def finish(self) -> requests.Response:
        self.thread.join(WAIT + LOCK_HELD_SECONDS)
        assert len(self.results) == 1, self.results
        result = self.results[0]
        assert isinstance(result, requests.Response), result
        return result


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("mode", GREEN_MODES)
def test_green_hub_keeps_serving_while_a_postgres_query_waits(
    mode: str, migrated_postgres_url: str, tmp_path: Path, board: BoardClient
) -> None:
    """A command stuck behind a row lock must not freeze the server: health
    checks, REST reads and socket acks still answer at once, which holds only
    if the PostgreSQL driver yields to the hub while it waits."""
    server, shop = _start_postgres_server(migrated_postgres_url, tmp_path, mode)
    try:
        health = requests.get(f"{server.url}/healthz", timeout=WAIT).json()
        assert health["async_mode"] == mode
        board.connect(server.url, shop.tokens["display-board"])
        board.next("snapshot")
        order = _create_booked_order(server, shop, "京A88888")
        board.order_update(order["id"], "booked")

        holder = _lock_shop_row(migrated_postgres_url, shop.shop_id)
        locked_at = time.monotonic()
        command = CommandInBackground(server, shop, order)
        try:
            command.thread.start()
            wait_for_lock_waiters(migrated_postgres_url, 1)
            timings = [_timed_healthz(server) for _ in range(5)]
            assert max(timings) < HEALTHZ_BUDGET_SECONDS, timings
            listing = requests.get(
                f"{server.url}/api/v1/orders", headers=shop.headers("foreman"), timeout=WAIT
            )
            assert [o["stage"] for o in listing.json()["orders"]] == ["booked"]
            assert board.client.call("seq", {}, timeout=HEALTHZ_BUDGET_SECONDS * 2) == {"seq": 1}
            assert not command.results, "the command finished while the row was still locked"
            time.sleep(max(0.0, LOCK_HELD_SECONDS - (time.monotonic() - locked_at)))
        finally:
            holder.rollback()
            holder.close()

        reply = command.finish()
        assert reply.status_code == 200, reply.text
        assert reply.json()["stage"] == "checked_in"
        assert board.order_update(order["id"], "checked_in")["seq"] == 2
        board.close()
    finally:
        server.stop()
        shop.core.db.dispose()
    _assert_clean_log(server.log)
