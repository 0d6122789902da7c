"""The customer's signature on additional work approved in person, through
the real app (Flask test client, SQLite file, real Socket.IO test clients):
stored as a clean greyscale PNG, only for an in-person approval, only by the
staff who record decisions, replaceable until the order is handed over,
refused (with nothing stored) when it is not a readable picture or too large,
stored once per Idempotency-Key, and announced to the staff screens only."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import select

from shared.domain.errors import Forbidden
from shared.domain.order import Actor
from shared.domain.stages import Role
from shared.persistence.photo_models import QuoteSignature
from shared.services import setup, signatures
from shared.services.auth import create_api_token
from shared.services.commands import CommandRequest
from tests.conftest import Shop
from tests.staff_sessions import sign_in_as

from .conftest import Flow, decide, deliver, photo_bytes, signature_path, signature_png


def put(
    client: Any,
    shop: Shop,
    order_id: int,
    data: bytes,
    *,
    quote_id: int = 1,
    role: str = "advisor",
    key: str | None = None,
    content_type: str = "image/png",
    language: str | None = None,
) -> Any:
    headers = shop.headers(role, key or str(uuid.uuid4()))
    if language is not None:
        headers["Accept-Language"] = language
    return client.put(
        signature_path(order_id, quote_id),
        data=data,
        content_type=content_type,
        headers=headers,
    )


def stored(shop: Shop) -> list[QuoteSignature]:
    with shop.core.db.read() as session:
        rows = list(session.execute(select(QuoteSignature).order_by(QuoteSignature.id)).scalars())
        session.expunge_all()
        return rows


def assert_problem(reply: Any, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.get_data(as_text=True)
    assert reply.mimetype == "application/problem+json"
    body = dict(reply.get_json())
    assert body["code"] == code, body
    return body


def signed_in_person(flow: Flow, **quoted: Any) -> dict[str, Any]:
    """An order whose quote 1 the customer approved at the desk."""
    order = flow.quoted_order(**quoted)
    return decide(flow, order)


# ------------------------------------------------------------ stored and read


def test_an_in_person_approval_takes_a_clean_signature_staff_read_back(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = signed_in_person(flow)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "signature-pad 2.0 at 22.53N 113.94E")
    raw = signature_png((900, 300), pnginfo=info)
    reply = put(photo_client, shop, order["id"], raw)
    assert reply.status_code == 201, reply.get_data(as_text=True)
    answer = reply.get_json()
    assert answer == {
        "order_id": order["id"],
        "quote_id": 1,
        "url": signature_path(order["id"]),
        "quote_version": 1,
        "content_type": "image/png",
        "width": 900,
        "height": 300,
        "bytes": answer["bytes"],
        "revision": 1,
    }

    for role in ("advisor", "technician", "foreman"):
        fetched = photo_client.get(answer["url"], headers=shop.headers(role))
        assert fetched.status_code == 200 and fetched.mimetype == "image/png", role
    # The order is open, so the signature may still be redone: revalidated.
    assert fetched.headers["Cache-Control"] == "private, no-cache"
    etag = fetched.headers["ETag"]
    again = photo_client.get(
        answer["url"], headers={**shop.headers("advisor"), "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.get_data() == b""

    data = fetched.get_data()
    (row,) = stored(shop)
    assert row.data == data and len(data) == answer["bytes"]
    assert (row.quote_version, row.revision) == (1, 1)
    assert row.created_by.startswith("token:")
    assert b"signature-pad" not in data and b"113.94E" not in data
    picture = Image.open(io.BytesIO(data))
    assert (picture.format, picture.mode, picture.size) == ("PNG", "L", (900, 300))
    assert "Author" not in picture.info
    # Transparent pad on white paper; the stroke is dark ink.
    assert picture.getpixel((5, 5)) == 255
    assert picture.getextrema()[0] < 100


def test_json_base64_is_accepted_and_a_second_signature_replaces_the_first(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = signed_in_person(flow)
    first = photo_client.put(
        signature_path(order["id"]),
        json={"image": base64.b64encode(signature_png((400, 150))).decode()},
        headers=shop.headers("manager", "sig-json"),
    )
    assert first.status_code == 201, first.get_data(as_text=True)
    before = photo_client.get(signature_path(order["id"]), headers=shop.headers("advisor"))
    # Smudged: the customer signs again while the car is still in the shop.
    redo = put(photo_client, shop, order["id"], signature_png((500, 200)), role="admin")
    assert redo.status_code == 200, redo.get_data(as_text=True)
    assert (redo.get_json()["revision"], redo.get_json()["width"]) == (2, 500)
    (row,) = stored(shop)
    assert (row.width, row.height, row.revision) == (500, 200, 2)
    after = photo_client.get(
        signature_path(order["id"]),
        headers={**shop.headers("advisor"), "If-None-Match": before.headers["ETag"]},
    )
    assert after.status_code == 200 and after.get_data() == row.data
    assert after.headers["ETag"] != before.headers["ETag"]


def test_a_delivered_order_locks_its_signature_and_lets_browsers_keep_it(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = signed_in_person(flow)
    assert put(photo_client, shop, order["id"], signature_png()).status_code == 201
    delivered = deliver(flow, order)
    assert delivered["stage"] == "delivered"
    late = put(photo_client, shop, order["id"], signature_png((300, 100)))
    assert_problem(late, 409, "signature_locked")
    (row,) = stored(shop)
    assert row.revision == 1
    fetched = photo_client.get(signature_path(order["id"]), headers=shop.headers("advisor"))
    assert fetched.status_code == 200
    assert fetched.headers["Cache-Control"] == "private, max-age=3600"


def test_a_cancelled_order_takes_no_signature(photo_client: Any, shop: Shop, flow: Flow) -> None:
    order = signed_in_person(flow)
    flow.call(
        "POST",
        f"/api/v1/orders/{order['id']}/transitions",
        "advisor",
        {"to": "cancelled", "version": order["version"], "reason": "客户取消"},
    )
    assert_problem(put(photo_client, shop, order["id"], signature_png()), 409, "signature_locked")
    assert stored(shop) == []


# ------------------------------------------------------------ which quotes


def test_only_a_quote_approved_in_person_is_signed(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order(quotes=4)
    # The detail in English, as the request asks (the shop's default is zh_Hans).
    pending = put(photo_client, shop, order["id"], signature_png(), quote_id=1, language="en")
    problem = assert_problem(pending, 409, "signature_not_allowed")
    assert problem["quote_id"] == 1 and "in person" in problem["detail"]
    decide(flow, order, 2, channel="phone")
    decide(flow, order, 3, approved=False)
    decide(flow, order, 4)
    for quote_id in (2, 3):
        refused = put(photo_client, shop, order["id"], signature_png(), quote_id=quote_id)
        assert_problem(refused, 409, "signature_not_allowed")
    missing = put(photo_client, shop, order["id"], signature_png(), quote_id=9)
    assert_problem(missing, 404, "not_found")
    assert stored(shop) == []
    assert put(photo_client, shop, order["id"], signature_png(), quote_id=4).status_code == 201
    assert [(row.quote_id, row.quote_version) for row in stored(shop)] == [(4, 1)]
    assert_problem(
        photo_client.get(signature_path(order["id"], 2), headers=shop.headers()), 404, "not_found"
    )


def test_the_signature_records_the_version_the_customer_approved(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order()
    flow.call(
        "PUT",
        f"/api/v1/orders/{order['id']}/extra-work/1",
        "advisor",
        {
            "description": "刹车片和刹车盘",
            "labour_hours": 2,
            "price_cents": 98000,
            "quote_version": 1,
        },
    )
    decide(flow, order, version=2)
    reply = put(photo_client, shop, order["id"], signature_png())
    assert reply.status_code == 201 and reply.get_json()["quote_version"] == 2


# ------------------------------------------------------------ who


def test_only_the_staff_who_record_decisions_take_a_signature(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = signed_in_person(flow)
    for role in ("technician", "technician2", "foreman", "display-board", "display-lounge"):
        refused = put(photo_client, shop, order["id"], signature_png(), role=role)
        assert_problem(refused, 403, "forbidden")
    anonymous = photo_client.put(
        signature_path(order["id"]), data=signature_png(), content_type="image/png"
    )
    assert_problem(anonymous, 401, "unauthorized")
    # A customer's capability token is no bearer token.
    token = str(order["customer_url"]).rsplit("/t/", 1)[1]
    as_customer = photo_client.put(
        signature_path(order["id"]),
        data=signature_png(),
        content_type="image/png",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_problem(as_customer, 401, "unauthorized")
    assert stored(shop) == []
    for role in ("advisor", "manager", "admin"):
        assert put(photo_client, shop, order["id"], signature_png(), role=role).status_code in (
            200,
            201,
        )


def test_the_service_refuses_a_customer_whatever_the_web_lets_through(
    shop: Shop, flow: Flow
) -> None:
    order = signed_in_person(flow)
    customer = Actor(name="车主", roles=frozenset({Role.CUSTOMER}), ref="customer:1")
    with pytest.raises(Forbidden):
        signatures.store_signature(
            shop.core, CommandRequest(customer, shop.shop_id), order["id"], 1, signature_png()
        )
    assert stored(shop) == []
    assert not signatures.may_sign(customer)
    assert signatures.may_sign(Actor(name="陈顾问", roles=frozenset({Role.ADVISOR})))


def test_readers_are_staff_of_the_shop(photo_client: Any, shop: Shop, flow: Flow) -> None:
    order = signed_in_person(flow)
    assert put(photo_client, shop, order["id"], signature_png()).status_code == 201
    for role in ("display-board", "display-lounge"):
        refused = photo_client.get(signature_path(order["id"]), headers=shop.headers(role))
        assert_problem(refused, 403, "forbidden")
    assert_problem(photo_client.get(signature_path(order["id"])), 401, "unauthorized")
    token = str(order["customer_url"]).rsplit("/t/", 1)[1]
    # The customer's link reaches photos only, never a signature.
    assert photo_client.get(f"/api/v1/track/{token}/extra-work/1/signature").status_code == 404
    listed = photo_client.get(f"/api/v1/track/{token}/photos").get_json()
    assert "signatures" not in listed
    other_shop = setup.ensure_shop(shop.core, slug="other", name="别的店")
    stranger = create_api_token(shop.core, shop_id=other_shop, role="admin", name="别的店管理员")
    headers = {"Authorization": f"Bearer {stranger}"}
    assert_problem(photo_client.get(signature_path(order["id"]), headers=headers), 404, "not_found")
    refused = photo_client.put(
        signature_path(order["id"]),
        data=signature_png(),
        content_type="image/png",
        headers={**headers, "Idempotency-Key": "stranger"},
    )
    assert_problem(refused, 404, "not_found")
    assert len(stored(shop)) == 1


def test_a_cookie_session_signature_needs_the_csrf_token(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = signed_in_person(flow)
    advisor = setup.create_user(
        shop.core, shop.shop_id, role="advisor", name="陈顾问", password="correct horse battery"
    )
    sign_in_as(photo_client, advisor)
    reply = photo_client.put(
        signature_path(order["id"]), data=signature_png(), content_type="image/png"
    )
    assert "CSRF" in assert_problem(reply, 403, "forbidden")["detail"]
    assert stored(shop) == []


# ------------------------------------------------------------ refusals


def _bomb() -> bytes:
    # 64 megapixels that compress to a few kilobytes: refused before decoding.
    out = io.BytesIO()
    Image.new("1", (8000, 8000), 1).save(out, "PNG")
    return out.getvalue()


def _truncated() -> bytes:
    whole = signature_png((800, 300))
    return whole[: len(whole) // 2]


REFUSED = [
    ("text sent as PNG", b"I hereby sign nothing\n", "image/png"),
    ("truncated PNG", _truncated(), "image/png"),
    ("a JPEG is no PNG", photo_bytes((300, 100)), "image/png"),
    ("a JPEG body", photo_bytes((300, 100)), "image/jpeg"),
    ("blank pad", signature_png(ink=(0, 0, 0, 0)), "image/png"),
    (
        "white page",
        signature_png(background=(255, 255, 255, 255), ink=(250, 250, 250, 255)),
        "image/png",
    ),
    ("decompression bomb", _bomb(), "image/png"),
    ("empty body", b"", "image/png"),
    ("wrong content type", signature_png(), "text/plain"),
]


@pytest.mark.parametrize(("what", "body", "content_type"), REFUSED, ids=[r[0] for r in REFUSED])
def test_what_is_not_a_signature_is_refused_and_nothing_stored(
    photo_client: Any, shop: Shop, flow: Flow, what: str, body: bytes, content_type: str
) -> None:
    order = signed_in_person(flow)
    reply = put(photo_client, shop, order["id"], body, content_type=content_type)
    assert assert_problem(reply, 422, "validation_error")["field"] == "image", what
    assert stored(shop) == []


def test_bad_json_forms_are_refused(photo_client: Any, shop: Shop, flow: Flow) -> None:
    order = signed_in_person(flow)
    headers = shop.headers("advisor")
    for body, field in (
        ({"image": "!!!"}, "image"),
        ({}, "image"),
        ({"image": base64.b64encode(signature_png()).decode(), "photo": "x"}, "photo"),
    ):
        reply = photo_client.put(signature_path(order["id"]), json=body, headers=headers)
        assert assert_problem(reply, 422, "validation_error")["field"] == field, body
    assert stored(shop) == []


def test_over_512_kilobytes_is_413_in_either_form(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = signed_in_person(flow)
    over = b"\x89PNG\r\n\x1a\n" + bytes(signatures.MAX_SIGNATURE_BYTES)
    assert_problem(put(photo_client, shop, order["id"], over), 413, "payload_too_large")
    as_json = photo_client.put(
        signature_path(order["id"]),
        json={"image": base64.b64encode(over).decode()},
        headers=shop.headers("advisor"),
    )
    assert_problem(as_json, 413, "payload_too_large")
    # Within the JSON envelope's room but over the picture's limit.
    just_over = bytes(signatures.MAX_SIGNATURE_BYTES + 1)
    as_small_json = photo_client.put(
        signature_path(order["id"]),
        json={"image": base64.b64encode(just_over).decode()},
        headers=shop.headers("advisor"),
    )
    assert_problem(as_small_json, 413, "payload_too_large")
    assert stored(shop) == []
    # A real signature just under the limit is taken: noise that PNG
    # cannot compress, with ink on it.
    noisy = Image.effect_noise((400, 400), 100).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "PNG", compress_level=0)
    assert len(out.getvalue()) < signatures.MAX_SIGNATURE_BYTES
    assert put(photo_client, shop, order["id"], out.getvalue()).status_code == 201


def test_big_signatures_are_scaled_down() -> None:
    prepared = signatures.prepare_signature(signature_png((2400, 800)))
    assert (prepared.width, prepared.height) == (signatures.MAX_SIGNATURE_SIDE, 400)
    assert Image.open(io.BytesIO(prepared.data)).mode == "L"


# ------------------------------------------------------------ retries and screens


def test_a_replayed_signature_is_stored_once_and_announced_once(
    app: Any, socketio: Any, photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = signed_in_person(flow)
    token = str(order["customer_url"]).rsplit("/t/", 1)[1]
    board = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    customer = socketio.test_client(app, auth={"token": token})
    lounge = socketio.test_client(app, auth={"token": shop.tokens["display-lounge"]})
    for connection in (board, customer, lounge):
        assert connection.is_connected()
        connection.get_received()
    picture = signature_png((640, 240))
    first = put(photo_client, shop, order["id"], picture, key="desk-sign-1")
    assert first.status_code == 201
    received = [(m["name"], m["args"][0]) for m in board.get_received()]
    assert received == [("signature", {"order_id": order["id"], "quote_id": 1})]
    # Staff only: the customer's page and the lounge hear nothing of it.
    assert customer.get_received() == [] and lounge.get_received() == []

    replay = photo_client.put(
        signature_path(order["id"]),
        json={"image": base64.b64encode(picture).decode()},
        headers=shop.headers("advisor", "desk-sign-1"),
    )
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    assert board.get_received() == []
    other = put(photo_client, shop, order["id"], signature_png((100, 50)), key="desk-sign-1")
    assert_problem(other, 422, "idempotency_key_reuse")
    assert [row.revision for row in stored(shop)] == [1]
    for connection in (board, customer, lounge):
        connection.disconnect()


# ------------------------------------------------------------ where the desk finds it


def test_the_order_photo_list_names_its_signatures(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order(quotes=2)
    assert (
        photo_client.post(
            f"/api/v1/orders/{order['id']}/extra-work/2/photo",
            data=photo_bytes(),
            content_type="image/jpeg",
            headers=shop.headers("technician", "photo-2"),
        ).status_code
        == 201
    )
    decide(flow, order)
    assert put(photo_client, shop, order["id"], signature_png((300, 120))).status_code == 201
    listed = photo_client.get(
        f"/api/v1/orders/{order['id']}/photos", headers=shop.headers("advisor")
    ).get_json()
    assert listed == {
        "photos": [
            {
                "quote_id": 2,
                "width": 640,
                "height": 480,
                "revision": 1,
                "photo_url": f"/api/v1/orders/{order['id']}/extra-work/2/photo",
            }
        ],
        "signatures": [
            {
                "quote_id": 1,
                "quote_version": 1,
                "width": 300,
                "height": 120,
                "revision": 1,
                "signature_url": signature_path(order["id"]),
            }
        ],
    }


def test_signed_quotes_names_every_signed_quote_of_the_orders_asked(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    first = signed_in_person(flow, plate="粤B11111")
    second = flow.quoted_order("粤B22222", quotes=2, bay="B02")
    decide(flow, second, 2)
    unsigned = signed_in_person(flow, plate="粤B33333", bay="B03")
    for order, quote_id in ((first, 1), (second, 2)):
        reply = put(photo_client, shop, order["id"], signature_png(), quote_id=quote_id)
        assert reply.status_code == 201
    with shop.core.db.read() as session:
        found = signatures.signed_quotes(session, [first["id"], second["id"], unsigned["id"]])
        assert found == {(first["id"], 1), (second["id"], 2)}
        assert signatures.signed_quotes(session, [second["id"]]) == {(second["id"], 2)}
        assert signatures.signed_quotes(session, []) == set()


def test_the_order_names_its_signature_only_on_the_signed_quote(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = signed_in_person(flow)
    unsigned = photo_client.get(f"/api/v1/orders/{order['id']}", headers=shop.headers("advisor"))
    assert [q["signature_url"] for q in unsigned.get_json()["quotes"]] == [None]
    assert put(photo_client, shop, order["id"], signature_png((600, 200))).status_code == 201
    for path in (f"/api/v1/orders/{order['id']}", "/api/v1/orders?active=true"):
        body = photo_client.get(path, headers=shop.headers("foreman")).get_json()
        found = (
            body if "quotes" in body else next(o for o in body["orders"] if o["id"] == order["id"])
        )
        assert [q["signature_url"] for q in found["quotes"]] == [signature_path(order["id"])]
    track = order["customer_url"].rsplit("/", 1)[1]
    customer = photo_client.get(f"/api/v1/track/{track}").get_json()["order"]
    assert all("signature_url" not in q for q in customer["quotes"])
