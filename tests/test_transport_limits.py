"""Transport limits on the real server in every async mode, probed with raw
sockets the way an attacker would.

- An Engine.IO polling POST whose declared body exceeds the Engine.IO buffer
  is answered 413 and the connection closed at once, for an unknown session
  as for a valid one, whether or not the body is sent.
- Any answer given before the body is read closes the connection instead of
  reading the rest as the next request (a REST body over the app's limit).
- A client that stops in the middle of a request head or body is dropped
  after ``REQUEST_TIMEOUT_SECONDS``, while Socket.IO clients that are only
  waiting (websocket, and long-polling whose GET waits 20 s for a ping) stay
  connected across a whole ping interval.
- The server process is left with no CLOSE-WAIT sockets.

One server per mode for the whole module, all started together; the quiet
probes start with them, so the waits overlap. The servers run with a
shorter request timeout and ping interval than production's 15 s and 20 s
(module constants set in the server process, tests/patched_entrypoint.py),
in the same order (timeout < ping interval < quiet time), so the file waits
seconds, not half a minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import socketio

from bench.load import upgrade_request
from shared.web import app as web_app
from shared.web import connections
from shared.web.app import SOCKET_BODY_BYTES
from tests.conftest import (
    LiveServer,
    Shop,
    free_port,
    migrated_copy,
    offline_core,
    seed_shop,
    server_env,
)

pytestmark = pytest.mark.slow

MODES = ("eventlet", "gevent", "threading")
OVERSIZED = 100_000
# The server closes a refused connection at once; "a couple of seconds"
# leaves room for a loaded machine.
CLOSE_WITHIN = 3.0
# The servers' request timeout and Engine.IO ping interval, shorter than
# production's (REQUEST_TIMEOUT_SECONDS, PING_INTERVAL_SECONDS) but in the
# same order: quiet clients must outlive both.
REQUEST_TIMEOUT_SECONDS = 4
PING_INTERVAL = 7
QUIET_FOR = PING_INTERVAL + 4.0
SERVER_PATCHES: dict[str, float] = {
    "shared.web.connections.REQUEST_TIMEOUT_SECONDS": REQUEST_TIMEOUT_SECONDS,
    "shared.web.app.PING_INTERVAL_SECONDS": PING_INTERVAL,
}


@dataclass
class Quiet:
    """A probe that goes quiet, and when the server dropped it."""

    connection: socket.socket
    started: float
    closed_after: float | None = None
    answer: bytes = b""
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Served:
    server: LiveServer
    shop: Shop
    quiet_head: Quiet | None = None
    quiet_body: Quiet | None = None
    clients: dict[str, socketio.Client] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    clients_since: float = 0.0


def _servers(root: Path, template: Path) -> dict[str, Served]:
    """A server per mode (not started yet), each on its own copy of one
    seeded database, itself a copy of the session's migrated template."""
    seeded_db = root / "seeded.db"
    shop = seed_shop(offline_core(migrated_copy(template, seeded_db), root))
    found = {}
    for mode in MODES:
        tmp = root / mode
        tmp.mkdir()
        with sqlite3.connect(seeded_db) as source, sqlite3.connect(tmp / "live.db") as copy:
            source.backup(copy)
        database_url = f"sqlite:///{tmp / 'live.db'}"
        port = free_port()
        env = server_env(database_url, port, tmp, mode)
        server = LiveServer(env, port, tmp / "server.log", patches=SERVER_PATCHES)
        found[mode] = Served(server, shop)
    return found


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _read_until_closed(connection: socket.socket, limit: float) -> tuple[bytes, float | None]:
    """Everything the server sends, and the seconds until it closed the
    connection (None when it is still open after ``limit``). A reset counts
    as closed: the server dropped the connection."""
    started = time.monotonic()
    answer = b""
    while (left := limit - (time.monotonic() - started)) > 0:
        connection.settimeout(left)
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return answer, time.monotonic() - started
        if not chunk:
            return answer, time.monotonic() - started
        answer += chunk
    return answer, None


def _read_head(connection: socket.socket) -> tuple[bytes, bytes]:
    """An answer's head, and whatever of the rest came with it."""
    connection.settimeout(10)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(65536)
        assert chunk, answer
        answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    return head, rest


def _read_answer(connection: socket.socket) -> bytes:
    """One whole answer (head and Content-Length body) from a kept-alive
    connection."""
    head, body = _read_head(connection)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, head
        body += chunk
    return head + b"\r\n\r\n" + body


def _watch(probe: Quiet, limit: float) -> None:
    def run() -> None:
        probe.answer, closed = _read_until_closed(probe.connection, limit)
        if closed is not None:
            probe.closed_after = time.monotonic() - probe.started
        probe.done.set()

    threading.Thread(target=run, daemon=True).start()


