"""``baylight serve`` bound to one address of a shop's network, as a TV or a
phone there would reach it, and a Socket.IO handshake from a chosen page
origin.

The loopback range stands in for the shop LAN: 127.0.0.2 is an address of
this machine other than 127.0.0.1, so a server bound there is reached by an
address and port no setting names, exactly like ``--host 0.0.0.0`` reached
at http://192.168.x.y:5000 (without opening a port to the real network).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.conftest import (
    LiveServer,
    Shop,
    free_port,
    migrated_copy,
    offline_core,
    seed_shop,
    server_env,
)

LAN_HOST = "127.0.0.2"
HANDSHAKE_TIMEOUT = 10.0


class BoundServer(LiveServer):
    """``baylight serve --host HOST --port PORT``; its URL is that address."""

    def __init__(self, env: dict[str, str], host: str, port: int, log: Path) -> None:
        super().__init__(env, port, log, host=host)


StartLan = Callable[..., tuple[BoundServer, Shop]]


class _Servers:
    """The servers a fixture started, each on a copy of the migrated
    template (the Alembic chain runs once a session, not once a server)."""

    def __init__(self, root: Path, template: Path) -> None:
        self.root = root
        self.template = template
        self.started: list[tuple[BoundServer, Shop]] = []

    def start(self, mode: str, more: dict[str, str]) -> tuple[BoundServer, Shop]:
        folder = self.root / f"server{len(self.started)}"
        folder.mkdir()
        database_url = migrated_copy(self.template, folder / "lan.db")
        shop = seed_shop(offline_core(database_url, folder))
        port = free_port()
        env = server_env(database_url, port, folder, mode)
        del env["BAYLIGHT_PUBLIC_URL"]
        env.update(more)
        server = BoundServer(env, LAN_HOST, port, folder / "server.log")
        self.started.append((server, shop))
        server.start()
        return server, shop

    def stop(self) -> None:
        for server, shop in self.started:
            server.stop()
            shop.core.db.dispose()


@pytest.fixture
def start_lan(tmp_path: Path, migrated_template: Path) -> Iterator[StartLan]:
    """Start a server on LAN_HOST: ``start_lan(mode, **env)``. BAYLIGHT_PUBLIC_URL
    is unset unless passed; every server started is stopped at teardown."""
    servers = _Servers(tmp_path, migrated_template)

    def start(mode: str = "eventlet", **more: str) -> tuple[BoundServer, Shop]:
        return servers.start(mode, more)

    yield start
    servers.stop()


@pytest.fixture(scope="module")
def shared_lan(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[StartLan]:
    """``start_lan`` for a whole module: tests asking for the same mode and
    settings share one server (and its shop), started by the first of them.
    For tests that only read what the server answers, or that create orders
    no other test on the same server looks for."""
    servers = _Servers(tmp_path_factory.mktemp("lan"), migrated_template)
    by_settings: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[BoundServer, Shop]] = {}

    def start(mode: str = "eventlet", **more: str) -> tuple[BoundServer, Shop]:
        key = (mode, tuple(sorted(more.items())))
        if key not in by_settings:
            by_settings[key] = servers.start(mode, more)
        return by_settings[key]

    yield start
    servers.stop()


def handshake(url: str, origin: str | None, token: str) -> dict[str, Any] | None:
    """Open a websocket Socket.IO connection whose handshake carries
    ``Origin: origin`` (none at all when None), as a page on that origin
    would: the snapshot it is sent, or None when the handshake is refused."""
    options: dict[str, Any] = {"origin": origin} if origin else {"suppress_origin": True}
    client = socketio.Client(
        reconnection=False, handle_sigint=False, websocket_extra_options=options
    )
    snapshots: queue.Queue[dict[str, Any]] = queue.Queue()
    client.on("snapshot", snapshots.put)
    try:
        try:
            client.connect(
                url,
                auth={"token": token},
                transports=["websocket"],
                wait_timeout=int(HANDSHAKE_TIMEOUT),
            )
        except socketio.exceptions.ConnectionError:
            return None
        return snapshots.get(timeout=HANDSHAKE_TIMEOUT)
    finally:
        if client.connected:
            client.disconnect()
        client.shutdown()
