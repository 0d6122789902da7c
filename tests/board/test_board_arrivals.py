"""The wall board's booked arrivals (issue 18): when the shop turns on
``appointments.board_arrivals``, the board shows the cars booked within the
next hour by time and masked plate, never a name or a phone.

The read (/board/api/arrivals) on the real app and SQLite, and the board in
headless Chromium (Debian's) against a real ``baylight serve``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from shared.persistence.appointment_models import Appointment
from shared.persistence.models import Shop as ShopRow
from shared.services import appointment_settings
from tests.browser_support import PageProblems
from tests.conftest import (
    LiveServer,
    Shop,
    free_port,
    migrated_copy,
    offline_core,
    seed_shop,
    server_env,
)


def put_booking(shop: Shop, plate: str, start: datetime, status: str = "booked") -> int:
    now = datetime.now(UTC)
    with shop.core.db.write() as session:
        row = Appointment(
            shop_id=shop.shop_id,
            plate=plate,
            customer_name="吴先生",
            customer_phone="13700009999",
            items=[{"title": "常规保养", "labour_hours": 1.0, "bay_kind": "general"}],
            start=start,
            status=status,
            token=secrets.token_urlsafe(32),
            source="desk",
            cancel_reason="",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return int(row.id)


def show_arrivals(shop: Shop, on: bool) -> None:
    """The shop's setting, as the shop page stores it."""
    with shop.core.db.write() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        settings = dict(row.settings or {})
        settings[appointment_settings.APPOINTMENTS] = {
            **dict(settings.get(appointment_settings.APPOINTMENTS) or {}),
            "board_arrivals": on,
        }
        row.settings = settings


def bookings(shop: Shop) -> dict[str, datetime]:
    """Bookings around now: two due within the hour, one a few minutes late,
    one later, one cancelled, one checked in."""
    now = datetime.now(UTC).replace(microsecond=0)
    starts = {
        "粤B61001": now + timedelta(minutes=20),
        "粤B61002": now + timedelta(minutes=50),
        "粤B61003": now - timedelta(minutes=5),
        "粤B61004": now + timedelta(minutes=90),
    }
    for plate, start in starts.items():
        put_booking(shop, plate, start)
    put_booking(shop, "粤B61005", now + timedelta(minutes=30), status="cancelled")
    put_booking(shop, "粤B61006", now + timedelta(minutes=10), status="checked_in")
    return starts


def test_arrivals_only_when_the_shop_shows_them_masked_and_without_names(
    client: Any, shop: Shop
) -> None:
    starts = bookings(shop)
    board = shop.headers("display-board")
    reply = client.get("/board/api/arrivals", headers=board)
    assert reply.status_code == 200
    assert reply.get_json() == {"shown": False, "arrivals": []}

    show_arrivals(shop, True)
    reply = client.get("/board/api/arrivals", headers=board)
    assert reply.status_code == 200
    assert reply.headers["Cache-Control"] == "no-store"
    found = reply.get_json()
    assert found["shown"] is True
    assert [a["plate"] for a in found["arrivals"]] == ["粤B·***03", "粤B·***01", "粤B·***02"]
    for arrival in found["arrivals"]:
        assert set(arrival) == {"start", "plate"}
    first = datetime.fromisoformat(found["arrivals"][1]["start"])
    assert first == starts["粤B61001"]
    words = json.dumps(found, ensure_ascii=False)
    assert "吴先生" not in words and "13700009999" not in words and "61001" not in words

    # Only the board reads it: not a staff member, not without a token.
    assert client.get("/board/api/arrivals", headers=shop.headers("advisor")).status_code == 403
    assert client.get("/board/api/arrivals").status_code == 401


@pytest.fixture
def server(tmp_path: Path, migrated_template: Path) -> Iterator[tuple[LiveServer, Shop]]:
    database_url = migrated_copy(migrated_template, tmp_path / "live.db")
    shop = seed_shop(offline_core(database_url, tmp_path))
    port = free_port()
    env = server_env(database_url, port, tmp_path, "eventlet", BAYLIGHT_NOTIFY_SENDER="off")
    live = LiveServer(env, port, tmp_path / "server.log")
    live.start()
    yield live, shop
    live.stop()
    shop.core.db.dispose()


@pytest.mark.browser
def test_the_board_shows_the_next_hours_arrivals_at_the_bays_size(
    server: tuple[LiveServer, Shop], browser: Browser
) -> None:
    live, shop = server
    bookings(shop)
    show_arrivals(shop, True)
    problems = PageProblems()
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="zh-CN", timezone_id="UTC"
    )
    try:
        # The board as a paired screen holds its token.
        token = json.dumps(shop.tokens["display-board"])
        context.add_init_script(f"localStorage.setItem('baylight.device.board', {token})")
        page = context.new_page()
        page.on("console", problems.on_console)
        page.on("pageerror", problems.on_page_error)
        page.goto(f"{live.url}/board")
        panel = page.locator("#arrivals-panel")
        expect(panel).to_be_visible()
        expect(panel.locator("h2")).to_have_text("一小时内预约到店")
        rows = panel.locator("li.arrival")
        expect(rows).to_have_count(3)
        expect(rows.nth(1).locator(".arrival-plate")).to_have_text("粤B·***01")
        assert "吴先生" not in panel.inner_text()
        # Read at 5 m: the plate is as large as a bay's car on the strip.
        sizes = page.evaluate(
            """() => ['#arrivals .arrival-plate', '#bays'].map(
                (css) => parseFloat(getComputedStyle(document.querySelector(css)).fontSize))"""
        )
        assert sizes[0] >= sizes[1] > 0, sizes
        assert not problems.unexpected(), problems.errors
    finally:
        context.close()
