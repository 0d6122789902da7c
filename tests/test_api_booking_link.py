"""The customer's own appointment link (/a/<token> and
/api/v1/appointment-link/<token>/…) on the real app and SQLite: the view
holds that one appointment and its shop, never another shop's or another
customer's; confirm, cancel with a reason and move to a free start, each
idempotent by its key; a cancelled or begun appointment cannot be changed;
an unknown link is a 404 that shows nothing."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest

from shared.services import setup
from shared.services.core import Core
from tests.booking_support import NOW, TUESDAY, at, page_token, set_appointments
from tests.conftest import HandClock, Shop

LINK = "/api/v1/appointment-link/"
PAGE_DATA = re.compile(r'<script type="application/json" id="booking">(.*?)</script>', re.S)


@pytest.fixture
def clock(core: Core) -> HandClock:
    hand = HandClock(NOW)
    core.clock = hand
    return hand


@pytest.fixture
def web(app: Any, shop: Shop, clock: HandClock) -> Any:
    return app.test_client()


def book(web: Any, start: datetime, slug: str = "test", **more: Any) -> dict[str, Any]:
    token = page_token(web, slug)
    payload = {
        "work": ["service", "brake_pads"],
        "start": start.isoformat(),
        "plate": "沪A12345",
        "name": "张先生",
        "phone": "13800138000",
        "email": "zhang@example.com",
        "notify": ["sms"],
    }
    payload.update(more)
    answer = web.post(
        f"/api/v1/book/{slug}/appointments", json=payload, headers={"X-CSRFToken": token}
    )
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def token_of(view: dict[str, Any]) -> str:
    return str(view["manage_url"].rsplit("/", 1)[1])


def act(web: Any, token: str, what: str, payload: dict[str, Any], key: str = "") -> Any:
    csrf = page_token_of_link(web, token)
    headers = {"X-CSRFToken": csrf}
    if key:
        headers["Idempotency-Key"] = key
    return web.post(f"{LINK}{token}/{what}", json=payload, headers=headers)


def page_token_of_link(web: Any, token: str) -> str:
    page = web.get(f"/a/{token}").get_data(as_text=True)
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found, page[:300]
    return found.group(1)


def test_the_link_shows_the_appointment_on_the_shops_clock(web: Any) -> None:
    view = book(web, at(9, 30))
    token = token_of(view)
    page = web.get(f"/a/{token}")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Robots-Tag"] == "noindex, nofollow"
    # The shop's own booking page may be found by search engines.
    assert "X-Robots-Tag" not in web.get("/book/test").headers
    data = json.loads(PAGE_DATA.search(page.get_data(as_text=True)).group(1))  # type: ignore[union-attr]
    assert data["timezone"] == "Asia/Shanghai"
    assert datetime.fromisoformat(data["appointment"]["start"]) == at(9, 30)
    assert data["appointment"]["status"] == "booked"
    answer = web.get(f"{LINK}{token}").get_json()["appointment"]
    assert [i["title"] for i in answer["items"]] == ["常规保养", "更换刹车片"]
    # The link may be forwarded: neither the phone nor the e-mail is on it.
    text = page.get_data(as_text=True) + json.dumps(answer, ensure_ascii=False)
    assert "13800138000" not in text and "zhang@example.com" not in text


def test_an_unknown_link_is_a_404_that_shows_nothing(web: Any) -> None:
    book(web, at(9))
    for token in ("x" * 43, "short", "a" * 200):
        assert web.get(f"/a/{token}").status_code == 404
        missing = web.get(f"{LINK}{token}")
        assert missing.status_code == 404
        assert "沪A12345" not in missing.get_data(as_text=True)


def test_another_shops_appointment_never_leaks(web: Any, core: Core, shop: Shop) -> None:
    other = setup.ensure_shop(core, slug="other", name="别家店")
    setup.add_bay(core, other, "X1", "工位 X1")
    setup.create_user(core, other, role="technician", name="赵师傅", badge="2001", pin="1234")
    mine = book(web, at(9))
    theirs = book(web, at(9), slug="other", plate="沪B99999", name="王女士", phone="13700137000")
    assert theirs["shop"]["slug"] == "other"

    answer = web.get(f"{LINK}{token_of(theirs)}").get_json()["appointment"]
    assert answer["shop"]["name"] == "别家店"
    text = json.dumps(answer, ensure_ascii=False)
    assert "测试店" not in text and "沪A12345" not in text and "张先生" not in text
    mine_text = json.dumps(web.get(f"{LINK}{token_of(mine)}").get_json(), ensure_ascii=False)
    assert "别家店" not in mine_text and "沪B99999" not in mine_text
    # The staff API of one shop does not find the other's appointment.
    listed = web.get(
        f"/api/v1/appointments?date={TUESDAY}", headers=shop.headers("advisor")
    ).get_json()
    assert "沪B99999" not in json.dumps(listed, ensure_ascii=False)
    # Moving through the link offers the link's own shop's starts: 10:00,
    # taken in the first shop, is free in the other; 09:00 is its own.
    book(web, at(10), phone="13600136000", name="周先生", plate="沪D22222")
    slots = web.get(f"{LINK}{token_of(theirs)}/slots?date={TUESDAY}").get_json()["slots"]
    offered = {datetime.fromisoformat(s["start"]) for s in slots}
    assert {at(9), at(10)} <= offered


def test_confirm_then_move_then_cancel_each_idempotent(web: Any) -> None:
    token = token_of(book(web, at(9)))

    confirmed = act(web, token, "confirm", {}, key="c1")
    assert confirmed.status_code == 200, confirmed.get_json()
    assert confirmed.get_json()["confirmed"] is True
    version = confirmed.get_json()["version"]

    free = web.get(f"{LINK}{token}/slots?date={TUESDAY}").get_json()["slots"]
    target = next(s["start"] for s in free if datetime.fromisoformat(s["start"]) == at(14))
    moved = act(web, token, "reschedule", {"start": target}, key="m1")
    assert moved.status_code == 200, moved.get_json()
    assert datetime.fromisoformat(moved.get_json()["start"]) == at(14)
    assert moved.get_json()["version"] == version + 1
    # A moved appointment waits for the customer's word again.
    assert moved.get_json()["confirmed"] is False
    again = act(web, token, "reschedule", {"start": target}, key="m1")
    assert again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == moved.get_json()
    # The key with another body is refused, not replayed.
    other = act(web, token, "reschedule", {"start": at(15).isoformat()}, key="m1")
    assert other.status_code in (409, 422)

    cancelled = act(web, token, "cancel", {"reason": "出差"}, key="x1")
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    replay = act(web, token, "cancel", {"reason": "出差"}, key="x1")
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    twice = act(web, token, "cancel", {}, key="x2")
    assert twice.status_code == 409
    assert twice.get_json()["appointment"]["status"] == "cancelled"
    page = web.get(f"/a/{token}").get_data(as_text=True)
    data = json.loads(PAGE_DATA.search(page).group(1))  # type: ignore[union-attr]
    assert data["appointment"]["status"] == "cancelled"


def test_moving_to_a_taken_start_is_refused_with_alternatives(web: Any) -> None:
    book(web, at(11), phone="13900139000", name="李女士", plate="沪C11111")
    token = token_of(book(web, at(9)))
    refused = act(web, token, "reschedule", {"start": at(11).isoformat()}, key="t")
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "capacity_full"
    assert refused.get_json()["alternatives"]
    assert "李女士" not in refused.get_data(as_text=True)


def test_a_begun_appointment_cannot_be_changed_from_the_link(web: Any, clock: HandClock) -> None:
    token = token_of(book(web, at(9)))
    clock.now = at(9, 5)
    refused = act(web, token, "cancel", {}, key="late")
    assert refused.status_code == 409
    assert web.get(f"{LINK}{token}").get_json()["appointment"]["can_change"] is False


def test_the_link_needs_the_pages_token_once_the_browser_has_our_cookie(web: Any) -> None:
    token = token_of(book(web, at(9)))
    page_token_of_link(web, token)
    refused = web.post(f"{LINK}{token}/confirm", json={})
    assert refused.status_code == 403


def test_a_shop_without_online_booking_still_shows_its_links(
    web: Any, core: Core, shop: Shop
) -> None:
    token = token_of(book(web, at(9)))
    set_appointments(core, shop.shop_id, online_booking=False)
    assert web.get(f"/a/{token}").status_code == 200
    assert act(web, token, "confirm", {}).status_code == 200
    assert web.get(f"{LINK}{token}").get_json()["appointment"]["status"] == "booked"
    assert web.get(f"/book/{shop.slug}").status_code == 404


def test_the_customer_stops_the_reminders_from_the_link(web: Any) -> None:
    token = token_of(book(web, at(9)))
    assert web.get(f"{LINK}{token}").get_json()["appointment"]["reminders"] is True
    stopped = act(web, token, "reminders/stop", {}, key="r1")
    assert stopped.status_code == 200, stopped.get_json()
    assert stopped.get_json()["reminders"] is False
    again = act(web, token, "reminders/stop", {}, key="r1")
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert web.get(f"{LINK}{token}").get_json()["appointment"]["reminders"] is False
