"""A wall board opened on an address no setting names (a TV on the shop LAN
typing http://192.168.x.y:5000, here 127.0.0.2 on a free port) pairs, opens
its websocket to that same address and goes live, under the real CSP.

The policy's connect-src is only 'self' when BAYLIGHT_PUBLIC_URL is unset (it
is never copied from the request's Host header), so this proves that 'self'
lets the page's own ws:// origin through in the browser the shop runs.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, WebSocket, expect

from tests.browser_support import pair_screen
from tests.e2e.lan import LAN_HOST, StartLan, start_lan  # noqa: F401  (fixture)

from .test_csp import COUNT_VIOLATIONS

pytestmark = pytest.mark.browser


def test_a_board_on_a_lan_address_goes_live_under_its_policy(
    start_lan: StartLan,  # noqa: F811  (started before the page, so stopped after it)
    page: Page,
) -> None:
    server, _shop = start_lan()
    sockets: list[str] = []

    def on_websocket(socket: WebSocket) -> None:
        sockets.append(socket.url)

    page.on("websocket", on_websocket)
    page.add_init_script(COUNT_VIOLATIONS)
    response = page.goto(f"{server.url}/board")
    assert response is not None
    assert "connect-src 'self';" in response.headers["content-security-policy"]
    pair_screen(page, server, "board", "LAN 大屏")
    expect(page.locator("#live")).to_be_visible()
    # The snapshot came over the socket: #empty is drawn from it.
    expect(page.locator("#empty")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == []
    assert sockets, "the board opened no WebSocket"
    assert {(urlsplit(url).hostname, urlsplit(url).port) for url in sockets} == {
        (LAN_HOST, server.port)
    }
