"""Pauses that hold several reasons, parts requests and clocks started only
by someone's act, on the technician kiosk (a 1280x800 touch tablet) and the
foreman console, against one real ``baylight serve`` for the module.

- The kiosk: a technician asks for parts on a job in progress; the card says
  what it waits for and offers no resume; the parts counter marks the part
  ordered (the card shows the expected arrival in the shop's time, with the
  date) and then arrived through the REST API; within a second the kiosk
  says the part came and offers resume, and the resume tap starts the
  technician's own clock.
- The console: each paused order says what it waits for, the open parts
  requests are listed with "ordered" (asks the expected arrival) and
  "arrived", and the foreman starts an assigned technician's clock on an
  order in progress by an explicit tap (a foreman's start opened none).

The tablet's own clock is set to London: every time it shows is the shop's
(Asia/Shanghai), never the tablet's.
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
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from shared.persistence.models import LabourSegment
from shared.services import setup
from tests.browser_support import PAIRING_TIMEOUT_MS, PageProblems, approve_code, shown_code
from tests.conftest import LiveServer, Shop, free_port, migrated_copy, offline_core, seed_shop
from tests.conftest import server_env as live_env

pytestmark = pytest.mark.browser

TABLET: ViewportSize = {"width": 1280, "height": 800}
DESK: ViewportSize = {"width": 1600, "height": 1000}
SHOP_ZONE = ZoneInfo("Asia/Shanghai")  # setup.ensure_shop's default, the seeded shop's
TABLET_ZONE = "Europe/London"
UNDO_MS = 3000  # static/js/kiosk.js: how long a tap waits in the outbox for its undo
FOREMAN = "周主管"
FOREMAN_PASSWORD = "foreman-pass-20"
Live = tuple[LiveServer, Shop]


@pytest.fixture(scope="module")
def holds_live(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Iterator[Live]:
    """One server for the module: the tests use orders and bays of their own."""
    tmp_path = tmp_path_factory.mktemp("holds")
    database_url = migrated_copy(migrated_template, tmp_path / "live.db")
    seeded = seed_shop(offline_core(database_url, tmp_path))
    setup.create_user(
        seeded.core, seeded.shop_id, role="foreman", name=FOREMAN, password=FOREMAN_PASSWORD
    )
    port = free_port()
    server = LiveServer(
        live_env(database_url, port, tmp_path, "eventlet"), port, tmp_path / "server.log"
    )
    server.start()
    yield server, seeded
    server.stop()
    seeded.core.db.dispose()


class Tablets:
    """Browser contexts of the test (each its own storage), with the page
    error policy of tests/browser_support.py."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.opened: list[tuple[Any, PageProblems]] = []

    def open(self, touch: bool = True) -> Page:
        size = TABLET if touch else DESK
        context = self.browser.new_context(
            viewport=size,
            has_touch=touch,
            is_mobile=touch,
            locale="zh-CN",
            timezone_id=TABLET_ZONE,
        )
        problems = PageProblems()
        page = context.new_page()
        page.on("console", problems.on_console)
        page.on("pageerror", problems.on_page_error)
        self.opened.append((context, problems))
        return page

    def close(self) -> list[str]:
        errors: list[str] = []
        for context, problems in self.opened:
            context.close()
            errors.extend(problems.unexpected())
        return errors


@pytest.fixture
def tablets(browser: Browser, holds_live: Live) -> Iterator[Tablets]:
    opened = Tablets(browser)
    yield opened
    errors = opened.close()
    if errors:
        pytest.fail("a page reported errors:\n" + "\n".join(errors))


# ------------------------------------------------------------------ helpers


def rest(
    server: LiveServer, shop: Shop, method: str, path: str, role: str, body: Any = None
) -> Any:
    reply = requests.request(
        method, server.url + path, json=body, headers=shop.headers(role), timeout=10
    )
    assert reply.status_code < 300, reply.text
    return reply.json()


