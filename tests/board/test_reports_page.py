"""/reports in headless Chromium against a real ``baylight serve`` (one per
module), the shop in Asia/Shanghai and the browser's clock in UTC.

Orders are walked through the real commands (the order services, on the
server's database) on a day nine days ago, on a clock the test sets; the
live update goes through the real REST API to the running server. The page
must show the reports service's own numbers (asked for here, in process),
in Simplified Chinese at 1366x768 and in English at 1280x800, without
sideways scrolling, console errors or CSP violations; list the orders
behind a figure and download them as CSV and XLSX; follow today's changes
over the socket, at most one request per two seconds; and give a foreman
the workshop's half only, the server refusing the rest."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from shared.domain.events import WorkItem
from shared.domain.order import Actor
from shared.domain.stages import Role, Stage
from shared.services import handover, orders, reports, setup
from shared.services.commands import CommandRequest
from shared.services.core import Core
from tests.browser_support import fits_the_width
from tests.conftest import REPORT_WORKER_NOT_LOWERED, Shop, parking_lane
from tests.kiosk.conftest import Api

# The pages, not the report worker's priority (tests/test_report_process.py).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.server_per_module,
    pytest.mark.server_patches(REPORT_WORKER_NOT_LOWERED),
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
DESK = {"width": 1366, "height": 768}
TABLET = {"width": 1280, "height": 800}
PASSWORD = "reports pass 123"
ACTOR = Actor(name="周经理", roles=frozenset({Role.ADMIN}), ref="user:report-test")
# The page asks for today's figures at most once in this long (reports.js).
REFRESH_GAP_S = 2.0


# ---------------------------------------------------------------- the shop's day


class Floor:
    """A shop's orders walked through the order services on a clock the
    test moves (``at``), as reception, the workshop and the desk would."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.core: Core = shop.core
        self.request = CommandRequest(ACTOR, shop.shop_id)
        self.lane = parking_lane(self.core, shop.shop_id)
        # The assigned technician starts and finishes the job (their tap opens their clock).
        tech = shop.technicians[0]
        self.technician = CommandRequest(
            Actor(
                name="王师傅", roles=frozenset({Role.TECHNICIAN}), user_id=tech, ref=f"user:{tech}"
            ),
            shop.shop_id,
        )
        self.now = datetime.now(UTC)

    @contextmanager
    def clock(self) -> Iterator[None]:
        saved = self.core.clock
        self.core.clock = lambda: self.now
        try:
            yield
        finally:
            self.core.clock = saved

    def at(self, moment: datetime) -> None:
        self.now = moment.astimezone(UTC)

    def later(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)

    def _move(
        self, order: dict[str, Any], to: Stage, reason: str = "", *, by_technician: bool = False
    ) -> dict[str, Any]:
        return dict(
            orders.transition_order(
                self.core,
                self.technician if by_technician else self.request,
                order["id"],
                to=to,
                version=int(order["version"]),
                reason=reason,
            ).body
        )

    def walk(
        self,
        plate: str,
        start: datetime,
        *,
        promised_after: float,
        wait: float = 10,
        work: float = 60,
        rework: bool = False,
        rating: int | None = None,
        cancel: bool = False,
    ) -> int:
        """One car from check-in at ``start`` to delivered (or cancelled);
        minutes: promised ``promised_after`` after check-in, dispatched
        ``wait`` after it, ``work`` in the bay; a failed check first when
        ``rework``; a survey ``rating`` after delivery."""
        self.at(start)
        with self.clock():
            order = dict(
                orders.create_order(
                    self.core,
                    self.request,
                    plate=plate,
                    vehicle_model="卡罗拉",
                    items=[WorkItem("保养", 1.0)],
                    promised_at=start + timedelta(minutes=promised_after),
                ).body
            )
            if cancel:
                self.later(5)
                self._move(order, Stage.CANCELLED, "客户改期")
                return int(order["id"])
            self.later(wait)
            order = dict(
                orders.assign_order(
                    self.core,
                    self.request,
                    order["id"],
                    bay=self.lane,
                    technicians=[self.shop.technicians[0]],
                    version=int(order["version"]),
                ).body
            )
            order = self._move(order, Stage.IN_PROGRESS, by_technician=True)
            self.later(work)
            order = self._move(order, Stage.QUALITY_CHECK, by_technician=True)
            if rework:
                self.later(5)
                order = self._move(order, Stage.IN_PROGRESS, "刹车异响未除")
                self.later(15)
                order = self._move(order, Stage.QUALITY_CHECK, by_technician=True)
            while order["stage"] == Stage.QUALITY_CHECK.value:
                self.later(3)
                order = dict(
                    orders.pass_check(
                        self.core, self.request, order["id"], version=int(order["version"])
                    ).body
                )
            if order["stage"] == Stage.WASHING.value:
                self.later(10)
                order = self._move(order, Stage.READY)
            self.later(10)
            handover.hand_over(
                self.core,
                self.request,
                order["id"],
                version=int(order["version"]),
                old_parts_shown=True,
                next_service_date=date(2099, 1, 1),
                next_service_mileage=99999,
                final_check_done=True,
            )
            if rating is not None:
                self.later(30)
                orders.submit_survey(
                    self.core, self.request, order["id"], rating=rating, comment=""
                )
        return int(order["id"])


