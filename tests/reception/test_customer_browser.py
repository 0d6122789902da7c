"""The customer's phone page in headless Chromium (390x844, touch, the
device's clock in UTC, the shop in Asia/Shanghai) against a real
``baylight serve`` (eventlet):

- every stage in the customer's words with one plain sentence under it,
  "Waiting for your OK" while additional work waits for them (never the
  workshop's 暂停 · 待客户确认), and what changes once they have answered;
- the booked work with its labour hours, the honest note that the order
  records no price for it, the approved additional work with its price, the
  hours in total and the amount approved;
- the survey: five choices that say what they mean, one radio group;
- an expired or replaced link: the shop's name, address and hotline, nothing
  of the order;
- nothing the forwarded link must not carry (phone, VIN, mileage,
  technicians' names, the workshop's notes, the customer's own words);
- screenshots in Simplified Chinese and English (docs/screenshots/ when
  BAYLIGHT_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, Page, WebSocket, expect
from sqlalchemy import update

from shared.persistence.models import RepairOrder
from shared.services import setup
from tests.browser_support import PageProblems, fits_the_width

from .customer_support import (
    ADVISOR_PHONE,
    COMPLAINT,
    PROFILE,
    VIN,
    open_order,
    set_profile,
    with_advisor,
)
from .flow import Workshop, http_call, token_of

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]
SHOP_ZONE = ZoneInfo("Asia/Shanghai")
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "timezone_id": "UTC",
    "device_scale_factor": 2,
}
Live = tuple[Any, Any]


@pytest.fixture
def phone_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def phone(
    browser: Browser, request: pytest.FixtureRequest, phone_problems: PageProblems
) -> Iterator[Page]:
    """A phone-sized touch page in the parameter's language, its clock in
    UTC, failing the test on any console error or uncaught exception."""
    request.getfixturevalue("live")  # the server outlives the page
    locale = getattr(request, "param", "zh-CN")
    context = browser.new_context(locale=locale, **PHONE)
    page = context.new_page()
    page.on("console", phone_problems.on_console)
    page.on("pageerror", phone_problems.on_page_error)
    yield page
    context.close()
    assert phone_problems.unexpected() == []


def labels(page: Page, name: str = "strings") -> dict[str, Any]:
    found = page.evaluate(f"JSON.parse(document.getElementById('{name}').textContent)")
    return dict(found)


def fill(template: str, **values: Any) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), template)


def shop_clock(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(SHOP_ZONE).strftime("%H:%M")


def test_stages_in_the_customers_words_the_work_its_cost_and_the_rating(
    live: Live, phone: Page
) -> None:
    server, shop = live
    workshop = Workshop(http_call(server.url), with_advisor(shop))
    order = open_order(workshop)
    token = token_of(order)

    phone.goto(f"{server.url}/t/{token}")
    text = labels(phone)
    notes = text["notes"]
    stage, note = phone.locator("#stage"), phone.locator("#stage-note")
    expect(stage).to_have_text(text["stages"]["checked_in"])
    expect(note).to_have_text(notes["checked_in"])
    expect(phone.locator("#advisor-phone")).to_have_attribute("href", f"tel:{ADVISOR_PHONE}")
    # The customer's words, not the workshop's: 已接车 as 已接车, but never
    # 已派工 / 待交车 / 暂停 · 待客户确认.
    assert text["stages"]["dispatched"] == "已安排维修技师"
    assert text["stages"]["ready"] == "可以取车"
    assert len(set(notes.values())) == len(notes), "one sentence per stage"

    # The booked work: each item with its hours, the total, and the honest
    # note that no price is recorded for it.
    work = phone.locator("#work-items li")
    expect(work).to_have_count(2)
    expect(work.nth(0).locator(".title")).to_have_text("更换机油及机油滤芯")
    expect(work.nth(0).locator(".hours")).to_have_text(fill(text["quote_hours"], hours=1))
    expect(work.nth(1).locator(".hours")).to_have_text(fill(text["quote_hours"], hours=0.8))
    expect(work.locator(".price")).to_have_count(0)
    expect(phone.locator("#work-hours")).to_have_text(fill(text["work_hours"], hours=1.8))
    expect(phone.locator("#work-note")).to_have_text(text["no_prices"])
    expect(phone.locator("#approved-row")).to_be_hidden()

    # Times on the shop's clock, not the phone's (UTC here).
    received = phone.locator('#timeline li[data-stage="checked_in"] time')
    at = received.get_attribute("datetime")
    assert at is not None
    expect(received).to_have_text(re.compile(rf"{shop_clock(at)}$"))
    expect(phone.locator('#timeline li[aria-current="step"] .now')).to_have_text(text["now"])

    order = workshop.start(order)
    expect(stage).to_have_text(text["stages"]["in_progress"])
    expect(note).to_have_text(notes["in_progress"])
    expect(phone.locator("#timeline li.current")).to_have_attribute("data-stage", "in_progress")
    expect(phone.locator('#timeline li[data-stage="dispatched"]')).to_have_attribute(
        "data-state", "done"
    )

    # Two quotes: the car waits for the customer, and the page says so in
    # their words, with the way to answer.
    workshop.quote(order, "更换前刹车片", 1.5, 68000)
    workshop.quote(workshop.get(order["id"]), "更换空调滤芯", 0.3, 12000)
    expect(phone.locator("#quotes li.quote")).to_have_count(2)
    expect(stage).to_have_text(text["waiting_for_you"])
    expect(stage).to_have_class(re.compile(r"\bwaiting-for-you\b"))
    expect(note).to_have_text(notes["approval"])
    holds = labels(phone, "hold-strings")
    expect(phone.locator("#pause li")).to_have_text([holds["approval"]])
    expect(phone.locator("#pause a.jump")).to_have_attribute("href", "#quotes-section")
    hint = phone.locator("#quote-hint")
    expect(hint).to_be_visible()
    assert "暂停" not in stage.inner_text() and "待客户确认" not in phone.inner_text("body")

    phone.locator('li[data-quote-id="1"] button.approve').tap()
    expect(phone.locator('li[data-quote-id="1"] .decision')).to_contain_text(text["approved"])
    # One answered, one open: still asked for.
    expect(hint).to_be_visible()
    phone.locator('li[data-quote-id="2"] button.decline').tap()
    expect(phone.locator('li[data-quote-id="2"] .decision')).to_contain_text(text["declined"])
    # Decided: no more "please choose each line", nothing to wait for, and
    # the car stays paused until its technician resumes (thank you, carries on).
    expect(hint).to_be_hidden()
    expect(phone.locator("#pause li")).to_have_count(0)
    expect(stage).to_have_text(text["stages"]["paused"])
    expect(note).to_have_text(notes["answered"])

    # The approved work joins the list with its price; the declined does not.
    expect(work).to_have_count(3)
    extra = phone.locator("#work-items li.extra")
    expect(extra.locator(".title")).to_have_text("更换前刹车片")
    expect(extra.locator(".tag")).to_have_text(text["extra_item"])
    expect(extra.locator(".price")).to_have_text("¥680.00")
    expect(phone.locator("#approved-total")).to_have_text("¥680.00")
    expect(phone.locator("#approved-row")).to_be_visible()
    expect(phone.locator("#work-hours")).to_have_text(fill(text["work_hours"], hours=3.3))
    assert "空调滤芯" not in phone.locator("#work-section").inner_text()

    order = workshop.resume(workshop.get(order["id"]))
    expect(stage).to_have_text(text["stages"]["in_progress"])
    order = workshop.finish(order)
    expect(stage).to_have_text(text["stages"]["ready"])
    expect(note).to_have_text(notes["ready"])
    expect(stage).to_have_class(re.compile(r"\bstage-ready\b"))

    workshop.hand_over(order)
    expect(stage).to_have_text(text["stages"]["delivered"])
    expect(note).to_have_text(notes["delivered"])
    # Five choices in one radio group, each saying what it means.
    group = phone.get_by_role("group", name="您的评分")
    expect(group).to_be_visible()
    radios = group.get_by_role("radio")
    expect(radios).to_have_count(5)
    names = [
        "5 非常满意",
        "4 满意",
        "3 一般",
        "2 不满意",
        "1 很不满意",
    ]
    for n, name in enumerate(names):
        expect(radios.nth(n)).to_have_accessible_name(name)
    assert fits_the_width(phone)
    group.get_by_role("radio", name="4 满意").tap()
    expect(group.get_by_role("radio", name="4 满意")).to_be_checked()
    phone.locator("#survey-comment").fill("师傅很专业")
    phone.locator("#survey-submit").tap()
    expect(phone.locator("#survey-result")).to_have_text(text["survey_thanks"])
    expect(phone.locator("#survey-form")).to_be_hidden()

    phone.reload()
    expect(phone.locator("#survey-result")).to_have_text(text["survey_done"])
    expect(phone.locator("#survey-form")).to_be_hidden()
    again = requests.post(
        f"{server.url}/api/v1/track/{token}/survey", json={"rating": 1}, timeout=10
    )
    assert again.status_code == 409 and again.json()["code"] == "already_submitted"
    rated = workshop.get(order["id"])["history"]
    assert [e["data"]["rating"] for e in rated if e["type"] == "survey_submitted"] == [4]


def test_the_forwarded_link_carries_nothing_private(live: Live, phone: Page) -> None:
    """Phone, VIN, mileage, the customer's name and words, the technicians
    and the workshop's notes: on neither the page nor what it is sent."""
    server, shop = live
    workshop = Workshop(http_call(server.url), with_advisor(shop))
    order = workshop.start(open_order(workshop))
    paused = workshop.move(order, "paused", pause_reason="other", reason="内部备注：等主管")
    assert paused["stage"] == "paused"
    token = token_of(order)
    frames: list[str] = []

    def listen(socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: frames.append(str(frame)))

    phone.on("websocket", listen)
    phone.goto(f"{server.url}/t/{token}")
    text = labels(phone)
    expect(phone.locator("#stage")).to_have_text(text["stages"]["paused"])
    expect(phone.locator("#stage-note")).to_have_text(text["notes"]["paused"])
    expect(phone.locator("#work-items li")).to_have_count(2)
    received = " ".join(frames)
    assert "snapshot" in received, "the page's live data was read"
    sent = requests.get(f"{server.url}/api/v1/track/{token}", timeout=10).text + received
    shown = phone.content()
    for private in (
        "13800000000",
        "张先生",
        VIN,
        "42000",
        "42,000",
        COMPLAINT,
        "王师傅",
        "内部备注",
    ):
        assert private not in shown, private
        assert private not in sent, private


