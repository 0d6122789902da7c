"""Pairing of boards, lounge TVs and kiosks, after RFC 8628 (device grant).

An unpaired screen asks for a pairing: it gets a short *user code* to show in
``#pairing-code`` and a secret *device code* to poll with. An admin approves the
user code (web admin or ``baylight pair``); the next poll hands the screen its
device token, once. Revoking the device sends the screen back to pairing.

Polls are throttled as RFC 8628 §3.5 says: a screen polling sooner than its
interval is answered ``slow_down`` and its interval grows by five seconds for
every later poll. While a pairing is pending, the device row keeps the time
of its last poll in ``last_seen_at`` (the screen was seen then) and the number
of ``slow_down`` answers in ``pairing_attempts``, which sets the interval:
both live in the database, so every worker process enforces the same one.

Pairing, renaming and revoking a screen are recorded for the audit log
(``device_paired``, ``device_renamed``, ``device_revoked``) in their own
transaction, when the caller says who acts (``actor``); a caller that does
not is not recorded. Never a pairing code or a token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.domain.order import Actor
from shared.persistence.kiosk_models import KioskSession
from shared.persistence.models import Device
from shared.services import admin_events
from shared.services.auth import hash_secret, new_secret
from shared.services.core import Core

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
PAIRING_TTL = timedelta(seconds=900)
POLL_INTERVAL_SECONDS = 3
# RFC 8628 §3.5: each slow_down adds five seconds to the interval.
SLOW_DOWN_STEP_SECONDS = 5
# A screen that ignored slow_down many times still learns of its approval
# within a minute of its next poll.
MAX_POLL_INTERVAL_SECONDS = 60
# A screen waits its interval after each answer; the network can still bring
# two polls this much closer together at the server.
POLL_GRACE = timedelta(seconds=1)
# Per address, at the HTTP edge (shared/web/api.py): a shop's screens share
# one address behind its router, so these leave room for a wall of screens
# pairing at once (120 polls a minute = six screens at the 3 s interval,
# more once slowed) while one machine cannot turn polling or starting
# pairings into an unbounded stream of writes and pending rows.
POLLS_PER_ADDRESS_PER_MINUTE = 120
PAIRINGS_PER_ADDRESS_PER_MINUTE = 20
PAIRINGS_PER_ADDRESS_PER_HOUR = 200
DEVICE_KINDS = ("board", "lounge", "kiosk")


class SlowDown(errors.DomainError):
    """RFC 8628's ``slow_down``: polled sooner than the interval. ``interval``
    is the new one, to be kept for every later poll; ``retry_after`` becomes
    the response's Retry-After."""

    code = "slow_down"
    status = 429

    def __init__(self, interval: int) -> None:
        super().__init__(
            f"Polling too fast: wait {interval} seconds between polls.", interval=interval
        )
        self.retry_after = interval


def _poll_interval(device: Device) -> int:
    slowed = device.pairing_attempts or 0
    return min(POLL_INTERVAL_SECONDS + SLOW_DOWN_STEP_SECONDS * slowed, MAX_POLL_INTERVAL_SECONDS)


@dataclass(frozen=True)
class PairingStart:
    user_code: str
    device_code: str
    expires_in: int
    interval: int


def _user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def normalise_user_code(raw: str) -> str:
    """Accept ``bcdf-ghjk`` as well as ``BCDFGHJK``."""
    return "".join(c for c in raw.upper() if c.isalnum())


def start_pairing(core: Core, kind: str) -> PairingStart:
    if kind not in DEVICE_KINDS:
        raise errors.ValidationFailed("kind", f"kind must be one of {', '.join(DEVICE_KINDS)}")
    device_code = new_secret()
    now = core.now()
    with core.db.write() as session:
        for _ in range(10):
            code = _user_code()
            taken = session.execute(select(Device.id).where(Device.user_code == code)).scalar()
            if taken is None:
                break
        session.add(
            Device(
                kind=kind,
                status="pending",
                user_code=code,
                device_code_hash=hash_secret(device_code),
                pairing_expires_at=now + PAIRING_TTL,
                created_at=now,
            )
        )
    return PairingStart(code, device_code, int(PAIRING_TTL.total_seconds()), POLL_INTERVAL_SECONDS)


