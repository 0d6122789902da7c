"""Photos of additional work in headless Chromium against a real
``baylight serve`` (eventlet): the customer's phone shows the technician's
photo under the quote as soon as it is uploaded, and the kiosk takes a photo
with the quote (through its offline outbox) that lands exactly once."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from shared.services import setup
from tests.browser_support import PageProblems, back_online, install_clock, pair_screen
from tests.e2e.sockets import Api

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
TABLET = {"viewport": {"width": 1280, "height": 800}, "is_mobile": True, "has_touch": True}
UNDO_MS = 3000  # static/js/kiosk.js: how long a tap waits in the outbox for its undo
Live = tuple[Any, Any]


def api(server: Any, shop: Any) -> Api:
    return Api(server.url, shop.tokens)


def started_order(server: Any, shop: Any, plate: str) -> dict[str, Any]:
    """Opened at the desk, dispatched to 王师傅 (badge 1001) and started."""
    rest = api(server, shop)
    order = rest.create(plate=plate, vehicle={"model": "凯美瑞"}, items=[{"title": "保养"}])
    order = rest.assign(order, "B01", [shop.technicians[0]])
    return rest.move(order, "in_progress", "technician")


def extra_work(server: Any, shop: Any, order: dict[str, Any], body: dict[str, Any]) -> Any:
    """Additional work found by the technician, sent once (with a key)."""
    path = f"/orders/{order['id']}/extra-work"
    key = str(uuid.uuid4())
    reply = api(server, shop).call("POST", path, role="technician", body=body, key=key, expect=201)
    return reply.json()


def upload(server: Any, shop: Any, order: dict[str, Any], quote_id: int, image: bytes) -> None:
    """The technician's photo of a quote, sent straight to the API."""
    uploaded = requests.post(
        f"{server.url}/api/v1/orders/{order['id']}/extra-work/{quote_id}/photo",
        data=image,
        headers={**shop.headers("technician", str(uuid.uuid4())), "Content-Type": "image/jpeg"},
        timeout=10,
    )
    assert uploaded.status_code == 201, uploaded.text


def jpeg(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def device(browser: Browser, request: pytest.FixtureRequest) -> Iterator[tuple[Page, PageProblems]]:
    """A touch page of the size given as parameter (phone by default) that
    fails the test on an uncaught exception or a console error."""
    size = getattr(request, "param", PHONE)
    context = browser.new_context(locale="zh-CN", **size)
    problems = PageProblems()
    opened = context.new_page()
    opened.on("console", problems.on_console)
    opened.on("pageerror", problems.on_page_error)
    yield opened, problems
    context.close()
    assert problems.unexpected() == []


def test_the_customers_phone_shows_the_photo_under_the_quote(
    live: Live, device: tuple[Page, PageProblems]
) -> None:
    server, shop = live
    phone, _problems = device
    order = started_order(server, shop, "粤B77001")
    quote = extra_work(
        server,
        shop,
        order,
        {
            "description": "前刹车片磨损",
            "labour_hours": 1.5,
            "price_cents": 68000,
            "version": order["version"],
        },
    )
    token = order["customer_url"].rsplit("/t/", 1)[1]
    phone.goto(f"{server.url}/t/{token}")
    line = phone.locator(f'#quotes li[data-quote-id="{quote["id"]}"]')
    expect(line).to_be_visible()
    expect(line.locator("img")).to_have_count(0)

    # Uploaded while the customer looks: the page is told and shows it.
    upload(server, shop, order, quote["id"], jpeg((2400, 1800), (180, 40, 40)))
    photo = line.locator("img.quote-photo")
    expect(photo).to_be_visible(timeout=10_000)
    phone.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
    )
    natural = photo.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert natural == [1600, 1200]
    assert "前刹车片磨损" in (photo.get_attribute("alt") or "")
    box = photo.bounding_box()
    assert box is not None and box["width"] <= 390, "the picture fits the phone"


