"""What the public booking pages need beside ``appointment_public``: a
shop read by its slug with its contact, clock and appointment settings;
the facts behind an appointment link (its shop, its work); and the free
starts of a day for a given piece of work.

Read-only; every booking and change goes through ``appointment_public``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from shared.domain import capacity
from shared.persistence.appointment_models import Appointment
from shared.persistence.models import Shop
from shared.services import appointment_capacity, appointment_settings, shop_settings
from shared.services.core import Core

SLUG_MAX = 40
TOKEN_MAX = 64


@dataclass(frozen=True)
class BookingShop:
    id: int
    slug: str
    name: str
    timezone: str
    address: str
    hotline: str
    online_booking: bool
    phone_verification: bool
    days_ahead: int


@dataclass(frozen=True)
class LinkFacts:
    """The appointment behind a link: its shop, its id and its work (with
    hours and bay kinds, which the customer's view leaves out)."""

    shop: BookingShop
    appointment_id: int
    items: list[dict[str, Any]]


def _booking_shop(shop: Shop) -> BookingShop:
    settings = shop.settings or {}
    chosen = appointment_settings.read(settings)
    return BookingShop(
        id=shop.id,
        slug=shop.slug,
        name=shop.name,
        timezone=shop.timezone,
        address=shop_settings.address(settings),
        hotline=shop_settings.hotline(settings),
        online_booking=chosen.online_booking,
        phone_verification=chosen.phone_verification,
        days_ahead=chosen.days_ahead,
    )


def booking_shop(core: Core, slug: str) -> BookingShop | None:
    """The shop named ``slug`` in a booking address, or None."""
    if not slug or len(slug) > SLUG_MAX:
        return None
    with core.db.read() as session:
        shop = session.execute(select(Shop).where(Shop.slug == slug)).scalar_one_or_none()
        return None if shop is None else _booking_shop(shop)


def link_facts(core: Core, token: str) -> LinkFacts | None:
    """The appointment whose link is ``token`` (whatever its status), or
    None for a token no appointment has, or one whose data was erased."""
    if not token or len(token) > TOKEN_MAX:
        return None
    with core.db.read() as session:
        row = session.execute(
            select(Appointment).where(Appointment.token == token)
        ).scalar_one_or_none()
        if row is None or row.anonymised_at is not None:
            return None
        shop = session.get(Shop, row.shop_id)
        if shop is None:
            return None
        return LinkFacts(_booking_shop(shop), row.id, [dict(i) for i in row.items or ()])


def free_starts(
    core: Core,
    shop_id: int,
    day: date,
    items: Sequence[Mapping[str, Any]],
    *,
    leave_out: int | None = None,
) -> list[datetime]:
    """The starts on ``day`` where this work fits now: a free reception
    place and the labour for it (the rule a booking is checked by,
    ``capacity.refusal``), so the page never offers a time the booking
    would then refuse. Only starts: nothing of who booked the others.
    ``leave_out``: the customer's own appointment, when moving it."""
    with core.db.read() as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            return []
        days = appointment_capacity.read_days(
            session, shop, core.now(), day, day, leave_out=leave_out
        )
    cap = days.day(day)
    wanted = appointment_capacity.minutes_by_kind(items)
    return [
        slot.start
        for slot in cap.slots
        if slot.free > 0 and capacity.refusal(cap, slot.start, wanted) is None
    ]
