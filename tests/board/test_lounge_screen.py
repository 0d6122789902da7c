"""The waiting-lounge TV in headless Chromium against a real server: it pairs
through the real CLI and shows only what the lounge audience may see (checked
in the DOM and in every raw WebSocket frame), calls out ready cars, shows the
reception queue and the QR, goes blank outside opening hours, alternates two
languages, and the whole page (board too) weighs under 200 KB."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Page, Response, WebSocket, expect

from shared.services import shop_settings
from tests.browser_support import install_clock
from tests.conftest import LOUNGE_KEYS

from .conftest import (
    COMPLAINT,
    CUSTOMER_NAME,
    CUSTOMER_PHONE,
    VIN,
    Live,
    assign,
    create_order,
    page_strings,
    pair,
    transition,
)
from .test_lounge_wait import all_day, shows_queue

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]

PAGE_WEIGHT_LIMIT = 200 * 1024
# Words and keys of the staff view that must never reach the public TV.
PRIVATE_TEXT = (CUSTOMER_NAME, CUSTOMER_PHONE, COMPLAINT, VIN, "王师傅", "李师傅", "更换前刹车片")
# The lounge view's keys are tests.conftest.LOUNGE_KEYS: ``pause_reasons`` are
# codes the TV words itself, never the workshop's text; ``plate_masked_more``
# the mask with one character more for cars whose masks clash on the screen;
# ``business_day`` the day of the number.


def to_ready(server: Any, shop: Any, order: dict[str, Any]) -> dict[str, Any]:
    """Through the real flow: dispatch, repair, three check levels."""
    order = assign(server, shop, order)
    order = transition(server, shop, order, "in_progress", "technician")
    order = transition(server, shop, order, "quality_check", "technician")
    for role in ("technician2", "technician2", "foreman"):
        reply = requests.post(
            f"{server.url}/api/v1/orders/{order['id']}/checks",
            json={"version": order["version"]},
            headers=shop.headers(role),
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        order = reply.json()
    assert order["stage"] == "ready"
    return order


def collect_frames(page: Page) -> list[str]:
    frames: list[str] = []

    def on_socket(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", on_socket)
    return frames


def socket_orders(frames: list[str]) -> list[dict[str, Any]]:
    """Every order object in the Socket.IO event frames ('42["event", data]')."""
    found: list[dict[str, Any]] = []
    for frame in frames:
        event = re.match(r"^42(\[.*\])$", frame, re.DOTALL)
        if not event:
            continue
        name, data = json.loads(event.group(1))[:2]
        if name == "snapshot":
            assert data["bays"] == [] and data["technicians"] == []
            found.extend(data["orders"])
        elif name == "order":
            found.append(data["order"])
    return found


def row(page: Page, order_id: int) -> Any:
    return page.locator(f'#orders tr[data-order-id="{order_id}"]')


def test_lounge_shows_only_the_lounge_view_and_calls_out_ready_cars(page: Page, live: Live) -> None:
    server, shop = live
    # Open around the clock, so the queue is in minutes whenever this runs.
    all_day(shop.core, shop.shop_id)
    frames = collect_frames(page)
    first = create_order(server, shop, "粤B12345")
    second = create_order(server, shop, "粤B67890")
    install_clock(page)
    page.goto(f"{server.url}/lounge?lang=en&chime=1")
    expect(page.locator("#live")).to_be_hidden()
    pair(page, server, "lounge", "休息区电视", shop=shop.slug)
    strings = page_strings(page)
    expect(row(page, first["id"]).locator(".plate")).to_have_text("粤B·***45")
    expect(row(page, first["id"]).locator(".number")).to_have_text(str(first["number"]))
    expect(row(page, first["id"]).locator(".stage")).to_have_text(strings["stages"]["checked_in"])
    expect(row(page, first["id"]).locator(".step.current")).to_have_count(1)
    # Two cars on two technicians: both start before a new one (the engine's range).
    assert shows_queue(page, shop.core, shop.shop_id).startswith("Cars ahead: 2 · about ")
    expect(page.locator("#ready")).to_be_hidden()
    assert page.evaluate("document.querySelector('.follow-box .qr').naturalWidth") > 0

    to_ready(server, shop, first)
    callout = page.locator(f'#ready-list li[data-order-id="{first["id"]}"]')
    expect(callout).to_be_visible()
    expect(page.locator("#ready .ready-title")).to_have_text(strings["ready_callout"])
    expect(callout.locator(".plate")).to_have_text("粤B·***45")
    expect(row(page, first["id"])).to_have_count(0)
    # The queue follows the change: one car left and a technician free for
    # a new one at once.
    assert shows_queue(page, shop.core, shop.shop_id) == strings["queue_empty"]
    expect(row(page, second["id"]).locator(".eta")).not_to_have_text("—")

    body = page.locator("body").inner_text() + page.content()
    for private in (*PRIVATE_TEXT, "粤B12345", "粤B67890"):
        assert private not in body, f"{private!r} reached the lounge's page"
    received = "\n".join(frames)
    assert '"order"' in received and '"snapshot"' in received, "no frames were captured"
    assert "粤B·***45" in received or "\\u7ca4B\\u00b7***45" in received
    for private in (*PRIVATE_TEXT, "粤B12345", "粤B67890"):
        assert private not in received, f"{private!r} reached the lounge's socket"
        escaped = json.dumps(private)[1:-1]
        assert escaped not in received, f"{private!r} reached the lounge's socket"
    shown_orders = socket_orders(frames)
    assert shown_orders, "no order reached the lounge"
    for order in shown_orders:
        assert set(order) == LOUNGE_KEYS, f"the lounge received {sorted(order)}"


def test_lounge_is_blank_outside_opening_hours(page: Page, live: Live) -> None:
    server, shop = live
    create_order(server, shop, "粤B12345")
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    opening = (now + timedelta(hours=2)).strftime("%H:%M")
    closing = (now + timedelta(hours=3)).strftime("%H:%M")
    shop_settings.set_opening_hours(shop.core, shop.shop_id, opening, closing)
    page.goto(f"{server.url}/lounge?lang=en")
    pair(page, server, "lounge", "休息区电视", shop=shop.slug)
    expect(page.locator("#idle")).to_be_visible()
    expect(page.locator("#live")).to_be_hidden()
    expect(page.locator("#idle-text")).to_contain_text(f"{opening}–{closing}")
    # Pairing takes seconds: the clock may have moved on a minute meanwhile.
    later = datetime.now(ZoneInfo("Asia/Shanghai"))
    shown = page.locator("#idle-clock").inner_text()
    assert shown in {now.strftime("%H:%M"), later.strftime("%H:%M")}, shown
    assert "***45" not in page.locator("body").inner_text()


def test_lounge_alternates_two_languages(page: Page, live: Live) -> None:
    server, shop = live
    order = create_order(server, shop, "粤B12345")
    install_clock(page)
    page.goto(f"{server.url}/lounge?lang=zh_Hans&alt=en")
    pair(page, server, "lounge", "休息区电视", shop=shop.slug)
    title = page.locator("h1[data-text=title]")
    stage = row(page, order["id"]).locator(".stage")
    expect(title).to_have_text("您的爱车维修进展")
    expect(stage).to_have_text("已接车")
    page.clock.fast_forward(15_000)
    expect(title).to_have_text("Your car's progress")
    expect(stage).to_have_text("Checked in")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.clock.fast_forward(15_000)
    expect(title).to_have_text("您的爱车维修进展")
    assert page.evaluate("document.documentElement.lang") == "zh-Hans"


@pytest.mark.parametrize("screen", ["board", "lounge"])
def test_page_weight_is_under_200_kb(page: Page, live: Live, screen: str) -> None:
    server, shop = live
    create_order(server, shop, "粤B12345")
    responses: list[Response] = []
    page.on("response", lambda response: responses.append(response))
    install_clock(page)
    page.goto(f"{server.url}/{screen}")
    pair(page, server, screen, "屏", shop=shop.slug)
    expect(page.locator("#orders tr")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    total = 0
    for response in responses:
        sizes = response.request.sizes()
        total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    assert 40_000 < total <= PAGE_WEIGHT_LIMIT, f"{screen} weighs {total} bytes"
    hosts = {response.url.split("/")[2] for response in responses}
    assert hosts == {f"127.0.0.1:{server.port}"}