@dataclass
class Day:
    """The walked day (the shop's), the day before it, and the orders' plates."""

    day: date
    late_plate: str
    rework_plate: str
    plates: list[str]


def shop_today() -> date:
    return datetime.now(SHANGHAI).date()


def walked_day(shop: Shop, tag: str) -> Day:
    """Nine days ago on the shop's calendar: three cars delivered (one late,
    one reworked), one cancelled; the day before: one car on time. Plates
    carry ``tag`` so that tests on the shared server never read each
    other's."""
    floor = Floor(shop)
    day = shop_today() - timedelta(days=9)

    def local(hour: int, minute: int = 0, on: date = day) -> datetime:
        return datetime.combine(on, clock_time(hour, minute), tzinfo=SHANGHAI)

    on_time, late, rework, gone, before = (f"粤B{tag}00{n}" for n in range(1, 6))
    floor.walk(before, local(9, 0, day - timedelta(days=1)), promised_after=240, rating=5)
    floor.walk(on_time, local(9), promised_after=240, wait=12, work=60, rating=5)
    floor.walk(late, local(9, 30), promised_after=60, wait=30, work=90, rating=2)
    floor.walk(rework, local(10), promised_after=300, wait=20, work=45, rework=True, rating=4)
    floor.walk(gone, local(11), promised_after=120, cancel=True)
    return Day(day, late, rework, [on_time, late, rework, gone])


# ---------------------------------------------------------------- the browser


@dataclass
class Screen:
    page: Page
    problems: list[str]


def open_screen(
    browser: Browser, contexts: list[BrowserContext], locale: str, viewport: dict[str, int]
) -> Screen:
    """A page whose device clock is UTC (every time shown must be the
    shop's); console errors, uncaught errors and CSP violations collected."""
    context = browser.new_context(
        viewport=viewport, locale=locale, timezone_id="UTC", accept_downloads=True
    )
    contexts.append(context)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI); });"
    )
    return Screen(page, problems)


def person(shop: Shop, role: str, lang: str) -> str:
    """A signed-in-able person of the shop (names are unique over the server)."""
    name = f"{role}-{shop.slug}-{lang}"
    setup.create_user(shop.core, shop.shop_id, role=role, name=name, password=PASSWORD)
    return name


def sign_in(page: Page, server: Any, name: str, target: str, lang: str) -> None:
    page.goto(f"{server.url}/login?next={requests.utils.quote(target)}&lang={lang}")
    page.locator('input[name="name"]').fill(name)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('button[type="submit"]').click()


