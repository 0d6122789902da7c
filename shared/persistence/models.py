"""Tables. A shop is the tenant: every row hangs off one, so a dealer group runs
several shops on one installation without their data meeting.

Rows are written only by shared/services; the order row is a cache of the fold
of its events (order_event), which is the append-only truth.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Shop(Base):
    __tablename__ = "shop"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    locale: Mapped[str] = mapped_column(String(10), default="zh_Hans")
    # The last event sequence number issued; bumped under the shop's row lock.
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Bay(Base):
    __tablename__ = "bay"
    __table_args__ = (UniqueConstraint("shop_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40), default="general")
    # How many cars may stand on the bay at once while being worked on: one
    # for a repair lift; a wash bay or a parking lane may take more.
    capacity: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where the board shows it (then by code), and why it is out of service
    # (empty: in service).
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    out_of_service_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")


class StaffUser(Base):
    __tablename__ = "staff_user"
    __table_args__ = (UniqueConstraint("shop_id", "badge"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(30))
    # Extra qualifications a technician may hold: team_lead, qc_inspector.
    qualifications: Mapped[list[Any]] = mapped_column(JSON, default=list)
    badge: Mapped[str | None] = mapped_column(String(40))
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str] = mapped_column(String(40), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The name customers see ("updated by ..."); empty: ``name``.
    display_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # Set by an admin's password reset: the user must choose a new one first.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Set when an admin sets or resets the kiosk PIN: the technician's next
    # kiosk sign-in opens only the step where they choose their own.
    must_change_pin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Device(Base):
    """A paired screen (board, lounge TV, kiosk tablet). Pairing follows RFC 8628:
    the screen shows a short user code and polls with a secret device code.

    While the pairing is pending, ``last_seen_at`` is the time of the last
    poll and ``pairing_attempts`` the number of ``slow_down`` answers (each
    adds to the interval the screen must keep); once paired, ``last_seen_at``
    is the screen's last sign of life."""

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shop.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    user_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    device_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    pairing_expires_at: Mapped[datetime | None] = mapped_column()
    pairing_attempts: Mapped[int] = mapped_column(Integer, default=0)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column()


