"""Property tests of the Socket.IO handlers: whatever a client sends, the
server never fails, and the socket either stays usable or is refused cleanly.

A client controls three things: its ``auth`` on connect, the name of every
event it emits, and the arguments. Hypothesis generates all three from any
JSON a client library can send: nested lists and objects (deep ones too),
huge integers, floats including NaN and infinities, strings with lone
surrogates and control characters, the real credentials and event names, the
protocol's reserved names (``connect``, ``disconnect``...) and nonsense.
After each one, an ordinary request (``seq``, then ``resync``) must still be
answered as usual, and the socket must still be the same audience. The one
clean way out is the server closing that connection (the client is told) for
a packet its decoder cannot read; the same credential then connects again.

Two layers: the Flask-SocketIO test client drives the handlers in process
(handlers run inline there, so any exception fails the example directly; many
examples are cheap), and a real server (eventlet, a real websocket client)
gets fewer examples plus payloads no client library would encode (nesting
deeper than the JSON decoder's recursion limit, broken packets), with its log
checked for any traceback afterwards.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import socketio as socketio_client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from socketio import packet as socketio_packet

from shared.realtime import hub as hub_module
from tests.conftest import Shop
from tests.e2e.sockets import Recorder
from tests.hypothesis_printer import restore_example_printer

restore_example_printer()

# The names a client could try: the handlers', the protocol's reserved ones,
# and Flask-SocketIO's default message events.
HANDLED = ("resync", "seq", "queue")
RESERVED = (
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "message",
    "json",
    "newListener",
    "removeListener",
)
# Placeholders for the real credentials of the seeded shop (known at run time).
CREDENTIALS = ("@admin", "@display-board", "@display-lounge", "@technician", "@customer")

IN_PROCESS = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LIVE = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ------------------------------------------------------------ strategies

surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
strings = st.one_of(
    st.text(max_size=30),
    surrogates,
    st.text(st.characters(max_codepoint=0x9F), max_size=10),
    st.sampled_from([*CREDENTIALS, *HANDLED, *RESERVED, "", "x" * 5000]),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 2),
    st.sampled_from([-1, 0, 10**100, -(10**100), 2**64]),
    st.floats(),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)


class Nested(list[Any]):
    """``[x]`` where ``x`` is nested ``depth - 1`` levels deep (in objects
    ``{"since": ...}`` or in lists): sent as the JSON it is, shown as its
    depth, since printing it level by level would exhaust the recursion
    limit of whatever prints a failing example."""

    def __init__(self, depth: int, as_object: bool) -> None:
        value: Any = 0
        for _ in range(depth - 1):
            value = {"since": value} if as_object else [value]
        super().__init__([value])
        self.depth = depth
        self.as_object = as_object

    def __repr__(self) -> str:
        return f"Nested({self.depth}, as_object={self.as_object})"


json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(strings, inner, max_size=4),
        # The handlers' own field names, with anything in them.
        st.fixed_dictionaries({}, optional={"token": inner, "since": inner}),
    ),
    max_leaves=12,
)
# As deep as a client library can still encode (Python's JSON encoder stops
# near 1,000 levels; deeper nesting goes raw, in the live test).
deep = st.builds(Nested, st.integers(1, 900), st.booleans())
payloads = st.one_of(json_values, deep)
auths = st.one_of(
    payloads,
    st.fixed_dictionaries(
        {"token": st.one_of(st.sampled_from(CREDENTIALS), payloads)},
        optional={"since": payloads},
    ),
)
event_names = st.one_of(st.sampled_from([*HANDLED, *RESERVED]), strings)
event_args = st.lists(payloads, max_size=3)


def _real(value: Any, tokens: dict[str, str]) -> Any:
    """``value`` with each credential placeholder replaced by the real one."""
    if isinstance(value, Nested):
        return value  # numbers only, and too deep to walk
    if isinstance(value, str):
        return tokens.get(value.removeprefix("@"), value) if value in CREDENTIALS else value
    if isinstance(value, list):
        return [_real(v, tokens) for v in value]
    if isinstance(value, dict):
        return {k: _real(v, tokens) for k, v in value.items()}
    return value


def _tokens(shop: Shop, client: Any) -> dict[str, str]:
    created = client.post("/api/v1/orders", json={"plate": "粤B12345"}, headers=shop.headers())
    assert created.status_code == 201, created.get_data(as_text=True)
    customer = created.get_json()["customer_url"].rsplit("/", 1)[1]
    return {**shop.tokens, "customer": customer}


# ------------------------------------------------------------ in process


class Screens:
    """Connected test clients, one per audience, kept across examples."""

    def __init__(self, app: Any, socketio: Any, tokens: dict[str, str]) -> None:
        self.app = app
        self.socketio = socketio
        self.tokens = tokens
        self.clients = {
            role: socketio.test_client(app, auth={"token": tokens[role]})
            for role in ("admin", "display-lounge", "customer")
        }
        for role, client in self.clients.items():
            assert client.is_connected(), role
            client.get_received()

    def forget_refusals(self) -> None:
        """Refused connects count against the address (30 a minute); each
        example starts with none, so every one reaches the handler."""
        hub = hub_module.hub_of(self.socketio)
        assert hub is not None
        hub.refused = type(hub.refused)()

    def assert_usable(self, role: str) -> None:
        """The socket still answers as the audience it connected as."""
        client = self.clients[role]
        assert client.is_connected(), f"{role} socket was dropped"
        client.get_received()
        answer = client.emit("seq", {}, callback=True)
        assert isinstance(answer, dict) and answer["seq"] >= 0, answer
        client.emit("resync", {"since": None})
        snapshots = [m for m in client.get_received() if m["name"] == "snapshot"]
        assert len(snapshots) == 1, role
        orders = snapshots[0]["args"][0]["orders"]
        if role == "display-lounge":
            assert all("customer" not in o and "plate_masked" in o for o in orders), orders
        elif role == "customer":
            assert len(orders) == 1 and "customer" not in orders[0], orders
        else:
            assert all("customer" in o for o in orders), orders


@pytest.fixture
def screens(app: Any, socketio: Any, shop: Shop) -> Iterator[Screens]:
    made = Screens(app, socketio, _tokens(shop, app.test_client()))
    yield made
    for client in made.clients.values():
        if client.is_connected():
            client.disconnect()


@pytest.fixture
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


# Edges always tried, whatever Hypothesis draws: a lone surrogate in a token
# (no UTF-8 encoding exists to hash it), an integer and a number-as-auth longer
# than the packet decoder takes (it raises rather than returning a packet),
# nesting at the client library's limit, a reserved name as the token.
KNOWN_AUTHS = (
    {"token": "\ud800"},
    {"token": "@admin", "since": 10**101},
    {"token": "@display-board", "since": Nested(900, as_object=True)},
    12345678901234567890,
    {"token": "disconnect"},
)


@IN_PROCESS
@given(auth=auths)
@example(auth=KNOWN_AUTHS[0])
@example(auth=KNOWN_AUTHS[1])
@example(auth=KNOWN_AUTHS[2])
@example(auth=KNOWN_AUTHS[3])
@example(auth=KNOWN_AUTHS[4])
def test_any_connect_auth_is_accepted_or_refused_cleanly(
    screens: Screens, no_errors_logged: None, auth: Any
) -> None:
    screens.forget_refusals()
    client = screens.socketio.test_client(screens.app, auth=_real(auth, screens.tokens))
    try:
        if client.is_connected():
            received = client.get_received()
            assert [m["name"] for m in received][:1] in (["snapshot"], ["order"], []), received
            answer = client.emit("seq", {}, callback=True)
            assert isinstance(answer, dict) and answer["seq"] >= 0, answer
    finally:
        if client.is_connected():
            client.disconnect()
    screens.assert_usable("admin")
    fresh = screens.socketio.test_client(screens.app, auth={"token": screens.tokens["admin"]})
    assert fresh.is_connected()
    fresh.disconnect()


@IN_PROCESS
@given(
    role=st.sampled_from(["admin", "display-lounge", "customer"]),
    name=event_names,
    args=event_args,
    ack=st.booleans(),
)
# Each handler with no argument and with several; the reserved names that
# would re-run the connect handler (with another credential) or the
# disconnect handler on an open socket; an integer past the decoder's limit.
@example(role="admin", name="resync", args=[], ack=True)
@example(role="admin", name="seq", args=[1, 2], ack=True)
@example(role="customer", name="queue", args=[{}, [], None], ack=True)
@example(role="display-lounge", name="connect", args=[{"token": "@admin"}], ack=False)
@example(role="customer", name="disconnect", args=[], ack=False)
@example(role="admin", name="resync", args=[{"since": 10**101}], ack=False)
def test_any_event_leaves_the_socket_usable(
    screens: Screens, no_errors_logged: None, role: str, name: str, args: list[Any], ack: bool
) -> None:
    client = screens.clients[role]
    client.emit(name, *_real(args, screens.tokens), callback=ack)
    screens.assert_usable(role)


# ------------------------------------------------------------ real server


def _json_safe(value: Any) -> Any:
    """NaN and the infinities are not JSON; a client library refuses them
    (the live server is sent only what crosses the wire)."""
    if isinstance(value, Nested):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


class LiveScreens:
    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url = url
        self.tokens = tokens
        self.clients = {
            role: Recorder(url, {"token": tokens[role]}).connect()
            for role in ("admin", "display-lounge", "customer")
        }

    def assert_usable(self, role: str) -> None:
        recorder = self.clients[role]
        assert recorder.client.connected and not recorder.disconnected.is_set(), role
        answer = recorder.client.call("seq", {}, timeout=10)
        assert isinstance(answer, dict) and answer["seq"] >= 0, answer

    def assert_closed_and_reconnect(self, role: str) -> None:
        """The server closed this socket (the client was told); the same
        credential connects again at once."""
        recorder = self.clients[role]
        assert recorder.disconnected.wait(10), f"{role} socket was not closed"
        recorder.close()
        self.clients[role] = Recorder(self.url, {"token": self.tokens[role]}).connect()

    def close(self) -> None:
        for recorder in self.clients.values():
            recorder.close()


@pytest.fixture
def live_screens(live: Any) -> Iterator[tuple[Any, LiveScreens]]:
    server, shop = live
    import requests

    created = requests.post(
        f"{server.url}/api/v1/orders",
        json={"plate": "粤B12345"},
        headers=shop.headers(),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    tokens = {**shop.tokens, "customer": created.json()["customer_url"].rsplit("/", 1)[1]}
    made = LiveScreens(server.url, tokens)
    yield server, made
    made.close()
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "handler error" not in log, log[-5000:]


@pytest.mark.slow
@pytest.mark.server_per_module
@LIVE
@given(auth=auths)
@example(auth=KNOWN_AUTHS[0])
def test_live_connect_with_any_auth_never_fails(
    live_screens: tuple[Any, LiveScreens], auth: Any
) -> None:
    """At most 25 examples: refused connects count against the address, and
    the thirtieth in a minute would be refused as rate_limited."""
    _server, screens = live_screens
    recorder = Recorder(screens.url, _json_safe(_real(auth, screens.tokens)))
    try:
        recorder.connect(timeout=10)
    except socketio_client.exceptions.ConnectionError:
        pass
    else:
        recorder.client.call("seq", {}, timeout=10)
    finally:
        recorder.close()
    screens.assert_usable("admin")


@pytest.mark.slow
@pytest.mark.server_per_module
@settings(LIVE, max_examples=200)
@given(
    role=st.sampled_from(["admin", "display-lounge", "customer"]),
    name=event_names,
    args=event_args,
)
@example(role="admin", name="resync", args=[])
@example(role="admin", name="seq", args=[1, 2])
@example(role="display-lounge", name="disconnect", args=[])
def test_live_events_leave_the_socket_usable(
    live_screens: tuple[Any, LiveScreens], role: str, name: str, args: list[Any]
) -> None:
    _server, screens = live_screens
    sent = _json_safe(_real(args, screens.tokens))
    screens.clients[role].client.emit(name, tuple(sent))
    if _readable_by_the_server([name, *sent]):
        screens.assert_usable(role)
    else:
        screens.assert_closed_and_reconnect(role)
    screens.assert_usable(role)


RAW_PACKETS = [
    # Nesting past the server's JSON decoder's recursion limit.
    '2["resync",' + "[" * 20_000 + "]" * 20_000 + "]",
    '2["resync",' + '{"since":' * 20_000 + "0" + "}" * 20_000 + "]",
    '2["seq",' + "[" * 20_000 + "]" * 20_000 + "]",
    # Broken or odd packets.
    '2["resync"',
    "2[]",
    "2{}",
    '2"resync"',
    "2[1,2,3]",
    '2[null,{"since":0}]',
    '2["disconnect"]',
    '2["connect",{"token":"x"}]',
    '2["resync",' + json.dumps("\ud800") + "]",
    '2["resync",{"since":1e999}]',
    '2["resync",{"since":NaN}]',
    '21["seq",{}]',
    "9",
    "",
]


def _readable_by_the_server(data: list[Any]) -> bool:
    """Whether the server's packet decoder reads this event back: a client
    library encodes integers of any length, but the decoder refuses one of
    more than 100 digits, and a packet it cannot read ends its connection."""
    encoded = socketio_packet.Packet(socketio_packet.EVENT, data=data).encode()
    try:
        socketio_packet.Packet(encoded_packet=encoded)
    except ValueError:
        return False
    return True


def _next_answer(recorder: Recorder, timeout: float = 10.0) -> Any:
    """The answer to a ``seq`` request, or None when the server closed the
    connection instead (cleanly: the client is told it is disconnected)."""
    answered = threading.Event()
    answers: list[Any] = []

    def on_answer(answer: Any) -> None:
        answers.append(answer)
        answered.set()

    recorder.client.emit("seq", {}, callback=on_answer)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answered.wait(0.05):
            return answers[0]
        if recorder.disconnected.is_set():
            return None
    raise AssertionError("the server neither answered nor closed the connection")


@pytest.mark.slow
@pytest.mark.server_per_module
def test_live_raw_packets_leave_the_server_usable(
    live_screens: tuple[Any, LiveScreens],
) -> None:
    """Packets no client library builds: each is ignored or ends that one
    connection cleanly, and the server keeps serving everyone else."""
    _server, screens = live_screens
    for raw in RAW_PACKETS:
        victim = Recorder(screens.url, {"token": screens.tokens["admin"]}).connect()
        try:
            victim.client.eio.send(raw)
            answer = _next_answer(victim)
            assert answer is None or answer["seq"] >= 0, (raw[:40], answer)
        finally:
            victim.close()
        for role in screens.clients:
            screens.assert_usable(role)
