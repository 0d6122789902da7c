"""The shop's own settings, as an admin sets them in the browser (issue 14):
what each one means, its default, and the rule that checks a new value.

Everything but the name and the time zone (columns of their own) lives in
``Shop.settings``, a JSON object, so that adding a setting needs no migration.
The keys other parts of the product read:

- ``opening_hours`` ({"open", "close"}), ``breaks`` ([{"start", "end"}]) and
  ``week`` (7 × {"open", "close"} or null, Monday first): the shop calendar
  (``ShopCalendar.from_settings``) plans every honest time on them; the lounge
  TV is blank outside the opening hours. The admin sets the same hours for
  every open weekday and may close some weekdays (``week`` then holds them).
- ``address``, ``hotline``: the shop's contact, on the job ticket, the
  customer's page and the expired-link page.
- ``lounge`` ({"languages", "chime"}): the languages the lounge TV takes
  turns in (none: the TV's own) and whether a ready car chimes.
- ``retention_days``: how long after delivery a customer's personal data is
  kept (the retention job reads it; at least 30, default 1095 = 3 years).
- ``comeback_days``: how many shop days after a delivery the same car's
  return can be marked its comeback (返修) by the advisor (1 to 365, default
  30; ``shared.domain.comebacks``).
- ``stage_labels`` ({locale: {stage: label}}): the shop's own words for the
  stages, over the catalogue's (``shared.web.labels``); codes never change.
- ``checks_by_one_person_allowed`` (bool, default false): whether one person
  may sign more than one level of the same job's inspection (team lead, QC,
  final), for a small shop with too few people; a pass so allowed says so in
  its ``check_passed`` event (``orders.pass_check``).
- ``notify`` ({"kinds", "quiet_hours", "max_per_order_per_day",
  "templates"}) and ``notify_providers`` (per channel: sms, wechat, email):
  which messages a customer is sent, when not, and through which provider
  (``shared.services.notify_settings``; the credentials there are
  write-only: shown as set or not, audited by name, never by value).
- ``appointments`` ({"walk_in_share", "cars_per_advisor_per_slot",
  "grace_minutes", "lead_minutes", "days_ahead", "online_booking",
  "phone_verification", "board_arrivals"}): how appointments are booked
  against the shop's capacity, when a late car is a no-show, and the public
  booking page's switches (``shared.services.appointment_settings``).
- ``profile_version`` and ``bays_version``: counted up by every change of the
  profile or of the bays, so that two admins cannot overwrite each other
  (409) and a screen can tell a newer profile or bay list from an older one
  (``docs/admin/shop.md``).

The functions here are pure (a settings mapping in, values out) except the
two the /admin screens page used before the shop profile existed
(``set_opening_hours``, ``opening_hours``)."""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from shared.config import LOCALES
from shared.domain import comebacks, errors
from shared.domain.shop_calendar import ShopCalendar
from shared.domain.stages import Stage
from shared.domain.text import check_text
from shared.persistence.models import Shop
from shared.services.core import Core

HOUR = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

NAME_MAX = 100
ADDRESS_MAX = 200
HOTLINE_MAX = 40
LABEL_MAX = 30
MAX_BREAKS = 10
RETENTION_DEFAULT_DAYS = 1095
RETENTION_MIN_DAYS = 30
RETENTION_MAX_DAYS = 36500
# ISO weekdays, Monday = 1: how the profile names the days the shop is closed.
WEEKDAYS = tuple(range(1, 8))
# The calendar's hours for a weekday when the shop gave none (08:30–18:00).
DEFAULT_DAY = {"open": "08:30", "close": "18:00"}
STAGES = tuple(stage.value for stage in Stage)

ADDRESS = "address"
HOTLINE = "hotline"
OPENING_HOURS = "opening_hours"
BREAKS = "breaks"
WEEK = "week"
LOUNGE = "lounge"
RETENTION_DAYS = "retention_days"
STAGE_LABELS = "stage_labels"
CHECKS_BY_ONE_PERSON_ALLOWED = "checks_by_one_person_allowed"
COMEBACK_DAYS = "comeback_days"
PROFILE_VERSION = "profile_version"
BAYS_VERSION = "bays_version"

