"""A quote's photo may be replaced while the quote is pending (a revised
quote may come with a new picture) and never after: once the customer decided
it is what they decided on (quote_locked), once the quote expired nobody can
decide on it (quote_expired). Real app, real database, real Socket.IO."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

from PIL import Image
from sqlalchemy import select

from shared.persistence.photo_models import QuotePhoto
from shared.services import timers
from shared.services.core import Core
from tests.conftest import Shop

from .conftest import Flow, decide, photo_bytes

RED, BLUE = (220, 20, 20), (20, 20, 220)


def photo_path(order_id: int, quote_id: int = 1) -> str:
    return f"/api/v1/orders/{order_id}/extra-work/{quote_id}/photo"


def upload(client: Any, shop: Shop, order_id: int, data: bytes, quote_id: int = 1) -> Any:
    return client.post(
        photo_path(order_id, quote_id),
        data=data,
        content_type="image/jpeg",
        headers=shop.headers("technician", str(uuid.uuid4())),
    )


def rows(shop: Shop) -> list[QuotePhoto]:
    with shop.core.db.read() as session:
        found = list(session.execute(select(QuotePhoto).order_by(QuotePhoto.id)).scalars())
        session.expunge_all()
        return found


def colour_of(data: bytes) -> Any:
    return Image.open(io.BytesIO(data)).convert("RGB").getpixel((10, 10))


def near(pixel: Any, colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=True))


def assert_problem(reply: Any, status: int, code: str) -> None:
    assert reply.status_code == status, reply.get_data(as_text=True)
    assert reply.get_json()["code"] == code


def test_a_revised_pending_quote_takes_a_new_photo_in_place_of_the_old(
    app: Any, socketio: Any, photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order()
    first = upload(photo_client, shop, order["id"], photo_bytes((640, 480), colour=RED))
    assert first.status_code == 201 and first.get_json()["revision"] == 1
    shown = photo_client.get(photo_path(order["id"]), headers=shop.headers("advisor"))
    assert shown.headers["Cache-Control"] == "private, no-cache"
    board = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    board.get_received()

    flow.call(
        "PUT",
        f"/api/v1/orders/{order['id']}/extra-work/1",
        "technician",
        {
            "description": "刹车片和刹车盘",
            "labour_hours": 2,
            "price_cents": 98000,
            "quote_version": 1,
        },
    )
    board.get_received()
    second = upload(photo_client, shop, order["id"], photo_bytes((800, 600), colour=BLUE))
    assert second.status_code == 201, second.get_data(as_text=True)
    answer = second.get_json()
    assert (answer["revision"], answer["width"], answer["height"]) == (2, 800, 600)
    assert answer["photo_url"] == photo_path(order["id"])
    (row,) = rows(shop)
    assert (row.revision, row.width) == (2, 800) and near(colour_of(row.data), BLUE)
    # Screens hear of it as of any photo, and fetch the new one.
    hint = {"order_id": order["id"], "quote_id": 1}
    assert [(m["name"], m["args"][0]) for m in board.get_received()] == [("photo", hint)]
    board.disconnect()
    # The browser's old copy no longer validates: it gets the new picture.
    fetched = photo_client.get(
        photo_path(order["id"]),
        headers={**shop.headers("advisor"), "If-None-Match": shown.headers["ETag"]},
    )
    assert fetched.status_code == 200 and near(colour_of(fetched.get_data()), BLUE)
    customer_token = str(order["customer_url"]).rsplit("/t/", 1)[1]
    customer = photo_client.get(f"/api/v1/track/{customer_token}/extra-work/1/photo")
    assert customer.get_data() == row.data
    listed = photo_client.get(
        f"/api/v1/orders/{order['id']}/photos", headers=shop.headers("advisor")
    ).get_json()
    assert [(p["quote_id"], p["revision"]) for p in listed["photos"]] == [(1, 2)]


def test_a_decided_quote_keeps_its_photo(photo_client: Any, shop: Shop, flow: Flow) -> None:
    order = flow.quoted_order(quotes=2)
    for quote_id in (1, 2):
        reply = upload(photo_client, shop, order["id"], photo_bytes(colour=RED), quote_id)
        assert reply.status_code == 201
    decide(flow, order, 1, channel="phone")
    decide(flow, order, 2, approved=False)
    for quote_id in (1, 2):
        refused = upload(photo_client, shop, order["id"], photo_bytes(colour=BLUE), quote_id)
        assert_problem(refused, 409, "quote_locked")
    assert [(row.revision, near(colour_of(row.data), RED)) for row in rows(shop)] == [
        (1, True),
        (1, True),
    ]
    # Fixed for good now: the browser may keep it.
    fetched = photo_client.get(photo_path(order["id"]), headers=shop.headers("advisor"))
    assert fetched.headers["Cache-Control"] == "private, max-age=3600"


def test_an_expired_quote_keeps_its_photo(
    core: Core, photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order(quotes=2)
    assert upload(photo_client, shop, order["id"], photo_bytes(colour=RED)).status_code == 201
    real_clock = core.clock
    core.clock = lambda: real_clock() + timedelta(days=1)
    # Past its time but not yet marked by the shop's timer: already refused.
    early = upload(photo_client, shop, order["id"], photo_bytes(colour=BLUE), quote_id=2)
    assert_problem(early, 409, "quote_expired")
    assert timers.expire_due_quotes(core) == 1
    for quote_id in (1, 2):
        late = upload(photo_client, shop, order["id"], photo_bytes(colour=BLUE), quote_id)
        assert_problem(late, 409, "quote_expired")
    (row,) = rows(shop)
    assert row.revision == 1 and near(colour_of(row.data), RED)
