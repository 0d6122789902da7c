"""The reception desk's list of cars in the shop (issue 15), in headless
Chromium against a real ``baylight serve``: an office PC at 1366x768 and
1920x1080, its clock in UTC, the shop in Asia/Shanghai.

- One row a car with its queue number (受理号码), plate, stage, bay,
  technician, promised time (承诺交车) and estimate (预计完工), each time on
  the shop's clock with the date when it is not today; late and at-risk
  cars first by default, flagged in words with a mark (not colour alone).
- Plate search, a stage filter ("late or at risk" among them), column sorts
  (aria-sort says which); the count of cars shown.
- No handover form until asked: a ready car's "Hand over…" opens one
  dialog; handing over takes the car off the list. The page stays short.
- Labour hours in words: 工时 0.5 小时 on the order being written and on a
  quote, never "0.5 h" or "工时: 0" in Chinese.
- The language switch: English by ?lang=en, remembered by the cookie.
- Screenshots docs/screenshots/desk-{zh_Hans,en}.png (BAYLIGHT_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from shared.services import setup
from shared.services.auth import create_api_token
from tests.board.conftest import create_offline, create_order
from tests.browser_support import PageProblems, fits_the_width, page_strings

from . import desk_pages
from .desk_pages import fill
from .flow import Workshop, http_call

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]
Live = tuple[Any, Any]
ZONE = ZoneInfo("Asia/Shanghai")
ADVISOR = "陈顾问"
PASSWORD = "desk-password-1"
LANGUAGES = {"zh_Hans": "zh-CN", "en": "en-US"}
SIZES = {"zh_Hans": (1366, 768), "en": (1920, 1080)}


@pytest.fixture
def desk_problems() -> PageProblems:
    return PageProblems()


def with_advisor(shop: Any) -> Workshop:
    """The shop's advisor (signs in with a password) and the REST calls as her."""
    user_id = setup.create_user(
        shop.core, shop.shop_id, role="advisor", name=ADVISOR, password=PASSWORD
    )
    shop.tokens["desk"] = create_api_token(
        shop.core, shop_id=shop.shop_id, role="advisor", name=ADVISOR, user_id=user_id
    )
    return Workshop(http_call(shop.extra["url"]), shop)


def open_desk(
    browser: Browser,
    contexts: list[BrowserContext],
    problems: PageProblems,
    server: Any,
    lang: str,
) -> Page:
    return desk_pages.open_desk(
        browser,
        contexts,
        problems,
        server,
        size=SIZES[lang],
        locale=LANGUAGES[lang],
        name=ADVISOR,
        password=PASSWORD,
    )


def shop_reading(page: Page, iso: str | None) -> str:
    """How the desk writes a time: on the shop's clock, "HH:MM" today there,
    else with the date first in the page's language ("11/29 17:00")."""
    if not iso:
        return "—"
    moment = datetime.fromisoformat(iso).astimezone(ZONE)
    hhmm = moment.strftime("%H:%M")
    if moment.date() == datetime.now(ZONE).date():
        return hhmm
    label = page.evaluate(
        "iso => new Intl.DateTimeFormat(document.documentElement.lang,"
        " {timeZone: 'Asia/Shanghai', month: 'numeric', day: 'numeric'}).format(new Date(iso))",
        iso,
    )
    return f"{label} {hhmm}"


def rows(page: Page) -> Any:
    return page.locator("#orders tbody.order")


def row_of(page: Page, order: dict[str, Any]) -> Any:
    return page.locator(f'#orders tbody.order[data-order-id="{order["id"]}"]')


def shown_plates(page: Page) -> list[str]:
    return list(page.locator("#orders tbody.order tr.row .plate").all_inner_texts())


class Shop:
    """Cars in the shop as the test needs them, over the REST API."""

    def __init__(self, workshop: Workshop) -> None:
        self.workshop = workshop
        self.later = (datetime.now(ZONE) + timedelta(days=3)).replace(
            hour=17, minute=0, second=0, microsecond=0
        )

    def open(self, plate: str, promised: datetime | None = None, **more: Any) -> dict[str, Any]:
        return self.workshop.create(
            role="desk",
            plate=plate,
            customer={"name": f"{plate[-2:]}号客户", "phone": "13800000000"},
            promised_at=(promised or self.later).isoformat(),
            **more,
        )

    def dispatch(self, order: dict[str, Any], bay: str, technician: int) -> dict[str, Any]:
        body = {"bay": bay, "technicians": [technician], "version": order["version"]}
        return dict(
            self.workshop._do("PUT", f"/api/v1/orders/{order['id']}/assignment", body, "foreman")
        )


