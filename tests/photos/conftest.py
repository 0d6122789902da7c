"""Photos of additional work: pictures made with Pillow in the test (no
binary fixtures), orders walked to a pending quote over the real REST API."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from PIL import Image

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
