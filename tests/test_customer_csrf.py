"""The customer's decisions and survey carry the page's CSRF token: a browser
that holds our session cookie must send it, and no other origin may post."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Shop


def _order_with_quote(client: Any, shop: Shop) -> tuple[str, int]:
    advisor, foreman = shop.headers("advisor"), shop.headers("foreman")
    order = client.post("/api/v1/orders", json={"plate": "粤B12345"}, headers=advisor).get_json()
    order = client.put(
        f"/api/v1/orders/{order['id']}/assignment",
        json={"bay": "B01", "technicians": [shop.technicians[0]], "version": order["version"]},
        headers=foreman,
    ).get_json()
    order = client.post(
        f"/api/v1/orders/{order['id']}/transitions",
        json={"to": "in_progress", "version": order["version"]},
        headers=foreman,
    ).get_json()
    quote = client.post(
        f"/api/v1/orders/{order['id']}/extra-work",
        json={
            "description": "刹车片更换",
            "labour_hours": 1.0,
            "price_cents": 48000,
            "version": order["version"],
        },
        headers=foreman,
    ).get_json()
    return str(order["customer_url"].rsplit("/", 1)[1]), int(quote["id"])


def test_the_page_token_is_required_once_the_browser_has_our_cookie(
    client: Any, shop: Shop
) -> None:
    token, quote_id = _order_with_quote(client, shop)
    page = client.get(f"/t/{token}").get_data(as_text=True)
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found, "the customer page carries no CSRF token"
    path = f"/api/v1/track/{token}/extra-work/{quote_id}/decision"
    body = {"approved": True, "quote_version": 1}

    refused = client.post(path, json=body, headers={"Idempotency-Key": "a"})
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "forbidden"

    accepted = client.post(
        path, json=body, headers={"Idempotency-Key": "b", "X-CSRFToken": found.group(1)}
    )
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["order"]["quotes"][0]["status"] == "approved"


def test_another_origin_may_not_post_for_the_customer(client: Any, shop: Shop) -> None:
    token, quote_id = _order_with_quote(client, shop)
    refused = client.post(
        f"/api/v1/track/{token}/extra-work/{quote_id}/decision",
        json={"approved": True, "quote_version": 1},
        headers={"Origin": "https://evil.example", "Idempotency-Key": "c"},
    )
    assert refused.status_code == 403
    order = client.get(f"/api/v1/track/{token}").get_json()["order"]
    assert order["quotes"][0]["status"] == "pending"