def at_risk(workshop: Workshop, order: dict[str, Any]) -> dict[str, Any]:
    """Promise the car ten minutes after the engine's estimate for it: at
    risk, not late (shared/domain/eta.py). The engine re-plans after the
    change; once its verdict has held still for a moment the car is at risk
    for good, else it is promised again from the new estimate."""
    seen = None
    for _attempt in range(8):
        current = workshop.get(order["id"])
        if current["at_risk"] and not current["late"]:
            if seen == (current["eta"], current["promised_at"]):
                return current
            seen = (current["eta"], current["promised_at"])
        else:
            seen = None
            when = datetime.fromisoformat(current["eta"]) + timedelta(minutes=10)
            body = {
                "promised_at": when.isoformat(),
                "reason": "测试",
                "version": current["version"],
            }
            workshop._do("PUT", f"/api/v1/orders/{order['id']}/promise", body, "desk")
        time.sleep(0.5)
    raise AssertionError(f"the engine never settled on order {order['id']}")


def fill_the_shop(shop: Any) -> dict[str, dict[str, Any]]:
    """Ten cars: one past its promise, two at work in bays, one ready, one
    with a quote waiting for the customer, four checked in and promised in
    three days, and last one promised ten minutes after its estimate (at
    risk)."""
    workshop = with_advisor(shop)
    cars = Shop(workshop)
    now = datetime.now(ZONE)
    made: dict[str, dict[str, Any]] = {}
    made["late"] = cars.open("粤B10001", promised=now - timedelta(minutes=40))
    made["bay2"] = workshop.move(
        cars.dispatch(cars.open("粤B10003"), "B02", shop.technicians[0]), "in_progress"
    )
    made["bay3"] = cars.dispatch(cars.open("粤B10004"), "B03", shop.technicians[1])
    made["ready"] = workshop.finish(workshop.start(cars.open("粤B10005")))
    quoted = workshop.start(cars.open("粤B10006"))
    workshop.quote(quoted, "更换空调滤芯", 0.5, 15000)
    made["quoted"] = workshop.get(quoted["id"])
    for n in range(7, 11):
        made[f"waiting{n}"] = cars.open(f"粤B100{n:02d}")
    made["risk"] = at_risk(workshop, cars.open("粤B10002"))
    return made


