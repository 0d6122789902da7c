"""Set-up shared by the appointment browser tests (the foreman's panel of
tomorrow, the desk's bookings, the appointment forms, the desk's alerts):
a real ``baylight serve`` per test module on its own SQLite copy with its
sender off and a shop of its own on it for each test, a browser signed in
at a page, a booking written as the desk leaves one, and tomorrow's
capacity as the API gives it. One place, so that the tests
differ only in what they check."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page

from shared.persistence.appointment_models import Appointment
from shared.services import setup
from shared.services.appointment_keeper import EVERY_SECONDS
from shared.services.core import Core
from tests.browser_support import PageProblems
from tests.conftest import (
    LiveServer,
    Shop,
    free_port,
    migrated_copy,
    offline_core,
    retire_staff,
    seed_shop,
    server_env,
)

SHOP_ZONE = ZoneInfo("Asia/Shanghai")


@dataclass
class SharedShopServer:
    """One ``baylight serve`` (sender off) for a whole test module, the core
    on its database, and when it was started."""

    server: LiveServer
    core: Core
    started: float = 0.0
    shops: int = 0

    def start(self) -> None:
        self.server.start()
        self.started = time.monotonic()


# serve's appointment keeper sleeps EVERY_SECONDS after the server starts,
# then marks due no-shows and queues reminders in every shop. A server of
# its own per test never ran a round inside a test; the shared server is
# restarted once it has been up half that long, so it still does not.
FRESH_FOR = EVERY_SECONDS / 2


def booking_live_server(
    tmp: Path, template: Path, patches: dict[str, float | bool] | None = None
) -> tuple[LiveServer, Core]:
    """A real server (not started yet) on a fresh SQLite copy in ``tmp``, its
    sender off, and the core on its database; ``patches`` as ``LiveServer``'s."""
    database_url = migrated_copy(template, tmp / "live.db")
    core = offline_core(database_url, tmp)
    port = free_port()
    env = server_env(database_url, port, tmp, "eventlet", BAYLIGHT_NOTIFY_SENDER="off")
    return LiveServer(env, port, tmp / "server.log", patches=patches), core


