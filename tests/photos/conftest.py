"""Photos of additional work: pictures made with Pillow in the test (no
binary fixtures), orders walked to a pending quote over the real REST API."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from PIL import Image, ImageDraw

from shared.web.extensions import csrf
from shared.web.photos import blueprint as photos_blueprint
from tests.conftest import Shop


def photo_bytes(
    size: tuple[int, int] = (640, 480),
    image_format: str = "JPEG",
    mode: str = "RGB",
    colour: Any = (200, 30, 30),
    **save: Any,
) -> bytes:
    """A real picture in ``image_format``, made here."""
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, image_format, **save)
    return out.getvalue()


@pytest.fixture
def photo_client(app: Any) -> Any:
    """The test client of an app that serves the photos blueprint: registered
    here as the app factory registers it (CSRF-exempt, like the API), unless
    the factory does so already."""
    if "photos" not in app.blueprints:
        csrf.exempt(photos_blueprint)
        app.register_blueprint(photos_blueprint)
    return app.test_client()


class Flow:
    """A dispatched, started order with a pending quote, over REST."""

    def __init__(self, client: Any, shop: Shop) -> None:
        self.client = client
        self.shop = shop

    def call(self, method: str, path: str, role: str, body: Any = None) -> dict[str, Any]:
        reply = self.client.open(
            path, method=method, json=body, headers=self.shop.headers(role, str(uuid.uuid4()))
        )
        assert reply.status_code in (200, 201), reply.get_data(as_text=True)
        return dict(reply.get_json())

    def quoted_order(
        self, plate: str = "粤B12345", quotes: int = 1, bay: str = "B01"
    ) -> dict[str, Any]:
        """An order in paused/approval with ``quotes`` pending quotes (ids 1…n),
        dispatched to the first seeded technician on ``bay`` (one car a bay)."""
        order = self.call("POST", "/api/v1/orders", "advisor", {"plate": plate})
        order = self.call(
            "PUT",
            f"/api/v1/orders/{order['id']}/assignment",
            "foreman",
            {"bay": bay, "technicians": [self.shop.technicians[0]], "version": 1},
        )
        order = self.call(
            "POST",
            f"/api/v1/orders/{order['id']}/transitions",
            "technician",
            {"to": "in_progress", "version": order["version"]},
        )
        for number in range(quotes):
            quote = self.call(
                "POST",
                f"/api/v1/orders/{order['id']}/extra-work",
                "technician",
                {
                    "description": f"刹车片磨损 {number + 1}",
                    "labour_hours": 1.5,
                    "price_cents": 68000,
                    "version": order["version"],
                },
            )
            order = quote["order"]
        return order


@pytest.fixture
def flow(photo_client: Any, shop: Shop) -> Flow:
    return Flow(photo_client, shop)


def signature_png(
    size: tuple[int, int] = (600, 200),
    *,
    background: Any = (0, 0, 0, 0),
    ink: Any = (10, 10, 120, 255),
    mode: str = "RGBA",
    **save: Any,
) -> bytes:
    """A signature as a pad's canvas exports it: a stroke of ink on a
    transparent PNG (or on ``background``), made here."""
    image = Image.new(mode, size, background)
    draw = ImageDraw.Draw(image)
    width, height = size
    points = [
        (width * step // 10, height // 3 + (height // 3) * (step % 2)) for step in range(1, 10)
    ]
    draw.line(points, fill=ink, width=max(2, height // 40))
    out = io.BytesIO()
    image.save(out, "PNG", **save)
    return out.getvalue()


def signature_path(order_id: int, quote_id: int = 1) -> str:
    return f"/api/v1/orders/{order_id}/extra-work/{quote_id}/signature"


def decide(
    flow: Flow,
    order: dict[str, Any],
    quote_id: int = 1,
    *,
    channel: str = "in_person",
    approved: bool = True,
    version: int = 1,
) -> dict[str, Any]:
    """The advisor records the customer's decision; the order after it."""
    answer = flow.call(
        "POST",
        f"/api/v1/orders/{order['id']}/extra-work/{quote_id}/decision",
        "advisor",
        {"approved": approved, "quote_version": version, "channel": channel},
    )
    return dict(answer.get("order", answer))


def deliver(flow: Flow, order: dict[str, Any]) -> dict[str, Any]:
    """A paused order (nothing left to wait for) back to work, through the
    three inspections, ready, and handed over."""
    path = f"/api/v1/orders/{order['id']}"
    order = flow.call(
        "POST",
        f"{path}/transitions",
        "technician",
        {"to": "in_progress", "version": order["version"]},
    )
    order = flow.call(
        "POST",
        f"{path}/transitions",
        "technician",
        {"to": "quality_check", "version": order["version"]},
    )
    while order["stage"] == "quality_check":
        order = flow.call("POST", f"{path}/checks", "admin", {"version": order["version"]})
    assert order["stage"] == "ready", order["stage"]
    return flow.call(
        "POST", f"{path}/transitions", "advisor", {"to": "delivered", "version": order["version"]}
    )