def poll_pairing(core: Core, device_code: str) -> dict[str, object]:
    """``pending``, ``expired``, ``denied``, or ``approved`` with the token
    (once); a pending pairing polled sooner than its interval raises
    ``SlowDown`` instead, after its longer interval is committed. An approved
    pairing hands its token over however soon it is polled: that poll ends
    the polling."""
    now = core.now()
    with core.db.write() as session:
        device = session.execute(
            select(Device)
            .where(Device.device_code_hash == hash_secret(device_code))
            .with_for_update()
        ).scalar_one_or_none()
        if device is None:
            raise errors.NotFound("Unknown pairing.")
        if device.status == "approved":
            token = new_secret()
            device.token_hash = hash_secret(token)
            device.status = "active"
            device.device_code_hash = None
            return {"status": "approved", "device_token": token, "name": device.name}
        if device.status != "pending":
            return {"status": device.status}
        if device.pairing_expires_at is not None and now > device.pairing_expires_at:
            device.status = "expired"
            device.user_code = None
            return {"status": "expired"}
        previous, device.last_seen_at = device.last_seen_at, now
        wait = timedelta(seconds=_poll_interval(device)) - POLL_GRACE
        if previous is None or now - previous >= wait:
            return {"status": "pending", "user_code": device.user_code}
        device.pairing_attempts = (device.pairing_attempts or 0) + 1
        interval = _poll_interval(device)
    # Raised after the commit: the longer interval must outlive this answer.
    raise SlowDown(interval)


def _audit(
    session: Session,
    actor: Actor | None,
    device: Device,
    at: datetime,
    kind: str,
    data: dict[str, Any],
) -> None:
    """Record a screen command in its transaction, when the caller said who
    acts and the screen is a shop's."""
    if actor is not None and device.shop_id is not None:
        admin_events.record(
            session,
            shop_id=device.shop_id,
            actor=actor,
            at=at,
            kind=kind,
            target=f"device:{device.id}",
            data=data,
        )


def approve_pairing(
    core: Core,
    user_code: str,
    *,
    kind: str,
    name: str,
    shop_id: int,
    actor: Actor | None = None,
) -> int:
    """The admin's approval of a code shown on a screen; returns the device id."""
    code = normalise_user_code(user_code)
    now = core.now()
    if not name.strip():
        raise errors.ValidationFailed("name", "Give the screen a name (where it hangs).")
    with core.db.write() as session:
        device = session.execute(
            select(Device).where(Device.user_code == code, Device.status == "pending")
        ).scalar_one_or_none()
        if device is None or (
            device.pairing_expires_at is not None and now > device.pairing_expires_at
        ):
            raise errors.NotFound("No screen is waiting with that code (or it expired).")
        if device.kind != kind:
            raise errors.ValidationFailed(
                "kind", f"That screen asked to be a {device.kind}, not a {kind}."
            )
        device.status = "approved"
        device.name = name.strip()
        device.shop_id = shop_id
        device.user_code = None
        data = {"name": device.name, "kind": device.kind}
        _audit(session, actor, device, now, admin_events.DEVICE_PAIRED, data)
        return device.id


# A screen that holds a socket writes its last-seen time at most once a
# minute (the hub's seq check comes every 15 s), so a connected screen's
# time is never much older than 75 s. Twice that, and a screen that went away
# shows offline within about two and a half minutes.
ONLINE_WITHIN = timedelta(seconds=150)


@dataclass(frozen=True)
class Presence:
    """What one process's hub knows of the screens connected to it, for the
    admin page's "online now".

    ``device_ids``: paired screens with a socket open here (their own device
    token). ``kiosk_sessions``: the hashes of the kiosk sign-ins with a socket
    open here (a kiosk holds a socket only while a technician is signed in,
    under the technician's kiosk credential). ``whole``: this process holds
    every socket of the installation (no message queue, one process), so
    what it does not hold is offline; otherwise other workers hold sockets
    too, and a recent last-seen time is the only sign of them."""

    device_ids: frozenset[int] = frozenset()
    kiosk_sessions: frozenset[str] = frozenset()
    whole: bool = False


