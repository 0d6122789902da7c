"""The lounge's wait from the shop-load engine, through the real services on a
real database (and, at the end, on the TV in Chromium against a real server).

The wait is the engine's: cars the plan starts before a car checking in now,
and a range around that start, never a four-digit number of minutes (the old
formula divided the whole backlog by one technician: 14 cars, one
technician, "约 2010 分钟"). Past the shop's cap the TV is told only when
work should start. The figures follow every change, on the socket the TV
asks them from. On the TV: the range, "today/tomorrow, after HH:MM" or the
date, each in the shop's time zone with the browser in UTC; a car carried
over from yesterday wears its day beside its number; two cars whose masked
plates read the same show one character more.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from shared.domain import planner
from shared.domain.events import WorkItem
from shared.persistence.models import Shop as ShopRow
from shared.persistence.models import StaffUser
from shared.services import orders, queries, shop_load
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.services.core import Core
from shared.web.openapi import document
from tests.browser_support import PageProblems, install_clock
from tests.conftest import HandClock
from tests.test_openapi import violations

from .conftest import Live, create_offline, create_order, page_strings, pair

pytestmark = [pytest.mark.server_per_module]

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Tuesday, an ordinary working day (08:30–18:00 by default), mid-morning.
START = datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
FOUR_DIGITS = re.compile(r"\d{4,}")


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(START)
    core.clock = fixed
    return fixed


def caller(core: Core, shop: Any, role: str) -> CommandRequest:
    principal = resolve_bearer(core, shop.tokens[role])
    assert principal is not None
    return CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)


def check_in(core: Core, shop: Any, plate: str, hours: float) -> dict[str, Any]:
    """A lounge customer's car, promised at the end of the day."""
    return orders.create_order(
        core,
        caller(core, shop, "advisor"),
        plate=plate,
        items=[WorkItem("保养", hours)],
        promised_at=START.replace(hour=17),
        waiting=True,
    ).body


def set_settings(core: Core, shop_id: int, **values: Any) -> None:
    with core.db.write() as session:
        row = session.get(ShopRow, shop_id)
        assert row is not None
        row.settings = {**(row.settings or {}), **values}


def one_technician(core: Core, shop: Any) -> None:
    with core.db.write() as session:
        session.execute(
            update(StaffUser).where(StaffUser.id == shop.technicians[1]).values(active=False)
        )


def engine_start(core: Core, shop_id: int) -> tuple[datetime, datetime]:
    """(now, when the engine starts a lounge car of the lounge's default
    hours checking in now), asked as the desk asks for a promise: the same
    plan with the same new car, by another road than the lounge's."""
    load = shop_load.load_of(core, shop_id)
    offered = planner.promise(
        shop_load.plan_of(load),
        load.calendar,
        load.orders,
        planner.LOUNGE_DEFAULT_HOURS,
        True,
    )
    return load.now, offered.starts_at


# ------------------------------------------------------------ the services


def test_fourteen_cars_and_one_technician_never_give_four_digit_minutes(
    core: Core, shop: Any, clock: HandClock
) -> None:
    one_technician(core, shop)
    schema = document()["components"]["schemas"]["LoungeQueue"]
    for count in range(14):
        queue = queries.lounge_queue(core, shop.shop_id)
        assert not violations(queue, schema, document()), queue
        assert queue["ahead"] == count
        for key in ("low_minutes", "high_minutes"):
            assert not FOUR_DIGITS.search(str(queue[key])), queue
        if queue["after"] is None:
            assert queue["low_minutes"] < queue["high_minutes"] <= 180, queue
        else:
            assert queue["low_minutes"] is None and queue["high_minutes"] is None
        check_in(core, shop, f"粤B1{count:04d}", hours=2.5)
    # 35 hours of work on one technician: the minutes would be in the
    # thousands, so the TV is told when work starts, days ahead, in the
    # shop's zone; the engine starts it there.
    queue = queries.lounge_queue(core, shop.shop_id)
    assert queue["ahead"] == 14 and queue["high_minutes"] is None
    after = datetime.fromisoformat(queue["after"])
    assert after.utcoffset() == timedelta(hours=8)
    assert after == engine_start(core, shop.shop_id)[1]
    assert after.date() > START.date() + timedelta(days=2)


