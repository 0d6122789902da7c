"""How long a client's connection is held, and how it ends when the
application answers without reading the request body, in each WSGI server.

Left to their defaults, eventlet, gevent and werkzeug wait without limit for
a client that stops sending in the middle of a request head or body, so a
client that opens connections and goes quiet holds a file descriptor and a
(green) thread each for ever. And after an answer given before the body was
read (a refusal such as 413, or Engine.IO's answer to an unknown session),
eventlet and gevent read the rest of the declared body to reach the next
request on the connection, and werkzeug keeps reading until the client stops
sending: the client decides how long the connection lives.

Here, per server (the server classes are built on demand, so importing this
module imports none of the servers):

- every wait for the client's bytes of a request (the head, the body, and
  the pause before the next request on a kept-alive connection) is bounded
  by ``REQUEST_TIMEOUT_SECONDS``;
- an upgraded (websocket) connection waits up to
  ``WEBSOCKET_TIMEOUT_SECONDS`` between frames: longer than Engine.IO's
  liveness window (a ping every 20 s, answered within 20 s), so only a dead
  client reaches it;
- the WSGI front (``shared.web.app.gateway``) counts what the application
  reads of a body with :func:`watch_body`. When the answer starts before the
  body is read to its end, it calls the server's ``CLOSE_UNREAD`` hook from
  the environ: the answer carries ``Connection: close``, nothing more of the
  body is read, and the connection is closed in stages (:func:`linger`).

The timeouts bound each wait, not a whole request: a client that trickles a
byte every few seconds is bounded by the connection limits, not by these.
"""

from __future__ import annotations

import contextlib
import io
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

# Each wait for a request's bytes: head, body, or the next request on a
# kept-alive connection (an idle one is closed after it; clients open a new
# one). Shorter than Engine.IO's ping interval (20 s): the only client that
# is legitimately silent longer is a websocket between pings, which has its
# own timeout, and a long-polling GET waits on the server, not on a read.
REQUEST_TIMEOUT_SECONDS = 15

# Each wait between frames of an upgraded connection: above Engine.IO's
# ping interval plus ping timeout (40 s), after which Engine.IO itself has
# given the client up.
WEBSOCKET_TIMEOUT_SECONDS = 60

# After an answer that leaves the body unread: how long the server keeps
# reading (and dropping) what the client still sends once it has sent its
# FIN, so the client reads the answer instead of a connection reset.
LINGER_SECONDS = 2
LINGER_READ_BYTES = 64 * 1024

# Environ key of the server's hook: "close the connection after this answer
# without reading the rest of the body".
CLOSE_UNREAD = "baylight.close_unread"

StartResponse = Callable[..., Any]


def exchange_timeout(headers: Any) -> float:
    """The wait allowed once a request head is in: the websocket one for an
    upgrade, the request one for everything else."""
    upgrade = str(headers.get("Upgrade") or "")
    if upgrade.lower() == "websocket":
        return WEBSOCKET_TIMEOUT_SECONDS
    return REQUEST_TIMEOUT_SECONDS


def linger(connection: Any) -> None:
    """Close in stages (RFC 9112, section 9.6): send FIN after the answer,
    then drop what the client still sends until it closes too, for at most
    ``LINGER_SECONDS``. Closing at once with unread bytes in the kernel
    would send a reset that can destroy the answer before the client reads
    it."""
    deadline = time.monotonic() + LINGER_SECONDS
    try:
        connection.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            connection.settimeout(left)
            if not connection.recv(LINGER_READ_BYTES):
                return
    except OSError:
        return


