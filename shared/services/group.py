"""The dealer group (issue 14, item 5): who sees every shop, and what.

Who is "group". A staff member whose ``qualifications`` hold ``group``:

- a **group manager** (role manager or admin, with ``group``) sees every
  shop's live counts on ``/group`` and opens any shop's board, read-only;
- a **group admin** (role admin, with ``group``) also makes shops and each
  new shop's first admin, and grants or takes back ``group``.

Everything else such a person does, they do in their own shop, with their
own role: the group powers are these pages and nothing more (no REST
endpoint, no socket, no command on another shop's orders). ``group`` is no
domain role: ``Principal.actor()`` drops it, so no order rule ever sees it.

Who grants it: the operator at the server (``baylight create-user
--qualification group``, ``baylight grant-group USER_ID``), or another group
admin (``set_membership``). Never a shop's own admin: the staff service
accepts only ``team_lead`` and ``qc_inspector`` (``staff_admin.QUALIFICATIONS``).

Each page asks the person's row as it is now (the session re-reads it per
request), so taking ``group`` back, deactivating the person or ending their
session closes the pages at their next request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from shared.domain import errors
from shared.domain.eta import lateness
from shared.domain.stages import ACTIVE_STAGES, Role, Stage
from shared.persistence.models import RepairOrder, Shop, StaffUser
from shared.realtime.publisher import Notice, staff_room
from shared.services import queries, shop_settings, shops, staff_admin
from shared.services.api_tokens import CLI_ACTOR
from shared.services.auth import Principal
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core

GROUP = staff_admin.GROUP
# The roles that may hold ``group``: a manager sees, an admin also makes.
MEMBER_ROLES: frozenset[str] = frozenset({Role.ADMIN.value, Role.MANAGER.value})
ADMIN_ROLE = Role.ADMIN.value
ACTIVE = [stage.value for stage in ACTIVE_STAGES]


# ------------------------------------------------------------ who


def is_member(principal: Principal | None) -> bool:
    """A signed-in person (not a token) with ``group`` and a role that may hold it."""
    return (
        principal is not None
        and principal.kind == "user"
        and principal.role in MEMBER_ROLES
        and GROUP in principal.qualifications
    )


def is_admin(principal: Principal | None) -> bool:
    """A group member who is an admin: makes shops and grants ``group``."""
    return is_member(principal) and principal is not None and principal.role == ADMIN_ROLE


def require_member(principal: Principal | None) -> Principal:
    if principal is None or not is_member(principal):
        raise errors.Forbidden("Only a group manager or group admin sees every shop.")
    return principal


def require_admin(principal: Principal | None) -> Principal:
    if principal is None or not is_admin(principal):
        raise errors.Forbidden("Only a group admin makes shops and group members.")
    return principal


# ------------------------------------------------------------ every shop's counts


@dataclass
class ShopCounts:
    """One shop's line on the group page. ``active`` counts what the shop's
    board lists (every stage but delivered and cancelled); ``late`` and
    ``at_risk`` are the board's verdicts (``shared.domain.eta.lateness`` at
    the same moment); ``ready`` the cars waiting for their customer."""

    id: int
    slug: str
    name: str
    timezone: str
    active: int = 0
    late: int = 0
    at_risk: int = 0
    ready: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "timezone": self.timezone,
            "active": self.active,
            "late": self.late,
            "at_risk": self.at_risk,
            "ready": self.ready,
        }


def shop_counts(core: Core, principal: Principal | None) -> list[ShopCounts]:
    """Every shop of the installation, by name, with its live counts: two
    queries, whatever the number of shops."""
    require_member(principal)
    now = core.now()
    with core.db.read() as session:
        found = {
            shop.id: ShopCounts(shop.id, shop.slug, shop.name, shop.timezone)
            for shop in session.execute(select(Shop).order_by(Shop.name, Shop.id)).scalars()
        }
        rows = session.execute(
            select(
                RepairOrder.shop_id,
                RepairOrder.stage,
                RepairOrder.promised_at,
                RepairOrder.eta,
                RepairOrder.ready_at,
            ).where(RepairOrder.stage.in_(ACTIVE))
        ).all()
    for shop_id, stage, promised_at, eta, ready_at in rows:
        counts = found.get(shop_id)
        if counts is None:
            continue
        counts.active += 1
        if stage == Stage.READY.value:
            counts.ready += 1
        judged = lateness(Stage(stage), promised_at, eta, ready_at, now)
        counts.late += judged.late
        counts.at_risk += judged.at_risk
    return list(found.values())


# ------------------------------------------------------------ one shop's board


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value else None


def group_board_view(row: RepairOrder, names: dict[int, str], now: datetime) -> dict[str, Any]:
    """What a group manager sees of an order on another shop's board: the
    wall board's columns and nothing else (an allow-list, like every
    audience's in ``shared.services.views``): no customer, phone, VIN,
    complaint, price nor customer link."""
    judged = lateness(Stage(row.stage), row.promised_at, row.eta, row.ready_at, now)
    return {
        "id": row.id,
        "number": row.number,
        "business_day": _iso(row.business_day),
        "plate": row.plate,
        "model": row.vehicle_model,
        "stage": row.stage,
        "pause_reasons": [reason["reason"] for reason in row.pause_reasons or ()],
        "bay": row.bay,
        "technicians": [names.get(int(t), "") for t in row.technicians],
        "stage_entered_at": row.stage_entered_at,
        "promised_at": row.promised_at,
        "eta": row.eta,
        "late": judged.late,
        "at_risk": judged.at_risk,
    }


@dataclass(frozen=True)
class GroupBoard:
    """Another shop's board as a group manager reads it."""

    shop: dict[str, Any]
    stage_labels: dict[str, dict[str, str]]
    bays: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    counts: ShopCounts
    read_at: datetime


