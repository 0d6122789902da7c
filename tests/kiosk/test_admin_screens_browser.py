"""The screens, tokens and audit pages in headless Chromium against a real
``baylight serve``, in Simplified Chinese at 1366x768 and in English at
1280x800: a manager renames a screen, revokes it after the confirmation page
(and the screen's token stops working), and filters the audit log by order.
No page scrolls sideways at those sizes.

Then (issue 15) a kiosk in use beside the office PC: the list shows it
online and seen "just now", a screen paired through the page is named by its
kind and name (never "屏幕 6"), and once the technician signs out the kiosk's
last activity reads on the shop's clock (Asia/Shanghai) while the browsers
run in UTC."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from shared.services import devices, setup
from shared.web.i18n import shop_time
from tests.browser_support import PageProblems, approved, fits_the_width, install_clock, shown_code
from tests.kiosk.test_kiosk_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]
PASSWORD = "manager-pass-1"
# (browser language, the page's <html lang>, viewport, the revoke button's word)
LANGUAGES = {
    "zh-CN": ("zh-Hans", {"width": 1366, "height": 768}, "撤销"),
    "en-US": ("en", {"width": 1280, "height": 800}, "Revoke"),
}


@pytest.fixture(params=list(LANGUAGES))
def office(
    request: pytest.FixtureRequest, browser: Browser, live: tuple[Any, Any]
) -> Iterator[tuple[Page, str]]:
    """A desk PC's browser in the parameter's language and screen size."""
    locale = request.param
    _lang, viewport, _word = LANGUAGES[locale]
    # The browser's clock in UTC: what the page says comes from the shop's zone.
    context = browser.new_context(viewport=viewport, locale=locale, timezone_id="UTC")
    problems = PageProblems()
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    yield page, locale
    context.close()
    assert problems.unexpected() == []


def test_rename_revoke_with_confirmation_and_audit_by_order(
    live: tuple[Any, Any], office: tuple[Page, str], screenshots: Path
) -> None:
    server, shop = live
    page, locale = office
    lang, _viewport, revoke_word = LANGUAGES[locale]
    core = shop.core
    setup.create_user(core, shop.shop_id, role="manager", name="店长", password=PASSWORD)
    started = devices.start_pairing(core, "board")
    device_id = devices.approve_pairing(
        core, started.user_code, kind="board", name="车间大屏", shop_id=shop.shop_id
    )
    device_token = devices.poll_pairing(core, started.device_code)["device_token"]
    orders = [
        requests.post(
            f"{server.url}/api/v1/orders",
            json={"plate": plate},
            headers=shop.headers("advisor"),
            timeout=10,
        ).json()
        for plate in ("粤B71001", "粤B71002")
    ]

    page.goto(f"{server.url}/login?shop={shop.slug}&next=/admin")
    page.fill("input[name=name]", "店长")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/admin")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    row = page.locator(f'tr[data-device-id="{device_id}"]')
    expect(row.locator(".online")).not_to_be_empty()
    assert fits_the_width(page)

    # Rename: the form opens inside the row, without any script.
    row.locator("details.rename summary").click()
    row.locator("input[name=name]").fill("二号车间看板")
    row.locator(".rename-form button[type=submit]").click()
    page.wait_for_url(f"{server.url}/admin")
    expect(row.locator(".device-name")).to_have_text("二号车间看板")
    page.screenshot(path=str(screenshots / f"admin-screens-{lang}.png"), full_page=True)

    # Revoke: the list's link opens a confirmation page; only its button revokes.
    row.locator("a.button.danger").click()
    expect(page.locator("#confirm h2")).to_contain_text("二号车间看板")
    expect(page.locator("#confirm-revoke")).to_have_text(revoke_word)
    assert fits_the_width(page)
    page.screenshot(path=str(screenshots / f"admin-revoke-confirm-{lang}.png"))
    whoami = f"{server.url}/api/v1/whoami"
    bearer = {"Authorization": f"Bearer {device_token}"}
    assert requests.get(whoami, headers=bearer, timeout=10).status_code == 200
    page.click("#confirm-revoke")
    page.wait_for_url(f"{server.url}/admin")
    expect(page.locator(f'tr[data-device-id="{device_id}"]')).to_have_class("status-revoked")
    assert requests.get(whoami, headers=bearer, timeout=10).status_code == 401

    # The audit log, filtered by the first order.
    page.click('nav.admin-nav a[href="/admin/audit"]')
    # Two order events, and the screen renamed and revoked above.
    expect(page.locator("#audit tbody tr")).to_have_count(4)
    assert fits_the_width(page)
    page.fill("#filter-order", str(orders[0]["id"]))
    page.click("#apply-filters")
    rows = page.locator("#audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-order-id", str(orders[0]["id"]))
    expect(rows.first.locator(".plate")).to_have_text("粤B71001")
    page.screenshot(path=str(screenshots / f"admin-audit-{lang}.png"), full_page=True)
    expect(page.locator("#export-csv")).to_have_attribute(
        "href", f"/admin/audit.csv?order_id={orders[0]['id']}"
    )
    page.click('nav.admin-nav a[href="/admin/tokens"]')
    expect(page.locator("#tokens")).to_be_visible()
    assert fits_the_width(page)
    page.screenshot(path=str(screenshots / f"admin-tokens-{lang}.png"), full_page=True)


def _cell(page: Page, device_id: int, name: str) -> str:
    return page.locator(f'tr[data-device-id="{device_id}"] td.{name}').inner_text().strip()


def test_a_kiosk_in_use_is_online_and_a_new_screen_is_named_not_numbered(
    live: tuple[Any, Any], browser: Browser, screenshots: Path
) -> None:
    server, shop = live
    core = shop.core
    setup.create_user(core, shop.shop_id, role="manager", name="值班店长", password=PASSWORD)
    tablet = browser.new_context(
        viewport={"width": 1280, "height": 800},
        has_touch=True,
        is_mobile=True,
        locale="zh-CN",
        timezone_id="UTC",
    )
    office = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="UTC"
    )
    problems = PageProblems()
    try:
        kiosk = tablet.new_page()
        kiosk.on("pageerror", problems.on_page_error)
        install_clock(kiosk)
        kiosk.goto(f"{server.url}/kiosk")
        kiosk_id = devices.approve_pairing(
            core, shown_code(kiosk), kind="kiosk", name="一号工位平板", shop_id=shop.shop_id
        )
        approved(kiosk)
        expect(kiosk.locator("#login")).to_be_visible(timeout=15_000)
        sign_in(kiosk, "1001", "1234")
        expect(kiosk.locator("#work")).to_be_visible()

        page = office.new_page()
        page.on("pageerror", problems.on_page_error)
        page.goto(f"{server.url}/login?shop={shop.slug}&next=/admin")
        page.fill("input[name=name]", "值班店长")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/admin")
        # In use: online, and seen just now (not "—").
        expect(page.locator(f'tr[data-device-id="{kiosk_id}"] td.online')).to_have_text("在线")
        expect(page.locator(f'tr[data-device-id="{kiosk_id}"] td.last-seen')).to_have_text("刚刚")

        # A board paired through the page: the notice names it, not its id.
        started = devices.start_pairing(core, "board")
        page.fill("#pair-form input[name=code]", started.user_code)
        page.select_option("#kind", "board")
        page.fill("#pair-form input[name=name]", "三号车间看板")
        page.click("#pair-form button[type=submit]")
        expect(page.locator("#notice")).to_have_text("已配对：车间看板“三号车间看板”。")
        assert not re.search(r"屏幕 ?\d", page.locator("#notice").inner_text())
        assert fits_the_width(page)
        page.screenshot(path=str(screenshots / "admin-screens-kiosk-in-use-zh-Hans.png"))

        # Signed out: offline, and its last activity on the shop's clock.
        kiosk.locator("#logout").tap()
        expect(kiosk.locator("#login")).to_be_visible()
        deadline = time.monotonic() + 10
        while True:
            page.goto(f"{server.url}/admin")
            if _cell(page, kiosk_id, "online") == "离线":
                break
            assert time.monotonic() < deadline, "the kiosk still shows online"
            page.wait_for_timeout(200)
        [listed] = [d for d in devices.list_devices(core, shop.shop_id) if d["id"] == kiosk_id]
        seen = listed["last_seen"]
        assert seen is not None
        said = _cell(page, kiosk_id, "last-seen")
        assert said == shop_time(seen, "Asia/Shanghai"), said
        assert said != seen.strftime("%H:%M")  # not the server's (or the browser's) UTC
    finally:
        tablet.close()
        office.close()
    assert problems.unexpected() == []
