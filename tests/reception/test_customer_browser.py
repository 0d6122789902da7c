"""The customer's phone page in headless Chromium against a real
``baylight serve`` (eventlet): live stage, two quotes (approve one, decline
the other) by POST, ready, handover, the survey once; and screenshots of the
page in Simplified Chinese and English (for docs/screenshots/ when
BAYLIGHT_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from shared.services import setup
from shared.services.auth import create_api_token
from tests.browser_support import PageProblems

from .flow import Workshop, http_call, token_of

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]
ADVISOR_PHONE = "020-8888 6666"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
Live = tuple[Any, Any]


@pytest.fixture
def phone_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def phone(
    browser: Browser, request: pytest.FixtureRequest, phone_problems: PageProblems
) -> Iterator[Page]:
    """A phone-sized page (iPhone 12-like) whose language is the parameter,
    failing the test on any console error or uncaught exception."""
    locale = getattr(request, "param", "zh-CN")
    context = browser.new_context(locale=locale, device_scale_factor=2, **PHONE)
    page = context.new_page()
    page.on("console", phone_problems.on_console)
    page.on("pageerror", phone_problems.on_page_error)
    yield page
    context.close()
    assert phone_problems.unexpected() == []


def with_advisor(shop: Any) -> Any:
    """Orders opened by a signed-up advisor with a phone (as at the real desk)."""
    user_id = setup.create_user(
        shop.core, shop.shop_id, role="advisor", name="陈顾问", phone=ADVISOR_PHONE
    )
    shop.tokens["desk"] = create_api_token(
        shop.core, shop_id=shop.shop_id, role="advisor", name="陈顾问", user_id=user_id
    )
    return shop


def labels(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("JSON.parse(document.getElementById('strings').textContent)"))


def test_customer_follows_approves_declines_and_rates(live: Live, phone: Page) -> None:
    server, shop = live
    workshop = Workshop(http_call(server.url), with_advisor(shop))
    order = workshop.create(role="desk")
    token = token_of(order)

    phone.goto(f"{server.url}/t/{token}")
    text = labels(phone)
    expect(phone.locator("#advisor-phone")).to_have_attribute("href", f"tel:{ADVISOR_PHONE}")
    stage = phone.locator("#stage")
    expect(stage).to_have_text(text["stages"]["checked_in"])
    expect(phone.locator("#plate")).to_have_text("粤B12345")
    expect(phone.locator("#timeline li.current")).to_have_attribute("data-stage", "checked_in")

    # A change made over REST reaches the phone live.
    order = workshop.start(order)
    expect(stage).to_have_text(text["stages"]["in_progress"])
    expect(phone.locator("#updated")).to_contain_text(":")
    expect(phone.locator('#timeline li[data-stage="dispatched"] time')).not_to_be_empty()

    # Two quotes: the order waits for the customer.
    workshop.quote(order, "更换前刹车片", 1.5, 68000)
    order = workshop.get(order["id"])
    workshop.quote(order, "更换空调滤芯", 0.3, 12000)
    quotes = phone.locator("#quotes li.quote")
    expect(quotes).to_have_count(2)
    expect(stage).to_have_text(text["stages"]["paused"])
    holds = dict(phone.evaluate("JSON.parse(document.getElementById('hold-strings').textContent)"))
    # Two quotes, one thing to ask of the customer: their OK.
    expect(phone.locator("#pause li")).to_have_text([holds["approval"]])

    phone.locator('li[data-quote-id="1"] button.approve').tap()
    expect(phone.locator('li[data-quote-id="1"] .decision')).to_contain_text(text["approved"])
    phone.locator('li[data-quote-id="2"] button.decline').tap()
    expect(phone.locator('li[data-quote-id="2"] .decision')).to_contain_text(text["declined"])
    # Nothing left to wait for: the car stays paused until its technician
    # resumes the work (a decision never restarts it by itself).
    expect(phone.locator("#pause li")).to_have_count(0)
    expect(stage).to_have_text(text["stages"]["paused"])
    order = workshop.resume(workshop.get(order["id"]))
    expect(stage).to_have_text(text["stages"]["in_progress"])

    history = workshop.get(order["id"])["history"]
    decisions = [e["data"] for e in history if e["type"] == "extra_work_decided"]
    assert [(d["quote_id"], d["approved"], d["channel"]) for d in decisions] == [
        (1, True, "customer_page"),
        (2, False, "customer_page"),
    ]

    order = workshop.finish(order)
    expect(phone.locator("#ready-banner")).to_have_text(text["ready"])
    expect(stage).to_have_text(text["stages"]["ready"])

    workshop.hand_over(order)
    expect(phone.locator("#survey-form")).to_be_visible()
    phone.locator(".star span").nth(3).tap()
    phone.locator("#survey-comment").fill("师傅很专业")
    phone.locator("#survey-submit").tap()
    expect(phone.locator("#survey-result")).to_have_text(text["survey_thanks"])
    expect(phone.locator("#survey-form")).to_be_hidden()

    # Once: after a reload the form stays closed, and the API refuses a second one.
    phone.reload()
    expect(phone.locator("#survey-result")).to_have_text(text["survey_done"])
    expect(phone.locator("#survey-form")).to_be_hidden()
    again = requests.post(
        f"{server.url}/api/v1/track/{token}/survey", json={"rating": 1}, timeout=10
    )
    assert again.status_code == 409 and again.json()["code"] == "already_submitted"
    rated = workshop.get(order["id"])["history"]
    assert [e["data"]["rating"] for e in rated if e["type"] == "survey_submitted"] == [4]


def test_a_reissued_link_shows_nothing_any_more(
    live: Live, phone: Page, phone_problems: PageProblems
) -> None:
    server, shop = live
    workshop = Workshop(http_call(server.url), shop)
    order = workshop.create()
    phone.goto(f"{server.url}/t/{token_of(order)}")
    expect(phone.locator("#plate")).to_have_text("粤B12345")
    reply = requests.post(
        f"{server.url}/desk/api/orders/{order['id']}/customer-link",
        json={"reason": "lost"},
        headers=shop.headers("advisor", key="reissue"),
        timeout=10,
    )
    assert reply.status_code == 200
    phone_problems.allow("status of 404")  # the old link's page is a 404 on purpose
    phone.reload()
    expect(phone.locator("#gone")).to_be_visible()
    assert "粤B12345" not in phone.content()


@pytest.mark.parametrize(
    ("phone", "name"),
    [("zh-CN", "zh_Hans"), ("en-US", "en")],
    indirect=["phone"],
)
def test_screenshots_of_the_customer_page(
    live: Live, phone: Page, name: str, screenshots: Path
) -> None:
    server, shop = live
    workshop = Workshop(http_call(server.url), with_advisor(shop))
    car = {"model": "丰田凯美瑞 2.5L", "mileage": 42000}
    order = workshop.start(workshop.create(role="desk", vehicle=car))
    workshop.quote(order, "更换前刹车片（已磨损至 2 mm）", 1.5, 68000)
    phone.goto(f"{server.url}/t/{token_of(order)}")
    expect(phone.locator("#quotes li.quote")).to_have_count(1)
    expect(phone.locator("html")).to_have_attribute("lang", name.replace("_", "-"))
    phone.screenshot(path=str(screenshots / f"customer-{name}.png"), full_page=True)


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
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
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
        expect(desk.locator("#orders li.order")).to_have_count(2)

        with context.expect_page() as opened:
            desk.click("#ticket-a5")
        ticket = opened.value
        ticket.wait_for_load_state()
        expect(ticket.locator("#queue-number")).to_have_text("2")
        expect(ticket.locator("#plate")).to_have_text("粤B12345")
        loaded = ticket.evaluate("document.getElementById('qr').naturalWidth")
        assert loaded > 0
    finally:
        context.close()
    assert problems.unexpected() == []
    orders = workshop.call("GET", "/api/v1/orders", None, shop.headers())[1]["orders"]
    opened_order = next(o for o in orders if o["number"] == 2)
    assert opened_order["wash"] is True and opened_order["promised_at"]
    assert opened_order["items"] == [{"title": "更换机油", "labour_hours": 1.5}]
