"""Who is calling: bearer tokens, paired devices, staff users and customers'
capability tokens, each resolved to a ``Principal`` for one shop.

Secrets are ≥ 256 bits from ``secrets``; bearer and device tokens are stored
only as SHA-256 hashes (a slow hash buys nothing for random 256-bit tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.security import check_password_hash, generate_password_hash

from shared.domain import errors, stages
from shared.domain.order import Actor
from shared.domain.stages import Role
from shared.persistence.models import ApiToken, Device, RepairOrder, Shop, StaffUser
from shared.services.core import PRINCIPAL_TTL_SECONDS, Core

log = logging.getLogger(__name__)

# The roles a bearer token may carry, and a technician's qualifications
# (both named in the domain; plain strings here, as stored and as typed).
TOKEN_ROLES: tuple[str, ...] = tuple(r.value for r in stages.TOKEN_ROLES)
QUALIFICATIONS: tuple[str, ...] = tuple(r.value for r in stages.QUALIFICATIONS)
CUSTOMER_LINK_TTL = timedelta(hours=24)
# Device kind → the role its token acts with.
DEVICE_ROLES: dict[str, str] = {
    "board": Role.DISPLAY_BOARD.value,
    "lounge": Role.DISPLAY_LOUNGE.value,
    "kiosk": Role.KIOSK.value,
}
# Credentials looked up per IN list when many are re-checked at once: far
# below every driver's bound-parameter limit (999 on SQLite before 3.32), and
# 2,000 screens still cost only a few round trips.
IN_LIST_CHUNK = 500
BEARER_MAX_CHARS = 200
# The role names a credential may carry (asked twice for every command).
ROLE_NAMES = frozenset(role.value for role in Role)
CUSTOMER_TOKEN_MAX_CHARS = 100


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, bound to one shop."""

    kind: str  # token | user | device | kiosk | customer
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
        if self.role in stages.LOUNGE_SCREENS:
            return "lounge"
        return "staff"

    @property
    def is_staff(self) -> bool:
        return self.audience == "staff"

    @property
    def roles(self) -> frozenset[Role]:
        """The roles the policy weighs (``policy.may``): the credential's role
        and the user's qualifications."""
        return self.actor().roles

    def actor(self) -> Actor:
        roles: set[Role] = set()
        if self.kind == "customer":
            roles.add(Role.CUSTOMER)
        elif self.role in ROLE_NAMES:
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


def _plausible(token: object, limit: int) -> bool:
    """Every credential Baylight issues is URL-safe ASCII of bounded length;
    anything else (a lone surrogate cannot even be hashed) is none of them."""
    return isinstance(token, str) and 0 < len(token) <= limit and token.isascii()


def resolve_bearer(core: Core, token: str) -> Principal | None:
    """A bearer token, or a paired device's token, to its principal (only
    valid ones are remembered, for a few seconds)."""
    if not _plausible(token, BEARER_MAX_CHARS):
        return None
    digest = hash_secret(token)
    cached = core.principals.get(digest)
    if isinstance(cached, Principal):
        return cached
    principal = current_bearers(core, [token], record_use=True).get(token)
    if principal is not None:
        core.principals.put(digest, principal)
    return principal


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), IN_LIST_CHUNK):
        yield items[start : start + IN_LIST_CHUNK]


# Built once: a cached principal expires after a few seconds, so every
# busy token is resolved again every few seconds, and open sockets are
# re-checked in batches every 2 s (``shared.realtime.hub``); building the
# selects anew cost more than running them.
_API_TOKENS = select(
    ApiToken.token_hash,
    ApiToken.id,
    ApiToken.shop_id,
    ApiToken.role,
    ApiToken.name,
    ApiToken.user_id,
    ApiToken.last_used_at,
).where(
    ApiToken.token_hash.in_(bindparam("b_digests", expanding=True)),
    ApiToken.revoked_at.is_(None),
)
_ACTIVE_USERS = select(StaffUser.id, StaffUser.qualifications).where(
    StaffUser.id.in_(bindparam("b_ids", expanding=True)), StaffUser.active
)
_DEVICES = select(Device.token_hash, Device.id, Device.shop_id, Device.kind, Device.name).where(
    Device.token_hash.in_(bindparam("b_digests", expanding=True)),
    Device.status == "active",
    Device.shop_id.is_not(None),
)


