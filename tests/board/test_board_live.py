"""The workshop board in a real browser against a real server: it pairs through
the real CLI, shows the orders, follows REST changes live, survives a reload,
and goes back to pairing once its device is revoked.

Everything crosses real process boundaries: Chromium, ``baylight serve``
(eventlet) and the ``baylight`` CLI share only the SQLite file and HTTP.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from playwright.sync_api import Locator, Page, expect

from shared.services import devices
from shared.services.core import PRINCIPAL_TTL_SECONDS
from tests.browser_support import PageProblems, baylight, install_clock, pair_screen, shown_code

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]

# A live change must reach the wall within this long of the REST reply.
LIVE_WITHIN_SECONDS = 1.0
BOARD_NAME = "车间大屏"
DEVICE_KEY = "baylight.device.board"

Live = tuple[Any, Any]


# ------------------------------------------------------------------ helpers


def create_order(server: Any, shop: Any, plate: str, model: str) -> dict[str, Any]:
    reply = requests.post(
        f"{server.url}/api/v1/orders",
        json={
            "plate": plate,
            "customer": {"name": "张先生", "phone": "13800000000"},
            "vehicle": {"model": model},
            "complaint": "保养",
            "items": [{"title": "更换机油", "labour_hours": 0.5}],
            "promised_at": "2030-01-01T17:00:00+08:00",
        },
        headers=shop.headers("advisor"),
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def pair_board(page: Page, server: Any, shop: Any) -> int:
    device_id = pair_screen(page, server, "board", BOARD_NAME, shop=shop.slug)
    expect(page.locator("#live")).to_be_visible()
    return device_id


def page_strings(page: Page) -> dict[str, Any]:
    """The labels the server rendered into the page (#strings), whatever the locale."""
    return dict(page.evaluate("JSON.parse(document.getElementById('strings').textContent)"))


def row(page: Page, order_id: int) -> Locator:
    return page.locator(f'#orders tr[data-order-id="{order_id}"]')


def seconds_until_stage(page: Page, order_id: int, label: str, since: float) -> float:
    """Seconds from ``since`` until the order's .stage cell reads ``label``."""
    page.wait_for_function(
        """([id, label]) => {
            const cell = document.querySelector(`#orders tr[data-order-id="${id}"] .stage`);
            return cell !== null && cell.textContent === label;
        }""",
        arg=[order_id, label],
        timeout=10_000,
    )
    return time.monotonic() - since


def assert_no_raw_stage_keys(page: Page, labels: dict[str, str]) -> None:
    text = page.locator("body").inner_text()
    for key, label in labels.items():
        if label != key:
            assert key not in text, f"raw stage key {key!r} shown instead of {label!r}"


# ------------------------------------------------------------------ tests


def test_paired_board_follows_rest_changes_live(page: Page, live: Live) -> None:
    server, shop = live
    first = create_order(server, shop, "京A12345", "帕萨特")
    second = create_order(server, shop, "沪B67890", "途观")

    install_clock(page)
    page.goto(f"{server.url}/board")
    expect(page.locator("#live")).to_be_hidden()
    pair_board(page, server, shop)

    labels: dict[str, str] = page_strings(page)["stages"]
    expect(page.locator("#orders tr")).to_have_count(2)
    expect(row(page, first["id"]).locator(".plate")).to_have_text("京A12345")
    expect(row(page, second["id"]).locator(".stage")).to_have_text(labels["checked_in"])
    assert_no_raw_stage_keys(page, labels)

    assigned = requests.put(
        f"{server.url}/api/v1/orders/{first['id']}/assignment",
        json={"bay": "B01", "technicians": [shop.technicians[0]], "version": first["version"]},
        headers=shop.headers("foreman"),
        timeout=10,
    )
    replied = time.monotonic()
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["stage"] == "dispatched"
    took = seconds_until_stage(page, first["id"], labels["dispatched"], replied)
    assert took < LIVE_WITHIN_SECONDS, f"dispatch reached the board after {took:.2f} s"
    expect(row(page, first["id"]).locator(".bay")).to_have_text("B01")
    assert_no_raw_stage_keys(page, labels)

    started = requests.post(
        f"{server.url}/api/v1/orders/{first['id']}/transitions",
        json={"to": "in_progress", "version": assigned.json()["version"]},
        headers=shop.headers("technician"),
        timeout=10,
    )
    replied = time.monotonic()
    assert started.status_code == 200, started.text
    took = seconds_until_stage(page, first["id"], labels["in_progress"], replied)
    assert took < LIVE_WITHIN_SECONDS, f"start of work reached the board after {took:.2f} s"

    third = create_order(server, shop, "粤C24680", "雅阁")
    replied = time.monotonic()
    took = seconds_until_stage(page, third["id"], labels["checked_in"], replied)
    assert took < LIVE_WITHIN_SECONDS, f"a new order reached the board after {took:.2f} s"
    expect(page.locator("#orders tr")).to_have_count(3)
    expect(row(page, third["id"]).locator(".plate")).to_have_text("粤C24680")

    assert_no_raw_stage_keys(page, labels)


def whoami(server: Any, token: str) -> requests.Response:
    return requests.get(
        f"{server.url}/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def test_reload_stays_paired_and_revocation_returns_to_pairing(
    page: Page, live: Live, page_problems: PageProblems
) -> None:
    server, shop = live
    order = create_order(server, shop, "京A54321", "卡罗拉")
    # A controllable clock lets the board's 15 s credential check run now.
    install_clock(page)
    page.goto(f"{server.url}/board")
    first_code = shown_code(page)
    device_id = pair_board(page, server, shop)
    token = page.evaluate(f"localStorage.getItem('{DEVICE_KEY}')")
    assert token, "the device token was not kept in localStorage"
    assert whoami(server, token).json()["name"] == BOARD_NAME

    page.reload()
    expect(page.locator("#live")).to_be_visible()
    expect(page.locator("#pairing")).to_be_hidden()
    expect(row(page, order["id"]).locator(".plate")).to_have_text("京A54321")

    assert "revoked" in baylight(server, "revoke-device", str(device_id))
    # The CLI is another process: the server remembers a valid credential for
    # at most PRINCIPAL_TTL_SECONDS, so the revocation lands within that.
    deadline = time.monotonic() + PRINCIPAL_TTL_SECONDS + 2
    while whoami(server, token).status_code != 401:
        assert time.monotonic() < deadline, "revocation did not reach the server in time"
        time.sleep(0.25)
    # The board asks whoami why it was dropped; that 401 is expected.
    page_problems.allow("/api/v1/whoami")

    # The periodic check finds the device revoked, the server drops the
    # socket, and the board goes back to pairing on its own.
    page.clock.fast_forward("00:16")
    assert shown_code(page) != first_code
    expect(page.locator("#live")).to_be_hidden()
    assert page.evaluate(f"localStorage.getItem('{DEVICE_KEY}')") is None


def revoked_board_token(shop: Any) -> str:
    """A real device token, paired and then revoked (as ``baylight revoke-device`` does)."""
    started = devices.start_pairing(shop.core, "board")
    device_id = devices.approve_pairing(
        shop.core, started.user_code, kind="board", name=BOARD_NAME, shop_id=shop.shop_id
    )
    token = devices.poll_pairing(shop.core, started.device_code)["device_token"]
    devices.revoke_device(shop.core, device_id)
    return str(token)


def test_board_reloaded_with_revoked_token_returns_to_pairing(
    page: Page, live: Live, page_problems: PageProblems
) -> None:
    """A screen that was off while it was revoked: its socket connect is refused."""
    server, shop = live
    token = revoked_board_token(shop)
    assert whoami(server, token).status_code == 401
    page_problems.allow("/api/v1/whoami")
    page.goto(f"{server.url}/board")
    first_code = shown_code(page)
    page.evaluate(f"localStorage.setItem('{DEVICE_KEY}', {token!r})")

    page.reload()
    # Refusal, whoami and the reload take well under a second.
    assert shown_code(page, timeout_ms=5_000) != first_code
    expect(page.locator("#live")).to_be_hidden()
    assert page.evaluate(f"localStorage.getItem('{DEVICE_KEY}')") is None


@pytest.mark.parametrize("browser_locale", ["en-US"])
def test_board_speaks_the_browser_language(page: Page, live: Live) -> None:
    """English browser, English labels: the locale reaches the page's strings."""
    server, _shop = live
    page.goto(f"{server.url}/board")
    shown_code(page)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page_strings(page)["stages"]["in_progress"] == "In progress"
