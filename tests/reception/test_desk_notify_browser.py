"""The customer's messages at the reception desk (issue 17), in headless
Chromium (Debian's) against a real ``baylight serve`` on SQLite: an office
PC with its clock in UTC, the shop in Asia/Shanghai.

At reception the advisor records the customer's e-mail, the channels they
agree to (SMS and e-mail ticked) and their language; the order is opened
with that consent and its "car received" messages are queued. In the
order's details the advisor sees each message with its channel, kind and
status. A message the sender could not deliver surfaces as the desk's
alert ("消息发送失败", the car and the reason), found by the desk's own
half-minute refresh, and in the order's list with its reason. The advisor
sends a one-off message from the desk, which is queued on the customer's
channels with the advisor's words.

The server runs with its sender off (BAYLIGHT_NOTIFY_SENDER=off: a
notify-worker would send), so what the desk shows is what the outbox
holds; the failure is written to the outbox row as the sender records one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select, update

from shared.persistence.models import RepairOrder
from shared.persistence.notification_models import Notification
from shared.services import setup
from shared.services.auth import create_api_token
from tests.booking_pages import contexts_fixture, server_fixture
from tests.browser_support import PageProblems, fits_the_width, install_clock, page_strings
from tests.conftest import LiveServer, Shop

from . import desk_pages
from .desk_pages import fill
from .flow import Workshop, http_call

pytestmark = [pytest.mark.browser]
ADVISOR = "冯顾问"
PASSWORD = "desk-notify-pass-1"
PLATE = "粤B60917"
ONE_OFF = "您好，配件已到，今天下午可以取车。"

server = server_fixture()
desk_contexts = contexts_fixture("desk_contexts")


def advisor_workshop(live: LiveServer, shop: Shop) -> Workshop:
    """The advisor who signs in at the desk, and the API as the desk calls it
    in their name (token ``desk``)."""
    user_id = setup.create_user(
        shop.core, shop.shop_id, role="advisor", name=ADVISOR, password=PASSWORD
    )
    shop.tokens["desk"] = create_api_token(
        shop.core, shop_id=shop.shop_id, role="advisor", name=ADVISOR, user_id=user_id
    )
    return Workshop(http_call(live.url), shop)


def outbox(shop: Shop, order_id: int) -> list[Notification]:
    with shop.core.db.read() as session:
        rows = session.execute(
            select(Notification).where(Notification.order_id == order_id).order_by(Notification.id)
        ).scalars()
        found = list(rows)
        for row in found:
            session.expunge(row)
        return found


def line(words: dict[str, Any], channel: str, kind: str, status: str) -> str:
    """The start of a message's line, as the desk writes it (before the time)."""
    template = words["notify_line"].split("{time}")[0]
    return fill(
        template,
        channel=words["notify_channels"][channel],
        kind=words["notify_kinds"][kind],
        status=words["notify_statuses"][status],
    )


