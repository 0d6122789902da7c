"""Administration commands recorded for the audit log (issue 14, item 7).

Orders have their event log (``order_event``); the commands that run the
shop (staff, bays, the shop profile and stage labels, API tokens, screens)
change rows that keep no history. Each of them writes one ``admin_event``
here, in its own transaction (``Transaction.audit`` for the commands that go
through ``commands.execute``, ``record`` with the session for the few that
write directly), so the record commits with the change or not at all, and a
replayed Idempotency-Key, whose command does not run again, adds nothing.

A command that changes nothing (a profile saved as it was, a token revoked
again, a screen renamed to its own name) records nothing.

What a record keeps: who (the credential's reference and the name at that
moment), when, the kind, the target, and in ``data`` the fields set or the
changes as ``{"field": {"old": …, "new": …}}``. Never a secret: a PIN, a
password, a token's secret and every hash are recorded only as "set"
(``pin_set``, ``password_reset``), and ``record`` refuses data that carries a
field named like one. A colleague's phone is personal data the audit does
not need: its change is listed without the numbers (``PERSONAL``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from shared.domain.order import Actor
from shared.persistence.models import AdminEvent

# Every kind a command records, with what ``target`` names.
STAFF_ADDED = "staff_added"  # staff:<id>
STAFF_CHANGED = "staff_changed"
STAFF_DEACTIVATED = "staff_deactivated"
STAFF_REACTIVATED = "staff_reactivated"
PIN_SET = "pin_set"
PASSWORD_RESET = "password_reset"
BADGE_UNLOCKED = "badge_unlocked"
BAY_ADDED = "bay_added"  # bay:<code>
BAY_CHANGED = "bay_changed"
SHOP_CHANGED = "shop_changed"  # shop
TOKEN_CREATED = "token_created"  # token:<id>
TOKEN_REVOKED = "token_revoked"
DEVICE_PAIRED = "device_paired"  # device:<id>
DEVICE_RENAMED = "device_renamed"
DEVICE_REVOKED = "device_revoked"
KINDS = (
    STAFF_ADDED,
    STAFF_CHANGED,
    STAFF_DEACTIVATED,
    STAFF_REACTIVATED,
    PIN_SET,
    PASSWORD_RESET,
    BADGE_UNLOCKED,
    BAY_ADDED,
    BAY_CHANGED,
    SHOP_CHANGED,
    TOKEN_CREATED,
    TOKEN_REVOKED,
    DEVICE_PAIRED,
    DEVICE_RENAMED,
    DEVICE_REVOKED,
)

# Field names that would carry a secret; ``record`` refuses them at any depth.
SECRET_FIELDS = frozenset(
    {"pin", "password", "secret", "token", "device_code", "device_token", "user_code"}
)
SECRET_SUFFIXES = ("_hash", "_secret")
# Fields whose change is recorded without the values.
PERSONAL = frozenset({"phone"})

_INSERT = insert(cast(Table, AdminEvent.__table__))


class SecretInAudit(ValueError):
    """A command tried to record a field named like a secret: a bug, never
    a refusal a user can cause."""


def _check(data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if key in SECRET_FIELDS or key.endswith(SECRET_SUFFIXES):
            raise SecretInAudit(f"{key!r} is not recorded in the audit")
        if isinstance(value, Mapping):
            _check(value)


def record(
    session: Session,
    *,
    shop_id: int,
    actor: Actor,
    at: datetime,
    kind: str,
    target: str,
    data: Mapping[str, Any],
) -> None:
    """Write one record in ``session``'s transaction (one plain statement,
    like the order log's events)."""
    if kind not in KINDS:
        raise ValueError(f"unknown admin event kind {kind!r}")
    _check(data)
    session.connection().execute(
        _INSERT,
        {
            "shop_id": shop_id,
            "at": at,
            "actor": actor.ref or actor.name,
            "actor_name": actor.name,
            "kind": kind,
            "target": target,
            "data": dict(data),
        },
    )


def changes(
    before: Mapping[str, Any], after: Mapping[str, Any], fields: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """``{"field": {"old": …, "new": …}}`` for each field that differs
    (``fields``: only these); a personal field is listed without values."""
    found: dict[str, dict[str, Any]] = {}
    for name in fields if fields is not None else after.keys():
        old, new = before.get(name), after.get(name)
        if old != new:
            found[name] = {} if name in PERSONAL else {"old": old, "new": new}
    return found