def order_in_work(
    server: LiveServer, shop: Shop, plate: str, bay: str, technician: int, starter: str
) -> dict[str, Any]:
    """An order dispatched to one technician and started by ``starter`` (a
    role of the seeded shop's tokens)."""
    order = rest(
        server,
        shop,
        "POST",
        "/api/v1/orders",
        "advisor",
        {
            "plate": plate,
            "vehicle": {"model": "凯美瑞"},
            "items": [{"title": "更换前刹车片", "labour_hours": 1.5}],
            "promised_at": "2030-01-07T17:00:00+08:00",
        },
    )
    order = rest(
        server,
        shop,
        "PUT",
        f"/api/v1/orders/{order['id']}/assignment",
        "foreman",
        {"bay": bay, "technicians": [technician], "version": order["version"]},
    )
    return dict(
        rest(
            server,
            shop,
            "POST",
            f"/api/v1/orders/{order['id']}/transitions",
            starter,
            {"to": "in_progress", "version": order["version"]},
        )
    )


def get_order(server: LiveServer, shop: Shop, order_id: int) -> dict[str, Any]:
    return dict(rest(server, shop, "GET", f"/api/v1/orders/{order_id}", "admin"))


def page_strings(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("JSON.parse(document.getElementById('strings').textContent)"))


