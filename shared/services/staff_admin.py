"""Staff administration (issue 14, item 2): one function per command an
admin or manager gives about a colleague: add, edit, set a PIN, reset a
password, deactivate, reactivate, unlock; ``update_staff`` gives several of
them at once (one REST PATCH), in one transaction.

Every command goes through ``commands.execute``, the one write path of order
commands: the shop row is locked, so two admins' changes queue instead of
interleaving; an Idempotency-Key is replayed; the change commits; and only
then is it announced (a ``staff_changed`` notice to the staff room, with the
person's id and nothing else). After the commit the credential cache is
cleared, which wakes every socket hub check of this process: the office
pages and kiosks of someone deactivated, or whose role, name or PIN changed,
are cut at once (other processes within their next round, two seconds).

Deactivation ends everything the person had running, in the same
transaction: their office sessions (the session hook of
``shared.persistence.session_models`` revokes them when ``active`` flips),
their kiosk sessions (``kiosk_login.end_sessions``), and their running
labour clock, closed by the labour service's own rule for a technician taken
off an order (``labour.clock_assignment``: the segment ends now, reason
``reassigned``). The orders themselves stay as dispatched: who takes the car
over is the foreman's decision.

Version check. A staff row has no version column; ``version`` is a short
digest of everything an admin can change (names, role, qualifications,
phone, badge, active, the PIN and password hashes, the forced change). An
edit sends the version it read; when anything changed since (another admin's
edit, a PIN reset meanwhile), it is refused with ``stale_version`` and the
current state (``staff``). Locks are left out: a technician's wrong PINs do
not make an admin's form stale.

Rules beyond the field formats, each refused with a ``reason``:
names are unique per shop (``normalised_name``: case, width and surrounding
spaces do not make another name); badges are unique per shop; an active
technician has a badge and a PIN, every other active role a password; nobody
deactivates themselves or changes their own role; the last active admin of a
shop stays one; only an admin (not a manager) grants the admin role or
changes an admin's account. A password set by someone else is a reset: its
owner must choose their own at the next sign-in (``must_change_password``);
so is a PIN set or reset on an existing account (``must_change_pin``: the
kiosk opens only the step where the technician chooses their own).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.domain.capacity import SKILLED_KINDS
from shared.domain.order import Actor
from shared.domain.policy import Command, may
from shared.domain.stages import QUALIFICATIONS as QUALIFICATION_ROLES
from shared.domain.stages import STAFF_ROLES, Role
from shared.domain.text import check_text
from shared.persistence.models import LabourSegment, StaffUser
from shared.realtime.publisher import Notice, staff_room
from shared.services import admin_events, kiosk_login, labour, staff_leave, staff_login
from shared.services.auth import hash_pin
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core
from shared.services.rows import state_from_row

ROLES: tuple[str, ...] = tuple(r.value for r in STAFF_ROLES)
# The inspections a technician may sign (they are roles: ``auth`` reads only these).
INSPECTIONS: tuple[str, ...] = tuple(r.value for r in QUALIFICATION_ROLES)
# The work a technician is trained for, named after the bay kind that needs
# it (EV/high voltage, body and paint, wheel alignment): appointment capacity
# counts only their hours for that kind. A skill is no role and signs nothing.
SKILLS: tuple[str, ...] = SKILLED_KINDS
QUALIFICATIONS: tuple[str, ...] = (*INSPECTIONS, *SKILLS)
# The dealer group's mark (shared/services/group.py, docs/admin/group.md): not
# one a shop's admin grants or takes, and it keeps the shop's admins and
# managers off the account (else a shop admin could reset a group member's
# password and see every shop).
GROUP = "group"
# Who signs in on a kiosk with badge + PIN; every other role at /login.
KIOSK_ROLE = Role.TECHNICIAN.value
NAME_MAX = 100
DISPLAY_NAME_MAX = 100
PHONE_MAX = 40
PIN_MIN, PIN_MAX = 4, 8
# The notice every committed staff change sends to the shop's staff room.
STAFF_CHANGED = "staff_changed"
VERSION_LENGTH = 16


# ------------------------------------------------------------ input rules


def refusal(field_name: str, reason: str, detail: str) -> errors.ValidationFailed:
    """A ``validation_error`` naming the field, with a stable ``reason`` the
    admin page turns into a sentence in the reader's language."""
    refused = errors.ValidationFailed(field_name, detail)
    refused.extra["reason"] = reason
    return refused