def shop_board(core: Core, principal: Principal | None, slug: str) -> GroupBoard:
    """The board of the shop ``slug`` names (the server decides the shop;
    an unknown slug is not found): its bays and active orders, in the
    board's order (carry-overs first, then by number)."""
    require_member(principal)
    now = core.now()
    with core.db.read() as session:
        shop = session.execute(select(Shop).where(Shop.slug == slug)).scalar_one_or_none()
        if shop is None:
            raise errors.NotFound(f"No shop {slug!r}.")
        rows = (
            session.execute(
                select(RepairOrder)
                .where(RepairOrder.shop_id == shop.id, RepairOrder.stage.in_(ACTIVE))
                .order_by(RepairOrder.business_day, RepairOrder.number, RepairOrder.id)
            )
            .scalars()
            .all()
        )
        names = {
            user_id: name
            for user_id, name in session.execute(
                select(StaffUser.id, StaffUser.name).where(StaffUser.shop_id == shop.id)
            )
        }
        orders = [group_board_view(row, names, now) for row in rows]
        counts = ShopCounts(shop.id, shop.slug, shop.name, shop.timezone)
        for order in orders:
            counts.active += 1
            counts.ready += order["stage"] == Stage.READY.value
            counts.late += order["late"]
            counts.at_risk += order["at_risk"]
        return GroupBoard(
            shop={"slug": shop.slug, "name": shop.name, "timezone": shop.timezone},
            stage_labels=shop_settings.stage_labels(shop.settings or {}),
            bays=queries.bays(session, shop.id),
            orders=orders,
            counts=counts,
            read_at=now,
        )


# ------------------------------------------------------------ making shops


def create_shop(
    core: Core,
    principal: Principal | None,
    new: shops.NewShop,
    *,
    idempotency_key: str | None = None,
) -> shops.CreatedShop:
    """A group admin makes a shop (``shops.create_shop``)."""
    admin = require_admin(principal)
    return shops.create_shop(core, new, by=admin.ref, idempotency_key=idempotency_key)


