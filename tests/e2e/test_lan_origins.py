"""Screens and customer links work on whatever address the server is reached
by, as on a shop LAN, while every other web page stays locked out.

A real ``baylight serve`` is bound to 127.0.0.2 on a free port, an address
and port no setting names (like a TV opening http://192.168.x.y:5000), and
real Socket.IO clients and HTTP requests reach it there. The rule:

- a handshake whose ``Origin`` is the handshake's own scheme and host (as the
  server sees them) is accepted, in every async mode;
- BAYLIGHT_PUBLIC_URL's origin and BAYLIGHT_ALLOWED_ORIGINS add to that;
- any other ``Origin`` is refused;
- customer links use BAYLIGHT_PUBLIC_URL when set, else the address the
  request came in on; the CSP is never built from request headers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from shared.config import ConfigError, Settings, lan_address, reachable_url
from shared.services import links, orders, reception
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.web.app import create_app
from tests.conftest import Shop, migrated_copy, seed_shop

from .lan import LAN_HOST, StartLan, handshake, shared_lan  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

DMS_ORIGIN = "https://dms.example"
PUBLIC_URL = "https://service.example"
NO_PUBLIC_URL = "BAYLIGHT_PUBLIC_URL is not set"
ORDER = {"plate": "粤B12345", "customer": {"name": "张先生", "phone": "13800000000"}}


def create_order(url: str, shop: Shop) -> dict[str, Any]:
    reply = requests.post(
        f"{url}/api/v1/orders", json=ORDER, headers=shop.headers("advisor"), timeout=10
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def polling_handshake(url: str, origin: str) -> requests.Response:
    """The first request of a polling Socket.IO connection, from ``origin``."""
    return requests.get(
        f"{url}/socket.io/",
        params={"EIO": "4", "transport": "polling"},
        headers={"Origin": origin},
        timeout=10,
    )


# ------------------------------------------------------------- live servers
#
# The tests share a server where they ask for the same mode and settings
# (``shared_lan``): five servers for seven tests. None looks for an order
# another test on its server made.


@pytest.mark.parametrize("mode", ["eventlet", "gevent", "threading"])
def test_a_screen_connects_from_its_own_origin_on_any_address(
    shared_lan: StartLan,  # noqa: F811
    mode: str,
) -> None:
    server, shop = shared_lan(mode, BAYLIGHT_ALLOWED_ORIGINS=DMS_ORIGIN)
    board = shop.tokens["display-board"]
    order = create_order(server.url, shop)

    # The page's own origin: the address and port it was opened on.
    snapshot = handshake(server.url, f"http://{LAN_HOST}:{server.port}", board)
    assert snapshot is not None, server.log.read_text()[-3000:]
    assert [o["id"] for o in snapshot["orders"]] == [order["id"]]
    # A configured origin adds to the page's own.
    assert handshake(server.url, DMS_ORIGIN, board) is not None
    # Every other origin is refused, another port of the same host included.
    assert handshake(server.url, "http://evil.example", board) is None
    assert handshake(server.url, f"http://{LAN_HOST}:{server.port + 1}", board) is None
    assert handshake(server.url, f"https://{LAN_HOST}:{server.port}", board) is None
    assert handshake(server.url, "null", board) is None
    # A client that is no browser sends no Origin; its credential decides.
    assert handshake(server.url, None, board) is not None
    assert handshake(server.url, None, "not-a-token") is None


def test_polling_handshakes_get_cors_only_for_accepted_origins(
    shared_lan: StartLan,  # noqa: F811
) -> None:
    server, _shop = shared_lan("eventlet", BAYLIGHT_ALLOWED_ORIGINS=DMS_ORIGIN)
    own = f"http://{LAN_HOST}:{server.port}"
    for origin in (own, DMS_ORIGIN):
        accepted = polling_handshake(server.url, origin)
        assert accepted.status_code == 200, (origin, accepted.text)
        assert accepted.headers["Access-Control-Allow-Origin"] == origin
    refused = polling_handshake(server.url, "http://evil.example")
    assert refused.status_code == 400
    assert "Not an accepted origin" in refused.text
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_without_a_public_url_links_follow_the_address_and_serve_warns(
    shared_lan: StartLan,  # noqa: F811
) -> None:
    server, shop = shared_lan()
    order = create_order(server.url, shop)
    link = f"{server.url}/t/"
    assert order["customer_url"].startswith(link), order["customer_url"]
    fetched = requests.get(
        f"{server.url}/api/v1/orders/{order['id']}", headers=shop.headers(), timeout=10
    ).json()
    assert fetched["customer_url"] == order["customer_url"]
    # The board, connected on that address, is sent the same link.
    own = f"http://{LAN_HOST}:{server.port}"
    snapshot = handshake(server.url, own, shop.tokens["display-board"])
    assert snapshot is not None
    assert snapshot["orders"][0]["customer_url"] == order["customer_url"]
    # The customer link works where it points.
    assert requests.get(order["customer_url"], timeout=10).status_code == 200
    assert NO_PUBLIC_URL in server.log.read_text()


def test_a_public_url_wins_for_links_origins_and_transport_security(
    shared_lan: StartLan,  # noqa: F811
) -> None:
    server, shop = shared_lan(BAYLIGHT_PUBLIC_URL=PUBLIC_URL)
    order = create_order(server.url, shop)
    assert order["customer_url"].startswith(f"{PUBLIC_URL}/t/"), order["customer_url"]
    board = shop.tokens["display-board"]
    assert handshake(server.url, PUBLIC_URL, board) is not None
    assert handshake(server.url, f"http://{LAN_HOST}:{server.port}", board) is not None
    assert handshake(server.url, DMS_ORIGIN, board) is None
    page = requests.get(f"{server.url}/healthz", timeout=10)
    assert "connect-src 'self' wss://service.example;" in page.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" in page.headers
    assert NO_PUBLIC_URL not in server.log.read_text()


def test_the_policy_never_echoes_a_forged_host(shared_lan: StartLan) -> None:  # noqa: F811
    server, _shop = shared_lan()
    forged = requests.get(f"{server.url}/board", headers={"Host": "evil.example:666"}, timeout=10)
    policy = forged.headers["Content-Security-Policy"]
    assert "evil.example" not in policy
    assert "connect-src 'self';" in policy
    # No https public URL configured: no HSTS, whatever the request says.
    proxied = requests.get(
        f"{server.url}/board", headers={"X-Forwarded-Proto": "https"}, timeout=10
    )
    assert "Strict-Transport-Security" not in proxied.headers


# ------------------------------------------------------------- in process


@pytest.fixture
def lan_settings(tmp_path: Path, migrated_template: Path) -> Settings:
    """BAYLIGHT_PUBLIC_URL unset, as a shop that never configured it."""
    return Settings.from_env(
        {},
        database_url=migrated_copy(migrated_template, tmp_path / "baylight.db"),
        instance_path=tmp_path,
        async_mode="threading",
        testing=True,
        listen_url="http://192.0.2.7:5101",
    )


def test_links_come_from_the_request_else_from_where_serve_listens(
    lan_settings: Settings,
) -> None:
    app, _socketio = create_app(lan_settings)
    core = app.extensions["baylight"]
    try:
        shop = seed_shop(core)
        principal = resolve_bearer(core, shop.tokens["advisor"])
        assert principal is not None
        asked = CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)
        # Outside any request (the demo simulator): where serve listens.
        made = orders.create_order(core, asked, plate="粤B54321").body
        assert made["customer_url"].startswith("http://192.0.2.7:5101/t/")
        # The desk printing a ticket reached the server at 10.1.2.3:5101.
        with app.test_request_context(base_url="http://10.1.2.3:5101"):
            printed = reception.ticket(core, shop.shop_id, made["id"])
            assert printed["customer_url"].startswith("http://10.1.2.3:5101/t/")
        # A request without a usable Host header falls back as well.
        with app.test_request_context(headers={"Host": "bad host"}):
            assert links.base_url(core.settings) == "http://192.0.2.7:5101"
    finally:
        core.db.dispose()


def test_the_policy_is_the_same_whatever_host_is_asked_for(lan_settings: Settings) -> None:
    app, _socketio = create_app(lan_settings)
    try:
        client = app.test_client()
        policies = {
            client.get("/healthz", headers={"Host": host}).headers["Content-Security-Policy"]
            for host in ("127.0.0.1:5000", "evil.example", "10.0.0.1:1")
        }
        assert len(policies) == 1
        assert "connect-src 'self';" in policies.pop()
    finally:
        app.extensions["baylight"].db.dispose()


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "https://*.example",
        "https://a.example, *",
        "https://a.example/",
        "https://a.example/path",
        "https://a.example?x=1",
        "https://user@a.example",
        "ftp://a.example",
        "a.example",
        "https://a.example:99999",
        "https://",
    ],
)
def test_allowed_origins_must_be_origins(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BAYLIGHT_ALLOWED_ORIGINS"):
        Settings.from_env({"BAYLIGHT_ALLOWED_ORIGINS": value}, instance_path=tmp_path)


def test_settings_tell_configured_from_unset(tmp_path: Path) -> None:
    unset = Settings.from_env({}, instance_path=tmp_path)
    assert unset.public_url == ""
    assert unset.origins == frozenset()
    configured = Settings.from_env(
        {
            "BAYLIGHT_PUBLIC_URL": "HTTPS://Service.Example:443/",
            "BAYLIGHT_ALLOWED_ORIGINS": " http://10.0.0.5:8080 ,https://DMS.example:443,",
        },
        instance_path=tmp_path,
    )
    assert configured.public_url == "HTTPS://Service.Example:443"
    # Compared as browsers write them: lower case, no default port.
    assert configured.origins == {
        "https://service.example",
        "http://10.0.0.5:8080",
        "https://dms.example",
    }
    with pytest.raises(ConfigError, match="BAYLIGHT_PUBLIC_URL"):
        Settings.from_env({"BAYLIGHT_PUBLIC_URL": "service.example"}, instance_path=tmp_path)


def test_a_wildcard_bind_is_printed_as_an_address_one_can_open() -> None:
    for wildcard in ("0.0.0.0", "::", ""):
        url = reachable_url(wildcard, 5101)
        assert url == f"http://{lan_address() or '127.0.0.1'}:5101"
    assert reachable_url("127.0.0.2", 5101) == "http://127.0.0.2:5101"
    assert reachable_url("::1", 5101) == "http://[::1]:5101"