def test_the_range_brackets_the_engines_start(core: Core, shop: Any, clock: HandClock) -> None:
    for plate in ("粤B10001", "粤B10002", "粤B10003"):
        check_in(core, shop, plate, hours=1.5)
    queue = queries.lounge_queue(core, shop.shop_id)
    now, start = engine_start(core, shop.shop_id)
    # Two technicians take two cars now and the third after them; a car
    # checking in now starts when the other technician is free, 90 min on,
    # with the third: two cars start before it.
    assert start == START + timedelta(minutes=90)
    minutes = (start - now).total_seconds() / 60
    assert queue["ahead"] == 2 and queue["after"] is None
    assert queue["low_minutes"] < minutes < queue["high_minutes"] <= 180
    assert queue["low_minutes"] % 5 == 0 and queue["high_minutes"] % 5 == 0


def test_the_cap_turns_the_minutes_into_after_when(core: Core, shop: Any, clock: HandClock) -> None:
    for plate in ("粤B10001", "粤B10002", "粤B10003"):
        check_in(core, shop, plate, hours=1.5)
    shown = queries.lounge_queue(core, shop.shop_id)
    assert shown["after"] is None and shown["high_minutes"] is not None
    high = shown["high_minutes"]
    _, start = engine_start(core, shop.shop_id)

    set_settings(core, shop.shop_id, lounge_wait_cap_minutes=high - 1)
    capped = queries.lounge_queue(core, shop.shop_id)
    assert capped == {
        "ahead": 2,
        "low_minutes": None,
        "high_minutes": None,
        "after": start.isoformat(),
    }
    assert capped["after"] == "2026-11-24T11:30:00+08:00"

    set_settings(core, shop.shop_id, lounge_wait_cap_minutes=high)
    assert queries.lounge_queue(core, shop.shop_id) == shown
    # A setting that is no number of minutes the engine takes reads as the default (180).
    for bad in ("60", True, 0, 1000, None, 12.5):
        set_settings(core, shop.shop_id, lounge_wait_cap_minutes=bad)
        assert queries.lounge_queue(core, shop.shop_id) == shown, bad


def test_a_start_after_closing_is_tomorrows(core: Core, shop: Any, clock: HandClock) -> None:
    clock.now = START.replace(hour=17, minute=30)
    for plate in ("粤B10001", "粤B10002", "粤B10003"):
        check_in(core, shop, plate, hours=1.5)
    queue = queries.lounge_queue(core, shop.shop_id)
    # Cars 1 and 2 run to 18:00 and on at 08:30; the third and the new car
    # start at 09:30 tomorrow. Far past the cap: only when, in the shop's zone.
    assert queue["after"] == "2026-11-25T09:30:00+08:00"
    assert queue["ahead"] == 2


def test_a_shop_calendar_that_cannot_be_planned_leaves_the_lounge_a_dash(
    core: Core, shop: Any, clock: HandClock
) -> None:
    check_in(core, shop, "粤B10001", hours=1.5)
    set_settings(core, shop.shop_id, week="every day")
    assert queries.lounge_queue(core, shop.shop_id) == queries.UNKNOWN_QUEUE


def test_the_lounge_socket_carries_the_queue_and_it_follows_changes(
    app: Any, socketio: Any, core: Core, shop: Any, clock: HandClock
) -> None:
    check_in(core, shop, "粤B10001", hours=1.5)
    lounge = socketio.test_client(app, auth={"token": shop.tokens["display-lounge"]})
    [snapshot] = [m["args"][0] for m in lounge.get_received() if m["name"] == "snapshot"]
    schema = document()["components"]["schemas"]["LoungeQueue"]
    assert not violations(snapshot["queue"], schema, document())
    assert snapshot["queue"] == queries.lounge_queue(core, shop.shop_id)
    # One car, two technicians: it starts now, and so would a new one.
    assert snapshot["queue"]["ahead"] == 0
    for order in snapshot["orders"]:
        assert not violations(order, document()["components"]["schemas"]["LoungeOrder"], document())

    for plate in ("粤B10002", "粤B10003"):
        check_in(core, shop, plate, hours=1.5)
    answer = lounge.emit("queue", {}, callback=True)
    assert answer == queries.lounge_queue(core, shop.shop_id)
    assert answer["ahead"] == 2 and answer["high_minutes"] > snapshot["queue"]["high_minutes"]
    lounge.disconnect()


