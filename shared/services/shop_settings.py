"""Shop settings an admin changes from the web admin: for now the opening
hours, which the lounge TV follows (blank outside them, in the shop's time
zone). Kept in ``Shop.settings`` so that adding a setting needs no migration."""

from __future__ import annotations

import re
from typing import Any

from shared.domain import errors
from shared.persistence.models import Shop
from shared.services.core import Core

HOUR = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _checked(field: str, value: str) -> str:
    value = value.strip()
    if not HOUR.match(value):
        raise errors.ValidationFailed(field, "Give the time as HH:MM (24-hour clock).")
    return value


def set_opening_hours(core: Core, shop_id: int, opening: str | None, closing: str | None) -> None:
    """Set the opening hours (both times), or clear them (both empty: always open).
    A closing time before the opening time means open across midnight."""
    hours: dict[str, str] | None = None
    if opening or closing:
        hours = {
            "open": _checked("open", opening or ""),
            "close": _checked("close", closing or ""),
        }
        if hours["open"] == hours["close"]:
            raise errors.ValidationFailed("close", "Closing time equals opening time.")
    with core.db.write() as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            raise errors.NotFound(f"No shop {shop_id}.")
        settings: dict[str, Any] = dict(shop.settings or {})
        if hours is None:
            settings.pop("opening_hours", None)
        else:
            settings["opening_hours"] = hours
        # A new dict: the JSON column notices reassignment, not in-place edits.
        shop.settings = settings


def opening_hours(core: Core, shop_id: int) -> dict[str, str] | None:
    with core.db.read() as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            raise errors.NotFound(f"No shop {shop_id}.")
        hours = (shop.settings or {}).get("opening_hours")
        return dict(hours) if isinstance(hours, dict) else None
