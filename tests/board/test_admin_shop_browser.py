"""The bays and shop profile pages in headless Chromium against a real
``baylight serve`` (eventlet), in Simplified Chinese and in English: an
admin signs in, adds a bay and takes another out of service on /admin/bays,
and the paired wall board shows both live; then renames a stage on
/admin/shop, and the board, the lounge TV and the customer's phone show the
new word live, without a reload. Both pages fit the office screens
(1366×768 and 1280×800) without scrolling sideways."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from shared.services import devices, setup
from tests.browser_support import approved, install_clock, shown_code

from .conftest import Screens

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]
PASSWORD = "admin-pass-1"
# A live change must be on the screens within this long.
LIVE_MS = 5_000
LANGUAGES = {
    "zh-CN": {
        "locale": "zh_Hans",
        "viewport": {"width": 1366, "height": 768},
        "bay": ("B09", "九号工位"),
        "reason": "举升机维修",
        "label": "已到店",
    },
    "en-US": {
        "locale": "en",
        "viewport": {"width": 1280, "height": 800},
        "bay": ("B09", "Bay nine"),
        "reason": "Lift repair",
        "label": "Arrived",
    },
}


def paired(screens: Screens, server: Any, shop: Any, browser_locale: str) -> list[Page]:
    """A wall board and a lounge TV paired to the test's shop (approved
    in-process, as the admin's form would), side by side."""
    pages = []
    for kind in ("board", "lounge"):
        page = screens.open(locale=browser_locale)
        install_clock(page)
        page.goto(f"{server.url}/{kind}")
        pages.append(page)
    for kind, page in zip(("board", "lounge"), pages, strict=True):
        code = shown_code(page)
        devices.approve_pairing(shop.core, code, kind=kind, name=kind, shop_id=shop.shop_id)
        approved(page)
    for page in pages:
        expect(page.locator("#live")).to_be_visible(timeout=15_000)
        page.evaluate("window.notReloaded = true")
    return pages


def still_the_same_page(page: Page) -> None:
    assert page.evaluate("window.notReloaded === true"), "the screen was reloaded"


def fits(page: Page) -> None:
    """Nothing wider than the window (no sideways scrolling)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url}: {width} px wide"  # type: ignore[index]


@pytest.mark.parametrize("browser_locale", list(LANGUAGES))
def test_an_admin_changes_bays_and_stage_words_and_the_screens_follow_live(
    live: Any, screens: Screens, browser_locale: str, screenshots: Path
) -> None:
    server, shop = live
    language = LANGUAGES[browser_locale]
    order = requests.post(
        f"{server.url}/api/v1/orders",
        json={"plate": "粤B12345", "vehicle": {"model": "帕萨特"}},
        headers=shop.headers("advisor"),
        timeout=10,
    ).json()
    token = order["customer_url"].rsplit("/", 1)[1]

    board, lounge = paired(screens, server, shop, browser_locale)
    phone = screens.open(width=390, height=844, locale=browser_locale)
    phone.goto(f"{server.url}/t/{token}")
    expect(phone.locator("#stage")).not_to_have_text("")
    phone.evaluate("window.notReloaded = true")
    row = board.locator(f'#orders tr[data-order-id="{order["id"]}"] .stage')
    expect(row).not_to_have_text("")

    name = f"admin-{shop.slug}"
    setup.create_user(shop.core, shop.shop_id, role="admin", name=name, password=PASSWORD)
    admin = screens.open(locale=browser_locale, **language["viewport"])
    admin.goto(f"{server.url}/login?shop={shop.slug}&next=/admin/bays")
    admin.fill("input[name=name]", name)
    admin.fill("input[name=password]", PASSWORD)
    admin.click("button[type=submit]")
    admin.wait_for_url(re.compile(r"/admin/bays$"))
    fits(admin)

    # A new bay: on the board at once, after the shop's three.
    code, bay_name = language["bay"]
    admin.fill("#add-bay input[name=code]", code)
    admin.fill("#add-bay input[name=name]", bay_name)
    admin.select_option("#add-kind", "general")
    admin.click("#add-bay button[type=submit]")
    expect(admin.locator("#notice")).to_be_visible()
    chip = board.locator(f'#bays [data-bay="{code}"]')
    expect(chip).to_be_visible(timeout=LIVE_MS)
    expect(board.locator("#bays li")).to_have_count(4)
    expect(board.locator("#bays li").last).to_have_attribute("data-bay", code)

    # Out of service: the board says why.
    bay_row = admin.locator('#bays tr[data-bay="B02"]')
    bay_row.locator("input[name=reason]").fill(language["reason"])
    bay_row.locator("button.out").click()
    expect(admin.locator('#bays tr[data-bay="B02"].out-of-service')).to_be_visible()
    out = board.locator('#bays [data-bay="B02"]')
    expect(out).to_have_class(re.compile(r"\bout-of-service\b"), timeout=LIVE_MS)
    expect(out.locator(".chip-value")).to_contain_text(language["reason"])
    fits(admin)
    admin.screenshot(path=str(screenshots / f"admin-bays-{language['locale']}.png"), full_page=True)

    # The shop's own word for the order's stage, in the page's language.
    admin.goto(f"{server.url}/admin/shop")
    fits(admin)
    stage = order["stage"]
    admin.fill(f'input[name="label_{language["locale"]}_{stage}"]', language["label"])
    admin.click("#save-shop")
    expect(admin.locator("#notice")).to_be_visible()
    admin.screenshot(path=str(screenshots / f"admin-shop-{language['locale']}.png"), full_page=True)
    expect(row).to_have_text(language["label"], timeout=LIVE_MS)
    lounge_row = lounge.locator(f'#orders tr[data-order-id="{order["id"]}"] .stage')
    expect(lounge_row).to_have_text(language["label"], timeout=LIVE_MS)
    expect(phone.locator("#stage")).to_have_text(language["label"], timeout=LIVE_MS)
    expect(phone.locator(f'#timeline li[data-stage="{stage}"] .label')).to_have_text(
        language["label"]
    )
    # The counts strip of the board names the stage in the shop's word too.
    expect(board.locator(f'#counts [data-stage="{stage}"] .chip-label')).to_have_text(
        language["label"]
    )
    # The lounge takes turns in the shop's languages: one, Traditional
    # Chinese, is all it shows from now on, with the shop's word in it.
    version = requests.get(f"{server.url}/api/v1/shop", headers=shop.headers(), timeout=10)
    changed = requests.patch(
        f"{server.url}/api/v1/shop",
        json={
            "version": version.json()["version"],
            "lounge": {"languages": ["zh_Hant"]},
            "stage_labels": {"zh_Hant": {stage: "已到店（繁）"}},
        },
        headers=shop.headers(),
        timeout=10,
    )
    assert changed.status_code == 200, changed.text
    expect(lounge.locator("html")).to_have_attribute("lang", "zh-Hant", timeout=LIVE_MS)
    expect(lounge_row).to_have_text("已到店（繁）")
    for screen in (board, lounge, phone):
        still_the_same_page(screen)