def _short_text(field_name: str, value: str, limit: int, *, required: bool = False) -> str:
    value = check_text(field_name, value).strip()
    if required and not value:
        raise refusal(field_name, "required", f"{field_name} is required.")
    if len(value) > limit:
        raise refusal(field_name, "too_long", f"{field_name} has at most {limit} characters.")
    return value


def check_name(name: str) -> str:
    """A user name (what they sign in with): 1 to 100 characters."""
    return _short_text("name", name, NAME_MAX, required=True)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise refusal("role", "unknown", f"role must be one of {', '.join(ROLES)}.")
    return role


def check_qualifications(values: Sequence[str]) -> tuple[str, ...]:
    found = tuple(values)
    for value in found:
        if value not in QUALIFICATIONS:
            raise refusal(
                "qualifications",
                "unknown",
                f"qualifications are {', '.join(QUALIFICATIONS)}; not {value!r}.",
            )
    if len(set(found)) != len(found):
        raise refusal("qualifications", "twice", "A qualification is listed twice.")
    return found


def check_badge(badge: str) -> str:
    """A badge as the kiosk reads it (``kiosk_login.normalise_badge``); empty
    means none."""
    typed = check_text("badge", badge)
    badge = kiosk_login.normalise_badge(typed)
    # The typed form is held to the limit too, as the API document says.
    if max(len(badge), len(typed)) > kiosk_login.BADGE_MAX:
        raise refusal("badge", "too_long", f"badge has at most {kiosk_login.BADGE_MAX} characters.")
    return badge


def check_pin(pin: str) -> str:
    if not (pin.isascii() and pin.isdigit() and PIN_MIN <= len(pin) <= PIN_MAX):
        raise refusal("pin", "pin_format", f"A PIN is {PIN_MIN} to {PIN_MAX} digits.")
    return pin


def name_taken(session: Session, shop_id: int, name: str, except_id: int | None = None) -> bool:
    """Whether another user of the shop, active or not, has this name (as
    people mean it: ``staff_login.normalised_name``). Inactive ones count:
    reactivating someone must not make two of one name."""
    wanted = staff_login.normalised_name(name)
    with session.no_autoflush:
        rows = session.execute(
            select(StaffUser.id, StaffUser.name).where(StaffUser.shop_id == shop_id)
        ).all()
    return any(staff_login.normalised_name(other) == wanted and i != except_id for i, other in rows)


def _badge_taken(session: Session, shop_id: int, badge: str, except_id: int | None) -> bool:
    with session.no_autoflush:
        found = session.execute(
            select(StaffUser.id).where(StaffUser.shop_id == shop_id, StaffUser.badge == badge)
        ).scalar()
    return found is not None and found != except_id


# ------------------------------------------------------------ reads


def version_of(user: StaffUser) -> str:
    """The version an edit must send back (see the module docstring)."""
    parts = [
        user.name,
        user.display_name,
        user.role,
        list(user.qualifications or ()),
        user.phone,
        user.badge,
        bool(user.active),
        user.pin_hash,
        user.password_hash,
        bool(user.must_change_password),
    ]
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:VERSION_LENGTH]


@dataclass(frozen=True)
class _ShopState:
    """What a staff list shows beside the rows: locks and running clocks."""

    locked_badges: set[str]
    locked_users: set[int]
    clocks: dict[int, dict[str, Any]]
    # Leave days from the shop's today on, per user (ISO dates).
    leave: dict[int, list[str]] = field(default_factory=dict)