@pytest.mark.parametrize("device", [TABLET], indirect=True)
def test_the_kiosk_sends_the_photo_after_its_quote_even_from_offline(
    live: Live, device: tuple[Page, PageProblems]
) -> None:
    server, shop = live
    tablet, problems = device
    # The server is stopped on purpose below: the tablet's failed requests.
    problems.allow("Failed to load resource")
    problems.allow("ERR_CONNECTION_REFUSED")
    order = started_order(server, shop, "粤B77002")
    install_clock(tablet)
    tablet.goto(f"{server.url}/kiosk")
    pair_screen(tablet, server, "kiosk", "三号工位平板", shop=shop.slug)
    tablet.locator("#badge").fill("1001")
    tablet.locator("#pin").fill("1234")
    tablet.locator("#login-button").tap()
    job = tablet.locator(f'#jobs [data-order-id="{order["id"]}"]')
    expect(job.locator(".act-extra")).to_be_visible()

    job.locator(".act-extra").tap()
    dialog = tablet.locator("#dialog")
    camera = dialog.locator('input[data-field="photo"]')
    assert camera.get_attribute("accept") == "image/*"
    assert camera.get_attribute("capture") == "environment"
    dialog.locator('input[data-field="description"]').fill("空调滤芯很脏")
    dialog.locator('input[data-field="labour_hours"]').fill("0.3")
    dialog.locator('input[data-field="price"]').fill("120")
    camera.set_input_files(
        {"name": "shot.jpg", "mimeType": "image/jpeg", "buffer": jpeg((3000, 2000), (30, 90, 200))}
    )
    preview = dialog.locator("img.photo-preview")
    expect(preview).to_be_visible()
    tablet.wait_for_function("img => img.naturalWidth > 0", arg=preview.element_handle())

    # The Wi-Fi is gone when the technician sends it: both wait in the outbox.
    server.stop()
    tablet.locator("#dialog-ok").tap()
    # Past the undo window on the page's clock instead of waiting it out:
    # the outbox's timer fires as it would after three real seconds.
    expect(tablet.locator("#toast-undo")).to_be_visible()
    tablet.clock.fast_forward(UNDO_MS)
    expect(tablet.locator("#banner")).to_have_class("banner banner-offline", timeout=15_000)
    expect(tablet.locator("#banner-offline")).to_contain_text("2")
    server.start()
    back_online(tablet)
    expect(tablet.locator("#banner")).to_be_hidden(timeout=20_000)

    photos = poll_photos(server, shop, order["id"])
    assert [p["quote_id"] for p in photos] == [1]
    picture = requests.get(server.url + photos[0]["photo_url"], headers=shop.headers(), timeout=10)
    stored = Image.open(io.BytesIO(picture.content))
    assert (stored.format, stored.size) == ("JPEG", (1600, 1067))
    quotes = api(server, shop).order(order["id"])["quotes"]
    assert [q["description"] for q in quotes] == ["空调滤芯很脏"], "the quote landed once"


def poll_photos(server: Any, shop: Any, order_id: int, seconds: float = 10.0) -> list[Any]:
    """The order's photo list once it is not empty (the outbox sends the
    photo right after the quote's answer)."""
    deadline = time.monotonic() + seconds
    while True:
        reply = api(server, shop).call("GET", f"/orders/{order_id}/photos", expect=200)
        listed = reply.json()["photos"]
        if listed or time.monotonic() > deadline:
            return list(listed)
        time.sleep(0.2)


def test_the_desk_shows_the_photo_with_the_pending_quote(live: Live, page: Page) -> None:
    server, shop = live
    setup.create_user(
        shop.core, shop.shop_id, role="advisor", name="陈顾问", password="advisor-pass-1"
    )
    order = started_order(server, shop, "粤B77003")
    extra_work(
        server,
        shop,
        order,
        {
            "description": "轮胎鼓包",
            "labour_hours": 0.5,
            "price_cents": 45000,
            "version": order["version"],
        },
    )
    page.goto(f"{server.url}/login?next=/desk")
    page.locator('input[name="name"]').fill("陈顾问")
    page.locator('input[name="password"]').fill("advisor-pass-1")
    page.locator('button[type="submit"]').click()
    line = page.locator(f'#orders [data-order-id="{order["id"]}"] .quote[data-quote-id="1"]')
    expect(line).to_be_visible()
    expect(line.locator("img")).to_have_count(0)

    upload(server, shop, order, 1, jpeg((800, 600), (20, 160, 60)))
    photo = line.locator("img")
    expect(photo).to_be_visible(timeout=10_000)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
    )
    assert photo.get_attribute("alt") == "轮胎鼓包"
