"""Photos of additional work through the real app (Flask test client, SQLite
file, real Socket.IO test clients): what is stored is a clean re-encoding,
anything else is refused with nothing stored, only the right people see it,
and a retried upload is stored once."""

from __future__ import annotations

import base64
import io
import random
import uuid
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from shared.domain.errors import ValidationFailed
from shared.persistence.photo_models import QuotePhoto
from shared.services import photos, setup
from shared.services.auth import create_api_token
from tests.conftest import Shop
from tests.staff_sessions import sign_in_as

from .conftest import Flow, photo_bytes

GPS_IFD = 0x8825
ORIENTATION = 0x0112
ROTATE_TO_DISPLAY_CLOCKWISE = 6


def photo_path(order_id: int, quote_id: int = 1) -> str:
    return f"/api/v1/orders/{order_id}/extra-work/{quote_id}/photo"


def upload(
    client: Any,
    shop: Shop,
    order_id: int,
    data: bytes,
    *,
    content_type: str = "image/jpeg",
    quote_id: int = 1,
    role: str = "technician",
    key: str | None = None,
) -> Any:
    return client.post(
        photo_path(order_id, quote_id),
        data=data,
        content_type=content_type,
        headers=shop.headers(role, key or str(uuid.uuid4())),
    )


def stored_rows(shop: Shop) -> list[QuotePhoto]:
    """Every stored photo, detached with its columns loaded."""
    with shop.core.db.read() as session:
        rows = list(session.execute(select(QuotePhoto).order_by(QuotePhoto.id)).scalars())
        session.expunge_all()
        return rows


def assert_problem(reply: Any, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.get_data(as_text=True)
    assert reply.mimetype == "application/problem+json"
    body = dict(reply.get_json())
    assert body["code"] == code, body
    return body


def camera_shot() -> bytes:
    """A 3000×2000 JPEG as a tablet writes it: sideways pixels with the
    Orientation tag, GPS position, camera make, an XMP packet and a comment.
    Left half red, right half blue, so the rotation can be checked."""
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATE_TO_DISPLAY_CLOCKWISE
    exif[0x010F] = "SecretCam"
    exif[GPS_IFD] = {1: "N", 2: (22.0, 32.0, 10.0), 3: "E", 4: (113.0, 56.0, 20.0)}
    image = Image.new("RGB", (3000, 2000), (220, 20, 20))
    image.paste((20, 20, 220), (1500, 0, 3000, 2000))
    out = io.BytesIO()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><GPSLatitude>22,32N</GPSLatitude></x:xmpmeta>'
    image.save(out, "JPEG", exif=exif, xmp=xmp, comment=b"taken at home")
    raw = out.getvalue()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(GPS_IFD), "the test shot has GPS"
    return raw


def near(pixel: Any, colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=True))


# ------------------------------------------------------------ what is stored


