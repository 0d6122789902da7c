"""Bays and the shop profile (issue 14, items 3 and 4) through the real app
and a real SQLite database: the REST API (admin and manager only, idempotent,
422 naming the field, 409 with the profile as it is now, another shop's bay
404), what the live screens receive (the ``bays`` and ``shop`` messages and
the snapshot, through the app's real Socket.IO server), the shop's stage
words over the catalogue's on the pages that render them, the hotline on the
ticket, the customer page and the expired-link page, and the /admin/bays and
/admin/shop forms with their CSRF tokens. Every answer of the new operations
is checked against the OpenAPI document's schemas (tests/test_openapi.py's
strict validator)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from shared.persistence.models import RepairOrder
from shared.persistence.models import Shop as ShopRow
from shared.services import bay_admin, queries, setup, shop_profile
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.web.labels import stage_labels
from shared.web.openapi import document
from tests.conftest import Shop, seed_shop
from tests.test_openapi import Api

PASSWORD = "admin-pass-1"
READY = {"zh_Hans": "可取车", "zh_Hant": "可取車", "en": "Ready to collect"}


# ------------------------------------------------------------------ helpers


@pytest.fixture
def api(client: Any) -> Api:
    """Calls operations by operationId and checks each answer against the
    document's schema for it (an undocumented field fails)."""
    return Api(client, document())


def bays(client: Any, shop: Shop) -> list[dict[str, Any]]:
    reply = client.get("/api/v1/bays", headers=shop.headers("admin"))
    assert reply.status_code == 200
    return list(reply.get_json()["bays"])


def codes(client: Any, shop: Shop) -> list[str]:
    return [bay["code"] for bay in bays(client, shop)]


def problem(reply: Any, status: int, code: str = "validation_error") -> dict[str, Any]:
    assert reply.status_code == status, reply.get_data(as_text=True)
    assert reply.mimetype == "application/problem+json"
    body = dict(reply.get_json())
    assert body["code"] == code, body
    return body


def screen(app: Any, socketio: Any, token: str) -> Any:
    """A live screen on the app's real Socket.IO server, past its snapshot."""
    connection = socketio.test_client(app, auth={"token": token})
    [snapshot] = [m for m in connection.get_received() if m["name"] == "snapshot"]
    connection.snapshot = snapshot["args"][0]
    return connection


def received(connection: Any, name: str) -> list[dict[str, Any]]:
    return [m["args"][0] for m in connection.get_received() if m["name"] == name]


def profile(client: Any, shop: Shop) -> dict[str, Any]:
    reply = client.get("/api/v1/shop", headers=shop.headers("admin"))
    assert reply.status_code == 200
    return dict(reply.get_json())


def patch_shop(client: Any, shop: Shop, body: dict[str, Any], **headers: str) -> Any:
    return client.patch("/api/v1/shop", json=body, headers={**shop.headers("admin"), **headers})


def customer_token(client: Any, shop: Shop, plate: str = "粤B12345") -> tuple[int, str]:
    reply = client.post("/api/v1/orders", json={"plate": plate}, headers=shop.headers("advisor"))
    assert reply.status_code == 201
    order = reply.get_json()
    return int(order["id"]), str(order["customer_url"].rsplit("/", 1)[1])


def page_strings(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="strings">(.*?)</script>', html, re.S)
    assert found, html[:300]
    return dict(json.loads(found.group(1)))


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: Any, shop: Shop, role: str = "admin") -> str:
    """A signed-in staff member of ``shop`` with ``role``; a CSRF token."""
    name = f"{role}-{shop.slug}"
    setup.create_user(shop.core, shop.shop_id, role=role, name=name, password=PASSWORD)
    login = client.get(f"/login?shop={shop.slug}").get_data(as_text=True)
    reply = client.post(
        f"/login?shop={shop.slug}",
        data={"name": name, "password": PASSWORD, "csrf_token": csrf(login), "shop": shop.slug},
    )
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return csrf(client.get("/desk").get_data(as_text=True))


# ------------------------------------------------------------------ bays over REST