def current_bearers(
    core: Core, tokens: Iterable[str], *, record_use: bool = False
) -> dict[str, Principal]:
    """Bearer, device and kiosk tokens to their principals as the database
    has them now, without the cache: the valid ones only.

    Many tokens cost a few batched queries (open sockets are re-checked this
    way every few seconds), one token the same queries as before.

    ``record_use`` (a REST request, not a socket's re-check) notes the API
    tokens' last use when it is due (``note_token_use``); sockets note theirs
    through the hub (``touch_tokens``).
    """
    found: dict[str, Principal] = {}
    now = core.now()
    by_digest: dict[str, str] = {}
    for token in set(tokens):
        if not _plausible(token, BEARER_MAX_CHARS):
            continue
        if token.startswith("ks_"):
            # A technician signed in on a paired kiosk (badge + PIN): its
            # rules (idle time, its kiosk still paired) live with the login.
            from shared.services.kiosk_login import resolve_session

            principal = resolve_session(core, token, touch=False)
            if principal is not None:
                found[token] = principal
        else:
            by_digest[hash_secret(token)] = token
    if not by_digest:
        return found
    valid, due = principals_of_digests(core, list(by_digest), now)
    for digest, principal in valid.items():
        found[by_digest[digest]] = principal
    if record_use and due:
        note_token_use(core, due, now)
    return found


def principals_of_digests(
    core: Core, digests: Sequence[str], now: datetime
) -> tuple[dict[str, Principal], list[int]]:
    """API and device tokens by their digest to their principals as the
    database has them now (the valid ones only), and the API tokens whose
    last use is due to be written."""
    found: dict[str, Principal] = {}
    due: list[int] = []
    with core.db.read() as session:
        for chunk in _chunks(sorted(digests)):
            api_rows = session.execute(_API_TOKENS, {"b_digests": list(chunk)}).all()
            user_ids = {row.user_id for row in api_rows if row.user_id is not None}
            users: dict[int, tuple[str, ...]] = {}
            if user_ids:
                users = {
                    user_id: tuple(qualifications or ())
                    for user_id, qualifications in session.execute(
                        _ACTIVE_USERS, {"b_ids": sorted(user_ids)}
                    )
                }
            matched: set[str] = set()
            for row in api_rows:
                matched.add(row.token_hash)
                if row.user_id is not None and row.user_id not in users:
                    continue  # its user was deactivated or removed
                if _use_due(row.last_used_at, now):
                    due.append(row.id)
                found[row.token_hash] = Principal(
                    kind="token",
                    shop_id=row.shop_id,
                    role=row.role,
                    name=row.name,
                    ref=f"token:{row.id}",
                    user_id=row.user_id,
                    qualifications=users[row.user_id] if row.user_id is not None else (),
                )
            rest = [digest for digest in chunk if digest not in matched]
            if not rest:
                continue
            for device in session.execute(_DEVICES, {"b_digests": rest}):
                found[device.token_hash] = Principal(
                    kind="device",
                    shop_id=device.shop_id,
                    role=DEVICE_ROLES[device.kind],
                    name=device.name,
                    ref=f"device:{device.id}",
                )
    return found, due


# How often the credentials in use are checked again (``refresh_principals``):
# well within the cache's life, so a token in steady use never expires there.
PRINCIPAL_REFRESH_SECONDS = PRINCIPAL_TTL_SECONDS / 2


def refresh_principals(core: Core) -> int:
    """Check again, in one batch, every cached API and device token asked
    for since the last check: the valid ones live on in the cache, the
    others leave it (``PrincipalCache.renew``), and the API tokens' last use
    is noted when due, as a request's own lookup would. A kiosk sign-in is
    left to expire (its own rules decide it, per token). How many were
    checked."""
    cache = core.principals
    generation = cache.generation
    used = cache.take_used()
    digests = [d for d, p in used.items() if isinstance(p, Principal) and p.kind != "kiosk"]
    if not digests:
        return 0
    now = core.now()
    valid, due = principals_of_digests(core, digests, now)
    cache.renew(digests, valid, generation)
    if due:
        note_token_use(core, due, now)
    return len(digests)


class PrincipalRefresher:
    """The server's background task for ``refresh_principals`` (``sleep``:
    ``socketio.sleep``, so it cooperates in every async mode)."""

    def __init__(
        self, core: Core, sleep: Callable[[float], object], every: float = PRINCIPAL_REFRESH_SECONDS
    ) -> None:
        self.core = core
        self.sleep = sleep
        self.every = every

    def run(self) -> None:
        while True:
            self.sleep(self.every)
            try:
                refresh_principals(self.core)
            except Exception:
                log.warning("checking the credentials in use again failed", exc_info=True)


# An API token's last use is written at most once per this per token: the
# list says "last used" to the minute, and a busy integration's requests
# cost no write each (most do not even read: ``resolve_bearer``'s cache).
LAST_USED_EVERY = timedelta(minutes=1)


