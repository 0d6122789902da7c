"""The benchmark's load process: thousands of screens in one asyncio loop,
speaking Engine.IO 4 / Socket.IO 5 over a raw websocket, pinned to the load
core. ``python -m bench.load`` reads one JSON spec line on stdin.

Two kinds of run:

* subscribers: connect every group's screens (at most ``concurrency`` at a
  time), print ``{"connected": ...}``, then for each ``{"sends": ...}`` line
  (one phase: the driver's send times) wait for the deliveries, print
  ``{"result": ...}`` and start counting afresh; stop at ``{"done": true}``.
* storm: every board connects at once, as after a server restart; a board
  that fails retries as live.js has socket.io-client do (0.5 s ± 50 %,
  doubling up to 4 s). Prints ``{"storm": ...}`` once every board holds its
  snapshot or the deadline passed, then keeps the boards connected until
  ``{"done": true}``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import resource
import socket
import statistics
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.method import percentiles

ORDER_ID = re.compile(rb'"order":\s*\{"id":\s*(\d+)')
# The envelope's seq (the event's, the same for the three audiences of one
# change) and the order's own version (the staff and customer views have it,
# before any nested object that could; the lounge view has none). Quotes in
# free text are escaped in JSON, so no text can look like either key.
SEQ = re.compile(rb'^42\["order",\s*\{"seq":\s*(\d+)')
VERSION = re.compile(rb'"version":\s*(\d+)')
# Linux's SO_TIMESTAMPNS (the socket module does not name it): each read
# carries the kernel's receive time of its newest bytes.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESTAMP_SPACE = socket.CMSG_SPACE(16)
# A board's reconnection as static/js/live.js sets it (reconnectionDelay,
# randomizationFactor, reconnectionDelayMax) and socket.io-client's default
# timeout for opening the connection.
RETRY_DELAY_S = 0.5
RETRY_JITTER = 0.5
RETRY_DELAY_MAX_S = 4.0
ATTEMPT_TIMEOUT_S = 20.0


@dataclass
class Group:
    """Subscribers sharing one credential, and the orders they should see."""

    count: int
    token: str
    orders: list[int]
    port: int


@dataclass
class LoadState:
    # (screen, order, arrival, seq, version or None)
    received: list[tuple[int, int, float, int | None, int | None]] = field(default_factory=list)
    ready: list[float] = field(default_factory=list)
    failures: int = 0
    open: int = 0


def ws_frame(text: str) -> bytes:
    """A masked client text frame (the mask is zero: servers only check the bit)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = bytes([0x81, 0x80 | size])
    elif size < 65536:
        head = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    elif size == 127:
        size = int.from_bytes(await reader.readexactly(8), "big")
    return first & 0x0F, await reader.readexactly(size)


async def open_socket(port: int, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Websocket upgrade, Engine.IO open, Socket.IO connect with ``auth``
    sent (its answer is left to the caller)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(upgrade_request(port))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head[:80])
        await read_frame(reader)  # Engine.IO open
        writer.write(ws_frame("40" + json.dumps({"token": token})))
    except BaseException:
        writer.close()
        raise
    return reader, writer


# ------------------------------------------------------------ subscribers


def upgrade_request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def take_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """The complete frames at the head of ``buffer``, removed from it."""
    frames = []
    while len(buffer) >= 2:
        size, head = buffer[1] & 0x7F, 2
        if size == 126:
            if len(buffer) < 4:
                break
            size, head = int.from_bytes(buffer[2:4], "big"), 4
        elif size == 127:
            if len(buffer) < 10:
                break
            size, head = int.from_bytes(buffer[2:10], "big"), 10
        if len(buffer) < head + size:
            break
        frames.append((buffer[0] & 0x0F, bytes(buffer[head : head + size])))
        del buffer[: head + size]
    return frames


