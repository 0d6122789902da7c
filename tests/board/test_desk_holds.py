"""The reception desk and what holds a car (issue 20), in headless Chromium
against a real ``baylight serve`` (eventlet), signed in as an advisor:

- a parts request shows with its status; "ordered" asks the expected arrival
  (the shop's clock) and "arrived" moves it on, through the desk's buttons;
- a pending quote is revised from the desk (a new version; a revision of a
  version changed meanwhile is refused and said so, the half-filled form
  kept) and the customer's phone decision is recorded with its version,
  channel, time and who took it;
- an expired quote nobody quoted again is a banner on its order, until the
  advisor quotes the same work again;
- on a touch screen, the customer approves in person and signs on the pad
  (touch and mouse strokes); the saved signature shows on the order.

One server for the module: every test opens its own order.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from shared.persistence.models import Shop as ShopRow
from shared.services import setup, timers
from tests.browser_support import PageProblems
from tests.conftest import (
    LiveServer,
    Shop,
    free_port,
    migrated_copy,
    offline_core,
    parking_lane,
    seed_shop,
    server_env,
)
from tests.reception.flow import Workshop, http_call

pytestmark = pytest.mark.browser

ADVISOR = "陈顾问"
PASSWORD = "desk-password-1"
DESK = {"viewport": {"width": 1366, "height": 768}}
Live = tuple[LiveServer, Shop]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Iterator[Live]:
    """A real server on a seeded SQLite database with an advisor who signs in
    with a password, shared by the module's tests (each opens its own orders)."""
    tmp_path = tmp_path_factory.mktemp("desk")
    database_url = migrated_copy(migrated_template, tmp_path / "live.db")
    shop = seed_shop(offline_core(database_url, tmp_path))
    setup.create_user(shop.core, shop.shop_id, role="advisor", name=ADVISOR, password=PASSWORD)
    shop.extra["bay"] = parking_lane(shop.core, shop.shop_id)
    port = free_port()
    live = LiveServer(server_env(database_url, port, tmp_path, "eventlet"), port, tmp_path / "log")
    live.start()
    yield live, shop
    live.stop()
    shop.core.db.dispose()


@pytest.fixture
def desk_problems() -> PageProblems:
    return PageProblems()


def open_desk(
    browser: Browser, live: LiveServer, problems: PageProblems, **options: Any
) -> tuple[Any, Page]:
    context = browser.new_context(locale="zh-CN", **{**DESK, **options})
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.goto(f"{live.url}/login?next=/desk")
    page.fill("input[name=name]", ADVISOR)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/desk")
    return context, page


@pytest.fixture
def desk(browser: Browser, server: Live, desk_problems: PageProblems) -> Iterator[Page]:
    """The desk at 1366x768, signed in; any console error fails the test."""
    context, page = open_desk(browser, server[0], desk_problems)
    yield page
    context.close()
    assert desk_problems.unexpected() == []


@pytest.fixture
def touch_desk(browser: Browser, server: Live, desk_problems: PageProblems) -> Iterator[Page]:
    """The desk on a touch screen (the customer signs with a finger)."""
    context, page = open_desk(browser, server[0], desk_problems, has_touch=True)
    yield page
    context.close()
    assert desk_problems.unexpected() == []


def strings(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("JSON.parse(document.getElementById('strings').textContent)"))


def fill(template: str, **values: object) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def call(live: LiveServer, shop: Shop, method: str, path: str, body: Any, role: str) -> Any:
    return requests.request(
        method,
        f"{live.url}/api/v1{path}",
        json=body,
        headers=shop.headers(role, key=str(uuid.uuid4())),
        timeout=10,
    )


def in_repair(live: LiveServer, shop: Shop, plate: str) -> dict[str, Any]:
    workshop = Workshop(http_call(live.url), shop)
    order = workshop.create(plate=plate)
    body = {"bay": shop.extra["bay"], "technicians": [shop.technicians[0]], "version": 1}
    order = call(live, shop, "PUT", f"/orders/{order['id']}/assignment", body, "foreman").json()
    return workshop.move(order, "in_progress")


def quote(live: LiveServer, shop: Shop, order: dict[str, Any], description: str) -> Any:
    body = {
        "description": description,
        "labour_hours": 1.5,
        "price_cents": 68000,
        "version": order["version"],
    }
    reply = call(live, shop, "POST", f"/orders/{order['id']}/extra-work", body, "technician")
    assert reply.status_code == 201, reply.text
    return reply.json()


def staff_order(live: LiveServer, shop: Shop, order_id: int) -> dict[str, Any]:
    reply = call(live, shop, "GET", f"/orders/{order_id}", None, "advisor")
    assert reply.status_code == 200
    return dict(reply.json())