def rounded(value: float, places: int) -> str:
    """A number as Intl.NumberFormat shows it with at most ``places``
    decimals (halves away from zero), in zh and en alike (below 1,000)."""
    step = Decimal(1).scaleb(-places)
    shown = str(Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP))
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def percent(rate: float) -> str:
    """A rate as the page shows it (Intl percent, at most one decimal)."""
    return rounded(rate * 100, 1) + "%"


def tile(page: Page, section: str, label: str) -> Any:
    return page.locator(f"#{section}-figures .tile").filter(
        has=page.locator("h3", has_text=re.compile("^" + re.escape(label) + "$"))
    )


def loaded(page: Page, start: date, end: date, grouping: str = "day") -> None:
    expect(page.locator("#range")).to_have_attribute(
        "data-loaded", f"{start.isoformat()}..{end.isoformat()}:{grouping}", timeout=15_000
    )


def show_range(page: Page, start: date, end: date, grouping: str = "day") -> None:
    page.locator("#from").fill(start.isoformat())
    page.locator("#to").fill(end.isoformat())
    page.locator("#group").select_option(grouping)
    page.locator("#show").click()
    loaded(page, start, end, grouping)


def screenshot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / name), full_page=True)


def strings(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("JSON.parse(document.getElementById('strings').textContent)"))


def tile_label(page: Page, path: str) -> str:
    """The label of the tile showing the figure at ``path``, in the page's language."""
    for spec in strings(page)["tiles"]:
        if spec["path"] == path:
            return str(spec["label"])
    raise AssertionError(f"no tile for {path}")


# The charts' text colours (reports.js's palette): labels and muted axis text.
PRINT_TEXT, SCREEN_TEXT = "#000", "#f0f3f6"
PRINT_COLOURS = {PRINT_TEXT, "#333"}
SCREEN_COLOURS = {SCREEN_TEXT, "#9aa4af"}
CHART_TEXT = "#chart-on-time svg text"


def chart_text_fills(page: Page) -> list[str | None]:
    return list(
        page.evaluate(
            f"Array.from(document.querySelectorAll({CHART_TEXT!r}))"
            ".map(t => t.getAttribute('fill'))"
        )
    )


