"""/admin/staff in headless Chromium against a real ``baylight serve``, in
Simplified Chinese and in English: a service manager adds a technician with
a badge and a PIN, the technician signs in on a paired kiosk (a 10" tablet,
1280x800, touch), the manager deactivates them after confirming, and the
kiosk is back at its sign-in within 5 s (the server cuts the kiosk's socket
as it commits). The page fits a 1366x768 desk screen and the tablet without
sideways scrolling."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from shared.services import devices, setup
from tests.browser_support import approved, fits_the_width, install_clock, shown_code
from tests.kiosk.test_kiosk_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]

DESK = {"width": 1366, "height": 768}
TABLET = {"width": 1280, "height": 800}
MANAGER_PASSWORD = "manager-pass-1"
# The bound: a deactivated technician's kiosk session ends within this.
KIOSK_ENDS_WITHIN_MS = 5_000


def _page(
    browser: Browser,
    contexts: list[BrowserContext],
    locale: str,
    viewport: dict[str, int],
    *,
    touch: bool,
    errors: list[str],
) -> Page:
    context = browser.new_context(
        viewport=viewport,
        has_touch=touch,
        is_mobile=touch,
        locale=locale,
        timezone_id="Asia/Shanghai",
    )
    contexts.append(context)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


@pytest.mark.parametrize(
    ("locale", "lang", "html_lang"),
    [("zh-CN", "zh_Hans", "zh-Hans"), ("en-US", "en", "en")],
)
def test_a_manager_adds_a_technician_who_signs_in_and_is_deactivated(
    live: tuple[Any, Any],
    browser: Browser,
    contexts: list[BrowserContext],
    screenshots: Path,
    locale: str,
    lang: str,
    html_lang: str,
) -> None:
    server, shop = live
    errors: list[str] = []
    setup.create_user(
        shop.core, shop.shop_id, role="manager", name=f"店长{lang}", password=MANAGER_PASSWORD
    )
    desk = _page(browser, contexts, locale, DESK, touch=False, errors=errors)
    desk.goto(f"{server.url}/login?shop={shop.slug}&next=/admin/staff&lang={lang}")
    desk.locator('input[name="name"]').fill(f"店长{lang}")
    desk.locator('input[name="password"]').fill(MANAGER_PASSWORD)
    desk.locator('button[type="submit"]').click()
    expect(desk.locator("#staff")).to_be_visible()
    assert desk.locator("html").get_attribute("lang") == html_lang
    expect(desk.locator('.admin-nav a[aria-current="page"]')).to_have_attribute(
        "href", "/admin/staff"
    )
    assert fits_the_width(desk)

    add = desk.locator("#add-form")
    add.locator('input[name="name"]').fill("郑师傅")
    add.locator('select[name="role"]').select_option("technician")
    add.locator('input[name="badge"]').fill("6001")
    add.locator('input[name="pin"]').fill("6060")
    add.locator('input[name="team_lead"]').check()
    add.locator('button[type="submit"]').click()
    expect(desk.locator("#notice")).to_contain_text("郑师傅")
    row = desk.locator("#staff tr", has=desk.locator("td.name a", has_text="郑师傅"))
    expect(row).to_have_count(1)
    assert "6060" not in desk.content()
    desk.screenshot(path=str(screenshots / f"admin-staff-{lang}.png"), full_page=True)

    kiosk = _page(browser, contexts, locale, TABLET, touch=True, errors=errors)
    install_clock(kiosk)
    kiosk.goto(f"{server.url}/kiosk?lang={lang}")
    devices.approve_pairing(
        shop.core, shown_code(kiosk), kind="kiosk", name="三号工位平板", shop_id=shop.shop_id
    )
    approved(kiosk)
    expect(kiosk.locator("#login")).to_be_visible(timeout=15_000)
    sign_in(kiosk, "6001", "6060")
    expect(kiosk.locator("#who")).to_have_text("郑师傅")
    expect(kiosk.locator("#login")).to_be_hidden()

    # The same page on the tablet, then the deactivation, confirmed first.
    tablet_desk = _page(browser, contexts, locale, TABLET, touch=True, errors=errors)
    tablet_desk.context.add_cookies(desk.context.cookies())
    tablet_desk.goto(f"{server.url}/admin/staff?lang={lang}")
    expect(tablet_desk.locator("#staff")).to_be_visible()
    assert fits_the_width(tablet_desk)
    tablet_desk.locator("#staff td.name a", has_text="郑师傅").tap()
    expect(tablet_desk.locator("#edit-form")).to_be_visible()
    assert fits_the_width(tablet_desk)
    tablet_desk.screenshot(path=str(screenshots / f"admin-staff-edit-{lang}.png"), full_page=True)
    row.locator("a.deactivate").click()
    expect(desk.locator("#confirm")).to_be_visible()
    expect(desk.locator("#confirm h2")).to_contain_text("郑师傅")
    assert fits_the_width(desk)
    desk.screenshot(path=str(screenshots / f"admin-staff-confirm-{lang}.png"))
    desk.locator("#confirm-deactivate").click()
    started = time.monotonic()
    expect(kiosk.locator("#login")).to_be_visible(timeout=KIOSK_ENDS_WITHIN_MS)
    took = time.monotonic() - started
    assert took * 1000 < KIOSK_ENDS_WITHIN_MS, took
    expect(desk.locator("#notice")).to_contain_text("郑师傅")
    expect(row.locator(".tag-inactive")).to_be_visible()
    expect(row.locator("button.reactivate")).to_be_visible()
    # Signing in again is refused: the badge belongs to nobody active.
    sign_in(kiosk, "6001", "6060")
    expect(kiosk.locator("#login-error")).not_to_be_empty()
    assert errors == [], errors
    assert re.fullmatch(r"\d+", row.get_attribute("data-staff-id") or "")
