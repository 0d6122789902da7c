"""The customer's page and their messages (issue 17): "stop messages" posts
the opt-out through its real endpoint with the page's CSRF token, and the
page says so afterwards; inside WeChat, when the shop has an Official
Account, the customer may agree to WeChat messages: the page sends them
through WeChat's snsapi_base authorisation and wechatpy exchanges the code
for their openid at a local server speaking WeChat's documented format."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from shared.persistence.models import RepairOrder, Shop
from shared.persistence.notification_models import Notification
from shared.services.core import Core
from tests.conftest import HandClock
from tests.conftest import Shop as SeededShop
from tests.reception.flow import Workshop, flask_call, token_of

NOON = datetime(2026, 5, 4, 4, 0, tzinfo=UTC)
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2b) NetType/WIFI"
)
OPENID = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"


@pytest.fixture
def workshop(client: Any, shop: SeededShop, core: Core) -> Workshop:
    core.clock = HandClock(NOON)
    return Workshop(flask_call(client), shop)


def consenting() -> dict[str, Any]:
    return {
        "customer": {
            "name": "张先生",
            "phone": "13800000000",
            "email": "zhang@example.com",
            "notify": ["sms", "email"],
        }
    }


def page_json(html: str, element: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{element}">(.*?)</script>', html, re.S)
    assert found, element
    return json.loads(found.group(1))


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found
    return found.group(1)


def order_row(core: Core, order_id: int) -> RepairOrder:
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        assert row is not None
        session.expunge(row)
        return row


def test_stop_messages_opts_out_through_the_pages_own_post(
    workshop: Workshop, client: Any, core: Core
) -> None:
    order = workshop.create(**consenting())
    token = token_of(order)
    page = client.get(f"/t/{token}")
    html = page.get_data(as_text=True)
    assert 'id="notify-stop"' in html
    state = page_json(html, "notify-strings")["state"]
    assert state == {
        "channels": ["sms", "email"],
        "opted_out": False,
        "wechat_bound": False,
        "wechat_offer": False,
    }
    # Nothing of the customer's addresses on the page.
    assert "13800000000" not in html and "zhang@example.com" not in html

    # The browser holds the session cookie: the CSRF token is required.
    path = f"/api/v1/track/{token}/notifications/opt-out"
    forged = client.post(path, json={})
    assert forged.status_code == 403
    assert order_row(core, order["id"]).notify_opted_out_at is None
    answer = client.post(
        path, json={}, headers={"X-CSRFToken": csrf_of(html), "Idempotency-Key": "page-stop-1"}
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["suppressed"] == 2
    row = order_row(core, order["id"])
    assert row.notify_opt_out == "page" and row.notify_opted_out_at is not None
    with core.db.read() as session:
        statuses = session.scalars(
            select(Notification.reason).where(Notification.order_id == order["id"])
        ).all()
    assert statuses == ["opted_out", "opted_out"]

    # Afterwards the page says so and offers nothing to stop.
    again = client.get(f"/t/{token}").get_data(as_text=True)
    assert page_json(again, "notify-strings")["state"]["opted_out"] is True
    assert re.search(r'<div id="notify-stop-box" hidden>', again)
    assert re.search(r'<p id="notify-state" class="message" role="status">', again)


def test_a_customer_who_agreed_to_nothing_sees_no_messages_section(
    workshop: Workshop, client: Any
) -> None:
    order = workshop.create()
    html = client.get(f"/t/{token_of(order)}").get_data(as_text=True)
    assert 'id="notify-section"' not in html


# ------------------------------------------------------------ WeChat


class FakeWeChat:
    """WeChat's OAuth endpoint (GET /sns/oauth2/access_token?appid&secret&code&
    grant_type=authorization_code) as documented: the access token and the
    openid as JSON, or {"errcode": 40029, "errmsg": "invalid code"}."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}
        self.asked: list[dict[str, list[str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                outer.asked.append(query)
                ok = (
                    url.path == "/sns/oauth2/access_token"
                    and query.get("appid") == ["wx-test-app"]
                    and query.get("secret") == ["wx-test-secret"]
                    and query.get("grant_type") == ["authorization_code"]
                )
                code = (query.get("code") or [""])[0]
                if ok and code in outer.codes:
                    body = {
                        "access_token": "ACCESS",
                        "expires_in": 7200,
                        "refresh_token": "REFRESH",
                        "openid": outer.codes.pop(code),
                        "scope": "snsapi_base",
                    }
                else:
                    body = {"errcode": 40029, "errmsg": "invalid code"}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.fixture
def wechat(core: Core, shop: SeededShop, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWeChat]:
    """The shop's Official Account in its settings; the server WeChat's SDK
    talks to from the environment, as the channel's (its cgi-bin/ base)."""
    fake = FakeWeChat()
    monkeypatch.setenv("BAYLIGHT_WECHAT_API_BASE", fake.url + "cgi-bin/")
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    with core.db.write() as session:
        row = session.get(Shop, shop.shop_id)
        assert row is not None
        row.settings = {
            **(row.settings or {}),
            "notify_providers": {
                "wechat": {
                    "app_id": "wx-test-app",
                    "app_secret": "wx-test-secret",
                }
            },
        }
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def agree(client: Any, token: str) -> tuple[str, dict[str, list[str]]]:
    """Open the page inside WeChat and tap "agree": where we are sent."""
    html = client.get(f"/t/{token}", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
    assert page_json(html, "notify-strings")["state"]["wechat_offer"] is True
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert csrf and 'id="wechat-agree"' in html
    sent = client.post(
        f"/t/{token}/wechat", data={"csrf_token": csrf.group(1)}, headers={"User-Agent": WECHAT_UA}
    )
    assert sent.status_code == 303
    target = urlsplit(sent.headers["Location"])
    assert target.netloc == "open.weixin.qq.com" and target.fragment == "wechat_redirect"
    query = parse_qs(target.query)
    assert query["appid"] == ["wx-test-app"] and query["scope"] == ["snsapi_base"]
    # The capability link never goes to WeChat: one fixed way back.
    assert token not in sent.headers["Location"]
    assert urlsplit(query["redirect_uri"][0]).path == "/wechat/oauth"
    return html, query


def test_inside_wechat_the_customer_agrees_and_the_openid_is_bound(
    workshop: Workshop, client: Any, core: Core, wechat: FakeWeChat
) -> None:
    order = workshop.create(customer={"name": "张先生", "phone": "13800000000", "notify": ["sms"]})
    token = token_of(order)
    # Outside WeChat nothing is offered.
    plain = client.get(f"/t/{token}").get_data(as_text=True)
    assert page_json(plain, "notify-strings")["state"]["wechat_offer"] is False
    assert 'id="wechat-agree"' not in plain

    _html, query = agree(client, token)
    wechat.codes["CODE-1"] = OPENID
    back = client.get("/wechat/oauth", query_string={"code": "CODE-1", "state": query["state"][0]})
    assert back.status_code == 303
    assert back.headers["Location"].endswith(f"/t/{token}?wechat=bound")
    row = order_row(core, order["id"])
    assert row.wechat_openid == OPENID
    assert row.customer_notify == ["sms", "wechat"]
    assert wechat.asked[-1]["code"] == ["CODE-1"]
    after = client.get(f"/t/{token}?wechat=bound", headers={"User-Agent": WECHAT_UA})
    html = after.get_data(as_text=True)
    assert 'id="wechat-result"' in html and 'id="wechat-agree"' not in html
    assert OPENID not in html
    # The staff see WeChat among the consented channels.
    assert workshop.get(order["id"])["customer"]["notify"] == ["sms", "wechat"]


def test_a_forged_or_refused_return_binds_nothing(
    workshop: Workshop, client: Any, core: Core, wechat: FakeWeChat
) -> None:
    order = workshop.create(customer={"name": "张先生", "phone": "13800000000", "notify": ["sms"]})
    token = token_of(order)
    # No agreement started in this browser: nothing to return to.
    assert client.get("/wechat/oauth", query_string={"code": "X", "state": "Y"}).status_code == 404
    _html, query = agree(client, token)
    wechat.codes["CODE-2"] = OPENID
    wrong = client.get("/wechat/oauth", query_string={"code": "CODE-2", "state": "forged"})
    assert wrong.headers["Location"].endswith("?wechat=failed")
    # The state is used once: the real one no longer works either.
    late = client.get("/wechat/oauth", query_string={"code": "CODE-2", "state": query["state"][0]})
    assert late.status_code == 404
    # WeChat refuses the code (expired, used): nothing is stored.
    _html, query = agree(client, token)
    refused = client.get(
        "/wechat/oauth", query_string={"code": "EXPIRED", "state": query["state"][0]}
    )
    assert refused.headers["Location"].endswith("?wechat=failed")
    assert order_row(core, order["id"]).wechat_openid == ""


def test_a_shops_settings_cannot_send_the_secret_elsewhere() -> None:
    from shared.services.notification_commands import wechat_app

    app = wechat_app(
        {
            "notify_providers": {
                "wechat": {
                    "app_id": "wx-app",
                    "app_secret": "TOPSECRET-123",
                    "api_base": "http://evil.example/",
                }
            }
        }
    )
    assert app is not None and "evil" not in app.api_base
    assert "TOPSECRET" not in repr(app)


def test_no_wechat_offer_without_the_shops_account(
    workshop: Workshop, client: Any, core: Core, shop: SeededShop
) -> None:
    order = workshop.create(**consenting())
    token = token_of(order)
    html = client.get(f"/t/{token}", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
    assert page_json(html, "notify-strings")["state"]["wechat_offer"] is False
    # Posting anyway goes nowhere near WeChat.
    sent = client.post(f"/t/{token}/wechat", data={"csrf_token": csrf_of(html)})
    assert sent.status_code == 303 and sent.headers["Location"].endswith(f"/t/{token}")


def test_after_an_opt_out_wechat_is_not_offered_nor_bound(
    workshop: Workshop, client: Any, core: Core, shop: SeededShop, wechat: FakeWeChat
) -> None:
    from shared.domain.errors import DomainError
    from shared.services import notification_commands
    from shared.services.auth import resolve_customer
    from shared.services.commands import CommandRequest

    order = workshop.create(**consenting())
    token = token_of(order)
    html = client.get(f"/t/{token}", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
    assert page_json(html, "notify-strings")["state"]["wechat_offer"] is True
    client.post(
        f"/api/v1/track/{token}/notifications/opt-out",
        json={},
        headers={"X-CSRFToken": csrf_of(html)},
    )
    html = client.get(f"/t/{token}", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
    assert page_json(html, "notify-strings")["state"]["wechat_offer"] is False
    assert 'id="wechat-agree"' not in html
    found = resolve_customer(core, token, core.now())
    assert found is not None
    principal, _row = found
    request = CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)
    with pytest.raises(DomainError):
        notification_commands.bind_wechat(core, request, order["id"], openid=OPENID)
    assert order_row(core, order["id"]).wechat_openid == ""
