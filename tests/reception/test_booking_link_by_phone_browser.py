"""The customer's appointment link (/a/<token>) of a shop that switched
online booking off, in headless Chromium (Debian's) against a real
``baylight serve`` on SQLite: the shop then takes changes of time by phone
only (the server refuses a move from the link, 403), so the page offers no
"choose another time" and says to call the shop, with its hotline as a
link to dial (or without a number when the shop has none). Cancelling
stays on the page. A shop that books online still offers the move.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from shared.persistence.appointment_models import Appointment
from shared.persistence.models import Shop as ShopRow
from tests.booking_support import set_appointments
from tests.browser_support import PageProblems, fits_the_width
from tests.conftest import (
    LiveServer,
    Shop,
    free_port,
    migrated_copy,
    offline_core,
    seed_shop,
    server_env,
)

pytestmark = [pytest.mark.browser]

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "timezone_id": "UTC",
    "device_scale_factor": 2,
}
HOTLINE = "021-6688 1234"


def with_hotline(shop: Shop, hotline: str) -> None:
    with shop.core.db.write() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        row.settings = {**(row.settings or {}), "hotline": hotline}


def put_booking(shop: Shop, plate: str) -> str:
    """A booked appointment two days from now (its time not yet come, so
    the link may change it); its link's token."""
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    with shop.core.db.write() as session:
        session.add(
            Appointment(
                shop_id=shop.shop_id,
                plate=plate,
                customer_name="张先生",
                customer_phone="13800001234",
                customer_notify=["sms"],
                vehicle_model="朗逸",
                complaint="保养",
                items=[{"title": "常规保养", "labour_hours": 1.0, "bay_kind": "general"}],
                start=(now + timedelta(days=2)).replace(minute=0, second=0, microsecond=0),
                status="booked",
                token=token,
                source="online",
                cancel_reason="",
                created_at=now,
                updated_at=now,
                by="online",
                version=1,
            )
        )
    return token


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[tuple[LiveServer, dict[str, Shop]]]:
    tmp = tmp_path_factory.mktemp("by-phone")
    database_url = migrated_copy(migrated_template, tmp / "live.db")
    core = offline_core(database_url, tmp)
    shops = {
        "online": seed_shop(core, slug="online"),
        "phone": seed_shop(core, slug="phone"),
        "bare": seed_shop(core, slug="bare"),
    }
    for name in ("online", "phone"):
        with_hotline(shops[name], HOTLINE)
    set_appointments(core, shops["phone"].shop_id, online_booking=False)
    set_appointments(core, shops["bare"].shop_id, online_booking=False)
    port = free_port()
    env = server_env(database_url, port, tmp, "eventlet", BAYLIGHT_NOTIFY_SENDER="off")
    live = LiveServer(env, port, tmp / "server.log")
    live.start()
    yield live, shops
    live.stop()
    core.db.dispose()


def open_phone(browser: Browser, problems: PageProblems, locale: str) -> Iterator[Page]:
    context = browser.new_context(locale=locale, **PHONE)
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    yield page
    context.close()
    assert problems.unexpected() == []


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def phone(server: Any, browser: Browser, problems: PageProblems) -> Iterator[Page]:
    yield from open_phone(browser, problems, "zh-CN")


@pytest.fixture
def english_phone(server: Any, browser: Browser, problems: PageProblems) -> Iterator[Page]:
    yield from open_phone(browser, problems, "en-US")


def test_a_shop_that_takes_changes_by_phone_says_to_call_it_and_offers_no_move(
    server: tuple[LiveServer, dict[str, Shop]], phone: Page
) -> None:
    live, shops = server
    token = put_booking(shops["phone"], "沪A10001")
    # What the page must agree with: the server refuses a move from the link.
    session = requests.Session()
    page_html = session.get(f"{live.url}/a/{token}", timeout=5).text
    csrf = page_html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    refused = session.post(
        f"{live.url}/api/v1/appointment-link/{token}/reschedule",
        json={"start": (datetime.now(UTC) + timedelta(days=3)).isoformat()},
        headers={"X-CSRFToken": csrf, "Idempotency-Key": secrets.token_hex(8)},
        timeout=5,
    )
    assert refused.status_code == 403, refused.text

    phone.goto(f"{live.url}/a/{token}")
    expect(phone.locator("#actions")).to_be_visible()
    expect(phone.locator("#move-open")).to_have_count(0)
    expect(phone.locator("#move")).to_have_count(0)
    note = phone.locator("#move-by-phone")
    expect(note).to_be_visible()
    expect(note).to_contain_text("如需更改预约时间，请致电门店：")
    expect(phone.locator("#move-hotline")).to_have_text(HOTLINE)
    expect(phone.locator("#move-hotline")).to_have_attribute("href", f"tel:{HOTLINE}")
    assert fits_the_width(phone)

    # Cancelling stays on the page; afterwards nothing is offered, the note neither.
    phone.click("#cancel-open")
    phone.fill("#cancel-reason", "出差")
    phone.click("#cancel-confirm")
    expect(phone.locator("#actions")).to_be_hidden()
    expect(note).to_be_hidden()
    answer = requests.get(f"{live.url}/api/v1/appointment-link/{token}", timeout=5).json()
    assert answer["appointment"]["status"] == "cancelled"


def test_without_a_hotline_the_page_says_to_call_the_shop_in_english(
    server: tuple[LiveServer, dict[str, Shop]], english_phone: Page
) -> None:
    live, shops = server
    token = put_booking(shops["bare"], "沪A10002")
    english_phone.goto(f"{live.url}/a/{token}")
    note = english_phone.locator("#move-by-phone")
    expect(note).to_have_text("To change the time, please call the shop.")
    expect(english_phone.locator("#move-hotline")).to_have_count(0)
    expect(english_phone.locator("#move-open")).to_have_count(0)
    expect(english_phone.locator("#confirm")).to_be_visible()
    english_phone.click("#confirm")
    expect(english_phone.locator("#confirm")).to_be_hidden()


def test_in_traditional_chinese_and_a_shop_that_books_online_still_offers_the_move(
    server: tuple[LiveServer, dict[str, Shop]], browser: Browser, problems: PageProblems
) -> None:
    live, shops = server
    for page in open_phone(browser, problems, "zh-TW"):
        phone_only = put_booking(shops["phone"], "沪A10003")
        page.goto(f"{live.url}/a/{phone_only}")
        expect(page.locator("#move-by-phone")).to_contain_text("如需更改預約時間，請致電門店：")
        online = put_booking(shops["online"], "沪A10004")
        page.goto(f"{live.url}/a/{online}")
        expect(page.locator("#move-by-phone")).to_have_count(0)
        expect(page.locator("#move-open")).to_be_visible()
        page.click("#move-open")
        expect(page.locator("#move")).to_be_visible()
