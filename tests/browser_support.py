"""Headless Chromium for end-to-end tests of the screens.

One browser per session (starting Chromium is the slow part), one fresh
context per test (no shared localStorage, cookies or cache between tests).
Debian's chromium is used, never a downloaded one, so the suite runs offline.
A page that logs a console error or throws fails its test: a screen that
breaks quietly on a wall TV is the failure these tests exist to catch.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    expect,
    sync_playwright,
)

from shared.services import devices, setup
from shared.services.api_tokens import CLI_ACTOR
from shared.services.core import Core
from shared.services.devices import POLL_INTERVAL_SECONDS, USER_CODE_ALPHABET
from tests.conftest import need, offline_core

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
# How a screen shows its RFC 8628 user code: two groups of four.
SHOWN_CODE = re.compile(rf"^[{USER_CODE_ALPHABET}]{{4}}-[{USER_CODE_ALPHABET}]{{4}}$")
# The screen polls every 3 s and the CLI takes a second or two to start.
PAIRING_TIMEOUT_MS = 15_000
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
# Set to 1 to refresh the pictures in docs/screenshots/ from this run.
UPDATE_SCREENSHOTS = "BAYLIGHT_UPDATE_SCREENSHOTS"


@dataclass
class PageProblems:
    """Console errors and uncaught exceptions one page produced.

    A test that provokes an error on purpose (a revoked token's 401) says so
    with :meth:`allow`; everything else fails the test at teardown.
    """

    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, fragment: str) -> None:
        self.allowed.append(fragment)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        # Chromium asks for /favicon.ico on its own; the screens have none.
        if "favicon" in str(message.location.get("url", "")):
            return
        self.errors.append(f"console: {message.text} at {message.location.get('url', '?')}")

    def on_page_error(self, error: Error) -> None:
        self.errors.append(f"pageerror: {error.message}\n{error.stack or ''}")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    need(os.path.exists(CHROMIUM), "Debian chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def browser_locale() -> str:
    """The browser's language; parametrize ``browser_locale`` to change it."""
    return "zh-CN"


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(
    browser: Browser,
    browser_locale: str,
    page_problems: PageProblems,
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    """A page in its own context at 1920x1080 that fails the test on any error."""
    if "live" in request.fixturenames:
        # Start the server first so that it stops last: a page still open
        # when its server goes away logs reconnect errors that are no bug.
        request.getfixturevalue("live")
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale=browser_locale)
    opened = context.new_page()
    opened.on("console", page_problems.on_console)
    opened.on("pageerror", page_problems.on_page_error)
    yield opened
    context.close()
    unexpected = page_problems.unexpected()
    if unexpected:
        pytest.fail("the page reported errors:\n" + "\n".join(unexpected))


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where a test saves its screenshots: docs/screenshots/ when
    BAYLIGHT_UPDATE_SCREENSHOTS=1 asks to refresh them, else a folder of the
    test's own, so that a plain run leaves the working tree as it found it."""
    if os.environ.get(UPDATE_SCREENSHOTS) == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


@pytest.fixture
def contexts(browser: Browser, request: pytest.FixtureRequest) -> Iterator[list[BrowserContext]]:
    """Browser contexts a test opens (several screens at once), closed after
    it, and before the test's live server stops (when it has one)."""
    if "live" in request.fixturenames:
        request.getfixturevalue("live")
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def page_strings(page: Page) -> dict[str, Any]:
    """The words a screen's script was given (its ``#strings`` JSON)."""
    return dict(page.evaluate("JSON.parse(document.getElementById('strings').textContent)"))


# ------------------------------------------------------------------ helpers

# Pages whose clock a test installed with ``install_clock``.
_CLOCKED: weakref.WeakSet[Page] = weakref.WeakSet()


def install_clock(page: Page) -> None:
    """Playwright's clock on ``page``, before it loads: time flows as real
    time does until the test moves it on (``page.clock.fast_forward``). A
    screen paired on such a page asks for its token as soon as the code is
    approved, not up to a poll interval later (``approved``)."""
    page.clock.install()
    _CLOCKED.add(page)


def approved(page: Page) -> None:
    """The code on ``page`` has just been approved: on a page with
    ``install_clock``, run its clock past the poll interval, so that the
    screen's scheduled poll (RFC 8628, every POLL_INTERVAL_SECONDS) fires now.
    The server hands an approved pairing its token however soon it is polled.
    On any other page, or one that has already left the pairing panel, the
    poll comes in its own time."""
    if page in _CLOCKED and page.locator("#pairing").is_visible():
        page.clock.fast_forward(POLL_INTERVAL_SECONDS * 1000)


# static/js/live.js: the longest wait between a screen's reconnection tries.
RECONNECT_DELAY_MAX_MS = 4000


def back_online(page: Page) -> None:
    """The server is up again (its ``start`` waited for /healthz): on a page
    with ``install_clock``, run its clock past Socket.IO's longest
    reconnection delay, so that the try it has scheduled (and the outbox's
    retry) comes now instead of up to four real seconds later. Each timer
    fires at most once, as it would in that much real time."""
    assert page in _CLOCKED, "back_online needs install_clock before the page loaded"
    page.clock.fast_forward(RECONNECT_DELAY_MAX_MS)


def baylight(server: Any, *args: str) -> str:
    """Run the real ``baylight`` CLI against the live server's database; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "shared.entrypoint", *args],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"baylight {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def shown_code(page: Page, timeout_ms: float = 10_000) -> str:
    """Wait for the pairing panel; the code it shows (XXXX-XXXX)."""
    expect(page.locator("#pairing")).to_be_visible(timeout=timeout_ms)
    expect(page.locator("#pairing-code")).to_have_text(SHOWN_CODE, timeout=timeout_ms)
    return page.locator("#pairing-code").inner_text()


# The services on each live server's database, opened once (see approve_code).
_CORES: dict[str, Core] = {}


def _core_of(server: Any) -> Core:
    url = server.env["BAYLIGHT_DATABASE_URL"]
    if url not in _CORES:
        _CORES[url] = offline_core(url, Path(server.env["BAYLIGHT_INSTANCE_PATH"]))
    return _CORES[url]


@pytest.fixture(scope="session", autouse=True)
def _close_cores() -> Iterator[None]:
    yield
    for core in _CORES.values():
        core.db.dispose()


def approve_code(server: Any, code: str, kind: str, name: str, shop: str | None = None) -> int:
    """Approve a code a screen shows as ``baylight pair`` does: the same
    service call (devices.approve_pairing, as the CLI) on the server's
    database, made in this process. A CLI process costs a second of CPU a
    screen; the CLI's own pairing is tested by tests/test_cli.py and by
    ``pair_screen(..., by_cli=True)``. Returns the device id."""
    core = _core_of(server)
    return devices.approve_pairing(
        core,
        code,
        kind=kind,
        name=name,
        shop_id=setup.shop_id_for(core, shop),
        actor=CLI_ACTOR,
    )


def pair_screen(
    page: Page,
    server: Any,
    kind: str,
    name: str,
    shop: str | None = None,
    *,
    by_cli: bool = False,
) -> int:
    """Approve the code the page shows (for the shop with slug ``shop``,
    else the first one; with ``baylight pair`` when ``by_cli``), wait until
    the page has left the pairing panel, and return the device id."""
    code = shown_code(page)
    if by_cli:
        args = ["pair", code, "--kind", kind, "--name", name]
        if shop:
            args += ["--shop", shop]
        printed = baylight(server, *args)
        found = re.search(r"paired: device (\d+)", printed)
        assert found, printed
        device_id = int(found.group(1))
    else:
        device_id = approve_code(server, code, kind, name, shop)
    approved(page)
    expect(page.locator("#pairing")).to_be_hidden(timeout=PAIRING_TIMEOUT_MS)
    return device_id


def fits_the_width(page: Page) -> bool:
    """Nothing wider than the page's viewport: no sideways scrolling."""
    root = "document.documentElement"
    return bool(page.evaluate(f"{root}.scrollWidth <= {root}.clientWidth"))
