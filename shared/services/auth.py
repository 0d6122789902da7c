"""Who is calling: bearer tokens, paired devices, staff users and customers'
capability tokens, each resolved to a ``Principal`` for one shop.

Secrets are ≥ 256 bits from ``secrets``; bearer and device tokens are stored
only as SHA-256 hashes (a slow hash buys nothing for random 256-bit tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from shared.domain import errors
from shared.domain.order import Actor
from shared.domain.stages import Role
from shared.persistence.models import ApiToken, Device, RepairOrder, Shop, StaffUser
from shared.services.core import Core

TOKEN_ROLES = (
    "admin",
    "manager",
    "advisor",
    "foreman",
    "technician",
    "display-board",
    "display-lounge",
)
QUALIFICATIONS = ("team_lead", "qc_inspector")
CUSTOMER_LINK_TTL = timedelta(hours=24)
# Device kind → the role its token acts with.
DEVICE_ROLES = {"board": "display-board", "lounge": "display-lounge", "kiosk": "kiosk"}
LOUNGE_ROLES = frozenset({"display-lounge"})


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, bound to one shop."""

    kind: str  # token | user | device | customer
    shop_id: int
    role: str
    name: str
    ref: str
    user_id: int | None = None
    order_id: int | None = None
    qualifications: tuple[str, ...] = field(default_factory=tuple)

    @property
    def audience(self) -> str:
        """Which redaction this caller gets: staff, lounge or customer."""
        if self.kind == "customer":
            return "customer"
        if self.role in LOUNGE_ROLES:
            return "lounge"
        return "staff"

    @property
    def is_staff(self) -> bool:
        return self.audience == "staff"

    def actor(self) -> Actor:
        roles: set[Role] = set()
        if self.kind == "customer":
            roles.add(Role.CUSTOMER)
        elif self.role in {r.value for r in Role}:
            roles.add(Role(self.role))
        roles.update(Role(q) for q in self.qualifications if q in QUALIFICATIONS)
        return Actor(name=self.name, roles=frozenset(roles), user_id=self.user_id, ref=self.ref)


def create_api_token(
    core: Core, *, shop_id: int, role: str, name: str, user_id: int | None = None
) -> str:
    """Make a bearer token; the plain token is returned once and never stored."""
    if role not in TOKEN_ROLES:
        raise errors.ValidationFailed("role", f"role must be one of {', '.join(TOKEN_ROLES)}")
    if not name.strip():
        raise errors.ValidationFailed("name", "A token needs a name.")
    token = "bl_" + new_secret()
    with core.db.write() as session:
        if session.get(Shop, shop_id) is None:
            raise errors.NotFound(f"No shop {shop_id}.")
        session.add(
            ApiToken(
                shop_id=shop_id,
                role=role,
                name=name.strip(),
                token_hash=hash_secret(token),
                user_id=user_id,
                created_at=core.now(),
            )
        )
    return token


def revoke_api_token(core: Core, token_id: int) -> None:
    with core.db.write() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise errors.NotFound(f"No token {token_id}.")
        row.revoked_at = core.now()
    core.principals.clear()


def resolve_bearer(core: Core, token: str) -> Principal | None:
    """A bearer token, or a paired device's token, to its principal (only
    valid ones are remembered, for a few seconds)."""
    if not token or len(token) > 200:
        return None
    digest = hash_secret(token)
    cached = core.principals.get(digest)
    if isinstance(cached, Principal):
        return cached
    principal = _resolve_bearer(core, token)
    if principal is not None:
        core.principals.put(digest, principal)
    return principal


def _resolve_bearer(core: Core, token: str) -> Principal | None:
    if token.startswith("ks_"):
        # A technician signed in on a paired kiosk (badge + PIN).
        from shared.services.kiosk_login import resolve_session

        return resolve_session(core, token, touch=False)
    digest = hash_secret(token)
    with core.db.read() as session:
        api = session.execute(
            select(ApiToken).where(ApiToken.token_hash == digest)
        ).scalar_one_or_none()
        if api is not None and api.revoked_at is None:
            qualifications: tuple[str, ...] = ()
            if api.user_id is not None:
                user = session.get(StaffUser, api.user_id)
                if user is None or not user.active:
                    return None
                qualifications = tuple(user.qualifications or ())
            return Principal(
                kind="token",
                shop_id=api.shop_id,
                role=api.role,
                name=api.name,
                ref=f"token:{api.id}",
                user_id=api.user_id,
                qualifications=qualifications,
            )
        device = session.execute(
            select(Device).where(Device.token_hash == digest)
        ).scalar_one_or_none()
        if device is not None and device.status == "active" and device.shop_id is not None:
            return Principal(
                kind="device",
                shop_id=device.shop_id,
                role=DEVICE_ROLES[device.kind],
                name=device.name,
                ref=f"device:{device.id}",
            )
    return None


def resolve_customer(core: Core, token: str, now: datetime) -> tuple[Principal, RepairOrder] | None:
    """A customer's capability token to its order; nothing once revoked (a new
    token was issued) or 24 h after the order closed."""
    if not token or len(token) > 100:
        return None
    with core.db.read() as session:
        row = session.execute(
            select(RepairOrder).where(RepairOrder.customer_token == token)
        ).scalar_one_or_none()
        if row is None or not hmac.compare_digest(row.customer_token, token):
            return None
        if row.closed_at is not None and now - row.closed_at > CUSTOMER_LINK_TTL:
            return None
        principal = Principal(
            kind="customer",
            shop_id=row.shop_id,
            role="customer",
            name="customer",
            ref=f"customer:{row.id}",
            order_id=row.id,
        )
        # Callers read the row after this session closes; keep it loaded.
        session.expunge(row)
        return principal, row


def user_principal(user: StaffUser) -> Principal:
    return Principal(
        kind="user",
        shop_id=user.shop_id,
        role=user.role,
        name=user.name,
        ref=f"user:{user.id}",
        user_id=user.id,
        qualifications=tuple(user.qualifications or ()),
    )


def hash_pin(pin: str) -> str:
    return generate_password_hash(pin)


def verify_pin(stored: str | None, pin: str) -> bool:
    return bool(stored) and check_password_hash(stored or "", pin)