def _shop_state(session: Session, shop_id: int, now: datetime) -> _ShopState:
    with session.no_autoflush:
        clocks = {
            technician_id: {"order_id": order_id, "started_at": started_at.isoformat()}
            for technician_id, order_id, started_at in session.execute(
                select(
                    LabourSegment.technician_id, LabourSegment.order_id, LabourSegment.started_at
                ).where(LabourSegment.shop_id == shop_id, LabourSegment.ended_at.is_(None))
            )
        }
        return _ShopState(
            locked_badges=kiosk_login.locked_badge_set(session, shop_id),
            locked_users=staff_login.locked_user_ids(session, shop_id, now),
            clocks=clocks,
            leave=staff_leave.future_leave(
                session, shop_id, staff_leave.shop_today(session, shop_id, now)
            ),
        )


def staff_json(user: StaffUser, state: _ShopState) -> dict[str, Any]:
    """One staff member as admins read them. PINs and passwords are never
    shown back, only whether one is set."""
    return {
        "id": user.id,
        "name": user.name,
        "display_name": user.display_name,
        "role": user.role,
        "qualifications": list(user.qualifications or ()),
        "phone": user.phone,
        "badge": user.badge,
        "has_pin": user.pin_hash is not None,
        "has_password": user.password_hash is not None,
        "must_change_password": bool(user.must_change_password),
        "active": bool(user.active),
        "locked": (user.badge is not None and user.badge in state.locked_badges)
        or user.id in state.locked_users,
        "running_clock": state.clocks.get(user.id),
        "leave": state.leave.get(user.id, []),
        "created_at": user.created_at.isoformat(),
        "version": version_of(user),
    }


def list_staff(core: Core, shop_id: int, *, active: bool | None = None) -> list[dict[str, Any]]:
    """The shop's staff, the active first, then by name; ``active`` keeps
    only the active (True) or the inactive (False)."""
    with core.db.read() as session:
        query = select(StaffUser).where(StaffUser.shop_id == shop_id)
        if active is not None:
            query = query.where(StaffUser.active.is_(active))
        users = session.execute(
            query.order_by(StaffUser.active.desc(), StaffUser.name, StaffUser.id)
        ).scalars()
        state = _shop_state(session, shop_id, core.now())
        return [staff_json(user, state) for user in users]


def get_staff(core: Core, shop_id: int, user_id: int) -> dict[str, Any]:
    """One staff member of the shop; another shop's id is not found."""
    with core.db.read() as session:
        user = session.get(StaffUser, user_id)
        if user is None or user.shop_id != shop_id:
            raise errors.NotFound(f"No staff member {user_id} in this shop.")
        return staff_json(user, _shop_state(session, shop_id, core.now()))


# ------------------------------------------------------------ commands


@dataclass(frozen=True)
class NewStaff:
    """A colleague to add. Technicians need a badge and a PIN, every other
    role a password (which they change at their first sign-in)."""

    name: str
    role: str
    display_name: str = ""
    qualifications: tuple[str, ...] = ()
    phone: str = ""
    badge: str | None = None
    pin: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class StaffChanges:
    """What one edit changes; None leaves a field as it is. ``badge`` ""
    takes the badge (and its PIN) away; ``unlock`` lifts a badge's and a
    sign-in's lock."""

    name: str | None = None
    display_name: str | None = None
    role: str | None = None
    qualifications: tuple[str, ...] | None = None
    phone: str | None = None
    badge: str | None = None
    pin: str | None = None
    password: str | None = None
    active: bool | None = None
    unlock: bool = False
    # ISO dates: replaces the leave days from today on (None: unchanged).
    leave: tuple[str, ...] | None = None

    def checked(self) -> StaffChanges:
        """The same changes with every given field held to its rule (before
        anything is hashed or written)."""
        return replace(
            self,
            name=None if self.name is None else check_name(self.name),
            display_name=None
            if self.display_name is None
            else _short_text("display_name", self.display_name, DISPLAY_NAME_MAX),
            role=None if self.role is None else check_role(self.role),
            qualifications=None
            if self.qualifications is None
            else check_qualifications(self.qualifications),
            phone=None if self.phone is None else _short_text("phone", self.phone, PHONE_MAX),
            badge=None if self.badge is None else check_badge(self.badge),
            pin=None if self.pin is None else check_pin(self.pin),
            password=None if self.password is None else staff_login.check_password(self.password),
            leave=None
            if self.leave is None
            else tuple(d.isoformat() for d in staff_leave.check_leave(self.leave)),
        )