def fill(template: str, **values: str) -> str:
    """static/js/live.js ``fill``: {name} markers replaced."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def pair_kiosk(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/kiosk")
    approve_code(server, shown_code(page), "kiosk", "三号工位平板")
    expect(page.locator("#login")).to_be_visible(timeout=PAIRING_TIMEOUT_MS)


def sign_in(page: Page, badge: str, pin: str) -> None:
    """Badge and PIN by taps on the on-screen keypad."""
    page.locator("#badge").tap()
    for digit in badge:
        page.locator(f'#keypad [data-key="{digit}"]').tap()
    page.locator('#keypad [data-key="→"]').tap()
    for digit in pin:
        page.locator(f'#keypad [data-key="{digit}"]').tap()
    page.locator("#login-button").tap()


def past_the_undo_window(page: Page) -> None:
    """The page's clock (installed before it loaded) past the tap's undo window."""
    expect(page.locator("#toast-undo")).to_be_visible()
    page.clock.fast_forward(UNDO_MS + 100)


def clocks_of(shop: Shop, technician: int) -> list[tuple[int, str, datetime | None]]:
    """Every labour segment of the technician: order, who started it, end."""
    with shop.core.db.read() as session:
        rows = session.execute(
            select(LabourSegment.order_id, LabourSegment.started_how, LabourSegment.ended_at)
            .where(LabourSegment.technician_id == technician)
            .order_by(LabourSegment.id)
        ).all()
    return [(int(r[0]), str(r[1]), r[2]) for r in rows]


def shop_time(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(SHOP_ZONE)


# ------------------------------------------------------------------ kiosk


def test_parts_wait_on_the_kiosk_until_the_counter_says_they_arrived(
    holds_live: Live, tablets: Tablets, tmp_path: Path
) -> None:
    server, shop = holds_live
    technician = shop.technicians[0]  # 王师傅, badge 1001
    # His own start (the technician's token): his clock runs.
    order = order_in_work(server, shop, "粤B20001", "B01", technician, "technician")
    tablet = tablets.open()
    tablet.clock.install()
    pair_kiosk(tablet, server)
    sign_in(tablet, "1001", "1234")
    text = page_strings(tablet)
    job = tablet.locator(f'#jobs [data-order-id="{order["id"]}"]')
    expect(job.locator(".clock-state.clock-here")).to_be_visible(timeout=10_000)
    expect(tablet.locator("#clock-line")).to_be_visible()

    # Request parts (要料): what is needed; the car waits for it.
    job.locator(".act-parts").tap()
    tablet.locator('#dialog [data-field="description"]').fill("前刹车片 一套")
    tablet.locator("#dialog-ok").tap()
    past_the_undo_window(tablet)
    waiting = job.locator(".hold-parts")
    expect(waiting).to_contain_text(
        fill(text["waiting_parts"], what="前刹车片 一套"), timeout=10_000
    )
    expect(waiting.locator(".part-status")).to_have_text(text["part_status"]["requested"])
    expect(job.locator(".stage")).to_have_text(text["stages"]["paused"])
    expect(job.locator(".act-resume")).to_have_count(0)
    expect(job.locator(".act-parts")).to_be_visible()  # more parts may be asked for while it waits
    # The pause closed his clock, and nothing says it runs.
    expect(tablet.locator("#clock-line")).to_be_hidden()
    expect(job.locator(".clock-state")).to_have_count(0)
    paused = get_order(server, shop, order["id"])
    assert [r["reason"] for r in paused["pause_reasons"]] == ["parts"]
    part = paused["parts"][0]
    assert part["description"] == "前刹车片 一套" and part["status"] == "requested"

    # The counter orders it for tomorrow 10:30 shop time: the card says when, with the date.
    tomorrow = (datetime.now(SHOP_ZONE) + timedelta(days=1)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )
    rest(
        server,
        shop,
        "PATCH",
        f"/api/v1/orders/{order['id']}/parts/{part['id']}",
        "foreman",
        {"status": "ordered", "eta": tomorrow.isoformat()},
    )
    expect(waiting.locator(".part-status")).to_have_text(
        text["part_status"]["ordered"], timeout=2_000
    )
    date_shown = tablet.evaluate(
        "iso => new Intl.DateTimeFormat(document.documentElement.lang,"
        " {timeZone: 'Asia/Shanghai', month: 'numeric', day: 'numeric'}).format(new Date(iso))",
        tomorrow.isoformat(),
    )
    expect(waiting.locator(".hold-text")).to_have_text(
        fill(text["waiting_parts_eta"], what="前刹车片 一套", time=f"{date_shown} 10:30")
    )
    expect(job.locator(".act-resume")).to_have_count(0)
    tablet.screenshot(path=str(tmp_path / "kiosk-parts-ordered.png"))

    # Arrived: the kiosk says so, and offers resume, within a second.
    rest(
        server,
        shop,
        "PATCH",
        f"/api/v1/orders/{order['id']}/parts/{part['id']}",
        "foreman",
        {"status": "arrived"},
    )
    notice = tablet.locator(f'#arrivals .arrival[data-order-id="{order["id"]}"]')
    expect(notice).to_be_visible(timeout=1000)
    expect(notice.locator(".arrival-text")).to_have_text(
        fill(text["parts_arrived"], what="前刹车片 一套")
    )
    expect(job.locator(".act-resume")).to_be_visible(timeout=1000)
    expect(job.locator(".part-arrived")).to_contain_text(
        fill(text["parts_arrived"], what="前刹车片 一套")
    )
    expect(job.locator(".hold-parts")).to_have_count(0)
    tablet.screenshot(path=str(tmp_path / "kiosk-parts-arrived.png"))

    # Tapping resume works, and it is his own act: his clock starts.
    job.locator(".act-resume").tap()
    past_the_undo_window(tablet)
    expect(job.locator(".stage")).to_have_text(text["stages"]["in_progress"], timeout=10_000)
    expect(job.locator(".clock-state.clock-here")).to_be_visible(timeout=10_000)
    expect(tablet.locator("#clock-line")).to_contain_text("粤B20001")
    notice.locator(".arrival-ok").tap()
    expect(tablet.locator("#arrivals")).to_be_hidden()
    assert get_order(server, shop, order["id"])["stage"] == "in_progress"
    segments = clocks_of(shop, technician)
    assert [(o, how) for o, how, _ in segments] == [(order["id"], "own"), (order["id"], "own")]
    assert segments[0][2] is not None and segments[1][2] is None


# ------------------------------------------------------------------ console


def sign_in_foreman(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/foreman")
    page.locator('input[name="name"]').fill(FOREMAN)
    page.locator('input[name="password"]').fill(FOREMAN_PASSWORD)
    page.locator('button[type="submit"]').click()
    expect(page.locator("#bays .bay").first).to_be_visible(timeout=10_000)


def test_the_console_says_what_each_car_waits_for_orders_parts_and_starts_a_clock(
    holds_live: Live, tablets: Tablets, tmp_path: Path
) -> None:
    server, shop = holds_live
    technician = shop.technicians[1]  # 李师傅
    # The foreman starts both jobs: that opens no clock.
    working = order_in_work(server, shop, "粤B20002", "B02", technician, "foreman")
    waiting = order_in_work(server, shop, "粤B20003", "B03", technician, "foreman")
    # The car in B03 waits for three things at once.
    waiting = rest(
        server,
        shop,
        "POST",
        f"/api/v1/orders/{waiting['id']}/transitions",
        "technician2",
        {
            "to": "paused",
            "pause_reason": "other",
            "reason": "等试车场空出",
            "version": waiting["version"],
        },
    )
    part = rest(
        server,
        shop,
        "POST",
        f"/api/v1/orders/{waiting['id']}/parts",
        "technician2",
        {"description": "左前减震器", "version": waiting["version"]},
    )
    quote = rest(
        server,
        shop,
        "POST",
        f"/api/v1/orders/{waiting['id']}/extra-work",
        "technician2",
        {
            "description": "更换前刹车盘",
            "labour_hours": 0.8,
            "price_cents": 68000,
            "version": part["order"]["version"],
        },
    )
    assert quote["order"]["stage"] == "paused"

    # His kiosk: every reason in words, no resume, and plainly no clock on the job in work.
    tablet = tablets.open()
    tablet.clock.install()
    pair_kiosk(tablet, server)
    sign_in(tablet, "1002", "5678")
    words = page_strings(tablet)
    held = tablet.locator(f'#jobs [data-order-id="{waiting["id"]}"]')
    expect(held.locator(".hold-text")).to_have_text(
        [
            fill(words["waiting_other"], note="等试车场空出"),
            fill(words["waiting_parts"], what="左前减震器"),
            fill(words["waiting_approval"], what="更换前刹车盘"),
        ],
        timeout=10_000,
    )
    expect(held.locator(".act-resume")).to_have_count(0)
    in_work = tablet.locator(f'#jobs [data-order-id="{working["id"]}"]')
    expect(in_work.locator(".clock-state")).to_have_text(words["clock_not_running"])
    expect(in_work.locator(".act-clock-on")).to_be_visible()
    expect(tablet.locator("#clock-line")).to_be_hidden()
    tablet.screenshot(path=str(tmp_path / "kiosk-reasons.png"))
    # The "other" reason is his to end; parts and the approval stay.
    held.locator(".hold-other .act-clear-reason").tap()
    past_the_undo_window(tablet)
    expect(held.locator(".hold-other")).to_have_count(0, timeout=10_000)
    expect(held.locator(".hold")).to_have_count(2)
    assert [r["reason"] for r in get_order(server, shop, waiting["id"])["pause_reasons"]] == [
        "parts",
        "approval",
    ]

    desk = tablets.open(touch=False)
    sign_in_foreman(desk, server)
    text = page_strings(desk)
    row = desk.locator(f'#bays [data-order-id="{waiting["id"]}"]')
    expect(row.locator(".hold")).to_have_text(
        [
            fill(text["waiting_parts"], what="左前减震器"),
            fill(text["waiting_approval"], what="更换前刹车盘"),
        ]
    )

    # The open parts request: ordered, with the expected arrival asked for.
    listed = desk.locator(f'#parts [data-order-id="{waiting["id"]}"][data-part-id="{part["id"]}"]')
    expect(listed.locator(".part-what")).to_have_text("左前减震器")
    expect(listed.locator(".part-status")).to_have_text(text["part_status"]["requested"])
    listed.locator(".part-ordered").click()
    expected = (datetime.now(SHOP_ZONE) + timedelta(days=1)).replace(
        hour=15, minute=30, second=0, microsecond=0
    )
    desk.locator("#eta-input").fill(expected.strftime("%Y-%m-%dT%H:%M"))
    desk.locator("#eta-ok").click()
    expect(listed.locator(".part-status")).to_have_text(text["part_status"]["ordered"])
    after = get_order(server, shop, waiting["id"])
    assert after["parts"][0]["status"] == "ordered"
    # The shop's 15:30 tomorrow, whatever the desk PC's own clock zone.
    assert shop_time(after["parts"][0]["eta"]) == expected
    expect(row.locator(".hold-parts")).to_contain_text("15:30")
    expect(listed.locator(".part-when")).to_contain_text("15:30")

    # Nobody's clock runs on the job the foreman started: he starts 李师傅's, explicitly.
    mine = desk.locator(
        f'#bays [data-order-id="{working["id"]}"] .clock-of[data-technician-id="{technician}"]'
    )
    expect(mine).to_have_class(re.compile("clock-off"))
    desk.screenshot(path=str(tmp_path / "foreman-holds.png"), full_page=True)
    mine.locator(".clock-on").click()
    expect(mine).to_have_class(re.compile("clock-here"))
    expect(mine.locator(".clock-on")).to_have_count(0)
    assert clocks_of(shop, technician) == [(working["id"], "foreman", None)]
    # His kiosk, read again, says the clock runs on that job and offers no clock-on.
    tablet.reload()
    expect(in_work.locator(".clock-state.clock-here")).to_be_visible(timeout=10_000)
    expect(in_work.locator(".act-clock-on")).to_have_count(0)
    expect(tablet.locator("#clock-line")).to_contain_text("粤B20002")

    # Arrived: off the list, and the car no longer waits for it.
    listed.locator(".part-arrived").click()
    expect(listed).to_have_count(0)
    expect(row.locator(".hold")).to_have_text([fill(text["waiting_approval"], what="更换前刹车盘")])
    expect(desk.locator("#parts .empty")).to_have_text(text["parts_empty"])
    assert get_order(server, shop, waiting["id"])["parts"][0]["status"] == "arrived"


def test_the_console_reads_times_in_the_shops_zone_before_its_socket_says_anything(
    holds_live: Live, tablets: Tablets
) -> None:
    """The console's lists are drawn from the overview, which may arrive
    before the socket's snapshot; the page names the shop's zone in its
    head, so tomorrow's promise reads with its date and the shop's hour from
    the first draw, never the tablet's (Europe/London here), and a time typed
    into the console is read on the shop's clock (CI once caught a part's
    expected arrival stored eight hours off, typed before the snapshot)."""
    server, shop = holds_live
    tomorrow = (datetime.now(SHOP_ZONE) + timedelta(days=1)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    order = rest(
        server,
        shop,
        "POST",
        "/api/v1/orders",
        "advisor",
        {"plate": "粤B20009", "promised_at": tomorrow.isoformat()},
    )
    desk = tablets.open(touch=False)
    waiting: list[Any] = []
    # The console's socket is held open without a server behind it: no
    # snapshot ever comes.

    def hold(route: Any) -> None:
        waiting.append(route)

    desk.route_web_socket(re.compile(r".*/socket\.io/.*"), hold)
    sign_in_foreman(desk, server)
    promised = desk.locator(f'#queue [data-order-id="{order["id"]}"] .promised')
    label = desk.evaluate(
        "iso => new Intl.DateTimeFormat(document.documentElement.lang,"
        " {timeZone: 'Asia/Shanghai', month: 'numeric', day: 'numeric'}).format(new Date(iso))",
        tomorrow.isoformat(),
    )
    expect(promised).to_have_text(f"{label} 09:30")
    typed = tomorrow.replace(hour=15, minute=30)
    read = desk.evaluate("wall => Baylight.shopIso(wall)", typed.strftime("%Y-%m-%dT%H:%M"))
    assert datetime.fromisoformat(read) == typed
    assert waiting, "the console never opened its socket"