def test_an_expired_or_replaced_link_says_whom_to_call(
    live: Live, phone: Page, phone_problems: PageProblems, screenshots: Path
) -> None:
    server, shop = live
    set_profile(server, shop)
    workshop = Workshop(http_call(server.url), with_advisor(shop))
    order = open_order(workshop)
    phone.goto(f"{server.url}/t/{token_of(order)}")
    expect(phone.locator("#plate")).to_have_text("粤B12345")
    expect(phone.locator("#contact-name")).to_have_text(PROFILE["name"])
    expect(phone.locator("#hotline")).to_have_attribute("href", f"tel:{PROFILE['hotline']}")

    # The advisor issues a new link: the open page turns into the notice.
    phone_problems.allow("status of 404")  # the old link's page is a 404 on purpose
    reply = requests.post(
        f"{server.url}/desk/api/orders/{order['id']}/customer-link",
        json={"reason": "lost"},
        headers=shop.headers("advisor", key="reissue"),
        timeout=10,
    )
    assert reply.status_code == 200
    expect(phone.locator("#link-gone")).to_be_visible()
    expect(phone.locator("#gone-contact-name")).to_have_text(PROFILE["name"])
    expect(phone.locator("#gone-hotline")).to_have_attribute("href", f"tel:{PROFILE['hotline']}")

    # An expired link (24 h after the handover) is the server's 404 page:
    # the shop's name, address and hotline (a button-sized link), nothing of
    # the order.
    expired = open_order(workshop, plate="粤B54321")
    with shop.core.db.write() as session:
        session.execute(
            update(RepairOrder)
            .where(RepairOrder.id == expired["id"])
            .values(stage="delivered", closed_at=shop.core.now() - timedelta(hours=25))
        )
    phone.goto(f"{server.url}/t/{token_of(expired)}")
    expect(phone.locator("#gone")).to_be_visible()
    expect(phone.locator("#contact-name")).to_have_text(PROFILE["name"])
    expect(phone.locator("#shop-address")).to_have_text(PROFILE["address"])
    call = phone.locator("#hotline")
    expect(call).to_have_text(PROFILE["hotline"])
    expect(call).to_have_attribute("href", f"tel:{PROFILE['hotline']}")
    box = call.bounding_box()
    assert box is not None and box["height"] >= 44
    body = phone.content()
    for private in ("粤B54321", "丰田", "更换机油", "陈顾问"):
        assert private not in body, private
    assert fits_the_width(phone)
    phone.screenshot(path=str(screenshots / "customer-gone-zh_Hans.png"), full_page=True)


