"""A change made over REST reaches every audience that may see it, redacted
for that audience, and no audience that may not.

Everything runs against a real ``baylight serve`` with real Socket.IO
clients. "Did not receive" is proven by ordering, not by waiting: a socket
receives its messages in the order the server emits them, so once a later
marker change has arrived, a leaked earlier message would already be there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LOUNGE_KEYS

from .sockets import Api, Message, Recorder, connected, customer_token, refused

pytestmark = [pytest.mark.slow, pytest.mark.server_per_module]

PRICE_CENTS = 987_654

FIRST = {
    "plate": "粤B12345",
    "customer": {"name": "欧阳娜娜", "phone": "13912345678"},
    "vehicle": {"model": "Camry", "vin": "LSVAB4BR5KN123456", "mileage": 42000},
    "complaint": "左前轮异响 squeak-first",
    "items": [{"title": "更换刹车片", "labour_hours": 1.5}],
    "waiting": True,
}
SECOND = {
    "plate": "京A67890",
    "customer": {"name": "诸葛亮亮", "phone": "13800009999"},
    "vehicle": {"model": "Accord", "vin": "LHGCR2F80GA000777", "mileage": 8000},
    "complaint": "空调不制冷 aircon-second",
    "items": [{"title": "空调检修", "labour_hours": 2.0}],
}


def secrets_of(order: dict[str, Any]) -> list[str]:
    """The private values of one order's job ticket."""
    return [
        order["customer"]["name"],
        order["customer"]["phone"],
        order["complaint"],
        order["vehicle"]["vin"],
        order["plate"],
    ]


def orders_of(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.event == "order"]


def leaks(messages: list[Message], values: list[str]) -> list[tuple[str, str]]:
    """(value, payload) for every private value found in any raw payload."""
    return [(v, m.raw) for m in messages for v in values if v in m.raw]


@pytest.fixture
def api(live: Any) -> Iterator[Api]:
    server, shop = live
    client = Api(server.url, shop.tokens)
    yield client
    client.close()


def test_transition_reaches_each_audience_redacted(live: Any, api: Api) -> None:
    """Changes on two orders, alternating (A, B, A, B): the board gets all of
    them as staff views, the lounge all of them redacted, and each customer
    only its own, with no trace of the other customer."""
    server, shop = live
    first = api.assign(api.create(**FIRST), "B01", [shop.technicians[0]])
    second = api.assign(api.create(**SECOND), "B02", [shop.technicians[1]])
    with (
        connected(server.url, {"token": shop.tokens["display-board"]}) as board,
        connected(server.url, {"token": shop.tokens["display-lounge"]}) as lounge,
        connected(server.url, {"token": customer_token(first)}) as customer_first,
        connected(server.url, {"token": customer_token(second)}) as customer_second,
    ):
        screens = (board, lounge, customer_first, customer_second)
        for screen in screens:
            screen.wait_for_snapshot()
        replies: list[dict[str, Any]] = []
        after = api.last_seq()

        def change(reply: dict[str, Any]) -> dict[str, Any]:
            replies.append(reply.get("order", reply))
            return dict(replies[-1])

        first = change(api.move(first, "in_progress", role="technician"))
        second = change(api.move(second, "in_progress", role="technician2"))
        quote = {
            "description": "刹车盘磨损，建议更换",
            "labour_hours": 1.0,
            "price_cents": PRICE_CENTS,
            "version": first["version"],
        }
        path = f"/orders/{first['id']}/extra-work"
        first = change(api.call("POST", path, role="technician", body=quote, expect=201).json())
        second = change(
            api.move(second, "paused", role="technician2", pause_reason="parts", reason="等配件")
        )
        seqs = command_seqs(api, after)
        assert len(seqs) == 4, seqs
        for screen in (board, lounge, customer_second):
            screen.wait_for_seq(seqs[3])
        customer_first.wait_for_seq(seqs[2])
        # The marker waits above already order every earlier leak before the
        # last own change; the round trip also covers a leak of the very last one.
        for screen in screens:
            assert screen.settle() >= seqs[3]

    assert_board_sees_staff_view(board, replies, seqs)
    assert_lounge_sees_only_public_fields(lounge, replies, seqs)
    assert_customer_sees_only_own_order(customer_first, first, second, [seqs[0], seqs[2]])
    assert_customer_sees_only_own_order(customer_second, second, first, [seqs[1], seqs[3]])