# ------------------------------------------------------------ on the TV


def all_day(core: Core, shop_id: int, **more: Any) -> None:
    """Open every hour of every day (no public holidays), so that the TV's
    range does not depend on when the suite runs."""
    week = [{"open": "00:00", "close": "23:59"}] * 7
    set_settings(core, shop_id, week=week, public_holidays=False, **more)


def shop_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def queue_words(queue: dict[str, Any], strings: dict[str, Any], now: datetime) -> str:
    """What the TV must say for ``queue`` at ``now``: the range, or when work
    starts as today / tomorrow / the date, at the shop's hour."""
    values = {"ahead": queue["ahead"]}
    if queue["after"] is not None:
        after = datetime.fromisoformat(queue["after"]).astimezone(SHANGHAI)
        values["time"] = after.strftime("%H:%M")
        days = (after.date() - shop_day(now)).days
        if days <= 0:
            return fill(strings["queue_after_today"], values)
        if days == 1:
            return fill(strings["queue_after_tomorrow"], values)
        values["day"] = fill(strings["day_mark"], {"month": after.month, "day": after.day})
        return fill(strings["queue_after_day"], values)
    if queue["ahead"] == 0 and not queue["low_minutes"]:
        return str(strings["queue_empty"])
    values["low"], values["high"] = queue["low_minutes"], queue["high_minutes"]
    return fill(strings["queue_range"], values)


def fill(template: str, values: dict[str, Any]) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def shows_queue(page: Page, core: Core, shop_id: int, timeout: float = 8.0) -> str:
    """Wait until the TV's queue reads what the engine says now (asked just
    before and just after reading the screen: a minute may turn between)."""
    strings = page_strings(page)
    deadline = time.monotonic() + timeout
    while True:
        before = queue_words(queries.lounge_queue(core, shop_id), strings, datetime.now(SHANGHAI))
        shown = page.locator("#queue").inner_text()
        after = queue_words(queries.lounge_queue(core, shop_id), strings, datetime.now(SHANGHAI))
        if shown in (before, after):
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"the lounge shows {shown!r}, the engine says {after!r}")
        time.sleep(0.2)


@contextmanager
def utc_page(browser: Browser) -> Iterator[Page]:
    """A TV whose own clock is set to UTC: every time it shows must be the shop's."""
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="en-US", timezone_id="UTC"
    )
    problems = PageProblems()
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    try:
        yield page
    finally:
        context.close()
    assert not problems.unexpected(), problems.unexpected()


def carry_over(shop: Any, plate: str) -> int:
    """An order opened yesterday (shop time) that is still in the shop: it
    has yesterday's number 1. Opened on the server's database through the
    services with the core's clock a day back."""
    core = shop.core
    saved = core.clock
    core.clock = lambda: datetime.now(SHANGHAI) - timedelta(days=1)
    try:
        outcome = create_offline(core, shop.shop_id, plate)
    finally:
        core.clock = saved
    return int(outcome.body["id"])


def row(page: Page, order_id: int) -> Any:
    return page.locator(f'#orders tr[data-order-id="{order_id}"]')