@pytest.mark.parametrize(
    ("phone", "name"),
    [("zh-CN", "zh_Hans"), ("en-US", "en")],
    indirect=["phone"],
)
def test_screenshots_of_the_customer_page(
    live: Live, phone: Page, name: str, screenshots: Path
) -> None:
    """Waiting for the customer's OK (one quote approved, one open), and
    after the handover with the survey."""
    server, shop = live
    set_profile(server, shop)
    workshop = Workshop(http_call(server.url), with_advisor(shop))
    order = workshop.start(open_order(workshop))
    workshop.quote(order, "更换前刹车片（已磨损至 2 mm）", 1.5, 68000)
    order = workshop.get(order["id"])
    workshop.quote(order, "更换空调滤芯", 0.3, 12000)
    decided = requests.post(
        f"{server.url}/api/v1/track/{token_of(order)}/extra-work/2/decision",
        json={"approved": True, "quote_version": 1},
        headers={"Idempotency-Key": f"shot-{name}"},
        timeout=10,
    )
    assert decided.status_code == 200, decided.text
    phone.goto(f"{server.url}/t/{token_of(order)}")
    text = labels(phone)
    expect(phone.locator("#stage")).to_have_text(text["waiting_for_you"])
    expect(phone.locator("#work-items li")).to_have_count(3)
    expect(phone.locator("html")).to_have_attribute("lang", name.replace("_", "-"))
    assert fits_the_width(phone)
    phone.screenshot(path=str(screenshots / f"customer-{name}.png"), full_page=True)

    # Handed over: the rating.
    order = workshop.get(order["id"])
    status, answered = workshop.call(
        "POST",
        f"/api/v1/orders/{order['id']}/extra-work/1/decision",
        {"approved": False, "quote_version": 1, "channel": "phone"},
        shop.headers("advisor", key=f"phone-{name}"),
    )
    assert status == 200, answered
    order = workshop.finish(workshop.resume(workshop.get(order["id"])))
    workshop.hand_over(order)
    expect(phone.locator("#survey-form")).to_be_visible()
    expect(phone.locator(".rating")).to_have_count(5)
    best = phone.locator('.rating[data-rating="5"]')
    best.tap()
    expect(best.locator("input")).to_be_checked()
    # Marked by its frame as well as its colour, and only the chosen one.
    expect(best).to_have_class(re.compile(r"\bchosen\b"))
    expect(phone.locator(".rating.chosen")).to_have_count(1)
    assert fits_the_width(phone)
    phone.screenshot(path=str(screenshots / f"customer-survey-{name}.png"), full_page=True)


