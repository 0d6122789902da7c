"""Orders in every state a JSON endpoint acts on, made over the Flask test
client, for the tests of how request text, fields and times are read.

Bodies are sent as a client would write them: ``json.dumps`` with its
default ASCII output, so a lone surrogate travels as its six-character
``\\uDC00`` escape. Every answer is read back as strict UTF-8 JSON: an
answer that cannot be (the symptom of stored bad text) fails the test.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.services import devices, setup
from shared.services.core import Core
from tests.conftest import Shop

PROMISED = "2030-01-07T17:00:00+08:00"
_numbers = itertools.count(10_000)


def readable(response: Any) -> Any:
    """The answer's body as JSON, decoded strictly (UTF-8, standard JSON)."""
    text = response.get_data().decode("utf-8")
    if not text:
        return None
    return json.loads(text, parse_constant=_not_json)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} in an answer")


def customer_token(order: dict[str, Any]) -> str:
    return str(order["customer_url"]).rsplit("/t/", 1)[1]


@dataclass
class Rest:
    """The seeded shop's people, talking JSON to the app in process."""

    client: Any
    shop: Shop
    core: Core
    kiosk_tokens: dict[str, str] = field(default_factory=dict)

    # ---------------------------------------------------------- sending

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        role: str | None = "admin",
        bearer: str | None = None,
        raw: bytes | None = None,
        key: bool = True,
    ) -> tuple[int, Any]:
        """One request, with a fresh Idempotency-Key unless ``key`` is false;
        (status, JSON answer)."""
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        token = bearer or (self.shop.tokens[role] if role else None)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else json.dumps(body).encode("ascii")
        response = self.client.open(path, method=method, data=data, headers=headers)
        return response.status_code, readable(response)

    def ok(self, method: str, path: str, body: Any, **how: Any) -> dict[str, Any]:
        status, answer = self.send(method, path, body, **how)
        assert status in (200, 201), (method, path, status, answer)
        return dict(answer)

    def get(self, path: str) -> tuple[int, Any]:
        response = self.client.get(path, headers=self.shop.headers("admin"))
        return response.status_code, readable(response)

    def order(self, order_id: int) -> dict[str, Any]:
        status, answer = self.get(f"/api/v1/orders/{order_id}")
        assert status == 200, answer
        return dict(answer)

    def last_seq(self) -> int:
        status, answer = self.get("/api/v1/events?after=0&limit=1")
        assert status == 200, answer
        return int(answer["last_seq"])

    def assert_readable(self, order_id: int | None, since: int) -> None:
        """The order and the event feed from ``since`` on answer 200 with JSON."""
        if order_id is not None:
            self.order(order_id)
        status, answer = self.get(f"/api/v1/events?after={max(since - 1, 0)}&limit=1000")
        assert status == 200, answer
        status, answer = self.get("/api/v1/orders?active=false")
        assert status == 200, answer

    # ---------------------------------------------------------- states

    def create(self, **fields: Any) -> dict[str, Any]:
        body = {
            "plate": f"粤B{next(_numbers):05d}",
            "customer": {"name": "张先生", "phone": "13800000000"},
            "vehicle": {"model": "卡罗拉", "mileage": 42000},
            "complaint": "保养",
            "items": [{"title": "更换机油", "labour_hours": 1.0}],
            "promised_at": PROMISED,
            **fields,
        }
        return self.ok("POST", "/api/v1/orders", body, role="advisor")

    def move(self, order: dict[str, Any], to: str, role: str = "admin", **more: Any) -> Any:
        body = {"to": to, "version": order["version"], **more}
        return self.ok("POST", f"/api/v1/orders/{order['id']}/transitions", body, role=role)

    def dispatched(self) -> dict[str, Any]:
        """Checked in and dispatched to the first technician, on a bay of its own."""
        bay = f"X{next(_numbers)}"
        setup.add_bay(self.core, self.shop.shop_id, bay, bay)
        order = self.create()
        body = {"bay": bay, "technicians": [self.shop.technicians[0]], "version": order["version"]}
        return self.ok("PUT", f"/api/v1/orders/{order['id']}/assignment", body, role="foreman")

    def started(self) -> dict[str, Any]:
        """In progress, started by the admin: that never waits for the
        technician's clock to be free, so any number of orders can be."""
        return dict(self.move(self.dispatched(), "in_progress"))

    def quoted(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """An order waiting for the customer's decision on one quote."""
        order = self.started()
        body = {
            "description": "刹车片磨损",
            "labour_hours": 1.5,
            "price_cents": 68000,
            "version": order["version"],
        }
        answer = self.ok("POST", f"/api/v1/orders/{order['id']}/extra-work", body)
        quote = {k: v for k, v in answer.items() if k != "order"}
        return dict(answer["order"]), quote

    def ready(self) -> dict[str, Any]:
        order = self.move(self.started(), "quality_check")
        for _level in range(3):
            path = f"/api/v1/orders/{order['id']}/checks"
            order = self.ok("POST", path, {"version": order["version"]})
        assert order["stage"] == "ready", order
        return dict(order)

    def handover_body(self, order: dict[str, Any]) -> dict[str, Any]:
        return {
            "version": order["version"],
            "final_check_done": True,
            "old_parts_shown": True,
            "next_service_date": "2030-06-01",
            "next_service_mileage": 52000,
            "note": "",
        }

    def delivered(self) -> dict[str, Any]:
        order = self.ready()
        path = f"/desk/api/orders/{order['id']}/handover"
        self.ok("POST", path, self.handover_body(order), role="advisor")
        return self.order(order["id"])

    def kiosk(self, badge: str = "1001", pin: str = "1234") -> str:
        """A technician's kiosk credential (a paired kiosk, badge and PIN)."""
        if badge not in self.kiosk_tokens:
            started = devices.start_pairing(self.core, "kiosk")
            devices.approve_pairing(
                self.core, started.user_code, kind="kiosk", name="平板", shop_id=self.shop.shop_id
            )
            device = devices.poll_pairing(self.core, started.device_code)["device_token"]
            answer = self.ok(
                "POST", "/kiosk/api/login", {"badge": badge, "pin": pin}, bearer=device
            )
            self.kiosk_tokens[badge] = str(answer["token"])
        return self.kiosk_tokens[badge]
