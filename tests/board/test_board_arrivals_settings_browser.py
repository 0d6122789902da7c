"""The shop's appointment settings at /admin/shop (issue 18), in headless
Chromium (Debian's) against a real ``baylight serve`` on SQLite: the admin
sets the walk-in share, the grace period and the rest and turns on the wall
board's arrivals; the section saves through PATCH /api/v1/shop (its checks
and refusals), and the board's read then shows the arrivals. A refused value
is said in the page's language and nothing is saved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from shared.persistence.models import Shop as ShopRow
from shared.services import appointment_settings, setup
from tests.browser_support import PageProblems
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
PASSWORD = "admin-appointments-1"


@pytest.fixture
def server(tmp_path: Path, migrated_template: Path) -> Iterator[tuple[LiveServer, Shop]]:
    database_url = migrated_copy(migrated_template, tmp_path / "live.db")
    shop = seed_shop(offline_core(database_url, tmp_path))
    setup.create_user(shop.core, shop.shop_id, role="admin", name=ADMIN, password=PASSWORD)
    port = free_port()
    env = server_env(database_url, port, tmp_path, "eventlet", BAYLIGHT_NOTIFY_SENDER="off")
    live = LiveServer(env, port, tmp_path / "server.log")
    live.start()
    yield live, shop
    live.stop()
    shop.core.db.dispose()


def sign_in(page: Page, live: LiveServer, target: str) -> None:
    page.goto(f"{live.url}/login?next={target}")
    page.get_by_label(re.compile("^(姓名|Your name)$")).fill(ADMIN)
    page.get_by_label(re.compile("^(密码|Password)$")).fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{live.url}{target}")


def stored(shop: Shop) -> appointment_settings.AppointmentSettings:
    with shop.core.db.read() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        return appointment_settings.read(row.settings)


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_admin_sets_the_appointment_settings_and_turns_on_the_boards_arrivals(
    server: tuple[LiveServer, Shop], browser: Browser, locale: str
) -> None:
    live, shop = server
    problems = PageProblems()
    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, locale=locale, timezone_id="UTC"
    )
    try:
        page = context.new_page()
        page.on("console", problems.on_console)
        page.on("pageerror", problems.on_page_error)
        sign_in(page, live, "/admin/shop")
        section = page.locator("#appointments-form")
        heading = "预约" if locale == "zh-CN" else "Appointments"
        expect(section.locator("h2")).to_have_text(heading)
        # The defaults as stored (nothing set yet).
        expect(section.locator("#appt-walk-in")).to_have_value("30")
        expect(section.locator("#appt-grace")).to_have_value("30")
        expect(section.locator("#appt-board")).not_to_be_checked()

        # A refused value: said, nothing saved.
        problems.allow("status of 422")
        section.locator("#appt-days").fill("0")
        section.locator("#save-appointments").click()
        expect(section.locator("#appointments-message")).to_be_visible()
        expect(section.locator("#appointments-message")).to_contain_text("90")
        assert stored(shop).days_ahead == 14

        section.locator("#appt-days").fill("21")
        section.locator("#appt-walk-in").fill("40")
        section.locator("#appt-per-advisor").fill("2")
        section.locator("#appt-grace").fill("20")
        section.locator("#appt-lead").fill("90")
        section.locator("#appt-phone-check").check()
        section.locator("#appt-board").check()
        section.locator("#save-appointments").click()
        page.wait_for_url(re.compile(r"/admin/shop\?done=appointments"))
        saved = "预约设置已保存。" if locale == "zh-CN" else "Appointment settings saved."
        expect(page.locator("#notice")).to_have_text(saved)
        expect(section.locator("#appt-walk-in")).to_have_value("40")
        expect(section.locator("#appt-board")).to_be_checked()
        assert stored(shop) == appointment_settings.AppointmentSettings(
            walk_in_share=0.4,
            cars_per_advisor_per_slot=2,
            grace_minutes=20,
            lead_minutes=90,
            days_ahead=21,
            online_booking=True,
            phone_verification=True,
            board_arrivals=True,
        )
        # The wall board's read now shows its arrivals panel.
        reply = requests.get(
            f"{live.url}/board/api/arrivals", headers=shop.headers("display-board"), timeout=10
        )
        assert reply.json() == {"shown": True, "arrivals": []}
        # The shop form above saves on with the new version.
        page.locator("#save-shop").click()
        expect(page.locator("#notice")).to_be_visible()
        assert not page.locator("#error").is_visible()
        assert not problems.unexpected(), problems.errors
    finally:
        context.close()
