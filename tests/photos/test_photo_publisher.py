"""A photo is announced by the one publisher, like every other change: its
notice leaves with the command's publish, under the publish lock, after the
commit, and screens see it in commit order after the order change that came
before it."""

from __future__ import annotations

import uuid
from typing import Any

from shared.services.core import Core
from tests.conftest import Shop

from .conftest import Flow, photo_bytes


class LockWitness:
    """Sits where the publisher expects Socket.IO: notes each emit and
    whether the publish lock was held, then forwards to the real server."""

    def __init__(self, core: Core, socketio: Any) -> None:
        self.core = core
        self.socketio = socketio
        self.seen: list[tuple[str, str, bool]] = []

    def emit(self, event: str, data: Any, *, to: str, namespace: str = "/") -> Any:
        self.seen.append((event, to, self.core.publish_lock.locked()))
        return self.socketio.emit(event, data, to=to, namespace=namespace)

    def sleep(self, seconds: float) -> None:
        self.socketio.sleep(seconds)


def test_a_photo_goes_out_through_the_publisher_after_the_change_before_it(
    app: Any, socketio: Any, core: Core, photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order()
    board = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    assert board.is_connected()
    board.get_received()
    witness = LockWitness(core, socketio)
    core.publisher.emitter = witness
    # A second quote (an order change), then the first quote's photo.
    quoted = flow.call(
        "POST",
        f"/api/v1/orders/{order['id']}/extra-work",
        "technician",
        {
            "description": "雨刮片老化",
            "labour_hours": 0.2,
            "price_cents": 12000,
            "version": order["version"],
        },
    )
    reply = photo_client.post(
        f"/api/v1/orders/{order['id']}/extra-work/1/photo",
        data=photo_bytes(),
        content_type="image/jpeg",
        headers=shop.headers("technician", str(uuid.uuid4())),
    )
    assert reply.status_code == 201, reply.get_json()
    received = [(m["name"], m["args"][0]) for m in board.get_received()]
    assert [name for name, _data in received] == ["order", "photo"]
    assert received[0][1]["order"]["version"] == quoted["order"]["version"]
    assert received[1][1] == {"order_id": order["id"], "quote_id": 1}
    # Every emit, the photo's included, left under the publish lock.
    staff = f"staff:{shop.shop_id}"
    photo_emits = [(to, held) for event, to, held in witness.seen if event == "photo"]
    assert photo_emits == [(staff, True), (f"order:{order['id']}", True)]
    assert all(held for _event, _to, held in witness.seen)
    board.disconnect()