def _poll_sid(served: Served) -> str:
    """A fresh Engine.IO session opened by a polling handshake."""
    response = requests.get(f"{served.server.url}/socket.io/?EIO=4&transport=polling", timeout=10)
    assert response.status_code == 200, response.text
    return str(json.loads(response.text[1:])["sid"])


def _post_head(path: str, length: int, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()


def _socket_client(served: Served, transport: str) -> socketio.Client:
    client = socketio.Client(reconnection=False, handle_sigint=False)
    client.on("disconnect", lambda *_: served.dropped.append(transport))
    client.connect(
        served.server.url,
        auth={"token": served.shop.tokens["display-board"]},
        transports=[transport],
        wait_timeout=10,
    )
    return client


def _start_quiet_probes(served: Served) -> None:
    """A head that stops half way, a body that stops half way, and two
    Socket.IO clients that only listen."""
    port = served.server.port
    limit = REQUEST_TIMEOUT_SECONDS + 10.0

    head = _connect(port)
    head.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    served.quiet_head = Quiet(head, time.monotonic())
    _watch(served.quiet_head, limit)

    sid = _poll_sid(served)
    body = _connect(port)
    body.sendall(_post_head(f"/socket.io/?EIO=4&transport=polling&sid={sid}", 1000) + b"42")
    served.quiet_body = Quiet(body, time.monotonic())
    _watch(served.quiet_body, limit)

    served.clients_since = time.monotonic()
    for transport in ("websocket", "polling"):
        served.clients[transport] = _socket_client(served, transport)


def _start_and_probe(served: Served) -> None:
    served.server.start()
    _start_quiet_probes(served)


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[dict[str, Served]]:
    root = tmp_path_factory.mktemp("transport")
    started = _servers(root, migrated_template)
    try:
        with ThreadPoolExecutor(len(MODES)) as pool:
            list(pool.map(_start_and_probe, started.values()))
        yield started
    finally:
        for served in started.values():
            for client in served.clients.values():
                if client.connected:
                    client.disconnect()
                client.shutdown()
            for probe in (served.quiet_head, served.quiet_body):
                if probe:
                    # A watcher still in recv (its test ran on another
                    # worker) is woken by the shutdown; closing under it
                    # would fail its thread with a bad file descriptor.
                    with contextlib.suppress(OSError):
                        probe.connection.shutdown(socket.SHUT_RDWR)
                    probe.done.wait(5)
                    probe.connection.close()
        with ThreadPoolExecutor(len(MODES)) as pool:
            list(pool.map(lambda served: served.server.stop(), started.values()))
        next(iter(started.values())).shop.core.db.dispose()


def _close_wait_sockets(pid: int) -> int:
    """CLOSE-WAIT TCP sockets held by the process: the client closed, the
    server never did."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            columns = row.split()
            if columns[3] == "08" and columns[9] in inodes:
                count += 1
    return count


def _modes() -> list[object]:
    return [pytest.param(mode, id=mode) for mode in MODES]


# --------------------------------------------------------- oversized bodies


@pytest.mark.parametrize("mode", _modes())
@pytest.mark.parametrize(
    ("session", "body_sent"),
    [("unknown", OVERSIZED), ("valid", OVERSIZED), ("unknown", 1000), ("valid", 1000)],
    ids=["unknown-sid-full-body", "valid-sid-full-body", "unknown-sid-part", "valid-sid-part"],
)
def test_oversized_poll_body_is_refused_and_closed(
    servers: dict[str, Served], mode: str, session: str, body_sent: int
) -> None:
    served = servers[mode]
    sid = _poll_sid(served) if session == "valid" else "unknown"
    assert OVERSIZED > SOCKET_BODY_BYTES
    connection = _connect(served.server.port)
    try:
        head = _post_head(f"/socket.io/?EIO=4&transport=polling&sid={sid}", OVERSIZED)
        # The server may refuse and close before the body is all out.
        with contextlib.suppress(OSError):
            connection.sendall(head + b"4" * body_sent)
        answer, closed = _read_until_closed(connection, CLOSE_WITHIN)
    finally:
        connection.close()
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
    assert b"\r\nconnection: close\r\n" in answer.lower(), answer[:300]
    assert closed is not None, f"{mode}: connection still open {CLOSE_WITHIN} s after the 413"


@pytest.mark.parametrize("mode", _modes())
def test_answer_before_the_body_is_read_closes_the_connection(
    servers: dict[str, Served], mode: str
) -> None:
    """The class, not only Engine.IO: a REST body over the app's limit is
    refused by Flask without being read; the server must not read it as the
    next request."""
    served = servers[mode]
    connection = _connect(served.server.port)
    try:
        head = _post_head(
            "/api/v1/orders",
            OVERSIZED,
            f"Authorization: Bearer {served.shop.tokens['advisor']}\r\n",
        ).replace(b"text/plain;charset=UTF-8", b"application/json")
        connection.sendall(head + b" " * 1000)
        answer, closed = _read_until_closed(connection, CLOSE_WITHIN)
    finally:
        connection.close()
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
    assert closed is not None, f"{mode}: connection still open {CLOSE_WITHIN} s after the 413"


@pytest.mark.parametrize("mode", [m for m in MODES if m != "threading"])
def test_a_body_read_to_its_end_keeps_the_connection(servers: dict[str, Served], mode: str) -> None:
    """Keep-alive still works for ordinary polling POSTs (werkzeug closes
    every connection by design, so it is left out)."""
    served = servers[mode]
    sid = _poll_sid(served)
    body = b"3"  # an Engine.IO pong: harmless at any time
    connection = _connect(served.server.port)
    try:
        for _ in range(2):
            path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
            connection.sendall(_post_head(path, len(body)) + body)
            answer = _read_answer(connection)
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
            assert b"connection: close" not in answer.lower(), answer[:300]
    finally:
        connection.close()


# ------------------------------------------------------------ quiet clients


def _wait(probe: Quiet | None) -> Quiet:
    assert probe is not None
    assert probe.done.wait(REQUEST_TIMEOUT_SECONDS + 15), "probe watcher never finished"
    return probe


@pytest.mark.parametrize("mode", _modes())
def test_a_request_head_that_stops_is_dropped(servers: dict[str, Served], mode: str) -> None:
    probe = _wait(servers[mode].quiet_head)
    assert probe.closed_after is not None, f"{mode}: a half-sent head was never dropped"
    assert REQUEST_TIMEOUT_SECONDS - 1 <= probe.closed_after <= REQUEST_TIMEOUT_SECONDS + 5, (
        probe.closed_after
    )


@pytest.mark.parametrize("mode", _modes())
def test_a_request_body_that_stops_is_dropped(servers: dict[str, Served], mode: str) -> None:
    probe = _wait(servers[mode].quiet_body)
    assert probe.closed_after is not None, f"{mode}: a half-sent body was never dropped"
    # One request timeout, then at most the lingering close.
    assert REQUEST_TIMEOUT_SECONDS - 1 <= probe.closed_after <= REQUEST_TIMEOUT_SECONDS + 5, (
        probe.closed_after
    )
    assert probe.answer.startswith(b"HTTP/1.1 408 "), probe.answer[:300]


@pytest.mark.parametrize("mode", _modes())
def test_listening_socketio_clients_stay_connected(servers: dict[str, Served], mode: str) -> None:
    """Longer than a ping interval and than the request timeout: a websocket
    between pings and a long-polling GET waiting for one are not quiet
    clients to drop."""
    served = servers[mode]
    assert max(PING_INTERVAL, REQUEST_TIMEOUT_SECONDS) < QUIET_FOR
    # Production's values are in the order the shortened ones keep.
    assert connections.REQUEST_TIMEOUT_SECONDS < web_app.PING_INTERVAL_SECONDS
    assert REQUEST_TIMEOUT_SECONDS < PING_INTERVAL
    time.sleep(max(0.0, served.clients_since + QUIET_FOR - time.monotonic()))
    assert served.dropped == [], f"{mode}: dropped {served.dropped}"
    for transport, client in served.clients.items():
        assert client.connected, f"{mode}: {transport} client disconnected"
        assert client.transport() == transport


@pytest.mark.parametrize("mode", _modes())
def test_an_ended_websocket_closes_its_connection(servers: dict[str, Served], mode: str) -> None:
    """When a websocket ends (the client's close frame), the server answers
    the close and closes the TCP connection, as RFC 6455 has the server do,
    instead of waiting on it for a next request: a client's clean disconnect
    is then immediate (gevent and werkzeug once held it until the client's
    own 3 s close timeout)."""
    served = servers[mode]
    connection = _connect(served.server.port)
    connection.sendall(upgrade_request(served.server.port))
    opened, _ = _read_head(connection)
    assert opened.startswith(b"HTTP/1.1 101"), opened[:200]
    # A masked close frame, status 1000 (the mask is zero: servers check the bit).
    connection.sendall(b"\x88\x82\0\0\0\0\x03\xe8")
    answer, closed = _read_until_closed(connection, CLOSE_WITHIN)
    connection.close()
    assert b"\x88" in answer, answer[:200]  # the server's close frame
    assert closed is not None, f"{mode}: the connection stayed open after the websocket ended"


@pytest.mark.parametrize("mode", _modes())
def test_no_close_wait_sockets_are_left(servers: dict[str, Served], mode: str) -> None:
    """After every probe above (and their clients' close), the server has
    closed its side of each connection."""
    served = servers[mode]
    for probe in (served.quiet_head, served.quiet_body):
        _wait(probe).connection.close()
    assert served.server.process is not None
    pid = served.server.process.pid
    deadline = time.monotonic() + CLOSE_WITHIN
    while (count := _close_wait_sockets(pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert count == 0, f"{mode}: {count} CLOSE-WAIT socket(s)"
    log = served.server.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
