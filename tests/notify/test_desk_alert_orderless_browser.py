"""The desk's alert for a failed message without an order (an appointment's
reminder), in headless Chromium against a real ``baylight serve`` on
SQLite: the line names the channel, the kind, the appointment's time, its
masked plate and the reason, and no queue number (there is none); there is
no "show the order" button. The sender is off; the failure is written to
the outbox row as the sender records one."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from shared.persistence.notification_models import Notification
from shared.services import setup
from tests.booking_pages import book, contexts_fixture, server_fixture
from tests.browser_support import PageProblems, page_strings
from tests.conftest import LiveServer, Shop
from tests.reception import desk_pages

pytestmark = [pytest.mark.browser]
ADVISOR = "冯顾问"
PASSWORD = "desk-notify-pass-2"
PLATE = "沪A12345"

server = server_fixture()
desk_contexts = contexts_fixture("desk_contexts")


def failed_reminder(shop: Shop, start: datetime) -> int:
    """A booked appointment whose reminder the provider refused."""
    now = datetime.now(UTC)
    appointment_id = book(
        shop,
        PLATE,
        start,
        customer_name="张先生",
        customer_phone="13800000000",
        customer_notify=["sms"],
        items=[],
        token=secrets.token_urlsafe(24),
    )
    with shop.core.db.write() as session:
        session.add(
            Notification(
                shop_id=shop.shop_id,
                order_id=None,
                kind="appointment_reminder",
                channel="sms",
                dedupe_key=f"{shop.shop_id}-appt-{appointment_id}-two_hours-sms",
                facts={
                    "appointment_id": appointment_id,
                    "start": start.isoformat(),
                    "when": "two_hours",
                },
                recipient="13800000000",
                locale="zh_Hans",
                text="",
                status="failed",
                reason="invalid number",
                attempts=1,
                not_before=now,
                claimed_by="",
                provider_id="",
                created_at=now,
                updated_at=now,
                by="",
            )
        )
    return appointment_id


def test_a_failed_reminder_is_on_the_desks_alert_without_an_order(
    server: tuple[LiveServer, Shop], browser: Browser, desk_contexts: list[BrowserContext]
) -> None:
    live, shop = server
    setup.create_user(shop.core, shop.shop_id, role="advisor", name=ADVISOR, password=PASSWORD)
    start = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    appointment_id = failed_reminder(shop, start)
    problems = PageProblems()
    page: Page = desk_pages.open_desk(
        browser,
        desk_contexts,
        problems,
        live,
        size=(1366, 768),
        locale="zh-CN",
        name=ADVISOR,
        password=PASSWORD,
    )
    words = page_strings(page)
    alert = page.locator("#notify-alerts")
    expect(alert).to_be_visible()
    item = alert.locator("li.notify-failed-item")
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-appointment-id", str(appointment_id))
    text = item.locator(".alert-text").inner_text()
    assert words["notify_channels"]["sms"] in text
    assert words["notify_kinds"]["appointment_reminder"] in text
    assert "沪A·***45" in text and PLATE not in text and "invalid number" in text
    local = start.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{local:%H:%M}" in text
    assert "undefined" not in text and "null" not in text
    expect(item.locator("button.notify-show")).to_have_count(0)
    assert problems.unexpected() == []