@dataclass(frozen=True)
class _Secrets:
    """The hashes of a PIN and a password, made before the transaction: the
    hash is slow on purpose and must not hold the shop's writer."""

    pin_hash: str | None = None
    password_hash: str | None = None

    @classmethod
    def of(cls, pin: str | None, password: str | None) -> _Secrets:
        return cls(
            pin_hash=hash_pin(pin) if pin is not None else None,
            password_hash=hash_pin(password) if password is not None else None,
        )


def _is_admin(actor: Actor) -> bool:
    return bool(actor.roles & {Role.ADMIN, Role.SYSTEM})


def _authorise(tx: Transaction) -> None:
    if not may(tx.actor, Command.ADMINISTER):
        raise errors.Forbidden("Only an admin or a manager administers staff.")


def _guard_admin_accounts(tx: Transaction, current_role: str | None, new_role: str | None) -> None:
    """A manager may not make admins nor change an admin's account: else a
    manager could reset an admin's password and sign in as them."""
    if _is_admin(tx.actor):
        return
    if Role.ADMIN.value in (current_role, new_role):
        raise errors.Forbidden("Only an admin grants the admin role or changes an admin's account.")


def _guard_group_accounts(tx: Transaction, user: StaffUser) -> None:
    """Only a group admin (or the server's operator) changes the account of
    a dealer group member."""
    if GROUP not in (user.qualifications or ()):
        return
    if Role.SYSTEM in tx.actor.roles:
        return
    actor = tx.session.get(StaffUser, tx.actor.user_id) if tx.actor.user_id else None
    if (
        actor is not None
        and actor.active
        and actor.role == Role.ADMIN.value
        and GROUP in (actor.qualifications or ())
    ):
        return
    raise errors.Forbidden("Only a group admin changes a dealer group member's account.")


def _credentials_present(user: StaffUser) -> None:
    """An active account can sign in where its role works."""
    if not user.active:
        return
    if user.role == KIOSK_ROLE and (user.badge is None or user.pin_hash is None):
        missing = "badge" if user.badge is None else "pin"
        raise refusal(missing, "credentials", "A technician needs a badge and a PIN.")
    if user.role != KIOSK_ROLE and user.password_hash is None:
        raise refusal("password", "credentials", f"A {user.role} needs a password.")


def _finish(core: Core, outcome: Outcome, user_id: int | None) -> Outcome:
    """After commit: this process's credential cache forgets what it knew
    (which wakes the socket hub's check at once) and the order views' name
    cache forgets the person's old name."""
    core.principals.clear()
    if user_id is not None:
        core.staff_names.discard(str(user_id))
    return outcome


def add_staff(core: Core, request: CommandRequest, new: NewStaff) -> Outcome:
    """Add a colleague to the shop: 201 with the new staff member."""
    name = check_name(new.name)
    role = check_role(new.role)
    display_name = _short_text("display_name", new.display_name, DISPLAY_NAME_MAX)
    qualifications = check_qualifications(new.qualifications)
    phone = _short_text("phone", new.phone, PHONE_MAX)
    badge = check_badge(new.badge) if new.badge is not None else ""
    pin = check_pin(new.pin) if new.pin is not None else None
    password = staff_login.check_password(new.password) if new.password is not None else None
    if bool(badge) != (pin is not None):
        raise refusal("pin" if badge else "badge", "badge_and_pin", "Badge and PIN go together.")
    secrets = _Secrets.of(pin, password)

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _authorise(tx)
        _guard_admin_accounts(tx, None, role)
        if name_taken(tx.session, tx.locked.id, name):
            raise refusal("name", "taken", f"Someone in this shop is called {name} already.")
        if badge and _badge_taken(tx.session, tx.locked.id, badge, None):
            raise refusal("badge", "taken", f"Badge {badge} is taken.")
        user = StaffUser(
            shop_id=tx.locked.id,
            name=name,
            display_name=display_name,
            role=role,
            qualifications=list(qualifications),
            badge=badge or None,
            pin_hash=secrets.pin_hash,
            password_hash=secrets.password_hash,
            # Someone else chose it: its owner chooses their own first.
            must_change_password=secrets.password_hash is not None,
            phone=phone,
            active=True,
            created_at=tx.now,
        )
        _credentials_present(user)
        tx.session.add(user)
        tx.session.flush()
        tx.audit(admin_events.STAFF_ADDED, f"staff:{user.id}", _added(user))
        tx.notify(Notice(STAFF_CHANGED, {"id": user.id}, (staff_room(tx.locked.id),)))
        return 201, staff_json(user, _shop_state(tx.session, tx.locked.id, tx.now))

    return _finish(core, execute(core, request, "add_staff", work), None)


