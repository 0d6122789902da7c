"""Two real ``baylight serve`` workers on one PostgreSQL database and one
Redis message queue, and the screen model the scale tests check against.

Shared by the multi-worker, revocation and nginx tests (their database is the
``scale_database`` fixture of conftest.py). Redis and PostgreSQL are the
machine's real servers; tests that restart them use ``restart_redis`` and
``restart_postgres``, which always leave the server running again.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.conftest import (
    REDIS_URL,
    LiveServer,
    Shop,
    free_port,
    need,
    server_env,
)
from tests.e2e.sockets import Message, Recorder

REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]
WAIT = 15.0


def redis_alive(url: str = REDIS_URL) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def fresh_queue_url() -> str:
    """A Redis URL on a database index of its own, flushed.

    Note: Redis pub/sub channels are global across database indexes, so the
    index isolates the rate-limit counters, not the Socket.IO channel; the
    tests therefore match messages by their own orders and seqs only.
    """
    need(redis_alive(), "Redis at " + REDIS_URL)
    base = REDIS_URL.rsplit("/", 1)[0]
    url = f"{base}/{1 + os.getpid() % 15}"
    redis.Redis.from_url(url).flushdb()
    return url


def start_redis() -> None:
    """Start the machine's Redis the way CI starts it, and wait for it."""
    if redis_alive():
        return
    Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
    Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
    subprocess.run(REDIS_START, check=True, capture_output=True)
    deadline = time.monotonic() + WAIT
    while not redis_alive():
        assert time.monotonic() < deadline, "Redis did not come back"
        time.sleep(0.05)


@contextmanager
def redis_down() -> Iterator[None]:
    """Redis stopped for the block, and running again afterwards whatever
    happens inside it."""
    subprocess.run(["redis-cli", "shutdown", "nosave"], capture_output=True, check=False)
    deadline = time.monotonic() + WAIT
    while redis_alive():
        assert time.monotonic() < deadline, "Redis did not stop"
        time.sleep(0.05)
    try:
        yield
    finally:
        start_redis()


def restart_postgres() -> None:
    """Restart the machine's PostgreSQL cluster (every connection dies)."""
    versions = sorted(os.listdir("/etc/postgresql"))
    need(bool(versions), "a local PostgreSQL cluster to restart")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"],
        check=True,
        capture_output=True,
    )


@dataclass
class Cluster:
    """N workers sharing one database and one message queue."""

    workers: list[LiveServer]
    shop: Shop
    database_url: str
    queue_url: str

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


def start_cluster(
    tmp: Path, database_url: str, queue_url: str, shop: Shop, count: int = 2, **more: str
) -> Cluster:
    """``count`` workers in eventlet mode (the default), each on its own port;
    ``more`` adds environment variables."""
    secret = secrets.token_hex(16)
    workers: list[LiveServer] = []
    for index in range(count):
        port = free_port()
        folder = tmp / f"worker{index}"
        folder.mkdir(exist_ok=True)
        env = server_env(
            database_url,
            port,
            folder,
            "eventlet",
            BAYLIGHT_MESSAGE_QUEUE=queue_url,
            BAYLIGHT_SECRET_KEY=secret,
            **more,
        )
        workers.append(LiveServer(env, port, folder / "server.log"))
    # Side by side: each start spends seconds importing and checking the schema.
    with ThreadPoolExecutor(len(workers)) as pool:
        list(pool.map(LiveServer.start, workers))
    return Cluster(workers, shop, database_url, queue_url)


@dataclass
class Screen:
    """What a board shows, built the way static/js/live.js builds it: apply a
    message only when it continues the seq it has; on a gap (``prev_seq`` past
    its seq) ask for ``resync`` from its seq; skip what it already has."""

    recorder: Recorder
    seq: int = -1
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    consumed: int = 0
    gaps: int = 0
    # Message index ranges that answered a resync, with the since asked for.
    answers: list[tuple[int, int, int]] = field(default_factory=list)

    def apply(self, message: Message) -> bool:
        """Fold one message; False when it reveals a gap."""
        if message.event == "snapshot":
            self.orders = {int(o["id"]): dict(o) for o in message.data["orders"]}
            self.seq = message.seq
            return True
        if message.seq <= self.seq:
            return True
        if int(message.data.get("prev_seq", -1)) > self.seq:
            return False
        order = message.order
        self.orders[int(order["id"])] = order
        self.seq = message.seq
        return True

    def catch_up(self, timeout: float = WAIT) -> None:
        """Consume every recorded message; on a gap, resync and go on; then
        make sure the server's seq has been reached (the periodic ``seq`` check
        the browser client runs)."""
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, f"screen stuck at seq {self.seq}"
            messages = self.recorder.messages
            progressed = False
            while self.consumed < len(messages):
                if not self.apply(messages[self.consumed]):
                    self.gaps += 1
                    # Drop what arrived after the gap: the resync answer
                    # carries those orders in their current state anyway.
                    self.consumed = len(messages)
                    self.resync()
                    progressed = True
                    break
                self.consumed += 1
            if progressed:
                continue
            server_seq = self.recorder.settle()
            if self.seq >= server_seq and self.consumed == len(self.recorder.messages):
                return
            if self.consumed == len(self.recorder.messages):
                self.gaps += 1
                self.resync()

    def resync(self) -> None:
        """Ask for what was missed since this screen's seq; remember which
        messages were the answer (the call returns once it has been sent)."""
        start = len(self.recorder.messages)
        self.recorder.resync(self.seq)
        self.answers.append((start, len(self.recorder.messages), self.seq))

    def live(self) -> list[Message]:
        """The messages that were not a resync answer."""
        inside = {i for start, end, _since in self.answers for i in range(start, end)}
        return [m for i, m in enumerate(self.recorder.messages) if i not in inside]

    def resent(self) -> list[Message]:
        """Resync answers the screen already had: at or before its since."""
        messages = self.recorder.messages
        return [
            messages[i]
            for start, end, since in self.answers
            for i in range(start, end)
            if messages[i].event == "order" and messages[i].seq <= since
        ]


def versions(orders: dict[int, dict[str, Any]]) -> dict[int, tuple[str, int]]:
    """Order id → (stage, version): what two screens must agree on."""
    return {order_id: (o["stage"], int(o["version"])) for order_id, o in orders.items()}


def live_stream_duplicates(messages: list[Message]) -> list[tuple[int, int]]:
    """(order id, version) pairs the live stream delivered more than once."""
    seen: set[tuple[int, int]] = set()
    twice: list[tuple[int, int]] = []
    for message in messages:
        if message.event != "order":
            continue
        pair = (int(message.order["id"]), int(message.order["version"]))
        if pair in seen:
            twice.append(pair)
        seen.add(pair)
    return twice
