"""A restarted server takes a reconnect storm: its listening socket holds
2,048 pending connections (eventlet's default is 50, and the clients it
drops back off for seconds)."""

from __future__ import annotations

import subprocess

from shared.server import LISTEN_BACKLOG
from tests.conftest import LiveServer, Shop


def listen_queue_limit(port: int) -> int:
    """The backlog of the socket listening on ``port``, as the kernel holds
    it (``ss`` shows it as Send-Q of a listening socket)."""
    shown = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert shown, f"nothing listens on {port}"
    return int(shown[2])


def test_the_eventlet_server_listens_with_a_long_backlog(live: tuple[LiveServer, Shop]) -> None:
    server, _shop = live
    with open("/proc/sys/net/core/somaxconn") as limit:
        kernel = int(limit.read())
    assert listen_queue_limit(server.port) == min(LISTEN_BACKLOG, kernel) > 50
