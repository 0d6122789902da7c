"""The public booking page and the customer's appointment link in headless
Chromium (Debian's) against a real ``serve`` (eventlet) on SQLite:

- on a phone (390x844, touch, zh-CN) a customer picks the work, a day and a
  free start, types the car and the phone, books, and gets the link; on the
  link they move the appointment to another free start, and the server has
  it at the new time; nothing runs wider than the phone;
- in English, a customer books, confirms from the link, stops its
  reminders, then cancels with a reason, and the page says so;
- a start taken by someone else while the page was open: the page says so
  and offers the nearest free starts, and one of them books;
- when the shop checks phones, the code texted to the phone is asked for
  and the booking goes through with it;
- the page works on a desktop-sized window too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from shared.persistence.models import Shop as ShopRow
from tests.booking_support import set_appointments, texted_code
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
ADDRESS = "上海市徐汇区漕溪北路 88 号"
HOTLINE = "021-6688 1234"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[tuple[LiveServer, Shop]]:
    tmp = tmp_path_factory.mktemp("booking")
    database_url = migrated_copy(migrated_template, tmp / "live.db")
    core = offline_core(database_url, tmp)
    shop = seed_shop(core)
    checked = seed_shop(core, slug="checked")
    set_appointments(core, checked.shop_id, phone_verification=True)
    shop.extra["core"] = core
    shop.extra["checked"] = checked
    with core.db.write() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        row.settings = {**(row.settings or {}), "address": ADDRESS, "hotline": HOTLINE}
    port = free_port()
    live = LiveServer(server_env(database_url, port, tmp, "eventlet"), port, tmp / "server.log")
    live.start()
    yield live, shop
    live.stop()
    core.db.dispose()


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


def open_page(
    browser: Browser, problems: PageProblems, locale: str, **device: Any
) -> Iterator[Page]:
    context = browser.new_context(locale=locale, **(device or PHONE))
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    yield page
    context.close()
    assert problems.unexpected() == []


@pytest.fixture
def phone(server: Any, browser: Browser, problems: PageProblems) -> Iterator[Page]:
    yield from open_page(browser, problems, "zh-CN")


@pytest.fixture
def english_phone(server: Any, browser: Browser, problems: PageProblems) -> Iterator[Page]:
    yield from open_page(browser, problems, "en-US")


@pytest.fixture
def desktop(server: Any, browser: Browser, problems: PageProblems) -> Iterator[Page]:
    yield from open_page(browser, problems, "zh-TW", viewport={"width": 1440, "height": 900})


def strings(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("JSON.parse(document.getElementById('strings').textContent)"))


def first_day_with_slots(page: Page, prefix: str) -> None:
    """Pick days from tomorrow on until one offers free starts (the real
    clock may stand on a Sunday evening or before a holiday)."""
    days = page.locator(f"input[name='{prefix}day']")
    for index in range(1, days.count()):
        page.locator(f"#{prefix}days label.day").nth(index).click()
        page.wait_for_function(
            "() => document.querySelectorAll('#slots .slot').length > 0 || "
            "(document.getElementById('slots-note').textContent || '').length > 0 && "
            "document.getElementById('slots-note').textContent !== "
            "JSON.parse(document.getElementById('strings').textContent).loading"
        )
        if page.locator("#slots .slot").count() > 0:
            return
    raise AssertionError("no day with free starts")


def book(page: Page, url: str, *, plate: str, name: str, phone: str) -> str:
    """Book the first free start for a regular service; the link's URL."""
    page.goto(url)
    page.locator("#work-list label.choice").first.click()
    first_day_with_slots(page, "book-")
    page.locator("#slots .slot").first.click()
    page.fill("#plate", plate)
    page.fill("#name", name)
    page.fill("#phone", phone)
    page.locator("label.check", has=page.locator("#notify-sms")).click()
    page.click("#book-submit")
    expect(page.locator("#done")).to_be_visible()
    link = page.locator("#done-link")
    expect(link).to_have_attribute("href", re.compile(r"/a/[\w-]{43}$"))
    href = link.get_attribute("href")
    assert href and "/a/" in href
    return href


