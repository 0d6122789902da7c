"""Pairing of boards, lounge TVs and kiosks, after RFC 8628 (device grant).

An unpaired screen asks for a pairing: it gets a short *user code* to show in
``#pairing-code`` and a secret *device code* to poll with. An admin approves the
user code (web admin or ``baylight pair``); the next poll hands the screen its
device token, once. Revoking the device sends the screen back to pairing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from shared.domain import errors
from shared.persistence.models import Device
from shared.services.auth import hash_secret, new_secret
from shared.services.core import Core

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
PAIRING_TTL = timedelta(seconds=900)
POLL_INTERVAL_SECONDS = 3
DEVICE_KINDS = ("board", "lounge", "kiosk")


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
    """``pending``, ``expired``, ``denied``, or ``approved`` with the token (once)."""
    now = core.now()
    with core.db.write() as session:
        device = session.execute(
            select(Device).where(Device.device_code_hash == hash_secret(device_code))
        ).scalar_one_or_none()
        if device is None:
            raise errors.NotFound("Unknown pairing.")
        if device.status == "pending":
            if device.pairing_expires_at is not None and now > device.pairing_expires_at:
                device.status = "expired"
                device.user_code = None
                return {"status": "expired"}
            return {"status": "pending", "user_code": device.user_code}
        if device.status == "approved":
            token = new_secret()
            device.token_hash = hash_secret(token)
            device.status = "active"
            device.device_code_hash = None
            return {"status": "approved", "device_token": token, "name": device.name}
        return {"status": device.status}


def approve_pairing(core: Core, user_code: str, *, kind: str, name: str, shop_id: int) -> int:
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
        return device.id


def revoke_device(core: Core, device_id: int) -> None:
    with core.db.write() as session:
        device = session.get(Device, device_id)
        if device is None:
            raise errors.NotFound(f"No device {device_id}.")
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
