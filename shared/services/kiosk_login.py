"""Technician sign-in on a paired kiosk: badge number + PIN.

A good PIN gives a short-lived credential bound to that kiosk (256 bits from
``secrets``, stored only as its SHA-256): it dies after three idle minutes,
on logout, when the kiosk is revoked, and when an admin deactivates the
technician or sets a new PIN (``end_sessions``, shared/services/staff_admin.py).
Wrong PINs are counted per badge: ten within an hour lock the badge until
the foreman (or an admin) unlocks it. The growing delay and the per-device
limits are Flask-Limiter's, at the HTTP edge (kiosk/views.py); the lock is
here because it must outlive any limiter window and be lifted by a person,
not by time.

A PIN an admin set or reset is known to that admin, so its technician must
choose their own before anything else (``StaffUser.must_change_pin``, set by
shared/services/staff_admin.py). Signing in with it gives a *pending*
credential: ``resolve_session`` does not know it (so REST v1 and the socket
refuse it as they refuse any dead credential), ``resolve_pending`` does, and
the only thing it can do is ``change_pin`` (or sign out). The choice ends
every kiosk session of the technician and opens a fresh one on this kiosk,
as the office's ``staff_login.change_password`` does with sessions. Whether a
credential is pending is read from the account, not stored with the session:
a reset ends every session anyway (``end_sessions``), so a credential opened
before the reset can never turn pending, and one opened with the reset PIN
is never left usable after the change.
"""

from __future__ import annotations

import hmac
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.domain.stages import Role
from shared.persistence.kiosk_models import BadgeLock, KioskLoginFailure, KioskSession
from shared.persistence.models import Device, StaffUser
from shared.services.auth import Principal, hash_pin, hash_secret, new_secret, verify_pin
from shared.services.core import Core

IDLE_TIMEOUT = timedelta(minutes=3)
LOCK_AFTER_FAILURES = 10
LOCK_WINDOW = timedelta(hours=1)
# Touching the session on every request would turn reads into writes; a
# coarser step costs at most this much of the idle window.
TOUCH_EVERY = timedelta(seconds=10)
TOKEN_PREFIX = "ks_"
BADGE_MAX = 40  # the stored column's width


def normalise_badge(raw: str) -> str:
    """The one spelling of a typed badge, used for everything keyed by it:
    the per-badge delay at the HTTP edge, the lookup, the failure count, the
    lock and its unlock. NFKC folds what a tablet's IME may send (full-width
    "３００２", an ideographic space) into the ASCII a badge is stored as;
    surrounding whitespace goes. Were the limiter keyed on another spelling
    than the lookup, each spelling of one badge would get its own budget of
    wrong PINs. Case is kept: the lookup compares exactly, so spellings that
    differ in case are different badges for both."""
    return unicodedata.normalize("NFKC", raw).strip()[:BADGE_MAX]


class WrongPin(errors.DomainError):
    code = "wrong_pin"
    status = 401


class BadgeLocked(errors.DomainError):
    code = "badge_locked"
    status = 423


class NotAKiosk(errors.DomainError):
    code = "unauthorized"
    status = 401


class SignedOut(errors.DomainError):
    """The credential is no longer live (idle, signed out, ended by a reset
    or a deactivation, its kiosk revoked)."""

    code = "unauthorized"
    status = 401


class PinChangeRequired(errors.DomainError):
    """A pending credential (a PIN an admin set) asked for anything but the
    choice of the technician's own PIN."""

    code = "pin_change_required"
    status = 403


class PinChangeNotRequired(errors.DomainError):
    """A live credential whose PIN is the technician's own already: there is
    nothing to change here (an admin sets PINs, on /admin/staff)."""

    code = "pin_change_not_required"
    status = 409


@dataclass(frozen=True)
class KioskLogin:
    """The answer to a good PIN: the plain credential (shown once) and who."""

    token: str
    user_id: int
    name: str
    qualifications: tuple[str, ...]
    expires_in: int
    # The PIN was set by an admin: the credential only lets the technician
    # choose their own (``change_pin``).
    must_change_pin: bool = False


