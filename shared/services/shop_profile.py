"""The shop profile (issue 14, item 4): name, address, service hotline, time
zone, opening hours and breaks, lounge settings, how long customer data is
kept, within how many days a return can be a comeback, and the shop's own
words for the stages, and the notifications: which messages are sent, the
quiet hours, the daily cap and the providers' settings, whose credentials
are write-only (``shared.services.notify_settings``).

``update_profile`` is the one command that changes it. It runs through
``commands.execute`` like every command (the shop's row locked, an
Idempotency-Key answered from its first result), is refused with
``stale_version`` and the profile as it is now when the admin's form was
opened on an older version (two admins editing at once: one wins), and after
the commit sends every live screen of the shop the ``shop`` message: the
staff screens and the lounge in their rooms, and each customer page whose
link still works in its own. A screen lays the new words and hours over what
it shows without a reload (``docs/admin/shop.md``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select

from shared.domain import errors
from shared.domain.policy import Command, may
from shared.persistence.models import RepairOrder, Shop
from shared.realtime.publisher import Notice, customer_room, lounge_room, staff_room
from shared.services import (
    admin_events,
    appointment_settings,
    notify_settings,
    shop_settings,
    snapshots,
)
from shared.services.auth import CUSTOMER_LINK_TTL
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core

log = logging.getLogger(__name__)

# The message every live screen of the shop receives after a change.
SHOP_MESSAGE = "shop"


@dataclass(frozen=True)
class ProfileChange:
    """What an admin changes; ``None`` leaves a field as it is. Stage labels
    are laid over the shop's (``shop_settings.merged_stage_labels``)."""

    name: str | None = None
    address: str | None = None
    hotline: str | None = None
    timezone: str | None = None
    hours: shop_settings.Hours | None = None
    stage_labels: Mapping[str, Mapping[str, str | None]] | None = None
    retention_days: int | None = None
    lounge_languages: tuple[str, ...] | None = None
    lounge_chime: bool | None = None
    checks_by_one_person_allowed: bool | None = None
    comeback_days: int | None = None
    # Laid over the stored ``notify`` (each part sent replaces its own).
    notify: Mapping[str, Any] | None = None
    # Per channel: null removes it, a field sent replaces the stored one.
    notify_providers: Mapping[str, Mapping[str, Any] | None] | None = None
    # Laid over the stored ``appointments`` (each key sent replaces its own).
    appointments: Mapping[str, Any] | None = None


def profile_of(shop: Shop) -> dict[str, Any]:
    """The profile as GET /api/v1/shop and the admin page show it."""
    settings = shop.settings or {}
    return {
        "name": shop.name,
        "address": shop_settings.address(settings),
        "hotline": shop_settings.hotline(settings),
        "timezone": shop.timezone,
        "opening_hours": shop_settings.hours(settings),
        "lounge": shop_settings.lounge(settings),
        "retention_days": shop_settings.retention_days(settings),
        "stage_labels": shop_settings.stage_labels(settings),
        "checks_by_one_person_allowed": shop_settings.checks_by_one_person_allowed(settings),
        "comeback_days": shop_settings.comeback_days(settings),
        "notify": notify_settings.notify_view(settings),
        "notify_providers": notify_settings.providers_view(settings),
        "appointments": appointment_settings.read(settings).as_json(),
        "version": shop_settings.profile_version(settings),
    }


def _audited(shop: Shop) -> dict[str, Any]:
    """The profile as the audit log compares it: the providers' settings
    without their credentials (``changed_credentials`` names those)."""
    found = profile_of(shop)
    found["notify_providers"] = notify_settings.public_providers(shop.settings or {})
    return found


def _shop(session: Any, shop_id: int) -> Shop:
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise errors.NotFound(f"No shop {shop_id}.")
    assert isinstance(shop, Shop)
    return shop


def profile(core: Core, shop_id: int) -> dict[str, Any]:
    with core.db.read() as session:
        return profile_of(_shop(session, shop_id))


def stage_label_overrides(core: Core, shop_id: int) -> dict[str, dict[str, str]]:
    """The shop's own stage words per locale (``shared.web.labels``)."""
    with core.db.read() as session:
        return shop_settings.stage_labels(_shop(session, shop_id).settings or {})


def contact(core: Core, shop_id: int) -> dict[str, str]:
    """Whom a customer calls: the shop's name, address and hotline."""
    with core.db.read() as session:
        shop = _shop(session, shop_id)
        settings = shop.settings or {}
        return {
            "name": shop.name,
            "address": shop_settings.address(settings),
            "hotline": shop_settings.hotline(settings),
        }


def contact_for_link(core: Core, token: str) -> dict[str, str] | None:
    """The contact the expired-link page shows for ``token``: the shop of
    the order the link was issued for, even though the link no longer
    works; for a link that never existed (or was replaced by a new one),
    the shop of a single-shop installation, else nothing. Only someone who
    was handed the link learns its shop, and nothing of its order."""
    with core.db.read() as session:
        shop_id = None
        if token and len(token) <= 100:
            shop_id = session.execute(
                select(RepairOrder.shop_id).where(RepairOrder.customer_token == token)
            ).scalar()
        if shop_id is None:
            shops = session.execute(select(Shop.id).limit(2)).scalars().all()
            shop_id = shops[0] if len(shops) == 1 else None
    return None if shop_id is None else contact(core, int(shop_id))


