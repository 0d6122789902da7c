"""Walking an order through the workshop over the real REST API, for the
reception tests: the same calls whether the server is the Flask test client
or a real ``baylight serve`` process."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

Call = Callable[[str, str, dict[str, Any] | None, dict[str, str]], tuple[int, Any]]


def flask_call(client: Any) -> Call:
    def call(method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]):
        response = client.open(path, method=method, json=body, headers=headers)
        return response.status_code, response.get_json(silent=True)

    return call


def http_call(base_url: str) -> Call:
    def call(method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]):
        response = requests.request(method, base_url + path, json=body, headers=headers, timeout=10)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    return call


@dataclass
class Workshop:
    """The staff's side of the flow, as REST calls with the seeded tokens."""

    call: Call
    shop: Any

    def _do(self, method: str, path: str, body: dict[str, Any] | None, role: str) -> Any:
        headers = self.shop.headers(role, key=str(uuid.uuid4()))
        status, data = self.call(method, path, body, headers)
        assert status in (200, 201), (method, path, status, data)
        return data

    def create(self, role: str = "advisor", **fields: Any) -> dict[str, Any]:
        body = {
            "plate": "粤B12345",
            "customer": {"name": "张先生", "phone": "13800000000"},
            "vehicle": {"model": "丰田凯美瑞", "mileage": 42000},
            "complaint": "保养",
            "items": [{"title": "更换机油", "labour_hours": 1.0}],
            "promised_at": "2030-01-01T17:00:00+08:00",
        }
        body.update(fields)
        return dict(self._do("POST", "/api/v1/orders", body, role))

    def get(self, order_id: int) -> dict[str, Any]:
        status, data = self.call("GET", f"/api/v1/orders/{order_id}", None, self.shop.headers())
        assert status == 200, data
        return dict(data)

    def move(self, order: dict[str, Any], to: str, **more: Any) -> dict[str, Any]:
        body = {"to": to, "version": order["version"], **more}
        return dict(self._do("POST", f"/api/v1/orders/{order['id']}/transitions", body, "admin"))

    def start(self, order: dict[str, Any]) -> dict[str, Any]:
        """Dispatch to bay B01 and start the work."""
        body = {
            "bay": "B01",
            "technicians": [self.shop.technicians[0]],
            "version": order["version"],
        }
        order = self._do("PUT", f"/api/v1/orders/{order['id']}/assignment", body, "foreman")
        return self.move(order, "in_progress")

    def resume(self, order: dict[str, Any]) -> dict[str, Any]:
        """Back to work after a pause: nothing resumes it but this tap."""
        return self.move(order, "in_progress")

    def quote(self, order: dict[str, Any], description: str, hours: float, cents: int) -> Any:
        body = {
            "description": description,
            "labour_hours": hours,
            "price_cents": cents,
            "version": order["version"],
        }
        return self._do("POST", f"/api/v1/orders/{order['id']}/extra-work", body, "admin")

    def finish(self, order: dict[str, Any]) -> dict[str, Any]:
        """Self-check, then the three inspection levels: the car is ready."""
        order = self.move(order, "quality_check")
        for _level in range(3):
            path = f"/api/v1/orders/{order['id']}/checks"
            order = self._do("POST", path, {"version": order["version"]}, "admin")
        assert order["stage"] == "ready", order
        return order

    def hand_over(self, order: dict[str, Any], role: str = "advisor", **fields: Any) -> Any:
        body = {
            "version": order["version"],
            "final_check_done": True,
            "old_parts_shown": True,
            "next_service_date": "2099-06-01",
            "next_service_mileage": 52000,
            "note": "",
        }
        body.update(fields)
        return self._do("POST", f"/desk/api/orders/{order['id']}/handover", body, role)


def token_of(order: dict[str, Any]) -> str:
    return str(order["customer_url"]).rsplit("/t/", 1)[1]
