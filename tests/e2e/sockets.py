"""A real python-socketio client that records what a screen would receive,
and the thin REST client the end-to-end tests drive the server with.

Tests wait on conditions over the recorded messages (a ``threading.Condition``
signalled on every arrival), never on fixed sleeps: a test is as fast as the
server and fails with the full recording when the condition never holds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
import socketio

RECORDED = ("snapshot", "order")
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Message:
    """One server → client message as received, with when it arrived."""

    event: str
    data: Any
    at: float

    @property
    def raw(self) -> str:
        """The payload as text, so privacy checks see every nested value."""
        return json.dumps(self.data, ensure_ascii=False, sort_keys=True)

    @property
    def seq(self) -> int:
        return int(self.data["seq"])

    @property
    def order(self) -> dict[str, Any]:
        return dict(self.data["order"])


class Recorder:
    """One Socket.IO connection (websocket only, no automatic reconnection,
    so a refused or dropped connection stays visible to the test)."""

    def __init__(self, url: str, auth: dict[str, Any] | None) -> None:
        self.url = url
        self.auth = auth
        self.client = socketio.Client(reconnection=False, handle_sigint=False)
        self._messages: list[Message] = []
        self._changed = threading.Condition()
        self.disconnected = threading.Event()
        for event in RECORDED:
            self.client.on(event, self._recorder(event))
        self.client.on("disconnect", self._on_disconnect)

    def _recorder(self, event: str) -> Callable[[Any], None]:
        def record(data: Any) -> None:
            with self._changed:
                self._messages.append(Message(event, data, time.monotonic()))
                self._changed.notify_all()

        return record

    def _on_disconnect(self, *_reason: Any) -> None:
        with self._changed:
            self.disconnected.set()
            self._changed.notify_all()

    def connect(self, timeout: float = DEFAULT_TIMEOUT) -> Recorder:
        self.client.connect(
            self.url, auth=self.auth, transports=["websocket"], wait_timeout=timeout
        )
        return self

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()
        self.client.shutdown()

    @property
    def messages(self) -> list[Message]:
        with self._changed:
            return list(self._messages)

    def of(self, event: str) -> list[Message]:
        return [m for m in self.messages if m.event == event]

    def wait_for(
        self, predicate: Callable[[list[Message]], bool], timeout: float = DEFAULT_TIMEOUT
    ) -> list[Message]:
        """Block until ``predicate(messages)`` holds; return the messages then."""
        with self._changed:
            if self._changed.wait_for(lambda: predicate(list(self._messages)), timeout):
                return list(self._messages)
            recorded = [(m.event, m.data) for m in self._messages]
        raise AssertionError(f"condition not met within {timeout} s; received {recorded!r}")

    def wait_for_seq(self, seq: int, timeout: float = DEFAULT_TIMEOUT) -> list[Message]:
        """Until a message stamped with ``seq`` (or later) has arrived."""
        return self.wait_for(lambda ms: any(m.seq >= seq for m in ms), timeout)

    def wait_for_snapshot(self, timeout: float = DEFAULT_TIMEOUT) -> Message:
        self.wait_for(lambda ms: any(m.event == "snapshot" for m in ms), timeout)
        return self.of("snapshot")[-1]

    def resync(self, since: Any, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Ask for what was missed and wait for the server's acknowledgement.

        Event handlers run concurrently on the server (truly so in threading
        mode), so only the ack of this very event proves its answer has been
        sent, and hence recorded, before this returns.
        """
        self.client.call("resync", {"since": since}, timeout=int(timeout))

    def settle(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """A round trip through the server; returns the shop's seq it reports.

        The server handles a client's ``connect`` inline before reading its
        next packet, REST commands publish before they respond, and a socket
        delivers in send order. So once this is answered, the connect
        catch-up and the emits of every REST call that has already returned
        have been recorded: "received nothing more" is checkable without a
        sleep. (Other events' handlers run concurrently: see ``resync``.)
        """
        answer = self.client.call("seq", {}, timeout=int(timeout))
        return int(answer["seq"])


@contextmanager
def connected(url: str, auth: dict[str, Any] | None) -> Iterator[Recorder]:
    """A connected recorder, closed when the block ends."""
    recorder = Recorder(url, auth)
    try:
        yield recorder.connect()
    finally:
        recorder.close()


def refused(url: str, auth: dict[str, Any] | None, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """True when the server turns the connection down: either ``connect``
    raises, or (the server accepts first, then checks) it disconnects the
    client without having sent it any data."""
    recorder = Recorder(url, auth)
    try:
        try:
            recorder.connect(timeout)
        except socketio.exceptions.ConnectionError:
            return True
        # A refused client is dropped; an accepted one is sent its snapshot.
        recorder.wait_for(lambda ms: bool(ms) or recorder.disconnected.is_set(), timeout)
        return recorder.disconnected.is_set() and not recorder.messages
    finally:
        recorder.close()


class Api:
    """The REST side the sockets are observed against: thin calls that
    assert the expected status, so a failed set-up step says what failed."""

    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url = url
        self.tokens = tokens
        self.http = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        *,
        role: str = "admin",
        body: Any = None,
        key: str | None = None,
        expect: int | None = None,
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        response = self.http.request(
            method, f"{self.url}/api/v1{path}", json=body, headers=headers, timeout=10
        )
        if expect is not None:
            assert response.status_code == expect, (method, path, response.text)
        return response

    def create(self, role: str = "advisor", **fields: Any) -> dict[str, Any]:
        return dict(self.call("POST", "/orders", role=role, body=fields, expect=201).json())

    def assign(
        self, order: dict[str, Any], bay: str, technicians: list[int], role: str = "foreman"
    ) -> dict[str, Any]:
        body = {"bay": bay, "technicians": technicians, "version": order["version"]}
        path = f"/orders/{order['id']}/assignment"
        return dict(self.call("PUT", path, role=role, body=body, expect=200).json())

    def move(self, order: dict[str, Any], to: str, role: str, **extra: Any) -> dict[str, Any]:
        body = {"to": to, "version": order["version"], **extra}
        path = f"/orders/{order['id']}/transitions"
        return dict(self.call("POST", path, role=role, body=body, expect=200).json())

    def order(self, order_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/orders/{order_id}", expect=200).json())

    def last_seq(self) -> int:
        return int(self.call("GET", "/events?limit=1", expect=200).json()["last_seq"])

    def quiet(self, still: float = 1.5, limit: float = 20.0) -> int:
        """Wait until the shop's log stops growing for ``still`` seconds (the
        shop-load engine re-plans within about a second of each change and
        records its estimates as events); the seq it settled at."""
        deadline = time.monotonic() + limit
        seq, since = self.last_seq(), time.monotonic()
        while time.monotonic() - since < still:
            assert time.monotonic() < deadline, "the shop never went quiet"
            time.sleep(0.1)
            now = self.last_seq()
            if now != seq:
                seq, since = now, time.monotonic()
        return seq

    def close(self) -> None:
        self.http.close()


def customer_token(order: dict[str, Any]) -> str:
    """The capability token is the last path segment of the customer URL."""
    return str(order["customer_url"]).rstrip("/").rsplit("/", 1)[-1]
