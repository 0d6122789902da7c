"""Tables of staff sign-in at /login: the server-side sessions a browser's
cookie points to, and the wrong-password count per account name.

Kept apart from models.py, like the kiosk's tables, so sign-in owns its schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, event, inspect, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.persistence.models import Base, StaffUser, utcnow


class StaffSession(Base):
    """One signed-in browser. The cookie carries a random credential; only its
    SHA-256 is kept, so a copy of the database signs nobody in. The row is the
    session: revoking it (logout, user deactivated, new password) ends every
    copy of the cookie at once, on every worker."""

    __tablename__ = "staff_session"
    # Resolution looks a live session up by its hash alone (the unique index);
    # revocation finds a user's sessions by user_id.
    __table_args__ = (Index("ix_staff_session_user_id", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class LoginThrottle(Base):
    """Wrong passwords for one account name (normalised), whether or not a
    user has that name, so a refusal never tells which names exist.

    ``retry_at`` is when the next attempt is heard: a few seconds to minutes
    after repeated failures, and the lock's end once there are enough of them.
    The row is the whole state, so every worker and every restart sees it.
    """

    __tablename__ = "login_throttle"
    __table_args__ = (Index("ix_login_throttle_last_failure_at", "last_failure_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(100), unique=True)
    # The user the name matched when last tried (None for unknown names): the
    # admin's list of locked accounts is per shop.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column()
    retry_at: Mapped[datetime | None] = mapped_column()


def _lost_access(user: StaffUser) -> bool:
    """Deactivated, or given a new password (the old one may be what leaked)."""
    state = inspect(user)
    deactivated = bool(state.attrs.active.history.added) and not user.active
    return deactivated or bool(state.attrs.password_hash.history.added)


@event.listens_for(Session, "before_flush")
def _end_sessions_of_users_who_lost_access(db: Session, _context: Any, _objects: Any) -> None:
    """Whatever code deactivates a user or changes their password through the
    ORM ends their browser sessions in the same transaction, so reactivating
    the account later does not bring an old cookie back to life. (Resolution
    also refuses inactive users, which covers plain UPDATE statements too.)"""
    ended = [
        user.id
        for user in db.dirty
        if isinstance(user, StaffUser) and user.id is not None and _lost_access(user)
    ]
    if ended:
        db.execute(
            update(StaffSession)
            .where(StaffSession.user_id.in_(ended), StaffSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
