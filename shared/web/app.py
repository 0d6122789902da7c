"""The application factory: one app, extensions created unbound and attached
here, a Socket.IO server whose async mode is always passed explicitly."""

from __future__ import annotations

import gc
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from flask import Flask, redirect
from flask.typing import ResponseReturnValue
from flask_socketio import SocketIO
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from shared.config import ROOT, Settings
from shared.metrics import Metrics
from shared.persistence.database import Database, upgrade_schema
from shared.realtime import hub
from shared.realtime.external import channel_for
from shared.realtime.guard import GuardedSocketIO
from shared.realtime.publisher import Publisher
from shared.services.core import Core
from shared.web import (
    api_appointments,
    api_booking,
    api_comebacks,
    api_notifications,
    api_reports,
    api_shop_admin,
    api_staff,
    api_tokens,
    i18n,
    ops,
    problems,
    rate_storage,
    security,
    staff_session,
)
from shared.web.api import blueprint as api_blueprint
from shared.web.connections import buffer_body, watch_body
from shared.web.cookie_session import CookieSessions
from shared.web.extensions import csrf, limiter
from shared.web.photos import blueprint as photos_blueprint

__all__ = ["create_app", "csrf", "limiter", "raise_gc_threshold"]


# Young-generation size between collections. Python's default (700) runs a
# collection every few emits; at 50,000 each collection stalled the process
# for 17-37 ms (measured with gc.callbacks in the rooms benchmark), longer
# than the whole latency budget. At 10,000 the longest was 12 ms and the
# total time in collections was lower.
GC_YOUNG_THRESHOLD = 10_000


def raise_gc_threshold() -> None:
    """Fewer, larger young-generation collections: many small dicts per emit
    otherwise trigger collections that stall every connection at once; the
    objects alive at start-up are frozen out of every later collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 50, 100)


# The largest body Engine.IO accepts: a long-polling POST, or one websocket
# message (eventlet's frame limit). Socket.IO clients send small commands.
SOCKET_BODY_BYTES = 64 * 1024
ENGINEIO_PATH = "/socket.io/"
# Engine.IO's ping interval, and how long a ping may wait for its answer.
# A module constant so that a test's own server process may shorten it
# (tests/test_transport_limits.py waits out a whole interval); not a setting.
PING_INTERVAL_SECONDS = 20
PING_TIMEOUT_SECONDS = 20
PROXY_FIX_ORIGINALS = "werkzeug.proxy_fix.orig"


def rewritten(_environ: dict[str, Any], _start_response: Any) -> list[bytes]:
    """The app ProxyFix wraps in ``gateway``: nothing; the gateway only wants
    the environ ProxyFix rewrote."""
    return []


def gateway(
    app: Any, *, socket_body_bytes: int = SOCKET_BODY_BYTES
) -> Callable[[dict[str, Any], Any], Any]:
    """The WSGI front of the app, as a plain function.

    Every nested WSGI object stays on each idle websocket's green-thread
    stack for the connection's life; a plain function runs inside its
    caller's frame instead, and ProxyFix does its work and returns before
    the app is called. Measured: 68 → 62 KiB per connection together with
    eventlet's smaller buffers (shared.server).

    - Hands Socket.IO requests to Engine.IO itself, past Flask-SocketIO's
      middleware (which would keep a second copy of each websocket's
      environ), and everything else to the app.
    - Drops the client's offer of permessage-deflate, so every async mode
      sends uncompressed frames (measured: ~3× lower tail latency and ~2×
      less memory per connection).
    - Behind nginx on this host (deploy/), takes client address, scheme and
      host from X-Forwarded-*; from anyone else, ignores those headers, which
      a client could forge.
    - Reads an Engine.IO POST's body before Engine.IO sees it: over
      ``SOCKET_BODY_BYTES`` it answers 413 without reading (for an unknown
      session Engine.IO would answer 400 without looking at the length); a
      body that stops arriving is answered 408 (Engine.IO would log the
      timeout as its own error).
    - Closes the connection after any answer that leaves the body unread,
      instead of letting the server read the rest as the next request
      (shared.web.connections).
    """

    # ProxyFix rewrites the environ in place and then calls the app it wraps;
    # wrapped around a function that returns at once, it leaves nothing on
    # the stack of the request (a websocket's for its whole life).
    proxy_fix = ProxyFix(rewritten, x_for=1, x_proto=1, x_host=1)
    # Flask-SocketIO's middleware (``app`` here) hands a Socket.IO request to
    # Engine.IO with a copy of the environ that has ``flask.app`` added; a
    # websocket would hold that copy beside the server's own for its whole
    # life. The gateway adds ``flask.app`` to the environ it has and hands
    # the request over itself.
    engineio = getattr(app, "engineio_app", None)
    flask_app = getattr(app, "flask_app", None)

    def front(environ: dict[str, Any], start_response: Any) -> Any:
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        start_response = watch_body(environ, start_response)
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO", "").startswith(
            ENGINEIO_PATH
        ):
            refusal = buffer_body(environ, socket_body_bytes)
            if refusal is not None:
                answer = refusal.encode() + b"\n"
                start_response(
                    refusal,
                    [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))],
                )
                return [answer]
        if environ.get("REMOTE_ADDR") in ("127.0.0.1", "::1"):
            proxy_fix(environ, start_response)
            # The record of the headers ProxyFix replaced would stay in the
            # environ, which a websocket holds for its whole life (0.3 KiB of
            # each connection through nginx); nothing here reads it.
            environ.pop(PROXY_FIX_ORIGINALS, None)
        if engineio is not None and environ.get("PATH_INFO", "").startswith(ENGINEIO_PATH):
            environ["flask.app"] = flask_app
            return engineio.handle_request(environ, start_response)
        return app(environ, start_response)

    return front


class RowIdConverter(IntegerConverter):
    """``<int:…>`` as a row id. A number past a signed 64-bit id still
    matches the rule, as row 0, which no table holds: the view answers an
    ordinary 404. Refusing it in the converter instead would reach the
    database driver as an OverflowError, or make werkzeug answer 405 where
    another method's rule has the same path."""

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= ROW_ID_MAX else 0


