"""Helpers for the kiosk and foreman tests: orders made and moved through the
real REST API, and the shared headless-Chromium fixtures of tests/browser_support.py."""

from __future__ import annotations

from typing import Any

import pytest


class Api:
    """The REST API of a Flask test client or of a live server, as the roles
    of the seeded shop."""

    def __init__(self, shop: Any, client: Any = None, base: str = "") -> None:
        self.shop = shop
        self.client = client
        self.base = base

    def call(self, method: str, path: str, role: str, body: Any = None, key: str | None = None):
        headers = self.shop.headers(role, key)
        if self.client is not None:
            reply = self.client.open(path, method=method, json=body, headers=headers)
            return reply.status_code, reply.get_json()
        import requests

        reply = requests.request(method, self.base + path, json=body, headers=headers, timeout=10)
        return reply.status_code, reply.json()

    def create(self, plate: str, hours: float = 1.0, **more: Any) -> dict[str, Any]:
        body = {
            "plate": plate,
            "vehicle": {"model": "卡罗拉"},
            "items": [{"title": "更换机油", "labour_hours": hours}],
            "promised_at": "2030-01-07T17:00:00+08:00",
            **more,
        }
        status, order = self.call("POST", "/api/v1/orders", "advisor", body)
        assert status == 201, order
        return dict(order)

    def assign(
        self, order: dict[str, Any], technicians: list[int], bay: str = "B01"
    ) -> dict[str, Any]:
        status, body = self.call(
            "PUT",
            f"/api/v1/orders/{order['id']}/assignment",
            "foreman",
            {"bay": bay, "technicians": technicians, "version": order["version"]},
        )
        assert status == 200, body
        return dict(body)

    def move(
        self, order: dict[str, Any], to: str, role: str = "technician", **more: Any
    ) -> tuple[int, dict[str, Any]]:
        status, body = self.call(
            "POST",
            f"/api/v1/orders/{order['id']}/transitions",
            role,
            {"to": to, "version": order["version"], **more},
        )
        return status, dict(body)

    def get(self, order_id: int) -> dict[str, Any]:
        status, body = self.call("GET", f"/api/v1/orders/{order_id}", "admin")
        assert status == 200
        return dict(body)


@pytest.fixture
def api(shop: Any, client: Any) -> Api:
    return Api(shop, client=client)