def test_an_added_bay_is_listed_last_and_reaches_the_staff_screens_at_once(
    app: Any, socketio: Any, client: Any, shop: Shop, api: Api
) -> None:
    board = screen(app, socketio, shop.tokens["display-board"])
    lounge = screen(app, socketio, shop.tokens["display-lounge"])
    version = board.snapshot["bays_version"]
    assert [b["code"] for b in board.snapshot["bays"]] == shop.bays

    body = {"code": "W1", "name": "洗车位", "kind": "wash", "capacity": 3}
    key = shop.headers("manager", key="add-w1")
    added = api.call("createBay", body=body, headers=key, expect=201).get_json()
    assert added == {
        "id": added["id"],
        "code": "W1",
        "name": "洗车位",
        "kind": "wash",
        "capacity": 3,
        "position": 4,
        "in_service": True,
        "out_of_service_reason": "",
    }
    assert codes(client, shop) == [*shop.bays, "W1"]

    [message] = received(board, "bays")
    assert message["version"] == version + 1
    assert [b["code"] for b in message["bays"]] == [*shop.bays, "W1"]
    assert received(lounge, "bays") == [], "the lounge is never told of bays"

    # A replay answers the first result and changes nothing more.
    again = api.call("createBay", body=body, headers=key, expect=201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert codes(client, shop) == [*shop.bays, "W1"]
    assert received(board, "bays") == []

    # A new screen's snapshot has the bay and the version the message had.
    later = screen(app, socketio, shop.tokens["display-board"])
    assert later.snapshot["bays_version"] == version + 1
    assert later.snapshot["bays"] == message["bays"]


def test_rename_kind_and_capacity(client: Any, shop: Shop, api: Api) -> None:
    def patch(body: dict[str, Any]) -> Any:
        return client.patch("/api/v1/bays/B02", json=body, headers=shop.headers("admin"))

    renamed = api.call(
        "updateBay",
        params={"code": "B02"},
        body={"name": "四轮定位"},
        headers=shop.headers("admin", key="rename"),
        expect=200,
    ).get_json()
    assert renamed["name"] == "四轮定位" and renamed["code"] == "B02"

    lane = patch({"kind": "parking_lane", "capacity": 6}).get_json()
    assert (lane["kind"], lane["capacity"]) == ("parking_lane", 6)
    # A lane made a repair bay again holds one car.
    assert patch({"kind": "ev"}).get_json()["capacity"] == 1
    # More than one car goes with a kind that holds several, in the same request.
    assert problem(patch({"capacity": 2}), 422)["field"] == "capacity"
    assert patch({"kind": "parking_lane", "capacity": 4}).get_json()["capacity"] == 4
    assert patch({"kind": "ev"}).get_json()["capacity"] == 1
    assert problem(patch({"kind": "paint", "capacity": 3}), 422)["field"] == "capacity"
    assert problem(patch({"kind": "spaceship"}), 422)["field"] == "kind"
    assert problem(patch({"name": ""}), 422)["field"] == "name"
    assert problem(patch({"name": "工位\u202e"}), 422)["field"] == "name"
    assert problem(patch({"colour": "red"}), 422)["field"] == "colour"
    wash = patch({"kind": "wash", "capacity": bay_admin.MAX_CAPACITY + 1})
    assert problem(wash, 422)["field"] == "capacity"
    [bay] = [b for b in bays(client, shop) if b["code"] == "B02"]
    assert (bay["name"], bay["kind"], bay["capacity"]) == ("四轮定位", "ev", 1)


def test_out_of_service_with_a_reason_and_back(
    app: Any, socketio: Any, client: Any, shop: Shop
) -> None:
    board = screen(app, socketio, shop.tokens["display-board"])

    def patch(body: dict[str, Any]) -> Any:
        return client.patch("/api/v1/bays/B01", json=body, headers=shop.headers("admin"))

    assert problem(patch({"in_service": False}), 422)["field"] == "reason"
    assert received(board, "bays") == [], "a refused change tells no screen"
    out = patch({"in_service": False, "reason": "举升机维修"}).get_json()
    assert out["in_service"] is False and out["out_of_service_reason"] == "举升机维修"
    [message] = received(board, "bays")
    assert message["bays"][0]["out_of_service_reason"] == "举升机维修"
    # A new reason is sent the same way; a reason goes only with taking out.
    reworded = patch({"in_service": False, "reason": "等配件"}).get_json()
    assert reworded["out_of_service_reason"] == "等配件"
    assert problem(patch({"reason": "等配件 2"}), 422)["field"] == "reason"
    assert problem(patch({"in_service": True, "reason": "x"}), 422)["field"] == "reason"
    back = patch({"in_service": True}).get_json()
    assert back["in_service"] is True and back["out_of_service_reason"] == ""
    assert problem(patch({"reason": "无"}), 422)["field"] == "reason"
    assert bays(client, shop)[0]["in_service"] is True


def test_bays_are_reordered_for_the_board(client: Any, shop: Shop) -> None:
    def move(code: str, position: int) -> dict[str, Any]:
        reply = client.patch(
            f"/api/v1/bays/{code}", json={"position": position}, headers=shop.headers()
        )
        assert reply.status_code == 200, reply.get_data(as_text=True)
        return dict(reply.get_json())

    assert move("B03", 1)["position"] == 1
    assert codes(client, shop) == ["B03", "B01", "B02"]
    assert move("B03", 99)["position"] == 3, "beyond the end is last"
    assert codes(client, shop) == ["B01", "B02", "B03"]
    added = client.post(
        "/api/v1/bays", json={"code": "A0", "position": 2}, headers=shop.headers()
    ).get_json()
    assert added["position"] == 2 and added["name"] == "A0"
    assert codes(client, shop) == ["B01", "A0", "B02", "B03"]
    assert [b["position"] for b in bays(client, shop)] == [1, 2, 3, 4]


def test_bays_are_for_admins_and_managers_of_their_own_shop(
    core: Any, client: Any, shop: Shop
) -> None:
    other = seed_shop(core, slug="other")
    for role in ("advisor", "foreman", "technician", "display-board", "display-lounge"):
        refused = client.post("/api/v1/bays", json={"code": "X1"}, headers=shop.headers(role))
        problem(refused, 403, "forbidden")
        refused = client.patch("/api/v1/bays/B01", json={"name": "x"}, headers=shop.headers(role))
        problem(refused, 403, "forbidden")
    problem(client.post("/api/v1/bays", json={"code": "X1"}), 401, "unauthorized")
    # Another shop's bay is no bay of this shop, whatever its code.
    other_only = client.post("/api/v1/bays", json={"code": "Z9"}, headers=other.headers())
    assert other_only.status_code == 201
    refused = client.patch("/api/v1/bays/Z9", json={"name": "mine"}, headers=shop.headers())
    problem(refused, 404, "not_found")
    client.patch("/api/v1/bays/B01", json={"name": "本店"}, headers=shop.headers())
    assert bays(client, other)[0]["name"] == "工位 B01", "the same code in another shop"
    assert "Z9" not in codes(client, shop)
    duplicate = client.post("/api/v1/bays", json={"code": "B01"}, headers=shop.headers())
    assert problem(duplicate, 409, "bay_exists")["field"] == "code"
    for code in ("B 7", " B7", "工位7", "B7\n", "B" * 21, ""):
        refused = client.post("/api/v1/bays", json={"code": code}, headers=shop.headers())
        assert problem(refused, 422)["field"] == "code", code
    position = client.post(
        "/api/v1/bays", json={"code": "P0", "position": 0}, headers=shop.headers()
    )
    assert problem(position, 422)["field"] == "position"
    # The service asks the policy too, whoever calls it.
    advisor = resolve_bearer(core, shop.tokens["advisor"])
    assert advisor is not None
    with pytest.raises(Exception, match="admin or a manager"):
        bay_admin.rename_bay(
            core, CommandRequest(actor=advisor.actor(), shop_id=shop.shop_id), "B01", "x"
        )


# ------------------------------------------------------------------ shop profile over REST


def test_the_profile_reads_and_changes_and_every_screen_hears_of_it(
    app: Any, socketio: Any, client: Any, shop: Shop, api: Api
) -> None:
    order_id, token = customer_token(client, shop)
    board = screen(app, socketio, shop.tokens["display-board"])
    lounge = screen(app, socketio, shop.tokens["display-lounge"])
    phone = screen(app, socketio, token)
    first = api.call("getShop", headers=shop.headers("manager"), expect=200).get_json()
    assert first["version"] == 0 and first["retention_days"] == 1095
    assert first["stage_labels"] == {} and first["lounge"] == {"languages": [], "chime": False}

    changed = api.call(
        "updateShop",
        body={
            "version": 0,
            "name": "广州天河店",
            "address": "广州市天河区黄埔大道 88 号",
            "hotline": "020-8888 6666",
            "timezone": "Asia/Urumqi",
            "opening_hours": {
                "open": "08:00",
                "close": "19:00",
                "breaks": [{"start": "12:00", "end": "13:00"}],
                "closed_weekdays": [7],
            },
            "lounge": {"languages": ["zh_Hans", "en"], "chime": True},
            "retention_days": 30,
            "stage_labels": {"en": {"ready": "Ready to collect"}},
        },
        headers=shop.headers("admin", key="profile-1"),
        expect=200,
    ).get_json()
    assert changed["version"] == 1
    assert changed["opening_hours"] == {
        "open": "08:00",
        "close": "19:00",
        "breaks": [{"start": "12:00", "end": "13:00"}],
        "closed_weekdays": [7],
    }
    assert changed["retention_days"] == 30
    assert profile(client, shop) == changed

    # What other parts read: the retention job, the calendar, the screens.
    with shop.core.db.read() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        assert row.settings["retention_days"] == 30
        assert row.settings["breaks"] == [{"start": "12:00", "end": "13:00"}]
        assert row.settings["week"][6] is None and row.settings["week"][0] == {
            "open": "08:00",
            "close": "19:00",
        }
    for connection in (board, lounge, phone):
        [message] = received(connection, "shop")
        assert message["version"] == 1 and message["name"] == "广州天河店"
        assert message["stage_labels"] == {"en": {"ready": "Ready to collect"}}
        assert message["hotline"] == "020-8888 6666" and message["closed_weekdays"] == [7]
        assert "retention_days" not in message and "address" not in message
    lounge_now = screen(app, socketio, shop.tokens["display-lounge"]).snapshot["shop"]
    assert lounge_now["lounge"] == {"languages": ["zh_Hans", "en"], "chime": True}
    assert lounge_now["timezone"] == "Asia/Urumqi"
    assert order_id

    # Nothing changed: no new version, no message.
    same = patch_shop(client, shop, {"version": 1, "name": "广州天河店"})
    assert same.status_code == 200 and same.get_json()["version"] == 1
    assert received(board, "shop") == []


def test_two_admins_editing_one_wins_the_other_gets_409_with_the_profile_now(
    client: Any, shop: Shop, api: Api
) -> None:
    won = patch_shop(client, shop, {"version": 0, "hotline": "400-111"})
    assert won.status_code == 200 and won.get_json()["version"] == 1
    lost = api.call(
        "updateShop",
        body={"version": 0, "hotline": "400-222", "name": "改名"},
        headers=shop.headers("manager", key="late-admin"),
        expect=409,
    )
    body = problem(lost, 409, "stale_version")
    assert body["shop"]["hotline"] == "400-111" and body["shop"]["version"] == 1
    now = profile(client, shop)
    assert now["hotline"] == "400-111" and now["name"] == "测试店", "the loser changed nothing"
    # The same key and body is answered with the same refusal.
    again = client.patch(
        "/api/v1/shop",
        json={"version": 0, "hotline": "400-222", "name": "改名"},
        headers=shop.headers("manager", key="late-admin"),
    )
    assert problem(again, 409, "stale_version")["shop"]["version"] == 1
    assert again.headers["Idempotent-Replayed"] == "true"


# Bad input and the field each refusal must name (a prefix of it).
BAD_PROFILES: list[tuple[dict[str, Any], str]] = [
    ({}, "version"),
    ({"version": 0, "timezone": "Mars/Olympus"}, "timezone"),
    ({"version": 0, "retention_days": 29}, "retention_days"),
    ({"version": 0, "retention_days": "1095"}, "retention_days"),
    ({"version": 0, "name": " "}, "name"),
    ({"version": 0, "hotline": "4" * 41}, "hotline"),
    ({"version": 0, "opening_hours": {"open": "8am", "close": "18:00"}}, "opening_hours.open"),
    ({"version": 0, "opening_hours": {"open": "08:00"}}, "opening_hours.close"),
    (
        {"version": 0, "opening_hours": {"breaks": [{"start": "13:00", "end": "12:00"}]}},
        "opening_hours.breaks[0].end",
    ),
    (
        {"version": 0, "opening_hours": {"closed_weekdays": [1, 2, 3, 4, 5, 6, 7]}},
        "opening_hours.closed_weekdays",
    ),
    ({"version": 0, "opening_hours": {"closed_weekdays": [8]}}, "opening_hours"),
    ({"version": 0, "opening_hours": {"lunch": []}}, "opening_hours.lunch"),
    ({"version": 0, "stage_labels": {"fr": {"ready": "Prête"}}}, "stage_labels.fr"),
    ({"version": 0, "stage_labels": {"en": {"flying": "Up"}}}, "stage_labels.en.flying"),
    ({"version": 0, "stage_labels": {"en": {"ready": "x" * 31}}}, "stage_labels.en.ready"),
    ({"version": 0, "stage_labels": {"en": {"ready": 7}}}, "stage_labels.en.ready"),
    ({"version": 0, "lounge": {"languages": ["fr"]}}, "lounge.languages[0]"),
    ({"version": 0, "lounge": {"chime": "yes"}}, "lounge.chime"),
    ({"version": 0, "colour": "red"}, "colour"),
    ({"version": 0, "timezone": " Asia/Shanghai"}, "timezone"),
    (
        {"version": 0, "opening_hours": {"open": "08:00\n", "close": "18:00"}},
        "opening_hours.open",
    ),
    (
        {"version": 0, "opening_hours": {"closed_weekdays": [1, 1]}},
        "opening_hours.closed_weekdays[1]",
    ),
]


def test_bad_profile_input_is_refused_naming_the_field(client: Any, shop: Shop) -> None:
    for body, field in BAD_PROFILES:
        refused = problem(patch_shop(client, shop, body), 422)
        assert refused["field"].startswith(field), (body, refused)
    assert profile(client, shop)["version"] == 0, "nothing was written"


def test_the_profile_is_for_admins_and_managers(client: Any, shop: Shop) -> None:
    for role in ("advisor", "foreman", "technician", "display-board", "display-lounge"):
        problem(client.get("/api/v1/shop", headers=shop.headers(role)), 403, "forbidden")
        refused = client.patch("/api/v1/shop", json={"version": 0}, headers=shop.headers(role))
        problem(refused, 403, "forbidden")
    problem(client.get("/api/v1/shop"), 401, "unauthorized")


def test_each_shop_has_its_own_profile(core: Any, client: Any, shop: Shop) -> None:
    other = seed_shop(core, slug="other")
    assert patch_shop(client, other, {"version": 0, "hotline": "999"}).status_code == 200
    assert profile(client, shop)["hotline"] == "" and profile(client, other)["hotline"] == "999"


# ------------------------------------------------------------------ stage labels on every page


def test_the_shops_stage_words_replace_the_catalogues_in_three_languages(
    app: Any, client: Any, shop: Shop
) -> None:
    labels = {locale: {"ready": word} for locale, word in READY.items()}
    assert patch_shop(client, shop, {"version": 0, "stage_labels": labels}).status_code == 200
    _order_id, token = customer_token(client, shop)
    for locale, word in READY.items():
        customer = page_strings(client.get(f"/t/{token}?lang={locale}").get_data(as_text=True))
        assert customer["stages"]["ready"] == word
        assert customer["stage_defaults"]["ready"] != word and customer["locale"] == locale
        assert customer["stages"]["checked_in"] == customer["stage_defaults"]["checked_in"]
        # A board opened before it is paired knows no shop: the catalogue's
        # words, and the snapshot's stage_labels to lay over them.
        board = page_strings(client.get(f"/board?lang={locale}").get_data(as_text=True))
        assert board["stages"]["ready"] == board["stage_defaults"]["ready"] != word
    with app.test_request_context("/?lang=en"):
        assert stage_labels(labels)["ready"] == "Ready to collect"
        assert stage_labels({})["ready"] == "Ready"

    # Signed-in pages render the shop's words (the desk here).
    sign_in(client, shop, "advisor")
    for locale, word in READY.items():
        desk = page_strings(client.get(f"/desk?lang={locale}").get_data(as_text=True))
        assert desk["stages"]["ready"] == word

    # An empty word gives the catalogue's back, in that language only.
    back = patch_shop(client, shop, {"version": 1, "stage_labels": {"en": {"ready": None}}})
    assert back.get_json()["stage_labels"] == {
        "zh_Hans": {"ready": "可取车"},
        "zh_Hant": {"ready": "可取車"},
    }
    assert page_strings(client.get("/desk?lang=en").get_data(as_text=True))["stages"]["ready"] == (
        "Ready"
    )


# ------------------------------------------------------------------ the hotline


def test_the_hotline_is_on_the_ticket_the_customer_page_and_the_expired_link_page(
    client: Any, shop: Shop
) -> None:
    body = {"version": 0, "hotline": "400-800-8888", "address": "天河区黄埔大道 88 号"}
    assert patch_shop(client, shop, body).status_code == 200
    order_id, token = customer_token(client, shop)
    page = client.get(f"/t/{token}").get_data(as_text=True)
    assert 'href="tel:400-800-8888"' in page and "天河区黄埔大道 88 号" in page

    sign_in(client, shop, "advisor")
    ticket = client.get(f"/orders/{order_id}/ticket").get_data(as_text=True)
    assert 'id="hotline">400-800-8888<' in ticket and "天河区黄埔大道 88 号" in ticket

    # The link expires 24 h after handover: the page says whom to call.
    with shop.core.db.write() as session:
        session.execute(
            update(RepairOrder)
            .where(RepairOrder.id == order_id)
            .values(stage="delivered", closed_at=shop.core.now() - timedelta(hours=25))
        )
    gone = client.get(f"/t/{token}")
    assert gone.status_code == 404
    assert 'id="hotline" href="tel:400-800-8888"' in gone.get_data(as_text=True)
    assert "粤B12345" not in gone.get_data(as_text=True)


def test_an_unknown_link_names_a_hotline_only_for_a_single_shop(
    core: Any, client: Any, shop: Shop
) -> None:
    assert patch_shop(client, shop, {"version": 0, "hotline": "400-1"}).status_code == 200
    unknown = "x" * 43
    assert "tel:400-1" in client.get(f"/t/{unknown}").get_data(as_text=True)
    seed_shop(core, slug="other")
    assert "tel:" not in client.get(f"/t/{unknown}").get_data(as_text=True)


# ------------------------------------------------------------------ the admin pages


def test_the_admin_pages_need_an_admin_or_manager(client: Any, shop: Shop) -> None:
    for path in ("/admin/bays", "/admin/shop"):
        reply = client.get(path)
        assert reply.status_code == 302 and reply.headers["Location"] == f"/login?next={path}"
    sign_in(client, shop, "advisor")
    assert client.get("/admin/bays").status_code == 403
    assert client.get("/admin/shop").status_code == 403


def test_the_bays_page_adds_edits_takes_out_and_moves_bays(
    app: Any, socketio: Any, client: Any, shop: Shop
) -> None:
    board = screen(app, socketio, shop.tokens["display-board"])
    sign_in(client, shop, "manager")
    page = client.get("/admin/bays?lang=en").get_data(as_text=True)
    token = csrf(page)
    assert 'aria-current="page">Bays<' in page and 'data-bay="B03"' in page

    form = {"code": "L1", "name": "停车道", "kind": "parking_lane", "capacity": "8"}
    refused = client.post("/admin/bays", data=form)
    assert refused.status_code == 400, "no CSRF token, no bay"
    assert "L1" not in codes(client, shop)
    added = client.post("/admin/bays", data={**form, "csrf_token": token})
    assert added.status_code == 303 and added.headers["Location"].endswith("done=added")
    [bay] = [b for b in bays(client, shop) if b["code"] == "L1"]
    assert (bay["name"], bay["kind"], bay["capacity"], bay["position"]) == (
        "停车道",
        "parking_lane",
        8,
        4,
    )
    assert [b["code"] for b in received(board, "bays")[0]["bays"]] == [*shop.bays, "L1"]

    edit = {"name": "一号工位", "kind": "general", "capacity": "1", "csrf_token": token}
    assert client.post("/admin/bays/B01/edit", data=edit).status_code == 303
    out = {"reason": "举升机维修", "csrf_token": token}
    assert client.post("/admin/bays/B01/out", data=out).status_code == 303
    listed = client.get("/admin/bays?done=out").get_data(as_text=True)
    assert "举升机维修" in listed and 'class="out-of-service"' in listed
    assert client.post("/admin/bays/L1/move", data={"position": "1", "csrf_token": token})
    assert codes(client, shop) == ["L1", "B01", "B02", "B03"]
    assert client.post("/admin/bays/B01/in", data={"csrf_token": token}).status_code == 303
    [first] = [b for b in bays(client, shop) if b["code"] == "B01"]
    assert (first["name"], first["in_service"]) == ("一号工位", True)

    # A refusal shows the page again, naming the field in the page's words.
    wrong = {"name": "x", "kind": "general", "capacity": "4", "csrf_token": token}
    again = client.post("/admin/bays/B02/edit?lang=en", data=wrong)
    assert again.status_code == 422 and "Cars:" in again.get_data(as_text=True)
    assert client.post("/admin/bays/ZZ/in", data={"csrf_token": token}).status_code == 404


def shop_form(html: str) -> dict[str, Any]:
    """The shop form's fields as the page filled them (inputs only)."""
    fields: dict[str, Any] = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag:
            if "checked" in tag:
                fields.setdefault(name.group(1), []).append(value.group(1) if value else "y")
            continue
        fields[name.group(1)] = value.group(1) if value else ""
    return fields


def test_the_shop_page_saves_the_profile_and_refuses_a_stale_form(client: Any, shop: Shop) -> None:
    sign_in(client, shop, "admin")
    page = client.get("/admin/shop?lang=en").get_data(as_text=True)
    assert 'aria-current="page">Shop<' in page
    assert 'placeholder="Ready"' in page and 'placeholder="待交车"' in page
    form = shop_form(page)
    assert form["version"] == "0" and form["retention_days"] == "1095"
    assert form["timezone"] == "Asia/Shanghai"

    mine = {
        **form,
        "hotline": "400-800-8888",
        "opens": "08:00",
        "closes": "18:30",
        "break_0_start": "12:00",
        "break_0_end": "13:30",
        "closed_weekdays": ["7"],
        "languages": ["zh_Hans", "en"],
        "chime": "y",
        "label_zh_Hans_ready": "可取车",
        "label_en_in_progress": "Being repaired",
    }
    saved = client.post("/admin/shop", data=mine)
    assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]
    now = shop_profile.profile(shop.core, shop.shop_id)
    assert now["version"] == 1 and now["hotline"] == "400-800-8888"
    assert now["opening_hours"]["breaks"] == [{"start": "12:00", "end": "13:30"}]
    assert now["opening_hours"]["closed_weekdays"] == [7]
    assert now["lounge"] == {"languages": ["zh_Hans", "en"], "chime": True}
    assert now["stage_labels"] == {
        "zh_Hans": {"ready": "可取车"},
        "en": {"in_progress": "Being repaired"},
    }
    refilled = shop_form(client.get("/admin/shop").get_data(as_text=True))
    assert refilled["label_en_in_progress"] == "Being repaired" and refilled["version"] == "1"

    # The same old form again: someone else saved since; nothing is written.
    stale = client.post("/admin/shop?lang=en", data={**mine, "hotline": "400-000"})
    assert stale.status_code == 409
    assert "Someone else saved" in stale.get_data(as_text=True)
    assert shop_form(stale.get_data(as_text=True))["version"] == "1"
    assert shop_profile.profile(shop.core, shop.shop_id)["hotline"] == "400-800-8888"

    bad = client.post("/admin/shop?lang=en", data={**refilled, "opens": "8 am", "closes": "18:00"})
    assert bad.status_code == 422 and "Opens:" in bad.get_data(as_text=True)
    no_csrf = {k: v for k, v in refilled.items() if k != "csrf_token"}
    assert client.post("/admin/shop", data=no_csrf).status_code == 400
    assert shop_profile.profile(shop.core, shop.shop_id)["version"] == 1


def test_the_lounge_snapshot_carries_the_labels_and_no_bays(core: Any, shop: Shop) -> None:
    patch = shop_profile.ProfileChange(stage_labels={"en": {"ready": "Collect"}})
    admin = resolve_bearer(core, shop.tokens["admin"])
    assert admin is not None
    request = CommandRequest(actor=admin.actor(), shop_id=shop.shop_id)
    shop_profile.update_profile(core, request, patch, version=0)
    lounge = resolve_bearer(core, shop.tokens["display-lounge"])
    assert lounge is not None
    snapshot = queries.snapshot(core, lounge)
    assert snapshot["shop"]["stage_labels"] == {"en": {"ready": "Collect"}}
    assert snapshot["bays"] == [] and "bays_version" not in snapshot
