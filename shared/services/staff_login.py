"""Office staff sign-in with shop, name and password: server-side sessions,
the brake on guessing one account's password, and the new password a user
must choose after an admin reset theirs.

Names are unique per shop, not per installation: two shops of a dealer group
may each have an "Adv". Sign-in names the shop (the picker or ``?shop=SLUG``
on /login); without one, the name must belong to a single active user of the
installation (true of every single-shop install), else nobody is signed in.

A good password opens a session row; the browser's (signed) cookie carries
only the row's random credential (256 bits from ``secrets``; the row keeps its
SHA-256). A cookie is worth something only while its row is live: logout, the
user's deactivation or new password, and the end of its lifetime revoke every
copy at once, on every worker.

Wrong passwords are counted per account (shop and name) in the database (not
per process, and on the app's clock): the first few answer at once, then each
further attempt waits longer, and enough of them lock the name for a while.
The lock ends by itself, so a stranger's guessing cannot shut a colleague out
for good, and an admin can lift it sooner. Names no user has are counted the
same way, so the answers never tell which names exist. The per-address limit
is Flask-Limiter's, at the HTTP edge (shared/web/staff_session.py).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeGuard, cast

from sqlalchemy import CursorResult, delete, false, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.persistence.models import Shop, StaffUser
from shared.persistence.session_models import LoginThrottle, StaffSession
from shared.services.auth import (
    Principal,
    hash_pin,
    hash_secret,
    new_secret,
    user_principal,
    verify_pin,
)
from shared.services.core import Core

# One working day: a desk signed in in the morning stays signed in until the
# evening, and a cookie copied today is worthless tomorrow.
SESSION_LIFETIME = timedelta(hours=12)
# Typos cost nothing at first...
FREE_FAILURES = 4
# ...then the 5th, 6th, ... wrong password in a row makes the next attempt wait
# this long...
DELAYS = tuple(timedelta(seconds=s) for s in (15, 30, 60, 120, 240))
# ...and the 10th locks the name; every further failure re-locks it.
LOCK_AFTER_FAILURES = FREE_FAILURES + len(DELAYS) + 1
LOCK_DURATION = timedelta(minutes=15)
# An hour without a wrong password forgets the count (and bounds the table).
FORGET_AFTER = timedelta(hours=1)
ACCOUNT_LENGTH = 100
# Longer than any credential new_secret() makes; anything longer is not one.
CREDENTIAL_LENGTH = 100
# What a password may be (check_password).
PASSWORD_MIN = 8
PASSWORD_MAX = 200


class WrongPassword(errors.DomainError):
    code = "unauthorized"
    status = 401


class LoginThrottled(errors.DomainError):
    """Too many wrong passwords for this name: ``retry_after`` seconds to wait."""

    code = "rate_limited"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many wrong passwords for this name.", retry_after=retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignedIn:
    """A good password: the credential for the cookie (shown once) and who."""

    credential: str
    principal: Principal
    # An admin reset the password: the session opens only the page where the
    # user chooses a new one (``change_password``).
    must_change_password: bool = False


def normalised_name(name: str) -> str:
    """A name as people mean it: surrounding spaces, letter case and
    full-width forms do not make another name. Sign-in counts failures under
    it, and names are unique per shop under it (staff_admin)."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def account_key(name: str, shop_id: int | None = None) -> str:
    """The account as counted: the shop and the name, so every spelling the
    lookup could take for one account shares one count (varying them buys a
    guesser nothing) and a guesser in one shop cannot lock a namesake in
    another. ``shop_id`` None: a name sign-in could not place in one shop
    (unknown, or held in several shops with none chosen)."""
    return f"{'*' if shop_id is None else shop_id}/{normalised_name(name)}"[:ACCOUNT_LENGTH]


def _penalty(failures: int) -> timedelta | None:
    """How long the next attempt waits after this many failures in a row."""
    if failures <= FREE_FAILURES:
        return None
    if failures < LOCK_AFTER_FAILURES:
        return DELAYS[failures - FREE_FAILURES - 1]
    return LOCK_DURATION


def _seconds(wait: timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds()))


def _forget_old_failures(db: Session, now: datetime) -> None:
    db.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at <= now - FORGET_AFTER))


def shops(core: Core) -> list[tuple[str, str]]:
    """Every shop's (slug, name), for the sign-in page's picker."""
    with core.db.read() as db:
        return [
            (slug, name)
            for slug, name in db.execute(select(Shop.slug, Shop.name).order_by(Shop.name, Shop.id))
        ]


