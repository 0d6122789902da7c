"""Screenshots of the board and the lounge on the demo shop (realistic plates,
models, late jobs, new-energy plates of eight characters) at 1920x1080 and
3840x2160, in Simplified Chinese and English, on TVs whose clock is in UTC
(written to docs/screenshots/ when BAYLIGHT_UPDATE_SCREENSHOTS=1).

Each is also measured: no scrollbars; on the board every key field (plate,
stage, bay, technician, promised time, ETA, and the plates on the bay list)
has capitals at least 1/200 of the 5 m viewing distance high on a 55" panel
(``tests/board/tv.py``, docs/BOARD.md) and none is cut short, nor any count's
word; on the lounge the plate and stage are at least 3 % of the screen height,
the step names over the bars and the ready cars are whole, and the side
column is filled; the same rows per page at 1080p and 4K (the layout scales,
it does not just get smaller)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import install_clock

from .conftest import DEMO, pair
from .tv import measure, min_cap_px, utc_tv

pytestmark = pytest.mark.browser

SIZES = {"1080": (1920, 1080), "4k": (3840, 2160)}
LANGUAGES = {"zh": "zh_Hans", "en": "en"}
# The board's key fields: read from across the workshop.
KEY_FIELDS = "#orders .key, #bays .chip-value"
# The rest of the board that must be whole: the counts' words, the model.
WHOLE = "#counts .chip-label, #counts .chip-value, #orders .day-mark, #orders .flag"
# The lounge: read from the sofa, and whole.
MIN_TEXT_SHARE = 0.03
LOUNGE_BIG = "#orders .plate, #orders .stage"
LOUNGE_WHOLE = "#step-names .step-name, #ready-list .plate, #ready-list .no, #orders .plate"
# The lounge's side column has no half-empty look: its boxes reach down at
# least this share of its height.
SIDE_FILLED = 0.75


def smallest_font(page: Page, selector: str) -> float:
    return float(
        page.evaluate(
            """(selector) => Math.min(...Array.from(document.querySelectorAll(selector))
                .map((el) => parseFloat(getComputedStyle(el).fontSize)))""",
            selector,
        )
    )


def no_scrolling(page: Page) -> None:
    assert page.evaluate(
        "document.documentElement.scrollHeight <= innerHeight"
        " && document.documentElement.scrollWidth <= innerWidth"
    ), "the screen scrolls"


def check_board(page: Page, height: int, label: str) -> None:
    keys = measure(page, KEY_FIELDS)
    assert len(keys) > 40, f"{label}: only {len(keys)} key fields shown"
    rule = min_cap_px(height)
    small = [(k["text"], round(k["cap"], 1)) for k in keys if k["cap"] < rule]
    assert not small, f"{label}: capitals under {rule:.1f} px: {small}"
    # The box holds its glyphs: nothing clipped top or bottom.
    assert all(k["height"] >= k["cap"] for k in keys), label
    cut = [k["text"] for k in keys + measure(page, WHOLE) if k["cut"]]
    assert not cut, f"{label}: cut short: {cut}"


def check_lounge(page: Page, height: int, label: str) -> None:
    smallest = smallest_font(page, LOUNGE_BIG)
    assert smallest >= MIN_TEXT_SHARE * height, f"{label}: {smallest}px at {height}px high"
    cut = [k["text"] for k in measure(page, LOUNGE_WHOLE) if k["cut"]]
    assert not cut, f"{label}: cut short: {cut}"
    filled = page.evaluate(
        """() => {
            const side = document.getElementById("side").getBoundingClientRect();
            const bottoms = Array.from(document.querySelectorAll("#side > section"))
                .filter((box) => !box.hidden)
                .map((box) => box.getBoundingClientRect().bottom);
            return (Math.max(...bottoms) - side.top) / side.height;
        }"""
    )
    assert filled >= SIDE_FILLED, f"{label}: the side column is {filled:.0%} filled"


@pytest.mark.parametrize("screen", ["board", "lounge"])
def test_screenshots_at_1080p_and_4k_in_chinese_and_english(
    browser: Browser, demo_live: Any, screen: str, screenshots: Path
) -> None:
    server = demo_live
    with utc_tv(browser) as page:
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
                # Wait for the clock in the shop's time zone.
                page.wait_for_function("document.getElementById('clock').textContent.length === 5")
                no_scrolling(page)
                label = f"{screen} {size} {lang}"
                if screen == "board":
                    check_board(page, height, label)
                else:
                    check_lounge(page, height, label)
                state = "BaylightBoard" if screen == "board" else "BaylightLounge"
                layouts[(size, short)] = page.evaluate(f"window.{state}.pages()")
                page.screenshot(path=str(screenshots / f"{screen}-{size}-{short}.png"))
        for short in LANGUAGES:
            assert layouts[("1080", short)]["perPage"] == layouts[("4k", short)]["perPage"]