class Screen:
    """One subscribed screen on a raw non-blocking socket, read by a plain
    reader callback once connected: a message costs one callback. Each
    arrival is stamped with the kernel's receive time of its bytes
    (``SO_TIMESTAMPNS``), so a load process that falls behind when 2,000
    messages land at once does not add its own lag to the latency it
    measures (``load_cpu_percent`` in each result says how busy it was)."""

    def __init__(self, ident: int, group: Group, state: LoadState) -> None:
        self.ident, self.group, self.state = ident, group, state
        self.buffer = bytearray()
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.live = False

    async def connect(self) -> None:
        """Upgrade, Engine.IO open, Socket.IO connect; raises unless accepted."""
        loop = asyncio.get_running_loop()
        sock, port = self.sock, self.group.port
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, upgrade_request(port))
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            await self.receive()
        if not self.buffer.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(bytes(self.buffer[:80]))
        del self.buffer[: end + 4]
        opened = False
        while True:
            for _opcode, payload in take_frames(self.buffer):
                if payload == b"2":
                    await loop.sock_sendall(sock, ws_frame("3"))
                elif not opened:  # Engine.IO open: now the Socket.IO connect
                    opened = True
                    token = json.dumps({"token": self.group.token})
                    await loop.sock_sendall(sock, ws_frame("40" + token))
                elif payload.startswith(b"40"):
                    self.live = True
                elif payload.startswith(b"44"):
                    raise ConnectionError(payload[:80])
                else:
                    self.record(payload, time.monotonic())
            if self.live:
                break
            await self.receive()
        self.state.open += 1
        loop.add_reader(sock.fileno(), self.readable)

    async def receive(self) -> None:
        chunk = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk

    def readable(self) -> None:
        try:
            data, ancillary, _flags, _address = self.sock.recvmsg(262144, TIMESTAMP_SPACE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        at = arrival(ancillary)
        self.buffer += data
        for opcode, payload in take_frames(self.buffer):
            if opcode == 8:
                self.close()
                return
            if payload == b"2":
                with contextlib.suppress(OSError):
                    self.sock.send(ws_frame("3"))
            else:
                self.record(payload, at)

    def record(self, payload: bytes, at: float) -> None:
        if payload.startswith(b'42["order"'):
            found = ORDER_ID.search(payload)
            if found:
                seq = SEQ.match(payload)
                version = VERSION.search(payload, found.end())
                self.state.received.append(
                    (
                        self.ident,
                        int(found.group(1)),
                        at,
                        int(seq.group(1)) if seq else None,
                        int(version.group(1)) if version else None,
                    )
                )

    def close(self) -> None:
        if self.live:
            self.live = False
            self.state.open -= 1
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()


def arrival(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The kernel's receive time of the newest bytes read (a later packet's
    when one read took several: never earlier than the truth), on the
    monotonic clock the driver stamps its sends with; now without it."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return float(seconds + nanoseconds / 1e9 - (time.time() - time.monotonic()))
    return time.monotonic()


async def subscriber(ident: int, group: Group, state: LoadState, gate: asyncio.Semaphore) -> None:
    """Connect one screen (counted ready once the server accepted it)."""
    async with gate:
        started = time.monotonic()
        screen = Screen(ident, group, state)
        try:
            await screen.connect()
        except (OSError, ConnectionError):
            screen.close()
            state.failures += 1
            return
        state.ready.append(time.monotonic() - started)


async def readline() -> dict[str, Any]:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return dict(json.loads(line)) if line.strip() else {"done": True}


async def subscribers_main(spec: dict[str, Any]) -> None:
    groups = [Group(**group) for group in spec["groups"]]
    state = LoadState()
    gate = asyncio.Semaphore(spec.get("concurrency", 256))
    began = time.monotonic()
    members = [group for group in groups for _ in range(group.count)]
    tasks = [
        asyncio.create_task(subscriber(ident, group, state, gate))
        for ident, group in enumerate(members)
    ]
    wanted = len(members)
    while len(state.ready) + state.failures < wanted:
        await asyncio.sleep(0.02)
    connect = {
        "subscribers": wanted,
        "failed": state.failures,
        "total_s": round(time.monotonic() - began, 2),
        **{f"{k}_ms": v for k, v in percentiles(state.ready).items()},
    }
    print(json.dumps({"connected": connect}), flush=True)
    while True:
        cpu = time.process_time()
        message = await readline()
        if "sends" not in message:
            break
        sends = message["sends"]
        expected = expected_deliveries(groups, sends)
        deadline = time.monotonic() + message.get("drain_s", spec.get("drain_s", 5.0))
        while len(state.received) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        result = summarize(groups, sends, list(state.received), connect)
        # Messages of the product's own (the engine's estimate revisions)
        # arrive too and are not the driver's: wait for the driver's.
        while result["lost"] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            result = summarize(groups, sends, list(state.received), connect)
        # Every Screen holds this very list: empty it, do not replace it.
        state.received.clear()
        result.update(load_usage(time.process_time() - cpu, result["received"], result["span_s"]))
        print(json.dumps({"result": result}), flush=True)
    for task in tasks:
        task.cancel()


def load_usage(cpu_s: float, received: int, span_s: float) -> dict[str, float]:
    """How busy this load process was in a phase: near 100 % while messages
    arrived, it was the bottleneck (its CPU from the phase's start, over the
    time from the first send to the last arrival)."""
    return {
        "load_cpu_s": round(cpu_s, 3),
        "load_cpu_percent": round(100 * cpu_s / span_s, 1) if span_s > 0 else 0.0,
        "load_cpu_us_per_message": round(1e6 * cpu_s / received, 1) if received else 0.0,
    }


def expected_deliveries(groups: list[Group], sends: list[list[float]]) -> int:
    per_order: dict[int, int] = {}
    for order_id, _k, _at in sends:
        per_order[int(order_id)] = per_order.get(int(order_id), 0) + 1
    return sum(g.count * sum(per_order.get(o, 0) for o in g.orders) for g in groups)


def summarize(
    groups: list[Group],
    sends: list[list[float]],
    received: list[tuple[int, int, float, int | None, int | None]],
    connect: dict[str, Any],
) -> dict[str, Any]:
    """Latency per delivery of the driver's changes: each send is
    ``[order, version, at]``, the version its change gave the order, and a
    message is that change's when it carries that version (staff and
    customer views), or the seq that a message with that version carried
    (the lounge view has no version: the three audiences of one change share
    its seq). Messages of the product's own, the shop-load engine's revised
    estimates, carry versions no send made: counted as ``revisions``, never
    taken for the next change (the n-th arrival is not the n-th change once
    the server sends more than the driver's)."""
    sent_at: dict[tuple[int, int], float] = {}
    for order_id, version, at in sends:
        sent_at[(int(order_id), int(version))] = at
    version_of_seq: dict[tuple[int, int], int] = {}
    for _ident, order_id, _at, seq, version in received:
        if seq is not None and version is not None:
            version_of_seq[(order_id, seq)] = version
    seen: set[tuple[int, int, int]] = set()
    latencies: list[float] = []
    timed: list[tuple[float, float]] = []
    revisions = duplicates = unknown = 0
    for ident, order_id, at, seq, version in received:
        if version is None and seq is not None:
            version = version_of_seq.get((order_id, seq))
        if version is None:
            unknown += 1
            continue
        sent = sent_at.get((order_id, version))
        if sent is None:
            revisions += 1
            continue
        if (ident, order_id, version) in seen:
            duplicates += 1
            continue
        seen.add((ident, order_id, version))
        latencies.append(at - sent)
        timed.append((sent, at - sent))
    expected = expected_deliveries(groups, sends)
    first = min((s[2] for s in sends), default=0.0)
    last = max((r[2] for r in received), default=first)
    missing = expected - len(latencies)
    return {
        "changes": len(sends),
        "expected": expected,
        "received": len(latencies),
        "lost": max(missing, 0),
        # Deliveries of changes whose REST call failed or timed out at the
        # driver (a saturated server may still have committed them).
        "unexpected": max(-missing, 0),
        "revisions": revisions,
        "duplicates": duplicates,
        "unmatched": unknown,
        "messages_per_s": round(len(received) / max(last - first, 1e-9)),
        "deliveries_per_s": round(len(latencies) / max(last - first, 1e-9)),
        "span_s": round(last - first, 3),
        "latency_ms": percentiles(latencies),
        "slowest": slowest(timed, first),
        "first_send": first,
        "connect": connect,
    }


def slowest(timed: list[tuple[float, float]], first: float) -> list[list[float]]:
    """The slowest 1 % of the deliveries as ``[seconds after the first
    send, latency in ms]`` in the order they were sent: whether a round's
    p99 is a few stalls (deliveries slow together) or spread over the
    round, and at what period the stalls come (a background task's)."""
    if not timed:
        return []
    cut = sorted(latency for _sent, latency in timed)[int(len(timed) * 0.99)]
    return [
        [round(sent - first, 3), round(latency * 1000, 2)]
        for sent, latency in sorted(timed)
        if latency >= cut
    ]


# ------------------------------------------------------------------ storm


@dataclass
class Board:
    token: str
    done_s: float | None = None
    attempts: int = 0
    snapshot_bytes: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def failed(self, cause: str) -> None:
        self.errors[cause] = self.errors.get(cause, 0) + 1


async def board(port: int, me: Board, began: float, deadline: float) -> None:
    """Connect as a board's live.js does until this board holds its snapshot
    and the connect answer (in either order), then stay connected and answer
    pings. Like socket.io-client, only the opening (TCP, upgrade, Engine.IO
    open) has a timeout; after it the board waits for its snapshot."""
    delay = RETRY_DELAY_S
    while time.monotonic() < deadline:
        me.attempts += 1
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(min(ATTEMPT_TIMEOUT_S, deadline - time.monotonic())):
                reader, writer = await open_socket(port, me.token)
        except TimeoutError:
            me.failed("open timed out" if time.monotonic() < deadline else "deadline")
        except (OSError, ConnectionError, asyncio.IncompleteReadError) as error:
            me.failed(f"open: {type(error).__name__}")
        else:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await until_snapshot(reader, writer, me)
                me.done_s = time.monotonic() - began
                break
            except TimeoutError:
                me.failed("deadline")
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as error:
                me.failed(f"connect: {type(error).__name__}: {str(error)[:40]}")
        if writer is not None:
            writer.close()
        pause = delay * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
        await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
        delay = min(delay * 2, RETRY_DELAY_MAX_S)
    else:
        return
    try:
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 8:
                break
            if payload == b"2":
                writer.write(ws_frame("3"))
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def until_snapshot(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, me: Board
) -> None:
    connected = False
    while not (connected and me.snapshot_bytes):
        opcode, payload = await read_frame(reader)
        if opcode == 8:
            raise ConnectionError("closed by the server")
        if payload == b"2":
            writer.write(ws_frame("3"))
        elif payload.startswith(b"40"):
            connected = True
        elif payload.startswith(b"44"):
            raise ConnectionError(payload[:40].decode(errors="replace"))
        elif payload.startswith(b'42["snapshot"'):
            me.snapshot_bytes = len(payload)


async def storm_main(spec: dict[str, Any]) -> None:
    boards = [Board(token) for token in spec["tokens"]]
    cpu = time.process_time()
    began = time.monotonic()
    deadline = began + float(spec["deadline_s"])
    tasks = [asyncio.create_task(board(spec["port"], b, began, deadline)) for b in boards]
    while time.monotonic() < deadline and any(b.done_s is None for b in boards):
        await asyncio.sleep(0.01)
    result = storm_result(boards, float(spec["deadline_s"]))
    result["load_cpu_s"] = round(time.process_time() - cpu, 2)
    print(json.dumps({"storm": result}), flush=True)
    await readline()
    for task in tasks:
        task.cancel()


def storm_result(boards: list[Board], deadline_s: float) -> dict[str, Any]:
    """Seconds from the first connect attempt until every board held its
    snapshot (the deadline when some never did), and the boards without."""
    done = [b.done_s for b in boards if b.done_s is not None]
    lost = len(boards) - len(done)
    sizes = [b.snapshot_bytes for b in boards if b.snapshot_bytes]
    errors: dict[str, int] = {}
    for b in boards:
        for cause, n in b.errors.items():
            errors[cause] = errors.get(cause, 0) + n
    return {
        "boards": len(boards),
        "with_snapshot": len(done),
        "lost_boards": lost,
        "all_snapshots_s": round(max(done) if done and not lost else deadline_s, 2),
        "board_ms": percentiles(done),
        "attempts": sum(b.attempts for b in boards),
        "retried_boards": sum(b.attempts > 1 for b in boards),
        "errors": errors,
        "snapshot_bytes": int(statistics.median(sizes)) if sizes else 0,
    }


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    spec = json.loads(sys.stdin.readline())
    asyncio.run(storm_main(spec) if "tokens" in spec else subscribers_main(spec))


if __name__ == "__main__":
    main()