def _audited(user: StaffUser) -> dict[str, Any]:
    """The account's fields the audit compares before and after a change
    (secrets only as whether they are set, by the callers)."""
    return {
        "name": user.name,
        "display_name": user.display_name,
        "role": user.role,
        "qualifications": list(user.qualifications or ()),
        "phone": user.phone,
        "badge": user.badge,
        "active": bool(user.active),
    }


def _added(user: StaffUser) -> dict[str, Any]:
    """What the audit keeps of a new colleague: no secret, no phone number."""
    fields = _audited(user)
    del fields["phone"], fields["active"]
    return {
        **fields,
        "phone_set": bool(user.phone),
        "pin_set": user.pin_hash is not None,
        "password_set": user.password_hash is not None,
    }


def _audit_update(
    tx: Transaction,
    user: StaffUser,
    before: dict[str, Any],
    had_pin: bool,
    changes: StaffChanges,
    secrets: _Secrets,
    leave_changed: bool = False,
) -> None:
    """One audit record for the edit, named by the weightiest thing it did
    (a deactivation before a password reset before a PIN before an unlock);
    the rest of what it did is in its data. An edit that changed nothing
    records nothing."""
    changed = admin_events.changes(before, _audited(user))
    flags = {
        "pin_set": secrets.pin_hash is not None,
        "pin_removed": had_pin and user.pin_hash is None,
        "password_reset": secrets.password_hash is not None,
        "unlocked": changes.unlock,
        "leave_set": leave_changed,
    }
    if not changed and not any(flags.values()):
        return
    if "active" in changed:
        kind = admin_events.STAFF_REACTIVATED if user.active else admin_events.STAFF_DEACTIVATED
    elif flags["password_reset"]:
        kind = admin_events.PASSWORD_RESET
    elif flags["pin_set"]:
        kind = admin_events.PIN_SET
    elif flags["unlocked"] and not changed:
        kind = admin_events.BADGE_UNLOCKED
    else:
        kind = admin_events.STAFF_CHANGED
    data: dict[str, Any] = {"name": user.name, "changes": changed}
    if leave_changed and changes.leave is not None:
        data["leave"] = list(changes.leave)
    data.update((flag, True) for flag, value in flags.items() if value)
    tx.audit(kind, f"staff:{user.id}", data)


@dataclass
class _Before:
    """The account as the command found it."""

    active: bool
    role: str
    badge: str | None
    pin_hash: str | None


def _load(tx: Transaction, user_id: int, version: str) -> StaffUser:
    user = tx.session.get(StaffUser, user_id)
    if user is None or user.shop_id != tx.locked.id:
        raise errors.NotFound(f"No staff member {user_id} in this shop.")
    if version != version_of(user):
        raise errors.StaleVersion(
            "Someone changed this staff member first. Here is the current state.",
            staff=staff_json(user, _shop_state(tx.session, tx.locked.id, tx.now)),
        )
    return user


