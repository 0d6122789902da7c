"""The kiosk and the foreman console in headless Chromium with touch
emulation (a 1280×800 tablet), against a real ``baylight serve``: pairing
through the real CLI, PIN login and lockout, a whole job driven by taps, the
offline outbox across a server restart, and the foreman's dispatch reaching
the technician's kiosk."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from shared.services import kiosk_login, setup
from shared.services.auth import resolve_bearer
from tests.browser_support import (
    approve_code,
    approved,
    back_online,
    baylight,
    install_clock,
    shown_code,
)

ROOT = Path(__file__).resolve().parents[2]
TABLET = {"width": 1280, "height": 800}
MIN_TAP_PX = 80  # a gloved fingertip (test_kiosk_cards_browser.py measures them all)
UNDO_MS = 3000  # static/js/kiosk.js: how long a tap waits in the outbox for its undo
Live = tuple[Any, Any]

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]


class Pages:
    """Touch tablets and a desk PC, each its own context (own storage)."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def open(self, locale: str = "zh-CN", touch: bool = True) -> Page:
        if touch:
            context = self.browser.new_context(
                viewport=TABLET,
                has_touch=True,
                is_mobile=True,
                locale=locale,
                # The browser's own zone is UTC: every time shown is the shop's.
                timezone_id="UTC",
            )
        else:
            context = self.browser.new_context(
                viewport={"width": 1600, "height": 1000}, locale=locale, timezone_id="UTC"
            )
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page


@pytest.fixture
def pages(browser: Browser) -> Iterator[Pages]:
    opened = Pages(browser)
    yield opened
    for context in opened.contexts:
        context.close()
    assert opened.errors == [], opened.errors


def pair(
    page: Page, server: Any, shop: Any, name: str = "二号工位平板", by_cli: bool = False
) -> None:
    """Open /kiosk and approve the code it shows for the test's shop (with
    ``baylight pair`` when ``by_cli``); wait for the badge sign-in."""
    page.goto(f"{server.url}/kiosk")
    code = shown_code(page)
    if by_cli:
        printed = baylight(
            server, "pair", code, "--kind", "kiosk", "--name", name, "--shop", shop.slug
        )
        assert "paired: device" in printed
    else:
        approve_code(server, code, "kiosk", name, shop.slug)
    approved(page)
    expect(page.locator("#login")).to_be_visible(timeout=15_000)


def sign_in(page: Page, badge: str, pin: str) -> None:
    """Badge and PIN by taps on the on-screen keypad."""
    page.locator("#badge").tap()
    for digit in badge:
        page.locator(f'#keypad [data-key="{digit}"]').tap()
    page.locator('#keypad [data-key="→"]').tap()
    for digit in pin:
        page.locator(f'#keypad [data-key="{digit}"]').tap()
    page.locator("#login-button").tap()


def rest(server: Any, shop: Any, method: str, path: str, role: str, body: Any = None) -> Any:
    reply = requests.request(
        method, server.url + path, json=body, headers=shop.headers(role), timeout=10
    )
    assert reply.status_code < 300, reply.text
    return reply.json()


def dispatched_order(
    server: Any, shop: Any, plate: str, technician: int, hours: float = 1.5
) -> Any:
    order = rest(
        server,
        shop,
        "POST",
        "/api/v1/orders",
        "advisor",
        {
            "plate": plate,
            "vehicle": {"model": "凯美瑞"},
            "items": [{"title": "更换刹车片", "labour_hours": hours}],
            "promised_at": "2030-01-07T17:00:00+08:00",
        },
    )
    return rest(
        server,
        shop,
        "PUT",
        f"/api/v1/orders/{order['id']}/assignment",
        "foreman",
        {"bay": "B01", "technicians": [technician], "version": order["version"]},
    )


def stages(server: Any, shop: Any, order_id: int) -> list[str]:
    history = rest(server, shop, "GET", f"/api/v1/orders/{order_id}", "admin")["history"]
    return [e["data"]["to_stage"] for e in history if e["type"] == "stage_changed"]


def strings(page: Page) -> dict[str, Any]:
    """The words the server rendered into the page (#strings), in its language."""
    return dict(page.evaluate("JSON.parse(document.getElementById('strings').textContent)"))


def card(page: Page, order_id: int) -> Any:
    return page.locator(f'#jobs [data-order-id="{order_id}"]')


def past_the_undo_window(page: Page, more_ms: int = 0) -> None:
    """Run the page's clock (installed before it loaded) past the undo window
    of the tap just made, instead of waiting for it: the outbox's timer fires
    as it would after three real seconds."""
    expect(page.locator("#toast-undo")).to_be_visible()
    page.clock.fast_forward(UNDO_MS + more_ms)