def test_the_list_sorts_filters_and_hands_over_on_demand(
    live: Live,
    browser: Browser,
    contexts: list[BrowserContext],
    desk_problems: PageProblems,
    screenshots: Path,
) -> None:
    """In Simplified Chinese at 1366x768, then switched to English at
    1920x1080 (remembered on the next visit) and Traditional Chinese."""
    server, shop = live
    shop.extra["url"] = server.url
    made = fill_the_shop(shop)
    workshop = Workshop(http_call(server.url), shop)
    page = open_desk(browser, contexts, desk_problems, server, "zh_Hans")
    words = page_strings(page)
    expect(rows(page)).to_have_count(10)
    count = page.locator("#orders-count")
    expect(count).to_have_text(fill(words["shown_count"], shown=10, total=10))
    # Late first, then at risk, each said in words beside the promise.
    first, second = rows(page).nth(0), rows(page).nth(1)
    expect(first).to_have_attribute("data-order-id", str(made["late"]["id"]))
    expect(second).to_have_attribute("data-order-id", str(made["risk"]["id"]))
    expect(first.locator(".flag")).to_have_text("!" + words["late_flag"])
    expect(second.locator(".flag")).to_have_text("?" + words["at_risk"])
    expect(page.locator("#orders tbody.order .flag")).to_have_count(2)
    expect(page.locator("#sort-urgent")).to_have_attribute("aria-pressed", "true")

    # Every row: number, plate, stage, bay, technician, promise and estimate
    # on the shop's clock (the browser's is UTC), the date when not today.
    for order in made.values():
        current = workshop.get(order["id"])
        row = row_of(page, order).locator("tr.row")
        expect(row.locator("td.number")).to_have_text(str(current["number"]))
        expect(row.locator(".plate")).to_have_text(current["plate"])
        expect(row.locator(".stage")).to_have_text(words["stages"][current["stage"]])
        expect(row.locator("td.promised .time-value")).to_have_text(
            shop_reading(page, current["promised_at"])
        )
        if current["stage"] != "ready":
            expect(row.locator("td.eta")).to_have_text(shop_reading(page, current["eta"]))
    in_bay = row_of(page, made["bay2"]).locator("tr.row")
    expect(in_bay.locator("td.bay")).to_have_text("工位 B02")
    expect(in_bay.locator("td.tech")).to_have_text("王师傅")
    later = row_of(page, made["waiting7"]).locator("td.promised")
    assert " " in later.inner_text(), "a promise in three days shows its date"

    # The quote waiting for the customer opens its details by itself; its
    # hours in words. No handover form anywhere until asked for.
    quote = row_of(page, made["quoted"]).locator(".quote .quote-terms")
    expect(quote).to_have_text(
        fill(words["quote_terms"], description="更换空调滤芯", hours="0.5", price="¥150.00")
    )
    expect(page.locator("#handover-form")).to_be_hidden()
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= 1500, f"the desk is {height} px tall with ten cars"
    assert fits_the_width(page)
    page.screenshot(path=str(screenshots / "desk-zh_Hans.png"), full_page=True)

    # Search by plate (spaces and case do not matter), filter by stage.
    page.locator("#order-search").fill("b 10004")
    expect(rows(page)).to_have_count(1)
    expect(count).to_have_text(fill(words["shown_count"], shown=1, total=10))
    page.locator("#order-search").fill("粤Z")
    expect(rows(page)).to_have_count(0)
    expect(page.locator("#orders-empty")).to_have_text(words["no_match"])
    page.locator("#order-search").fill("")
    page.locator("#stage-filter").select_option("attention")
    expect(rows(page)).to_have_count(2)
    page.locator("#stage-filter").select_option("ready")
    expect(rows(page)).to_have_count(1)
    page.locator("#stage-filter").select_option("")

    # Sort by plate, both ways; back to late and at risk first.
    plate_head = page.locator('#orders th[data-sort="plate"]')
    plate_head.locator("button").click()
    expect(plate_head).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("#sort-urgent")).to_have_attribute("aria-pressed", "false")
    assert shown_plates(page) == sorted(shown_plates(page))
    plate_head.locator("button").click()
    expect(plate_head).to_have_attribute("aria-sort", "descending")
    assert shown_plates(page) == sorted(shown_plates(page), reverse=True)
    page.locator("#sort-urgent").click()
    expect(plate_head).to_have_attribute("aria-sort", "none")
    expect(rows(page).nth(0)).to_have_attribute("data-order-id", str(made["late"]["id"]))

    # The ready car's handover, in a dialog, on demand.
    ready = row_of(page, made["ready"])
    ready.locator("button.hand-over").click()
    dialog = page.locator("#handover-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#handover-title")).to_have_text(
        fill(words["handover_title"], number=made["ready"]["number"], plate="粤B10005")
    )
    dialog.locator("input[name=final_check_done]").check()
    dialog.locator("input[name=next_service_date]").fill("2099-06-01")
    dialog.locator("input[name=next_service_mileage]").fill("52000")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()
    expect(ready).to_have_count(0)
    assert workshop.get(made["ready"]["id"])["stage"] == "delivered"

    # Labour hours in words as the order is written; no line for none.
    hours = page.locator("#total-hours")
    expect(hours).to_be_hidden()
    page.locator("#items .item-title").first.fill("四轮定位")
    page.locator("#items .item-hours").first.fill("0.5")
    expect(hours).to_have_text(fill(words["hours_total"], hours="0.5"))
    expect(hours).to_have_text("工时 0.5 小时")
    expect(quote).to_contain_text("工时 0.5 小时")
    said = page.locator("main").inner_text()
    assert " h " not in said and "工时:" not in said and "受理号 " not in said
    page.locator("#items .item-hours").first.fill("0")
    expect(hours).to_be_hidden()

    # English by the header's switch, on the wide screen; kept by the cookie.
    switch = page.locator("header .lang-switch")
    expect(switch.locator('[aria-current="true"]')).to_have_text("简体中文")
    switch.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{server.url}/desk")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(switch.locator('[aria-current="true"]')).to_have_text("English")
    words = page_strings(page)
    expect(page.locator("h1")).to_have_text("Reception desk")
    expect(rows(page)).to_have_count(9)
    expect(rows(page).nth(0).locator(".flag")).to_have_text("!" + words["late_flag"])
    expect(row_of(page, made["quoted"]).locator(".quote .quote-terms")).to_have_text(
        "更换空调滤芯 · labour 0.5 h · ¥150.00"
    )
    head = page.locator("#orders thead").inner_text()
    for column in ("Queue number", "Plate", "Stage", "Bay", "Technician", "Promised", "ETA"):
        assert column in head, (column, head)
    assert fits_the_width(page)
    page.screenshot(path=str(screenshots / "desk-en.png"), full_page=True)
    switch.get_by_role("link", name="繁體中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant")
    expect(page.locator("#orders-title")).to_have_text("在修車輛")
    assert desk_problems.unexpected() == []


def test_a_car_carried_over_wears_its_day(
    live: Live, browser: Browser, contexts: list[BrowserContext], desk_problems: PageProblems
) -> None:
    """Numbers start again every day: yesterday's car keeps its number and
    shows its day under it (the shop's calendar day, not the PC's, which is
    in UTC here), so it never reads as today's car of the same number."""
    server, shop = live
    shop.extra["url"] = server.url
    with_advisor(shop)
    core = shop.core
    real_clock = core.clock
    core.clock = lambda: real_clock() - timedelta(days=1)
    try:
        carried = create_offline(core, shop.shop_id, "粤B20001").body
    finally:
        core.clock = real_clock
    today = create_order(server, shop, "粤B20002")
    assert carried["business_day"] != today["business_day"]
    page = open_desk(browser, contexts, desk_problems, server, "zh_Hans")
    old = row_of(page, carried).locator("td.number")
    expect(old).to_contain_text(str(carried["number"]))
    month, day = carried["business_day"].split("-")[1:]
    expect(old.locator(".day-mark")).to_have_text(
        fill(page_strings(page)["day_mark"], month=int(month), day=int(day))
    )
    expect(row_of(page, today).locator("td.number .day-mark")).to_have_count(0)