def test_consent_at_reception_the_messages_a_failure_alert_and_a_one_off(
    server: tuple[LiveServer, Shop],
    browser: Browser,
    desk_contexts: list[BrowserContext],
    screenshots: Path,
) -> None:
    live, shop = server
    workshop = advisor_workshop(live, shop)
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
    # The desk's own refresh runs on the page's clock, moved on below.
    install_clock(page)
    page.reload()
    words = page_strings(page)

    # Reception: the customer's e-mail, SMS and e-mail agreed to, English.
    page.locator("#plate").fill(PLATE)
    page.locator("#customer-name").fill("周女士")
    page.locator("#customer-phone").fill("13900001111")
    page.locator("#customer-email").fill("zhou@example.com")
    page.locator("#customer-language").select_option("en")
    page.locator("#notify-sms").check()
    page.locator("#notify-email").check()
    expect(page.locator("#notify-wechat")).not_to_be_checked()
    page.locator("#complaint").fill("取车前请通知")
    page.locator("#create").click()
    expect(page.locator("#created")).to_be_visible()
    with shop.core.db.read() as session:
        row = session.execute(
            select(RepairOrder).where(RepairOrder.shop_id == shop.shop_id)
        ).scalar_one()
        order_id = row.id
        assert row.customer_email == "zhou@example.com"
        assert list(row.customer_notify) == ["sms", "email"]
        assert row.customer_language == "en"
        assert row.notify_consented_at is not None
    order = workshop.get(order_id)
    assert order["customer"]["notify"] == ["sms", "email"]
    queued = outbox(shop, order_id)
    assert [(n.channel, n.kind, n.status) for n in queued] == [
        ("sms", "order_received", "queued"),
        ("email", "order_received", "queued"),
    ]

    # The order's details: each message with its channel, kind and status.
    card = page.locator(f'#orders tbody.order[data-order-id="{order_id}"]')
    card.locator(".toggle-details").click()
    items = card.locator(".notification-list li.notification")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_attribute("data-status", "queued")
    expect(items.nth(0)).to_contain_text(line(words, "sms", "order_received", "queued"))
    expect(items.nth(1)).to_contain_text(line(words, "email", "order_received", "queued"))
    assert words["notify_statuses"]["queued"] == "待发送"
    expect(page.locator("#notify-alerts")).to_be_hidden()

    # The SMS could not be delivered: the sender gave up on the provider.
    with shop.core.db.write() as session:
        session.execute(
            update(Notification)
            .where(Notification.id == queued[0].id)
            .values(status="failed", reason="gave_up", attempts=5)
        )
    page.clock.fast_forward(31_000)
    alert = page.locator("#notify-alerts")
    expect(alert).to_be_visible()
    expect(alert.locator("h2")).to_have_text("消息发送失败")
    failed = alert.locator("li.notify-failed-item")
    expect(failed).to_have_count(1)
    expect(failed.locator(".alert-text")).to_have_text(
        fill(
            words["notify_failed"],
            number=order["number"],
            plate=PLATE,
            channel=words["notify_channels"]["sms"],
            kind=words["notify_kinds"]["order_received"],
            reason=words["notify_reasons"]["gave_up"],
        )
    )
    assert "消息发送失败" in failed.inner_text() and PLATE in failed.inner_text()
    # And in the order's list, with its reason.
    expect(items.nth(0)).to_have_attribute("data-status", "failed")
    expect(items.nth(0).locator(".notification-reason")).to_contain_text(
        words["notify_reasons"]["gave_up"]
    )
    assert fits_the_width(page)
    page.screenshot(path=str(screenshots / "desk-notify-zh_Hans.png"), full_page=False)

    # A one-off message from the desk: queued on the customer's channels.
    form = card.locator("form.one-off-form")
    form.locator("textarea.one-off-text").fill(ONE_OFF)
    form.get_by_role("button", name=words["notify_send"]).click()
    expect(card.locator(".order-message")).to_have_text(words["notify_sent"])
    expect(items).to_have_count(4)
    one_offs = card.locator('.notification-list li[data-kind="one_off"]')
    expect(one_offs).to_have_count(2)
    expect(one_offs.nth(0)).to_contain_text(line(words, "sms", "one_off", "queued"))
    expect(one_offs.nth(0).locator(".notification-text")).to_have_text(ONE_OFF)
    expect(form.locator("textarea.one-off-text")).to_have_value("")
    sent = [n for n in outbox(shop, order_id) if n.kind == "one_off"]
    assert sorted(n.channel for n in sent) == ["email", "sms"]
    assert all(n.facts.get("text") == ONE_OFF and n.by == ADVISOR for n in sent)

    # Seen: the alert is dismissed at this desk.
    failed.get_by_role("button", name=words["notify_dismiss"]).click()
    expect(alert).to_be_hidden()
    assert problems.unexpected() == []


PROVIDER_SAYS = "isv.MOBILE_NUMBER_ILLEGAL <b>号码无效</b>"


