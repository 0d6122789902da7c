"""A revised quote reaches the customer's phone live (issue 20), in headless
Chromium on a phone viewport against a real ``baylight serve`` (eventlet):

- the page shows quote v1; the advisor revises it over REST (PUT) and the
  phone shows v2's terms within a second, without a reload;
- a decision naming version 1 is refused 409 ``stale_version`` (straight to
  the API, and from the page itself when it still shows v1), the quote stays
  pending, and the page says so and reads the order again;
- approving v2 from the page works and is recorded for version 2;
- what the car waits for reads in words (parts and their expected arrival,
  the customer's OK), never the workshop's notes;
- an expired quote is shown as expired, without buttons.

One server for the module: every test opens its own order.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, Page, Route, expect

from shared.persistence.models import Shop as ShopRow
from shared.services import timers
from tests.browser_support import PageProblems
from tests.conftest import (
    LiveServer,
    Shop,
    free_port,
    migrated_copy,
    offline_core,
    parking_lane,
    seed_shop,
    server_env,
)
from tests.reception.flow import Workshop, http_call, token_of

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
Live = tuple[LiveServer, Shop]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Iterator[Live]:
    """A real server on a seeded SQLite database, shared by the module's tests
    (each opens its own orders)."""
    tmp_path = tmp_path_factory.mktemp("quotes")
    database_url = migrated_copy(migrated_template, tmp_path / "live.db")
    shop = seed_shop(offline_core(database_url, tmp_path))
    # Each test's car in repair: a lane that holds them all at once.
    shop.extra["bay"] = parking_lane(shop.core, shop.shop_id)
    port = free_port()
    live = LiveServer(server_env(database_url, port, tmp_path, "eventlet"), port, tmp_path / "log")
    live.start()
    yield live, shop
    live.stop()
    shop.core.db.dispose()


@pytest.fixture
def phone_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def phone(
    browser: Browser, server: Live, request: pytest.FixtureRequest, phone_problems: PageProblems
) -> Iterator[Page]:
    """A phone-sized page whose language is the parameter (zh-CN unless
    told), failing the test on any console error or uncaught exception."""
    locale = getattr(request, "param", "zh-CN")
    context = browser.new_context(locale=locale, device_scale_factor=2, **PHONE)
    page = context.new_page()
    page.on("console", phone_problems.on_console)
    page.on("pageerror", phone_problems.on_page_error)
    yield page
    context.close()
    assert phone_problems.unexpected() == []


def strings(page: Page, block: str = "strings") -> dict[str, Any]:
    return dict(page.evaluate(f"JSON.parse(document.getElementById('{block}').textContent)"))


def fill(template: str, **values: object) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def call(server: Any, shop: Shop, method: str, path: str, body: Any, role: str = "advisor") -> Any:
    reply = requests.request(
        method,
        f"{server.url}/api/v1{path}",
        json=body,
        headers=shop.headers(role, key=str(uuid.uuid4())),
        timeout=10,
    )
    return reply


def quoted_order(server: Any, shop: Shop, plate: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An order in repair with one quote for additional work (v1)."""
    workshop = Workshop(http_call(server.url), shop)
    order = workshop.create(plate=plate)
    body = {"bay": shop.extra["bay"], "technicians": [shop.technicians[0]], "version": 1}
    order = call(server, shop, "PUT", f"/orders/{order['id']}/assignment", body, "foreman").json()
    order = workshop.move(order, "in_progress")
    quote = workshop.quote(order, "更换前刹车片", 1.5, 68000)
    return quote["order"], quote


