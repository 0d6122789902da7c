"""Helpers for the wall screens' browser tests: a TV whose own clock is set to
UTC (the shop is in Asia/Shanghai, so every time it shows must be the shop's),
and the viewing-distance rule the board's key fields are held to
(docs/BOARD.md): capitals at least 1/200 of the viewing distance high."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, Page

from tests.browser_support import PageProblems

# The workshop board hangs on a 55" 16:9 panel read from 5 m away.
VIEWING_DISTANCE_MM = 5000.0
PANEL_DIAGONAL_IN = 55.0
PANEL_HEIGHT_MM = PANEL_DIAGONAL_IN * 25.4 * 9 / math.hypot(16, 9)  # 684.9 mm


def min_cap_px(viewport_height: int) -> float:
    """The smallest cap height (px) the rule allows on a panel ``viewport_height``
    pixels high: distance / 200 = 25 mm, 39.4 px at 1080p, 78.8 px at 4K."""
    return (VIEWING_DISTANCE_MM / 200) / (PANEL_HEIGHT_MM / viewport_height)


@contextmanager
def utc_tv(
    browser: Browser, width: int = 1920, height: int = 1080, locale: str = "zh-CN"
) -> Iterator[Page]:
    """A screen in a context of its own (its own localStorage, as two TVs
    have) with its clock in UTC; any console error or uncaught exception
    fails the test (``page.problems.allow`` for the expected ones)."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale=locale, timezone_id="UTC"
    )
    problems = PageProblems()
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.problems = problems  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()
    assert not problems.unexpected(), problems.unexpected()


# For every element the selector finds and that is shown: its text, the cap
# height of its computed font (the ascent of "H" drawn in it), the glyph box
# of its own text, its box height, and whether it is cut: wider than its own
# box (an ellipsis) or reaching past the list or cell that clips it.
MEASURE = """(selector) => {
  const pen = document.createElement("canvas").getContext("2d");
  return Array.from(document.querySelectorAll(selector))
    .filter((el) => el.getClientRects().length > 0)
    .map((el) => {
      const style = getComputedStyle(el);
      pen.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
      const own = pen.measureText(el.textContent);
      const box = el.getBoundingClientRect();
      const clip = el.parentElement.closest("td, th, ul, li.count, .ready-list li, section");
      const edge = clip ? clip.getBoundingClientRect() : { right: innerWidth, bottom: innerHeight };
      return {
        text: el.textContent,
        cap: pen.measureText("H").actualBoundingBoxAscent,
        glyph: own.actualBoundingBoxAscent + own.actualBoundingBoxDescent,
        height: box.height,
        cut: el.scrollWidth > el.clientWidth + 1 || box.right > edge.right + 1
          || box.bottom > edge.bottom + 1 || box.right > innerWidth + 1,
      };
    });
}"""


def measure(page: Page, selector: str) -> list[dict[str, Any]]:
    return list(page.evaluate(MEASURE, selector))