def test_an_english_desk_shows_a_provider_s_reason_records_an_opt_out_and_hands_over(
    server: tuple[LiveServer, Shop],
    browser: Browser,
    desk_contexts: list[BrowserContext],
) -> None:
    live, shop = server
    workshop = advisor_workshop(live, shop)
    created = workshop.create(
        plate=PLATE,
        customer={"name": "Ms Chow", "phone": "13900002222", "notify": ["sms"]},
    )
    ready = workshop.finish(workshop.start(created))
    order_id = ready["id"]
    # The provider refused the first SMS with its own words; an advisor's
    # one-off waits in the outbox.
    first = outbox(shop, order_id)[0]
    with shop.core.db.write() as session:
        session.execute(
            update(Notification)
            .where(Notification.id == first.id)
            .values(status="failed", reason=PROVIDER_SAYS, attempts=1)
        )
    workshop._do(
        "POST", f"/api/v1/orders/{order_id}/notifications", {"text": "Parts arrived."}, "desk"
    )
    assert [(n.kind, n.status) for n in outbox(shop, order_id)] == [
        ("order_received", "failed"),
        ("ready_for_pickup", "queued"),
        ("one_off", "queued"),
    ]

    problems = PageProblems()
    page = desk_pages.open_desk(
        browser,
        desk_contexts,
        problems,
        live,
        size=(1280, 800),
        locale="en-US",
        name=ADVISOR,
        password=PASSWORD,
    )
    words = page_strings(page)
    alert = page.locator("#notify-alerts")
    expect(alert.locator("h2")).to_have_text("Messages not delivered")
    expected = fill(
        words["notify_failed"],
        number=ready["number"],
        plate=PLATE,
        channel="SMS",
        kind=words["notify_kinds"]["order_received"],
        reason=PROVIDER_SAYS,
    )
    expect(alert.locator(".alert-text")).to_have_text(expected)
    # The provider's words are data: shown as text, never as markup.
    expect(alert.locator("b")).to_have_count(0)

    # "Show the order" opens its details, where the failure has its reason.
    alert.get_by_role("button", name=words["notify_show"]).click()
    card = page.locator(f'#orders tbody.order[data-order-id="{order_id}"]')
    items = card.locator(".notification-list li.notification")
    expect(items).to_have_count(3)
    expect(items.nth(0).locator(".notification-reason")).to_contain_text(PROVIDER_SAYS)
    expect(items.nth(2).locator(".notification-text")).to_have_text("Parts arrived.")
    # A one-off sent meanwhile from elsewhere shows at once (the live hint,
    # not the half-minute refresh).
    workshop._do(
        "POST", f"/api/v1/orders/{order_id}/notifications", {"text": "Second note."}, "advisor"
    )
    expect(items).to_have_count(4, timeout=5_000)
    expect(items.nth(3).locator(".notification-text")).to_have_text("Second note.")

    # The customer asks the advisor for no more messages: confirmed, recorded.
    card.get_by_role("button", name=words["notify_opt_out"]).click()
    expect(card.locator(".opt-out-confirm-text")).to_have_text(words["notify_opt_out_confirm"])
    card.get_by_role("button", name=words["notify_opt_out_now"]).click()
    expect(card.locator(".order-message")).to_have_text(words["notify_opted_out_done"])
    expect(card.locator(".notify-state.opted-out")).to_have_text(words["notify_opted_out"])
    expect(card.locator("form.one-off-form")).to_have_count(0)
    expect(items.nth(1)).to_have_attribute("data-status", "suppressed")
    expect(items.nth(2).locator(".notification-reason")).to_contain_text(
        words["notify_reasons"]["opted_out"]
    )
    with shop.core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        assert row is not None
        assert row.notify_opted_out_at is not None and row.notify_opt_out == "desk"
    assert [n.status for n in outbox(shop, order_id)] == [
        "failed",
        "suppressed",
        "suppressed",
        "suppressed",
    ]

    # The handover dialog lists the car's messages too.
    card.get_by_role("button", name=words["hand_over"]).click()
    dialog = page.locator("#handover-dialog")
    expect(dialog.locator("#handover-messages li.notification")).to_have_count(4)
    expect(dialog.locator("#handover-messages h3")).to_have_text(words["notify_title"])
    assert fits_the_width(page)
    assert problems.unexpected() == []
