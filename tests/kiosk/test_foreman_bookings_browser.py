"""The foreman sees tomorrow's booked load per kind of bay (issue 18), in
headless Chromium (Debian's) against a real ``baylight serve`` on SQLite.

The panel says, per kind of bay the shop has, the hours booked tomorrow, the
hours work already in the shop holds, and the hours still free, with the
load in a word; the figures are the capacity the API gives for tomorrow. A
booking cancelled at the desk (through the API) reaches the console on the
staff room's `appointments` message, without a reload.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.booking_pages import (
    SHOP_ZONE,
    book,
    contexts_fixture,
    open_signed_in,
    server_fixture,
    tomorrow_capacity,
    tomorrow_line,
)
from tests.browser_support import PageProblems, page_strings
from tests.conftest import LiveServer, Shop

pytestmark = [pytest.mark.browser]
FOREMAN = "赵主管"
PASSWORD = "foreman-bookings-1"

server = server_fixture(("foreman", FOREMAN, PASSWORD))
console_contexts = contexts_fixture("console_contexts")


def open_console(
    browser: Browser, contexts: list[BrowserContext], live: LiveServer, locale: str
) -> tuple[Page, PageProblems]:
    problems = PageProblems()
    page = open_signed_in(
        browser,
        contexts,
        problems,
        live,
        path="/foreman",
        name=FOREMAN,
        password=PASSWORD,
        size=(1920, 1080),
        locale=locale,
    )
    return page, problems


def book_tomorrow(shop: Shop, plate: str, hours: float, hour: int) -> int:
    """A booking for tomorrow as the desk left it (booked)."""
    day = (datetime.now(UTC).astimezone(SHOP_ZONE) + timedelta(days=1)).date()
    start = datetime(day.year, day.month, day.day, hour, tzinfo=SHOP_ZONE).astimezone(UTC)
    items = [{"title": "更换刹车片", "labour_hours": hours, "bay_kind": "general"}]
    return book(shop, plate, start, items=items)


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_foreman_sees_tomorrows_booked_load_per_kind_of_bay(
    server: tuple[LiveServer, Shop],
    browser: Browser,
    console_contexts: list[BrowserContext],
    locale: str,
) -> None:
    live, shop = server
    first = book_tomorrow(shop, "粤B40001", 1.5, 10)
    book_tomorrow(shop, "粤B40002", 2.0, 11)
    page, problems = open_console(browser, console_contexts, live, locale)
    words = page_strings(page)
    if locale == "zh-CN":
        assert words["tomorrow_kind"].startswith("{kind}：已预约")
    else:
        assert words["tomorrow_load"]["free"] == "Plenty of room"

    panel = page.locator(".tomorrow-panel")
    cap = tomorrow_capacity(live, shop)
    if not cap["open"]:
        # A holiday or a closed weekday tomorrow: said so.
        expect(panel.locator("#tomorrow")).to_have_text(words["tomorrow_closed"])
        return
    general = cap["labour"]["general"]
    assert general["booked"] == 3.5
    kind = panel.locator('li.tomorrow-kind[data-kind="general"]')
    expect(kind.locator(".tomorrow-line")).to_have_text(tomorrow_line(words, "general", general))
    expect(kind.locator(".tomorrow-word")).to_have_text(
        re.compile("|".join(re.escape(w) for w in words["tomorrow_load"].values()))
    )

    # The desk cancels one booking: the console hears it and shows 2.0 h.
    reply = requests.post(
        f"{live.url}/api/v1/appointments/{first}/cancel",
        json={"version": 1, "reason": "客户改期"},
        headers=shop.headers("advisor", key=secrets.token_hex(16)),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    general = tomorrow_capacity(live, shop)["labour"]["general"]
    assert general["booked"] == 2.0
    expect(kind.locator(".tomorrow-line")).to_have_text(tomorrow_line(words, "general", general))
    assert not problems.unexpected(), problems.errors