def _place(db: Session, name: str, shop: str | None) -> tuple[StaffUser | None, int | None]:
    """The active user a sign-in names, if exactly one, and the shop its
    attempts count in (``account_key``). A chosen shop (its slug) is looked
    in alone; without one, the whole installation, and the only shop when
    there is just one (so every spelling of a name counts in it)."""
    wanted = select(StaffUser).where(
        StaffUser.name == name.strip()[:ACCOUNT_LENGTH], StaffUser.active
    )
    shop_id: int | None = None
    if shop:
        shop_id = db.execute(select(Shop.id).where(Shop.slug == shop[:40])).scalar()
        if shop_id is None:
            return None, None
        wanted = wanted.where(StaffUser.shop_id == shop_id)
    else:
        first_two = db.execute(select(Shop.id).order_by(Shop.id).limit(2)).scalars().all()
        if len(first_two) == 1:
            shop_id = first_two[0]
    # Two of the same name (in two shops, none chosen) sign nobody in: the
    # right password of one must not open the other's account, and trying
    # each would tell by its time how many there are.
    users = db.execute(wanted.limit(2)).scalars().all()
    if len(users) == 1:
        return users[0], users[0].shop_id
    return None, shop_id


def waiting(core: Core, name: str, shop: str | None = None) -> int | None:
    """Seconds this account must still wait before an attempt is heard, if any."""
    now = core.now()
    with core.db.read() as db:
        _user, shop_id = _place(db, name, shop)
        retry_at = db.execute(
            select(LoginThrottle.retry_at).where(
                LoginThrottle.account == account_key(name, shop_id)
            )
        ).scalar()
    if retry_at is None or retry_at <= now:
        return None
    return _seconds(retry_at - now)


def _charge(db: Session, account: str, user_id: int | None, now: datetime) -> None:
    """Count this attempt as a failure before the password is checked (a
    success undoes it): parallel guesses cannot all slip in before the first
    is counted, since the row is locked and counted in one transaction."""
    _forget_old_failures(db, now)
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.execute(
        insert(LoginThrottle)
        .values(account=account, user_id=user_id, failures=0, last_failure_at=now)
        .on_conflict_do_nothing(index_elements=["account"])
    )
    row = db.execute(
        select(LoginThrottle).where(LoginThrottle.account == account).with_for_update()
    ).scalar_one()
    if row.retry_at is not None and row.retry_at > now:
        raise LoginThrottled(_seconds(row.retry_at - now))
    row.failures += 1
    row.user_id = user_id
    row.last_failure_at = now
    penalty = _penalty(row.failures)
    row.retry_at = now + penalty if penalty is not None else None


@cache
def _dummy_hash() -> str:
    return hash_pin(new_secret())


def sign_in(core: Core, name: str, password: str, shop: str | None = None) -> SignedIn:
    """Check shop + name + password; a new session, or a refusal.

    ``shop`` is the slug of the shop chosen on the sign-in page (``_place``
    says what none means). The password hash is checked outside the write
    transaction (it is slow on purpose); an unknown name costs the same
    check, so timing does not tell. A user whose password an admin reset
    gets a session that opens nothing but the page where they choose their
    own (``must_change_password``; ``resolve`` refuses it elsewhere).
    """
    now = core.now()
    with core.db.write() as db:
        user, shop_id = _place(db, name, shop)
        account = account_key(name, shop_id)
        _charge(db, account, user.id if user else None, now)
    stored = user.password_hash if user is not None else None
    good = verify_pin(stored or _dummy_hash(), password) and stored is not None
    if user is None or not good:
        raise WrongPassword("Wrong name or password.")
    with core.db.write() as db:
        db.execute(delete(LoginThrottle).where(LoginThrottle.account == account))
        credential = _open_session(db, user.id, now)
    return SignedIn(
        credential=credential,
        principal=user_principal(user),
        must_change_password=bool(user.must_change_password),
    )