ROW_ID_MAX = 2**63 - 1


SCREENS_GROUP = "baylight.screens"


def register_screens(app: Flask) -> None:
    """Register the screens (kiosk/, board/) declared as entry points in
    pyproject.toml: shared/ stays free of imports of them."""
    found = sorted(entry_points(group=SCREENS_GROUP), key=lambda entry: entry.name)
    if not found:
        raise RuntimeError(f"no {SCREENS_GROUP} entry points: install the package (make run)")
    for entry in found:
        app.register_blueprint(entry.load())


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> tuple[Flask, SocketIO]:
    settings = settings or Settings.from_env()
    app = Flask(
        "baylight",
        root_path=str(ROOT / "shared"),
        static_folder=str(ROOT / "static"),
        static_url_path="/static",
        template_folder=str(ROOT / "shared" / "templates"),
        instance_path=str(settings.instance_path),
    )
    # Before any blueprint is registered: rules pick their converter when added.
    app.url_map.converters["int"] = RowIdConverter
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_https,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        TESTING=settings.testing,
        JSON_SORT_KEYS=False,
        RATELIMIT_STORAGE_URI=settings.message_queue or f"{rate_storage.SCHEME}://",
        # Redis down must not turn every API call into a 500: count in process
        # until it is back (Redis only carries fan-out and limits).
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_ENABLED=True,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    app.session_interface = CookieSessions()
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    database = Database(settings.database_url)
    if migrate:
        upgrade_schema(database)
    metrics = Metrics()
    publisher = Publisher(metrics)
    core = Core(settings=settings, db=database, publisher=publisher, metrics=metrics)
    app.extensions["baylight"] = core

    csrf.init_app(app)
    limiter.init_app(app)
    staff_session.login_manager.init_app(app)
    staff_session.login_manager.login_view = "staff_session.login"
    i18n.init_app(app, settings)
    problems.register(app)
    security.register(app, settings)
    ops.register(app)

    for rest_api in (
        api_blueprint,
        photos_blueprint,
        api_staff.blueprint,
        api_shop_admin.blueprint,
        api_tokens.blueprint,
        api_reports.blueprint,
        api_comebacks.blueprint,
        api_notifications.blueprint,
        api_appointments.blueprint,
        api_booking.blueprint,
    ):
        # Bearer tokens need no CSRF token; access.require checks it for
        # session cookies. One rate limit per caller.
        csrf.exempt(rest_api)
        app.register_blueprint(rest_api)
        limiter.limit("600 per minute", key_func=security.rate_key)(rest_api)
    app.register_blueprint(staff_session.blueprint)

    register_screens(app)

    @app.get("/")
    def index() -> ResponseReturnValue:
        return redirect("/board")

    socketio = GuardedSocketIO(
        app,
        async_mode=settings.async_mode,
        message_queue=settings.message_queue or None,
        channel=channel_for(settings.message_queue) if settings.message_queue else "baylight",
        cors_allowed_origins=security.OriginCheck(settings),
        ping_interval=PING_INTERVAL_SECONDS,
        ping_timeout=PING_TIMEOUT_SECONDS,
        max_http_buffer_size=SOCKET_BODY_BYTES,
        http_compression=True,
        manage_session=False,
        logger=False,
        engineio_logger=False,
    )
    publisher.emitter = socketio
    # The socket layer resolves cookie sessions by the web layer's one rule.
    app.extensions["baylight.hub"] = hub.register(
        socketio, core, staff_session.principal_from_session
    )
    app.wsgi_app = gateway(app.wsgi_app)  # type: ignore[method-assign,assignment]
    app.extensions["baylight.socketio"] = socketio
    return app, socketio
