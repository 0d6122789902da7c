"""The waiting-lounge TV in headless Chromium against a real server: it pairs
through the real CLI and shows only what the lounge audience may see (checked
in the DOM and in every raw WebSocket frame), calls out ready cars, shows the
reception queue and the QR, names each step of the progress bar over its
segment and says what the steps mean, says in the customer's words what a
paused car waits for (never the workshop's note), goes blank outside opening
hours, alternates two languages, and the whole page (board too) weighs under
200 KB."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, Page, Response, WebSocket, expect

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
from .tv import utc_tv

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]

PAGE_WEIGHT_LIMIT = 200 * 1024
# Words and keys of the staff view that must never reach the public TV.
PRIVATE_TEXT = (CUSTOMER_NAME, CUSTOMER_PHONE, COMPLAINT, VIN, "王师傅", "李师傅", "更换前刹车片")
# The lounge view's keys are tests.conftest.LOUNGE_KEYS: ``pause_reasons`` are
# codes the TV words itself, never the workshop's text; ``plate_masked_more``
# the mask with one character more for cars whose masks clash on the screen;
# ``business_day`` the day of the number.


def to_ready(server: Any, shop: Any, order: dict[str, Any], bay: str = "B01") -> dict[str, Any]:
    """Through the real flow: dispatch, repair, three check levels (signed by
    the admin's token, which is no person and so may sign each level)."""
    order = assign(server, shop, order, bay)
    order = transition(server, shop, order, "in_progress", "technician")
    order = transition(server, shop, order, "quality_check", "technician")
    for _level in range(3):
        reply = requests.post(
            f"{server.url}/api/v1/orders/{order['id']}/checks",
            json={"version": order["version"]},
            headers=shop.headers("admin"),
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


def in_repair(server: Any, shop: Any, plate: str, bay: str) -> dict[str, Any]:
    order = assign(server, shop, create_order(server, shop, plate), bay)
    return transition(server, shop, order, "in_progress", "technician")


def paused_for_other(server: Any, shop: Any, plate: str, bay: str, note: str) -> dict[str, Any]:
    """A car paused in repair for an "other" reason, with the technician's note."""
    order = in_repair(server, shop, plate, bay)
    reply = requests.post(
        f"{server.url}/api/v1/orders/{order['id']}/transitions",
        json={"to": "paused", "pause_reason": "other", "reason": note, "version": order["version"]},
        headers=shop.headers("technician"),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def waiting_for_approval(server: Any, shop: Any, plate: str, bay: str, work: str) -> dict[str, Any]:
    """A car whose technician found more work: paused for the customer's OK."""
    order = in_repair(server, shop, plate, bay)
    reply = requests.post(
        f"{server.url}/api/v1/orders/{order['id']}/extra-work",
        json={
            "description": work,
            "labour_hours": 0.2,
            "price_cents": 100,
            "version": order["version"],
        },
        headers=shop.headers("technician"),
        timeout=10,
    )
    assert reply.status_code in (200, 201), reply.text
    order = requests.get(
        f"{server.url}/api/v1/orders/{order['id']}", headers=shop.headers(), timeout=10
    ).json()
    assert order["stage"] == "paused", order["stage"]
    assert [r["reason"] for r in order["pause_reasons"]] == ["approval"]
    return dict(order)


# The x-centre of each step name and of each segment of every car's bar.
CENTRES = """() => {
  const centre = (el) => { const r = el.getBoundingClientRect(); return (r.left + r.right) / 2; };
  return {
    names: Array.from(document.querySelectorAll("#step-names .step-name")).map(centre),
    bars: Array.from(document.querySelectorAll("#orders .progress"))
      .map((bar) => Array.from(bar.querySelectorAll(".step")).map(centre)),
  };
}"""

# A car's bar: each segment's height and fill, not only its colour.
SEGMENTS = """(id) => Array.from(
  document.querySelectorAll(`#orders tr[data-order-id="${id}"] .progress .step`)
).map((step) => ({
  height: step.getBoundingClientRect().height,
  filled: getComputedStyle(step).backgroundColor !== "rgba(0, 0, 0, 0)",
}))"""


def test_the_lounge_names_the_steps_and_says_what_a_car_waits_for_in_the_customers_words(
    browser: Browser, live: Live
) -> None:
    server, shop = live
    all_day(shop.core, shop.shop_id)
    waiting = create_order(server, shop, "粤B11111")
    approval = waiting_for_approval(server, shop, "粤B22222", "B01", "更换雨刮片")
    other = paused_for_other(server, shop, "粤B33333", "B02", "技师午休")
    with utc_tv(browser) as page:
        install_clock(page)
        page.goto(f"{server.url}/lounge?lang=zh_Hans")
        pair(page, server, "lounge", "休息区电视", shop=shop.slug)
        strings = page_strings(page)
        steps = ["checked_in", "dispatched", "in_progress", "quality_check", "washing", "ready"]
        expect(page.locator("#step-names .step-name")).to_have_text(
            [strings["stages"][step] for step in steps]
        )
        # Each name stands over its own segment of every car's bar.
        centres = page.evaluate(CENTRES)
        assert len(centres["bars"]) == 3
        for bar in centres["bars"]:
            assert [abs(a - b) < 2 for a, b in zip(bar, centres["names"], strict=True)] == [
                True
            ] * 6

        # What a paused car waits for, in the customer's words; the lounge
        # never shows the technician's note, nor the workshop's 暂停.
        expect(row(page, approval["id"]).locator(".stage")).to_have_text("等待您确认")
        assert strings["holds"]["approval"] == "等待您确认"
        expect(row(page, other["id"]).locator(".stage")).to_have_text(strings["holds"]["other"])
        assert "前台" in strings["holds"]["other"]
        body = page.content()
        for note in ("更换雨刮片", "技师午休"):
            assert note not in body
        assert strings["stages"]["paused"] not in page.locator("#orders").inner_text()

        # Not colour alone: the step a car is on is taller than the others,
        # the steps passed are filled, the steps to come only outlined.
        bar = page.evaluate(SEGMENTS, waiting["id"])
        assert bar[0]["height"] > max(step["height"] for step in bar[1:])
        assert [step["filled"] for step in bar] == [True] + [False] * 5
        paused_bar = page.evaluate(SEGMENTS, approval["id"])
        assert [step["filled"] for step in paused_bar] == [True] * 3 + [False] * 3
        assert paused_bar[2]["height"] > paused_bar[3]["height"]

        # Beside the cars, what each step means, and the amber (paused) one.
        legend = page.locator("#legend .legend-line")
        expect(legend).to_have_count(7)
        for step in steps:
            line = page.locator(f'#legend [data-stage="{step}"]')
            expect(line.locator(".legend-label")).to_have_text(strings["stages"][step])
            expect(line.locator(".legend-text")).to_have_text(strings["meaning"][step])
        expect(page.locator('#legend [data-stage="paused"] .legend-text')).to_have_text(
            strings["meaning_paused"]
        )
        expect(page.locator('#legend [data-stage="paused"] .step.current')).to_have_count(1)
        # The side column is filled, not half empty: queue, legend and QR.
        reaches = page.evaluate(
            """() => {
                const side = document.getElementById("side").getBoundingClientRect();
                const last = document.getElementById("follow-box").getBoundingClientRect();
                return (last.bottom - side.top) / side.height;
            }"""
        )
        assert reaches > 0.8, reaches
        expect(page.locator("#follow-box .qr")).to_be_visible()

        # A car ready for pickup: called out at the head of the side column,
        # whole, and the legend makes room for it.
        to_ready(server, shop, waiting, "B03")
        callout = page.locator(f'#ready-list li[data-order-id="{waiting["id"]}"]')
        expect(callout.locator(".plate")).to_have_text("粤B·***11")
        assert page.evaluate(
            """() => {
                const side = document.getElementById("side");
                return side.scrollHeight <= side.clientHeight + 1;
            }"""
        ), "the side column overflows"