@pytest.mark.browser
def test_the_tv_shows_the_range_the_day_mark_and_longer_plates_where_they_clash(
    browser: Browser, live: Live
) -> None:
    server, shop = live
    core = shop.core
    all_day(core, shop.shop_id)
    yesterday = carry_over(shop, "粤B12352")
    clashing = create_order(server, shop, "粤B98752")
    other = create_order(server, shop, "粤B12345")
    with utc_page(browser) as page:
        install_clock(page)
        page.goto(f"{server.url}/lounge?lang=en")
        pair(page, server, "lounge", "休息区电视", shop=shop.slug)
        # Numbers start again every day: yesterday's 1 wears its day.
        expect(row(page, yesterday).locator(".no")).to_have_text("1")
        expect(row(page, clashing["id"]).locator(".no")).to_have_text("1")
        day = shop_day(datetime.now(SHANGHAI) - timedelta(days=1))
        expect(row(page, yesterday).locator(".day-mark")).to_have_text(f"{day.month}/{day.day}")
        expect(row(page, clashing["id"]).locator(".day-mark")).to_have_count(0)
        expect(row(page, other["id"]).locator(".number")).to_have_text(str(other["number"]))
        # The carry-over is listed first.
        first = page.locator("#orders tr").first
        expect(first).to_have_attribute("data-order-id", str(yesterday))
        # 粤B12352 and 粤B98752 both mask to 粤B·***52: one more character each.
        expect(row(page, yesterday).locator(".plate")).to_have_text("粤B·**352")
        expect(row(page, clashing["id"]).locator(".plate")).to_have_text("粤B·**752")
        expect(row(page, other["id"]).locator(".plate")).to_have_text("粤B·***45")
        # Three cars on two technicians: two start before a new one (the
        # third with it); the engine's range in minutes.
        shown = shows_queue(page, core, shop.shop_id)
        assert re.fullmatch(r"Cars ahead: 2 · about \d{1,3}–\d{1,3} minutes", shown), shown

        # Past the cap: when work starts, on the shop's clock (the TV's is UTC).
        set_settings(core, shop.shop_id, lounge_wait_cap_minutes=30)
        page.clock.fast_forward(31_000)
        shown = shows_queue(page, core, shop.shop_id)
        assert re.fullmatch(r"Cars ahead: 2 · (today|tomorrow), after \d\d:\d\d", shown), shown
        # Closed today: tomorrow from midnight, after two cars (90 min).
        today = shop_day(datetime.now(SHANGHAI))
        all_day(core, shop.shop_id, holidays=[today.isoformat()])
        page.clock.fast_forward(31_000)
        assert shows_queue(page, core, shop.shop_id) == "Cars ahead: 2 · tomorrow, after 01:30"
        # Closed tomorrow as well: the date, never a day count or minutes.
        closed = [today.isoformat(), (today + timedelta(days=1)).isoformat()]
        all_day(core, shop.shop_id, holidays=closed)
        page.clock.fast_forward(31_000)
        later = today + timedelta(days=2)
        assert shows_queue(page, core, shop.shop_id) == (
            f"Cars ahead: 2 · after 01:30 on {later.month}/{later.day}"
        )
        assert not FOUR_DIGITS.search(page.locator("#queue").inner_text())

        # The clash ends when one of the two leaves: both back to the usual mask.
        reply = requests.post(
            f"{server.url}/api/v1/orders/{clashing['id']}/transitions",
            json={"to": "cancelled", "version": clashing["version"], "reason": "客户改天再来"},
            headers=shop.headers("advisor"),
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        expect(row(page, clashing["id"])).to_have_count(0)
        expect(row(page, yesterday).locator(".plate")).to_have_text("粤B·***52")


@pytest.mark.browser
def test_the_board_marks_a_carry_over_with_its_day(browser: Browser, live: Live) -> None:
    server, shop = live
    yesterday = carry_over(shop, "粤B12352")
    today = create_order(server, shop, "粤B98752")
    with utc_page(browser) as page:
        install_clock(page)
        page.goto(f"{server.url}/board?lang=en")
        pair(page, server, "board", "车间东墙", shop=shop.slug)
        carried = page.locator(f'#orders tr[data-order-id="{yesterday}"]')
        fresh = page.locator(f'#orders tr[data-order-id="{today["id"]}"]')
        day = shop_day(datetime.now(SHANGHAI) - timedelta(days=1))
        expect(carried.locator(".day-mark")).to_have_text(f"{day.month}/{day.day}")
        expect(carried.locator(".no")).to_have_text("1")
        expect(fresh.locator(".number")).to_have_text("1")
        expect(fresh.locator(".day-mark")).to_have_count(0)
        expect(page.locator("#orders tr").first).to_have_attribute("data-order-id", str(yesterday))