def test_a_customer_books_on_the_phone_and_moves_it_from_the_link(
    server: tuple[LiveServer, Shop], phone: Page
) -> None:
    live, _shop = server
    phone.goto(f"{live.url}/book/test")
    text = strings(phone)
    expect(phone.locator("#shop-name")).to_have_text("测试店")
    expect(phone.locator("#shop-address")).to_have_text(ADDRESS)
    expect(phone.locator("#hotline")).to_have_attribute("href", f"tel:{HOTLINE}")
    expect(phone.locator("#work-list label.choice").first).to_contain_text("常规保养")
    expect(phone.locator("#work-list label.choice").first).to_contain_text("1.0 小时")
    # Nothing is offered before the work is chosen.
    expect(phone.locator("#slots-note")).to_have_text(text["choose_work"])
    assert phone.locator("#slots .slot").count() == 0
    # Submitting without a time says what is missing.
    phone.locator("#work-list label.choice").first.click()
    phone.click("#book-submit")
    expect(phone.locator("#book-message")).to_have_text(text["choose_slot"])

    link = book(
        phone, f"{live.url}/book/test", plate="沪A12345", name="张先生", phone="13800138000"
    )
    assert fits_the_width(phone)
    expect(phone.locator("#done-when")).not_to_be_empty()

    phone.goto(link)
    expect(phone.locator("#status")).to_have_text(text["booked"])
    before = phone.locator("#when").text_content()
    token = link.rsplit("/", 1)[1]
    api = f"{live.url}/api/v1/appointment-link/{token}"
    started = requests.get(api, timeout=5).json()["appointment"]["start"]

    phone.click("#move-open")
    expect(phone.locator("#move")).to_be_visible()
    first_day_with_slots(phone, "move-")
    target = phone.locator("#slots .slot").nth(2)
    chosen = target.get_attribute("data-start")
    assert chosen and datetime.fromisoformat(chosen) != datetime.fromisoformat(started)
    target.click()
    expect(target).to_have_attribute("aria-checked", "true")
    phone.click("#move-confirm")
    expect(phone.locator("#link-message")).to_have_text(text["moved"])
    expect(phone.locator("#move")).to_be_hidden()
    expect(phone.locator("#when")).not_to_have_text(before or "")
    moved = requests.get(api, timeout=5).json()["appointment"]
    assert datetime.fromisoformat(moved["start"]) == datetime.fromisoformat(chosen)
    assert moved["status"] == "booked"
    assert fits_the_width(phone)


def test_in_english_a_customer_books_confirms_and_cancels(
    server: tuple[LiveServer, Shop], english_phone: Page
) -> None:
    live, _shop = server
    page = english_phone
    page.goto(f"{live.url}/book/test")
    expect(page.locator("#work-list label.choice").first).to_contain_text("Regular service")
    expect(page.locator("h2#work-heading")).to_have_text("1. What should we do?")
    link = book(page, f"{live.url}/book/test", plate="沪B54321", name="Li Na", phone="13900139000")

    page.goto(link)
    text = strings(page)
    expect(page.locator("#status")).to_have_text("Booked")
    expect(page.locator("#work li").first).to_contain_text("Regular service")
    page.click("#confirm")
    expect(page.locator("#status")).to_have_text(text["confirmed"])
    expect(page.locator("#confirm")).to_be_hidden()
    page.click("#reminders-stop")
    expect(page.locator("#link-message")).to_have_text(
        "You will get no more reminders for this appointment."
    )
    expect(page.locator("#reminders-stop")).to_be_hidden()

    page.click("#cancel-open")
    page.fill("#cancel-reason", "Travelling that week")
    page.click("#cancel-confirm")
    expect(page.locator("#status")).to_have_text("This appointment is cancelled.")
    expect(page.locator("#actions")).to_be_hidden()
    # Opened again later: the link says it is cancelled and offers nothing.
    page.reload()
    expect(page.locator("#status")).to_have_text("This appointment is cancelled.")
    expect(page.locator("#actions")).to_be_hidden()
    assert fits_the_width(page)


def test_the_booking_page_on_a_desktop_in_traditional_chinese(
    server: tuple[LiveServer, Shop], desktop: Page
) -> None:
    live, _shop = server
    desktop.goto(f"{live.url}/book/test")
    expect(desktop.locator("#work-list label.choice").first).to_contain_text("常規保養")
    expect(desktop.locator("#book-submit")).to_have_text("提交預約")
    width = desktop.locator("main").bounding_box()
    assert width is not None and width["width"] <= 40 * 17 + 1
    assert fits_the_width(desktop)


