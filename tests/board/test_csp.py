"""The board runs under its Content Security Policy and talks to no one but its
own server: scripts, styles and the Socket.IO client are served from static/,
and the live connection goes back to the page's own origin.

A wall TV in a workshop may have no internet at all, and a CDN script would
be a way in for whoever controls the CDN.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, WebSocket, expect

from tests.browser_support import pair_screen

pytestmark = pytest.mark.browser

CSP_MARKER = "Content Security Policy"
# Violations also reach the page as DOM events; count them from the first script on.
COUNT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def test_board_loads_and_goes_live_without_csp_violations_or_foreign_hosts(
    page: Page, live: tuple[Any, Any]
) -> None:
    server, _shop = live
    console_csp: list[str] = []
    requested: list[str] = []
    sockets: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if CSP_MARKER in message.text:
            console_csp.append(message.text)

    def on_request(request: Request) -> None:
        requested.append(request.url)

    def on_websocket(socket: WebSocket) -> None:
        sockets.append(socket.url)

    page.on("console", on_console)
    page.on("request", on_request)
    page.on("websocket", on_websocket)
    page.add_init_script(COUNT_VIOLATIONS)

    page.goto(f"{server.url}/board")
    # Paired, the board loads the Socket.IO client and opens its socket: the
    # parts of the page a CSP is most likely to break.
    pair_screen(page, server, "board", "CSP 测试屏")
    expect(page.locator("#live")).to_be_visible()
    # The snapshot came over the socket: #empty is drawn from it.
    expect(page.locator("#empty")).to_be_visible()

    assert console_csp == []
    assert page.evaluate("window.__cspViolations") == []
    assert any(urlsplit(url).path == "/static/vendor/socket.io.min.js" for url in requested)
    assert sockets, "the board opened no WebSocket"
    foreign = [url for url in requested + sockets if urlsplit(url).hostname != "127.0.0.1"]
    assert foreign == []
