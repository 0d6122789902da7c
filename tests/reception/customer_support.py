"""What the customer-page and ticket browser tests share: an advisor with a
phone at the desk, the shop's profile, and an order opened as a real one is
(the car's VIN and mileage, the customer's words, the booked work)."""

from __future__ import annotations

from typing import Any

import requests

from shared.services import setup
from shared.services.auth import create_api_token

from .flow import Workshop

ADVISOR_PHONE = "020-8888 6666"
PROFILE = {"name": "广州天河店", "address": "广州市天河区黄埔大道 88 号", "hotline": "400-800-8888"}
# Booked at the desk: the work and its standard hours (no price is recorded).
ITEMS = [
    {"title": "更换机油及机油滤芯", "labour_hours": 1.0},
    {"title": "四轮定位", "labour_hours": 0.8},
]
VIN = "LSVAU2180N2123456"
COMPLAINT = "冷车启动时有异响"


def with_advisor(shop: Any) -> Any:
    """Orders opened by a signed-up advisor with a phone (as at the real
    desk): the ``desk`` token."""
    user_id = setup.create_user(
        shop.core, shop.shop_id, role="advisor", name="陈顾问", phone=ADVISOR_PHONE
    )
    shop.tokens["desk"] = create_api_token(
        shop.core, shop_id=shop.shop_id, role="advisor", name="陈顾问", user_id=user_id
    )
    return shop


def set_profile(server: Any, shop: Any) -> None:
    """The shop's name, address and hotline, as an admin sets them."""
    url = f"{server.url}/api/v1/shop"
    version = requests.get(url, headers=shop.headers(), timeout=10).json()["version"]
    changed = requests.patch(
        url, json={"version": version, **PROFILE}, headers=shop.headers(), timeout=10
    )
    assert changed.status_code == 200, changed.text


def open_order(workshop: Workshop, **more: Any) -> dict[str, Any]:
    """An order as the desk opens it (the ``desk`` token of ``with_advisor``)."""
    return workshop.create(
        role="desk",
        vehicle={"model": "丰田凯美瑞 2.5L", "vin": VIN, "mileage": 42000},
        complaint=COMPLAINT,
        items=ITEMS,
        **more,
    )