def test_a_shop_that_checks_phones_asks_for_the_texted_code(
    server: tuple[LiveServer, Shop], phone: Page, problems: PageProblems
) -> None:
    live, shop = server
    # The refusal without a code is an answer the page expects.
    problems.allow("status of 422")
    checked: Shop = shop.extra["checked"]
    phone.goto(f"{live.url}/book/checked")
    text = strings(phone)
    expect(phone.locator("#code-box")).to_be_visible()
    phone.locator("#work-list label.choice").first.click()
    first_day_with_slots(phone, "book-")
    phone.locator("#slots .slot").first.click()
    phone.fill("#plate", "沪E77777")
    phone.fill("#name", "陈女士")
    phone.fill("#phone", "13500135000")
    # Without the code the booking is refused, in words.
    phone.click("#book-submit")
    expect(phone.locator("#book-message")).to_be_visible()
    expect(phone.locator("#done")).to_be_hidden()

    phone.click("#send-code")
    expect(phone.locator("#book-message")).to_have_text(text["code_sent"])
    phone.fill("#code", texted_code(shop.extra["core"], checked.shop_id, "13500135000"))
    phone.click("#book-submit")
    expect(phone.locator("#done")).to_be_visible()
    assert fits_the_width(phone)


def book_elsewhere(url: str, slug: str, start: str) -> None:
    """Another customer books ``start`` on their own phone."""
    other = requests.Session()
    page = other.get(f"{url}/book/{slug}", timeout=5).text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found
    answer = other.post(
        f"{url}/api/v1/book/{slug}/appointments",
        json={
            "work": ["service"],
            "start": start,
            "plate": "沪F66666",
            "name": "吴先生",
            "phone": "13300133000",
        },
        headers={"X-CSRFToken": found.group(1)},
        timeout=5,
    )
    assert answer.status_code == 201, answer.text


def test_a_start_taken_meanwhile_is_refused_with_the_nearest_free_ones(
    server: tuple[LiveServer, Shop], phone: Page, problems: PageProblems
) -> None:
    live, _shop = server
    problems.allow("status of 409")
    phone.goto(f"{live.url}/book/test")
    text = strings(phone)
    phone.locator("#work-list label.choice").first.click()
    first_day_with_slots(phone, "book-")
    slot = phone.locator("#slots .slot").nth(4)
    taken = slot.get_attribute("data-start")
    assert taken
    slot.click()
    book_elsewhere(live.url, "test", taken)
    phone.fill("#plate", "沪G12121")
    phone.fill("#name", "郑先生")
    phone.fill("#phone", "13200132000")
    phone.click("#book-submit")
    expect(phone.locator("#book-message")).to_have_text(text["full"])
    offered = phone.locator("#alternatives .slot")
    expect(offered.first).to_be_visible()
    assert "吴先生" not in (phone.locator("main").text_content() or "")
    # The day's list no longer offers the taken start either.
    expect(phone.locator(f"#slots .slot[data-start='{taken}']")).to_have_count(0)
    offered.first.click()
    phone.click("#book-submit")
    expect(phone.locator("#done")).to_be_visible()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_booking_pages_have_no_serious_accessibility_violations(
    server: tuple[LiveServer, Shop], browser: Browser, locale: str
) -> None:
    """axe-core (as tests/test_accessibility_browser.py runs it) on the
    booking page with its free starts shown and on the link with the move
    open, on a phone."""
    from tests.test_accessibility_browser import failing, violations

    live, _shop = server
    context = browser.new_context(locale=locale, bypass_csp=True, **PHONE)
    try:
        page = context.new_page()
        page.goto(f"{live.url}/book/test")
        page.locator("#work-list label.choice").first.click()
        first_day_with_slots(page, "book-")
        found = {"book": violations(page)}
        link = book(page, f"{live.url}/book/test", plate="沪H31313", name="A", phone="13100131000")
        found["done"] = violations(page)
        page.goto(link)
        page.click("#move-open")
        first_day_with_slots(page, "move-")
        page.click("#cancel-open")
        found["link"] = violations(page)
        bad = {name: failing(v) for name, v in found.items() if failing(v)}
        assert bad == {}, found
    finally:
        context.close()
