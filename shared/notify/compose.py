"""One queued message made ready to send: who receives it, in which
language, and its words (docs/NOTIFICATIONS.md).

Read just before sending, from the order and the shop as they are then, so
a message carries the shop's current name and hotline and the customer's
current tracking link. The values handed to the texts are only the ones a
template may name (``notification_texts.PLACEHOLDERS``): nothing here passes
the customer's name, phone or plate to a template.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.config import LOCALES, Settings
from shared.domain import notification_texts as texts
from shared.domain import notifications as rules
from shared.notify.channel import Outgoing
from shared.persistence.appointment_models import Appointment, BookingCode
from shared.persistence.models import RepairOrder
from shared.services import links, shop_settings


@dataclass(frozen=True)
class ShopFacts:
    """What the sender needs of a shop, read once per message."""

    id: int
    name: str
    timezone: str
    locale: str
    settings: Mapping[str, Any]

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def order_facts(order: RepairOrder) -> dict[str, Any]:
    """The order as ``notifications.still_true`` reads it."""
    return {
        "stage": order.stage,
        "promised_at": order.promised_at.isoformat() if order.promised_at else None,
        "quotes": list(order.quotes or ()),
        "survey_rating": order.survey_rating,
        "anonymised": order.anonymised_at is not None,
    }


def recipient(channel: str, order: RepairOrder) -> str:
    """The address on ``channel``: the phone, the e-mail address or the
    WeChat openid bound on the tracking page."""
    if channel == rules.SMS:
        return order.customer_phone or ""
    if channel == rules.EMAIL:
        return order.customer_email or ""
    if channel == rules.WECHAT:
        return order.wechat_openid or ""
    return ""


def locale_of(queued: str, order: RepairOrder, shop: ShopFacts) -> str:
    """The customer's language: chosen at reception, else the shop's."""
    for candidate in (queued, order.customer_language, shop.locale):
        if candidate in LOCALES:
            return candidate
    return LOCALES[0]


def tracking_link(settings: Settings, order: RepairOrder) -> str:
    """The customer's own page (the same link the desk prints)."""
    return f"{links.base_url(settings)}/t/{order.customer_token}"


def values(
    *,
    order: RepairOrder,
    shop: ShopFacts,
    facts: Mapping[str, Any],
    locale: str,
    link: str,
    now: datetime,
) -> dict[str, str]:
    """The placeholders' values for this message."""
    promised = ""
    if order.promised_at is not None:
        promised = texts.format_when(order.promised_at, shop.zone, locale, now)
    return {
        "shop": shop.name,
        "hotline": shop_settings.hotline(shop.settings),
        "link": link,
        "number": str(order.number),
        "promised": promised,
        "reason": order.promise_reason or "",
        "text": str(facts.get("text", "") or ""),
    }


def outgoing(
    *,
    dedupe_key: str,
    kind: str,
    channel: str,
    queued_locale: str,
    facts: Mapping[str, Any],
    order: RepairOrder,
    shop: ShopFacts,
    settings: Settings,
    now: datetime,
) -> Outgoing:
    """The message as the channel sends it, rendered in the customer's
    language with the shop's own template when it has one."""
    locale = locale_of(queued_locale, order, shop)
    link = tracking_link(settings, order)
    found = values(order=order, shop=shop, facts=facts, locale=locale, link=link, now=now)
    notify = shop.settings.get("notify") or {}
    templates = notify.get("templates") if isinstance(notify, Mapping) else None
    rendered = texts.render(kind, locale, found, templates)
    return Outgoing(
        dedupe_key=dedupe_key,
        kind=kind,
        locale=locale,
        recipient=recipient(channel, order),
        text=rendered.text,
        subject=rendered.subject,
        params=rendered.params,
        link=link,
    )


# ----------------------------------------------- messages without an order


def appointment_facts(appointment: Appointment | None) -> dict[str, Any]:
    """The appointment as ``notifications.still_true`` reads a reminder."""
    if appointment is None:
        return {"anonymised": True}
    return {
        "status": appointment.status,
        "start": appointment.start.isoformat(),
        "anonymised": appointment.anonymised_at is not None,
    }


def code_facts(code: BookingCode | None, now: datetime) -> dict[str, Any]:
    """A booking code as ``notifications.still_true`` reads it."""
    return {"live": code is not None and code.used_at is None and code.expires_at > now}


def appointment_recipient(channel: str, appointment: Appointment) -> str:
    """The address on ``channel`` the customer gave when booking (no WeChat:
    an appointment has no page opened inside WeChat yet)."""
    if channel == rules.SMS:
        return appointment.customer_phone or ""
    if channel == rules.EMAIL:
        return appointment.customer_email or ""
    return ""


def manage_link(settings: Settings, appointment: Appointment) -> str:
    """The customer's own appointment page (confirm, cancel, reschedule)."""
    return f"{links.base_url(settings)}/a/{appointment.token}"


def orderless(
    *,
    dedupe_key: str,
    kind: str,
    channel: str,
    queued_locale: str,
    facts: Mapping[str, Any],
    appointment: Appointment | None,
    shop: ShopFacts,
    settings: Settings,
    now: datetime,
) -> Outgoing:
    """A reminder (composed from its appointment: recipient, link = its
    manage page, promised = its start) or a booking code (the phone and the
    code in the facts; the text names only the shop and the code)."""
    link = ""
    values: dict[str, str] = {
        "shop": shop.name,
        "hotline": shop_settings.hotline(shop.settings),
    }
    language = appointment.customer_language if appointment is not None else ""
    locale = next((c for c in (queued_locale, language, shop.locale) if c in LOCALES), LOCALES[0])
    if kind == rules.BOOKING_CODE:
        address = str(facts.get("phone", "")) if channel == rules.SMS else ""
        values["code"] = str(facts.get("code", ""))
    else:
        assert appointment is not None
        address = appointment_recipient(channel, appointment)
        link = manage_link(settings, appointment)
        values["link"] = link
        values["promised"] = texts.format_when(appointment.start, shop.zone, locale, now)
    notify = shop.settings.get("notify") or {}
    templates = notify.get("templates") if isinstance(notify, Mapping) else None
    rendered = texts.render(kind, locale, values, templates)
    return Outgoing(
        dedupe_key=dedupe_key,
        kind=kind,
        locale=locale,
        recipient=address,
        text=rendered.text,
        subject=rendered.subject,
        params=rendered.params,
        link=link,
    )