def settled_box(locator: Any) -> dict[str, float]:
    """The button's box once the list has drawn it for good: a snapshot that
    arrives just after the first drawing redraws the cards, and a box asked
    of the replaced node comes back empty."""
    deadline = time.monotonic() + 5
    while True:
        expect(locator).to_be_visible()
        box = locator.bounding_box()
        if box is not None:
            return dict(box)
        assert time.monotonic() < deadline, "the button never settled"
        time.sleep(0.05)


def test_pairing_login_and_a_whole_job_by_taps(live: Live, pages: Pages) -> None:
    server, shop = live
    order = dispatched_order(server, shop, "粤B66001", shop.technicians[0])
    page = pages.open()
    install_clock(page)
    pair(page, server, shop, by_cli=True)
    sign_in(page, "1001", "1234")
    job = card(page, order["id"])
    expect(job).to_be_visible()
    expect(page.locator("#who")).to_have_text("王师傅")
    start = job.locator(".act-start")
    box = settled_box(start)
    assert box["height"] >= MIN_TAP_PX and box["width"] >= MIN_TAP_PX

    # Undo inside the window: the tap never leaves the tablet.
    start.tap()
    expect(page.locator("#toast-undo")).to_be_visible()
    page.locator("#toast-undo").tap()
    expect(page.locator("#toast")).to_be_hidden()
    # Past the window on the page's clock, then half a second of real time in
    # which a tap that had not been undone would have reached the server.
    page.clock.fast_forward(UNDO_MS + 500)
    page.wait_for_timeout(500)
    assert stages(server, shop, order["id"]) == ["dispatched"]

    job.locator(".act-start").tap()
    expect(job.locator(".stage")).to_have_text("维修中")
    past_the_undo_window(page)
    expect(job.locator(".act-pause")).to_be_visible(timeout=10_000)
    page.wait_for_function(
        "id => !document.querySelector('#banner') || document.querySelector('#banner').hidden",
        arg=order["id"],
        timeout=10_000,
    )
    expect(page.locator("#clock-line")).to_be_visible(timeout=10_000)
    job.locator(".act-pause").tap()
    page.locator("#dialog .pause-parts").tap()
    page.locator('#dialog [data-field="description"]').fill("前刹车片")
    page.locator("#dialog-ok").tap()
    past_the_undo_window(page)
    expect(job.locator(".hold-parts")).to_contain_text("前刹车片", timeout=10_000)
    # Waiting for the pads: no resume until they arrive.
    expect(job.locator(".act-resume")).to_have_count(0)
    rest(
        server,
        shop,
        "PATCH",
        f"/api/v1/orders/{order['id']}/parts/1",
        "advisor",
        {"status": "arrived"},
    )
    expect(job.locator(".act-resume")).to_be_visible(timeout=10_000)
    job.locator(".act-resume").tap()
    past_the_undo_window(page)
    expect(job.locator(".act-finish")).to_be_visible(timeout=10_000)
    expect(page.locator("#clock-line")).to_be_visible(timeout=10_000)
    job.locator(".act-finish").tap()
    past_the_undo_window(page)
    expect(job).to_have_count(0, timeout=10_000)  # in quality check: off my list
    assert stages(server, shop, order["id"]) == [
        "dispatched",
        "in_progress",
        "paused",
        "in_progress",
        "quality_check",
    ]


def test_wrong_pins_slow_down_and_a_locked_badge_says_so(live: Live, pages: Pages) -> None:
    server, shop = live
    page = pages.open()
    install_clock(page)
    pair(page, server, shop)
    error = page.locator("#login-error")
    text = strings(page)
    for _ in range(5):
        sign_in(page, "1001", "0000")
        expect(error).to_have_text(text["wrong_pin"])
        page.locator("#badge").fill("")
        error.evaluate("e => { e.textContent = '' }")
    sign_in(page, "1001", "1234")
    slow = re.escape(text["slow_down"]).replace(re.escape("{seconds}"), r"\d+")
    expect(error).to_have_text(re.compile(slow))  # "wait N s": the growing delay
    # Ten failures within the hour (from any kiosk) lock Li's badge.
    device_token = page.evaluate("localStorage.getItem('baylight.device.kiosk')")
    kiosk = resolve_bearer(shop.core, device_token)
    assert kiosk is not None
    for _ in range(10):
        with contextlib.suppress(kiosk_login.WrongPin):
            kiosk_login.login(shop.core, kiosk, "1002", "0000")
    page.locator("#badge").fill("")
    sign_in(page, "1002", "5678")
    expect(error).to_have_text(text["locked"])


