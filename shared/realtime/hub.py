"""Socket.IO handlers (default namespace): authenticate on connect, put the
connection in the one room its audience allows, send the snapshot (or what it
missed since ``auth.since``), and answer ``resync``.

The room is decided here, from the credential; a client never names one.

Every open socket stays subject to its credential: each process re-checks the
credentials of its own sockets against the database every ``SWEEP_SECONDS``
(and at once after a revocation in the same process) and disconnects the
sockets whose credential is gone, whether or not the client ever asks
anything. With several workers each does so for its own sockets, so a
revocation made anywhere (another worker, the CLI, a direct database change)
reaches them all within one round.

After a restart every screen reconnects at once. What their connects share
is done once: a batch of tokens is resolved in one lookup (and a bearer
token's principal is remembered briefly, as for the REST API), the shops'
seqs are read in one query, last-seen times are written in one transaction
(``shared.realtime.gather``), and the snapshot for a shop and audience at a
seq is built and JSON-encoded once and the same encoded packet is sent to
each of them (``shared.services.snapshots``).

The hub lives on the app it serves (``app.extensions``, and on its Socket.IO
server for ``hub_of``), never in a module global. How a staff cookie session
becomes a principal is the web layer's rule: the app factory hands it in as
``sessions``, so this package imports nothing of ``shared.web``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from engineio import packet as eio_packet
from flask import request, session
from flask_socketio import ConnectionRefusedError, SocketIO, emit, join_room
from socketio import packet as sio_packet
from sqlalchemy import select, update

from shared.persistence.models import Device
from shared.realtime.gather import Gather
from shared.realtime.publisher import customer_room, lounge_room, staff_room
from shared.services import devices, queries
from shared.services.auth import (
    BEARER_MAX_CHARS,
    IN_LIST_CHUNK,
    Principal,
    current_bearers,
    current_customers,
    hash_secret,
    touch_tokens,
)
from shared.services.core import Core
from shared.services.snapshots import SnapshotCache

log = logging.getLogger(__name__)

NAMESPACE = "/"
# How often a process re-checks the credentials of its sockets. A revoked
# credential's sockets are cut within this (plus the round's queries) in
# every worker; a round over 2,000 screens costs a few batched queries.
SWEEP_SECONDS = 2.0

# How a staff cookie session (its contents) resolves to its principal now,
# or None: ``shared.web.staff_session.principal_from_session``, injected.
SessionResolver = Callable[[Core, Mapping[str, Any]], Principal | None]


@dataclass(frozen=True, slots=True)
class Credential:
    """What a socket authenticated with, kept to re-check it later.

    ``kind`` is ``bearer`` (API, device or kiosk token), ``customer`` (a
    capability link) or ``session`` (the staff cookie session; ``key`` is its
    contents as canonical JSON, so sockets of one session share one check).
    """

    kind: str
    key: str
    session: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)


def session_credential(cookie_session: Mapping[str, Any]) -> Credential:
    contents = dict(cookie_session)
    key = json.dumps(contents, sort_keys=True, default=str)
    return Credential("session", key, contents)


def current_principals(
    core: Core, credentials: Collection[Credential], sessions: SessionResolver | None = None
) -> dict[Credential, Principal]:
    """Each credential to its principal as the database has it now (no
    cache); a credential that no longer resolves is absent. Tokens and links
    are looked up in batches; each distinct staff session through
    ``sessions``, the one rule for cookie sessions (without it, no session
    resolves)."""
    distinct = set(credentials)
    found: dict[Credential, Principal] = {}
    bearers = current_bearers(core, [c.key for c in distinct if c.kind == "bearer"])
    customers = current_customers(
        core, [c.key for c in distinct if c.kind == "customer"], core.now()
    )
    for credential in distinct:
        principal: Principal | None
        if credential.kind == "bearer":
            principal = bearers.get(credential.key)
        elif credential.kind == "customer":
            principal = customers.get(credential.key)
        elif sessions is not None:
            principal = sessions(core, credential.session or {})
        else:
            principal = None
        if principal is not None:
            found[credential] = principal
    return found


@dataclass(frozen=True, slots=True)
class Connection:
    """What the server knows of one socket: who it is and how to re-check it."""

    principal: Principal
    credential: Credential


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


# A token is tried as a bearer token (API, device or kiosk) first, then as a
# customer link.
TOKEN_KINDS = ("bearer", "customer")


def resolve_tokens(core: Core, tokens: list[str]) -> dict[str, Connection]:
    """Connect tokens to their connections, as the database has them now:
    each bearer token and customer link of the batch in one IN list."""
    credentials = [Credential(kind, token) for token in tokens for kind in TOKEN_KINDS]
    found = current_principals(core, credentials)
    connections: dict[str, Connection] = {}
    for token in tokens:
        for kind in TOKEN_KINDS:
            principal = found.get(Credential(kind, token))
            if principal is not None:
                connections[token] = Connection(principal, Credential(kind, token))
                break
    return connections


def _cache_key(token: str) -> str | None:
    """The principal cache's key for a bearer token (``resolve_bearer``'s),
    or None for what is no bearer token (it may not even be hashable)."""
    if len(token) > BEARER_MAX_CHARS or not token.isascii():
        return None
    return hash_secret(token)


def touch_devices(core: Core, device_ids: list[int]) -> dict[int, None]:
    """``devices.touch_device`` for many screens: the last-seen times that
    are due (a minute old), written in one transaction, none when none is."""
    now = core.now()
    with core.db.read() as session:
        seen = session.execute(
            select(Device.id, Device.last_seen_at).where(Device.id.in_(device_ids))
        ).all()
    due = [
        device_id
        for device_id, last in seen
        if last is None or now - last >= devices.LAST_SEEN_EVERY
    ]
    if due:
        with core.db.write() as session:
            session.execute(update(Device).where(Device.id.in_(due)).values(last_seen_at=now))
            core.db.sync_commit(session)
    return {}


@dataclass(frozen=True)
class SnapshotMessage:
    """A snapshot's ``snapshot`` event as it goes on the wire, encoded once
    for every socket that receives it (the snapshot itself is not kept)."""

    seq: int
    packet: eio_packet.Packet


def _token(auth: Any) -> str | None:
    token = auth.get("token") if isinstance(auth, dict) else None
    return token if isinstance(token, str) and token else None


def _room(principal: Principal) -> str:
    if principal.audience == "customer" and principal.order_id is not None:
        return customer_room(principal.order_id)
    if principal.audience == "lounge":
        return lounge_room(principal.shop_id)
    return staff_room(principal.shop_id)


def release_routing_exception() -> None:
    """Drop the 404 that Flask put on a Socket.IO handler's request.

    Flask-SocketIO runs each handler in a request context built from the
    connection's environ; Flask matches its path (``/socket.io/``) against
    the app's routes on the way and keeps the ``NotFound`` on the request.
    That exception's traceback holds the frame whose ``self`` is the
    context, so request, context, exception and frames form a cycle that
    only the garbage collector frees: about 60 objects per connect. A
    connect that waits (for a batched lookup, for the database) is still
    alive when a young collection runs, so its cycle is moved to an older
    generation and freed only much later, in one go, leaving holes between
    the connections' long-lived objects that the allocator cannot hand
    back: 2,000 board connects in one room grew the server by 67 KiB each
    against the bare stack's 57. Without the exception, leaving the context
    frees it all at once. Nothing reads it: a Socket.IO handler is no view
    (the route match only serves views)."""
    request.routing_exception = None


# The largest seq a database column holds (signed 64-bit); a larger ``since``
# from a client is no seq at all.
MAX_SEQ = 2**63 - 1


def _since(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        return None
    return value


SEQ_CACHE_SECONDS = 1.0
LAST_SEEN_SECONDS = 60.0
# The in-memory "seen this minute" marks: cleared when this many (a mark
# lost only costs one more last-seen check).
TOUCHED_LIMIT = 10_000


class Hub:
    """One per app: the connections of this process (by Socket.IO sid,
    server-side only), the refused-credential window, and the sweep that
    keeps every connection's credential valid."""

    def __init__(
        self,
        socketio: SocketIO,
        core: Core,
        sessions: SessionResolver,
        sweep_seconds: float | None = None,
    ) -> None:
        self.socketio = socketio
        self.core = core
        self.sessions = sessions
        self.connections: dict[str, Connection] = {}
        self.refused = FailureWindow()
        # ``SWEEP_SECONDS`` is read when the hub is made, not when this
        # module is imported, so a process may set it first
        # (tests/patched_entrypoint.py).
        self.sweep_seconds = SWEEP_SECONDS if sweep_seconds is None else sweep_seconds
        self._seq_cache: dict[int, tuple[float, int]] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()
        self.snapshots: SnapshotCache[SnapshotMessage] = SnapshotCache(core.now)
        pause = lambda: socketio.sleep(0)  # noqa: E731 - the async mode's yield
        self._tokens: Gather[str, Connection] = Gather(self._resolve_tokens, pause)
        self._seqs: Gather[int, int] = Gather(
            lambda shop_ids: queries.current_seqs(core, shop_ids), pause
        )
        self._alive: Gather[int, None] = Gather(lambda ids: touch_devices(core, ids), pause)
        self._used: Gather[int, None] = Gather(lambda ids: touch_tokens(core, ids), pause)
        # Bumped by every revocation in this process: a token lookup that
        # began before one must not put its answer in the principal cache.
        self._revocations = 0
        # The async mode's own event (green under eventlet and gevent), so a
        # revocation wakes the sweep without waiting out its interval.
        self._wake = socketio.server.eio.create_event()
        self._sweeping = False
        self._stopped = False
        self._failing = False
        core.principals.listeners.append(self.wake)

    # ------------------------------------------------------------ registry

    def _register(self, sid: str, connection: Connection) -> None:
        """The only way into the registry; the gauge counts sids, not calls."""
        with self._lock:
            known = sid in self.connections
            self.connections[sid] = connection
        if not known:
            self.core.metrics.connected()
        self._start_sweeping()

    def _snapshot(self) -> list[tuple[str, Connection]]:
        with self._lock:
            return list(self.connections.items())

    def _forget(self, sid: str) -> Connection | None:
        """The only way out; forgetting a sid twice counts once."""
        with self._lock:
            connection = self.connections.pop(sid, None)
        if connection is not None:
            self.core.metrics.disconnected()
        return connection

    # ------------------------------------------------------------ handlers

    def connect(self, auth: Any) -> bool:
        release_routing_exception()
        token = _token(auth)
        address = request.remote_addr or "?"
        if self.refused.blocked(address):
            raise ConnectionRefusedError("rate_limited")
        connection = self._authenticate(token)
        if connection is None:
            self.refused.failed(address)
            raise ConnectionRefusedError("unauthorized")
        principal = connection.principal
        join_room(_room(principal))
        since = _since(auth.get("since")) if isinstance(auth, dict) else None
        self._catch_up(principal, since)
        self.note_alive(principal, connection.credential)
        # Registered once it has what it asked for: a connect that failed
        # half-way leaves nothing behind to count or to check.
        self._register(request.sid, connection)  # type: ignore[attr-defined]
        return True

    def disconnect(self) -> None:
        self._forget(request.sid)  # type: ignore[attr-defined]

    def current(self) -> Connection | None:
        return self.connections.get(request.sid)  # type: ignore[attr-defined]

    def resync(self, data: Any) -> None:
        """Answer only a socket whose credential still holds (checked now,
        not at the last sweep): what it missed carries names and phones."""
        release_routing_exception()
        sid = request.sid  # type: ignore[attr-defined]
        connection = self.connections.get(sid)
        if connection is None:
            return
        fresh = current_principals(self.core, [connection.credential], self.sessions)
        if fresh.get(connection.credential) != connection.principal:
            self.socketio.server.disconnect(sid)
            return
        since = _since(data.get("since")) if isinstance(data, dict) else None
        self._catch_up(connection.principal, since)

    # --------------------------------------------------------- connecting

    def _authenticate(self, token: str | None) -> Connection | None:
        """The credential of a new socket: a token as a bearer token, then
        as a customer link (batched with the connects arriving with it; a
        bearer token's principal from the brief cache the REST API uses);
        without one, the staff cookie session of the handshake."""
        if not token:
            credential = session_credential(session)
            principal = current_principals(self.core, [credential], self.sessions).get(credential)
            return Connection(principal, credential) if principal is not None else None
        key = _cache_key(token)
        cached = self.core.principals.get(key) if key is not None else None
        if isinstance(cached, Principal):
            return Connection(cached, Credential("bearer", token))
        return self._tokens.get(token)

    def _resolve_tokens(self, tokens: list[str]) -> dict[str, Connection]:
        revocations = self._revocations
        connections = resolve_tokens(self.core, tokens)
        if revocations == self._revocations:
            for token, connection in connections.items():
                key = _cache_key(token)
                if connection.credential.kind == "bearer" and key is not None:
                    self.core.principals.put(key, connection.principal)
        return connections

    def _catch_up(self, principal: Principal, since: int | None) -> None:
        """Send what was missed after ``since`` as ``order`` messages, or a
        snapshot. The shop's seq is read after the socket joined its room:
        every change past it reaches the socket live."""
        seq = self._seqs.get(principal.shop_id) or 0
        if since is not None and since <= seq:
            messages = [] if since == seq else queries.missed(self.core, principal, since)
            if messages is not None:
                for message in messages:
                    emit("order", message)
                self.core.metrics.emitted(principal.audience, len(messages))
                return
        snapshot = self.snapshots.get(
            queries.snapshot_key(principal), seq, lambda: self._build_snapshot(principal)
        )
        server = self.socketio.server
        eio_sid = server.manager.eio_sid_from_sid(request.sid, NAMESPACE)  # type: ignore[attr-defined]
        if eio_sid is not None:
            server._send_eio_packet(eio_sid, snapshot.packet)

    def _build_snapshot(self, principal: Principal) -> tuple[int, SnapshotMessage]:
        """The snapshot and its packet, encoded as ``emit`` would encode it
        (python-socketio's own packet class and JSON, the default namespace),
        once: byte for byte what each socket got from its own emit."""
        data = queries.snapshot(self.core, principal)
        encoded = self.socketio.server.packet_class(
            sio_packet.EVENT, namespace=NAMESPACE, data=["snapshot", data]
        ).encode()
        assert isinstance(encoded, str), "a snapshot carries no binary data"
        seq = int(data["seq"])
        return seq, SnapshotMessage(seq, eio_packet.Packet(eio_packet.MESSAGE, encoded))

    def seq(self) -> dict[str, int]:
        """Cheap check a screen runs periodically: the server's newest seq,
        which catches a silently lost message-queue delivery. The credential
        is not checked here: the sweep does that for every socket."""
        connection = self.current()
        if connection is None:
            return {"seq": -1}
        self.note_alive(connection.principal, connection.credential)
        return {"seq": self.shop_seq(connection.principal.shop_id)}

    def note_alive(self, principal: Principal, credential: Credential | None = None) -> None:
        """Record a paired screen's last sign of life, or an API token's last
        use, once a minute at most (decided in memory first, so most checks
        write nothing). A kiosk
        holds a socket only under a technician's sign-in (``credential``):
        its kiosk is found through that sign-in, so a kiosk in use shows as
        seen too."""
        if principal.kind in ("device", "token"):
            key = principal.ref
        elif principal.kind == "kiosk" and credential is not None and credential.kind == "bearer":
            key = "kiosk-session:" + hash_secret(credential.key)
        else:
            return
        now = time.monotonic()
        if now - self._touched.get(key, -LAST_SEEN_SECONDS) < LAST_SEEN_SECONDS:
            return
        if len(self._touched) >= TOUCHED_LIMIT:
            self._touched.clear()
        self._touched[key] = now
        if principal.kind == "token":
            self._used.get(int(principal.ref.split(":", 1)[1]))
            return
        if principal.kind == "device":
            device_id: int | None = int(principal.ref.split(":", 1)[1])
        else:
            device_id = devices.device_of_kiosk_session(self.core, key.split(":", 1)[1])
        if device_id is not None:
            self._alive.get(device_id)

    def presence(self, shop_id: int) -> devices.Presence:
        """The shop's screens with a socket open in this process, for the
        admin page's "online now". Without a message queue this process is
        the whole installation and its answer is complete; with one, other
        workers hold sockets too (``Presence.whole`` is False and the page
        falls back on the screens' last-seen heartbeat)."""
        device_ids: set[int] = set()
        kiosk_sessions: set[str] = set()
        for _sid, connection in self._snapshot():
            principal = connection.principal
            if principal.shop_id != shop_id:
                continue
            if principal.kind == "device":
                device_ids.add(int(principal.ref.split(":", 1)[1]))
            elif principal.kind == "kiosk" and connection.credential.kind == "bearer":
                kiosk_sessions.add(hash_secret(connection.credential.key))
        return devices.Presence(
            frozenset(device_ids),
            frozenset(kiosk_sessions),
            whole=not self.core.settings.message_queue,
        )

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

    # --------------------------------------------------------------- sweep

    def sweep(self) -> int:
        """One round: re-check every distinct credential of this process's
        sockets against the database and disconnect each socket whose
        credential no longer gives the principal it connected as (revoked,
        expired, or changed: a screen whose role changed reconnects and gets
        the view of its new role). Sockets the server holds that the
        registry does not know have nothing to be checked against and are
        cut as well. Returns how many sockets were cut."""
        server = self.socketio.server
        manager = server.manager
        for sid, _connection in self._snapshot():
            if manager.eio_sid_from_sid(sid, NAMESPACE) is None:
                # The server no longer holds it (its disconnect never reached
                # the handler): only the registry and the gauge still did.
                self._forget(sid)
        # A connect registers before the server marks the socket connected,
        # so a connected sid missing from the registry (looked up now, not
        # in a snapshot) was never registered or was forgotten while open.
        cut = [
            sid
            for sid, _eio_sid in manager.get_participants(NAMESPACE, None)
            if manager.is_connected(sid, NAMESPACE) and sid not in self.connections
        ]
        current = self._snapshot()
        if current:
            valid = self._current(list({c.credential for _sid, c in current}))
            dead = [
                (sid, c)
                for sid, c in current
                if valid.get(c.credential) != c.principal and self.connections.get(sid) is c
            ]
            cut += [sid for sid, _c in dead]
            for _sid, c in dead:
                # The brief cache of valid credentials must not outlive what
                # the database just said: the screen's next question (whoami,
                # a reconnect) gets the same answer as this check.
                if c.credential.kind == "bearer":
                    self.core.principals.discard(hash_secret(c.credential.key))
        for sid in cut:
            server.disconnect(sid)
        return len(cut)

    def _current(self, credentials: list[Credential]) -> dict[Credential, Principal]:
        """``current_principals`` a batch at a time, yielding between batches:
        SQLite blocks the whole process while it answers, and a batch (a few
        milliseconds) is as long as any screen's messages should wait."""
        valid: dict[Credential, Principal] = {}
        for start in range(0, len(credentials), IN_LIST_CHUNK):
            if start:
                self.socketio.sleep(0)
            batch = credentials[start : start + IN_LIST_CHUNK]
            valid.update(current_principals(self.core, batch, self.sessions))
        return valid

    def wake(self) -> None:
        """Run the next round now (a credential was revoked in this process)."""
        self._revocations += 1
        self._wake.set()

    def stop(self) -> None:
        """End the sweep (it also ends by itself once no socket is left)."""
        with self._lock:
            self._stopped = True
        self._wake.set()

    def _start_sweeping(self) -> None:
        with self._lock:
            if self._sweeping or self._stopped:
                return
            self._sweeping = True
        self.socketio.start_background_task(self._sweep_rounds)

    def _sweep_rounds(self) -> None:
        """The background task: a round every ``sweep_seconds`` while this
        process has sockets; started again by the next connect."""
        while True:
            self._wake.wait(self.sweep_seconds)
            self._wake.clear()
            with self._lock:
                if self._stopped or not self.connections:
                    self._sweeping = False
                    return
            self._round()

    def _round(self) -> None:
        """A round that survives the database being away: the sockets are
        kept (cutting every screen over a blip would only bring them all back
        at once) and the failure is logged once, not every round."""
        try:
            self.sweep()
        except Exception:
            if not self._failing:
                log.warning(
                    "re-checking socket credentials failed; retrying every %s s",
                    self.sweep_seconds,
                    exc_info=True,
                )
            self._failing = True
            return
        if self._failing:
            log.warning("re-checking socket credentials works again")
            self._failing = False


# The attribute of the Socket.IO server that holds its hub.
_HUB_ATTRIBUTE = "baylight_hub"


def register(socketio: SocketIO, core: Core, sessions: SessionResolver) -> Hub:
    """Create the app's hub and attach its handlers to ``socketio``;
    ``sessions`` resolves a staff cookie session (the web layer's rule)."""
    hub = Hub(socketio, core, sessions)
    # A client chooses how many arguments it sends: each handler takes the
    # first (if it reads one) and ignores the rest.
    socketio.on_event("connect", hub.connect)
    socketio.on_event("disconnect", lambda *_args: hub.disconnect())
    socketio.on_event("resync", lambda *args: hub.resync(args[0] if args else None))
    socketio.on_event("seq", lambda *_args: hub.seq())
    socketio.on_event("queue", lambda *_args: hub.queue())
    setattr(socketio, _HUB_ATTRIBUTE, hub)
    return hub


def hub_of(socketio: SocketIO) -> Hub | None:
    """The hub registered on this Socket.IO server, if any (kept on the
    server object itself, so it lives and dies with its app)."""
    found = getattr(socketio, _HUB_ATTRIBUTE, None)
    return found if isinstance(found, Hub) else None
