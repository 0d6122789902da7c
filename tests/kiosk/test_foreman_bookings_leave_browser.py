"""A technician's leave days at /admin/staff (issue 18), in headless
Chromium (Debian's) against a real ``baylight serve`` on SQLite: the admin
adds tomorrow as 王师傅's leave day and saves (PATCH /api/v1/staff/{id}
``leave``); tomorrow's capacity loses his hours, and the foreman's panel of
tomorrow's bookings shows the free hours that are left.
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, expect

from tests.booking_pages import (
    contexts_fixture,
    open_signed_in,
    server_fixture,
    sign_in,
    tomorrow,
    tomorrow_capacity,
    tomorrow_line,
    watched_page,
)
from tests.browser_support import PageProblems, page_strings
from tests.conftest import LiveServer, Shop

pytestmark = [pytest.mark.browser]
ADMIN = "林店长"
PASSWORD = "admin-leave-days-1"
FOREMAN = "赵主管"
FOREMAN_PASSWORD = "foreman-leave-days-1"

server = server_fixture(("admin", ADMIN, PASSWORD), ("foreman", FOREMAN, FOREMAN_PASSWORD))
contexts = contexts_fixture("contexts")


def test_a_technicians_leave_day_takes_his_hours_out_of_tomorrow(
    server: tuple[LiveServer, Shop], browser: Browser, contexts: list[BrowserContext]
) -> None:
    live, shop = server
    wang = shop.technicians[0]
    day = tomorrow()
    before = tomorrow_capacity(live, shop)
    problems = PageProblems()
    page = open_signed_in(
        browser,
        contexts,
        problems,
        live,
        path=f"/admin/staff/{wang}",
        name=ADMIN,
        password=PASSWORD,
    )

    leave = page.locator(".leave")
    expect(leave.locator("h2")).to_have_text("请假日")
    expect(leave.locator("#leave-none")).to_be_visible()
    leave.locator("#leave-day").fill(day)
    leave.locator("#leave-add").click()
    expect(leave.locator(f'li[data-day="{day}"]')).to_be_visible()
    leave.locator("#leave-save").click()
    page.wait_for_url(re.compile(rf"/admin/staff/{wang}\?done=leave"))
    expect(page.locator("#leave-notice")).to_have_text("请假日已保存。")
    expect(leave.locator(f'li[data-day="{day}"]')).to_be_visible()
    staff = requests.get(f"{live.url}/api/v1/staff", headers=shop.headers("admin"), timeout=10)
    found = {p["id"]: p for p in staff.json()["staff"]}
    assert found[wang]["leave"] == [day]

    after = tomorrow_capacity(live, shop)
    if before["open"]:
        assert after["technician_hours"] < before["technician_hours"]
        # The foreman's panel shows what is left of tomorrow.
        console = watched_page(page.context, problems)
        # Signed in as the foreman in this browser (the admin's session ends).
        sign_in(console, live, "/foreman", FOREMAN, FOREMAN_PASSWORD)
        words = page_strings(console)
        general = after["labour"]["general"]
        kind = console.locator('.tomorrow-panel li.tomorrow-kind[data-kind="general"]')
        expect(kind.locator(".tomorrow-line")).to_have_text(
            tomorrow_line(words, "general", general)
        )
    assert not problems.unexpected(), problems.errors
