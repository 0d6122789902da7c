"""/reports shows the period's appointments (issue 18), in headless Chromium
(Debian's) against a real ``baylight serve`` on SQLite: booked, checked in,
no-shows and the show rate, the numbers of the reports service's summary
(``appointments``), against the previous period, their labels in Simplified
and Traditional Chinese and in English. Appointments are the front
office's: a foreman's page has no such tile and carries none of their words.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from shared.persistence.appointment_models import Appointment
from shared.services import reports, setup
from tests.browser_support import PageProblems, fits_the_width
from tests.conftest import (
    REPORT_WORKER_NOT_LOWERED,
    LiveServer,
    Shop,
    free_port,
    migrated_copy,
    offline_core,
    seed_shop,
    server_env,
)

pytestmark = [pytest.mark.browser]
SHANGHAI = ZoneInfo("Asia/Shanghai")
PASSWORD = "reports-appointments-1"
DAY = datetime.now(SHANGHAI).date() - timedelta(days=3)
BEFORE = DAY - timedelta(days=1)

LABELS = {
    "zh_Hans": ("预约数", "预约到店", "预约未到店", "预约到店率（到店 ÷ 到店与未到店之和）"),
    "zh_Hant": ("預約數", "預約到店", "預約未到店", "預約到店率（到店 ÷ 到店與未到店之和）"),
    "en": (
        "Appointments booked",
        "Appointments checked in",
        "No-shows",
        "Show rate (checked in of checked in and no-shows)",
    ),
}
LOCALES = {"zh_Hans": "zh-CN", "zh_Hant": "zh-TW", "en": "en-US"}
PATHS = (
    "appointments.booked",
    "appointments.checked_in",
    "appointments.no_shows",
    "appointments.show_rate",
)


def put(shop: Shop, day: date, hour: int, status: str) -> None:
    """An appointment of ``day`` at ``hour`` (shop time) left in ``status``."""
    now = datetime.now(UTC)
    start = datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).astimezone(UTC)
    with shop.core.db.write() as session:
        session.add(
            Appointment(
                shop_id=shop.shop_id,
                plate=f"沪A{secrets.randbelow(90000) + 10000}",
                customer_name="张先生",
                customer_phone="13800001234",
                customer_notify=[],
                complaint="保养",
                items=[{"title": "常规保养", "labour_hours": 1.0, "bay_kind": "general"}],
                start=start,
                status=status,
                token=secrets.token_urlsafe(32),
                source="desk",
                cancel_reason="改期" if status == "cancelled" else "",
                created_at=now,
                updated_at=now,
                by="test",
                version=1,
            )
        )


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[tuple[LiveServer, Shop]]:
    tmp = tmp_path_factory.mktemp("reports-appointments")
    database_url = migrated_copy(migrated_template, tmp / "live.db")
    shop = seed_shop(offline_core(database_url, tmp))
    # The day: 4 booked (2 came, 1 did not, 1 still booked), 1 cancelled.
    for hour, status in enumerate(
        ("checked_in", "checked_in", "no_show", "booked", "cancelled"), start=9
    ):
        put(shop, DAY, hour, status)
    # The day before: 2 booked, 1 came, 1 did not.
    put(shop, BEFORE, 9, "checked_in")
    put(shop, BEFORE, 10, "no_show")
    for lang in LABELS:
        setup.create_user(
            shop.core, shop.shop_id, role="manager", name=f"经理-{lang}", password=PASSWORD
        )
    setup.create_user(shop.core, shop.shop_id, role="foreman", name="车间主管", password=PASSWORD)
    port = free_port()
    env = server_env(database_url, port, tmp, "eventlet", BAYLIGHT_NOTIFY_SENDER="off")
    # The page, not the report worker's priority (tests/test_report_process.py).
    live = LiveServer(env, port, tmp / "server.log", patches=REPORT_WORKER_NOT_LOWERED)
    live.start()
    yield live, shop
    live.stop()
    shop.core.db.dispose()


@pytest.fixture
def contexts(browser: Browser, server: Any) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def open_reports(
    browser: Browser, contexts: list[BrowserContext], live: LiveServer, name: str, lang: str
) -> tuple[Page, PageProblems]:
    problems = PageProblems()
    context = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale=LOCALES[lang], timezone_id="UTC"
    )
    contexts.append(context)
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.goto(f"{live.url}/login?next=/reports&lang={lang}")
    page.locator('input[name="name"]').fill(name)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('button[type="submit"]').click()
    page.wait_for_url(f"{live.url}/reports")
    page.locator("#from").fill(DAY.isoformat())
    page.locator("#to").fill(DAY.isoformat())
    page.locator("#group").select_option("day")
    page.locator("#show").click()
    expect(page.locator("#range")).to_have_attribute(
        "data-loaded", f"{DAY.isoformat()}..{DAY.isoformat()}:day", timeout=15_000
    )
    return page, problems


def tile(page: Page, label: str) -> Any:
    return page.locator("#range-figures .tile[data-figure=appointments]").filter(
        has=page.locator("h3", has_text=re.compile("^" + re.escape(label) + "$"))
    )


@pytest.mark.parametrize("lang", list(LABELS))
def test_the_manager_sees_the_periods_appointments_in_three_languages(
    server: tuple[LiveServer, Shop],
    browser: Browser,
    contexts: list[BrowserContext],
    lang: str,
) -> None:
    live, shop = server
    figures = reports.summary(shop.core, shop.shop_id, DAY, DAY)["appointments"]
    assert figures == {"booked": 4, "checked_in": 2, "no_shows": 1, "show_rate": 0.6667}
    page, problems = open_reports(browser, contexts, live, f"经理-{lang}", lang)
    booked, came, missed, rate = LABELS[lang]
    shown = page.locator("#range-figures .tile[data-figure=appointments]")
    expect(shown).to_have_count(4)
    expect(tile(page, booked).locator(".value")).to_have_text("4")
    expect(tile(page, came).locator(".value")).to_have_text("2")
    expect(tile(page, missed).locator(".value")).to_have_text("1")
    expect(tile(page, rate).locator(".value")).to_have_text("66.7%")
    # The summary has no previous period's appointments: no comparison is
    # made up ("nothing to compare" would be untrue, the day before had some).
    for label in LABELS[lang]:
        expect(tile(page, label).locator(".delta[data-verdict=none]")).to_have_count(0)
    if lang == "en":
        expect(tile(page, booked).locator(".detail")).to_have_text("2 checked in · 1 no-shows")
    # The page shows the reports service's own figures.
    answer = page.request.get(f"{live.url}/reports/api/summary?from={DAY}&to={DAY}")
    assert answer.json()["appointments"] == figures
    assert fits_the_width(page)
    assert not problems.unexpected(), problems.errors


def test_a_foremans_page_has_no_appointments(
    server: tuple[LiveServer, Shop], browser: Browser, contexts: list[BrowserContext]
) -> None:
    live, _shop = server
    page, problems = open_reports(browser, contexts, live, "车间主管", "zh_Hans")
    expect(page.locator("#range-figures .tile").first).to_be_visible()
    expect(page.locator("#range-figures .tile[data-figure=appointments]")).to_have_count(0)
    words = page.evaluate("JSON.parse(document.getElementById('strings').textContent)")
    assert not [spec for spec in words["tiles"] if spec["key"] == "appointments"]
    assert not set(PATHS) & {spec["path"] for spec in words["tiles"]}
    html = page.content()
    assert not [label for label in LABELS["zh_Hans"] if label in html]
    assert not problems.unexpected(), problems.errors