def redrawn_in(page: Page, colour: str) -> None:
    """Wait (up to 5 s) until the on-time chart's text is drawn in ``colour``
    (a selector, not a function: the page's CSP has no 'unsafe-eval')."""
    drawn = page.locator(f'{CHART_TEXT}[fill="{colour}"]')
    expect(drawn).not_to_have_count(0, timeout=5_000)


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize(
    ("locale", "lang", "viewport"),
    [("zh-CN", "zh_Hans", DESK), ("en-US", "en", TABLET)],
)
def test_a_manager_reads_a_day_compares_it_and_opens_the_orders_behind_a_figure(
    live: tuple[Any, Shop],
    browser: Browser,
    contexts: list[BrowserContext],
    locale: str,
    lang: str,
    viewport: dict[str, int],
    tmp_path: Path,
    screenshots: Path,
) -> None:
    server, shop = live
    walked = walked_day(shop, "7" if lang == "en" else "3")
    manager = person(shop, "manager", lang)
    screen = open_screen(browser, contexts, locale, viewport)
    page = screen.page
    sign_in(page, server, manager, "/reports", lang)
    expect(page.locator("#today-figures .tile").first).to_be_visible()
    assert page.locator("html").get_attribute("lang") == lang.replace("_", "-")

    day = walked.day
    show_range(page, day, day)
    expected = reports.summary(shop.core, shop.shop_id, day, day, "day")
    figures = expected["figures"]
    before = expected["previous"]["figures"]

    # The service's numbers, as the page shows them.
    delivered = tile(page, "range", tile_label(page, "orders.delivered"))
    expect(delivered.locator(".value")).to_have_text(str(figures["orders"]["delivered"]))
    assert figures["orders"]["delivered"] == 3
    ready_on_time = figures["on_time_rate"]["ready"]["rate"]
    on_time = tile(page, "range", tile_label(page, "on_time_rate.ready.rate"))
    expect(on_time.locator(".value")).to_have_text(percent(ready_on_time))
    # Against the day before (1 of 1 on time): down, in an arrow and a word.
    assert before["on_time_rate"]["ready"]["rate"] == 1.0
    expect(on_time.locator(".delta")).to_have_attribute("data-verdict", "worse")
    expect(on_time.locator(".delta")).to_contain_text("▼")
    expect(on_time.locator(".delta")).to_contain_text(strings(page)["worse"])
    first_time = tile(page, "range", tile_label(page, "first_time_fix_rate.rate"))
    expect(first_time.locator(".value")).to_have_text(
        percent(figures["first_time_fix_rate"]["rate"])
    )
    csat = tile(page, "range", tile_label(page, "csat.average"))
    expect(csat.locator(".value")).to_have_text(f"{figures['csat']['average']:.1f}")

    # Technicians: the service's efficiency per technician.
    for row in reports.technicians(shop.core, shop.shop_id, day, day):
        line = page.locator("#technicians tbody tr").filter(has_text=row["name"])
        expect(line.locator('[data-key="efficiency"]')).to_have_text(percent(row["efficiency"]))
        expect(line.locator('[data-key="clocked_hours"]')).to_have_text(
            rounded(row["clocked_hours"], 2)
        )

    # Charts drawn as SVG, every bar labelled; the tooltip (DOM, no inline
    # style attribute) breaks no CSP rule.
    expect(page.locator("#chart-on-time svg")).to_have_count(1)
    expect(
        page.locator("#chart-on-time svg text", has_text=percent(ready_on_time))
    ).not_to_have_count(0)
    page.locator("#chart-cycle").hover()
    expect(page.locator(".chart-tip").first).to_be_attached()

    # Drill-down: the late orders, then their CSV and XLSX.
    on_time.locator("button.drill").click()
    drill = page.locator("#drill")
    expect(drill).to_be_visible()
    late = [
        row["plate"] for row in reports.order_rows(shop.core, shop.shop_id, day, day, only="late")
    ]
    assert late == [walked.late_plate]
    expect(drill).to_have_attribute("data-count", str(len(late)))
    expect(drill.locator("tbody tr")).to_have_count(1)
    expect(drill.locator("tbody tr").first).to_contain_text(walked.late_plate)
    assert fits_the_width(page)
    screenshot(page, screenshots, f"reports-{lang}.png")

    with page.expect_download() as caught:
        page.locator("#drill-csv").click()
    saved = tmp_path / "late.csv"
    caught.value.save_as(saved)
    raw = saved.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    plates = [line[[key for key, _ in reports.ORDER_COLUMNS].index("plate")] for line in table[1:]]
    assert plates == [walked.late_plate]

    with page.expect_download() as caught:
        page.locator("#all-xlsx").click()
    saved = tmp_path / "all.xlsx"
    caught.value.save_as(saved)
    sheet = openpyxl.load_workbook(saved, read_only=True).active
    cells = [list(line) for line in sheet.iter_rows(values_only=True)]
    every = {row["plate"] for row in reports.order_rows(shop.core, shop.shop_id, day, day)}
    assert every == set(walked.plates)
    plate_column = [key for key, _ in reports.ORDER_COLUMNS].index("plate")
    assert {line[plate_column] for line in cells[1:]} == every

    # Two days by day: a bar for each, each with its label.
    show_range(page, day - timedelta(days=1), day, "day")
    labels = page.locator("#chart-on-time svg text")
    expect(labels.filter(has_text=re.compile(r"^100%$"))).not_to_have_count(0)
    expect(labels.filter(has_text=percent(ready_on_time))).not_to_have_count(0)

    # Printed: black on white, controls gone, charts drawn in print colours.
    # The page draws them again from its listener on the print media query,
    # which Chromium calls at its next frame, after emulate_media has
    # returned: read the colours once that redraw came (else the read races
    # the listener and sees the screen's colours now and then).
    page.emulate_media(media="print")
    expect(page.locator("#range-form")).to_be_hidden()
    redrawn_in(page, PRINT_TEXT)
    fills = chart_text_fills(page)
    assert PRINT_TEXT in fills and not set(fills) & SCREEN_COLOURS, fills
    screenshot(page, screenshots, f"reports-print-{lang}.png")
    # Back on screen: the screen's colours again.
    page.emulate_media(media="screen")
    redrawn_in(page, SCREEN_TEXT)
    assert not set(chart_text_fills(page)) & PRINT_COLOURS
    assert screen.problems == []