def _locked(session: Session, shop_id: int, badge: str) -> BadgeLock | None:
    return session.execute(
        select(BadgeLock).where(
            BadgeLock.shop_id == shop_id,
            BadgeLock.badge == badge,
            BadgeLock.unlocked_at.is_(None),
        )
    ).scalar_one_or_none()


def _failures_since_unlock(session: Session, shop_id: int, badge: str, now: datetime) -> int:
    """Failures in the last hour, not counting those before the last unlock
    (an unlock must not be undone by the next typo)."""
    last_unlock = session.execute(
        select(func.max(BadgeLock.unlocked_at)).where(
            BadgeLock.shop_id == shop_id, BadgeLock.badge == badge
        )
    ).scalar()
    since = now - LOCK_WINDOW
    if last_unlock is not None and last_unlock > since:
        since = last_unlock
    count = session.execute(
        select(func.count())
        .select_from(KioskLoginFailure)
        .where(
            KioskLoginFailure.shop_id == shop_id,
            KioskLoginFailure.badge == badge,
            KioskLoginFailure.at > since,
        )
    ).scalar_one()
    return int(count)


def login(core: Core, device: Principal, badge: str, pin: str) -> KioskLogin:
    """Check badge + PIN on a paired kiosk; a credential, or a refusal.

    An unknown badge counts as a failure like a wrong PIN, so badge numbers
    cannot be probed; only existing badges can be locked.
    """
    if device.kind != "device" or device.role != Role.KIOSK.value:
        raise NotAKiosk("Only a paired kiosk signs technicians in.")
    device_id = int(device.ref.split(":", 1)[1])
    badge = normalise_badge(badge)
    now = core.now()
    with core.db.write() as session:
        if _locked(session, device.shop_id, badge) is not None:
            raise BadgeLocked("This badge is locked after too many wrong PINs; ask the foreman.")
        user = session.execute(
            select(StaffUser).where(
                StaffUser.shop_id == device.shop_id,
                StaffUser.badge == badge,
                StaffUser.active,
            )
        ).scalar_one_or_none()
        # An unknown badge costs the same hash check, so timing does not tell.
        good = verify_pin(user.pin_hash if user else _dummy_hash(), pin) and user is not None
        if user is None or not good:
            # Recorded and committed before refusing: a refusal must count.
            _fail(session, device.shop_id, device_id, badge, now, known=user is not None)
            signed_in = None
        else:
            signed_in = _open_session(session, device.shop_id, device_id, user, now)
    if signed_in is None:
        raise WrongPin("Wrong badge or PIN.")
    return signed_in


@cache
def _dummy_hash() -> str:
    return hash_pin(new_secret())


def _open_session(
    session: Session, shop_id: int, device_id: int, user: StaffUser, now: datetime
) -> KioskLogin:
    token = TOKEN_PREFIX + new_secret()
    session.add(
        KioskSession(
            shop_id=shop_id,
            device_id=device_id,
            user_id=user.id,
            token_hash=hash_secret(token),
            created_at=now,
            last_seen_at=now,
        )
    )
    return KioskLogin(
        token=token,
        user_id=user.id,
        name=user.name,
        qualifications=tuple(user.qualifications or ()),
        expires_in=int(IDLE_TIMEOUT.total_seconds()),
        must_change_pin=bool(user.must_change_pin),
    )


def _fail(
    session: Session, shop_id: int, device_id: int, badge: str, now: datetime, *, known: bool
) -> None:
    session.add(KioskLoginFailure(shop_id=shop_id, badge=badge, device_id=device_id, at=now))
    session.flush()
    if known and _failures_since_unlock(session, shop_id, badge, now) >= LOCK_AFTER_FAILURES:
        session.add(BadgeLock(shop_id=shop_id, badge=badge, locked_at=now, unlocked_by=""))


@dataclass(frozen=True)
class _Live:
    """A live kiosk credential as its rows have it now."""

    principal: Principal
    session_id: int
    device_id: int
    badge: str
    pending: bool
    last_seen: datetime


