"""Socket.IO handlers (default namespace): authenticate on connect, put the
connection in the one room its audience allows, send the snapshot (or what it
missed since ``auth.since``), and answer ``resync``.

The room is decided here, from the credential; a client never names one.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from flask import request, session
from flask_socketio import ConnectionRefusedError, SocketIO, emit, join_room

from shared.realtime.publisher import customer_room, lounge_room, staff_room
from shared.services import devices, queries
from shared.services.auth import Principal, resolve_bearer, resolve_customer
from shared.services.core import Core
from shared.web.staff_session import principal_from_session


@dataclass(frozen=True)
class Connection:
    """What the server knows of one socket: who it is and how to re-check it."""

    principal: Principal
    token: str | None


class FailureWindow:
    """Refused credentials per client address over the last minute. Guessing
    customer links over Socket.IO is stopped like guessing them over HTTP."""

    def __init__(self, limit: int = 30, seconds: float = 60.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(address, deque())
        while failures and now - failures[0] > self.seconds:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return deque()
        return failures

    def blocked(self, address: str) -> bool:
        return len(self._recent(address, time.monotonic())) >= self.limit

    def failed(self, address: str) -> None:
        self._recent(address, time.monotonic())
        self._failures.setdefault(address, deque()).append(time.monotonic())


def _authenticate(core: Core, token: str | None) -> Principal | None:
    if token:
        principal = resolve_bearer(core, token)
        if principal is not None:
            return principal
        found = resolve_customer(core, token, core.now())
        return found[0] if found else None
    return principal_from_session(core, session)


def _token(auth: Any) -> str | None:
    token = auth.get("token") if isinstance(auth, dict) else None
    return token if isinstance(token, str) and token else None


def _room(principal: Principal) -> str:
    if principal.audience == "customer" and principal.order_id is not None:
        return customer_room(principal.order_id)
    if principal.audience == "lounge":
        return lounge_room(principal.shop_id)
    return staff_room(principal.shop_id)


def _since(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _catch_up(core: Core, principal: Principal, since: int | None) -> None:
    """Send what was missed after ``since`` as ``order`` messages, or a snapshot."""
    messages = queries.missed(core, principal, since) if since is not None else None
    if messages is None:
        emit("snapshot", queries.snapshot(core, principal))
        return
    for message in messages:
        emit("order", message)
    core.metrics.emitted(principal.audience, len(messages))


SEQ_CACHE_SECONDS = 1.0
LAST_SEEN_SECONDS = 60.0


class Hub:
    """One per app: the connections of this process (by Socket.IO sid,
    server-side only) and the refused-credential window."""

    def __init__(self, socketio: SocketIO, core: Core) -> None:
        self.socketio = socketio
        self.core = core
        self.connections: dict[str, Connection] = {}
        self.refused = FailureWindow()
        self._seq_cache: dict[int, tuple[float, int]] = {}
        self._touched: dict[str, float] = {}

    def connect(self, auth: Any) -> bool:
        token = _token(auth)
        address = request.remote_addr or "?"
        if self.refused.blocked(address):
            raise ConnectionRefusedError("rate_limited")
        principal = _authenticate(self.core, token)
        if principal is None:
            self.refused.failed(address)
            raise ConnectionRefusedError("unauthorized")
        self.connections[request.sid] = Connection(principal, token)  # type: ignore[attr-defined]
        join_room(_room(principal))
        self.core.metrics.connected()
        self.note_alive(principal)
        since = _since(auth.get("since")) if isinstance(auth, dict) else None
        _catch_up(self.core, principal, since)
        return True

    def disconnect(self) -> None:
        if self.connections.pop(request.sid, None) is not None:  # type: ignore[attr-defined]
            self.core.metrics.disconnected()

    def current(self) -> Connection | None:
        return self.connections.get(request.sid)  # type: ignore[attr-defined]

    def resync(self, data: Any) -> None:
        connection = self.current()
        if connection is None:
            return
        since = _since(data.get("since")) if isinstance(data, dict) else None
        _catch_up(self.core, connection.principal, since)

    def seq(self) -> dict[str, int]:
        """Cheap check a screen runs periodically: the server's newest seq,
        which catches a silently lost message-queue delivery. It also re-checks
        the credential, so a revoked screen or an expired customer link is
        dropped even when the revocation happened in another process."""
        sid = request.sid  # type: ignore[attr-defined]
        connection = self.connections.get(sid)
        if connection is None:
            return {"seq": -1}
        if _authenticate(self.core, connection.token) is None:
            self.socketio.server.disconnect(sid)
            return {"seq": -1}
        self.note_alive(connection.principal)
        return {"seq": self.shop_seq(connection.principal.shop_id)}

    def note_alive(self, principal: Principal) -> None:
        """Record a paired screen's last sign of life, once a minute at most
        (decided in memory first, so most checks write nothing)."""
        if principal.kind != "device":
            return
        now = time.monotonic()
        if now - self._touched.get(principal.ref, -LAST_SEEN_SECONDS) < LAST_SEEN_SECONDS:
            return
        self._touched[principal.ref] = now
        devices.touch_device(self.core, int(principal.ref.split(":", 1)[1]))

    def shop_seq(self, shop_id: int) -> int:
        """The shop's newest seq, read at most once a second per process:
        thousands of screens asking every 15 s cost one query a second."""
        now = time.monotonic()
        cached = self._seq_cache.get(shop_id)
        if cached is None or now - cached[0] > SEQ_CACHE_SECONDS:
            cached = (now, queries.current_seq(self.core, shop_id))
            self._seq_cache[shop_id] = cached
        return cached[1]

    def queue(self) -> dict[str, int]:
        """The reception queue for the lounge TV: cars ahead, minutes to wait."""
        connection = self.current()
        if connection is None or connection.principal.audience == "customer":
            return {"ahead": -1, "wait_minutes": -1}
        return queries.lounge_queue(self.core, connection.principal.shop_id)

    def drop(self, ref: str) -> int:
        """Disconnect every socket of one principal (logout, revoked device)."""
        dropped = 0
        for sid, connection in list(self.connections.items()):
            if connection.principal.ref == ref:
                self.socketio.server.disconnect(sid)
                dropped += 1
        return dropped


def register(socketio: SocketIO, core: Core) -> Hub:
    hub = Hub(socketio, core)
    socketio.on_event("connect", hub.connect)
    socketio.on_event("disconnect", lambda *_args: hub.disconnect())
    socketio.on_event("resync", hub.resync)
    socketio.on_event("seq", lambda _data=None: hub.seq())
    socketio.on_event("queue", lambda _data=None: hub.queue())
    _hubs[id(socketio)] = hub
    return hub


_hubs: dict[int, Hub] = {}


def drop_principal_connections(socketio: SocketIO, ref: str) -> int:
    """Disconnect every socket of one principal on this app's hub."""
    hub = _hubs.get(id(socketio))
    return hub.drop(ref) if hub is not None else 0
