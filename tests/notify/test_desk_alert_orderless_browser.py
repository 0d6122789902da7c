"""The desk's alert for a failed message without an order (an appointment's
reminder), in headless Chromium against a real ``baylight serve`` on
SQLite: the line names the channel, the kind, the appointment's time, its
masked plate and the reason, and no queue number (there is none); there is
no "show the order" button. The sender is off; the failure is written to
the outbox row as the sender records one."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from shared.persistence.appointment_models import Appointment
from shared.persistence.notification_models import Notification
from shared.services import setup
from tests.browser_support import PageProblems, page_strings
from tests.conftest import (
    LiveServer,
    Shop,
    free_port,
    migrated_copy,
    offline_core,
    seed_shop,
    server_env,
)
from tests.reception import desk_pages

pytestmark = [pytest.mark.browser]
ADVISOR = "冯顾问"
PASSWORD = "desk-notify-pass-2"
PLATE = "沪A12345"


@pytest.fixture
def server(tmp_path: Path, migrated_template: Path) -> Iterator[tuple[LiveServer, Shop]]:
    database_url = migrated_copy(migrated_template, tmp_path / "live.db")
    shop = seed_shop(offline_core(database_url, tmp_path))
    port = free_port()
    env = server_env(database_url, port, tmp_path, "eventlet", BAYLIGHT_NOTIFY_SENDER="off")
    live = LiveServer(env, port, tmp_path / "server.log")
    live.start()
    yield live, shop
    live.stop()
    shop.core.db.dispose()


@pytest.fixture
def desk_contexts(
    browser: Browser, server: tuple[LiveServer, Shop]
) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def failed_reminder(shop: Shop, start: datetime) -> int:
    """A booked appointment whose reminder the provider refused."""
    now = datetime.now(UTC)
    with shop.core.db.write() as session:
        row = Appointment(
            shop_id=shop.shop_id,
            plate=PLATE,
            customer_name="张先生",
            customer_phone="13800000000",
            customer_notify=["sms"],
            items=[],
            start=start,
            status="booked",
            token=secrets.token_urlsafe(24),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        session.add(
            Notification(
                shop_id=shop.shop_id,
                order_id=None,
                kind="appointment_reminder",
                channel="sms",
                dedupe_key=f"{shop.shop_id}-appt-{row.id}-two_hours-sms",
                facts={"appointment_id": row.id, "start": start.isoformat(), "when": "two_hours"},
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
        return row.id


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