# ------------------------------------------------------------------ reading


def _text(settings: Mapping[str, Any], key: str) -> str:
    value = settings.get(key)
    return value if isinstance(value, str) else ""


def _count(settings: Mapping[str, Any], key: str) -> int:
    value = settings.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def address(settings: Mapping[str, Any]) -> str:
    return _text(settings, ADDRESS)


def hotline(settings: Mapping[str, Any]) -> str:
    return _text(settings, HOTLINE)


def profile_version(settings: Mapping[str, Any]) -> int:
    return _count(settings, PROFILE_VERSION)


def bays_version(settings: Mapping[str, Any]) -> int:
    return _count(settings, BAYS_VERSION)


def checks_by_one_person_allowed(settings: Mapping[str, Any]) -> bool:
    """Whether one person may sign more than one inspection level of the
    same job; anything but an explicit true reads as no (the safe rule)."""
    return settings.get(CHECKS_BY_ONE_PERSON_ALLOWED) is True


def retention_days(settings: Mapping[str, Any]) -> int:
    """Days after delivery a customer's data is kept; anything unusable
    there reads as the default, never as a shorter time."""
    value = settings.get(RETENTION_DAYS)
    if isinstance(value, bool) or not isinstance(value, int):
        return RETENTION_DEFAULT_DAYS
    return value if RETENTION_MIN_DAYS <= value <= RETENTION_MAX_DAYS else RETENTION_DEFAULT_DAYS


def comeback_days(settings: Mapping[str, Any]) -> int:
    """Shop days after a delivery within which a return can be its comeback;
    anything unusable there reads as the default."""
    value = settings.get(COMEBACK_DAYS)
    if isinstance(value, bool) or not isinstance(value, int):
        return comebacks.DEFAULT_DAYS
    return value if comebacks.MIN_DAYS <= value <= comebacks.MAX_DAYS else comebacks.DEFAULT_DAYS