def declared_length(environ: dict[str, Any]) -> int | None:
    """The body length the request declares: 0 for none, None when it is not
    known in advance (chunked, or a Content-Length that is not a number)."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    raw = environ.get("CONTENT_LENGTH") or "0"
    try:
        return max(int(raw), 0)
    except ValueError:
        return None


class CountedInput:
    """``wsgi.input`` that notes whether the application read the body to its
    end: the only way to know, on every server, whether an answer leaves part
    of the body on the connection."""

    __slots__ = ("ended", "left", "stream")

    def __init__(self, stream: Any, length: int | None) -> None:
        self.stream = stream
        self.left = length
        self.ended = False

    def _seen(self, data: bytes, asked: int | None) -> bytes:
        if not data:
            if asked != 0:
                self.ended = True
        elif self.left is not None:
            self.left -= len(data)
            self.ended = self.left <= 0
        return data

    # The size is passed on only when given: servers differ in what a
    # missing size, None and -1 mean (eventlet reads -1 as "until the client
    # closes").
    def read(self, *size: int | None) -> bytes:
        return self._seen(self.stream.read(*size), size[0] if size else None)

    def readline(self, *size: int | None) -> bytes:
        return self._seen(self.stream.readline(*size), size[0] if size else None)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines = list(self.stream.readlines(hint))
        if not lines:
            self.ended = True
        for line in lines:
            self._seen(line, None)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            yield self._seen(line, None)
        self.ended = True


def watch_body(environ: dict[str, Any], start_response: StartResponse) -> StartResponse:
    """For a request with a body: count what the application reads of it, and
    return a ``start_response`` that, when the answer comes before the end
    of the body, has the server close the connection without reading the
    rest. Without a body the connection is left as it is."""
    length = declared_length(environ)
    if length == 0:
        return start_response
    body = CountedInput(environ["wsgi.input"], length)
    environ["wsgi.input"] = body

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if not body.ended:
            close = environ.get(CLOSE_UNREAD)
            if close is None:
                # A server without the hook: ask in HTTP.
                headers = [*headers, ("Connection", "close")]
            else:
                close()
        return start_response(status, headers, exc_info)

    return start


def buffer_body(environ: dict[str, Any], limit: int) -> str | None:
    """Read the whole body before the application sees it, for an
    application that must not meet a client's stalled or oversized body
    (Engine.IO logs a traceback for a read that times out, and answers an
    oversized POST to an unknown session without looking at its length).

    Returns None when the body is in memory (``wsgi.input`` then reads it
    from there), otherwise the status line of the refusal to answer:
    413 over ``limit``, 411 without a length, 408 when the client stopped
    sending or closed before the end."""
    length = declared_length(environ)
    if length is None:
        return "411 Length Required"
    if length > limit:
        return "413 Content Too Large"
    try:
        body = environ["wsgi.input"].read(length) if length else b""
    except OSError:
        return "408 Request Timeout"
    if len(body) < length:
        return "408 Request Timeout"
    environ["wsgi.input"] = io.BytesIO(body)
    return None


def is_upgrade(environ: dict[str, Any]) -> bool:
    """A websocket upgrade: once it ends, its connection carries nothing more."""
    return str(environ.get("HTTP_UPGRADE", "")).lower() == "websocket"


def _names_connection(headers: list[tuple[str, str]]) -> bool:
    return any(name.lower() == "connection" for name, _ in headers)


# ------------------------------------------------------------------ servers


def eventlet_protocol(buffer_bytes: int) -> type:
    """eventlet's request handler with request buffers of ``buffer_bytes``,
    the websocket timeout on upgrades, and the ``CLOSE_UNREAD`` hook. The
    request timeout itself is the server's ``socket_timeout`` and
    ``keepalive`` (``shared.server.run_kwargs``)."""
    from eventlet import wsgi

    class BoundedHttpProtocol(wsgi.HttpProtocol):
        rbufsize = buffer_bytes
        wbufsize = buffer_bytes
        body_abandoned = False

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            self.connection.settimeout(exchange_timeout(self.headers))
            return True

        def get_environ(self) -> dict[str, Any]:
            environ: dict[str, Any] = super().get_environ()
            environ[CLOSE_UNREAD] = self.close_unread
            return environ

        def close_unread(self) -> None:
            # Set before the answer's head is written: eventlet then sends
            # "Connection: close" and skips reading the rest of the body.
            self.body_abandoned = True
            self.close_connection = 1

        def finish(self) -> None:
            if self.body_abandoned:
                with contextlib.suppress(OSError):
                    self.wfile.flush()
                linger(self.connection)
            super().finish()

    return BoundedHttpProtocol


def gevent_handler() -> type:
    """gevent's request handler with both timeouts and the ``CLOSE_UNREAD``
    hook."""
    from gevent import pywsgi

    class BoundedWSGIHandler(pywsgi.WSGIHandler):
        body_abandoned = False
        upgraded = False

        def read_requestline(self) -> str:
            self.socket.settimeout(REQUEST_TIMEOUT_SECONDS)
            line: str = super().read_requestline()
            return line

        def read_request(self, raw_requestline: str) -> Any:
            parsed = super().read_request(raw_requestline)
            if parsed:
                self.socket.settimeout(exchange_timeout(self.headers))
            return parsed

        def _handle_client_error(self, ex: BaseException) -> Any:
            # A head that stopped arriving: close quietly (gevent would
            # print a traceback and answer 400 to a client that is gone).
            if isinstance(ex, TimeoutError):
                return None
            return super()._handle_client_error(ex)

        def get_environ(self) -> Any:
            environ = super().get_environ()
            environ[CLOSE_UNREAD] = self.close_unread
            self.upgraded = is_upgrade(environ)
            return environ

        def close_unread(self) -> None:
            self.body_abandoned = True
            self.close_connection = True
            # gevent reads what is left of the body after every answer; a
            # body that ends where the application stopped leaves nothing.
            body = self.wsgi_input
            body.content_length = body.position
            body.chunked_input = False

        def start_response(
            self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            if self.body_abandoned and not _names_connection(headers):
                # gevent names the closing only to HTTP/1.0 clients.
                headers = [*headers, ("Connection", "close")]
            return super().start_response(status, headers, exc_info)

        def handle_one_request(self) -> Any:
            result = super().handle_one_request()
            if self.body_abandoned and self.socket is not None:
                linger(self.socket)
            if self.upgraded:
                # The websocket has ended: close the connection (RFC 6455
                # has the server close TCP first) instead of waiting on it
                # for a next request no client will send.
                return None
            return result

    return BoundedWSGIHandler


def werkzeug_handler() -> type:
    """werkzeug's request handler with both timeouts and the
    ``CLOSE_UNREAD`` hook. werkzeug closes the connection after every
    answer already; the hook stops it from first reading the rest of the
    body (it reads until the client pauses, and its reads wait for 10 MB)."""
    from werkzeug.serving import WSGIRequestHandler

    class BoundedRequestHandler(WSGIRequestHandler):
        timeout = REQUEST_TIMEOUT_SECONDS
        body_abandoned = False

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            self.connection.settimeout(exchange_timeout(self.headers))
            return True

        def make_environ(self) -> Any:
            environ = super().make_environ()
            environ[CLOSE_UNREAD] = self.close_unread
            if is_upgrade(environ):
                # The websocket has ended when the answer has: close the
                # connection instead of waiting on it for a next request.
                self.close_connection = True
            return environ

        def close_unread(self) -> None:
            self.body_abandoned = True
            self.rfile.close()
            self.rfile = io.BytesIO()

        def finish(self) -> None:
            if self.body_abandoned:
                linger(self.connection)
            super().finish()

    return BoundedRequestHandler


# How long werkzeug's handler waits, after a websocket the client closed,
# for simple-websocket's reader thread to send the answering close frame.
# It is sending it already (microseconds); the bound only guards against a
# send that never returns.
CLOSE_ANSWER_SECONDS = 5.0


def werkzeug_websocket() -> type:
    """Engine.IO's websocket for the threading mode (simple-websocket on
    werkzeug), answering a client's close frame before the connection is
    closed.

    simple-websocket's reader thread marks the websocket closed and wakes
    the handler, then sends the answering close frame. The handler may run
    first: it returns, werkzeug closes the connection, and the answer is
    never sent (the client's close then ends without the server's, against
    RFC 6455; measured on a loaded host, 8 of 200 closes). Once the
    client's close has been answered in the protocol state, the handler
    waits for the reader thread, which exits right after sending it."""
    from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI
    from wsproto.connection import ConnectionState

    class AnsweringWebSocket(SimpleWebSocketWSGI):
        def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
            try:
                return super().__call__(environ, start_response)
            finally:
                ws = getattr(self, "ws", None)
                if ws is not None and ws.ws.state is ConnectionState.CLOSED:
                    ws.thread.join(CLOSE_ANSWER_SECONDS)

    return AnsweringWebSocket