class ApiToken(Base):
    """A bearer token for integrations and staff tools; only its hash is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    role: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class RepairOrder(Base):
    """Current state of a repair order (the fold of its events)."""

    __tablename__ = "repair_order"
    __table_args__ = (
        UniqueConstraint("shop_id", "business_day", "number"),
        Index("ix_repair_order_shop_stage", "shop_id", "stage"),
        Index("ix_repair_order_shop_plate", "shop_id", "plate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    number: Mapped[int] = mapped_column(Integer)
    business_day: Mapped[date] = mapped_column(Date)
    plate: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(20))
    pause_reason: Mapped[str | None] = mapped_column(String(20))
    pause_note: Mapped[str] = mapped_column(Text, default="")
    # Every open reason the order waits for, and its parts requests (JSON lists).
    pause_reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    parts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    bay: Mapped[str | None] = mapped_column(String(40))
    technicians: Mapped[list[Any]] = mapped_column(JSON, default=list)
    check_level: Mapped[str | None] = mapped_column(String(20))
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    promised_at: Mapped[datetime | None] = mapped_column()
    eta: Mapped[datetime | None] = mapped_column()
    ready_at: Mapped[datetime | None] = mapped_column()
    stage_entered_at: Mapped[datetime | None] = mapped_column()
    worked_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    waiting: Mapped[bool] = mapped_column(Boolean, default=False)
    wash: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    customer_name: Mapped[str] = mapped_column(String(100), default="")
    customer_phone: Mapped[str] = mapped_column(String(40), default="")
    vehicle_model: Mapped[str] = mapped_column(String(100), default="")
    vehicle_vin: Mapped[str] = mapped_column(String(17), default="")
    vehicle_mileage: Mapped[int | None] = mapped_column(Integer)
    complaint: Mapped[str] = mapped_column(Text, default="")
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    quotes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    survey_rating: Mapped[int | None] = mapped_column(Integer)
    survey_comment: Mapped[str] = mapped_column(Text, default="")
    # The shop-load engine's estimate stands (``eta``), its verdict on the
    # promise and why; the last promise change as the customer reads it.
    eta_planned: Mapped[bool] = mapped_column(Boolean, default=False)
    risk: Mapped[str] = mapped_column(String(10), default="")
    risk_cause: Mapped[str] = mapped_column(String(20), default="")
    promise_reason: Mapped[str] = mapped_column(Text, default="")
    promise_by: Mapped[str] = mapped_column(String(200), default="")
    promise_changed_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The version a caller must have seen to change the order (the engine's
    # estimate revisions do not move it).
    edit_version: Mapped[int] = mapped_column(Integer, default=1)
    # The customer's capability token (≥128 bits). Kept so that a lost ticket
    # can be reprinted; re-issuing replaces it, which revokes the old one.
    customer_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # When the retention job replaced its personal data (None: not yet).
    anonymised_at: Mapped[datetime | None] = mapped_column()
    # Notifications (docs/NOTIFICATIONS.md): the e-mail address, the channels
    # the customer consented to at reception and when, the language to write
    # in ("" = the shop's), the WeChat openid bound on the tracking page, and
    # when the customer opted out (and how: the page, or 退订 by SMS).
    customer_email: Mapped[str] = mapped_column(String(200), default="")
    customer_notify: Mapped[list[Any]] = mapped_column(JSON, default=list)
    customer_language: Mapped[str] = mapped_column(String(10), default="")
    notify_consented_at: Mapped[datetime | None] = mapped_column()
    wechat_openid: Mapped[str] = mapped_column(String(64), default="")
    notify_opted_out_at: Mapped[datetime | None] = mapped_column()
    notify_opt_out: Mapped[str] = mapped_column(String(30), default="")


class OrderEvent(Base):
    """Append-only log. ``seq`` strictly increases per shop; screens resume from it."""

    __tablename__ = "order_event"
    __table_args__ = (
        UniqueConstraint("shop_id", "seq"),
        Index("ix_order_event_order", "order_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id"))
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(80))
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))


class IdempotencyRecord(Base):
    """The first answer to a mutation under its key, a result or a refusal,
    replayed for the same request; another request under the key is refused."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class LabourSegment(Base):
    """One stretch of a technician's clocked work on an order (电子工时).
    Opened by start/resume, closed by pause/finish/reassignment or at shift end."""

    __tablename__ = "labour_segment"
    __table_args__ = (
        Index("ix_labour_segment_technician_open", "technician_id", "ended_at"),
        Index("ix_labour_segment_order", "order_id"),
        # Every stage change asks for the shop's running clocks; without this
        # the lookup reads every segment the shop ever clocked.
        Index("ix_labour_segment_shop_open", "shop_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id"))
    technician_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(20))
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str] = mapped_column(String(200), default="")
    # Who started the clock (their actor ref) and how: "own" for the
    # technician's own tap, "foreman" for a foreman's explicit action.
    started_by: Mapped[str] = mapped_column(String(60), default="unknown")
    started_how: Mapped[str] = mapped_column(String(20), default="unknown")


def import_all_models() -> None:
    """Import every model module beside this one, so that ``Base.metadata``
    knows all tables (Alembic's comparison and the schema tests need that)."""
    import importlib
    import pkgutil

    import shared.persistence as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name.endswith("models"):
            importlib.import_module(f"shared.persistence.{module.name}")


class AdminEvent(Base):
    """One administration command (staff, bays, the shop profile, API tokens,
    screens), written in the command's own transaction, so it is there
    exactly when the change is. The order log (``order_event``) is the
    history of the orders; this is the history of how the shop is run, and
    the audit reads both.

    ``actor`` is the credential's reference (``user:<id>``, ``token:<id>``,
    ``system:cli``), ``actor_name`` the name at that moment; ``kind`` what
    was done (``staff_added``, ``bay_changed``, ``token_revoked``…);
    ``target`` what it was done to (``staff:12``, ``bay:B01``, ``shop``);
    ``data`` the fields it set or changed (old and new), never a PIN, a
    password, a token's secret or a hash (``shared.services.admin_events``
    refuses them)."""

    __tablename__ = "admin_event"
    __table_args__ = (Index("ix_admin_event_shop_at", "shop_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(80))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
