"""Helpers of the public booking page's tests: the page's CSRF token, the
shop's appointment settings, and the booking code the outbox holds."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from shared.persistence.models import Shop
from shared.persistence.notification_models import Notification
from shared.services.core import Core

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 1 June 2026, 08:00 in Shanghai: an ordinary working week.
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=SHANGHAI).astimezone(UTC)
TUESDAY = date(2026, 6, 2)
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def page_token(client: Any, slug: str = "test") -> str:
    """Open /book/<slug> and return the page's CSRF token."""
    page = client.get(f"/book/{slug}")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    found = CSRF.search(page.get_data(as_text=True))
    assert found, "the booking page carries no CSRF token"
    return found.group(1)


def set_appointments(core: Core, shop_id: int, **values: Any) -> None:
    """Lay ``values`` over the shop's ``appointments`` settings."""
    with core.db.write() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        settings = dict(shop.settings or {})
        settings["appointments"] = {**(settings.get("appointments") or {}), **values}
        shop.settings = settings


def texted_code(core: Core, shop_id: int, phone: str) -> str:
    """The newest booking code queued for ``phone`` in the outbox."""
    with core.db.read() as session:
        facts = session.execute(
            select(Notification.facts)
            .where(Notification.shop_id == shop_id, Notification.kind == "booking_code")
            .order_by(Notification.id.desc())
        ).scalars()
        for found in facts:
            if found.get("phone") == phone:
                return str(found["code"])
    raise AssertionError(f"no booking code queued for {phone}")


def at(hour: int, minute: int = 0, day: date = TUESDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)
