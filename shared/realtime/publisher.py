"""Turns committed changes into Socket.IO emits: the one place that emits.

The server decides the rooms; clients never name one. An order message
carries the shop's ``seq`` after the change so a screen applies it once and
can resume from it. A change that is no order's state (a photo attached,
clocks closed at the shift's end) goes out as a ``Notice`` through the same
``publish``, so it leaves in commit order with the order messages. With a
message queue configured the same emits go through Redis, so a command
committed in one worker (or the CLI) reaches clients of every worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.metrics import Metrics


def staff_room(shop_id: int) -> str:
    return f"staff:{shop_id}"


def lounge_room(shop_id: int) -> str:
    return f"lounge:{shop_id}"


def customer_room(order_id: int) -> str:
    return f"order:{order_id}"


@dataclass(frozen=True)
class OrderChange:
    """One order after a committed command, already redacted per audience."""

    shop_id: int
    order_id: int
    seq: int
    prev_seq: int
    staff: dict[str, Any]
    lounge: dict[str, Any]
    customer: dict[str, Any]


@dataclass(frozen=True)
class Notice:
    """A committed change that is no order's state, as a small hint by name
    to the rooms that show it. It carries no ``seq`` and nothing private:
    screens fetch what it points at with their own credential, and one that
    is missed is repaired by the screen's next load."""

    event: str
    data: dict[str, Any]
    rooms: tuple[str, ...]


class Emitter(Protocol):
    """The part of Flask-SocketIO (or a write-only KombuManager/RedisManager
    emitter) the publisher uses."""

    def emit(self, event: str, data: Any, *, to: str, namespace: str = "/") -> Any: ...


class Publisher:
    """Sends changes to the three audiences; without an emitter it only counts."""

    def __init__(self, metrics: Metrics, emitter: Emitter | None = None) -> None:
        self.metrics = metrics
        self.emitter = emitter

    def publish(self, changes: Sequence[OrderChange], notices: Sequence[Notice] = ()) -> None:
        """Emit one command's committed changes: each order to its three
        audiences in ``seq`` order, then the command's notices. The caller
        holds ``Core.publish_lock`` from before its commit until this
        returns, so every emit of a process leaves in commit order."""
        if self.emitter is None:
            return
        for change in changes:
            stamp = {"seq": change.seq, "prev_seq": change.prev_seq}
            self.emitter.emit(
                "order", {**stamp, "order": change.staff}, to=staff_room(change.shop_id)
            )
            self.emitter.emit(
                "order", {**stamp, "order": change.lounge}, to=lounge_room(change.shop_id)
            )
            self.emitter.emit(
                "order", {**stamp, "order": change.customer}, to=customer_room(change.order_id)
            )
            self.metrics.emitted("staff")
            self.metrics.emitted("lounge")
            self.metrics.emitted("customer")
        for notice in notices:
            for room in notice.rooms:
                self.emitter.emit(notice.event, notice.data, to=room)

    def let_deliveries_go(self) -> None:
        """Yield once to the server's other tasks, so the messages just
        queued for each screen are written before this request goes on to
        answer (and before the next requests already waiting are served).

        Under eventlet and gevent an emit only queues the message for each
        client's writer task; without this yield it waits behind every
        request that was ready in the same loop turn. With threads it costs
        nothing. A write-only emitter (CLI, jobs) has no ``sleep``.
        """
        pause = getattr(self.emitter, "sleep", None)
        if pause is not None:
            pause(0)