# The front office's figures: never on a foreman's page or in their answers.
FRONT_OFFICE = {"approval_rate", "csat", "comebacks", "quality_customers"}


def test_a_foreman_gets_the_workshop_half_and_the_server_refuses_the_rest(
    live: tuple[Any, Shop],
    browser: Browser,
    contexts: list[BrowserContext],
    screenshots: Path,
) -> None:
    server, shop = live
    walked = walked_day(shop, "5")
    foreman = person(shop, "foreman", "zh_Hans")
    screen = open_screen(browser, contexts, "zh-CN", DESK)
    page = screen.page
    sign_in(page, server, foreman, "/reports", "zh_Hans")
    day = walked.day
    expect(page.locator("#workshop-note")).to_be_visible()
    show_range(page, day, day)

    shown = set(
        page.eval_on_selector_all("#range-figures .tile", "t => t.map(n => n.dataset.figure)")
    )
    assert shown and not shown & FRONT_OFFICE, shown
    assert "reception_wait_minutes" in shown and "labour" in shown
    words = strings(page)
    assert not {spec["key"] for spec in words["tiles"]} & FRONT_OFFICE
    assert "advisor_columns" not in words
    expect(page.locator("#advisors-card")).to_have_count(0)
    expect(page.locator("#chart-csat")).to_have_count(0)
    expect(page.locator("#technicians tbody tr")).not_to_have_count(0)
    assert fits_the_width(page)
    screenshot(page, screenshots, "reports-foreman-zh_Hans.png")

    # The server: the workshop's figures only, in every period; the rest refused.
    asked = f"from={day}&to={day}"
    answer = page.request.get(f"{server.url}/reports/api/summary?{asked}&group=day")
    assert answer.status == 200
    found = answer.json()
    for part in (found, found["previous"], *found["periods"]):
        assert not set(part["figures"]) & FRONT_OFFICE, part["figures"].keys()
    assert found["figures"]["orders"]["delivered"] == 3
    assert page.request.get(f"{server.url}/reports/api/advisors?{asked}").status == 403
    for only in ("low_score", "declined_quote", "comeback"):
        assert (
            page.request.get(f"{server.url}/reports/api/orders?{asked}&only={only}").status == 403
        )
        assert (
            page.request.get(f"{server.url}/reports/orders.csv?{asked}&only={only}").status == 403
        )

    # The workshop's own lists, without money or customers' scores.
    tile(page, "range", tile_label(page, "rework_count")).locator("button.drill").click()
    expect(page.locator("#drill tbody tr")).to_have_count(1)
    expect(page.locator("#drill tbody tr").first).to_contain_text(walked.rework_plate)
    sheet = page.request.get(f"{server.url}/reports/orders.csv?{asked}")
    assert sheet.status == 200
    header = next(csv.reader(io.StringIO(sheet.body().decode("utf-8-sig"))))
    assert len(header) == len(reports.order_columns(workshop_only=True))
    assert len(header) == len(reports.ORDER_COLUMNS) - len(reports.FRONT_OFFICE_COLUMNS)
    with_scores = page.request.get(f"{server.url}/reports/api/orders?{asked}")
    assert all("survey_rating" not in row for row in with_scores.json()["rows"])
    assert screen.problems == []


