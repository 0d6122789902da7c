"""Fixtures for the board and lounge tests: the browser fixtures of
tests/browser (one Chromium per session, a fresh context per test, errors
fail the test), plus a live server on the demo shop and helpers to open more
screens and to change orders while the server is down."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from shared.demo.seed import DEMO_SLUG, seed_demo
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PageProblems,
    browser_locale,
    page,
    page_problems,
)
from tests.conftest import LiveServer, free_port, need, offline_core, server_env

__all__ = ["browser_locale", "page", "page_problems"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one module. Not per session: tests/browser holds its own
    session-wide Playwright, and Playwright's sync API allows only one at a
    time in a thread; tests/board runs before it and has closed its own."""
    need(os.path.exists(CHROMIUM), "Debian chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def demo_live(tmp_path: Path) -> Iterator[LiveServer]:
    """A real server on a database seeded with the demo shop (realistic
    plates, models, late jobs, a full workshop)."""
    database_url = f"sqlite:///{tmp_path / 'demo.db'}"
    core = offline_core(database_url, tmp_path)
    seed_demo(core)
    core.db.dispose()
    port = free_port()
    server = LiveServer(
        server_env(database_url, port, tmp_path, "eventlet"), port, tmp_path / "server.log"
    )
    server.start()
    yield server
    server.stop()


class Screens:
    """More screens than the one ``page``: each its own context (own
    localStorage, as two TVs have), with the same error policy."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[tuple[BrowserContext, PageProblems]] = []

    def open(self, width: int = 1920, height: int = 1080, locale: str = "zh-CN") -> Page:
        context = self.browser.new_context(
            viewport={"width": width, "height": height}, locale=locale
        )
        problems = PageProblems()
        opened = context.new_page()
        opened.on("console", problems.on_console)
        opened.on("pageerror", problems.on_page_error)
        opened.problems = problems  # type: ignore[attr-defined]
        self.contexts.append((context, problems))
        return opened

    def close(self) -> list[str]:
        errors: list[str] = []
        for context, problems in self.contexts:
            context.close()
            errors.extend(problems.unexpected())
        return errors


@pytest.fixture
def screens(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Screens]:
    for name in ("live", "demo_live"):
        if name in request.fixturenames:
            request.getfixturevalue(name)
    opened = Screens(browser)
    yield opened
    errors = opened.close()
    if errors:
        pytest.fail("a screen reported errors:\n" + "\n".join(errors))


DEMO = DEMO_SLUG
Live = tuple[Any, Any]
