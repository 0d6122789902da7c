"""Screenshots of the board and the lounge on the demo shop (realistic plates,
models, late jobs) at 1920x1080 and 3840x2160, in Simplified Chinese and
English (written to docs/screenshots/ when BAYLIGHT_UPDATE_SCREENSHOTS=1).
Each is also checked: no scrollbars, plate and stage text at least 3 % of the
screen height (readable at 5 m), and the same rows per page at 1080p and 4K
(the layout scales, it does not just get smaller)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import install_clock

from .conftest import DEMO, pair

pytestmark = pytest.mark.browser

SIZES = {"1080": (1920, 1080), "4k": (3840, 2160)}
LANGUAGES = {"zh": "zh_Hans", "en": "en"}
MIN_TEXT_SHARE = 0.03
# What must be readable from across the workshop or the lounge.
BIG_TEXT = {"board": "#orders .plate, #orders .stage", "lounge": "#orders .plate, #orders .stage"}


def smallest_font(page: Page, selector: str) -> float:
    return float(
        page.evaluate(
            """(selector) => Math.min(...Array.from(document.querySelectorAll(selector))
                .map((el) => parseFloat(getComputedStyle(el).fontSize)))""",
            selector,
        )
    )


def check_fits(page: Page, screen: str, height: int) -> dict[str, Any]:
    assert page.evaluate(
        "document.documentElement.scrollHeight <= innerHeight"
        " && document.documentElement.scrollWidth <= innerWidth"
    ), "the screen scrolls"
    smallest = smallest_font(page, BIG_TEXT[screen])
    assert smallest >= MIN_TEXT_SHARE * height, f"{screen}: {smallest}px at {height}px high"
    state = "BaylightBoard" if screen == "board" else "BaylightLounge"
    return dict(page.evaluate(f"window.{state}.pages()"))


@pytest.mark.parametrize("screen", ["board", "lounge"])
def test_screenshots_at_1080p_and_4k_in_chinese_and_english(
    page: Page, demo_live: Any, screen: str, screenshots: Path
) -> None:
    server = demo_live
    install_clock(page)
    page.goto(f"{server.url}/{screen}")
    pair(page, server, screen, "演示屏", shop=DEMO)
    layouts = {}
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        for short, lang in LANGUAGES.items():
            page.goto(f"{server.url}/{screen}?lang={lang}")
            expect(page.locator("#live")).to_be_visible()
            expect(page.locator("#orders tr").first).to_be_visible()
            # Wait for the clock in the shop's time zone and the bay strip.
            page.wait_for_function("document.getElementById('clock').textContent.length === 5")
            layouts[(size, short)] = check_fits(page, screen, height)
            page.screenshot(path=str(screenshots / f"{screen}-{size}-{short}.png"))
    for short in LANGUAGES:
        assert layouts[("1080", short)]["perPage"] == layouts[("4k", short)]["perPage"]