@pytest.fixture(scope="module")
def booking_server(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[SharedShopServer]:
    """The server behind ``server_fixture``'s ``server`` in one test module:
    a real server on its own SQLite database, its sender off (what the
    pages show is what the outbox holds)."""
    live, core = booking_live_server(tmp_path_factory.mktemp("booking"), migrated_template)
    shared = SharedShopServer(live, core)
    shared.start()
    try:
        yield shared
    finally:
        shared.server.stop()
        core.db.dispose()


# A shop whose day is clear of midnight now: the tests that put bookings
# some minutes before now on "today's arrivals" need today to have begun
# that long ago, and a booking moved to "another day" needs a later day in
# the grid. Shanghai from 02:00 to 22:00; else New York (13 hours behind:
# 09:00-13:00 there), another zone than the browser's UTC all the same.
CLEAR_OF_MIDNIGHT = ("Asia/Shanghai", "America/New_York")


def zone_clear_of_midnight() -> str:
    """The first of ``CLEAR_OF_MIDNIGHT`` whose local hour is 02-21 now."""
    for name in CLEAR_OF_MIDNIGHT:
        if 2 <= datetime.now(ZoneInfo(name)).hour < 22:
            return name
    raise AssertionError("no zone of CLEAR_OF_MIDNIGHT is clear of midnight")


def server_fixture(
    *users: tuple[str, str, str], timezone: Callable[[], str] | None = None
) -> object:
    """A test module's ``server`` fixture: the module's ``booking_server``
    and a shop of the test's own on it (its own bays, staff, tokens,
    bookings and orders, as on a server of its own) with these (role, name,
    password) users, who sign in through the page. Office staff sign in by
    name over every shop of the database, so a finished test's staff are
    deactivated. ``timezone`` chooses the shop's zone when the test starts
    (Asia/Shanghai without it)."""

    @pytest.fixture(name="server")
    def server(booking_server: SharedShopServer) -> Iterator[tuple[LiveServer, Shop]]:
        shared = booking_server
        if time.monotonic() - shared.started > FRESH_FOR:
            shared.server.stop()
            shared.start()
        shared.shops += 1
        zone = timezone() if timezone is not None else "Asia/Shanghai"
        shop = seed_shop(shared.core, slug=f"test-{shared.shops}", timezone=zone)
        for role, name, password in users:
            setup.create_user(shop.core, shop.shop_id, role=role, name=name, password=password)
        yield shared.server, shop
        retire_staff(shared.core, shop.shop_id)

    return server


def contexts_fixture(name: str) -> object:
    """A fixture (called ``name``) holding the test's browsers: as it asks
    for the server, they are closed before the server stops (a page left
    open logs reconnects)."""

    @pytest.fixture(name=name)
    def contexts(
        browser: Browser, server: tuple[LiveServer, Shop]
    ) -> Iterator[list[BrowserContext]]:
        opened: list[BrowserContext] = []
        yield opened
        for context in opened:
            context.close()

    return contexts


def sign_in(page: Page, live: LiveServer, path: str, name: str, password: str) -> None:
    """Signs ``page`` in as ``name`` through the login form and waits for ``path``."""
    page.goto(f"{live.url}/login?next={path}")
    page.get_by_label(re.compile("^(姓名|Your name)$")).fill(name)
    page.get_by_label(re.compile("^(密码|Password)$")).fill(password)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{live.url}{path}")


def watched_page(context: BrowserContext, problems: PageProblems) -> Page:
    """A new page whose console errors and uncaught errors ``problems`` collects."""
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    return page


def open_signed_in(
    browser: Browser,
    contexts: list[BrowserContext],
    problems: PageProblems,
    live: LiveServer,
    *,
    path: str,
    name: str,
    password: str,
    size: tuple[int, int] = (1366, 900),
    locale: str = "zh-CN",
) -> Page:
    """A new browser (its clock in UTC, the shop's in Asia/Shanghai) signed
    in as ``name`` and showing ``path``."""
    width, height = size
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale=locale, timezone_id="UTC"
    )
    contexts.append(context)
    page = watched_page(context, problems)
    sign_in(page, live, path, name, password)
    return page


def book(shop: Shop, plate: str, start: datetime, **fields: Any) -> int:
    """An appointment written as a booking at the desk leaves it (booked);
    ``fields`` set or override its other columns."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "shop_id": shop.shop_id,
        "plate": plate,
        "customer_name": "周先生",
        "items": [{"title": "常规保养", "labour_hours": 1.0, "bay_kind": "general"}],
        "start": start,
        "status": "booked",
        "token": secrets.token_urlsafe(32),
        "source": "desk",
        "cancel_reason": "",
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    with shop.core.db.write() as session:
        row = Appointment(**values)
        session.add(row)
        session.flush()
        return int(row.id)


def tomorrow() -> str:
    """Tomorrow in the shop's time zone, ISO."""
    return (datetime.now(SHOP_ZONE) + timedelta(days=1)).date().isoformat()


def tomorrow_capacity(live: LiveServer, shop: Shop) -> dict[str, Any]:
    """Tomorrow's capacity as GET /api/v1/capacity gives it to the foreman."""
    reply = requests.get(
        f"{live.url}/api/v1/capacity?date={tomorrow()}", headers=shop.headers("foreman"), timeout=10
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def tomorrow_line(words: dict[str, Any], kind: str, figures: dict[str, float]) -> str:
    """A kind of bay's line of the foreman's panel of tomorrow, as foreman.js fills it."""
    template = str(words["tomorrow_kind"])
    values = {
        "kind": words["kinds"][kind],
        "booked": f"{figures['booked']:.1f}",
        "held": f"{figures['held']:.1f}",
        "free": f"{figures['free']:.1f}",
    }
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template
