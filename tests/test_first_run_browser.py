"""The first run in Chromium (issue 14, item 1): a real ``baylight serve`` on
an empty database prints its set-up link; a browser in Chinese (at 1366x768)
and one in English (a 1280x800 tablet) open it, are told what a wrong field
is, fill the form and land on /admin as the new admin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import PageProblems
from tests.conftest import free_port, migrated_copy, server_env
from tests.test_first_run import PASSWORD, Serve, printed_link


@pytest.fixture
def printed(tmp_path: Path, migrated_template: Path) -> Iterator[str]:
    """The set-up link an empty installation's server printed."""
    database = migrated_copy(migrated_template, tmp_path / "empty.db")
    port = free_port()
    server = Serve(server_env(database, port, tmp_path, "eventlet"), port, tmp_path / "out.log")
    try:
        yield printed_link(server.start())
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("browser_locale", "html_lang", "viewport"),
    [
        ("zh-CN", "zh-Hans", {"width": 1366, "height": 768}),
        ("en-US", "en", {"width": 1280, "height": 800}),
    ],
)
def test_the_printed_link_sets_the_shop_up_in_the_browser(
    printed: str,
    page: Page,
    page_problems: PageProblems,
    html_lang: str,
    viewport: dict[str, int],
) -> None:
    # The refused form (422) and the used link (410) are answers, not faults.
    page_problems.allow("status of 422")
    page_problems.allow("status of 410")
    page.set_viewport_size(viewport)
    page.goto(printed)
    expect(page.locator("html")).to_have_attribute("lang", html_lang)
    # One column of cards that fits the screen's width: nothing to scroll sideways.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    for name in ("shop_name", "timezone", "opens", "admin_name", "password"):
        box = page.locator(f"#{name}").bounding_box()
        assert box is not None and box["x"] + box["width"] <= viewport["width"], name

    page.fill("#shop_name", "星河汽车服务中心")
    page.fill("#address", "深圳市南山区科技园 1 号")
    page.fill("#hotline", "400-800-8888")
    page.fill("#timezone", "Asia/Shanghai")
    page.fill("#opens", "08:00")
    page.fill("#closes", "18:30")
    page.fill("#admin_name", "王店长")
    page.fill("#display_name", "王经理")
    page.fill("#password", PASSWORD)
    page.fill("#password_repeat", PASSWORD + "?")
    page.click("#set-up")
    # Refused: said at the top, the field marked; the rest stays as typed.
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#password_repeat")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#shop_name")).to_have_value("星河汽车服务中心")

    page.fill("#password", PASSWORD)
    page.fill("#password_repeat", PASSWORD)
    page.click("#set-up")
    page.wait_for_url("**/admin")
    expect(page.locator(".who")).to_have_text("王经理")
    expect(page.locator("html")).to_have_attribute("lang", html_lang)

    # The link worked once: opened again, it says the shop is set up.
    answer = page.goto(printed)
    assert answer is not None and answer.status == 410
    expect(page.locator("#link-problem")).to_have_attribute("data-problem", "used")
