"""Appointments at the reception desk (issue 18), in headless Chromium
(Debian's) against a real ``baylight serve`` on SQLite: an office PC with
its clock in UTC, the shop in Asia/Shanghai (in New York when it is near
midnight in Shanghai: the day's late arrivals need today to have begun an
hour ago, whatever the hour the suite runs at).

The advisor books a phone customer: the plate brings back the returning
car's customer and vehicle, a catalogue item is ticked, a free slot of the
grid is chosen (its load said in words), and the booking is made; the slot
then reads full, and a second booking asked for it is refused with the
nearest free times as buttons, one of which books it.

The day: the arrivals in time order, a late one marked in words; the car
arrives and is checked in from its booking in one step (the order opens
with its queue number, in the shop's list, with its ticket); a booking
past its grace period is marked a no-show at the desk, another by the
shop's keeper (a server of its own whose keeper runs every second) and the
desk hears it; a read of the arrivals answered late does not undo a later
one. The appointments of the day are written to the database as a booking
made earlier would have left them (their times relative to the real clock:
the server's clock is not moved), then every step runs through the page and
the real API.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import APIResponse, Browser, BrowserContext, Page, Route, expect
from sqlalchemy import select

from shared.persistence.appointment_models import Appointment
from shared.persistence.models import RepairOrder
from shared.persistence.models import Shop as ShopRow
from shared.services import setup
from shared.services.appointment_settings import AppointmentSettings
from shared.services.auth import create_api_token
from tests.booking_pages import (
    book,
    booking_live_server,
    contexts_fixture,
    server_fixture,
    zone_clear_of_midnight,
)
from tests.browser_support import PageProblems, page_strings
from tests.conftest import LiveServer, Shop, seed_shop

from . import desk_pages
from .desk_pages import fill
from .flow import Workshop, http_call

pytestmark = [pytest.mark.browser]
ADVISOR = "许顾问"
PASSWORD = "desk-booking-pass-1"
PLATE = "粤B73120"

# The keeper's own server: a round every second. A booking comes due this
# long after it is written, time for the desk to open and show it expected.
KEEPER_EVERY_SECOND: dict[str, float | bool] = {
    "shared.services.appointment_keeper.EVERY_SECONDS": 1.0
}
DUE_IN = timedelta(seconds=8)

server = server_fixture(("advisor", ADVISOR, PASSWORD), timezone=zone_clear_of_midnight)
desk_contexts = contexts_fixture("desk_contexts")


def open_desk(
    browser: Browser, contexts: list[BrowserContext], live: LiveServer, locale: str
) -> tuple[Page, PageProblems]:
    problems = PageProblems()
    page = desk_pages.open_desk(
        browser,
        contexts,
        problems,
        live,
        size=(1366, 768),
        locale=locale,
        name=ADVISOR,
        password=PASSWORD,
    )
    return page, problems


def booked(shop: Shop) -> list[Appointment]:
    with shop.core.db.read() as session:
        rows = list(
            session.execute(
                select(Appointment)
                .where(Appointment.shop_id == shop.shop_id)
                .order_by(Appointment.id)
            ).scalars()
        )
        for row in rows:
            session.expunge(row)
        return rows


# The page's finished reads of today's arrivals, from the browser's own
# record of its requests (Resource Timing).
ARRIVALS_READ_TWICE = """() => performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/api/v1/appointments?date=") && e.responseEnd > 0)
    .length >= 2"""


# How many reads of today's arrivals the page has had answered.
ARRIVALS_READS = """() => performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/api/v1/appointments?date=") && e.responseEnd > 0)
    .length"""


def shop_zone(shop: Shop) -> ZoneInfo:
    with shop.core.db.read() as session:
        return ZoneInfo(session.get(ShopRow, shop.shop_id).timezone)


def put_booking(shop: Shop, plate: str, start: datetime, name: str, **more: Any) -> int:
    """An appointment as a booking made earlier left it (booked, confirmed)."""
    earlier = datetime.now(UTC) - timedelta(days=1)
    return book(
        shop,
        plate,
        start,
        customer_name=name,
        customer_phone="13800001234",
        customer_notify=["sms"],
        vehicle_model="比亚迪 秦PLUS",
        complaint="保养",
        created_at=earlier,
        updated_at=earlier,
        by=ADVISOR,
        **more,
    )


def test_advisor_books_a_returning_car_into_a_free_slot(
    server: tuple[LiveServer, Shop], browser: Browser, desk_contexts: list[BrowserContext]
) -> None:
    live, shop = server
    shop.tokens["desk"] = create_api_token(
        shop.core, shop_id=shop.shop_id, role="advisor", name=ADVISOR
    )
    workshop = Workshop(http_call(live.url), shop)
    # The car came before: the desk's vehicle history knows its customer.
    workshop.create(
        plate=PLATE,
        customer={"name": "唐先生", "phone": "13911112222"},
        vehicle={"model": "丰田 凯美瑞", "vin": "LVGBE40K28G123456", "mileage": 42000},
    )
    page, problems = open_desk(browser, desk_contexts, live, "zh-CN")
    words = page_strings(page)

    # The booking opens on demand (the desk stays one screen tall).
    expect(page.locator("#appt-form")).to_be_hidden()
    page.locator("#appt-booking summary").click()
    form = page.locator("#appt-form")
    form.locator("#appt-plate").fill(PLATE)
    form.locator("#appt-plate").press("Tab")
    expect(form.locator("#appt-name")).to_have_value("唐先生")
    expect(form.locator("#appt-phone")).to_have_value("13911112222")
    expect(form.locator("#appt-model")).to_have_value("丰田 凯美瑞")
    expect(page.locator("#appt-history")).to_have_text(fill(words["returning"], count=1))
    form.locator("#appt-notify-sms").check()
    service = page.locator('#appt-catalogue input[data-key="service"]')
    service.check()
    expect(page.locator("#appt-total")).to_have_text(fill(words["appt_hours_total"], hours="1.0"))

    # A free slot of the next days: its load in words, then chosen.
    free = page.locator('#appt-grid button.slot[data-load="free"]').first
    expect(free).to_have_text(words["appt_load"]["free"])
    assert words["appt_load"]["free"] == "空闲"
    start = free.get_attribute("data-start")
    assert start
    free.click()
    expect(free).to_have_attribute("aria-pressed", "true")
    page.locator("#appt-book").click()
    expect(page.locator("#appt-booked")).to_contain_text(PLATE)

    rows = booked(shop)
    assert len(rows) == 1
    row = rows[0]
    assert row.status == "booked" and row.source == "desk"
    assert row.customer_name == "唐先生" and row.customer_phone == "13911112222"
    assert list(row.customer_notify) == ["sms"]
    assert row.items == [{"title": "常规保养", "labour_hours": 1.0, "bay_kind": "general"}]
    assert row.start.replace(tzinfo=UTC) == datetime.fromisoformat(start).astimezone(UTC)
    # The form is cleared for the next call; the slot now reads full.
    expect(form.locator("#appt-plate")).to_have_value("")
    taken = page.locator(f'#appt-grid button.slot[data-start="{start}"]')
    expect(taken).to_have_attribute("data-load", "full")
    expect(taken).to_have_text(words["appt_load"]["full"])

    # Another customer wants the same time: refused, with the nearest free
    # times as buttons; one of them books it. (The browser logs the 409.)
    problems.allow("status of 409")
    form.locator("#appt-plate").fill("粤B55501")
    form.locator("#appt-name").fill("钱女士")
    page.locator('#appt-catalogue input[data-key="brake_pads"]').check()
    taken.click()
    page.locator("#appt-book").click()
    offered = page.locator("#appt-alternatives button.alternative")
    expect(offered.first).to_be_visible()
    expect(page.locator("#appt-alternatives")).to_contain_text(
        words["appt_refusals"]["reception_full"]
    )
    other = offered.first.get_attribute("data-start")
    assert other and other != start
    offered.first.click()
    expect(page.locator("#appt-booked")).to_contain_text("粤B55501")
    rows = booked(shop)
    assert [r.plate for r in rows] == [PLATE, "粤B55501"]
    assert rows[1].start.replace(tzinfo=UTC) == datetime.fromisoformat(other).astimezone(UTC)
    assert not problems.unexpected(), problems.errors


def test_arrivals_check_in_in_one_step_and_a_no_show_after_the_grace_period(
    server: tuple[LiveServer, Shop], browser: Browser, desk_contexts: list[BrowserContext]
) -> None:
    live, shop = server
    now = datetime.now(UTC)
    # One car 5 minutes late (within the 30-minute grace), one 45 minutes
    # late (past it), one due later today.
    late = put_booking(shop, PLATE, now - timedelta(minutes=5), "唐先生")
    gone = put_booking(shop, "粤B00417", now - timedelta(minutes=45), "孙先生")
    page, problems = open_desk(browser, desk_contexts, live, "zh-CN")
    words = page_strings(page)

    items = page.locator("#appt-arrivals li.appt-arrival")
    expect(items).to_have_count(2)
    # In time order: the earlier booking first.
    expect(items.nth(0)).to_have_attribute("data-id", str(gone))
    expect(items.nth(1)).to_have_attribute("data-id", str(late))
    first = items.nth(1)
    expect(first.locator(".appt-late")).to_have_text(fill(words["appt_late"], minutes=5))
    assert words["appt_late"].startswith("迟到")
    expect(first.locator(".appt-no-show")).to_have_count(0)
    expect(items.nth(0).locator(".appt-no-show")).to_be_visible()

    # The car is here: checked in from its booking in one step.
    first.locator(".appt-check-in").click()
    done = page.locator("#appt-checkin-done")
    expect(done).to_be_visible()
    with shop.core.db.read() as session:
        order = session.execute(
            select(RepairOrder).where(RepairOrder.shop_id == shop.shop_id)
        ).scalar_one()
        number, order_id = order.number, order.id
        assert order.plate == PLATE and order.customer_name == "唐先生"
    expect(page.locator("#appt-checkin-text")).to_have_text(
        fill(words["appt_checked_in"], number=number)
    )
    expect(page.locator("#appt-ticket-a5")).to_have_attribute("href", f"/orders/{order_id}/ticket")
    # The new order is in the shop's list, and the booking says checked in.
    expect(page.locator(f'#orders tbody.order[data-order-id="{order_id}"]')).to_contain_text(PLATE)
    expect(first).to_have_class("appt-arrival status-checked_in")
    expect(first.locator(".appt-status")).to_have_text(words["appt_statuses"]["checked_in"])
    rows = {r.id: r for r in booked(shop)}
    assert rows[late].status == "checked_in" and rows[late].order_id == order_id

    # Past its grace period: marked a no-show at the desk.
    items.nth(0).locator(".appt-no-show").click()
    expect(page.locator("#appt-arrivals-message")).to_have_text(words["appt_no_show_done"])
    expect(items.nth(0).locator(".appt-status")).to_have_text(words["appt_statuses"]["no_show"])
    assert {r.id: r.status for r in booked(shop)}[gone] == "no_show"

    assert not problems.unexpected(), problems.errors


def test_an_arrivals_read_answered_late_does_not_bring_the_booking_back(
    server: tuple[LiveServer, Shop], browser: Browser, desk_contexts: list[BrowserContext]
) -> None:
    """Two reads of the arrivals in flight, the earlier answered last: a read
    sent before another desk marked a no-show, answered after the read that
    change's message sent, must not show the car as booked again."""
    live, shop = server
    gone = put_booking(shop, "粤B00431", datetime.now(UTC) - timedelta(minutes=40), "吴先生")
    page, problems = open_desk(browser, desk_contexts, live, "zh-CN")
    words = page_strings(page)
    row = page.locator(f'#appt-arrivals li[data-id="{gone}"]')
    expect(row.locator(".appt-status")).to_have_text(words["appt_statuses"]["booked"])
    page.wait_for_function(ARRIVALS_READ_TWICE)  # the snapshot's resync is in

    held: list[tuple[Route, APIResponse]] = []

    def hold(route: Route) -> None:
        held.append((route, route.fetch()))  # answered before the no-show

    # Only this read is held; the one the no-show's message sends goes
    # straight through.
    page.route("**/api/v1/appointments?date=*", hold, times=1)
    before = page.evaluate(ARRIVALS_READS)
    page.evaluate("window.Baylight.deskAppointments.resync()")
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    [(route, stale)] = held
    shop.tokens["desk"] = create_api_token(
        shop.core, shop_id=shop.shop_id, role="advisor", name="another desk"
    )
    answer = requests.post(
        f"{live.url}/api/v1/appointments/{gone}/no-show",
        json={"version": 1},
        headers=shop.headers("desk", key=secrets.token_hex(16)),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    expect(row.locator(".appt-status")).to_have_text(words["appt_statuses"]["no_show"])
    route.fulfill(response=stale)  # the older answer, last
    page.wait_for_function(f"() => ({ARRIVALS_READS})() >= {before + 2}")
    expect(row.locator(".appt-status")).to_have_text(words["appt_statuses"]["no_show"])
    assert not problems.unexpected(), problems.errors


@pytest.fixture
def keeping_server(tmp_path: Path, migrated_template: Path) -> Iterator[tuple[LiveServer, Shop]]:
    """A server of this test's own whose appointment keeper runs every
    second (the module's shared server is kept from running a round)."""
    live, core = booking_live_server(tmp_path, migrated_template, KEEPER_EVERY_SECOND)
    shop = seed_shop(core, slug="keeper", timezone=zone_clear_of_midnight())
    setup.create_user(core, shop.shop_id, role="advisor", name=ADVISOR, password=PASSWORD)
    live.start()
    try:
        yield live, shop
    finally:
        live.stop()
        core.db.dispose()


def test_the_servers_keeper_marks_a_no_show_and_the_desk_hears_it(
    keeping_server: tuple[LiveServer, Shop], browser: Browser
) -> None:
    """The shop's keeper (a task of ``serve``, here every second) marks a
    booking past its grace period as a no-show, and the open desk shows it
    on the staff room's message, without a click or a reload: the booking
    comes due a few seconds after the desk has shown it as expected."""
    live, shop = keeping_server
    grace = timedelta(minutes=AppointmentSettings().grace_minutes)
    third = put_booking(shop, "粤B00420", datetime.now(UTC) - grace + DUE_IN, "周先生")
    contexts: list[BrowserContext] = []
    try:
        kept_by_the_server(browser, contexts, live, shop, third)
    finally:
        for context in contexts:
            context.close()


def kept_by_the_server(
    browser: Browser, contexts: list[BrowserContext], live: LiveServer, shop: Shop, third: int
) -> None:
    page, problems = open_desk(browser, contexts, live, "zh-CN")
    words = page_strings(page)
    kept = page.locator(f'#appt-arrivals li[data-id="{third}"]')
    expect(kept.locator(".appt-status")).to_have_text(words["appt_statuses"]["booked"])
    page.evaluate("window.notReloaded = true")
    expect(kept.locator(".appt-status")).to_have_text(
        words["appt_statuses"]["no_show"], timeout=30_000
    )
    expect(kept.locator(".appt-no-show")).to_have_count(0)
    assert page.evaluate("window.notReloaded === true")
    assert {r.id: r.status for r in booked(shop)}[third] == "no_show"
    assert not problems.unexpected(), problems.errors


def test_en_cancel_with_a_reason_and_reschedule_through_the_grid(
    server: tuple[LiveServer, Shop], browser: Browser, desk_contexts: list[BrowserContext]
) -> None:
    live, shop = server
    now = datetime.now(UTC)
    keep = put_booking(shop, PLATE, now - timedelta(minutes=2), "Tang")
    drop = put_booking(shop, "粤B00418", now - timedelta(minutes=1), "Sun")
    page, problems = open_desk(browser, desk_contexts, live, "en-US")
    words = page_strings(page)
    assert words["appt_cancel"] == "Cancel the appointment…"

    cancel = page.locator(f'#appt-arrivals li[data-id="{drop}"]')
    cancel.locator(".appt-cancel-open").click()
    cancel.locator(".appt-cancel button[type=submit]").click()
    expect(page.locator("#appt-arrivals-message")).to_have_text(words["appt_cancel_missing"])
    cancel.locator(".appt-cancel-reason").fill("Customer's car sold")
    cancel.locator(".appt-cancel button[type=submit]").click()
    expect(page.locator("#appt-arrivals-message")).to_have_text(words["appt_cancelled"])
    expect(cancel.locator(".appt-status")).to_have_text("Cancelled")
    row = {r.id: r for r in booked(shop)}[drop]
    assert row.status == "cancelled" and row.cancel_reason == "Customer's car sold"

    # Another desk cancels a booking (through the API): this desk hears it
    # on the staff room's socket and shows it so, without a reload.
    other = put_booking(shop, "粤B00419", now - timedelta(minutes=3), "Li")
    page.reload()
    remote = page.locator(f'#appt-arrivals li[data-id="{other}"]')
    expect(remote.locator(".appt-status")).to_have_text("Expected")
    shop.tokens["desk"] = create_api_token(
        shop.core, shop_id=shop.shop_id, role="advisor", name="another desk"
    )
    answer = requests.post(
        f"{live.url}/api/v1/appointments/{other}/cancel",
        json={"version": 1, "reason": "called to cancel"},
        headers=shop.headers("desk", key=secrets.token_hex(16)),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    expect(remote.locator(".appt-status")).to_have_text("Cancelled")

    # Reschedule: the grid again, for this booking's work. The time asked
    # for was taken meanwhile (booked elsewhere): refused with the nearest
    # free times, one of which the move takes.
    # A free time on a later day (the move must take the car off today's
    # arrivals), late enough in that day that the nearest free times
    # offered instead are on it too.
    free = page.locator('#appt-grid button.slot[data-load="free"]')
    expect(free.first).to_be_attached()
    zone = shop_zone(shop)
    today = datetime.now(zone).date()
    wanted = next(
        start
        for start in free.evaluate_all("slots => slots.map((s) => s.dataset.start)")
        if datetime.fromisoformat(start).astimezone(zone).date() > today
        and datetime.fromisoformat(start).astimezone(zone).hour >= 10
    )
    put_booking(shop, "粤B00421", datetime.fromisoformat(wanted).astimezone(UTC), "Zhou")
    move = page.locator(f'#appt-arrivals li[data-id="{keep}"]')
    move.locator(".appt-move").click()
    expect(page.locator("#appt-rescheduling-text")).to_have_text(
        fill(words["appt_rescheduling"], plate=PLATE)
    )
    expect(page.locator("#appt-book")).to_be_hidden()
    problems.allow("status of 409")
    page.locator(f'#appt-grid button.slot[data-start="{wanted}"]').click()
    page.locator("#appt-reschedule-now").click()
    offered = page.locator("#appt-alternatives button.alternative")
    expect(offered.first).to_be_visible()
    start = offered.first.get_attribute("data-start")
    assert start and start != wanted
    offered.first.click()
    expect(page.locator("#appt-arrivals-message")).to_contain_text("Moved to")
    expect(page.locator("#appt-rescheduling")).to_be_hidden()
    row = {r.id: r for r in booked(shop)}[keep]
    assert row.status == "booked" and row.version == 2
    assert row.start.replace(tzinfo=UTC) == datetime.fromisoformat(start).astimezone(UTC)
    # Moved off today: no longer among today's arrivals.
    expect(move).to_have_count(0)
    assert not problems.unexpected(), problems.errors


def test_a_booking_changed_meanwhile_is_shown_as_it_is_now_then_checked_in(
    server: tuple[LiveServer, Shop], browser: Browser, desk_contexts: list[BrowserContext]
) -> None:
    live, shop = server
    now = datetime.now(UTC)
    booking = put_booking(shop, PLATE, now - timedelta(minutes=1), "Tang")
    page, problems = open_desk(browser, desk_contexts, live, "en-US")
    words = page_strings(page)
    item = page.locator(f'#appt-arrivals li[data-id="{booking}"]')
    expect(item.locator(".appt-status")).to_have_text("Expected")
    # The desk reads the arrivals as it starts and again once its socket
    # has its snapshot (a resync): the change comes after both, or that
    # second read (late on a loaded machine) would already see it.
    page.wait_for_function(ARRIVALS_READ_TWICE)
    # Changed behind the desk's back (no message reached it): the customer
    # confirmed from their link, say; the desk still holds version 1.
    with shop.core.db.write() as session:
        row = session.get(Appointment, booking)
        assert row is not None
        row.version = 2
        row.confirmed_at = now
    problems.allow("status of 409")
    item.locator(".appt-check-in").click()
    expect(page.locator("#appt-arrivals-message")).to_have_text(words["appt_stale"])
    expect(item.locator(".appt-flags")).to_contain_text(words["appt_confirmed"])
    assert {r.id: r.status for r in booked(shop)}[booking] == "booked"
    # Read again, the check-in goes through with the new version.
    item.locator(".appt-check-in").click()
    expect(page.locator("#appt-checkin-done")).to_be_visible()
    assert {r.id: r.status for r in booked(shop)}[booking] == "checked_in"
    assert not problems.unexpected(), problems.errors