def _customer_rooms(tx: Transaction) -> tuple[str, ...]:
    """The rooms of the shop's customer pages whose links still work."""
    since: datetime = tx.now - CUSTOMER_LINK_TTL
    order_ids = tx.session.execute(
        select(RepairOrder.id).where(
            RepairOrder.shop_id == tx.locked.id,
            or_(RepairOrder.closed_at.is_(None), RepairOrder.closed_at >= since),
        )
    ).scalars()
    return tuple(customer_room(order_id) for order_id in order_ids)


def screens_notice(tx: Transaction) -> Notice:
    """The ``shop`` message for every live screen of the locked shop: what
    the screens show of it (``shop_settings.screen_info``), nothing private."""
    rooms = (staff_room(tx.locked.id), lounge_room(tx.locked.id), *_customer_rooms(tx))
    return Notice(SHOP_MESSAGE, shop_settings.screen_info(tx.shop), rooms)


def _apply(shop: Shop, change: ProfileChange) -> dict[str, Any]:
    """The new columns and settings; raises ``ValidationFailed`` naming the
    field as the API names it."""
    settings: dict[str, Any] = dict(shop.settings or {})
    timezone = shop.timezone
    if change.name is not None:
        shop.name = shop_settings.check_name(change.name)
    if change.address is not None:
        settings[shop_settings.ADDRESS] = shop_settings.check_contact(
            "address", change.address, shop_settings.ADDRESS_MAX
        )
    if change.hotline is not None:
        settings[shop_settings.HOTLINE] = shop_settings.check_contact(
            "hotline", change.hotline, shop_settings.HOTLINE_MAX
        )
    if change.timezone is not None:
        timezone = shop_settings.check_timezone(change.timezone)
    if change.hours is not None:
        for key, value in shop_settings.hours_settings(timezone, change.hours).items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
    if change.stage_labels is not None:
        settings[shop_settings.STAGE_LABELS] = shop_settings.merged_stage_labels(
            shop_settings.stage_labels(settings), change.stage_labels
        )
    if change.retention_days is not None:
        settings[shop_settings.RETENTION_DAYS] = shop_settings.check_retention_days(
            change.retention_days
        )
    if change.lounge_languages is not None or change.lounge_chime is not None:
        lounge = shop_settings.lounge(settings)
        if change.lounge_languages is not None:
            lounge["languages"] = shop_settings.check_languages(change.lounge_languages)
        if change.lounge_chime is not None:
            lounge["chime"] = change.lounge_chime
        settings[shop_settings.LOUNGE] = lounge
    if change.checks_by_one_person_allowed is not None:
        settings[shop_settings.CHECKS_BY_ONE_PERSON_ALLOWED] = change.checks_by_one_person_allowed
    if change.comeback_days is not None:
        settings[shop_settings.COMEBACK_DAYS] = shop_settings.check_comeback_days(
            change.comeback_days
        )
    if change.notify is not None:
        settings[notify_settings.NOTIFY] = notify_settings.merged_notify(settings, change.notify)
    if change.notify_providers is not None:
        providers = notify_settings.merged_providers(settings, change.notify_providers)
        if providers:
            settings[notify_settings.NOTIFY_PROVIDERS] = providers
        else:
            settings.pop(notify_settings.NOTIFY_PROVIDERS, None)
    if change.appointments is not None:
        settings[appointment_settings.APPOINTMENTS] = appointment_settings.check(
            change.appointments, settings
        )
    shop.timezone = timezone
    return settings


def update_profile(
    core: Core, request: CommandRequest, change: ProfileChange, *, version: int
) -> Outcome:
    """Change the shop profile, if the admin saw its current ``version``;
    answers 200 with the new profile (its version one up). Refused with
    ``stale_version`` carrying ``shop`` (the profile as it is now) when
    someone else saved first."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        if not may(tx.actor, Command.ADMINISTER):
            raise errors.Forbidden(_("Only an admin or a manager changes the shop profile."))
        shop = tx.shop
        current = shop_settings.profile_version(shop.settings or {})
        if version != current:
            raise errors.StaleVersion(
                _(
                    "Someone else saved the shop profile first (version %(current)s, "
                    "you sent %(sent)s). Here it is as it is now.",
                    current=current,
                    sent=version,
                ),
                shop=profile_of(shop),
            )
        before = (shop.name, shop.timezone, dict(shop.settings or {}))
        audited = _audited(shop)
        settings = _apply(shop, change)
        if (shop.name, shop.timezone, settings) != before:
            settings[shop_settings.PROFILE_VERSION] = current + 1
            # A new dict: the JSON column notices reassignment, not in-place edits.
            shop.settings = settings
            changed = admin_events.changes(audited, _audited(shop))
            changed.pop("version", None)
            credentials = notify_settings.changed_credentials(before[2], settings)
            if credentials:
                # That they changed, by name: never a value, old or new.
                changed["notify_credentials"] = {"changed": credentials}
            tx.audit(admin_events.SHOP_CHANGED, "shop", {"changes": changed})
            tx.notify(screens_notice(tx))
            if change.hours is not None or change.timezone is not None:
                # New working hours move every estimate: planned now, not
                # at the re-planner's next round (within a minute).
                tx.replan()
            log.info("shop %s: profile changed by %s", shop.id, tx.actor.ref or tx.actor.name)
        return 200, profile_of(shop)

    outcome = execute(core, request, "update_shop_profile", work)
    if outcome.notices:
        # No shared snapshot from before the change for a screen connecting now.
        snapshots.forget(core)
    return outcome