def _use_due(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= LAST_USED_EVERY


def touch_tokens(core: Core, token_ids: list[int]) -> dict[int, None]:
    """The last use of these API tokens (a socket connected or checked in
    with them), written for those that are due, none when none is: a read,
    and a write only when needed (the hub's batch lookup, ``Gather``)."""
    now = core.now()
    with core.db.read() as session:
        seen = session.execute(
            select(ApiToken.id, ApiToken.last_used_at).where(ApiToken.id.in_(token_ids))
        ).all()
    due = [token_id for token_id, last in seen if _use_due(last, now)]
    if due:
        note_token_use(core, due, now)
    return {}


def note_token_use(core: Core, token_ids: Sequence[int], now: datetime) -> None:
    """Write ``now`` as the last use of these API tokens, in one statement.

    Only rows whose last use is still due are written, so two processes
    that both found a token due write it once between them. A failure is
    logged and the request goes on: the last-use time is a hint for the
    token list, never a reason to refuse a valid credential, nor to wait:
    while another write holds the process's write lock it is left for the
    next time (``Database.write_if_free``)."""
    try:
        with core.db.write_if_free() as session:
            if session is None:
                return  # a command is writing: the use stays due, written next time
            session.execute(
                update(ApiToken)
                .where(
                    ApiToken.id.in_(list(token_ids)),
                    or_(
                        ApiToken.last_used_at.is_(None),
                        ApiToken.last_used_at <= now - LAST_USED_EVERY,
                    ),
                )
                .values(last_used_at=now)
            )
    except SQLAlchemyError:
        log.warning("noting the last use of API tokens %s failed", list(token_ids), exc_info=True)


def _link_open(closed_at: datetime | None, now: datetime) -> bool:
    """A customer link works until 24 h after its order closed."""
    return closed_at is None or now - closed_at <= CUSTOMER_LINK_TTL


def _customer_principal(order_id: int, shop_id: int) -> Principal:
    return Principal(
        kind="customer",
        shop_id=shop_id,
        role="customer",
        name="customer",
        ref=f"customer:{order_id}",
        order_id=order_id,
    )


def resolve_customer(core: Core, token: str, now: datetime) -> tuple[Principal, RepairOrder] | None:
    """A customer's capability token to its order; nothing once revoked (a new
    token was issued) or 24 h after the order closed."""
    if not _plausible(token, CUSTOMER_TOKEN_MAX_CHARS):
        return None
    with core.db.read() as session:
        row = session.execute(
            select(RepairOrder).where(RepairOrder.customer_token == token)
        ).scalar_one_or_none()
        if row is None or not hmac.compare_digest(row.customer_token, token):
            return None
        if not _link_open(row.closed_at, now):
            return None
        principal = _customer_principal(row.id, row.shop_id)
        # Callers read the row after this session closes; keep it loaded.
        session.expunge(row)
        return principal, row


def current_customers(core: Core, tokens: Iterable[str], now: datetime) -> dict[str, Principal]:
    """Customer links to their principals, the live ones only, in a few
    batched queries (the same rules as ``resolve_customer``)."""
    wanted = sorted({t for t in tokens if _plausible(t, CUSTOMER_TOKEN_MAX_CHARS)})
    found: dict[str, Principal] = {}
    if not wanted:
        return found
    with core.db.read() as session:
        for chunk in _chunks(wanted):
            for row in session.execute(
                select(
                    RepairOrder.customer_token,
                    RepairOrder.id,
                    RepairOrder.shop_id,
                    RepairOrder.closed_at,
                ).where(RepairOrder.customer_token.in_(chunk))
            ):
                if _link_open(row.closed_at, now):
                    found[row.customer_token] = _customer_principal(row.id, row.shop_id)
    return found


def user_principal(user: StaffUser) -> Principal:
    """A signed-in staff member. Their name on what they do (events, the
    customer's "updated by") is the display name when they have one: the
    sign-in name is for signing in."""
    return Principal(
        kind="user",
        shop_id=user.shop_id,
        role=user.role,
        name=user.display_name or user.name,
        ref=f"user:{user.id}",
        user_id=user.id,
        qualifications=tuple(user.qualifications or ()),
    )


# Werkzeug's scrypt is slow on purpose: a stolen hash resists guessing. The
# test suite, which hashes many throwaway PINs, swaps in a cheap method
# here; a test of its own checks that stored hashes use this one.
PIN_HASH_METHOD = "scrypt"


def hash_pin(pin: str) -> str:
    """The stored form of a PIN or password (salted, with ``PIN_HASH_METHOD``)."""
    return generate_password_hash(pin, method=PIN_HASH_METHOD)


def verify_pin(stored: str | None, pin: str) -> bool:
    return bool(stored) and check_password_hash(stored or "", pin)