def test_who_may_open_the_page(
    live: tuple[Any, Shop], browser: Browser, contexts: list[BrowserContext]
) -> None:
    """A visitor goes to the sign-in and comes back; an advisor is refused;
    a bearer token is no person."""
    server, shop = live
    screen = open_screen(browser, contexts, "en-US", TABLET)
    page = screen.page
    page.goto(f"{server.url}/reports?from=2026-11-01&to=2026-11-02")
    assert "/login" in page.url and "next=" in page.url
    advisor = person(shop, "advisor", "en")
    page.locator('input[name="name"]').fill(advisor)
    page.locator('input[name="password"]').fill(PASSWORD)
    with page.expect_response(lambda r: r.url.startswith(f"{server.url}/reports")) as reply:
        page.locator('button[type="submit"]').click()
    assert reply.value.status == 403
    assert page.request.get(f"{server.url}/reports/api/summary").status == 403
    token = requests.get(
        f"{server.url}/reports/api/summary",
        headers={"Authorization": f"Bearer {shop.tokens['manager']}"},
        timeout=10,
    )
    assert token.status_code == 403


def test_today_follows_the_cars_over_the_socket_at_most_every_two_seconds(
    live: tuple[Any, Shop],
    browser: Browser,
    contexts: list[BrowserContext],
) -> None:
    server, shop = live
    api = Api(shop, base=server.url)
    first = api.create("粤B66001")
    manager = person(shop, "manager", "en")
    screen = open_screen(browser, contexts, "en-US", TABLET)
    page = screen.page
    # The page's own requests, timed by the browser when it sent them (not
    # when the event reached this process: under load that delivery lags
    # by a tenth of a second or more, and a late first event shrinks a gap).
    asked: list[Request] = []
    today = shop_today().isoformat()
    page.on(
        "request",
        lambda r: (
            asked.append(r)
            if f"/reports/api/summary?from={today}&to={today}" in r.url and "group" not in r.url
            else None
        ),
    )
    sign_in(page, server, manager, "/reports", "en")
    cars = tile(page, "today", "Cars delivered")
    expect(cars.locator(".detail")).to_contain_text("1 checked in")
    wait = tile(page, "today", "Reception wait: check-in → dispatched (median)")
    expect(wait.locator(".value")).to_have_text("—")
    # Connected (the socket's snapshot came) before anything moves.
    page.wait_for_function("Baylight.reports && document.getElementById('today').dataset.loaded")
    page.wait_for_timeout(500)

    # A dispatch through the real API reaches the page without a reload.
    page.evaluate("window.stillThisPage = true")
    api.assign(first, [shop.technicians[0]])
    figures = reports.summary(shop.core, shop.shop_id, shop_today(), shop_today())["figures"]
    median = figures["reception_wait_minutes"]["median"]
    expect(wait.locator(".value")).to_have_text(f"{round(median)} min", timeout=10_000)

    # A burst of changes: asked again, never twice within two seconds.
    for n in range(2, 6):
        api.create(f"粤B6600{n}")
    expect(cars.locator(".detail")).to_contain_text("5 checked in", timeout=10_000)
    assert page.evaluate("window.stillThisPage") is True
    sent = [r.timing["startTime"] / 1000 for r in asked]
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert len(asked) >= 3 and min(gaps) >= REFRESH_GAP_S - 0.1, gaps
    assert screen.problems == []

    # The server gone: the page says since when its figures are old.
    server.stop()
    expect(page.locator("#stale")).to_be_visible(timeout=10_000)
    expect(page.locator("#stale")).to_contain_text("No connection since")
