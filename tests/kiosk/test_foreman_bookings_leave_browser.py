"""A technician's leave days at /admin/staff (issue 18), in headless
Chromium (Debian's) against a real ``baylight serve`` on SQLite: the admin
adds tomorrow as 王师傅's leave day and saves (PATCH /api/v1/staff/{id}
``leave``); tomorrow's capacity loses his hours, and the foreman's panel of
tomorrow's bookings shows the free hours that are left.
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
ADMIN = "林店长"
PASSWORD = "admin-leave-days-1"
FOREMAN = "赵主管"
FOREMAN_PASSWORD = "foreman-leave-days-1"
SHOP_ZONE = ZoneInfo("Asia/Shanghai")


def tomorrow_capacity(live: LiveServer, shop: Shop) -> dict[str, Any]:
    day = (datetime.now(SHOP_ZONE) + timedelta(days=1)).date().isoformat()
    reply = requests.get(
        f"{live.url}/api/v1/capacity?date={day}", headers=shop.headers("foreman"), timeout=10
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def free_line(words: dict[str, Any], figures: dict[str, float]) -> str:
    """The general bays' line of the foreman's panel, as the page fills it."""
    values = {
        "kind": words["kinds"]["general"],
        "booked": f"{figures['booked']:.1f}",
        "held": f"{figures['held']:.1f}",
        "free": f"{figures['free']:.1f}",
    }
    template = str(words["tomorrow_kind"])
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


@pytest.fixture
def server(tmp_path: Path, migrated_template: Path) -> Iterator[tuple[LiveServer, Shop]]:
    database_url = migrated_copy(migrated_template, tmp_path / "live.db")
    shop = seed_shop(offline_core(database_url, tmp_path))
    setup.create_user(shop.core, shop.shop_id, role="admin", name=ADMIN, password=PASSWORD)
    setup.create_user(
        shop.core, shop.shop_id, role="foreman", name=FOREMAN, password=FOREMAN_PASSWORD
    )
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


def test_a_technicians_leave_day_takes_his_hours_out_of_tomorrow(
    server: tuple[LiveServer, Shop], browser: Browser, contexts: list[BrowserContext]
) -> None:
    live, shop = server
    wang = shop.technicians[0]
    tomorrow = (datetime.now(SHOP_ZONE) + timedelta(days=1)).date().isoformat()
    before = tomorrow_capacity(live, shop)
    problems = PageProblems()
    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, locale="zh-CN", timezone_id="UTC"
    )
    contexts.append(context)
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.goto(f"{live.url}/login?next=/admin/staff/{wang}")
    page.get_by_label(re.compile("^(姓名|Your name)$")).fill(ADMIN)
    page.get_by_label(re.compile("^(密码|Password)$")).fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{live.url}/admin/staff/{wang}")

    leave = page.locator(".leave")
    expect(leave.locator("h2")).to_have_text("请假日")
    expect(leave.locator("#leave-none")).to_be_visible()
    leave.locator("#leave-day").fill(tomorrow)
    leave.locator("#leave-add").click()
    expect(leave.locator(f'li[data-day="{tomorrow}"]')).to_be_visible()
    leave.locator("#leave-save").click()
    page.wait_for_url(re.compile(rf"/admin/staff/{wang}\?done=leave"))
    expect(page.locator("#leave-notice")).to_have_text("请假日已保存。")
    expect(leave.locator(f'li[data-day="{tomorrow}"]')).to_be_visible()
    staff = requests.get(f"{live.url}/api/v1/staff", headers=shop.headers("admin"), timeout=10)
    found = {p["id"]: p for p in staff.json()["staff"]}
    assert found[wang]["leave"] == [tomorrow]

    after = tomorrow_capacity(live, shop)
    if before["open"]:
        assert after["technician_hours"] < before["technician_hours"]
        # The foreman's panel shows what is left of tomorrow.
        console = context.new_page()
        console.on("console", problems.on_console)
        console.on("pageerror", problems.on_page_error)
        # Signed in as the foreman in this browser (the admin's session ends).
        console.goto(f"{live.url}/login?next=/foreman")
        console.get_by_label(re.compile("^(姓名|Your name)$")).fill(FOREMAN)
        console.get_by_label(re.compile("^(密码|Password)$")).fill(FOREMAN_PASSWORD)
        console.locator("button[type=submit]").click()
        console.wait_for_url(f"{live.url}/foreman")
        words = page_strings(console)
        general = after["labour"]["general"]
        kind = console.locator('.tomorrow-panel li.tomorrow-kind[data-kind="general"]')
        expect(kind.locator(".tomorrow-line")).to_have_text(free_line(words, general))
    assert not problems.unexpected(), problems.errors
