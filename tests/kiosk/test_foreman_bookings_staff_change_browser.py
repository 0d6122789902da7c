"""The foreman's panel of tomorrow's bookings follows a technician's leave
at once, in headless Chromium (Debian's) against a real ``baylight serve``
on SQLite: with the console open, an admin sets tomorrow as 王师傅's leave
day through the REST API (PATCH /api/v1/staff/{id} ``leave``, which tells
the staff room ``staff_changed``); the panel reads tomorrow's capacity
again and shows the hours that are left, well before its five-minute
refresh (the expectation waits seconds, not minutes).
"""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, expect

from tests.booking_pages import (
    contexts_fixture,
    open_signed_in,
    server_fixture,
    tomorrow,
    tomorrow_capacity,
    tomorrow_line,
)
from tests.browser_support import PageProblems, page_strings
from tests.conftest import LiveServer, Shop

pytestmark = [pytest.mark.browser]
FOREMAN = "钱主管"
PASSWORD = "foreman-staff-change-1"

server = server_fixture(("foreman", FOREMAN, PASSWORD))
contexts = contexts_fixture("contexts")


def test_a_leave_day_set_elsewhere_is_shown_on_the_open_console_at_once(
    server: tuple[LiveServer, Shop], browser: Browser, contexts: list[BrowserContext]
) -> None:
    live, shop = server
    before = tomorrow_capacity(live, shop)
    if not before["open"]:
        pytest.skip("the shop is closed tomorrow on the real calendar: no hours to lose")
    problems = PageProblems()
    console = open_signed_in(
        browser, contexts, problems, live, path="/foreman", name=FOREMAN, password=PASSWORD
    )
    words = page_strings(console)
    line = console.locator('.tomorrow-panel li.tomorrow-kind[data-kind="general"] .tomorrow-line')
    expect(line).to_have_text(tomorrow_line(words, "general", before["labour"]["general"]))

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
    expect(line).to_have_text(tomorrow_line(words, "general", after["labour"]["general"]))
    assert not problems.unexpected(), problems.errors