def _apply(tx: Transaction, user: StaffUser, changes: StaffChanges, secrets: _Secrets) -> bool:
    """Write the changes to the row, each checked against the shop first;
    whether the leave days changed."""
    shop_id = tx.locked.id
    if changes.name is not None and changes.name != user.name:
        if name_taken(tx.session, shop_id, changes.name, user.id):
            raise refusal(
                "name", "taken", f"Someone in this shop is called {changes.name} already."
            )
        user.name = changes.name
    if changes.badge is not None and changes.badge != (user.badge or ""):
        if changes.badge and _badge_taken(tx.session, shop_id, changes.badge, user.id):
            raise refusal("badge", "taken", f"Badge {changes.badge} is taken.")
        user.badge = changes.badge or None
        if not changes.badge:
            user.pin_hash = None
    if changes.display_name is not None:
        user.display_name = changes.display_name
    if changes.role is not None:
        user.role = changes.role
    if changes.qualifications is not None:
        # The shop's qualifications are replaced; a mark it does not grant
        # (``group``) stays as it was.
        kept = [q for q in (user.qualifications or ()) if q not in QUALIFICATIONS]
        user.qualifications = kept + list(changes.qualifications)
    if changes.phone is not None:
        user.phone = changes.phone
    if secrets.pin_hash is not None:
        if user.badge is None:
            raise refusal("badge", "badge_and_pin", "Badge and PIN go together.")
        user.pin_hash = secrets.pin_hash
        # Set by someone else, the PIN is known to them: its owner chooses
        # their own at the next kiosk sign-in (``kiosk_login.change_pin``).
        user.must_change_pin = tx.actor.user_id != user.id
    if secrets.password_hash is not None:
        user.password_hash = secrets.password_hash
        # A reset: the admin knows it, so its owner must choose their own.
        user.must_change_password = tx.actor.user_id != user.id
    if changes.active is not None:
        user.active = changes.active
    if changes.leave is not None:
        today = staff_leave.shop_today(tx.session, shop_id, tx.now)
        days = [date.fromisoformat(d) for d in changes.leave]
        return staff_leave.replace_future(tx.session, shop_id, user.id, days, today)
    return False


def _check_self_and_admins(tx: Transaction, user: StaffUser, before: _Before) -> None:
    """Nobody locks themselves out, and the shop keeps an active admin."""
    deactivated = before.active and not user.active
    demoted = user.role != before.role
    if tx.actor.user_id == user.id and (deactivated or demoted):
        field_name = "active" if deactivated else "role"
        raise refusal(
            field_name, "own_account", "You cannot deactivate yourself or change your own role."
        )
    was_admin = before.active and before.role == Role.ADMIN.value
    if was_admin and (deactivated or demoted):
        with tx.session.no_autoflush:
            others = tx.session.execute(
                select(func.count())
                .select_from(StaffUser)
                .where(
                    StaffUser.shop_id == tx.locked.id,
                    StaffUser.role == Role.ADMIN.value,
                    StaffUser.active,
                    StaffUser.id != user.id,
                )
            ).scalar_one()
        if not others:
            field_name = "active" if deactivated else "role"
            raise refusal(field_name, "last_admin", "The shop's last active admin stays one.")


def _stop_work(tx: Transaction, user: StaffUser) -> None:
    """End what a deactivated person had running: kiosk sessions, and their
    running labour clock. The clock moves the labour service's own way: a
    clock left running past the last shift end is closed there first (as
    every order command does, ``plan_transition`` + ``move_clocks`` with no
    stage change), and what still runs stops now by its rule for a
    technician taken off an order (``clock_assignment``). The orders keep
    their assignment: the foreman decides who takes the car over. Office
    sessions end by the session hook when ``active`` flips."""
    kiosk_login.end_sessions(tx.session, user.id, tx.now)
    with tx.session.no_autoflush:
        order_ids = list(
            tx.session.execute(
                select(LabourSegment.order_id)
                .where(LabourSegment.technician_id == user.id, LabourSegment.ended_at.is_(None))
                .distinct()
            ).scalars()
        )
    for index, order_id in enumerate(order_ids):
        row = tx.load_order(order_id)
        before = state_from_row(row)
        if index == 0:
            labour.move_clocks(tx, labour.plan_transition(tx, row, before, before))
        without = tuple(t for t in before.technicians if int(t) != user.id)
        labour.clock_assignment(tx, row, before, replace(before, technicians=without))


