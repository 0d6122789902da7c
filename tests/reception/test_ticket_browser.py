"""The printed job ticket (任务委托书) in headless Chromium against a real
``baylight serve``, laid out as Chromium prints it (print media, the paper's
printable area, the device's clock in UTC, the shop in Asia/Shanghai), in
Simplified Chinese and English:

- the shop's name, address and hotline; the car's plate, VIN and mileage;
  the customer's own words; the booked work with its labour hours and the
  honest note that no price is recorded for it; the additional work the
  customer approved with its price and the amount; the sentence that more
  work is done only with the customer's consent; the customer's signature
  and date lines;
- one A5 page (and one A4 page) as Chromium's PDF prints it, nothing wider
  than the paper, the QR code at least 40 mm;
- screenshots docs/screenshots/ticket-{zh_Hans,en}.png (written when
  BAYLIGHT_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser_support import PageProblems

from .customer_support import ADVISOR_PHONE, COMPLAINT, PROFILE, VIN, open_order, set_profile
from .customer_support import with_advisor as advisor_of
from .flow import Workshop, http_call

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]
Live = tuple[Any, Any]
SHOP_ZONE = ZoneInfo("Asia/Shanghai")
# CSS pixels per millimetre (96 dpi).
PX_PER_MM = 96 / 25.4
# The printable area of each paper: the sheet less the @page margins of ticket.css.
PRINTABLE_MM = {"a5": (148 - 2 * 8, 210 - 2 * 8), "a4": (210 - 2 * 12, 297 - 2 * 12)}
LANGUAGES = {"zh_Hans": "zh-CN", "en": "en-US"}
# The words the ticket must carry, per language (the catalogue's).
WORDS = {
    "zh_Hans": {
        "consent": "维修过程中如发现新的维修项目，本店会及时与您联系，"
        "在您同意并授权后才会进行维修。",
        "signature": "客户签名",
        "no_prices": "委托维修项目只录入了工时，未录入价格",
        "mileage": "42,000",
    },
    "en": {
        "consent": "If we find more work your car needs during the repair, we will contact "
        "you first and do it only after you agree and authorise it.",
        "signature": "Customer's signature",
        "no_prices": "Only labour hours are recorded for the booked work, no prices",
        "mileage": "42,000",
    },
}


@pytest.fixture
def ticket_problems() -> PageProblems:
    return PageProblems()


def printed(
    browser: Browser,
    contexts: list[BrowserContext],
    problems: PageProblems,
    shop: Any,
    locale: str,
    paper: str = "a5",
) -> Page:
    """A page the size of the paper's printable area, in print media, signed
    in as the advisor (the desk opens the ticket for them)."""
    width, height = PRINTABLE_MM.get(paper, (72, 200))
    context = browser.new_context(
        viewport={"width": round(width * PX_PER_MM), "height": round(height * PX_PER_MM)},
        device_scale_factor=2,
        locale=locale,
        timezone_id="UTC",
        extra_http_headers={"Authorization": f"Bearer {shop.tokens['desk']}"},
    )
    contexts.append(context)
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.emulate_media(media="print")
    return page


def pdf_pages(page: Page) -> int:
    """How many pages Chromium prints, at the paper size ticket.css asks for."""
    document = page.pdf(prefer_css_page_size=True, print_background=False)
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", document))


def overflowing(page: Page) -> list[str]:
    """Elements of the sheet that reach past its right edge."""
    found = page.evaluate(
        """() => {
          const sheet = document.querySelector('.sheet').getBoundingClientRect();
          return Array.from(document.querySelectorAll('.sheet *'))
            .filter((el) => el.getBoundingClientRect().right > sheet.right + 0.5)
            .map((el) => el.tagName + ' ' + (el.textContent || '').slice(0, 30));
        }"""
    )
    return list(found)


def approve_by_phone(workshop: Workshop, shop: Any, order: dict[str, Any]) -> dict[str, Any]:
    """The car in repair, and one quote the customer approved on the phone
    with the advisor."""
    order = workshop.start(workshop.get(order["id"]))
    quote = workshop.quote(order, "更换前刹车片（已磨损至 2 mm）", 1.5, 68000)
    status, body = workshop.call(
        "POST",
        f"/api/v1/orders/{order['id']}/extra-work/{quote['id']}/decision",
        {"approved": True, "quote_version": 1, "channel": "phone"},
        shop.headers("desk", key=f"approve-{order['id']}"),
    )
    assert status == 200, body
    return dict(body)


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_the_ticket_prints_on_one_a5_page_with_everything_the_customer_signs(
    live: Live,
    browser: Browser,
    contexts: list[BrowserContext],
    ticket_problems: PageProblems,
    lang: str,
    screenshots: Path,
) -> None:
    server, shop = live
    set_profile(server, shop)
    workshop = Workshop(http_call(server.url), advisor_of(shop))
    order = open_order(workshop, promised_at="2030-01-01T17:00:00+08:00")
    words = WORDS[lang]

    page = printed(browser, contexts, ticket_problems, shop, LANGUAGES[lang])
    page.goto(f"{server.url}/orders/{order['id']}/ticket?lang={lang}")
    expect(page.locator("html")).to_have_attribute("lang", lang.replace("_", "-"))
    # The shop: name, address, hotline.
    expect(page.locator("#shop-name")).to_have_text(PROFILE["name"])
    expect(page.locator("#shop-address")).to_have_text(PROFILE["address"])
    expect(page.locator("#hotline")).to_have_text(PROFILE["hotline"])
    # The car, and what the customer said (the ticket is handed to them).
    expect(page.locator("#plate")).to_have_text("粤B12345")
    expect(page.locator("#vin")).to_have_text(VIN)
    expect(page.locator("#mileage")).to_have_text(words["mileage"])
    expect(page.locator("#complaint .words")).to_have_text(COMPLAINT)
    expect(page.locator("#customer-name")).to_have_text("张先生")
    expect(page.locator("#advisor-phone")).to_have_text(ADVISOR_PHONE)
    # Times on the shop's clock, not the device's (UTC here).
    expect(page.locator("#promised")).to_have_text("2030-01-01 17:00")
    created = datetime.fromisoformat(order["created_at"]).astimezone(SHOP_ZONE)
    expect(page.locator("#received")).to_have_text(created.strftime("%Y-%m-%d %H:%M"))
    # The estimate: each item with its hours, no invented price.
    rows = page.locator("#estimate tbody tr.work-item")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(0)).to_have_text("更换机油及机油滤芯")
    expect(rows.nth(0).locator(".hours")).to_have_text("1")
    expect(rows.nth(1).locator(".hours")).to_have_text("0.8")
    expect(rows.locator(".price")).to_have_text(["—", "—"])
    expect(page.locator("#total-hours")).to_have_text("1.8")
    expect(page.locator("#total-price")).to_have_text("—")
    expect(page.locator("#price-note")).to_contain_text(words["no_prices"])
    # The consent sentence, and where the customer signs.
    expect(page.locator("#consent")).to_have_text(words["consent"])
    expect(page.locator("#signature")).to_contain_text(words["signature"])
    line = page.locator("#signature-line").bounding_box()
    assert line is not None and line["width"] >= 40 * PX_PER_MM, line
    # Laid out for the paper: one A5 page, nothing past its edge, a QR code
    # a phone reads from arm's length.
    assert page.evaluate("document.getElementById('qr').naturalWidth") > 0
    qr = page.locator("#qr").bounding_box()
    assert qr is not None and qr["width"] >= 40 * PX_PER_MM, qr
    assert overflowing(page) == []
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert pdf_pages(page) == 1
    page.screenshot(path=str(screenshots / f"ticket-{lang}.png"), full_page=True)

    # Reprinted after the customer approved additional work: the line with
    # its price, the amount, the record of the approval; still one A5 page,
    # and one A4 page.
    approve_by_phone(workshop, shop, order)
    page.reload()
    expect(rows).to_have_count(3)
    extra = page.locator("#estimate tr.extra")
    expect(extra.locator(".price")).to_have_text("¥680.00")
    expect(extra.locator(".hours")).to_have_text("1.5")
    expect(page.locator("#total-hours")).to_have_text("3.3")
    expect(page.locator("#total-price")).to_have_text("¥680.00")
    expect(page.locator("#extra-work .quote")).to_have_count(1)
    assert overflowing(page) == []
    page.screenshot(path=str(screenshots / f"ticket-reprint-{lang}.png"), full_page=True)
    assert pdf_pages(page) == 1
    a4 = printed(browser, contexts, ticket_problems, shop, LANGUAGES[lang], paper="a4")
    a4.goto(f"{server.url}/orders/{order['id']}/ticket?paper=a4&lang={lang}")
    expect(a4.locator("body")).to_have_class(re.compile(r"\bpaper-a4\b"))
    assert overflowing(a4) == []
    assert pdf_pages(a4) == 1
    assert ticket_problems.unexpected() == []


def test_the_80mm_ticket_stays_within_the_roll(
    live: Live, browser: Browser, contexts: list[BrowserContext], ticket_problems: PageProblems
) -> None:
    server, shop = live
    workshop = Workshop(http_call(server.url), advisor_of(shop))
    order = open_order(workshop)
    approve_by_phone(workshop, shop, order)
    page = printed(browser, contexts, ticket_problems, shop, "zh-CN", paper="80mm")
    page.goto(f"{server.url}/orders/{order['id']}/ticket?paper=80mm")
    expect(page.locator("#vin")).to_have_text(VIN)
    expect(page.locator("#consent")).to_be_visible()
    expect(page.locator("#signature-line")).to_be_visible()
    assert overflowing(page) == []
    assert ticket_problems.unexpected() == []
