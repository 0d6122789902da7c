"""An unpaired screen honours RFC 8628's ``slow_down``: it keeps polling the
same pairing (no new code), waits the longer interval the answer gives, and
keeps that interval for every later poll. The pairing endpoints are answered
by the test (Playwright routes) and the page's timers run on Playwright's
paused clock, so the waits are exact and cost no real time."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from tests.browser_support import PageProblems, shown_code

pytestmark = pytest.mark.browser

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
FIRST_INTERVAL = 3
SLOWED_INTERVAL = 8


def settle(page: Page, ms: float = 300) -> None:
    """Real time for the routes to answer and the page's promise chain (fetch,
    json) to schedule its next poll. Playwright's own wait, not time.sleep:
    route handlers only run while Playwright is being called."""
    page.wait_for_timeout(ms)


def wait_for(page: Page, count: list[Any], n: int, timeout: float = 10.0) -> None:
    """Until the page has made its n-th call, then let it settle."""
    deadline = time.monotonic() + timeout
    while len(count) < n:
        assert time.monotonic() < deadline, f"only {len(count)} of {n} calls came"
        page.wait_for_timeout(20)
    settle(page)


def test_screen_waits_the_slowed_interval_and_keeps_it(
    page: Page, live: Any, page_problems: PageProblems
) -> None:
    server, _shop = live
    page_problems.allow("429")
    starts: list[int] = []
    polls: list[int] = []

    def on_start(route: Route) -> None:
        starts.append(1)
        route.fulfill(
            status=201,
            json={
                "user_code": "BCDFGHJK",
                "device_code": "test-device-code",
                "expires_in": 900,
                "interval": FIRST_INTERVAL,
            },
        )

    def on_poll(route: Route) -> None:
        polls.append(1)
        if len(polls) == 1:
            # A Retry-After longer than the body's interval (a proxy's
            # own, say): the interval is what slow_down sets.
            route.fulfill(
                status=429,
                headers={"Retry-After": "60"},
                content_type="application/problem+json",
                body=json.dumps(
                    {
                        "type": "about:blank",
                        "status": 429,
                        "title": "slow_down",
                        "detail": "Polling too fast.",
                        "code": "slow_down",
                        "interval": SLOWED_INTERVAL,
                    }
                ),
            )
        else:
            route.fulfill(status=200, json={"status": "pending", "user_code": "BCDFGHJK"})

    page.route("**/api/v1/devices/pairing", on_start)
    page.route("**/api/v1/devices/pairing/poll", on_poll)
    # The page's time moves only when the test moves it.
    page.clock.install(time=T0)
    page.clock.pause_at(T0 + timedelta(seconds=1))
    page.goto(f"{server.url}/board")
    assert shown_code(page) == "BCDF-GHJK"

    page.clock.run_for(FIRST_INTERVAL * 1000 + 100)
    wait_for(page, polls, 1)  # answered slow_down

    for expected in (2, 3):
        page.clock.run_for(SLOWED_INTERVAL * 1000 - 500)
        settle(page)
        assert len(polls) == expected - 1, "polled before the slowed interval"
        page.clock.run_for(600)
        wait_for(page, polls, expected)
    assert starts == [1], "slow_down must not start a new pairing"
    assert page.locator("#pairing-code").inner_text() == "BCDF-GHJK"
