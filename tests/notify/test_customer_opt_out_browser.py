"""The customer's "stop messages" in headless Chromium on a phone (390x844,
touch) against a real ``baylight serve``: the control is there for a
customer who agreed to messages, asks once more, opts out through the
page's own post, says so, and the queued messages are suppressed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from shared.persistence.models import RepairOrder
from shared.persistence.notification_models import Notification
from tests.browser_support import PageProblems, fits_the_width
from tests.reception.flow import Workshop, http_call, token_of

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "timezone_id": "UTC",
    "device_scale_factor": 2,
}


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    request.getfixturevalue("live")
    problems = PageProblems()
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    yield page
    context.close()
    assert problems.unexpected() == []


def test_the_customer_stops_the_messages_from_their_phone(live: Any, phone: Page) -> None:
    server, shop = live
    workshop = Workshop(http_call(server.url), shop)
    order = workshop.create(
        customer={
            "name": "张先生",
            "phone": "13800000000",
            "email": "zhang@example.com",
            "notify": ["sms", "email"],
        }
    )
    phone.goto(f"{server.url}/t/{token_of(order)}?lang=zh_Hans")
    section = phone.locator("#notify-section")
    expect(section).to_be_visible()
    expect(phone.locator("#notify-channels")).to_contain_text("短信")
    expect(phone.locator("#notify-channels")).to_contain_text("电子邮件")
    stop = phone.locator("#notify-stop")
    expect(stop).to_have_text("不再接收通知")
    stop.scroll_into_view_if_needed()
    stop.tap()
    # Asked once more; "keep them" changes nothing.
    expect(phone.locator("#notify-confirm-box")).to_be_visible()
    phone.locator("#notify-cancel").tap()
    expect(phone.locator("#notify-confirm-box")).to_be_hidden()
    stop.tap()
    phone.locator("#notify-confirm").tap()
    state = phone.locator("#notify-state")
    expect(state).to_be_visible()
    expect(state).to_have_text("您将不再收到关于这辆车的通知。")
    expect(phone.locator("#notify-stop-box")).to_be_hidden()
    expect(phone.locator("#notify-channels")).to_be_hidden()
    assert fits_the_width(phone)

    with shop.core.db.read() as session:
        row = session.get(RepairOrder, order["id"])
        assert row is not None and row.notify_opt_out == "page"
        left = session.execute(
            select(Notification.status, Notification.reason).where(
                Notification.order_id == order["id"]
            )
        ).all()
    # Nothing waits to be sent any more. (The server's own sender may have
    # dealt with the messages before the tap: with no provider set up here
    # they are suppressed as channel_not_configured; that the opt-out
    # suppresses queued ones is tests/notify/test_api_notifications.py's.)
    assert left and all(status != "queued" for status, _reason in left)

    # Opened again, the page remembers.
    phone.reload()
    expect(phone.locator("#notify-state")).to_be_visible()
    expect(phone.locator("#notify-stop-box")).to_be_hidden()
    # The staff see it.
    assert workshop.get(order["id"])["customer"]["opted_out"] is True