def test_offline_taps_wait_and_land_exactly_once(live: Live, pages: Pages) -> None:
    server, shop = live
    order = dispatched_order(server, shop, "粤B66002", shop.technicians[0])
    page = pages.open()
    install_clock(page)
    pair(page, server, shop)
    sign_in(page, "1001", "1234")
    job = card(page, order["id"])
    expect(job.locator(".act-start")).to_be_visible()
    server.stop()
    job.locator(".act-start").tap()
    past_the_undo_window(page)
    banner = page.locator("#banner")
    expect(banner).to_have_class(re.compile("banner-offline"), timeout=15_000)
    expect(page.locator("#banner-offline")).to_contain_text("1")
    expect(page.locator("#banner-data")).to_contain_text(re.compile(r"\d\d:\d\d"))
    server.start()
    back_online(page)
    expect(banner).to_be_hidden(timeout=20_000)
    expect(job.locator(".act-pause")).to_be_visible(timeout=10_000)
    assert stages(server, shop, order["id"]) == ["dispatched", "in_progress"]


def test_foreman_dispatches_and_the_job_appears_on_the_kiosk(live: Live, pages: Pages) -> None:
    server, shop = live
    setup.create_user(
        shop.core, shop.shop_id, role="foreman", name="赵主管", password="foreman-pass-1"
    )
    order = rest(
        server,
        shop,
        "POST",
        "/api/v1/orders",
        "advisor",
        {
            "plate": "粤B66003",
            "vehicle": {"model": "雅阁"},
            "items": [{"title": "二级保养", "labour_hours": 2.0}],
            "promised_at": "2030-01-07T16:00:00+08:00",
            "priority": "vip",
        },
    )
    tablet = pages.open()
    install_clock(tablet)
    pair(tablet, server, shop)
    sign_in(tablet, "1001", "1234")
    expect(tablet.locator("#no-jobs")).to_be_visible()

    desk = pages.open(touch=True)
    desk.goto(f"{server.url}/foreman")
    desk.locator('input[name="name"]').fill("赵主管")
    desk.locator('input[name="password"]').fill("foreman-pass-1")
    desk.locator('button[type="submit"]').tap()
    queued = desk.locator(f'#queue [data-order-id="{order["id"]}"]')
    expect(queued).to_be_visible()
    queued.locator(".assign").tap()
    desk.locator('#assign-bays [data-bay="B02"]').tap()
    desk.locator(f'#assign-techs [data-technician-id="{shop.technicians[0]}"]').tap()
    desk.locator("#assign-ok").tap()
    expect(desk.locator('#bays [data-bay="B02"] .plate')).to_have_text("粤B66003")
    expect(card(tablet, order["id"])).to_be_visible(timeout=10_000)

    # Two foremen at once: the other one's change wins, this one sees why.
    bay_order = desk.locator(f'#bays [data-order-id="{order["id"]}"]')
    bay_order.locator(".reassign").tap()
    current = rest(server, shop, "GET", f"/api/v1/orders/{order['id']}", "admin")
    rest(
        server,
        shop,
        "PUT",
        f"/api/v1/orders/{order['id']}/assignment",
        "foreman",
        {"bay": "B03", "technicians": [shop.technicians[1]], "version": current["version"]},
    )
    desk.locator("#assign-ok").tap()
    expect(desk.locator("#notice")).to_contain_text("B03")
    expect(desk.locator("#notice")).to_contain_text("李师傅")
    expect(card(tablet, order["id"])).to_have_count(0, timeout=10_000)

    # Screenshots for docs/: the console with data (the kiosk's own come from
    # test_kiosk_cards_browser.py).
    rest(
        server,
        shop,
        "PUT",
        f"/api/v1/orders/{order['id']}/assignment",
        "foreman",
        {
            "bay": "B02",
            "technicians": [shop.technicians[0]],
            "version": current["version"] + 1,
        },
    )
    dispatched_order(server, shop, "粤B66004", shop.technicians[0], hours=0.5)
    rest(
        server,
        shop,
        "POST",
        "/api/v1/orders",
        "advisor",
        {"plate": "粤B66005", "waiting": True, "promised_at": "2030-01-07T11:00:00+08:00"},
    )
    # The console's pictures are test_foreman_console_browser.py's (fuller data).
    for lang in ("zh_Hans", "en"):
        tablet.goto(f"{server.url}/kiosk?lang={lang}")
        expect(card(tablet, order["id"])).to_be_visible(timeout=10_000)
        desk.goto(f"{server.url}/foreman?lang={lang}")
        expect(desk.locator('#bays [data-bay="B02"] .plate')).to_have_text("粤B66003")
    expect(tablet.locator(".act-start").first).to_have_text("Start")
