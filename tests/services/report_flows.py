"""Orders driven through the real commands for the report tests, on a hand
clock: each flow takes one car from check-in as far as it is told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.services import setup
from tests.conftest import HandClock
from tests.request_flow import Rest, customer_token


@dataclass(frozen=True)
class Flow:
    """One car's story: what happens, with minutes between the steps."""

    promise_minutes: int = 240
    step_minutes: int = 30
    quote: str | None = None  # None, "approve", "decline"
    fail_check: bool = False
    reopen: bool = False
    stop: str = "delivered"  # checked_in, in_progress, ready, delivered, cancelled
    cancel_from: str = "in_progress"
    rating: int | None = None
    plate: str | None = None


class Shopfloor:
    """The seeded shop's people moving cars, each step at the hand clock's
    time; the technician's own taps run his labour clock."""

    def __init__(self, rest: Rest, clock: HandClock) -> None:
        self.rest = rest
        self.clock = clock
        self.technician = rest.shop.technicians[0]
        self.bays = 0

    def bay(self) -> str:
        """A bay of its own for each car: cars left open never fill one up."""
        self.bays += 1
        code = f"R{self.bays:03d}"
        setup.add_bay(self.rest.core, self.rest.shop.shop_id, code, code)
        return code

    def wait(self, minutes: float) -> None:
        self.clock.advance(minutes=minutes)

    def move(self, order: dict[str, Any], to: str, role: str = "admin", **more: Any) -> Any:
        return self.rest.move(order, to, role=role, **more)

    def checks(self, order: dict[str, Any]) -> dict[str, Any]:
        for _level in range(3):
            path = f"/api/v1/orders/{order['id']}/checks"
            order = self.rest.ok("POST", path, {"version": order["version"]})
        assert order["stage"] == "ready", order
        return order

    def run(self, flow: Flow) -> dict[str, Any]:
        rest, step = self.rest, flow.step_minutes
        promised = (self.clock() + timedelta(minutes=flow.promise_minutes)).isoformat()
        fields: dict[str, Any] = {"promised_at": promised}
        if flow.plate:
            fields["plate"] = flow.plate
        order = rest.create(**fields)
        if flow.stop == "checked_in":
            return order
        if flow.stop == "cancelled" and flow.cancel_from == "checked_in":
            return dict(self.move(order, "cancelled", reason="客户取消"))
        self.wait(step)
        body = {"bay": self.bay(), "technicians": [self.technician], "version": order["version"]}
        order = rest.ok("PUT", f"/api/v1/orders/{order['id']}/assignment", body, role="foreman")
        self.wait(step)
        # A car left in progress is started by the foreman: no clock of the
        # technician's is left running to refuse his next car's.
        starter = "foreman" if flow.stop == "in_progress" else "technician"
        order = self.move(order, "in_progress", role=starter)
        if flow.quote is not None:
            self.wait(step)
            body = {
                "description": "更换刹车片",
                "labour_hours": 1.5,
                "price_cents": 68000,
                "version": order["version"],
            }
            quote = rest.ok("POST", f"/api/v1/orders/{order['id']}/extra-work", body)
            self.wait(min(step, 60))  # decided before the quote expires
            decision = {
                "approved": flow.quote == "approve",
                "quote_version": 1,
                "channel": "phone",
            }
            path = f"/api/v1/orders/{order['id']}/extra-work/{quote['id']}/decision"
            rest.ok("POST", path, decision, role="advisor")
            order = rest.order(order["id"])
            order = self.move(order, "in_progress", role=starter)
        if flow.stop == "in_progress":
            return order
        if flow.stop == "cancelled" and flow.cancel_from == "in_progress":
            self.wait(step)
            return dict(self.move(order, "cancelled", reason="客户取消"))
        self.wait(step)
        order = self.move(order, "quality_check", role="technician")
        if flow.fail_check:
            self.wait(step)
            order = self.move(order, "in_progress", reason="扭矩不对")
            self.wait(step)
            order = self.move(order, "quality_check", role="technician")
        self.wait(step)
        order = self.checks(order)
        if flow.reopen:
            self.wait(step)
            order = self.move(order, "in_progress", role="advisor", reason="异响仍在")
            self.wait(step)
            order = self.move(order, "quality_check", role="technician")
            order = self.checks(order)
        if flow.stop == "ready":
            return order
        if flow.stop == "cancelled":
            return dict(self.move(order, "cancelled", reason="客户不修了"))
        self.wait(step)
        path = f"/desk/api/orders/{order['id']}/handover"
        rest.ok("POST", path, rest.handover_body(order), role="advisor")
        order = rest.order(order["id"])
        if flow.rating is not None:
            self.wait(step)
            token = customer_token(order)
            rest.ok(
                "POST",
                f"/api/v1/track/{token}/survey",
                {"rating": flow.rating, "comment": "还行"},
                role=None,
            )
            order = rest.order(order["id"])
        return order

    def flag_comeback(self, order: dict[str, Any], of: dict[str, Any]) -> dict[str, Any]:
        body = {"of_order_id": of["id"], "note": "同一异响", "version": order["version"]}
        answer = self.rest.ok(
            "POST", f"/api/v1/orders/{order['id']}/comeback", body, role="advisor"
        )
        return dict(answer["order"])