def _open_session(db: Session, user_id: int, now: datetime) -> str:
    # Rows past their lifetime can never sign anyone in again; dropping them
    # here keeps the table to the last lifetime's sign-ins.
    db.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    credential = new_secret()
    db.add(
        StaffSession(
            user_id=user_id,
            token_hash=hash_secret(credential),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return credential


def open_session(core: Core, user_id: int) -> str:
    """A session for a user whose identity was checked some other way (tests
    sign in with it); the credential goes into the cookie under SESSION_KEY."""
    with core.db.write() as db:
        return _open_session(db, user_id, core.now())


def _plausible(credential: object) -> TypeGuard[str]:
    return isinstance(credential, str) and 0 < len(credential) <= CREDENTIAL_LENGTH


def _live_user(db: Session, credential: str, now: datetime, *, pending: bool) -> StaffUser | None:
    """The active user of a live session row (not revoked, not expired):
    with ``pending`` only one who must still choose a new password, else
    only one who need not."""
    return db.execute(
        select(StaffUser)
        .join(StaffSession, StaffSession.user_id == StaffUser.id)
        .where(
            StaffSession.token_hash == hash_secret(credential),
            StaffSession.revoked_at.is_(None),
            StaffSession.expires_at > now,
            StaffUser.active,
            StaffUser.must_change_password == (true() if pending else false()),
        )
    ).scalar_one_or_none()


def resolve(core: Core, credential: object) -> Principal | None:
    """A session credential to its staff member: only a live row (not revoked,
    not expired) of an active user who has no reset password left to change
    (such a session opens only the change page, ``resolve_pending``). One
    query on the credential's unique index; nothing is written, so sockets
    may re-check it as often as they like."""
    if not _plausible(credential):
        return None
    with core.db.read() as db:
        user = _live_user(db, credential, core.now(), pending=False)
        return user_principal(user) if user is not None else None


def resolve_pending(core: Core, credential: object) -> Principal | None:
    """The staff member of a live session who must choose a new password
    before anything else (an admin reset it), or None."""
    if not _plausible(credential):
        return None
    with core.db.read() as db:
        user = _live_user(db, credential, core.now(), pending=True)
        return user_principal(user) if user is not None else None


def check_password(password: str, field: str = "password") -> str:
    """The rule for a password anyone sets: 8 to 200 characters (the sign-in
    form takes 200). Refusals name ``field`` and carry a ``reason``."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        refused = errors.ValidationFailed(
            field, f"A password has {PASSWORD_MIN} to {PASSWORD_MAX} characters."
        )
        refused.extra["reason"] = "password_length"
        raise refused
    return password


def change_password(core: Core, credential: object, new_password: str) -> str:
    """The user of a session whose password an admin reset chooses their own:
    the reset one stops working, every session of theirs ends (the session
    hook in session_models), and a fresh session is opened for this browser;
    its credential is returned for the cookie. Refused (ValidationFailed,
    reason ``same_password``) when the new one is the one they were given."""
    check_password(new_password)
    if not _plausible(credential):
        raise WrongPassword("Sign in first.")
    now = core.now()
    with core.db.read() as db:
        user = _live_user(db, credential, now, pending=True)
        given = user.password_hash if user is not None else None
        user_id = user.id if user is not None else None
    if user_id is None:
        raise WrongPassword("Sign in first.")
    # Both hashes are slow on purpose: computed outside the write.
    if verify_pin(given, new_password):
        refused = errors.ValidationFailed(
            "password", "Choose a password other than the one you were given."
        )
        refused.extra["reason"] = "same_password"
        raise refused
    new_hash = hash_pin(new_password)
    with core.db.write() as db:
        user = _live_user(db, credential, now, pending=True)
        if user is None or user.password_hash != given:
            # Signed out, deactivated or reset again meanwhile.
            raise WrongPassword("Sign in again.")
        user.password_hash = new_hash
        user.must_change_password = False
        db.flush()
        fresh = _open_session(db, user.id, now)
    core.principals.clear()
    return fresh


def sign_out(core: Core, credential: object) -> None:
    """Revoke this session: every copy of its cookie stops working."""
    if not _plausible(credential):
        return
    with core.db.write() as db:
        db.execute(
            update(StaffSession)
            .where(
                StaffSession.token_hash == hash_secret(credential),
                StaffSession.revoked_at.is_(None),
            )
            .values(revoked_at=core.now())
        )
    # Every revocation clears the credential cache; the socket hub takes that
    # as its signal to re-check its sockets now rather than at its next round.
    core.principals.clear()


def locked_user_ids(db: Session, shop_id: int, now: datetime) -> set[int]:
    """This shop's staff whose sign-in is locked now (for the staff list)."""
    found = db.execute(
        select(LoginThrottle.user_id)
        .join(StaffUser, StaffUser.id == LoginThrottle.user_id)
        .where(
            StaffUser.shop_id == shop_id,
            LoginThrottle.failures >= LOCK_AFTER_FAILURES,
            LoginThrottle.retry_at > now,
        )
    ).scalars()
    return {user_id for user_id in found if user_id is not None}


def locked_accounts(core: Core, shop_id: int) -> list[dict[str, object]]:
    """This shop's staff whose name is locked now, for the admin to unlock."""
    now = core.now()
    with core.db.read() as db:
        rows = db.execute(
            select(LoginThrottle, StaffUser)
            .join(StaffUser, StaffUser.id == LoginThrottle.user_id)
            .where(
                StaffUser.shop_id == shop_id,
                LoginThrottle.failures >= LOCK_AFTER_FAILURES,
                LoginThrottle.retry_at > now,
            )
            .order_by(LoginThrottle.retry_at)
        ).all()
        return [
            {
                "user_id": user.id,
                "name": user.name,
                "failures": throttle.failures,
                "locked_until": throttle.retry_at.isoformat() if throttle.retry_at else None,
            }
            for throttle, user in rows
        ]


def forget_failures(db: Session, user: StaffUser) -> bool:
    """Lift the lock and the count on a user's account, in the caller's
    transaction: under its shop's key, and any count last charged to the
    user. False when there was nothing to lift."""
    lifted = cast(
        CursorResult[Any],
        db.execute(
            delete(LoginThrottle).where(
                or_(
                    LoginThrottle.account == account_key(user.name, user.shop_id),
                    LoginThrottle.user_id == user.id,
                )
            )
        ),
    )
    return lifted.rowcount > 0


def unlock(core: Core, shop_id: int, user_id: int) -> bool:
    """An admin lifts the lock (and the count) on a colleague's name; False
    when that user of this shop had nothing to lift."""
    with core.db.write() as db:
        user = db.get(StaffUser, user_id)
        if user is None or user.shop_id != shop_id:
            return False
        return forget_failures(db, user)
