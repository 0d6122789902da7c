"""The shop's appointment settings (``Shop.settings["appointments"]``, issue
18): how much of the day is kept for walk-ins, how many cars the advisors
receive per slot, how long a late car is waited for, how soon and how far
ahead a customer may book, and the public page's switches.

Pure: a settings mapping in, values out; ``check`` validates what an admin
sends through PATCH /api/v1/shop (unknown keys refused by name)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from shared.domain import errors

APPOINTMENTS = "appointments"
WALK_IN_SHARE_MAX = 0.9
CARS_PER_ADVISOR_MAX = 10
GRACE_MAX = 240
LEAD_MAX = 7 * 24 * 60
DAYS_AHEAD_MAX = 90
SLOT_MINUTES = 15


@dataclass(frozen=True)
class AppointmentSettings:
    """The stored form, with its defaults."""

    walk_in_share: float = 0.3
    cars_per_advisor_per_slot: int = 1
    grace_minutes: int = 30
    lead_minutes: int = 60
    days_ahead: int = 14
    online_booking: bool = True
    phone_verification: bool = False
    board_arrivals: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


_INTS: dict[str, tuple[int, int]] = {
    "cars_per_advisor_per_slot": (1, CARS_PER_ADVISOR_MAX),
    "grace_minutes": (0, GRACE_MAX),
    "lead_minutes": (0, LEAD_MAX),
    "days_ahead": (1, DAYS_AHEAD_MAX),
}
_FLAGS = ("online_booking", "phone_verification", "board_arrivals")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read(settings: Mapping[str, Any] | None) -> AppointmentSettings:
    """The shop's settings; a stored value out of range (written by hand)
    falls back to its default rather than breaking every booking."""
    raw = (settings or {}).get(APPOINTMENTS) or {}
    if not isinstance(raw, Mapping):
        return AppointmentSettings()
    found: dict[str, Any] = {}
    share = raw.get("walk_in_share")
    if (
        isinstance(share, int | float)
        and not isinstance(share, bool)
        and 0 <= share <= WALK_IN_SHARE_MAX
    ):
        found["walk_in_share"] = float(share)
    for name, (low, high) in _INTS.items():
        value = raw.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            found[name] = value
    for name in _FLAGS:
        if isinstance(raw.get(name), bool):
            found[name] = raw[name]
    return AppointmentSettings(**found)


def check(raw: object, stored: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``appointments`` object an admin sends, checked and laid over the
    stored one (each key sent replaces its own); the new stored form."""
    if not isinstance(raw, Mapping):
        raise errors.ValidationFailed(
            APPOINTMENTS, errors.Message("%(field)s must be an object.", field=APPOINTMENTS)
        )
    allowed = {"walk_in_share", *_INTS, *_FLAGS}
    extra = sorted(set(raw) - allowed)
    if extra:
        name = f"{APPOINTMENTS}.{extra[0]}"
        raise errors.ValidationFailed(
            name, errors.Message("%(field)s is not a field of this request.", field=name)
        )
    out = read(stored).as_json()
    if "walk_in_share" in raw:
        share = raw["walk_in_share"]
        if (
            not isinstance(share, int | float)
            or isinstance(share, bool)
            or not 0 <= share <= WALK_IN_SHARE_MAX
        ):
            field = "appointments.walk_in_share"
            raise errors.ValidationFailed(
                field,
                errors.Message(
                    "%(field)s must be from %(low)s to %(high)s.",
                    field=field,
                    low=0,
                    high=WALK_IN_SHARE_MAX,
                ),
            )
        out["walk_in_share"] = float(share)
    for name, (low, high) in _INTS.items():
        if name in raw:
            value = raw[name]
            if not _is_int(value) or not low <= value <= high:
                field = f"{APPOINTMENTS}.{name}"
                raise errors.ValidationFailed(
                    field,
                    errors.Message(
                        "%(field)s must be from %(low)s to %(high)s.",
                        field=field,
                        low=low,
                        high=high,
                    ),
                )
            out[name] = value
    for name in _FLAGS:
        if name in raw:
            if not isinstance(raw[name], bool):
                field = f"{APPOINTMENTS}.{name}"
                raise errors.ValidationFailed(
                    field, errors.Message("%(field)s must be true or false.", field=field)
                )
            out[name] = raw[name]
    return out
