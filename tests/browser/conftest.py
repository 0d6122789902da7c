"""Browser tests: the fixtures live in tests/browser_support.py (a plugin of
the root conftest, so every folder shares one Playwright)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import PageProblems, baylight, pair_screen, shown_code

__all__ = ["PageProblems", "baylight", "pair_screen", "shown_code"]

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder drives Chromium: ``-m "not browser"`` skips them all."""
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)