def _live(core: Core, token: str, now: datetime) -> _Live | None:
    """The credential's session while fresh, its kiosk paired and its
    technician active; read only."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_secret(token)
    with core.db.read() as session:
        row = session.execute(
            select(KioskSession).where(KioskSession.token_hash == digest)
        ).scalar_one_or_none()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        if row.revoked_at is not None or now - row.last_seen_at > IDLE_TIMEOUT:
            return None
        device = session.get(Device, row.device_id)
        user = session.get(StaffUser, row.user_id)
        if device is None or device.status != "active" or user is None or not user.active:
            return None
        return _Live(
            principal=Principal(
                kind="kiosk",
                shop_id=row.shop_id,
                role=user.role,
                name=user.name,
                ref=f"user:{user.id}",
                user_id=user.id,
                qualifications=tuple(user.qualifications or ()),
            ),
            session_id=row.id,
            device_id=row.device_id,
            badge=user.badge or "",
            pending=bool(user.must_change_pin),
            last_seen=row.last_seen_at,
        )


def resolve_session(core: Core, token: str, *, touch: bool = True) -> Principal | None:
    """A kiosk credential to its technician, while fresh and its kiosk paired.

    ``touch`` counts the request as activity (a tap); the socket's periodic
    re-check passes False so that a screen left open still times out.

    The credential is checked on a read session, so a check never takes the
    process's write lock. Only when a tap's activity time is due (older than
    ``TOUCH_EVERY``) does a short write of its own follow; a tap inside that
    step writes nothing.

    A pending credential (the technician must still choose their own PIN)
    is None here: it opens nothing but ``change_pin`` (``resolve_pending``).
    """
    now = core.now()
    live = _live(core, token, now)
    if live is None or live.pending:
        return None
    if touch and now - live.last_seen >= TOUCH_EVERY:
        _touch(core, live.session_id, now)
    return live.principal


def resolve_pending(core: Core, token: str) -> Principal | None:
    """The technician of a live credential that must choose their own PIN
    before anything else, or None. A read: a refused call is no activity,
    so a pending screen left alone still times out."""
    live = _live(core, token, core.now())
    return live.principal if live is not None and live.pending else None


@dataclass(frozen=True)
class PendingChange:
    """Whose PIN a pending credential changes, and on which kiosk: the keys
    the HTTP edge's limits count under (the same as the sign-in's)."""

    shop_id: int
    device_id: int
    badge: str


def pending_change(core: Core, token: str) -> PendingChange | None:
    """The badge and kiosk of a pending credential, or None (a read)."""
    live = _live(core, token, core.now())
    if live is None or not live.pending:
        return None
    return PendingChange(live.principal.shop_id, live.device_id, live.badge)


def change_pin(core: Core, token: str, pin: str, repeat: str) -> KioskLogin:
    """The technician of a pending credential chooses their own PIN.

    The rules are the admin's (``staff_admin.check_pin``, refusals naming
    ``pin``); ``repeat`` must be the same (refused naming ``repeat``), and
    the new PIN not the one they were given (``same_pin``). A locked badge
    is refused as at sign-in (423): the lock holds until a person lifts it,
    whatever credential asks. On success the given PIN stops working, every
    kiosk session of the technician ends (this one too: the credential was
    opened with a PIN someone else knew) and a fresh one is opened on this
    kiosk and returned, as a sign-in would. Nothing is recorded for the
    audit: like a password chosen after a reset, it is the owner's own act.
    """
    # Imported here: staff_admin builds on this module (badges, sessions).
    from shared.services.staff_admin import check_pin, refusal

    now = core.now()
    live = _live(core, token, now)
    if live is None:
        raise SignedOut("Signed out. Sign in again.")
    if not live.pending:
        raise PinChangeNotRequired("This PIN is your own already.")
    if now - live.last_seen >= TOUCH_EVERY:
        # Typing a new PIN is activity, whether or not this one is taken.
        _touch(core, live.session_id, now)
    check_pin(pin)
    if repeat != pin:
        raise refusal("repeat", "pin_mismatch", "The two PINs differ.")
    with core.db.read() as session:
        if _locked(session, live.principal.shop_id, live.badge) is not None:
            raise BadgeLocked("This badge is locked after too many wrong PINs; ask the foreman.")
        user = session.get(StaffUser, live.principal.user_id)
        given = user.pin_hash if user is not None else None
    if given is None:
        raise SignedOut("Signed out. Sign in again.")
    # Both hashes are slow on purpose: computed outside the write.
    if verify_pin(given, pin):
        raise refusal("pin", "same_pin", "Choose a PIN other than the one you were given.")
    new_hash = hash_pin(pin)
    with core.db.write() as session:
        row = session.get(KioskSession, live.session_id)
        user = session.get(StaffUser, live.principal.user_id)
        device = session.get(Device, live.device_id)
        if (
            row is None
            or row.revoked_at is not None
            or device is None
            or device.status != "active"
            or user is None
            or not user.active
            or not user.must_change_pin
            or user.pin_hash != given
        ):
            # Signed out, deactivated, unpaired, reset again or changed meanwhile.
            raise SignedOut("Signed out. Sign in again.")
        user.pin_hash = new_hash
        user.must_change_pin = False
        end_sessions(session, user.id, now)
        session.flush()
        fresh = _open_session(session, row.shop_id, row.device_id, user, now)
    # Every revocation clears the credential cache (which wakes the hub's check).
    core.principals.clear()
    return fresh


def _touch(core: Core, session_id: int, now: datetime) -> None:
    """Record a tap's activity time. Only moves it forward: a slower tap that
    read the session earlier cannot set it back, and a session revoked in
    between stays revoked (the request itself was checked as it read)."""
    with core.db.write() as session:
        session.execute(
            update(KioskSession)
            .where(KioskSession.id == session_id, KioskSession.last_seen_at < now)
            .values(last_seen_at=now)
        )


def logout(core: Core, token: str) -> Principal | None:
    """Revoke a kiosk credential; returns whose it was. Clearing the
    credential cache wakes the hub's check, which cuts the kiosk's sockets."""
    principal = resolve_session(core, token, touch=False)
    with core.db.write() as session:
        row = session.execute(
            select(KioskSession).where(KioskSession.token_hash == hash_secret(token))
        ).scalar_one_or_none()
        if row is not None and row.revoked_at is None:
            row.revoked_at = core.now()
    core.principals.clear()
    return principal


def locked_badges(core: Core, shop_id: int) -> list[dict[str, object]]:
    """Badges waiting for the foreman, with whose badge it is."""
    with core.db.read() as session:
        rows = session.execute(
            select(BadgeLock, StaffUser.name)
            .outerjoin(
                StaffUser,
                (StaffUser.badge == BadgeLock.badge) & (StaffUser.shop_id == BadgeLock.shop_id),
            )
            .where(BadgeLock.shop_id == shop_id, BadgeLock.unlocked_at.is_(None))
            .order_by(BadgeLock.locked_at)
        ).all()
        return [
            {"badge": lock.badge, "name": name or "", "locked_at": lock.locked_at.isoformat()}
            for lock, name in rows
        ]


def locked_badge_set(session: Session, shop_id: int) -> set[str]:
    """The shop's badges that wait for someone to unlock them (one query, for a list)."""
    return set(
        session.execute(
            select(BadgeLock.badge).where(
                BadgeLock.shop_id == shop_id, BadgeLock.unlocked_at.is_(None)
            )
        ).scalars()
    )


def unlock_in(session: Session, shop_id: int, badge: str, by: str, now: datetime) -> bool:
    """Lift a badge's lock in the caller's transaction; False when it was not locked."""
    lock = _locked(session, shop_id, normalise_badge(badge))
    if lock is None:
        return False
    lock.unlocked_at = now
    lock.unlocked_by = by[:100]
    return True


def unlock_badge(core: Core, shop_id: int, badge: str, by: str) -> bool:
    """The foreman lifts a lock; False when the badge was not locked."""
    with core.db.write() as session:
        return unlock_in(session, shop_id, badge, by, core.now())


def end_sessions(session: Session, user_id: int, now: datetime) -> int:
    """Revoke every kiosk session of a user in the caller's transaction (they
    were deactivated, or their PIN changed); how many were live. The caller
    clears the credential cache after commit, which wakes the hub's check
    and cuts the kiosks' sockets."""
    ended = session.execute(
        update(KioskSession)
        .where(KioskSession.user_id == user_id, KioskSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(ended, "rowcount", 0) or 0)