def create_shop_admin(
    core: Core,
    principal: Principal | None,
    slug: str,
    *,
    name: str,
    password: str,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> Outcome:
    """A group admin adds an admin to a shop (its first, usually) with a
    password they pass on; the new admin chooses their own at the first
    sign-in at ``/login?shop=SLUG``. Every rule of the staff service holds
    (names unique in the shop, the password's length): it is its
    ``add_staff``, run in that shop by the group admin."""
    admin = require_admin(principal)
    shop = shops.shop_by_slug(core, slug)
    request = CommandRequest(
        actor=admin.actor(),
        shop_id=shop.id,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    new = staff_admin.NewStaff(name=name, role=ADMIN_ROLE, password=password)
    return staff_admin.add_staff(core, request, new)


# ------------------------------------------------------------ members


@dataclass(frozen=True)
class Person:
    """An admin or manager of some shop, as the group page lists them."""

    id: int
    name: str
    role: str
    shop_slug: str
    shop_name: str
    member: bool


def people(core: Core, principal: Principal | None) -> list[Person]:
    """Every active admin and manager of the installation, by shop and name,
    and whether each is a group member."""
    require_admin(principal)
    with core.db.read() as session:
        rows = session.execute(
            select(StaffUser, Shop.slug, Shop.name)
            .join(Shop, Shop.id == StaffUser.shop_id)
            .where(StaffUser.active, StaffUser.role.in_(sorted(MEMBER_ROLES)))
            .order_by(Shop.name, Shop.id, StaffUser.name, StaffUser.id)
        ).all()
        return [
            Person(
                user.id,
                user.name,
                user.role,
                slug,
                shop_name,
                GROUP in (user.qualifications or ()),
            )
            for user, slug, shop_name in rows
        ]


def _shop_of_user(core: Core, user_id: int) -> int:
    with core.db.read() as session:
        shop_id = session.execute(select(StaffUser.shop_id).where(StaffUser.id == user_id)).scalar()
    if shop_id is None:
        raise errors.NotFound(f"No staff member {user_id}.")
    return int(shop_id)


def _with(qualifications: Sequence[str], member: bool) -> list[str]:
    kept = [q for q in qualifications if q != GROUP]
    return [*kept, GROUP] if member else kept


def set_membership(
    core: Core,
    grantor: Principal | None,
    user_id: int,
    *,
    member: bool,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> Outcome:
    """Grant ``group`` to an active admin or manager of any shop
    (``member=True``) or take it back. ``grantor`` is a group admin, or None
    for the operator at the server's command line. Nobody takes their own
    back (a group keeps the admin who acts). Answers the person: id, name,
    role, shop_id, qualifications and ``group``."""
    if grantor is not None:
        require_admin(grantor)
        if grantor.user_id == user_id and not member:
            raise staff_admin.refusal(
                "group", "own_account", "You cannot take back your own group membership."
            )
    shop_id = _shop_of_user(core, user_id)
    request = CommandRequest(
        actor=grantor.actor() if grantor is not None else CLI_ACTOR,
        shop_id=shop_id,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        user = tx.session.get(StaffUser, user_id)
        if user is None or user.shop_id != tx.locked.id:
            raise errors.NotFound(f"No staff member {user_id}.")
        if member and (not user.active or user.role not in MEMBER_ROLES):
            raise staff_admin.refusal(
                "role", "group_role", "Only an active admin or manager joins the group."
            )
        qualifications = _with(user.qualifications or (), member)
        if qualifications != list(user.qualifications or ()):
            user.qualifications = qualifications
            tx.session.flush()
            tx.notify(
                Notice(staff_admin.STAFF_CHANGED, {"id": user.id}, (staff_room(tx.locked.id),))
            )
        return 200, {
            "id": user.id,
            "name": user.name,
            "role": user.role,
            "shop_id": user.shop_id,
            "qualifications": list(user.qualifications or ()),
            "group": GROUP in (user.qualifications or ()),
        }

    outcome = execute(core, request, "grant_group" if member else "revoke_group", work)
    # Sessions and sockets read the person again at once.
    core.principals.clear()
    return outcome
