"""Socket.IO handlers (default namespace): authenticate on connect, put the
connection in the one room its audience allows, send the snapshot (or what it
missed since ``auth.since``), and answer ``resync``.

The room is decided here, from the credential; a client never names one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request, session
from flask_socketio import SocketIO, emit, join_room

from shared.realtime.publisher import customer_room, lounge_room, staff_room
from shared.services import queries
from shared.services.auth import Principal, resolve_bearer, resolve_customer
from shared.services.core import Core
from shared.web.staff_session import principal_from_session


@dataclass(frozen=True)
class Connection:
    """What the server knows of one socket: who it is and how to re-check it."""

    principal: Principal
    token: str | None


# Connections of this process by Socket.IO sid, server-side only.
_connections: dict[str, Connection] = {}


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


def register(socketio: SocketIO, core: Core) -> None:
    @socketio.on("connect")
    def on_connect(auth: Any = None) -> bool:
        token = _token(auth)
        principal = _authenticate(core, token)
        if principal is None:
            return False
        _connections[request.sid] = Connection(principal, token)  # type: ignore[attr-defined]
        join_room(_room(principal))
        core.metrics.connected()
        since = _since(auth.get("since")) if isinstance(auth, dict) else None
        _catch_up(core, principal, since)
        return True

    @socketio.on("disconnect")
    def on_disconnect(*_args: Any) -> None:
        if _connections.pop(request.sid, None) is not None:  # type: ignore[attr-defined]
            core.metrics.disconnected()

    @socketio.on("resync")
    def on_resync(data: Any = None) -> None:
        connection = _connections.get(request.sid)  # type: ignore[attr-defined]
        if connection is None:
            return
        since = _since(data.get("since")) if isinstance(data, dict) else None
        _catch_up(core, connection.principal, since)

    _register_queue(socketio, core)

    @socketio.on("seq")
    def on_seq(_data: Any = None) -> dict[str, int]:
        """Cheap check a screen runs periodically: the server's newest seq,
        which catches a silently lost message-queue delivery. It also re-checks
        the credential, so a revoked screen or an expired customer link is
        dropped even when the revocation happened in another process."""
        sid = request.sid  # type: ignore[attr-defined]
        connection = _connections.get(sid)
        if connection is None:
            return {"seq": -1}
        if _authenticate(core, connection.token) is None:
            socketio.server.disconnect(sid)
            return {"seq": -1}
        return {"seq": queries.current_seq(core, connection.principal.shop_id)}


def _register_queue(socketio: SocketIO, core: Core) -> None:
    @socketio.on("queue")
    def on_queue(_data: Any = None) -> dict[str, int]:
        """The reception queue for the lounge TV: cars ahead, minutes to wait."""
        connection = _connections.get(request.sid)  # type: ignore[attr-defined]
        if connection is None or connection.principal.audience == "customer":
            return {"ahead": -1, "wait_minutes": -1}
        return queries.lounge_queue(core, connection.principal.shop_id)


def drop_principal_connections(socketio: SocketIO, ref: str) -> int:
    """Disconnect every socket of one principal (logout, revoked device)."""
    dropped = 0
    for sid, connection in list(_connections.items()):
        if connection.principal.ref == ref:
            socketio.server.disconnect(sid)
            dropped += 1
    return dropped
