"""The public booking page's API (/api/v1/book/<shop>/…) on the real app and
SQLite, the clock moved by hand: only free starts where the work fits, a
booking with its own link, a taken slot refused with alternatives, the
phone check, the page's CSRF token, online booking switched off, and the
per-address and per-phone limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from shared.services import appointment_public
from shared.services.core import Core
from shared.web import api_booking
from tests.booking_support import (
    NOW,
    TUESDAY,
    at,
    page_token,
    set_appointments,
    texted_code,
)
from tests.conftest import HandClock, Shop

SLOTS = "/api/v1/book/test/slots"
BOOK = "/api/v1/book/test/appointments"
CODE = "/api/v1/book/test/code"


@pytest.fixture
def clock(core: Core) -> HandClock:
    hand = HandClock(NOW)
    core.clock = hand
    return hand


@pytest.fixture
def web(app: Any, shop: Shop, clock: HandClock) -> Any:
    return app.test_client()


def body(start: datetime | str, phone: str = "13800138000", **more: Any) -> dict[str, Any]:
    found = {
        "work": ["service"],
        "start": start if isinstance(start, str) else start.isoformat(),
        "plate": "沪A12345",
        "name": "张先生",
        "phone": phone,
        "notify": ["sms"],
        "language": "zh_Hans",
    }
    found.update(more)
    return found


def post(web: Any, path: str, payload: dict[str, Any], token: str, key: str = "") -> Any:
    headers = {"X-CSRFToken": token}
    if key:
        headers["Idempotency-Key"] = key
    return web.post(path, json=payload, headers=headers)


def starts(web: Any, work: str = "service", day: str = TUESDAY.isoformat()) -> list[str]:
    answer = web.get(f"{SLOTS}?date={day}&work={work}")
    assert answer.status_code == 200, answer.get_json()
    slots = answer.get_json()["slots"]
    for slot in slots:
        assert set(slot) == {"start", "time"}, "a slot says nothing but its time"
    return [slot["start"] for slot in slots]


def test_only_free_starts_are_offered_and_a_booking_takes_its_slot(web: Any) -> None:
    offered = starts(web)
    assert offered[0] == at(8, 30).isoformat()
    assert web.get(f"{SLOTS}?date={TUESDAY}&work=service").get_json()["slots"][0]["time"] == "08:30"
    token = page_token(web)

    booked = post(web, BOOK, body(offered[0]), token, key="k1")
    assert booked.status_code == 201, booked.get_json()
    view = booked.get_json()
    assert view["status"] == "booked"
    assert datetime.fromisoformat(view["start"]) == at(8, 30)
    assert view["manage_url"].startswith("http://127.0.0.1:5000/a/")
    assert "phone" not in str(view) and "13800138000" not in str(view)

    # The seeded shop receives one car a slot: 08:30 is no longer offered.
    after = starts(web)
    assert offered[0] not in after
    assert after == offered[1:]


def test_work_the_shop_has_no_bay_for_is_offered_no_start(web: Any) -> None:
    """The seeded shop has general bays only: paint work never fits."""
    assert starts(web, "body_paint") == []
    assert starts(web, "service,brake_pads") != []
    unknown = web.get(f"{SLOTS}?date={TUESDAY}&work=teleport")
    assert unknown.status_code == 422
    assert unknown.get_json()["field"] == "work"


def test_days_outside_the_booking_window_are_refused(web: Any) -> None:
    for day in ("2026-05-31", "2026-06-16"):
        answer = web.get(f"{SLOTS}?date={day}&work=service")
        assert answer.status_code == 422, day
        assert answer.get_json()["field"] == "date"
    assert web.get(f"{SLOTS}?date=2026-06-15&work=service").status_code == 200


def test_a_taken_slot_is_refused_with_the_nearest_free_starts(web: Any) -> None:
    token = page_token(web)
    first = post(web, BOOK, body(at(9)), token, key="a")
    assert first.status_code == 201
    second = post(web, BOOK, body(at(9), phone="13900139000", name="李女士"), token, key="b")
    assert second.status_code == 409
    problem = second.get_json()
    assert problem["code"] == "capacity_full"
    assert problem["alternatives"], problem
    assert at(9).isoformat() not in problem["alternatives"]
    assert {datetime.fromisoformat(a) for a in problem["alternatives"]} <= {
        datetime.fromisoformat(s) for s in starts(web)
    }
    # Nothing of the customer who holds 09:00.
    assert "张先生" not in second.get_data(as_text=True)
    assert "13800138000" not in second.get_data(as_text=True)


def test_a_retried_booking_is_one_booking(web: Any, core: Core, shop: Shop) -> None:
    token = page_token(web)
    first = post(web, BOOK, body(at(10)), token, key="same")
    again = post(web, BOOK, body(at(10)), token, key="same")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    from shared.services import appointments

    assert len(appointments.list_day(core, shop.shop_id, TUESDAY)) == 1


def test_a_booking_needs_the_pages_csrf_token_and_this_origin(web: Any) -> None:
    page_token(web)
    refused = web.post(BOOK, json=body(at(9)))
    assert refused.status_code == 403
    token = page_token(web)
    foreign = web.post(
        BOOK, json=body(at(9)), headers={"X-CSRFToken": token, "Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert post(web, BOOK, body(at(9)), token).status_code == 201


def test_missing_and_unknown_fields_are_refused_by_name(web: Any) -> None:
    token = page_token(web)
    for missing in ("plate", "name", "phone", "start"):
        payload = body(at(9))
        del payload[missing]
        answer = post(web, BOOK, payload, token)
        assert answer.status_code == 422, missing
        assert answer.get_json()["field"] == missing
    assert post(web, BOOK, body(at(9), work=[]), token).get_json()["field"] == "work"
    assert post(web, BOOK, body(at(9), price=1), token).get_json()["field"] == "price"


def test_a_shop_without_online_booking_answers_404(web: Any, core: Core, shop: Shop) -> None:
    token = page_token(web)
    set_appointments(core, shop.shop_id, online_booking=False)
    assert web.get("/book/test").status_code == 404
    assert web.get(f"{SLOTS}?date={TUESDAY}&work=service").status_code == 404
    assert post(web, BOOK, body(at(9)), token).status_code == 404
    assert post(web, CODE, {"phone": "13800138000"}, token).status_code == 404
    assert web.get("/book/nowhere").status_code == 404


def test_phone_check_no_code_wrong_codes_lock_right_code_books(
    web: Any, core: Core, shop: Shop
) -> None:
    set_appointments(core, shop.shop_id, phone_verification=True)
    token = page_token(web)
    page = web.get("/book/test").get_data(as_text=True)
    assert 'id="send-code"' in page

    no_code = post(web, BOOK, body(at(9)), token)
    assert no_code.status_code == 422
    assert no_code.get_json()["code"] == "code_invalid"

    sent = post(web, CODE, {"phone": "13800138000"}, token)
    assert sent.status_code == 202, sent.get_json()
    right = texted_code(core, shop.shop_id, "13800138000")
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(appointment_public.CODE_ATTEMPTS):
        answer = post(web, BOOK, body(at(9), code=wrong), token)
        assert answer.get_json()["code"] == "code_invalid"
    # Five wrong tries: the code is dead, even typed right.
    locked = post(web, BOOK, body(at(9), code=right), token)
    assert locked.status_code == 422
    assert locked.get_json()["code"] == "code_invalid"

    # A new code (a minute later) books, once.
    clock = core.clock
    assert isinstance(clock, HandClock)
    clock.advance(minutes=2)
    assert post(web, CODE, {"phone": "13800138000"}, token).status_code == 202
    fresh = texted_code(core, shop.shop_id, "13800138000")
    booked = post(web, BOOK, body(at(9), code=fresh), token, key="ok")
    assert booked.status_code == 201, booked.get_json()
    reused = post(web, BOOK, body(at(10), code=fresh), token, key="again")
    assert reused.status_code == 422


def test_the_slots_are_limited_per_address(web: Any) -> None:
    limit = int(api_booking.SLOTS_PER_ADDRESS.split()[0])
    path = f"{SLOTS}?date={TUESDAY}&work=service"
    for _ in range(limit):
        assert web.get(path).status_code == 200
    refused = web.get(path)
    assert refused.status_code == 429
    assert refused.headers.get("Retry-After")
    other = web.get(path, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200


def test_bookings_are_limited_per_phone_from_any_address(web: Any) -> None:
    token = page_token(web)
    limit = int(api_booking.BOOKINGS_PER_PHONE.split()[0])
    hours = [at(8, 30), at(9), at(9, 30), at(10), at(10, 30), at(11), at(11, 30)]
    for n in range(limit):
        answer = web.post(
            BOOK,
            json=body(hours[n], phone="+86 138 0013 8000"),
            headers={"X-CSRFToken": token},
            environ_base={"REMOTE_ADDR": f"10.0.1.{n}"},
        )
        assert answer.status_code == 201, answer.get_json()
    refused = web.post(
        BOOK,
        json=body(hours[limit], phone="13800138000"),
        headers={"X-CSRFToken": token},
        environ_base={"REMOTE_ADDR": "10.0.2.1"},
    )
    assert refused.status_code == 429
    other = post(web, BOOK, body(hours[limit], phone="13900139000"), token)
    assert other.status_code == 201


def test_codes_are_limited_per_phone(web: Any, core: Core, shop: Shop) -> None:
    set_appointments(core, shop.shop_id, phone_verification=True)
    token = page_token(web)
    assert post(web, CODE, {"phone": "13800138000"}, token).status_code == 202
    # The service's own rule: one a minute per phone.
    soon = post(web, CODE, {"phone": "13800138000"}, token)
    assert soon.status_code == 429
    assert soon.headers.get("Retry-After")
    clock = core.clock
    assert isinstance(clock, HandClock)
    clock.advance(minutes=2)
    # The page's own budget: three requests a phone in ten minutes, whatever
    # their answer (the refused one above counts).
    assert post(web, CODE, {"phone": "13800138000"}, token).status_code == 202
    clock.advance(minutes=2)
    third = post(web, CODE, {"phone": "13800138000"}, token)
    assert third.status_code == 429
    assert post(web, CODE, {"phone": "13900139000"}, token).status_code == 202