def shop_zone(shop: Shop) -> ZoneInfo:
    with shop.core.db.read() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        return ZoneInfo(row.timezone)


def card(page: Page, order: dict[str, Any]) -> Any:
    """The order's part of the desk's list: its row, and its details under
    it (open by themselves while the car waits for the advisor)."""
    return page.locator(f'#orders tbody.order[data-order-id="{order["id"]}"]')


def open_details(item: Any) -> None:
    """Open a car's details (its row's "Details" button) unless they are open."""
    toggle = item.locator("button.toggle-details")
    expect(toggle).to_be_visible()
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")


def test_the_desk_orders_and_receives_parts(server: Live, desk: Page) -> None:
    live, shop = server
    order = in_repair(live, shop, "粤B30001")
    asked = call(
        live,
        shop,
        "POST",
        f"/orders/{order['id']}/parts",
        {"description": "左前刹车分泵"},
        "technician",
    )
    assert asked.status_code == 201, asked.text
    part_id = asked.json()["id"]
    text = strings(desk)
    line = card(desk, order).locator(f'.part[data-part-id="{part_id}"]')
    expect(line).to_have_attribute("data-status", "requested")
    expect(line.locator(".part-description")).to_have_text("左前刹车分泵")
    expect(line.locator(".part-status")).to_have_text(text["part_status"]["requested"])
    expect(card(desk, order).locator(".reasons .reason-parts")).to_have_text(text["pause"]["parts"])

    # Ordered: the desk asks when it arrives (tomorrow 10:00 on the shop's clock).
    line.locator("button.mark-ordered").click()
    form = card(desk, order).locator("form.eta-form")
    expect(form).to_be_visible()
    zone = shop_zone(shop)
    tomorrow = (datetime.now(zone) + timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    form.locator("input.eta-input").fill(tomorrow.strftime("%Y-%m-%dT%H:%M"))
    form.locator("button[type=submit]").click()
    expect(line).to_have_attribute("data-status", "ordered")
    expect(form).to_have_count(0)
    part = staff_order(live, shop, order["id"])["parts"][0]
    assert (part["status"], datetime.fromisoformat(part["eta"])) == ("ordered", tomorrow)
    # Tomorrow is not today: the time comes with its date.
    day = desk.evaluate(
        """([iso, zone]) => new Intl.DateTimeFormat(document.documentElement.lang,
             {timeZone: zone, month: "numeric", day: "numeric"}).format(new Date(iso))""",
        [tomorrow.isoformat(), zone.key],
    )
    due = fill(text["parts_due"], time=f"{day} 10:00")
    expect(card(desk, order).locator(".reasons .reason-parts")).to_have_text(due)
    expect(line.locator(".part-time")).to_have_text(fill(text["part_eta"], time=f"{day} 10:00"))

    # Arrived: its reason clears; the car waits for a technician's resume.
    line.locator("button.mark-arrived").click()
    expect(line).to_have_attribute("data-status", "arrived")
    expect(line.locator(".part-status")).to_have_text(text["part_status"]["arrived"])
    expect(line.locator("button")).to_have_count(0)
    expect(card(desk, order).locator(".reasons")).to_have_count(0)
    after = staff_order(live, shop, order["id"])
    assert [p["status"] for p in after["parts"]] == ["arrived"]
    assert after["pause_reasons"] == [] and after["stage"] == "paused"


def test_the_desk_revises_a_quote_and_records_the_phone_decision(
    server: Live, desk: Page, desk_problems: PageProblems
) -> None:
    live, shop = server
    order = in_repair(live, shop, "粤B30002")
    quoted = quote(live, shop, order, "更换空调滤芯")
    text = strings(desk)
    block = card(desk, order).locator(f'.quote[data-quote-id="{quoted["id"]}"]')
    expect(block).to_have_attribute("data-quote-version", "1")
    expect(block.locator(".quote-version")).to_have_text(fill(text["quote_version"], version=1))
    expect(card(desk, order).locator(".reasons .reason-approval")).to_be_visible()

    block.locator("button.revise").click()
    form = block.locator("form.revise-form")
    form.locator("input.quote-hours").fill("0.5")
    form.locator("input.quote-price").fill("150")

    # Meanwhile the technician revises it too: the card shows v2 and the
    # advisor's half-filled form stays as it was.
    body = {"description": "更换空调滤芯", "labour_hours": 0.4, "price_cents": 10000}
    path = f"/orders/{order['id']}/extra-work/{quoted['id']}"
    meanwhile = call(live, shop, "PUT", path, {**body, "quote_version": 1}, "technician")
    assert meanwhile.status_code == 200, meanwhile.text
    expect(block).to_have_attribute("data-quote-version", "2")
    expect(form.locator("input.quote-price")).to_have_value("150")

    # Sent for v1, it is refused and said so; sent again, it revises v2.
    desk_problems.allow("status of 409")
    form.locator("button[type=submit]").click()
    expect(card(desk, order).locator(".order-message")).to_have_text(
        fill(text["stale_quote"], version=2)
    )
    expect(block).to_have_attribute("data-quote-version", "2")
    form.locator("button[type=submit]").click()
    expect(block).to_have_attribute("data-quote-version", "3")
    expect(block.locator(".quote-terms")).to_have_text("更换空调滤芯 · 工时 0.5 小时 · ¥150.00")
    expect(form).to_have_count(0)
    expect(card(desk, order).locator(".order-message")).to_have_count(0)
    revised = staff_order(live, shop, order["id"])["quotes"][0]
    assert (revised["version"], revised["labour_hours"], revised["price_cents"]) == (3, 0.5, 15000)

    # The customer says yes on the phone: recorded for version 3, by whom.
    block.locator("button.approve-phone").click()
    expect(block).to_have_attribute("data-status", "approved")
    decided = staff_order(live, shop, order["id"])["quotes"][0]
    assert (decided["decided_version"], decided["channel"], decided["taken_by"]) == (
        3,
        "phone",
        ADVISOR,
    )
    at = desk.evaluate("iso => Baylight.hhmm(new Date(iso))", decided["decided_at"])
    expect(block.locator(".decision-record")).to_have_text(
        fill(
            text["decision_record"],
            decision=text["decisions"]["approved"],
            channel=text["channels"]["phone"],
            version=3,
            time=at,
            by=ADVISOR,
        )
    )
    expect(card(desk, order).locator(".reasons")).to_have_count(0)
    expect(card(desk, order).locator(".no-holds")).to_have_text(text["no_holds"])


def test_an_expired_quote_is_a_banner_until_quoted_again(server: Live, desk: Page) -> None:
    live, shop = server
    order = in_repair(live, shop, "粤B30003")
    quoted = quote(live, shop, order, "更换雨刮片")
    banner = card(desk, order).locator(".alert.expired-quote")
    expect(card(desk, order).locator(f'.quote[data-quote-id="{quoted["id"]}"]')).to_be_visible()
    expect(banner).to_have_count(0)

    # The shop's clock, five hours on, expires it (the server's own timer
    # does the same every 30 s); the desk reads it on reload.
    later = replace(shop.core, clock=lambda: shop.core.now() + timedelta(hours=5))
    assert timers.expire_due_quotes(later) >= 1
    desk.reload()
    text = strings(desk)
    expect(banner).to_have_text(
        fill(text["quote_expired_banner"], description="更换雨刮片") + text["quote_again"]
    )
    expired = card(desk, order).locator(f'.quote[data-quote-id="{quoted["id"]}"]')
    expect(expired).to_have_attribute("data-status", "expired")
    expect(expired.locator("button")).to_have_count(0)

    # Quoted again (the same work, a new price): the banner goes.
    banner.locator("button.quote-again").click()
    form = card(desk, order).locator("form.requote-form")
    expect(form.locator("textarea.quote-description")).to_have_value("更换雨刮片")
    form.locator("input.quote-price").fill("120")
    form.locator("button[type=submit]").click()
    expect(banner).to_have_count(0)
    again = card(desk, order).locator('.quote[data-status="pending"]')
    expect(again.locator(".quote-terms")).to_have_text("更换雨刮片 · 工时 1.5 小时 · ¥120.00")
    quotes = staff_order(live, shop, order["id"])["quotes"]
    assert [(q["status"], q["price_cents"]) for q in quotes] == [
        ("expired", 68000),
        ("pending", 12000),
    ]


def touch_stroke(page: Page, points: list[tuple[float, float]]) -> None:
    """One finger drawn through the points (real touch input through the
    DevTools protocol: the browser makes the touch and pointer events)."""
    cdp = page.context.new_cdp_session(page)
    first = points[0]
    cdp.send(
        "Input.dispatchTouchEvent",
        {"type": "touchStart", "touchPoints": [{"x": first[0], "y": first[1]}]},
    )
    for x, y in points[1:]:
        moved = {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        cdp.send("Input.dispatchTouchEvent", moved)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def inked_pixels(page: Page) -> int:
    return int(
        page.evaluate(
            """() => {
              const canvas = document.querySelector(".signature-canvas");
              const data = canvas.getContext("2d")
                .getImageData(0, 0, canvas.width, canvas.height).data;
              let dark = 0;
              for (let i = 0; i < data.length; i += 4) if (data[i] < 128) dark += 1;
              return dark;
            }"""
        )
    )


def test_an_in_person_approval_is_signed_on_the_pad(
    server: Live, touch_desk: Page, browser: Browser, desk_problems: PageProblems
) -> None:
    live, shop = server
    desk = touch_desk
    order = in_repair(live, shop, "粤B30004")
    quoted = quote(live, shop, order, "更换左前轮胎")
    text = strings(desk)
    # A second desk, where another advisor sees the signature arrive.
    other_context, other = open_desk(browser, live, desk_problems)
    elsewhere = card(other, order).locator(f'.quote[data-quote-id="{quoted["id"]}"]')
    expect(elsewhere).to_be_visible()
    block = card(desk, order).locator(f'.quote[data-quote-id="{quoted["id"]}"]')
    block.locator("button.approve-in-person").click()
    expect(block).to_have_attribute("data-status", "approved")
    pad = block.locator(".signature-panel")
    expect(pad).to_be_visible()
    canvas = pad.locator("canvas.signature-canvas")
    assert inked_pixels(desk) == 0

    # Nothing signed yet: saving says so and sends nothing.
    pad.locator("button.signature-save").click()
    expect(pad.locator(".signature-message")).to_have_text(text["signature_empty"])

    box = canvas.bounding_box()
    assert box is not None
    left, top, width, height = box["x"], box["y"], box["width"], box["height"]
    touch_stroke(
        desk,
        [(left + width * (0.1 + 0.05 * i), top + height * (0.7 - 0.04 * i)) for i in range(10)],
    )
    expect(canvas).to_have_class("signature-canvas inked")
    by_touch = inked_pixels(desk)
    assert by_touch > 50
    # And a stroke with the mouse (or a pen) on the same pad.
    desk.mouse.move(left + width * 0.55, top + height * 0.3)
    desk.mouse.down()
    for i in range(10):
        desk.mouse.move(left + width * (0.55 + 0.035 * i), top + height * (0.3 + 0.04 * i))
    desk.mouse.up()
    assert inked_pixels(desk) > by_touch

    with desk.expect_response(lambda r: r.url.endswith("/signature")) as uploaded:
        pad.locator("button.signature-save").click()
    assert uploaded.value.status == 201
    assert uploaded.value.request.headers["content-type"] == "image/png"
    expect(pad).to_have_count(0)
    signature = block.locator("img.signature")
    expect(signature).to_be_visible()
    desk.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=signature.element_handle()
    )
    assert signature.get_attribute("alt") == fill(text["signature_alt"], description="更换左前轮胎")

    stored = requests.get(
        f"{live.url}{signature.get_attribute('src')}", headers=shop.headers("advisor"), timeout=10
    )
    assert stored.status_code == 200 and stored.content.startswith(b"\x89PNG")
    decided = staff_order(live, shop, order["id"])["quotes"][0]
    assert (decided["channel"], decided["taken_by"]) == ("in_person", ADVISOR)
    assert decided["signature_url"] == signature.get_attribute("src")
    expect(block.locator(".decision-record")).to_contain_text(text["channels"]["in_person"])

    # The other desk shows it live (the server's staff-only notice), and
    # this one after a reload (the order's quote names its signature).
    expect(elsewhere.locator("img.signature")).to_be_visible()
    other_context.close()
    desk.reload()
    # Decided and signed, the car no longer waits for the advisor: its
    # details open on demand.
    open_details(card(desk, order))
    expect(block.locator("img.signature")).to_be_visible()
    expect(block.locator("button.sign")).to_have_count(0)


def test_a_promise_typed_before_the_socket_answers_is_the_shops_hour(
    browser: Browser, server: Live, desk_problems: PageProblems
) -> None:
    """The advisor types the promise before the desk's socket (or the
    promise suggestion) has said anything about the shop's zone, on a PC
    whose own clock is London's: the order is promised at the shop's 17:00,
    because the page names the shop's zone in its head."""
    live, shop = server
    context, page = open_desk(browser, live, desk_problems, timezone_id="Europe/London")
    try:
        held: list[Any] = []

        def hold(route: Any) -> None:
            held.append(route)

        page.route_web_socket(re.compile(r".*/socket\.io/.*"), hold)
        page.reload()
        zone = shop_zone(shop)
        promised = (datetime.now(zone) + timedelta(days=1)).replace(
            hour=17, minute=0, second=0, microsecond=0
        )
        page.fill("#plate", "粤B30017")
        page.fill("#promised-at", promised.strftime("%Y-%m-%dT%H:%M"))
        page.click("#create")
        expect(page.locator("#created")).to_be_visible()
        assert held, "the desk never opened its socket"
    finally:
        context.close()
    assert desk_problems.unexpected() == []
    orders = call(live, shop, "GET", "/orders?active=true", None, "advisor").json()["orders"]
    made = next(o for o in orders if o["plate"] == "粤B30017")
    assert datetime.fromisoformat(made["promised_at"]) == promised


def shop_reading(page: Page, moment: datetime, zone: ZoneInfo) -> str:
    """How the pages write a shop time: "HH:MM" today, else the date first
    (in the page's language) — computed here, in the shop's zone."""
    hhmm = moment.astimezone(zone).strftime("%H:%M")
    if moment.astimezone(zone).date() == datetime.now(zone).date():
        return hhmm
    label = page.evaluate(
        "iso => new Intl.DateTimeFormat(document.documentElement.lang,"
        " {timeZone: 'Asia/Shanghai', month: 'numeric', day: 'numeric'}).format(new Date(iso))",
        moment.isoformat(),
    )
    return f"{label} {hhmm}"


def test_a_delay_alert_sets_a_new_promise_that_the_customer_reads(
    browser: Browser, server: Live, desk_problems: PageProblems
) -> None:
    """Four hours of work promised in half an hour: the engine calls the
    promise at risk and the desk (a PC whose clock is UTC) shows the alert
    with the times on the shop's clock; the advisor sets a new promised time
    with a reason through the alert's form, the alert goes, and the
    customer's phone (also UTC) reads the new time, the reason and who
    changed it."""
    live, shop = server
    zone = shop_zone(shop)
    soon = datetime.now(zone) + timedelta(minutes=30)
    body = {
        "plate": "粤B40001",
        "items": [{"title": "发动机检修", "labour_hours": 4}],
        "promised_at": soon.isoformat(),
    }
    order = call(live, shop, "POST", "/orders", body, "advisor").json()
    context, page = open_desk(browser, live, desk_problems, timezone_id="UTC")
    reason = "发动机需要拆检，多用两个小时"
    try:
        words = strings(page)
        item = card(page, order)
        # The row says the promise is at risk (or late); the alert with its
        # form is in the car's details.
        expect(item.locator("tr.row .flag")).to_be_visible(timeout=15_000)
        open_details(item)
        alert = item.locator(".delay-alert")
        expect(alert).to_be_visible(timeout=15_000)
        planned = staff_order(live, shop, order["id"])
        assert planned["risk"] in ("at_risk", "late"), planned
        eta = datetime.fromisoformat(planned["eta"])
        expect(alert).to_contain_text(shop_reading(page, eta, zone))
        expect(alert).to_contain_text(shop_reading(page, soon, zone))
        expect(alert).to_contain_text(words["causes"][planned["risk_cause"]])
        item.locator(".new-promise").click()
        form = item.locator(".promise-form")
        later = (eta + timedelta(hours=2)).astimezone(zone).replace(second=0, microsecond=0)
        form.locator(".promise-input").fill(later.strftime("%Y-%m-%dT%H:%M"))
        form.locator(".promise-reason").fill(reason)
        form.locator("button[type=submit]").click()
        expect(item.locator(".promise-change")).to_contain_text(reason)
        # The next plan finds the new promise kept: the alert goes by itself.
        expect(alert).to_have_count(0, timeout=15_000)
        expect(item.locator(".promised")).to_contain_text(shop_reading(page, later, zone))
    finally:
        context.close()
    assert desk_problems.unexpected() == []
    after = staff_order(live, shop, order["id"])
    assert datetime.fromisoformat(after["promised_at"]) == later
    assert (after["promise_change"]["reason"], after["promise_change"]["by"]) == (reason, ADVISOR)

    phone_context = browser.new_context(
        locale="zh-CN", timezone_id="UTC", viewport={"width": 390, "height": 844}
    )
    try:
        phone = phone_context.new_page()
        phone.goto(order["customer_url"])
        expect(phone.locator("#promise-new")).to_contain_text(reason)
        expect(phone.locator("#promise-new")).to_contain_text(shop_reading(phone, later, zone))
        changed_at = datetime.fromisoformat(after["promise_change"]["at"])
        expect(phone.locator("#promise-by")).to_contain_text(ADVISOR)
        expect(phone.locator("#promise-by")).to_contain_text(shop_reading(phone, changed_at, zone))
        expect(phone.locator("#promised")).to_contain_text(shop_reading(phone, later, zone))
    finally:
        phone_context.close()
