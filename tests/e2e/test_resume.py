"""Snapshot then resume: a screen that reconnects
with ``since`` loses nothing and receives nothing twice, and the missed
messages applied to its stale snapshot equal a fresh snapshot (Zulip's
"events applied to stale state equal a fresh fetch").

Against a real ``baylight serve`` with real Socket.IO clients; "nothing
more arrived" is proven with ``Recorder.settle`` (a server round trip), never
with a sleep.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .sockets import Api, Message, Recorder, connected

pytestmark = [pytest.mark.slow, pytest.mark.server_per_module]

TERMINAL = {"delivered", "cancelled"}


@dataclass
class Missed:
    """What happened while the board was away."""

    stale: Message  # the snapshot the board had
    changed: set[int]  # ids of the orders changed after it
    untouched: int  # an order not changed, used for marker changes
    commands: int


@pytest.fixture
def api(live: Any) -> Iterator[Api]:
    server, shop = live
    client = Api(server.url, shop.tokens)
    yield client
    client.close()


def board_auth(shop: Any, since: Any = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"token": shop.tokens["display-board"]}
    if since is not None:
        auth["since"] = since
    return auth


def miss_changes(server: Any, shop: Any, api: Api) -> Missed:
    """Board takes a snapshot and leaves; seven commands then change four
    orders: one moved along, one dispatched and started, one cancelled (it
    leaves the board) and one created (it joins the board)."""
    technician, technician2 = shop.technicians
    moved = api.create(plate="粤B10001")
    started = api.create(plate="粤B10002")
    cancelled = api.create(plate="粤B10003")
    untouched = api.create(plate="粤B10004")
    # The shop-load engine's first estimates of the new cars, before the
    # board looks (it records them as eta_revised within about a second).
    api.quiet()
    with connected(server.url, board_auth(shop)) as board:
        stale = board.wait_for_snapshot()
    moved = api.assign(moved, "B01", [technician])
    moved = api.move(moved, "in_progress", role="technician")
    started = api.assign(started, "B02", [technician2])
    api.move(cancelled, "cancelled", role="advisor", reason="客户取消")
    created = api.create(plate="粤B10005")
    api.move(moved, "paused", role="technician", pause_reason="parts", reason="等配件")
    api.move(started, "in_progress", role="technician2")
    api.quiet()
    changed = {moved["id"], started["id"], cancelled["id"], created["id"]}
    # The engine may also have revised the untouched car's estimate: the
    # changed orders are what the log says changed.
    logged = set(newest_seq_per_order(api, stale.seq))
    assert changed <= logged <= changed | {untouched["id"]}
    return Missed(stale, logged, untouched["id"], commands=7)


def marker(api: Api, shop: Any, order_id: int) -> int:
    """One change on the order nobody asserts about (move it to another bay);
    returns the seq it was stamped with."""
    order = api.order(order_id)
    bay = "B03" if order["bay"] != "B03" else "B02"
    api.assign(order, bay, [shop.technicians[0]])
    return api.last_seq()


def newest_seq_per_order(api: Api, after: int) -> dict[int, int]:
    feed = api.call("GET", f"/events?after={after}&limit=1000", expect=200).json()
    newest: dict[int, int] = {}
    for event in feed["events"]:
        newest[event["order_id"]] = max(newest.get(event["order_id"], 0), event["seq"])
    return newest


def without_history(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if k != "history"}


def apply(snapshot: dict[str, Any], messages: list[Message]) -> dict[int, dict[str, Any]]:
    """What a board shows after applying messages to a snapshot: by order id,
    the higher seq wins; a closed order leaves the board."""
    shown = {o["id"]: (snapshot["seq"], o) for o in snapshot["orders"]}
    for message in messages:
        if message.event != "order":
            continue
        order = message.order
        if message.seq > shown.get(order["id"], (-1, None))[0]:
            shown[order["id"]] = (message.seq, order)
    return {i: o for i, (_seq, o) in shown.items() if o["stage"] not in TERMINAL}


def test_reconnect_with_since_gets_each_missed_order_once(live: Any, api: Api) -> None:
    """Reconnecting with ``since`` brings each changed order once, as it is
    now, and nothing else; applied to the stale snapshot that is exactly a
    fresh snapshot."""
    server, shop = live
    missed = miss_changes(server, shop, api)
    since = missed.stale.seq
    last_seq = api.last_seq()
    assert last_seq > since + missed.commands  # assignments write two events

    with connected(server.url, board_auth(shop, since)) as board:
        assert board.settle() == last_seq
        received = board.messages

    assert [m.event for m in received] == ["order"] * len(missed.changed)
    # A catch-up is not a live change: it has no prev_seq to chain on.
    assert all(set(m.data) == {"seq", "order"} for m in received)
    assert sorted(m.order["id"] for m in received) == sorted(missed.changed)
    newest = newest_seq_per_order(api, since)
    assert {m.order["id"]: m.seq for m in received} == newest
    assert [m.seq for m in received] == sorted(newest.values())
    assert max(m.seq for m in received) == last_seq
    for message in received:
        assert message.order == without_history(api.order(message.order["id"]))

    with connected(server.url, board_auth(shop)) as fresh:
        fresh_snapshot = fresh.wait_for_snapshot().data
    assert fresh_snapshot["seq"] == last_seq
    fresh_orders = {o["id"]: o for o in fresh_snapshot["orders"]}
    assert apply(missed.stale.data, []) != fresh_orders, "the stale snapshot must be stale"
    assert apply(missed.stale.data, received) == fresh_orders


def test_since_current_future_and_resync(live: Any, api: Api) -> None:
    """An up-to-date screen gets nothing (then live changes); a screen ahead
    of the server (a restored backup) gets a snapshot; ``resync`` answers as
    a reconnect does; an unusable ``since`` means a snapshot."""
    server, shop = live
    missed = miss_changes(server, shop, api)
    last_seq = api.last_seq()

    with connected(server.url, board_auth(shop, last_seq)) as current:
        assert current.settle() == last_seq
        assert current.messages == [], "since=current seq must get nothing"
        seq = marker(api, shop, missed.untouched)
        settled = api.quiet()
        assert current.settle() == settled
        # The marker, then whatever the engine revised after it.
        revised = sorted(newest_seq_per_order(api, seq).values())
        assert [(m.event, m.seq) for m in current.messages] == [
            ("order", s) for s in [seq, *revised]
        ]
        assert current.messages[0].data["prev_seq"] == last_seq
    last_seq = settled

    with connected(server.url, board_auth(shop, last_seq + 1000)) as ahead:
        snapshot = ahead.wait_for_snapshot()
        ahead.settle()
        assert [m.event for m in ahead.messages] == ["snapshot"]
        assert snapshot.seq == last_seq

    with connected(server.url, board_auth(shop, missed.stale.seq)) as screen:
        screen.settle()
        reconnected = screen.messages
        assert_resync_answers(screen, missed.stale.seq, reconnected, last_seq)

    for unusable in (-1, "5", True, 1.5, None):
        # Anything but a whole seq ≥ 0 is treated as "no since": a snapshot.
        with connected(server.url, board_auth(shop, unusable)) as screen:
            screen.settle()
            assert [m.event for m in screen.messages] == ["snapshot"], unusable


def assert_resync_answers(
    screen: Recorder, since: int, reconnected: list[Message], last_seq: int
) -> None:
    """``resync`` answers exactly as a reconnect with the same ``since`` does."""
    screen.resync(since)
    # The client library hands each incoming message to a thread of its own,
    # so under load the ack can be recorded before the last answer is.
    deadline = time.monotonic() + 5
    while len(screen.messages) < 2 * len(reconnected) and time.monotonic() < deadline:
        time.sleep(0.02)
    answered = screen.messages[len(reconnected) :]
    assert [(m.event, m.data) for m in answered] == [(m.event, m.data) for m in reconnected]

    before = len(screen.messages)
    screen.resync(last_seq)
    assert screen.messages[before:] == []

    screen.resync(last_seq + 1000)
    assert [(m.event, m.seq) for m in screen.messages[before:]] == [("snapshot", last_seq)]
