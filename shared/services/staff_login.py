"""Office staff sign-in with name and password: server-side sessions, and the
brake on guessing one account's password.

A good password opens a session row; the browser's (signed) cookie carries
only the row's random credential (256 bits from ``secrets``; the row keeps its
SHA-256). A cookie is worth something only while its row is live: logout, the
user's deactivation or new password, and the end of its lifetime revoke every
copy at once, on every worker.

Wrong passwords are counted per account name in the database (not per
process, and on the app's clock): the first few answer at once, then each
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
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.persistence.models import StaffUser
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


def account_key(name: str) -> str:
    """The name as counted: every spelling the lookup could take for one
    account (surrounding spaces, letter case, full-width forms) shares one
    count, so varying them buys a guesser nothing."""
    return unicodedata.normalize("NFKC", name).strip().casefold()[:ACCOUNT_LENGTH]


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


def waiting(core: Core, name: str) -> int | None:
    """Seconds this name must still wait before an attempt is heard, if any."""
    now = core.now()
    with core.db.read() as db:
        retry_at = db.execute(
            select(LoginThrottle.retry_at).where(LoginThrottle.account == account_key(name))
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


def sign_in(core: Core, name: str, password: str) -> SignedIn:
    """Check name + password; a new session, or a refusal.

    The password hash is checked outside the write transaction (it is slow on
    purpose); an unknown name costs the same check, so timing does not tell.
    """
    account = account_key(name)
    now = core.now()
    with core.db.write() as db:
        user = (
            db.execute(
                select(StaffUser).where(StaffUser.name == name.strip()[:100], StaffUser.active)
            )
            .scalars()
            .first()
        )
        _charge(db, account, user.id if user else None, now)
    stored = user.password_hash if user is not None else None
    good = verify_pin(stored or _dummy_hash(), password) and stored is not None
    if user is None or not good:
        raise WrongPassword("Wrong name or password.")
    with core.db.write() as db:
        db.execute(delete(LoginThrottle).where(LoginThrottle.account == account))
        credential = _open_session(db, user.id, now)
    return SignedIn(credential=credential, principal=user_principal(user))


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


def resolve(core: Core, credential: object) -> Principal | None:
    """A session credential to its staff member: only a live row (not revoked,
    not expired) of an active user. One query on the credential's unique index;
    nothing is written, so sockets may re-check it as often as they like."""
    if not isinstance(credential, str) or not 0 < len(credential) <= CREDENTIAL_LENGTH:
        return None
    with core.db.read() as db:
        user = db.execute(
            select(StaffUser)
            .join(StaffSession, StaffSession.user_id == StaffUser.id)
            .where(
                StaffSession.token_hash == hash_secret(credential),
                StaffSession.revoked_at.is_(None),
                StaffSession.expires_at > core.now(),
                StaffUser.active,
            )
        ).scalar_one_or_none()
        return user_principal(user) if user is not None else None


def sign_out(core: Core, credential: object) -> None:
    """Revoke this session: every copy of its cookie stops working."""
    if not isinstance(credential, str) or not 0 < len(credential) <= CREDENTIAL_LENGTH:
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


def unlock(core: Core, shop_id: int, user_id: int) -> bool:
    """An admin lifts the lock (and the count) on a colleague's name; False
    when that user of this shop had nothing to lift."""
    with core.db.write() as db:
        user = db.get(StaffUser, user_id)
        if user is None or user.shop_id != shop_id:
            return False
        lifted = cast(
            CursorResult[Any],
            db.execute(
                delete(LoginThrottle).where(LoginThrottle.account == account_key(user.name))
            ),
        )
        return lifted.rowcount > 0
