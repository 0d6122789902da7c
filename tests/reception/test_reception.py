"""Reception desk, job ticket, QR and the customer's link, through
the real app: Flask test client, real SQLite, real services, a real QR decoder.

Time moves only through ``core.clock``, so "24 h after delivery" and
"delivered 3 days ago" are exact, not slept.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from shared.persistence.models import OrderEvent
from shared.persistence.reception_models import CustomerLinkIssue, HandoverRecord
from shared.services import setup
from shared.services.auth import create_api_token
from shared.services.core import Core
from tests.conftest import HandClock
from tests.staff_sessions import sign_in_as

from .flow import Workshop, flask_call, token_of

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
ADVISOR_PHONE = "020-8888 6666"
ADVISOR_PASSWORD = "correct horse battery"


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(START)
    core.clock = fixed
    return fixed


@pytest.fixture
def advisor(core: Core, shop: Any) -> int:
    """A signed-up advisor with a phone; ``shop.headers("desk")`` acts as her."""
    user_id = setup.create_user(
        core,
        shop.shop_id,
        role="advisor",
        name="陈顾问",
        password=ADVISOR_PASSWORD,
        phone=ADVISOR_PHONE,
    )
    shop.tokens["desk"] = create_api_token(
        core, shop_id=shop.shop_id, role="advisor", name="陈顾问", user_id=user_id
    )
    return user_id


@pytest.fixture
def workshop(client: Any, shop: Any, clock: HandClock) -> Workshop:
    return Workshop(flask_call(client), shop)


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: Any, user_id: int) -> None:
    sign_in_as(client, user_id)


# ---------------------------------------------------------------- plates


# Typed at the desk → stored. One app for all of them: the app is the slow part.
SPELLINGS = [
    ("粤b·12345", "粤B12345"),
    ("粤B 12345", "粤B12345"),
    ("粤BD12345", "粤BD12345"),  # new-energy: six characters after the letter
    ("京ＡＦ１２３４５", "京AF12345"),  # full-width, as some IMEs type it
    ("沪A-1234学", "沪A1234学"),
]
REFUSED = [
    "粤В12345",  # Cyrillic Ve, looks like B
    "粤Β12345",  # Greek Beta
    "粤B123\u200b45",  # zero-width space
    "粤B12\x0045",  # NUL
    "粤B1234\x1b[2J",  # terminal escape
    "",
]


def test_plates_are_stored_in_one_spelling(workshop: Workshop) -> None:
    stored = [workshop.create(plate=typed)["plate"] for typed, _canonical in SPELLINGS]
    assert stored == [canonical for _typed, canonical in SPELLINGS]


def test_look_alike_and_control_characters_are_refused(client: Any, shop: Any) -> None:
    for typed in REFUSED:
        reply = client.post(
            "/api/v1/orders", json={"plate": typed}, headers=shop.headers("advisor")
        )
        assert reply.status_code == 422, typed
        assert reply.get_json()["field"] == "plate", typed


# ---------------------------------------------------------------- returning cars


def test_returning_car_is_recognised_by_plate_with_its_history(
    client: Any, shop: Any, workshop: Workshop, clock: HandClock
) -> None:
    first = workshop.create(plate="粤B·8888A", items=[{"title": "更换刹车片", "labour_hours": 2}])
    clock.advance(days=30)
    workshop.create(
        plate="粤b8888a",
        customer={"name": "李女士", "phone": "13900000000"},
        vehicle={"model": "本田雅阁", "mileage": 47000},
    )
    workshop.create(plate="粤B77777")

    reply = client.get("/desk/api/vehicles?plate=粤B 8888a", headers=shop.headers("advisor"))
    assert reply.status_code == 200
    found = reply.get_json()
    assert found["plate"] == "粤B8888A"
    assert found["returning"] is True and found["visits"] == 2
    assert [o["id"] for o in found["orders"]][-1] == first["id"]
    assert found["orders"][-1]["items"] == ["更换刹车片"]
    # The newest visit pre-fills the form.
    assert found["last"]["customer"] == {"name": "李女士", "phone": "13900000000"}
    assert found["last"]["vehicle"]["mileage"] == 47000

    new = client.get("/desk/api/vehicles?plate=粤C00001", headers=shop.headers("advisor"))
    assert new.get_json()["returning"] is False and new.get_json()["orders"] == []
    refused = client.get("/desk/api/vehicles?plate=粤В12345", headers=shop.headers("advisor"))
    assert refused.status_code == 422


def test_desk_data_is_for_reception_only(client: Any, shop: Any) -> None:
    for role in ("technician", "display-board", "display-lounge"):
        reply = client.get("/desk/api/vehicles?plate=粤B12345", headers=shop.headers(role))
        assert reply.status_code == 403, role
    assert client.get("/desk/api/follow-ups").status_code == 401


# ---------------------------------------------------------------- promised time


def promise(client: Any, shop: Any, hours: float, waiting: bool = False) -> dict[str, Any]:
    flag = "true" if waiting else "false"
    reply = client.get(
        f"/desk/api/promise?labour_hours={hours}&waiting={flag}", headers=shop.headers("advisor")
    )
    assert reply.status_code == 200, reply.get_json()
    return dict(reply.get_json())


def test_suggested_promise_comes_from_the_shop_load_engine(
    client: Any, shop: Any, workshop: Workshop, clock: HandClock
) -> None:
    """Reception's suggestion is the engine's: 10:00 on 4 May 2026 falls in
    the Labour Day holiday (1–5 May), so work starts when the shop opens on
    6 May at 08:30; 2 h of work, 30 min of inspections (three levels) and
    the 30 min buffer make 11:30. Two technicians, so an 8 h job in the
    shop still leaves one free; a customer waiting in the lounge goes ahead
    of drop-offs not yet given to a technician."""
    empty = promise(client, shop, 2)
    assert empty["backlog_hours"] == 0 and empty["technicians"] == 2
    assert empty["starts_at"] == "2026-05-06T08:30:00+08:00"
    assert empty["promised_at"] == "2026-05-06T11:30:00+08:00"
    # Nothing ahead of it, and a holiday has no working minutes to wait.
    assert empty["queue_minutes"] == 0

    workshop.create(items=[{"title": "发动机大修", "labour_hours": 8}])
    loaded = promise(client, shop, 2)
    assert loaded["backlog_hours"] == 8
    assert loaded["promised_at"] == "2026-05-06T11:30:00+08:00"

    # Both technicians taken: a drop-off starts when the 4 h job ends
    # (12:30), a lounge customer before it.
    workshop.create(items=[{"title": "更换变速箱油", "labour_hours": 4}])
    drop_off = promise(client, shop, 2)
    lounge = promise(client, shop, 2, waiting=True)
    assert drop_off["starts_at"] == "2026-05-06T12:30:00+08:00"
    assert drop_off["promised_at"] == "2026-05-06T15:30:00+08:00"
    assert lounge["starts_at"] == "2026-05-06T08:30:00+08:00"
    assert lounge["promised_at"] == "2026-05-06T11:30:00+08:00"

    # Never in closed time: 9 h do not fit one day, so the promise is the
    # next day's, inside its hours.
    long = promise(client, shop, 9)
    promised = datetime.fromisoformat(long["promised_at"])
    assert promised.date() > datetime(2026, 5, 6).date()
    assert time(8, 30) <= promised.time() <= time(18, 0)
    for bad in ("nan", "-1", "201", "lots"):
        reply = client.get(f"/desk/api/promise?labour_hours={bad}", headers=shop.headers("advisor"))
        assert reply.status_code == 422, bad


# ---------------------------------------------------------------- customer link


def test_reissued_token_revokes_the_old_one_at_once(
    client: Any, core: Core, shop: Any, workshop: Workshop
) -> None:
    order = workshop.create()
    old = token_of(order)
    assert client.get(f"/t/{old}").status_code == 200

    # The old ticket stops working: never without a reason the desk records.
    path = f"/desk/api/orders/{order['id']}/customer-link"
    for body in ({}, {"reason": ""}, {"reason": "  \n "}):
        refused = client.post(path, json=body, headers=shop.headers("advisor"))
        assert refused.status_code == 422, body
        assert refused.get_json()["field"] == "reason"
    assert client.get(f"/t/{old}").status_code == 200

    headers = shop.headers("advisor", key="lost-ticket-1")
    reply = client.post(
        f"/desk/api/orders/{order['id']}/customer-link", json={"reason": "丢票"}, headers=headers
    )
    assert reply.status_code == 200
    new = token_of(reply.get_json())
    assert new != old and len(new) >= 43  # 256 bits, URL-safe base64

    assert client.get(f"/t/{old}").status_code == 404
    assert client.get(f"/api/v1/track/{old}").status_code == 404
    assert client.get(f"/t/{new}").status_code == 200
    assert workshop.get(order["id"])["customer_url"].endswith(f"/t/{new}")

    # The same key replays the same link instead of revoking it again.
    again = client.post(
        f"/desk/api/orders/{order['id']}/customer-link", json={"reason": "丢票"}, headers=headers
    )
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert token_of(again.get_json()) == new
    with core.db.read() as session:
        issues = session.execute(select(CustomerLinkIssue)).scalars().all()
        assert [(i.order_id, i.reason) for i in issues] == [(order["id"], "丢票")]


def test_link_expires_24_hours_after_delivery_and_then_shows_nothing(
    client: Any, shop: Any, workshop: Workshop, clock: HandClock, advisor: int
) -> None:
    order = workshop.finish(workshop.start(workshop.create(role="desk")))
    token = token_of(order)
    workshop.hand_over(order)

    clock.advance(hours=23, minutes=59)
    assert client.get(f"/t/{token}").status_code == 200
    clock.advance(minutes=1, seconds=1)
    for path in (f"/t/{token}", f"/api/v1/track/{token}"):
        reply = client.get(path)
        assert reply.status_code == 404, path
        body = reply.get_data(as_text=True)
        for private in ("粤B12345", "张先生", "13800000000", "丰田", ADVISOR_PHONE, "陈顾问"):
            assert private not in body, (path, private)
    gone = client.get(f"/t/{token}", headers={"Accept-Language": "en"})
    assert "no longer valid" in gone.get_data(as_text=True)
    assert gone.headers["Cache-Control"] == "no-store"
    assert gone.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_shows_only_its_own_order(client: Any, shop: Any, workshop: Workshop) -> None:
    mine = workshop.create(plate="粤B11111", vehicle={"model": "大众帕萨特"})
    other = workshop.create(plate="粤B22222", vehicle={"model": "宝马五系"})
    page = client.get(f"/t/{token_of(mine)}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "粤B11111" in html and "大众帕萨特" in html
    assert "粤B22222" not in html and "宝马" not in html
    # Not the customer's own phone or name either: a forwarded link must not leak them.
    assert "13800000000" not in html and "张先生" not in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "http" not in csp.replace("ws://", "")
    # No third-party anything: every script, style and link stays on this origin.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/", "?", "tel:")), url
    assert other["id"] != mine["id"]


def test_guessed_tokens_get_404_and_guessing_is_rate_limited(
    client: Any, shop: Any, workshop: Workshop
) -> None:
    order = workshop.create()
    token = token_of(order)
    for attempt in range(5):
        assert client.get(f"/t/{token}").status_code == 200, attempt  # reloads never count
    guesses = [token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 43, "short", "y" * 200]
    for n in range(30):
        assert client.get(f"/t/{guesses[n % len(guesses)]}").status_code == 404, n
    assert client.get("/t/another-guess").status_code == 429
    # The guesser is stopped even with a real token; other addresses are not.
    assert client.get(f"/t/{token}").status_code == 429
    elsewhere = client.get(f"/t/{token}", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert elsewhere.status_code == 200


def test_robots_txt_keeps_customer_pages_out_of_search(client: Any) -> None:
    robots = client.get("/robots.txt").get_data(as_text=True)
    assert "Disallow: /t/" in robots.splitlines()


# ---------------------------------------------------------------- QR and ticket


def test_qr_png_decodes_to_exactly_the_customer_url(
    client: Any, shop: Any, workshop: Workshop
) -> None:
    order = workshop.create()
    reply = client.get(f"/orders/{order['id']}/qr.png", headers=shop.headers("advisor"))
    assert reply.status_code == 200 and reply.mimetype == "image/png"
    assert reply.headers["Cache-Control"] == "no-store"
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(reply.data)))
    assert len(found) == 1
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    assert found[0].text == order["customer_url"]
    assert found[0].ec_level in ("M", "Q", "H")


def test_qr_svg_is_valid_svg_of_the_same_code(client: Any, shop: Any, workshop: Workshop) -> None:
    order = workshop.create()
    reply = client.get(f"/orders/{order['id']}/qr.svg", headers=shop.headers("advisor"))
    assert reply.status_code == 200 and reply.mimetype == "image/svg+xml"
    root = ElementTree.fromstring(reply.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert paths and len(paths[0].get("d", "")) > 1000
    # Draw the path's unit squares and decode them: the SVG is the same code.
    squares = re.findall(r"M(\d+),(\d+)H\d+V\d+H\d+z", paths[0].get("d", ""))
    size = int(root.get("viewBox", "").split()[2])
    scale = 8
    image = Image.new("L", (size * scale, size * scale), 255)
    for x, y in squares:
        left, top = int(x) * scale, int(y) * scale
        image.paste(0, (left, top, left + scale, top + scale))
    found = zxingcpp.read_barcodes(image)
    assert [code.text for code in found] == [order["customer_url"]]
    assert found[0].ec_level in ("M", "Q", "H")


def test_qr_and_ticket_are_for_staff_only(client: Any, shop: Any, workshop: Workshop) -> None:
    order = workshop.create()
    assert client.get(f"/orders/{order['id']}/qr.png").status_code == 401
    assert client.get(f"/orders/{order['id']}/qr.svg").status_code == 401
    assert (
        client.get(
            f"/orders/{order['id']}/qr.png", headers=shop.headers("display-lounge")
        ).status_code
        == 403
    )
    page = client.get(f"/orders/{order['id']}/ticket")
    assert page.status_code == 302
    assert page.location == f"/login?next=/orders/{order['id']}/ticket"
    assert client.get("/orders/99999/ticket", headers=shop.headers()).status_code == 404


def test_ticket_has_queue_number_plate_car_promised_time_and_advisor_phone(
    client: Any, shop: Any, workshop: Workshop, advisor: int
) -> None:
    workshop.create()
    order = workshop.create(role="desk", plate="粤BD12345")
    assert order["number"] == 2
    reply = client.get(f"/orders/{order['id']}/ticket", headers=shop.headers("advisor"))
    assert reply.status_code == 200
    html = reply.get_data(as_text=True)
    assert re.search(r'id="queue-number">2<', html)
    assert "粤BD12345" in html and "丰田凯美瑞" in html
    assert "2030-01-01 17:00" in html  # promised 17:00+08:00, shown in the shop's zone
    assert ADVISOR_PHONE in html and "陈顾问" in html
    assert f'src="/orders/{order["id"]}/qr.svg"' in html
    assert 'href="/static/css/ticket.css"' in html
    assert "<style" not in html and "style=" not in html  # strict CSP
    thermal = client.get(f"/orders/{order['id']}/ticket?paper=80mm", headers=shop.headers())
    assert 'class="ticket paper-80mm"' in thermal.get_data(as_text=True)
    # An order no advisor opened (an integration's) has no empty advisor line.
    first = client.get("/orders/1/ticket", headers=shop.headers()).get_data(as_text=True)
    assert 'id="advisor"' not in first and 'id="advisor"' in html


def test_ticket_print_css_has_a5_and_80mm_pages() -> None:
    css = (ROOT / "static" / "css" / "ticket.css").read_text()
    assert re.search(r"@page\s*\{[^}]*size:\s*A5", css)
    assert re.search(r"@page\s+thermal\s*\{[^}]*size:\s*80mm", css)
    assert "@media print" in css
    assert re.search(r"body\.paper-80mm\s*\{\s*page:\s*thermal", css)


# ---------------------------------------------------------------- desk page


def test_desk_needs_a_signed_in_advisor(client: Any, shop: Any, core: Core, advisor: int) -> None:
    assert client.get("/desk").status_code == 302
    assert client.get("/desk").location == "/login?next=/desk"

    login_page = client.get("/login?next=/desk").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page)
    assert token
    signed = client.post(
        "/login?next=/desk",
        data={"csrf_token": token.group(1), "name": "陈顾问", "password": ADVISOR_PASSWORD},
    )
    assert signed.status_code == 302 and signed.location == "/desk"
    page = client.get("/desk")
    assert page.status_code == 200
    assert csrf_of(page.get_data(as_text=True))

    technician = core_user(core, shop, "technician")
    other = client.application.test_client()
    sign_in(other, technician)
    assert other.get("/desk").status_code == 403


def core_user(core: Core, shop: Any, role: str) -> int:
    return setup.create_user(core, shop.shop_id, role=role, name=f"{role} user", password="x" * 8)


def test_desk_mutations_with_the_session_need_the_csrf_token(
    client: Any, shop: Any, workshop: Workshop, advisor: int
) -> None:
    order = workshop.create()
    sign_in(client, advisor)
    csrf = csrf_of(client.get("/desk").get_data(as_text=True))
    path = f"/desk/api/orders/{order['id']}/customer-link"
    lost = {"reason": "票据丢失"}
    refused = client.post(path, json=lost, headers={"Idempotency-Key": "k1"})
    assert refused.status_code == 403
    assert token_of(workshop.get(order["id"])) == token_of(order)
    accepted = client.post(path, json=lost, headers={"Idempotency-Key": "k1", "X-CSRFToken": csrf})
    assert accepted.status_code == 200
    # The page's own REST calls go the same way.
    opened = client.post(
        "/api/v1/orders",
        json={"plate": "粤B55555"},
        headers={"Idempotency-Key": "k2", "X-CSRFToken": csrf},
    )
    assert opened.status_code == 201 and opened.get_json()["plate"] == "粤B55555"


# ---------------------------------------------------------------- handover


def test_handover_records_the_checklist_with_the_delivery(
    client: Any, core: Core, shop: Any, workshop: Workshop
) -> None:
    order = workshop.start(workshop.create())
    early = client.post(
        f"/desk/api/orders/{order['id']}/handover",
        json={
            "version": order["version"],
            "final_check_done": True,
            "old_parts_shown": True,
            "next_service_date": "2099-01-01",
            "next_service_mileage": 52000,
        },
        headers=shop.headers("advisor"),
    )
    assert early.status_code == 409 and early.get_json()["code"] == "illegal_transition"

    order = workshop.finish(order)
    path = f"/desk/api/orders/{order['id']}/handover"
    base = {
        "version": order["version"],
        "old_parts_shown": True,
        "next_service_date": "2099-01-01",
        "next_service_mileage": 52000,
    }
    unchecked = client.post(
        path, json={**base, "final_check_done": False}, headers=shop.headers("advisor")
    )
    assert unchecked.status_code == 422 and unchecked.get_json()["field"] == "final_check_done"
    lower = client.post(
        path,
        json={**base, "final_check_done": True, "next_service_mileage": 40000},
        headers=shop.headers("advisor"),
    )
    assert lower.status_code == 422 and lower.get_json()["field"] == "next_service_mileage"
    with core.db.read() as session:
        assert session.execute(select(HandoverRecord)).first() is None

    delivered = workshop.hand_over(order, old_parts_shown=False, note="旧件客户不要")
    assert delivered["stage"] == "delivered"
    assert delivered["handover"]["next_service_mileage"] == 52000
    assert delivered["handover"]["old_parts_shown"] is False
    history = workshop.get(order["id"])["history"]
    assert history[-1]["type"] == "stage_changed" and history[-1]["data"]["to_stage"] == "delivered"
    recorded = client.get(path, headers=shop.headers("foreman")).get_json()["handover"]
    assert recorded["next_service_date"] == "2099-06-01" and recorded["note"] == "旧件客户不要"


# ---------------------------------------------------------------- follow-up calls


def follow_ups(client: Any, shop: Any) -> dict[int, list[str]]:
    reply = client.get("/desk/api/follow-ups", headers=shop.headers("advisor"))
    assert reply.status_code == 200
    return {call["id"]: call["reasons"] for call in reply.get_json()["calls"]}


def test_follow_up_list_and_outcomes(
    client: Any, core: Core, shop: Any, workshop: Workshop, clock: HandClock
) -> None:
    # Monday 10:00 shop time: deliver one car; on Tuesday another.
    three_days = workshop.hand_over(workshop.finish(workshop.start(workshop.create())))
    clock.advance(days=1)
    with_decline = workshop.start(workshop.create(plate="粤B22222"))
    workshop.quote(with_decline, "更换雨刮", 0.2, 8000)
    decline = client.post(
        f"/api/v1/orders/{with_decline['id']}/extra-work/1/decision",
        json={"approved": False, "quote_version": 1, "channel": "phone"},
        headers=shop.headers("advisor"),
    )
    assert decline.status_code == 200
    with_decline = workshop.hand_over(workshop.finish(workshop.resume(decline.get_json())))
    low = workshop.hand_over(workshop.finish(workshop.start(workshop.create(plate="粤B33333"))))
    token = token_of(low)
    survey = client.post(f"/api/v1/track/{token}/survey", json={"rating": 3, "comment": "太慢"})
    assert survey.status_code == 201, survey.get_data(as_text=True)[-300:]
    happy = workshop.hand_over(workshop.finish(workshop.start(workshop.create(plate="粤B44444"))))

    # Wednesday: the Monday car is two days old, not due yet.
    clock.advance(days=1)
    due = follow_ups(client, shop)
    assert three_days["id"] not in due and happy["id"] not in due
    assert due[with_decline["id"]] == ["declined_work"]
    assert due[low["id"]] == ["low_score"]

    # Thursday 00:30 shop time: three shop days after Monday, though under 72 h.
    clock.now = datetime(2026, 5, 6, 16, 30, tzinfo=UTC)
    due = follow_ups(client, shop)
    assert due[three_days["id"]] == ["three_day"]

    def record(order_id: int, outcome: str) -> Any:
        return client.post(
            f"/desk/api/orders/{order_id}/follow-ups",
            json={"outcome": outcome, "note": "已电话"},
            headers=shop.headers("advisor", key=f"{order_id}-{outcome}"),
        )

    assert record(three_days["id"], "no_answer").status_code == 201
    assert three_days["id"] in follow_ups(client, shop)  # try again later
    assert record(three_days["id"], "reached").status_code == 201
    assert three_days["id"] not in follow_ups(client, shop)
    assert record(with_decline["id"], "bogus").status_code == 422
    active = workshop.create(plate="粤B66666")
    assert record(active["id"], "reached").status_code == 409


def test_every_reception_write_is_in_the_shop_log_or_its_own_table(
    core: Core, workshop: Workshop
) -> None:
    """Handover writes the delivery event with the checklist in one transaction."""
    order = workshop.hand_over(workshop.finish(workshop.start(workshop.create())))
    with core.db.read() as session:
        delivered = (
            session.execute(
                select(OrderEvent).where(
                    OrderEvent.order_id == order["id"], OrderEvent.type == "stage_changed"
                )
            )
            .scalars()
            .all()[-1]
        )
        record = session.execute(select(HandoverRecord)).scalar_one()
        assert delivered.data["to_stage"] == "delivered"
        assert record.recorded_at == delivered.at
