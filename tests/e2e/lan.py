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


@pytest.fixture
def start_lan(tmp_path: Path) -> Iterator[StartLan]:
    """Start a server on LAN_HOST: ``start_lan(mode, **env)``. BAYLIGHT_PUBLIC_URL
    is unset unless passed; every server started is stopped at teardown."""
    started: list[tuple[BoundServer, Shop]] = []

    def start(mode: str = "eventlet", **more: str) -> tuple[BoundServer, Shop]:
        folder = tmp_path / f"server{len(started)}"
        folder.mkdir()
        database_url = f"sqlite:///{folder / 'lan.db'}"
        shop = seed_shop(offline_core(database_url, folder))
        port = free_port()
        env = server_env(database_url, port, folder, mode)
        del env["BAYLIGHT_PUBLIC_URL"]
        env.update(more)
        server = BoundServer(env, LAN_HOST, port, folder / "server.log")
        started.append((server, shop))
        server.start()
        return server, shop

    yield start
    for server, shop in started:
        server.stop()
        shop.core.db.dispose()


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