def test_desk_opens_an_order_for_a_returning_car(live: Live, browser: Browser) -> None:
    """The advisor signs in, types a known plate in another spelling, gets the
    car's history and a suggested promised time, opens the order (CSRF and
    Idempotency-Key from the page) and opens its ticket."""
    server, shop = live
    setup.create_user(
        shop.core, shop.shop_id, role="advisor", name="陈顾问", password="desk-password-1"
    )
    workshop = Workshop(http_call(server.url), shop)
    workshop.create(plate="粤B12345", items=[{"title": "更换刹车片", "labour_hours": 2}])
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="UTC"
    )
    problems = PageProblems()
    desk = context.new_page()
    desk.on("console", problems.on_console)
    desk.on("pageerror", problems.on_page_error)
    try:
        desk.goto(f"{server.url}/desk")
        assert desk.url.endswith("/login?next=/desk")
        desk.fill("input[name=name]", "陈顾问")
        desk.fill("input[name=password]", "desk-password-1")
        desk.click("button[type=submit]")
        desk.wait_for_url(f"{server.url}/desk")

        desk.fill("#plate", "粤b·12345")
        desk.press("#plate", "Tab")
        expect(desk.locator("#history.returning")).to_be_visible()
        expect(desk.locator("#plate")).to_have_value("粤B12345")
        expect(desk.locator("#customer-name")).to_have_value("张先生")
        expect(desk.locator("#history-list li")).to_have_count(1)

        desk.fill(".item-title", "更换机油")
        desk.fill(".item-hours", "1.5")
        expect(desk.locator("#suggestion")).to_contain_text(":")
        expect(desk.locator("#promised-at")).not_to_have_value("")
        desk.check("#wash")
        desk.click("#create")
        expect(desk.locator("#created")).to_be_visible()
        expect(desk.locator("#created-text")).to_contain_text("2")
        expect(desk.locator("#orders tbody.order")).to_have_count(2)

        with context.expect_page() as opened:
            desk.click("#ticket-a5")
        ticket = opened.value
        ticket.wait_for_load_state()
        expect(ticket.locator("#queue-number")).to_have_text("2")
        expect(ticket.locator("#plate")).to_have_text("粤B12345")
        expect(ticket.locator("#estimate .work-item")).to_have_text([re.compile("更换机油.*1.5")])
        loaded = ticket.evaluate("document.getElementById('qr').naturalWidth")
        assert loaded > 0
    finally:
        context.close()
    assert problems.unexpected() == []
    orders = workshop.call("GET", "/api/v1/orders", None, shop.headers())[1]["orders"]
    opened_order = next(o for o in orders if o["number"] == 2)
    assert opened_order["wash"] is True and opened_order["promised_at"]
    assert opened_order["items"] == [{"title": "更换机油", "labour_hours": 1.5}]
