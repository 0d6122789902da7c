"""/group/reports in headless Chromium against a real ``baylight serve``:
a group manager sees every shop's report figures for a range of days side
by side, each the reports service's own number for that shop, in
Simplified Chinese at 1366x768 and in English at 1280x800, without
sideways scrolling; a manager outside the group is refused and a visitor
sent to sign in. Orders are walked through the real commands
(tests/board/test_reports_page.py's ``walked_day``)."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from board.reports import figure_at, shown, tiles
from shared.services import group, reports, setup
from tests.board.test_reports_page import (
    DESK,
    PASSWORD,
    SHANGHAI,
    TABLET,
    Floor,
    open_screen,
    percent,
    sign_in,
    walked_day,
)
from tests.browser_support import fits_the_width
from tests.conftest import REPORT_WORKER_NOT_LOWERED, Shop, seed_shop

# The pages, not the report worker's priority (tests/test_report_process.py).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.server_per_module,
    pytest.mark.server_patches(REPORT_WORKER_NOT_LOWERED),
]


def _second_shop(shop: Shop, day: date) -> Shop:
    """Another shop of the group on the same server: one car that day,
    delivered late."""
    slug = f"{shop.slug}-north"
    setup.ensure_shop(shop.core, slug=slug, name=f"北区店 {shop.slug}")
    other = seed_shop(shop.core, slug=slug)
    start = datetime.combine(day, time(14, 0), tzinfo=SHANGHAI)
    Floor(other).walk("粤B99001", start, promised_after=30, wait=10, work=60)
    return other


@pytest.mark.parametrize(
    ("locale", "lang", "viewport"),
    [("zh-CN", "zh_Hans", DESK), ("en-US", "en", TABLET)],
)
def test_a_group_manager_compares_the_shops_figures(
    live: tuple[Any, Shop],
    browser: Browser,
    contexts: list[BrowserContext],
    screenshots: Path,
    locale: str,
    lang: str,
    viewport: dict[str, int],
) -> None:
    server, shop = live
    walked = walked_day(shop, "8" if lang == "en" else "4")
    other = _second_shop(shop, walked.day)
    boss = setup.create_user(
        shop.core, shop.shop_id, role="manager", name=f"集团经理{lang}", password=PASSWORD
    )
    group.set_membership(shop.core, None, boss, member=True)

    screen = open_screen(browser, contexts, locale, viewport)
    page = screen.page
    sign_in(page, server, f"集团经理{lang}", "/group", lang)
    page.locator("#group-reports").click()
    day = walked.day
    page.locator("#from").fill(day.isoformat())
    page.locator("#to").fill(day.isoformat())
    page.locator("#show").click()
    table = page.locator("#side-by-side")
    expect(table).to_be_visible()
    assert page.locator("html").get_attribute("lang") == lang.replace("_", "-")

    def cell(path: str, slug: str) -> Any:
        return table.locator(f'tr[data-figure="{path}"] td[data-shop="{slug}"]')

    # Every cell is the service's number for its shop, as the page words it.
    for each, delivered in ((shop, 3), (other, 1)):
        figures = reports.summary(shop.core, each.shop_id, day, day)["figures"]
        assert figures["orders"]["delivered"] == delivered
        expect(cell("orders.delivered", each.slug).locator(".value")).to_have_text(str(delivered))
        rate = figures["on_time_rate"]["ready"]["rate"]
        expect(cell("on_time_rate.ready.rate", each.slug).locator(".value")).to_have_text(
            percent(rate)
        )
        for spec in tiles(True):
            value = figure_at(figures, spec["path"])
            shown_value = cell(spec["path"], each.slug).locator(".value")
            if spec["format"] != "minutes" or value is None:
                # Numbers and percentages read the same in every language here.
                expect(shown_value).to_have_text(shown(spec["format"], value))
            else:
                whole = round(value)
                words = (
                    rf"^{whole // 60}\D+{whole % 60:02d}\D+$" if whole >= 60 else rf"^{whole}\D+$"
                )
                expect(shown_value).to_have_text(re.compile(words))
    # The other shop's one car was late.
    expect(cell("on_time_rate.ready.rate", other.slug).locator(".value")).to_have_text("0%")
    # This shop's day against the day before (all on time then): worse, in words.
    delta = cell("on_time_rate.ready.rate", shop.slug).locator(".delta")
    expect(delta).to_have_attribute("data-verdict", "worse")
    expect(delta).to_contain_text("▼")
    assert fits_the_width(page)
    page.screenshot(path=str(screenshots / f"group-reports-{lang}.png"), full_page=True)
    assert screen.problems == []


def test_only_the_group_sees_the_shops_side_by_side(
    live: tuple[Any, Shop], browser: Browser, contexts: list[BrowserContext]
) -> None:
    server, shop = live
    screen = open_screen(browser, contexts, "en-US", TABLET)
    page = screen.page
    page.goto(f"{server.url}/group/reports")
    assert "/login" in page.url
    setup.create_user(shop.core, shop.shop_id, role="manager", name="店经理", password=PASSWORD)
    with page.expect_response(lambda r: r.url.startswith(f"{server.url}/group/reports")) as reply:
        sign_in(page, server, "店经理", "/group/reports", "en")
    assert reply.value.status == 403
    # A bad range is refused in words, not with an error page.
    boss = setup.create_user(
        shop.core, shop.shop_id, role="admin", name="集团管理员", password=PASSWORD
    )
    group.set_membership(shop.core, None, boss, member=True)
    page.context.clear_cookies()
    sign_in(page, server, "集团管理员", "/group/reports?from=2026-11-10&to=2026-11-01", "en")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#side-by-side")).to_be_visible()
