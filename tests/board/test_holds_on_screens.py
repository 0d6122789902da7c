"""The wall board and the lounge TV say what a paused car waits for, in
words (issue 20), against a real ``baylight serve``: the board the parts
and their expected arrival and the customer's OK; the lounge the same from
the reason codes alone, never the workshop's note."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Browser, expect

from tests.board.conftest import page_strings, pair
from tests.conftest import (
    LiveServer,
    free_port,
    migrated_copy,
    offline_core,
    parking_lane,
    seed_shop,
    server_env,
)

pytestmark = pytest.mark.browser
NOTE = "前刹车片 workshop note"
# Tomorrow in the shop's time zone: the screens must show its date.
TOMORROW = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Iterator[Any]:
    tmp_path = tmp_path_factory.mktemp("holds")
    database_url = migrated_copy(migrated_template, tmp_path / "live.db")
    shop = seed_shop(offline_core(database_url, tmp_path))
    lane = parking_lane(shop.core, shop.shop_id)
    port = free_port()
    live = LiveServer(server_env(database_url, port, tmp_path, "eventlet"), port, tmp_path / "log")
    live.start()
    yield live, shop, lane
    live.stop()
    shop.core.db.dispose()


def call(server: Any, shop: Any, method: str, path: str, role: str, body: Any = None) -> Any:
    reply = requests.request(
        method, server.url + path, json=body, headers=shop.headers(role), timeout=10
    )
    assert reply.status_code < 300, reply.text
    return reply.json()


def waiting_car(server: Any, shop: Any, lane: str) -> dict[str, Any]:
    """A car in repair that waits for parts (expected tomorrow 15:30 shop
    time) and for the customer's OK."""
    order = call(server, shop, "POST", "/api/v1/orders", "advisor", {"plate": "粤B77001"})
    order = call(
        server,
        shop,
        "PUT",
        f"/api/v1/orders/{order['id']}/assignment",
        "foreman",
        {"bay": lane, "technicians": [shop.technicians[0]], "version": order["version"]},
    )
    path = f"/api/v1/orders/{order['id']}"
    order = call(
        server,
        shop,
        "POST",
        path + "/transitions",
        "technician",
        {"to": "in_progress", "version": order["version"]},
    )
    call(server, shop, "POST", path + "/parts", "technician", {"description": NOTE})
    call(
        server,
        shop,
        "PATCH",
        path + "/parts/1",
        "advisor",
        {"status": "ordered", "eta": f"{TOMORROW.isoformat()}T15:30:00+08:00"},
    )
    order = call(server, shop, "GET", path, "admin")
    call(
        server,
        shop,
        "POST",
        path + "/extra-work",
        "technician",
        {
            "description": "雨刮",
            "labour_hours": 0.2,
            "price_cents": 100,
            "version": order["version"],
        },
    )
    return call(server, shop, "GET", path, "admin")


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_board_and_lounge_say_what_a_paused_car_waits_for(
    browser: Browser, server: Any, locale: str
) -> None:
    live, shop, lane = server
    order = (
        waiting_car(live, shop, lane)
        if locale == "zh-CN"
        else call(live, shop, "GET", "/api/v1/orders?active=true", "admin")["orders"][0]
    )
    assert [r["reason"] for r in order["pause_reasons"]] == ["parts", "approval"]
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale=locale)
    try:
        board = context.new_page()
        board.goto(live.url + "/board")
        pair(board, live, "board", f"board {locale}")
        text = page_strings(board)
        row = board.locator(f'tr[data-order-id="{order["id"]}"]')
        parts = row.locator(".reason-parts")
        expect(parts).to_contain_text("15:30", timeout=10_000)
        expect(parts).to_contain_text(f"{TOMORROW.month}/{TOMORROW.day}")  # not today
        expect(row.locator(".reason-approval")).to_have_text(text["pause"]["approval"])

        lounge = context.new_page()
        lounge.goto(live.url + "/lounge")
        pair(lounge, live, "lounge", f"lounge {locale}")
        words = page_strings(lounge)["holds"]["parts_approval"]
        car = lounge.locator(f'tr[data-order-id="{order["id"]}"] .stage')
        expect(car).to_have_text(words, timeout=10_000)
        assert NOTE not in lounge.content()
    finally:
        context.close()
