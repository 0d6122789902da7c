"""Fixtures for the board and lounge tests, most of them in headless
Chromium: the browser fixtures of tests/browser_support.py (one Chromium per
session, a fresh context per test, errors fail the test), plus a live server
on the demo shop and helpers to open more screens and to change orders while
the server is down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page

from shared.demo.seed import DEMO_SLUG, seed_demo
from shared.domain.events import WorkItem
from shared.domain.order import Actor
from shared.domain.stages import Role
from shared.services import orders
from shared.services.commands import CommandRequest, Outcome
from shared.services.core import Core
from tests.browser_support import (  # noqa: F401  (page_strings: for the board's tests)
    PageProblems,
    page_strings,
    pair_screen,
)
from tests.conftest import LiveServer, free_port, offline_core, server_env


@pytest.fixture(scope="module")
def demo_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server on a database seeded with the demo shop (realistic
    plates, models, late jobs, a full workshop), one per module: seeding and
    starting cost seconds, and the tests only pair screens and look."""
    tmp_path = tmp_path_factory.mktemp("demo")
    database_url = f"sqlite:///{tmp_path / 'demo.db'}"
    core = offline_core(database_url, tmp_path)
    seed_demo(core)
    core.db.dispose()
    port = free_port()
    server = LiveServer(
        server_env(database_url, port, tmp_path, "eventlet"), port, tmp_path / "server.log"
    )
    server.start()
    yield server
    server.stop()


class Screens:
    """More screens than the one ``page``: each its own context (own
    localStorage, as two TVs have), with the same error policy."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[tuple[BrowserContext, PageProblems]] = []

    def open(self, width: int = 1920, height: int = 1080, locale: str = "zh-CN") -> Page:
        context = self.browser.new_context(
            viewport={"width": width, "height": height}, locale=locale
        )
        problems = PageProblems()
        opened = context.new_page()
        opened.on("console", problems.on_console)
        opened.on("pageerror", problems.on_page_error)
        opened.problems = problems  # type: ignore[attr-defined]
        self.contexts.append((context, problems))
        return opened

    def close(self) -> list[str]:
        errors: list[str] = []
        for context, problems in self.contexts:
            context.close()
            errors.extend(problems.unexpected())
        return errors


@pytest.fixture
def screens(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Screens]:
    for name in ("live", "demo_live"):
        if name in request.fixturenames:
            request.getfixturevalue(name)
    opened = Screens(browser)
    yield opened
    errors = opened.close()
    if errors:
        pytest.fail("a screen reported errors:\n" + "\n".join(errors))


DEMO = DEMO_SLUG
Live = tuple[Any, Any]


# ------------------------------------------------------------------ helpers

CUSTOMER_NAME = "欧阳先生"
CUSTOMER_PHONE = "13912345678"
COMPLAINT = "刹车异响，左前轮"
VIN = "LSVAB4187E2123456"
ADVISOR = Actor(name="测试接待", roles=frozenset({Role.ADVISOR}), ref="test:advisor")
FOREMAN = Actor(name="测试主管", roles=frozenset({Role.FOREMAN}), ref="test:foreman")


def order_body(
    plate: str, model: str = "帕萨特", promised: str = "2030-01-01T17:00:00+08:00"
) -> dict[str, Any]:
    """A realistic order carrying every private field the lounge must never see."""
    return {
        "plate": plate,
        "customer": {"name": CUSTOMER_NAME, "phone": CUSTOMER_PHONE},
        "vehicle": {"model": model, "vin": VIN, "mileage": 42000},
        "complaint": COMPLAINT,
        "items": [{"title": "更换前刹车片", "labour_hours": 1.5}],
        "promised_at": promised,
        "waiting": True,
    }


def create_order(server: Any, shop: Any, plate: str, **more: Any) -> dict[str, Any]:
    reply = requests.post(
        f"{server.url}/api/v1/orders",
        json=order_body(plate, **more),
        headers=shop.headers("advisor"),
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def planned(server: Any, shop: Any, order_id: int, timeout: float = 15.0) -> dict[str, Any]:
    """The order once the shop-load engine has recorded its estimate of it
    (within about a second of each change): its ``eta`` is the engine's."""
    deadline = time.monotonic() + timeout
    while True:
        reply = requests.get(
            f"{server.url}/api/v1/orders/{order_id}", headers=shop.headers(), timeout=10
        )
        assert reply.status_code == 200, reply.text
        order = dict(reply.json())
        if any(event["type"] == "eta_revised" for event in order["history"]):
            return order
        assert time.monotonic() < deadline, "the engine never planned the order"
        time.sleep(0.1)


def transition(server: Any, shop: Any, order: dict[str, Any], to: str, role: str) -> dict[str, Any]:
    reply = requests.post(
        f"{server.url}/api/v1/orders/{order['id']}/transitions",
        json={"to": to, "version": order["version"]},
        headers=shop.headers(role),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def assign(server: Any, shop: Any, order: dict[str, Any], bay: str = "B01") -> dict[str, Any]:
    reply = requests.put(
        f"{server.url}/api/v1/orders/{order['id']}/assignment",
        json={"bay": bay, "technicians": [shop.technicians[0]], "version": order["version"]},
        headers=shop.headers("foreman"),
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def create_offline(core: Core, shop_id: int, plate: str, **more: Any) -> Outcome:
    """Open an order straight through the service layer on the server's
    database (the server may be down; nothing is published)."""
    body = order_body(plate, **more)
    return orders.create_order(
        core,
        CommandRequest(actor=ADVISOR, shop_id=shop_id),
        plate=body["plate"],
        customer_name=CUSTOMER_NAME,
        customer_phone=CUSTOMER_PHONE,
        vehicle_model=body["vehicle"]["model"],
        vehicle_vin=VIN,
        complaint=COMPLAINT,
        items=[WorkItem("更换前刹车片", 1.5)],
        promised_at=datetime.fromisoformat(body["promised_at"]),
        waiting=True,
    )


def pair(page: Page, server: Any, kind: str, name: str, shop: str | None = None) -> int:
    """Pair the screen (for the shop with slug ``shop``, else the first one);
    wait until it shows its live view. The device id."""
    return pair_screen(page, server, kind, name, shop)