def list_devices(
    core: Core, shop_id: int, presence: Presence | None = None
) -> list[dict[str, Any]]:
    """The shop's screens for the admin page: waiting ones first by status.

    ``last_seen``: the screen's last sign of life. A kiosk holds a socket
    only while a technician is signed in on it, so its technicians' sign-ins
    and taps (their kiosk sessions' times) count as its own: a kiosk in use
    is never "not seen".

    ``online`` (with ``presence``): a paired screen with a socket open in this
    process, or, when other processes hold sockets too, one seen within
    ``ONLINE_WITHIN`` (its heartbeat). Without ``presence``, None."""
    now = core.now()
    with core.db.read() as session:
        rows = list(
            session.execute(
                select(Device).where(Device.shop_id == shop_id).order_by(Device.status, Device.id)
            ).scalars()
        )
        used: dict[int, datetime] = {
            device_id: last
            for device_id, last in session.execute(
                select(KioskSession.device_id, func.max(KioskSession.last_seen_at))
                .where(KioskSession.shop_id == shop_id)
                .group_by(KioskSession.device_id)
            ).all()
            if last is not None
        }
        here: set[int] = set()
        if presence is not None:
            here = set(presence.device_ids)
            if presence.kiosk_sessions:
                here.update(
                    session.execute(
                        select(KioskSession.device_id).where(
                            KioskSession.shop_id == shop_id,
                            KioskSession.token_hash.in_(sorted(presence.kiosk_sessions)),
                        )
                    ).scalars()
                )
        listed = []
        for d in rows:
            seen = _latest(d.last_seen_at, used.get(d.id))
            listed.append(
                {
                    "id": d.id,
                    "kind": d.kind,
                    "name": d.name,
                    "status": d.status,
                    "last_seen": seen,
                    "created": d.created_at,
                    "online": None if presence is None else _online(d, seen, here, presence, now),
                }
            )
        return listed


def _latest(*moments: datetime | None) -> datetime | None:
    """The latest of the moments given (stored ones may come back naive: UTC)."""
    known = [m if m.tzinfo else m.replace(tzinfo=UTC) for m in moments if m is not None]
    return max(known, default=None)


def _online(
    device: Device, seen: datetime | None, here: set[int], presence: Presence, now: datetime
) -> bool:
    if device.status != "active":
        return False
    if device.id in here:
        return True
    if presence.whole:
        return False
    return seen is not None and now - seen <= ONLINE_WITHIN


def rename_device(
    core: Core, device_id: int, name: str, *, shop_id: int, actor: Actor | None = None
) -> None:
    """Give a screen of the shop another name (where it hangs). A screen of
    another shop is as unknown as a missing one; the name follows the rule
    of every displayed text (checked by the caller's form or body)."""
    name = name.strip()
    if not name:
        raise errors.ValidationFailed("name", "Give the screen a name (where it hangs).")
    with core.db.write() as session:
        device = session.get(Device, device_id)
        if device is None or device.shop_id != shop_id:
            raise errors.NotFound(f"No device {device_id}.")
        if device.name != name:
            changed = admin_events.changes({"name": device.name}, {"name": name})
            data = {"name": name, "kind": device.kind, "changes": changed}
            _audit(session, actor, device, core.now(), admin_events.DEVICE_RENAMED, data)
        device.name = name


def device_of_kiosk_session(core: Core, token_hash: str) -> int | None:
    """The kiosk a technician's sign-in (by its credential's hash) is on."""
    with core.db.read() as session:
        found = session.execute(
            select(KioskSession.device_id).where(KioskSession.token_hash == token_hash)
        ).scalar()
    return int(found) if found is not None else None


def revoke_device(
    core: Core, device_id: int, *, shop_id: int | None = None, actor: Actor | None = None
) -> None:
    """Revoke a screen's token. With ``shop_id`` (an admin's own shop) a
    screen of another shop is as unknown as a missing one."""
    with core.db.write() as session:
        device = session.get(Device, device_id)
        if device is None or (shop_id is not None and device.shop_id != shop_id):
            raise errors.NotFound(f"No device {device_id}.")
        if device.status != "revoked":
            data = {"name": device.name, "kind": device.kind}
            _audit(session, actor, device, core.now(), admin_events.DEVICE_REVOKED, data)
        device.status = "revoked"
        device.token_hash = None
    core.principals.clear()


LAST_SEEN_EVERY = timedelta(minutes=1)


def touch_device(core: Core, device_id: int) -> None:
    """Note that a paired screen is alive (the admin page lists last seen);
    written at most once a minute per screen."""
    now = core.now()
    with core.db.write() as session:
        device = session.get(Device, device_id)
        if device is not None and (
            device.last_seen_at is None or now - device.last_seen_at >= LAST_SEEN_EVERY
        ):
            device.last_seen_at = now
