"""One refusal path: under every JSON API prefix (/api/, and a screen's own
/kiosk/api/, /desk/api/, /foreman/api/) every refusal is problem+json with a
stable code, whatever the client's Accept header says; a refusal keeps the
headers its HTTP exception carries (Allow on a 405, Retry-After on a 429,
WWW-Authenticate on a 401). Pages keep their HTML error pages."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from shared.services import devices
from tests.conftest import Shop

# What a browser's fetch() or a plain HTTP client sends: no JSON preference.
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
PROBLEM = "application/problem+json"


def pair_kiosk(shop: Shop) -> str:
    started = devices.start_pairing(shop.core, "kiosk")
    devices.approve_pairing(
        shop.core, started.user_code, kind="kiosk", name="平板", shop_id=shop.shop_id
    )
    return str(devices.poll_pairing(shop.core, started.device_code)["device_token"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here",
        "/kiosk/api/nothing-here",
        "/desk/api/nothing-here",
        "/foreman/api/nothing-here",
    ],
)
def test_unknown_paths_under_an_api_prefix_are_problem_json(client: Any, path: str) -> None:
    reply = client.get(path, headers=BROWSER)
    assert reply.status_code == 404
    assert reply.mimetype == PROBLEM
    assert reply.get_json()["code"] == "not_found"


def test_pages_keep_html_error_pages(client: Any) -> None:
    reply = client.get("/no-such-page", headers=BROWSER)
    assert reply.status_code == 404
    assert reply.mimetype == "text/html"


def test_a_page_client_asking_for_json_gets_problem_json(client: Any) -> None:
    reply = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert reply.status_code == 404 and reply.mimetype == PROBLEM


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/v1/orders", {"GET", "POST"}),
        ("GET", "/kiosk/api/login", {"POST"}),
        ("PUT", "/desk/api/promise", {"GET"}),
    ],
)
def test_405_says_which_methods_are_allowed(
    client: Any, method: str, path: str, allowed: set[str]
) -> None:
    reply = client.open(path, method=method, headers=BROWSER)
    assert reply.status_code == 405
    assert reply.mimetype == PROBLEM
    assert reply.get_json()["code"] == "method_not_allowed"
    assert "Allow" in reply.headers
    listed = {m.strip() for m in reply.headers["Allow"].split(",")}
    assert allowed <= listed


def test_kiosk_login_throttle_is_problem_json_with_retry_after(client: Any, shop: Shop) -> None:
    """The kiosk screen's fetch sends no JSON Accept header; its 429 is
    still problem+json, code rate_limited, with Retry-After."""
    device = pair_kiosk(shop)
    headers = {**BROWSER, "Authorization": f"Bearer {device}"}
    for _ in range(5):
        wrong = client.post(
            "/kiosk/api/login", json={"badge": "1001", "pin": "0000"}, headers=headers
        )
        assert wrong.status_code == 401 and wrong.mimetype == PROBLEM
    slowed = client.post("/kiosk/api/login", json={"badge": "1001", "pin": "1234"}, headers=headers)
    assert slowed.status_code == 429
    assert slowed.mimetype == PROBLEM
    assert slowed.get_json()["code"] == "rate_limited"
    assert 0 < int(slowed.headers["Retry-After"]) <= 60


def test_headers_of_any_http_exception_survive(app: Any) -> None:
    """A refusal raised as werkzeug's exception with its own headers (here a
    401 with its challenge) keeps them on the problem response."""

    def challenge() -> Any:
        raise Unauthorized(www_authenticate=WWWAuthenticate("bearer", {"realm": "baylight"}))

    app.add_url_rule("/kiosk/api/_challenge", "challenge_probe", challenge)
    reply = app.test_client().get("/kiosk/api/_challenge", headers=BROWSER)
    assert reply.status_code == 401
    assert reply.mimetype == PROBLEM
    assert reply.get_json()["code"] == "unauthorized"
    assert reply.headers["WWW-Authenticate"].lower().startswith("bearer")