def stage_labels(settings: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The shop's own stage words per locale (only the ones it set)."""
    found: dict[str, dict[str, str]] = {}
    stored = settings.get(STAGE_LABELS)
    if not isinstance(stored, Mapping):
        return found
    for locale in LOCALES:
        words = stored.get(locale)
        if not isinstance(words, Mapping):
            continue
        mine = {s: w for s, w in words.items() if s in STAGES and isinstance(w, str) and w}
        if mine:
            found[locale] = {s: mine[s] for s in STAGES if s in mine}
    return found


def lounge(settings: Mapping[str, Any]) -> dict[str, Any]:
    stored = settings.get(LOUNGE)
    stored = stored if isinstance(stored, Mapping) else {}
    languages = stored.get("languages")
    languages = [x for x in languages if x in LOCALES] if isinstance(languages, list) else []
    return {"languages": languages, "chime": stored.get("chime") is True}


def hours(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The opening hours as the profile shows them: open and close (None:
    not set), the breaks, and the weekdays the shop is closed."""
    every_day = settings.get(OPENING_HOURS)
    every_day = every_day if isinstance(every_day, Mapping) else {}
    breaks = settings.get(BREAKS)
    week = settings.get(WEEK)
    closed = (
        [day for day, entry in zip(WEEKDAYS, week, strict=False) if entry is None]
        if isinstance(week, list)
        else []
    )
    return {
        "open": every_day.get("open"),
        "close": every_day.get("close"),
        "breaks": [
            {"start": b.get("start"), "end": b.get("end")}
            for b in (breaks if isinstance(breaks, list) else [])
            if isinstance(b, Mapping)
        ],
        "closed_weekdays": closed,
    }


def screen_info(shop: Shop) -> dict[str, Any]:
    """What every live screen gets of the shop (in its snapshot, and in the
    ``shop`` message after each change): nothing private, and the version
    that tells a newer profile from an older one."""
    settings = shop.settings or {}
    return {
        "name": shop.name,
        "timezone": shop.timezone,
        "opening_hours": settings.get(OPENING_HOURS),
        "closed_weekdays": hours(settings)["closed_weekdays"],
        "hotline": hotline(settings),
        "stage_labels": stage_labels(settings),
        "lounge": lounge(settings),
        "version": profile_version(settings),
    }


# ------------------------------------------------------------------ checking


def _trimmed(field: str, value: str, limit: int) -> str:
    """One line of stored text within ``limit`` characters as sent, trimmed."""
    if len(check_text(field, value)) > limit:
        raise errors.ValidationFailed(field, _("At most %(count)s characters.", count=limit))
    return value.strip()


def check_name(value: str) -> str:
    value = _trimmed("name", value, NAME_MAX)
    if not value:
        raise errors.ValidationFailed("name", _("The shop needs a name."))
    return value


def check_contact(field: str, value: str, limit: int) -> str:
    """An address or a hotline: one line of stored text, possibly empty."""
    return _trimmed(field, value, limit)


@functools.lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """Every IANA time zone name this machine knows (read once: a scan of
    the zone database takes a tenth of a second)."""
    return frozenset(zoneinfo.available_timezones())


def check_timezone(value: str) -> str:
    if value not in time_zones():
        raise errors.ValidationFailed(
            "timezone",
            _("Unknown time zone %(zone)s: give an IANA name such as Asia/Shanghai.", zone=value),
        )
    return value


def check_retention_days(value: int) -> int:
    if not RETENTION_MIN_DAYS <= value <= RETENTION_MAX_DAYS:
        raise errors.ValidationFailed(
            "retention_days",
            _(
                "Keep customer data between %(low)s and %(high)s days after delivery.",
                low=RETENTION_MIN_DAYS,
                high=RETENTION_MAX_DAYS,
            ),
        )
    return value


def check_comeback_days(value: int) -> int:
    if not comebacks.MIN_DAYS <= value <= comebacks.MAX_DAYS:
        raise errors.ValidationFailed(
            COMEBACK_DAYS,
            _(
                "A comeback is counted within %(low)s to %(high)s days of the delivery.",
                low=comebacks.MIN_DAYS,
                high=comebacks.MAX_DAYS,
            ),
        )
    return value


def check_languages(values: Sequence[str]) -> list[str]:
    chosen: list[str] = []
    for index, value in enumerate(values):
        if value not in LOCALES:
            raise errors.ValidationFailed(
                f"lounge.languages[{index}]",
                _("Languages are %(choices)s.", choices=", ".join(LOCALES)),
            )
        if value not in chosen:
            chosen.append(value)
    return chosen


def _hour(field: str, value: str | None) -> str:
    text = value or ""
    if not HOUR.fullmatch(text):
        raise errors.ValidationFailed(field, _("Give the time as HH:MM (24-hour clock)."))
    return text


@dataclass(frozen=True)
class Hours:
    """Opening hours as an admin gives them: the same hours every open day
    (both empty: none set), breaks, and the ISO weekdays closed."""

    open: str | None = None
    close: str | None = None
    breaks: tuple[tuple[str, str], ...] = ()
    closed_weekdays: tuple[int, ...] = ()


def hours_settings(timezone: str, given: Hours, prefix: str = "opening_hours.") -> dict[str, Any]:
    """The settings keys ``given`` stands for (None: remove the key), checked
    field by field and then as the calendar the planner will read."""
    every_day: dict[str, str] | None = None
    if given.open or given.close:
        every_day = {
            "open": _hour(f"{prefix}open", given.open),
            "close": _hour(f"{prefix}close", given.close),
        }
        if every_day["open"] == every_day["close"]:
            raise errors.ValidationFailed(f"{prefix}close", _("Closing time equals opening time."))
    if len(given.breaks) > MAX_BREAKS:
        raise errors.ValidationFailed(
            f"{prefix}breaks", _("At most %(count)s breaks.", count=MAX_BREAKS)
        )
    breaks = []
    for index, (start, end) in enumerate(given.breaks):
        where = f"{prefix}breaks[{index}]"
        item = {"start": _hour(f"{where}.start", start), "end": _hour(f"{where}.end", end)}
        if not item["start"] < item["end"]:
            raise errors.ValidationFailed(
                f"{where}.end", _("A break ends after it starts, on the same day.")
            )
        breaks.append(item)
    for index, day in enumerate(given.closed_weekdays):
        if day not in WEEKDAYS or day in given.closed_weekdays[:index]:
            raise errors.ValidationFailed(
                f"{prefix}closed_weekdays[{index}]",
                _("Weekdays are 1 (Monday) to 7 (Sunday), each once."),
            )
    closed = set(given.closed_weekdays)
    if closed >= set(WEEKDAYS):
        raise errors.ValidationFailed(
            f"{prefix}closed_weekdays", _("The shop must open on at least one day of the week.")
        )
    hours_of_day = every_day or DEFAULT_DAY
    week = [None if d in closed else dict(hours_of_day) for d in WEEKDAYS] if closed else None
    found: dict[str, Any] = {OPENING_HOURS: every_day, BREAKS: breaks or None, WEEK: week}
    try:
        # The planner must be able to read what is stored.
        ShopCalendar.from_settings(timezone, {k: v for k, v in found.items() if v is not None})
    except errors.ValidationFailed as refused:
        raise errors.ValidationFailed(f"{prefix}{refused.field}", refused.detail) from None
    return found


def merged_stage_labels(
    current: Mapping[str, Mapping[str, str]],
    patch: Mapping[str, Mapping[str, str | None]],
    prefix: str = "stage_labels.",
) -> dict[str, dict[str, str]]:
    """``current`` with ``patch`` laid over it, as JSON merge patch does: a
    label replaces the shop's word for that stage in that locale, an empty
    one (or null) gives the catalogue's word back."""
    merged = {locale: dict(words) for locale, words in current.items()}
    for locale, words in patch.items():
        if locale not in LOCALES:
            raise errors.ValidationFailed(
                f"{prefix}{locale}", _("Languages are %(choices)s.", choices=", ".join(LOCALES))
            )
        mine = merged.setdefault(locale, {})
        for stage, word in words.items():
            field = f"{prefix}{locale}.{stage}"
            if stage not in STAGES:
                raise errors.ValidationFailed(field, _("No such stage."))
            label = _trimmed(field, word or "", LABEL_MAX)
            if label:
                mine[stage] = label
            else:
                mine.pop(stage, None)
    return {
        locale: {s: merged[locale][s] for s in STAGES if s in merged[locale]}
        for locale in LOCALES
        if merged.get(locale)
    }


# ------------------------------------------------------------------ the /admin page's hours


def set_opening_hours(core: Core, shop_id: int, opening: str | None, closing: str | None) -> None:
    """Set the opening hours (both times), or clear them (both empty: always
    open). A closing time before the opening time means open across midnight.
    The screens page's form (kiosk/admin.py); the shop profile
    (``shop_profile.update_profile``) sets them with breaks and closed days,
    live on every screen. This counts the profile's version up too, so a
    profile form opened before is refused rather than writing the old hours
    back."""
    hours: dict[str, str] | None = None
    if opening or closing:
        hours = {
            "open": _hour("open", opening),
            "close": _hour("close", closing),
        }
        if hours["open"] == hours["close"]:
            raise errors.ValidationFailed("close", _("Closing time equals opening time."))
    with core.db.write() as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            raise errors.NotFound(f"No shop {shop_id}.")
        settings: dict[str, Any] = dict(shop.settings or {})
        if hours is None:
            settings.pop(OPENING_HOURS, None)
        else:
            settings[OPENING_HOURS] = hours
        settings[PROFILE_VERSION] = profile_version(settings) + 1
        # A new dict: the JSON column notices reassignment, not in-place edits.
        shop.settings = settings


def opening_hours(core: Core, shop_id: int) -> dict[str, str] | None:
    with core.db.read() as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            raise errors.NotFound(f"No shop {shop_id}.")
        stored = (shop.settings or {}).get(OPENING_HOURS)
        return dict(stored) if isinstance(stored, dict) else None
