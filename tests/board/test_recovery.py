"""Both wall screens recover by themselves when the server dies: the server is
killed (no goodbye to any socket), an order changes while it is down (through
the service layer on the same database, as a second worker or the CLI would),
the server comes back on the same port, and the board and the lounge show the
change within seconds, without anyone touching them. A change made over REST
after they reconnected arrives live as before."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from shared.domain.stages import Stage
from shared.services import orders
from shared.services.commands import CommandRequest
from tests.browser_support import install_clock

from .conftest import ADVISOR, Live, Screens, create_offline, create_order, pair

pytestmark = pytest.mark.browser

# Socket.IO retries at most every 4 s (reconnectionDelayMax) once the server
# is back; one more second for the connect, the catch-up and the drawing.
RECOVER_WITHIN_MS = 6_000


def test_board_and_lounge_recover_from_a_killed_server(live: Live, screens: Screens) -> None:
    server, shop = live
    before = create_order(server, shop, "粤B11111")
    board: Page = screens.open()
    lounge: Page = screens.open()
    # Pairing moves the screens' clocks past the poll interval; from then on
    # their time runs as real time does, so the recovery below is timed for real.
    install_clock(board)
    install_clock(lounge)
    board.goto(f"{server.url}/board?lang=en")
    pair(board, server, "board", "车间大屏")
    lounge.goto(f"{server.url}/lounge?lang=en")
    pair(lounge, server, "lounge", "休息区电视")
    expect(board.locator(f'#orders tr[data-order-id="{before["id"]}"]')).to_be_visible()
    expect(lounge.locator(f'#orders tr[data-order-id="{before["id"]}"]')).to_be_visible()
    for screen in (board, lounge):
        # While the server is gone the browser reports refused connections.
        screen.problems.allow("WebSocket connection")  # type: ignore[attr-defined]
        screen.problems.allow("ERR_CONNECTION_REFUSED")  # type: ignore[attr-defined]

    server.kill()
    made = create_offline(shop.core, shop.shop_id, "粤B22222").body
    cancelled = orders.transition_order(
        shop.core,
        CommandRequest(actor=ADVISOR, shop_id=shop.shop_id),
        before["id"],
        to=Stage.CANCELLED,
        version=before["version"],
        reason="客户改约",
    )
    assert cancelled.body["stage"] == "cancelled"
    server.start()
    back = time.monotonic()

    for screen in (board, lounge):
        expect(screen.locator(f'#orders tr[data-order-id="{made["id"]}"]')).to_be_visible(
            timeout=RECOVER_WITHIN_MS
        )
        expect(screen.locator(f'#orders tr[data-order-id="{before["id"]}"]')).to_have_count(0)
    took = time.monotonic() - back
    assert took < RECOVER_WITHIN_MS / 1000

    # And live again: a REST change reaches both within a second.
    third = create_order(server, shop, "粤B33333")
    for screen in (board, lounge):
        expect(screen.locator(f'#orders tr[data-order-id="{third["id"]}"]')).to_be_visible(
            timeout=1_000
        )
    expect(board.locator("#stale")).to_be_hidden()
    expect(lounge.locator("#stale")).to_be_hidden()