def test_a_revised_quote_replaces_the_old_one_live_and_only_v2_can_be_approved(
    server: Live, phone: Page, phone_problems: PageProblems
) -> None:
    live, shop = server
    order, quote = quoted_order(live, shop, "粤B20001")
    token = token_of(order)
    phone.goto(f"{live.url}/t/{token}")
    holds = strings(phone, "hold-strings")
    text = strings(phone)
    line = phone.locator(f'#quotes li[data-quote-id="{quote["id"]}"]')
    expect(line).to_have_attribute("data-quote-version", "1")
    expect(line.locator(".price")).to_have_text("¥680.00")
    expect(line.locator(".version")).to_have_text(fill(holds["version"], version=1))
    expect(line.locator("button.approve")).to_be_enabled()
    expect(phone.locator("#pause li")).to_have_text([holds["approval"]])
    phone.evaluate("window.stillTheSamePage = true")

    # The advisor revises it: the phone shows v2 within a second, no reload.
    revised = call(
        live,
        shop,
        "PUT",
        f"/orders/{order['id']}/extra-work/{quote['id']}",
        {
            "description": "更换前刹车片及刹车盘",
            "labour_hours": 2.0,
            "price_cents": 128000,
            "quote_version": 1,
        },
    )
    assert revised.status_code == 200, revised.text
    assert revised.json()["version"] == 2
    started = time.monotonic()
    expect(line.locator(".price")).to_have_text("¥1280.00", timeout=1000)
    assert time.monotonic() - started < 1.0
    expect(line).to_have_attribute("data-quote-version", "2")
    expect(line.locator(".description")).to_have_text("更换前刹车片及刹车盘")
    expect(line.locator(".hours")).to_have_text(fill(text["quote_hours"], hours=2))
    expect(line.locator(".version")).to_have_text(fill(holds["version"], version=2))
    expect(line).to_have_class("quote quote-pending revised")
    expect(phone.locator("#quote-news")).to_have_text(fill(holds["quote_revised"], version=2))
    assert phone.evaluate("window.stillTheSamePage") is True

    # A decision on the version the customer saw before is refused.
    stale = requests.post(
        f"{live.url}/api/v1/track/{token}/extra-work/{quote['id']}/decision",
        json={"approved": True, "quote_version": 1},
        timeout=10,
    )
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version", stale.text
    staff = call(live, shop, "GET", f"/orders/{order['id']}", None).json()
    assert [(q["status"], q["version"]) for q in staff["quotes"]] == [("pending", 2)]

    # The page itself, as if the revision had not reached it yet: its approve
    # names version 1; the server's 409 is said in words and the page reads
    # the order again.
    def as_if_v1(route: Route) -> None:
        body = route.request.post_data_json
        route.continue_(post_data={**body, "quote_version": 1})

    decision = f"**/api/v1/track/{token}/extra-work/{quote['id']}/decision"
    phone_problems.allow("status of 409")  # the refusal this part is about
    phone.route(decision, as_if_v1)
    reading = phone.expect_response(lambda r: r.url.endswith(f"/api/v1/track/{token}"))
    deciding = phone.expect_response(lambda r: r.url.endswith("/decision"))
    with reading as reread, deciding as refused:
        line.locator("button.approve").tap()
    assert refused.value.status == 409
    assert reread.value.status == 200
    expect(phone.locator("#quote-message")).to_have_text(holds["quote_changed"])
    expect(line).to_have_attribute("data-status", "pending")
    expect(line.locator("button.approve")).to_be_enabled()
    phone.unroute(decision)
    staff = call(live, shop, "GET", f"/orders/{order['id']}", None).json()
    assert [(q["status"], q["version"]) for q in staff["quotes"]] == [("pending", 2)]

    # Approving v2 from the page works.
    line.locator("button.approve").tap()
    expect(line).to_have_attribute("data-status", "approved")
    expect(line.locator(".decision")).to_contain_text(text["approved"])
    expect(line.locator("button")).to_have_count(0)
    expect(phone.locator("#quote-news")).to_be_hidden()
    expect(phone.locator("#pause")).to_be_hidden()
    history = call(live, shop, "GET", f"/orders/{order['id']}", None).json()["history"]
    decided = [e["data"] for e in history if e["type"] == "extra_work_decided"]
    assert [(d["approved"], d["quote_version"], d["channel"]) for d in decided] == [
        (True, 2, "customer_page")
    ]


def test_the_phone_says_what_the_car_waits_for_in_its_own_words(server: Live, phone: Page) -> None:
    live, shop = server
    order, _quote = quoted_order(live, shop, "粤B20002")
    asked = call(
        live,
        shop,
        "POST",
        f"/orders/{order['id']}/parts",
        {"description": "左前刹车分泵（内部备注：供应商 A 缺货）"},
        role="technician",
    )
    assert asked.status_code == 201, asked.text
    part = asked.json()
    phone.goto(f"{live.url}/t/{token_of(order)}")
    holds = strings(phone, "hold-strings")
    reasons = phone.locator("#pause li")
    expect(reasons).to_have_text([holds["approval"], holds["parts"]])

    # The parts counter orders it for tomorrow 15:30 shop time: the phone
    # says when, with the date (it is not today).
    zone = shop_zone(shop)
    eta = (shop.core.now() + timedelta(days=1)).astimezone(zone)
    eta = eta.replace(hour=15, minute=30, second=0, microsecond=0)
    ordered = call(
        live,
        shop,
        "PATCH",
        f"/orders/{order['id']}/parts/{part['id']}",
        {"status": "ordered", "eta": eta.isoformat()},
    )
    assert ordered.status_code == 200, ordered.text
    expected = phone.locator('#pause li[data-reason="parts"]')
    expect(expected).to_contain_text("15:30")
    shown = expected.inner_text()
    day = phone.evaluate(
        """([iso, zone, lang]) => new Intl.DateTimeFormat(lang,
             {timeZone: zone, month: "numeric", day: "numeric"}).format(new Date(iso))""",
        [eta.isoformat(), zone.key, "zh-Hans"],
    )
    assert shown == fill(holds["parts_due"], time=f"{day} 15:30")
    # Never the workshop's note.
    assert "供应商" not in phone.locator("body").inner_text()


def shop_zone(shop: Shop) -> ZoneInfo:
    """The seeded shop's own time zone (what the page shows times in)."""
    with shop.core.db.read() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        return ZoneInfo(row.timezone)


def test_an_expired_quote_is_shown_as_expired_without_buttons(server: Live, phone: Page) -> None:
    live, shop = server
    order, quote = quoted_order(live, shop, "粤B20003")
    phone.goto(f"{live.url}/t/{token_of(order)}")
    line = phone.locator(f'#quotes li[data-quote-id="{quote["id"]}"]')
    expect(line.locator("button.approve")).to_be_visible()
    holds = strings(phone, "hold-strings")
    expect(line.locator(".answer-by")).to_contain_text(":")

    # The shop's clock, five hours on, expires it (the server's own timer
    # does the same every 30 s); the page reads the order on reload.
    later = replace(shop.core, clock=lambda: shop.core.now() + timedelta(hours=5))
    assert timers.expire_due_quotes(later) >= 1
    phone.reload()
    expect(line).to_have_attribute("data-status", "expired")
    expect(line.locator(".decision")).to_have_text(holds["expired"])
    expect(line.locator("button")).to_have_count(0)

    # A late answer is refused as expired.
    late = requests.post(
        f"{live.url}/api/v1/track/{token_of(order)}/extra-work/{quote['id']}/decision",
        json={"approved": True, "quote_version": 1},
        timeout=10,
    )
    assert late.status_code == 409 and late.json()["code"] == "quote_expired"