def command_seqs(api: Api, after: int) -> list[int]:
    """The seq each command's message carries (its last event's), in order,
    from the shop's log after ``after``: the shop-load engine's own
    estimates (eta_revised, recorded beside the commands) left out."""
    log = api.call("GET", f"/events?after={after}&limit=1000", expect=200).json()["events"]
    found: list[int] = []
    last: tuple[int, str] | None = None
    for event in log:
        if event["type"] == "eta_revised":
            last = None
            continue
        command = (event["order_id"], event["at"])
        if command == last:
            found[-1] = event["seq"]
        else:
            found.append(event["seq"])
        last = command
    return found


def of_commands(messages: list[Message], seqs: list[int]) -> list[Message]:
    """The order messages the commands sent (not the engine's revisions)."""
    return [m for m in orders_of(messages) if m.seq in seqs]


def assert_board_sees_staff_view(
    board: Recorder, replies: list[dict[str, Any]], seqs: list[int]
) -> None:
    """The board gets each change once, in commit order, as the very staff
    view the REST caller got back (same transaction, same clock reading)."""
    received = of_commands(board.messages, seqs)
    assert [m.seq for m in received] == seqs
    assert_no_gaps(board, orders_of(board.messages))
    assert [m.order for m in received] == replies
    assert received[0].order["customer"]["name"] == FIRST["customer"]["name"]
    assert received[2].order["quotes"][0]["price_cents"] == PRICE_CENTS


def assert_no_gaps(screen: Recorder, received: list[Message]) -> None:
    """Staff and lounge see every change, so each message's ``prev_seq`` is
    the ``seq`` the screen already holds: the chain from the snapshot on has
    no gap a screen would have to resync for."""
    held = [screen.of("snapshot")[0].seq] + [m.seq for m in received[:-1]]
    assert [m.data["prev_seq"] for m in received] == held
    for message in received:
        assert set(message.data) == {"seq", "prev_seq", "order"}


def assert_lounge_sees_only_public_fields(
    lounge: Recorder, replies: list[dict[str, Any]], seqs: list[int]
) -> None:
    """The public TV: the allow-listed keys and nothing private, anywhere in
    the raw payloads (snapshot included)."""
    messages = lounge.messages
    received = of_commands(messages, seqs)
    assert [m.seq for m in received] == seqs
    assert_no_gaps(lounge, orders_of(messages))
    assert [(m.order["id"], m.order["stage"]) for m in received] == [
        (r["id"], r["stage"]) for r in replies
    ]
    for message in received:
        assert set(message.order) == LOUNGE_KEYS, message.data
    snapshot = lounge.of("snapshot")[0].data
    assert snapshot["bays"] == [] and snapshot["technicians"] == []
    assert {o["id"] for o in snapshot["orders"]} == {r["id"] for r in replies}
    for order in snapshot["orders"]:
        assert set(order) == LOUNGE_KEYS, order
    private = secrets_of(replies[0]) + secrets_of(replies[1]) + [str(PRICE_CENTS)]
    assert leaks(messages, private) == []


def assert_customer_sees_only_own_order(
    screen: Recorder, own: dict[str, Any], other: dict[str, Any], own_seqs: list[int]
) -> None:
    """Only its own order's changes reach a customer's phone, without the
    other customer's data and without its own phone or VIN (a forwarded link
    must not leak them)."""
    messages = screen.messages
    snapshot = screen.of("snapshot")[0].data
    assert [o["id"] for o in snapshot["orders"]] == [own["id"]]
    received = of_commands(messages, own_seqs)
    assert [(m.order["id"], m.seq) for m in received] == [(own["id"], s) for s in own_seqs]
    assert {m.order["id"] for m in orders_of(messages)} == {own["id"]}
    assert received[-1].order["stage"] == own["stage"]
    assert received[-1].order["version"] == own["version"]
    private = [*secrets_of(other), own["customer"]["phone"], own["vehicle"]["vin"]]
    assert leaks(messages, private) == []


REFUSED_AUTH: list[dict[str, Any] | None] = [
    None,
    {},
    {"token": ""},
    {"token": "bl_not-a-real-token"},
    {"token": 42},
    {"token": ["bl_x"]},
    {"since": 0},
]


def test_unauthenticated_client_is_refused(live: Any) -> None:
    """Every credential-less or bad-token connection is turned down, while
    the same helper sees a valid token through (so it can tell the two apart)."""
    server, shop = live
    accepted = [auth for auth in REFUSED_AUTH if not refused(server.url, auth)]
    assert accepted == []
    assert not refused(server.url, {"token": shop.tokens["display-board"]})