def test_camera_jpeg_is_stored_upright_small_and_without_any_metadata(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order()
    reply = upload(photo_client, shop, order["id"], camera_shot())
    assert reply.status_code == 201, reply.get_data(as_text=True)
    answer = reply.get_json()
    assert answer["photo_url"] == photo_path(order["id"])
    assert (answer["quote_id"], answer["content_type"]) == (1, "image/jpeg")
    assert (answer["width"], answer["height"]) == (1067, 1600)

    fetched = photo_client.get(answer["photo_url"], headers=shop.headers("advisor"))
    assert fetched.status_code == 200 and fetched.mimetype == "image/jpeg"
    # Its quote is pending, so the photo may still be replaced: a browser
    # keeps it but asks again (ETag) before showing it.
    assert fetched.headers["Cache-Control"] == "private, no-cache"
    assert fetched.headers["ETag"]
    data = fetched.get_data()
    (row,) = stored_rows(shop)
    assert row.data == data and row.created_by.startswith("token:")
    for secret in (b"Exif", b"GPS", b"SecretCam", b"xmpmeta", b"taken at home"):
        assert secret not in data, secret
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "JPEG" and picture.size == (1067, 1600)
    assert (
        not picture.getexif() and "exif" not in picture.info and "icc_profile" not in picture.info
    )
    # Orientation 6 turns the left edge (red) to the top.
    assert near(picture.getpixel((533, 20)), (220, 20, 20))
    assert near(picture.getpixel((533, 1580)), (20, 20, 220))


def test_png_with_transparency_is_flattened_on_white_via_multipart(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order()
    png = photo_bytes((400, 300), "PNG", mode="RGBA", colour=(0, 0, 0, 0))
    reply = photo_client.post(
        photo_path(order["id"]),
        data={"photo": (io.BytesIO(png), "part.png", "image/png")},
        content_type="multipart/form-data",
        headers=shop.headers("technician", "png-upload"),
    )
    assert reply.status_code == 201, reply.get_data(as_text=True)
    (row,) = stored_rows(shop)
    picture = Image.open(io.BytesIO(row.data))
    assert (picture.format, picture.size) == ("JPEG", (400, 300))
    assert near(picture.getpixel((200, 150)), (255, 255, 255))


def test_webp_is_accepted_as_json_base64(photo_client: Any, shop: Shop, flow: Flow) -> None:
    order = flow.quoted_order()
    webp = photo_bytes((800, 600), "WEBP", colour=(10, 160, 10))
    reply = photo_client.post(
        photo_path(order["id"]),
        json={"photo": base64.b64encode(webp).decode()},
        headers=shop.headers("advisor", "webp-upload"),
    )
    assert reply.status_code == 201, reply.get_data(as_text=True)
    (row,) = stored_rows(shop)
    assert (row.width, row.height, row.content_type) == (800, 600, "image/jpeg")


# ------------------------------------------------------------ refusals


def _truncated_jpeg() -> bytes:
    whole = photo_bytes((1200, 900), "JPEG", colour=(90, 90, 90), quality=95)
    return whole[: len(whole) // 2]


def _bomb_png() -> bytes:
    # 64 megapixels that compress to a few kilobytes: refused before decoding.
    return photo_bytes((8000, 8000), "PNG", mode="1", colour=0)


REFUSED_BODIES = [
    ("text file sent as JPEG", b"these are not the pixels you are looking for\n", "image/jpeg"),
    ("truncated JPEG", _truncated_jpeg(), "image/jpeg"),
    ("GIF, a format not taken", photo_bytes((10, 10), "GIF", mode="P", colour=1), "image/png"),
    ("decompression bomb", _bomb_png(), "image/png"),
    ("empty body", b"", "image/jpeg"),
    ("wrong content type", photo_bytes(), "text/plain"),
]


@pytest.mark.parametrize(
    ("what", "body", "content_type"), REFUSED_BODIES, ids=[r[0] for r in REFUSED_BODIES]
)
def test_what_is_not_a_readable_picture_is_refused_and_nothing_stored(
    photo_client: Any, shop: Shop, flow: Flow, what: str, body: bytes, content_type: str
) -> None:
    order = flow.quoted_order()
    reply = upload(photo_client, shop, order["id"], body, content_type=content_type)
    problem = assert_problem(reply, 422, "validation_error")
    assert problem["field"] == "photo", what
    assert stored_rows(shop) == []


def test_bad_base64_and_a_missing_multipart_field_are_refused(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order()
    headers = shop.headers("technician")
    not_base64 = photo_client.post(photo_path(order["id"]), json={"photo": "!!!"}, headers=headers)
    assert assert_problem(not_base64, 422, "validation_error")["field"] == "photo"
    no_field = photo_client.post(
        photo_path(order["id"]),
        data={"picture": (io.BytesIO(photo_bytes()), "x.jpg", "image/jpeg")},
        content_type="multipart/form-data",
        headers=headers,
    )
    assert assert_problem(no_field, 422, "validation_error")["field"] == "photo"
    assert stored_rows(shop) == []


def test_a_body_over_five_megabytes_is_413_in_every_form(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order()
    six_mb = b"\xff\xd8\xff" + bytes(6 * 1024 * 1024)
    assert_problem(upload(photo_client, shop, order["id"], six_mb), 413, "payload_too_large")
    multipart = photo_client.post(
        photo_path(order["id"]),
        data={"photo": (io.BytesIO(six_mb), "big.jpg", "image/jpeg")},
        content_type="multipart/form-data",
        headers=shop.headers("technician"),
    )
    assert_problem(multipart, 413, "payload_too_large")
    as_json = photo_client.post(
        photo_path(order["id"]),
        json={"photo": base64.b64encode(six_mb).decode()},
        headers=shop.headers("technician"),
    )
    assert_problem(as_json, 413, "payload_too_large")
    # Just over the limit, inside the envelope the multipart form is allowed.
    over = bytes(photos.MAX_PHOTO_BYTES + 1)
    assert_problem(upload(photo_client, shop, order["id"], over), 413, "payload_too_large")
    assert stored_rows(shop) == []
    # Elsewhere the 64 KiB limit still holds.
    reply = photo_client.post(
        "/api/v1/orders",
        data=b"{" + bytes(70_000),
        content_type="application/json",
        headers=shop.headers("advisor"),
    )
    assert reply.status_code == 413


def test_a_decided_quote_takes_no_photo_and_a_missing_one_is_not_found(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    """(A second photo of a pending quote replaces the first: see
    test_photo_replacement.py.)"""
    order = flow.quoted_order(quotes=2)
    flow.call(
        "POST",
        f"/api/v1/orders/{order['id']}/extra-work/1/decision",
        "advisor",
        {"approved": True, "quote_version": 1, "channel": "phone"},
    )
    decided = upload(photo_client, shop, order["id"], photo_bytes(), quote_id=1)
    assert_problem(decided, 409, "quote_locked")
    assert upload(photo_client, shop, order["id"], photo_bytes(), quote_id=2).status_code == 201
    missing = upload(photo_client, shop, order["id"], photo_bytes(), quote_id=3)
    assert_problem(missing, 404, "not_found")
    assert [row.quote_id for row in stored_rows(shop)] == [2]


def test_who_may_attach(photo_client: Any, shop: Shop, flow: Flow) -> None:
    order = flow.quoted_order(quotes=2)
    # The other technician is not on this job; screens may only read.
    not_theirs = upload(photo_client, shop, order["id"], photo_bytes(), role="technician2")
    assert_problem(not_theirs, 403, "forbidden")
    for role in ("display-board", "display-lounge"):
        refused = upload(photo_client, shop, order["id"], photo_bytes(), role=role)
        assert_problem(refused, 403, "forbidden")
    anonymous = photo_client.post(
        photo_path(order["id"]), data=photo_bytes(), content_type="image/jpeg"
    )
    assert_problem(anonymous, 401, "unauthorized")
    assert stored_rows(shop) == []
    assert upload(photo_client, shop, order["id"], photo_bytes()).status_code == 201
    foreman = upload(photo_client, shop, order["id"], photo_bytes(), quote_id=2, role="foreman")
    assert foreman.status_code == 201


def test_a_cookie_session_upload_needs_the_csrf_token(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order()
    advisor = setup.create_user(
        shop.core, shop.shop_id, role="advisor", name="陈顾问", password="correct horse battery"
    )
    sign_in_as(photo_client, advisor)
    reply = photo_client.post(
        photo_path(order["id"]), data=photo_bytes(), content_type="image/jpeg"
    )
    problem = assert_problem(reply, 403, "forbidden")
    assert "CSRF" in problem["detail"]
    assert stored_rows(shop) == []


def test_another_shops_order_is_not_found(photo_client: Any, shop: Shop, flow: Flow) -> None:
    order = flow.quoted_order()
    assert upload(photo_client, shop, order["id"], photo_bytes()).status_code == 201
    other_shop = setup.ensure_shop(shop.core, slug="other", name="别的店")
    stranger = create_api_token(shop.core, shop_id=other_shop, role="admin", name="别的店管理员")
    headers = {"Authorization": f"Bearer {stranger}"}
    refused = photo_client.post(
        photo_path(order["id"]),
        data=photo_bytes(),
        content_type="image/jpeg",
        headers={**headers, "Idempotency-Key": "stranger"},
    )
    assert_problem(refused, 404, "not_found")
    assert_problem(photo_client.get(photo_path(order["id"]), headers=headers), 404, "not_found")
    listed = photo_client.get(f"/api/v1/orders/{order['id']}/photos", headers=headers)
    assert_problem(listed, 404, "not_found")
    assert len(stored_rows(shop)) == 1


# ------------------------------------------------------------ idempotency


def test_a_replayed_upload_is_stored_once(photo_client: Any, shop: Shop, flow: Flow) -> None:
    order = flow.quoted_order()
    picture = photo_bytes((1000, 800))
    first = upload(photo_client, shop, order["id"], picture, key="kiosk-photo-1")
    assert first.status_code == 201
    # The same picture wrapped differently is the same request.
    replay = photo_client.post(
        photo_path(order["id"]),
        json={"photo": base64.b64encode(picture).decode()},
        headers=shop.headers("technician", "kiosk-photo-1"),
    )
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    other_picture = upload(
        photo_client, shop, order["id"], photo_bytes((10, 10)), key="kiosk-photo-1"
    )
    assert_problem(other_picture, 422, "idempotency_key_reuse")
    with shop.core.db.read() as session:
        assert session.execute(select(func.count(QuotePhoto.id))).scalar_one() == 1


# ------------------------------------------------------------ readers


def _token(order: dict[str, Any]) -> str:
    return str(order["customer_url"]).rsplit("/t/", 1)[1]


def test_the_customer_sees_only_the_photos_of_their_own_order(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    mine = flow.quoted_order("粤B11111")
    theirs = flow.quoted_order("粤B22222", quotes=2, bay="B02")
    assert (
        upload(photo_client, shop, mine["id"], photo_bytes(colour=(1, 200, 1))).status_code == 201
    )
    assert upload(photo_client, shop, theirs["id"], photo_bytes(), quote_id=2).status_code == 201

    own = photo_client.get(f"/api/v1/track/{_token(mine)}/extra-work/1/photo")
    assert own.status_code == 200 and own.mimetype == "image/jpeg"
    assert own.headers["Cache-Control"] == "no-store"
    assert own.headers["Referrer-Policy"] == "no-referrer"
    (first, _second) = sorted(stored_rows(shop), key=lambda row: row.order_id)
    assert own.get_data() == first.data
    listed = photo_client.get(f"/api/v1/track/{_token(mine)}/photos")
    assert listed.headers["Cache-Control"] == "no-store"
    assert listed.get_json() == {
        "photos": [
            {
                "quote_id": 1,
                "width": 640,
                "height": 480,
                "photo_url": f"/api/v1/track/{_token(mine)}/extra-work/1/photo",
            }
        ]
    }
    # Quote 2 exists only on the other order: this link cannot reach it.
    other = photo_client.get(f"/api/v1/track/{_token(mine)}/extra-work/2/photo")
    assert_problem(other, 404, "not_found")
    # The other customer's quote 1 has no photo: theirs is not mine.
    assert_problem(
        photo_client.get(f"/api/v1/track/{_token(theirs)}/extra-work/1/photo"), 404, "not_found"
    )
    staff_list = photo_client.get(
        f"/api/v1/orders/{theirs['id']}/photos", headers=shop.headers("technician2")
    )
    assert [p["quote_id"] for p in staff_list.get_json()["photos"]] == [2]
    for role in ("display-board", "display-lounge"):
        refused = photo_client.get(photo_path(mine["id"]), headers=shop.headers(role))
        assert_problem(refused, 403, "forbidden")


def test_guessed_links_share_the_customer_pages_budget(
    photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order()
    assert upload(photo_client, shop, order["id"], photo_bytes()).status_code == 201
    for attempt in range(20):
        assert (
            photo_client.get(f"/api/v1/track/guess{attempt}/extra-work/1/photo").status_code == 404
        )
    for attempt in range(10):
        assert photo_client.get(f"/t/guess{attempt}").status_code == 404
    limited = photo_client.get("/api/v1/track/guess-more/photos")
    assert_problem(limited, 429, "rate_limited")
    assert photo_client.get("/api/v1/track/guess-more/extra-work/1/photo").status_code == 429


def test_open_screens_get_a_photo_hint_after_the_commit(
    app: Any, socketio: Any, photo_client: Any, shop: Shop, flow: Flow
) -> None:
    order = flow.quoted_order()
    customer = socketio.test_client(app, auth={"token": _token(order)})
    board = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    lounge = socketio.test_client(app, auth={"token": shop.tokens["display-lounge"]})
    for connection in (customer, board, lounge):
        assert connection.is_connected()
        connection.get_received()
    assert upload(photo_client, shop, order["id"], photo_bytes(), key="hinted").status_code == 201
    hint = {"order_id": order["id"], "quote_id": 1}
    for connection in (customer, board):
        received = connection.get_received()
        assert [(m["name"], m["args"][0]) for m in received] == [("photo", hint)]
    assert lounge.get_received() == []
    # A replay changes nothing, so it announces nothing.
    assert upload(photo_client, shop, order["id"], photo_bytes(), key="hinted").status_code == 201
    assert customer.get_received() == [] and board.get_received() == []
    for connection in (customer, board, lounge):
        connection.disconnect()


# ------------------------------------------------------------ the decoder alone


def _picture(mode: str, image_format: str, colour: Any, **save: Any) -> bytes:
    return photo_bytes((300, 200), image_format, mode=mode, colour=colour, **save)


UNUSUAL = [
    ("CMYK JPEG (print software)", _picture("CMYK", "JPEG", (0, 0, 0, 0)), (255, 255, 255)),
    ("greyscale JPEG", _picture("L", "JPEG", 90), (90, 90, 90)),
    ("16-bit grey PNG", _picture("I;16", "PNG", 40_000), (156, 156, 156)),
    ("palette PNG, transparent", _picture("P", "PNG", 0, transparency=0), (255, 255, 255)),
    ("lossless WebP", _picture("RGB", "WEBP", (10, 120, 200), lossless=True), (10, 120, 200)),
]


@pytest.mark.parametrize(("what", "raw", "expected"), UNUSUAL, ids=[u[0] for u in UNUSUAL])
def test_unusual_pixel_formats_become_plain_rgb(
    what: str, raw: bytes, expected: tuple[int, int, int]
) -> None:
    prepared = photos.prepare_photo(raw)
    picture = Image.open(io.BytesIO(prepared.data))
    assert (picture.format, picture.mode, picture.size) == ("JPEG", "RGB", (300, 200)), what
    assert near(picture.getpixel((150, 100)), expected), (what, picture.getpixel((150, 100)))


def test_damaged_pictures_are_refused_never_crash() -> None:
    """Truncated and bit-flipped files of every accepted format: each is
    either a picture or a validation_error, never another exception (a 500)."""
    chance = random.Random(20261124)
    originals = [
        photo_bytes((320, 240), "JPEG"),
        photo_bytes((320, 240), "PNG", mode="RGBA", colour=(1, 2, 3, 4)),
        photo_bytes((320, 240), "WEBP"),
    ]
    refused = 0
    for original in originals:
        for attempt in range(60):
            damaged = bytearray(original)
            if attempt % 2:
                damaged = damaged[: chance.randrange(1, len(damaged))]
            else:
                for _flip in range(chance.randrange(1, 20)):
                    damaged[chance.randrange(len(damaged))] = chance.randrange(256)
            try:
                photos.prepare_photo(bytes(damaged))
            except ValidationFailed as error:
                assert error.field == "photo"
                refused += 1
    assert refused > 60, "most damaged files are refused"
