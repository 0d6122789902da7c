"""The staff sign-in and the language switch of the office pages (issue 15),
in headless Chromium against a real ``baylight serve``, an office PC at
1366x768 in UTC:

- the sign-in is one centred card: each field under its own label, a
  focus ring that is plainly there (3 px), a refusal said as a sentence
  with a mark beside it, the fields it is about marked invalid;
- its language switch keeps where the sign-in leads (``next``), and the
  choice holds on the desk after signing in (the cookie);
- the administration frame carries the same switch;
- screenshots docs/screenshots/login-{zh_Hans,en}.png (BAYLIGHT_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from shared.services import setup
from tests.browser_support import PageProblems, fits_the_width

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]
Live = tuple[Any, Any]
ADVISOR = "陈顾问"
ADMIN = "周店长"
PASSWORD = "desk-password-1"


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


def office_pc(browser: Browser, contexts: list[BrowserContext], problems: PageProblems) -> Page:
    context = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="UTC"
    )
    contexts.append(context)
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    return page


OUTLINE = "n => [getComputedStyle(n).outlineStyle, parseFloat(getComputedStyle(n).outlineWidth)]"


def outline(page: Page, selector: str) -> tuple[str, float]:
    """The outline an element shows now: its style and width in px."""
    style, width = page.locator(selector).evaluate(OUTLINE)
    return str(style), float(width)


def test_the_sign_in_card_and_the_language_switch(
    live: Live,
    browser: Browser,
    contexts: list[BrowserContext],
    problems: PageProblems,
    screenshots: Path,
) -> None:
    server, shop = live
    setup.create_user(shop.core, shop.shop_id, role="advisor", name=ADVISOR, password=PASSWORD)
    page = office_pc(browser, contexts, problems)
    page.goto(f"{server.url}/login?next=/desk")
    expect(page.locator("h1")).to_have_text("登录")
    switch = page.locator(".lang-switch")
    expect(switch.locator('[aria-current="true"]')).to_have_text("简体中文")

    # One card in the middle of the screen; every field under its label.
    card = page.locator(".login-card").bounding_box()
    assert card is not None
    assert abs(card["x"] + card["width"] / 2 - 683) <= 2, card
    assert 320 <= card["width"] <= 440, card
    name, password = page.get_by_label("姓名"), page.get_by_label("密码")
    for field in (name, password):
        box, label = field.bounding_box(), page.locator(f'label[for="{field.get_attribute("id")}"]')
        above = label.bounding_box()
        assert box is not None and above is not None and above["y"] + above["height"] <= box["y"]
        assert box["height"] >= 40

    # A visible focus ring by mouse and by keyboard.
    name.click()
    assert outline(page, "#login-name") == ("solid", 3.0)
    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("button[type=submit]")).to_be_focused()
    assert outline(page, "button[type=submit]") == ("solid", 3.0)

    # A refusal: a sentence with its mark, the fields marked invalid.
    name.fill(ADVISOR)
    password.fill("wrong password")
    problems.allow("status of 401")
    problems.allow("status of 400")
    page.locator("button[type=submit]").click()
    error = page.locator("#login-error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("role", "alert")
    assert error.evaluate("n => getComputedStyle(n, '::before').content") == '"!"'
    expect(page.get_by_label("姓名")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("密码")).to_have_attribute("aria-invalid", "true")
    assert fits_the_width(page)
    page.screenshot(path=str(screenshots / "login-zh_Hans.png"))

    # English: the switch keeps where the sign-in leads; the desk follows.
    switch.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Sign in")
    assert "next=%2Fdesk" in page.url and "lang=en" in page.url, page.url
    expect(switch.locator('[aria-current="true"]')).to_have_text("English")
    page.get_by_label("Your name").fill(ADVISOR)
    page.get_by_label("Password").focus()
    page.screenshot(path=str(screenshots / "login-en.png"))
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/desk")
    expect(page.locator("h1")).to_have_text("Reception desk")
    assert problems.unexpected() == []


def test_the_administration_frame_has_the_switch(
    live: Live, browser: Browser, contexts: list[BrowserContext], problems: PageProblems
) -> None:
    server, shop = live
    setup.create_user(shop.core, shop.shop_id, role="admin", name=ADMIN, password=PASSWORD)
    page = office_pc(browser, contexts, problems)
    page.goto(f"{server.url}/login?next=/admin/staff")
    page.get_by_label("姓名").fill(ADMIN)
    page.get_by_label("密码").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/admin/staff")
    switch = page.locator(".admin-header .lang-switch")
    expect(switch.locator('[aria-current="true"]')).to_have_text("简体中文")
    switch.get_by_role("link", name="繁體中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant")
    expect(switch.locator('[aria-current="true"]')).to_have_text("繁體中文")
    # Kept on the next page of the frame, and on the desk.
    page.goto(f"{server.url}/admin/bays")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant")
    switch.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert fits_the_width(page)
    page.goto(f"{server.url}/desk")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert problems.unexpected() == []
