"""The foreman's panel of tomorrow's bookings follows a technician's leave
at once, in headless Chromium (Debian's) against a real ``baylight serve``
on SQLite: with the console open, an admin sets tomorrow as 王师傅's leave
day through the REST API (PATCH /api/v1/staff/{id} ``leave``, which tells
the staff room ``staff_changed``); the panel reads tomorrow's capacity
again and shows the hours that are left, well before its five-minute
refresh (the expectation waits seconds, not minutes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, expect

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
FOREMAN = "钱主管"
PASSWORD = "foreman-staff-change-1"
SHOP_ZONE = ZoneInfo("Asia/Shanghai")


def tomorrow() -> str:
    return (datetime.now(SHOP_ZONE) + timedelta(days=1)).date().isoformat()


def tomorrow_capacity(live: LiveServer, shop: Shop) -> dict[str, Any]:
    reply = requests.get(
        f"{live.url}/api/v1/capacity?date={tomorrow()}", headers=shop.headers("foreman"), timeout=10
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def general_line(words: dict[str, Any], figures: dict[str, float]) -> str:
    """The general bays' line of the panel, as foreman.js fills it."""
    line = str(words["tomorrow_kind"])
    values = {
        "kind": words["kinds"]["general"],
        "booked": f"{figures['booked']:.1f}",
        "held": f"{figures['held']:.1f}",
        "free": f"{figures['free']:.1f}",
    }
    for key, value in values.items():
        line = line.replace("{" + key + "}", value)
    return line


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
def contexts(browser: Browser, server: tuple[LiveServer, Shop]) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def test_a_leave_day_set_elsewhere_is_shown_on_the_open_console_at_once(
    server: tuple[LiveServer, Shop], browser: Browser, contexts: list[BrowserContext]
) -> None:
    live, shop = server
    before = tomorrow_capacity(live, shop)
    if not before["open"]:
        pytest.skip("the shop is closed tomorrow on the real calendar: no hours to lose")
    problems = PageProblems()
    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, locale="zh-CN", timezone_id="UTC"
    )
    contexts.append(context)
    console = context.new_page()
    console.on("console", problems.on_console)
    console.on("pageerror", problems.on_page_error)
    console.goto(f"{live.url}/login?next=/foreman")
    console.get_by_label(re.compile("^(姓名|Your name)$")).fill(FOREMAN)
    console.get_by_label(re.compile("^(密码|Password)$")).fill(PASSWORD)
    console.locator("button[type=submit]").click()
    console.wait_for_url(f"{live.url}/foreman")
    words = page_strings(console)
    line = console.locator('.tomorrow-panel li.tomorrow-kind[data-kind="general"] .tomorrow-line')
    expect(line).to_have_text(general_line(words, before["labour"]["general"]))

    wang = shop.technicians[0]
    staff = requests.get(f"{live.url}/api/v1/staff", headers=shop.headers("admin"), timeout=10)
    version = {p["id"]: p for p in staff.json()["staff"]}[wang]["version"]
    patched = requests.patch(
        f"{live.url}/api/v1/staff/{wang}",
        json={"version": version, "leave": [tomorrow()]},
        headers=shop.headers("admin", key="leave-tomorrow"),
        timeout=10,
    )
    assert patched.status_code == 200, patched.text
    after = tomorrow_capacity(live, shop)
    assert after["technician_hours"] < before["technician_hours"]
    assert after["labour"]["general"]["free"] != before["labour"]["general"]["free"]
    # Within seconds (the default wait), not at the five-minute refresh.
    expect(line).to_have_text(general_line(words, after["labour"]["general"]))
    assert not problems.unexpected(), problems.errors
