"""Transport settings that the benchmark showed matter, checked on a real
server: no per-message deflate, eventlet past its 1,024-connection default,
and the raised garbage-collector threshold."""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import socket
from typing import Any

import pytest
import requests
from werkzeug.test import EnvironBuilder

pytestmark = pytest.mark.slow


def _upgrade_request(port: int, extensions: str | None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _open_websocket(port: int, extensions: str | None = None) -> tuple[socket.socket, str]:
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(_upgrade_request(port, extensions))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = connection.recv(4096)
        if not chunk:
            break
        head += chunk
    return connection, head.split(b"\r\n\r\n")[0].decode("latin-1")


# The eventlet cases share one server (server_per_module, a shop each): each
# only reads what the server does, and a start costs seconds.
@pytest.mark.parametrize(
    "mode",
    [pytest.param("eventlet", marks=pytest.mark.server_per_module), "gevent", "threading"],
)
def test_websocket_handshake_refuses_permessage_deflate(mode, request):
    request.node.add_marker(pytest.mark.async_mode(mode))
    server, _shop = request.getfixturevalue("live")
    connection, head = _open_websocket(server.port, "permessage-deflate; client_max_window_bits")
    try:
        assert head.startswith("HTTP/1.1 101"), head
        assert "sec-websocket-extensions" not in head.lower(), head
    finally:
        connection.close()


@pytest.mark.async_mode("eventlet")
@pytest.mark.server_per_module
def test_eventlet_serves_more_than_1024_connections(live):
    server, _shop = live
    wanted = 1100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    opened = []
    try:
        for _ in range(wanted):
            connection, head = _open_websocket(server.port)
            assert head.startswith("HTTP/1.1 101"), head
            opened.append(connection)
        # Every connection holds a green thread; with the default pool of 1,024
        # the next request would wait forever.
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
        metrics = requests.get(f"{server.url}/metrics", timeout=5).text
        assert "baylight_socket_connections" in metrics
    finally:
        for connection in opened:
            connection.close()


@pytest.mark.async_mode("eventlet")
@pytest.mark.server_per_module
def test_gc_threshold_is_raised_in_the_server(live):
    server, _shop = live
    metrics = requests.get(f"{server.url}/metrics", timeout=5).text
    found = re.search(r'baylight_gc_threshold\{generation="0"\} (\d+)', metrics)
    assert found, metrics
    assert int(found.group(1)) >= 10_000


def _seen_by_app(environ: dict) -> dict:
    from shared.web.app import gateway

    seen: dict = {}

    def inner(env: dict, start_response: object) -> list[bytes]:
        seen.update(env)
        return []

    gateway(inner)(environ, lambda *a: None)
    return seen


def test_gateway_trusts_forwarded_headers_from_loopback_only() -> None:
    forwarded = {
        "HTTP_X_FORWARDED_FOR": "203.0.113.7",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_HOST": "shop.example:8443",
        "HTTP_HOST": "127.0.0.1:5000",
        "wsgi.url_scheme": "http",
    }
    local = _seen_by_app({**forwarded, "REMOTE_ADDR": "127.0.0.1"})
    assert local["REMOTE_ADDR"] == "203.0.113.7"
    assert local["wsgi.url_scheme"] == "https"
    assert local["HTTP_HOST"] == "shop.example:8443"
    # ProxyFix's record of the replaced values is not kept: a websocket
    # holds its environ for its whole life.
    assert "werkzeug.proxy_fix.orig" not in local
    remote = _seen_by_app({**forwarded, "REMOTE_ADDR": "192.0.2.10"})
    assert remote["REMOTE_ADDR"] == "192.0.2.10"
    assert remote["wsgi.url_scheme"] == "http"
    assert remote["HTTP_HOST"] == "127.0.0.1:5000"


def test_gateway_drops_the_compression_offer() -> None:
    seen = _seen_by_app(
        {"REMOTE_ADDR": "192.0.2.10", "HTTP_SEC_WEBSOCKET_EXTENSIONS": "permessage-deflate"}
    )
    assert "HTTP_SEC_WEBSOCKET_EXTENSIONS" not in seen


def test_a_socket_keeps_the_environ_the_server_handed_in(app: Any, socketio: Any) -> None:
    """Flask-SocketIO's middleware would hand Engine.IO a copy of the
    environ, which each websocket would hold beside the server's own for its
    whole life; the gateway hands over the server's, with ``flask.app``."""
    environ = EnvironBuilder(
        path="/socket.io/", query_string="EIO=4&transport=polling"
    ).get_environ()
    environ["REMOTE_ADDR"] = "192.0.2.10"
    statuses: list[str] = []
    body = b"".join(app.wsgi_app(environ, lambda status, *_: statuses.append(status)))
    assert statuses == ["200 OK"], body
    sid = json.loads(body[1:])["sid"]
    assert socketio.server.environ[sid] is environ
    assert environ["flask.app"] is app


@pytest.mark.async_mode("eventlet")
@pytest.mark.server_per_module
def test_eventlet_small_buffers_still_carry_large_answers_whole(live):
    # The server runs with 2 KiB read and write buffers (shared.server);
    # importing eventlet here, unpatched, is not an option.
    from shared.server import EVENTLET_BUFFER_BYTES

    server, shop = live
    answer = requests.get(f"{server.url}/api/v1/openapi.json", timeout=10)
    assert answer.status_code == 200
    assert len(answer.content) > 20 * EVENTLET_BUFFER_BYTES
    assert int(answer.headers.get("Content-Length", len(answer.content))) == len(answer.content)
    assert answer.json()["openapi"].startswith("3.")
    # A request body larger than the read buffer arrives whole too: an order
    # whose complaint is the longest allowed, 2,000 characters (6 KB of UTF-8).
    complaint = "刹车异响" * 500
    created = requests.post(
        f"{server.url}/api/v1/orders",
        json={"plate": "粤B77777", "complaint": complaint},
        headers=shop.headers("advisor"),
        timeout=10,
    )
    assert created.status_code in (200, 201), created.text
    assert created.json()["complaint"] == complaint
