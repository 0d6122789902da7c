"""Tables of the technician kiosk: PIN sessions, failed PIN attempts and
locked badges. Kept apart from models.py so the kiosk owns its own schema."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.persistence.models import Base


class KioskSession(Base):
    """A technician signed in on one paired kiosk. Only the credential's hash
    is kept; it dies after three idle minutes, on logout, or with its device."""

    __tablename__ = "kiosk_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class KioskLoginFailure(Base):
    """One wrong PIN (or unknown badge), counted per badge and per device."""

    __tablename__ = "kiosk_login_failure"
    __table_args__ = (Index("ix_kiosk_login_failure_badge", "shop_id", "badge", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    badge: Mapped[str] = mapped_column(String(40))
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    at: Mapped[datetime] = mapped_column()


class BadgeLock(Base):
    """A badge locked after too many wrong PINs, until the foreman unlocks it."""

    __tablename__ = "badge_lock"
    __table_args__ = (Index("ix_badge_lock_badge", "shop_id", "badge"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    badge: Mapped[str] = mapped_column(String(40))
    locked_at: Mapped[datetime] = mapped_column()
    unlocked_at: Mapped[datetime | None] = mapped_column()
    unlocked_by: Mapped[str] = mapped_column(String(100), default="")
