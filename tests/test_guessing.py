"""Guessing customer links is stopped on every door: the page, the API and
the socket share one budget of misses per address; the right link keeps
working for its customer until then."""

from __future__ import annotations

from typing import Any

from tests.conftest import Shop


def _order_token(client: Any, shop: Shop) -> str:
    reply = client.post(
        "/api/v1/orders", json={"plate": "粤B12345"}, headers=shop.headers("advisor")
    )
    assert reply.status_code == 201
    return str(reply.get_json()["customer_url"].rsplit("/", 1)[1])


def test_page_and_api_share_one_budget_of_misses(client: Any, shop: Shop) -> None:
    token = _order_token(client, shop)
    for attempt in range(20):
        assert client.get(f"/t/guess{attempt}").status_code == 404
    # Hits do not count: the customer's own page keeps working.
    for _ in range(5):
        assert client.get(f"/api/v1/track/{token}").status_code == 200
    for attempt in range(10):
        assert client.get(f"/api/v1/track/guess{attempt}").status_code == 404
    api = client.get("/api/v1/track/guess-more")
    page = client.get("/t/guess-more")
    assert api.status_code == page.status_code == 429
    # Both say when to come back: within the minute the budget is counted in.
    assert api.mimetype == "application/problem+json" and page.mimetype == "text/html"
    assert 0 < int(api.headers["Retry-After"]) <= 60
    assert 0 < int(page.headers["Retry-After"]) <= 60
    # No X-RateLimit-* headers (docs/API.md promises none).
    assert not [name for name, _ in api.headers.items() if name.lower().startswith("x-ratelimit")]
    refused = client.post(
        "/api/v1/track/guess/survey", json={"rating": 5}, headers={"Idempotency-Key": "k"}
    )
    assert refused.status_code == 429


def test_socket_guessing_is_refused_after_thirty_misses(
    app: Any, socketio: Any, client: Any, shop: Shop
) -> None:
    token = _order_token(client, shop)
    first = socketio.test_client(app, auth={"token": token})
    assert first.is_connected()
    first.disconnect()
    for attempt in range(30):
        guess = socketio.test_client(app, auth={"token": f"guess{attempt}"})
        assert not guess.is_connected()
    # The budget is spent for this address: even the right link waits a minute.
    blocked = socketio.test_client(app, auth={"token": token})
    assert not blocked.is_connected()
