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
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from shared.persistence.appointment_models import Appointment
from shared.services import setup
from tests.browser_support import PageProblems, page_strings
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
FOREMAN = "赵主管"
PASSWORD = "foreman-bookings-1"
SHOP_ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def server(tmp_path: Path, migrated_template: Path) -> Iterator[tuple[LiveServer, Shop]]:
    database_url = migrated_copy(migrated_template, tmp_path / "live.db")
    shop = seed_shop(offline_core(database_url, tmp_path))
    setup.create_user(shop.core, shop.shop_id, role="foreman", name=FOREMAN, password=PASSWORD)
    port = free_port()
    env = server_env(database_url, port, tmp_path, "eventlet", BAYLIGHT_NOTIFY_SENDER="off")
    live = LiveServer(env, port, tmp_path / "server.log")
    live.start()
    yield live, shop
    live.stop()
    shop.core.db.dispose()


@pytest.fixture
def console_contexts(
    browser: Browser, server: tuple[LiveServer, Shop]
) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def open_console(
    browser: Browser, contexts: list[BrowserContext], live: LiveServer, locale: str
) -> tuple[Page, PageProblems]:
    problems = PageProblems()
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale=locale, timezone_id="UTC"
    )
    contexts.append(context)
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.goto(f"{live.url}/login?next=/foreman")
    page.get_by_label(re.compile("^(姓名|Your name)$")).fill(FOREMAN)
    page.get_by_label(re.compile("^(密码|Password)$")).fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{live.url}/foreman")
    return page, problems


def book_tomorrow(shop: Shop, plate: str, hours: float, hour: int) -> int:
    """A booking for tomorrow as the desk left it (booked)."""
    now = datetime.now(UTC)
    day = (now.astimezone(SHOP_ZONE) + timedelta(days=1)).date()
    start = datetime(day.year, day.month, day.day, hour, tzinfo=SHOP_ZONE).astimezone(UTC)
    with shop.core.db.write() as session:
        row = Appointment(
            shop_id=shop.shop_id,
            plate=plate,
            customer_name="周先生",
            items=[{"title": "更换刹车片", "labour_hours": hours, "bay_kind": "general"}],
            start=start,
            status="booked",
            token=secrets.token_urlsafe(32),
            source="desk",
            cancel_reason="",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return int(row.id)


def tomorrow_capacity(live: LiveServer, shop: Shop) -> dict[str, Any]:
    day = (datetime.now(SHOP_ZONE) + timedelta(days=1)).date().isoformat()
    reply = requests.get(
        f"{live.url}/api/v1/capacity?date={day}", headers=shop.headers("foreman"), timeout=10
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def line(words: dict[str, Any], kind: str, figures: dict[str, float]) -> str:
    template = str(words["tomorrow_kind"])
    values = {
        "kind": words["kinds"][kind],
        "booked": f"{figures['booked']:.1f}",
        "held": f"{figures['held']:.1f}",
        "free": f"{figures['free']:.1f}",
    }
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


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
    expect(kind.locator(".tomorrow-line")).to_have_text(line(words, "general", general))
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
    expect(kind.locator(".tomorrow-line")).to_have_text(line(words, "general", general))
    assert not problems.unexpected(), problems.errors