def _update(
    core: Core,
    request: CommandRequest,
    command: str,
    user_id: int,
    changes: StaffChanges,
    version: str,
) -> Outcome:
    """The one path of every edit: check the formats and hash the secrets
    outside the transaction, then in it load the row (404 for another shop's
    id), check the version (409 with the current state), apply the changes
    and the shop's rules, end sessions and clocks as the change requires,
    and answer 200 with the staff member as they are now."""
    changes = changes.checked()
    secrets = _Secrets.of(changes.pin, changes.password)

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _authorise(tx)
        user = _load(tx, user_id, version)
        before = _Before(bool(user.active), user.role, user.badge, user.pin_hash)
        audited = _audited(user)
        _guard_admin_accounts(tx, user.role, changes.role)
        _guard_group_accounts(tx, user)
        leave_changed = _apply(tx, user, changes, secrets)
        _check_self_and_admins(tx, user, before)
        _credentials_present(user)
        if before.active and not user.active:
            _stop_work(tx, user)
        elif user.badge != before.badge or user.pin_hash != before.pin_hash:
            # A new PIN or badge: what was typed on a kiosk before is void.
            kiosk_login.end_sessions(tx.session, user.id, tx.now)
        if changes.unlock:
            if user.badge is not None:
                kiosk_login.unlock_in(tx.session, tx.locked.id, user.badge, tx.actor.name, tx.now)
            staff_login.forget_failures(tx.session, user)
        _audit_update(
            tx, user, audited, before.pin_hash is not None, changes, secrets, leave_changed
        )
        tx.session.flush()
        tx.notify(Notice(STAFF_CHANGED, {"id": user.id}, (staff_room(tx.locked.id),)))
        return 200, staff_json(user, _shop_state(tx.session, tx.locked.id, tx.now))

    return _finish(core, execute(core, request, command, work), user_id)


def update_staff(
    core: Core, request: CommandRequest, user_id: int, changes: StaffChanges, *, version: str
) -> Outcome:
    """Several changes at once (REST PATCH), all or none."""
    return _update(core, request, "update_staff", user_id, changes, version)


def edit_staff(
    core: Core, request: CommandRequest, user_id: int, changes: StaffChanges, *, version: str
) -> Outcome:
    """Change the profile: name, display name, role, qualifications, phone, badge."""
    profile = StaffChanges(
        name=changes.name,
        display_name=changes.display_name,
        role=changes.role,
        qualifications=changes.qualifications,
        phone=changes.phone,
        badge=changes.badge,
    )
    return _update(core, request, "edit_staff", user_id, profile, version)


def set_pin(
    core: Core, request: CommandRequest, user_id: int, pin: str, *, version: str
) -> Outcome:
    """A new kiosk PIN; the person's kiosk sessions end."""
    return _update(core, request, "set_pin", user_id, StaffChanges(pin=pin), version)


def reset_password(
    core: Core, request: CommandRequest, user_id: int, password: str, *, version: str
) -> Outcome:
    """A new password set by an admin; its owner's sessions end and they
    choose their own at the next sign-in (``staff_login.change_password``)."""
    return _update(
        core, request, "reset_password", user_id, StaffChanges(password=password), version
    )


def deactivate(core: Core, request: CommandRequest, user_id: int, *, version: str) -> Outcome:
    """Someone leaves: their sessions and their running clock end at once."""
    return _update(core, request, "deactivate_staff", user_id, StaffChanges(active=False), version)


def reactivate(core: Core, request: CommandRequest, user_id: int, *, version: str) -> Outcome:
    """Someone comes back: they sign in again (old sessions stay dead)."""
    return _update(core, request, "reactivate_staff", user_id, StaffChanges(active=True), version)


def unlock(core: Core, request: CommandRequest, user_id: int, *, version: str) -> Outcome:
    """Lift a locked badge (too many wrong PINs) and a locked sign-in name."""
    return _update(core, request, "unlock_staff", user_id, StaffChanges(unlock=True), version)
