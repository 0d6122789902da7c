"""Shop set-up commands: shops, bays and staff users (admin work, not order work)."""

from __future__ import annotations

from sqlalchemy import select

from shared.domain import errors
from shared.domain.bays import BAY_KINDS
from shared.domain.capacity import SKILLED_KINDS
from shared.domain.stages import STAFF_ROLES
from shared.persistence.models import Bay, Shop, StaffUser
from shared.services import staff_admin
from shared.services.auth import QUALIFICATIONS, hash_pin
from shared.services.core import Core
from shared.services.group import GROUP, MEMBER_ROLES
from shared.services.kiosk_login import normalise_badge

# The roles a staff user may hold (named in the domain).
USER_ROLES: tuple[str, ...] = tuple(r.value for r in STAFF_ROLES)


def ensure_shop(
    core: Core, *, slug: str = "main", name: str = "Baylight", timezone: str = "Asia/Shanghai"
) -> int:
    """The shop with this slug, created if missing; returns its id."""
    with core.db.write() as session:
        shop = session.execute(select(Shop).where(Shop.slug == slug)).scalar_one_or_none()
        if shop is None:
            shop = Shop(slug=slug, name=name, timezone=timezone, last_seq=0, settings={})
            session.add(shop)
            session.flush()
        return shop.id


def default_shop_id(core: Core) -> int:
    """The first shop (a single-shop install has only one)."""
    with core.db.read() as session:
        shop_id = session.execute(select(Shop.id).order_by(Shop.id).limit(1)).scalar()
    if shop_id is None:
        return ensure_shop(core)
    return int(shop_id)


def shop_id_for(core: Core, slug: str | None) -> int:
    if not slug:
        return default_shop_id(core)
    with core.db.read() as session:
        shop_id = session.execute(select(Shop.id).where(Shop.slug == slug)).scalar()
    if shop_id is None:
        raise errors.NotFound(f"No shop {slug!r}.")
    return int(shop_id)


def add_bay(
    core: Core, shop_id: int, code: str, name: str, kind: str = "general", capacity: int = 1
) -> int:
    """A bay of the shop; ``capacity`` is how many cars it holds at once (one
    for a repair bay, more for a wash bay or a parking lane)."""
    code = code.strip()
    if not code:
        raise errors.ValidationFailed("code", "A bay needs a code.")
    if kind not in BAY_KINDS:
        raise errors.ValidationFailed("kind", f"kind must be one of {', '.join(BAY_KINDS)}.")
    if capacity < 1:
        raise errors.ValidationFailed("capacity", "A bay holds at least one car.")
    with core.db.write() as session:
        exists = session.execute(
            select(Bay).where(Bay.shop_id == shop_id, Bay.code == code)
        ).scalar_one_or_none()
        if exists is not None:
            raise errors.ValidationFailed("code", f"Bay {code} exists already.")
        bay = Bay(
            shop_id=shop_id, code=code, name=name or code, kind=kind, capacity=capacity, active=True
        )
        session.add(bay)
        session.flush()
        return bay.id


def create_user(
    core: Core,
    shop_id: int,
    *,
    role: str,
    name: str,
    badge: str | None = None,
    pin: str | None = None,
    password: str | None = None,
    qualifications: tuple[str, ...] = (),
    phone: str = "",
    display_name: str = "",
) -> int:
    """A staff member. Technicians log in on kiosks with badge + PIN; office
    staff use a password. Names are unique per shop (as people mean them:
    ``staff_admin.name_taken``). The admin page and REST add staff through
    ``staff_admin.add_staff``, which also asks for the credentials the role
    signs in with; this is the seed's and the command line's way."""
    if role not in USER_ROLES:
        raise errors.ValidationFailed("role", f"role must be one of {', '.join(USER_ROLES)}")
    if not name.strip():
        raise errors.ValidationFailed("name", "A user needs a name.")
    if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise errors.ValidationFailed("pin", "A PIN is 4 to 8 digits.")
    if (pin is None) != (badge is None):
        raise errors.ValidationFailed("badge", "Badge and PIN go together.")
    if badge is not None:
        # Stored as the kiosk reads it, so " 3002" or full-width digits are
        # the same badge at sign-in, in the attempt limits and here.
        badge = normalise_badge(badge)
        if not badge:
            raise errors.ValidationFailed("badge", "A badge needs a number or name.")
    if password is not None and len(password) < 8:
        raise errors.ValidationFailed("password", "A password has at least 8 characters.")
    for qualification in qualifications:
        if qualification not in (*QUALIFICATIONS, *SKILLED_KINDS, GROUP):
            raise errors.ValidationFailed("qualifications", f"Unknown {qualification!r}.")
    # The dealer group (docs/admin/group.md): the server's operator makes its
    # first members here; only an admin or a manager belongs.
    if GROUP in qualifications and role not in MEMBER_ROLES:
        raise errors.ValidationFailed("qualifications", "Only an admin or manager joins the group.")
    with core.db.write() as session:
        if staff_admin.name_taken(session, shop_id, name):
            raise errors.ValidationFailed("name", f"Someone in this shop is called {name} already.")
        if badge is not None:
            clash = session.execute(
                select(StaffUser.id).where(StaffUser.shop_id == shop_id, StaffUser.badge == badge)
            ).scalar()
            if clash is not None:
                raise errors.ValidationFailed("badge", f"Badge {badge} is taken.")
        user = StaffUser(
            shop_id=shop_id,
            name=name.strip(),
            role=role,
            qualifications=list(qualifications),
            badge=badge,
            pin_hash=hash_pin(pin) if pin else None,
            password_hash=hash_pin(password) if password else None,
            phone=phone,
            display_name=display_name.strip(),
            active=True,
        )
        session.add(user)
        session.flush()
        return user.id
