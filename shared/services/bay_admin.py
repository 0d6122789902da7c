"""Bays as an admin runs them (issue 14, item 3): add one, rename it, set its
kind (and the capacity of a kind that holds several cars), take it out of
service with a reason and back in, and move it on the board.

Every change is a command through ``commands.execute``: the shop's row is
locked (so a capacity change and a dispatch to the same bay are ordered),
an Idempotency-Key is answered from its first result, and after the commit
the shop's staff screens (board, foreman, desk, kiosk) receive the ``bays``
message with the whole list and its version, which they draw at once
(``docs/admin/shop.md``). Codes never change: orders name their bay by code.

``add_bay`` and ``change_bay`` are the two commands; ``rename_bay``,
``set_bay_kind``, ``take_out_of_service``, ``return_to_service`` and
``move_bay`` name the admin's single changes (the web page's buttons), each
one ``change_bay`` of one field, so one PATCH of several fields is still one
command."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from shared.domain import errors
from shared.domain.bays import BAY_KINDS
from shared.domain.policy import Command, may
from shared.domain.text import check_text
from shared.persistence.models import Bay
from shared.realtime.publisher import Notice, staff_room
from shared.services import admin_events, queries, shop_settings, snapshots
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core

log = logging.getLogger(__name__)

# The kinds that may hold several cars at once; a repair bay (general, quick
# service, alignment, EV / high-voltage, paint) holds one.
MULTI_CAR_KINDS = ("wash", "parking_lane")
MAX_CAPACITY = 200
# A code is part of every order on the bay and of PATCH /api/v1/bays/{code}:
# 1 to 20 ASCII letters, digits, "-" and "_" (what the wall board's narrow
# chips and every URL carry as they are).
CODE_PATTERN = "^[A-Za-z0-9_-]{1,20}$"
CODE = re.compile(CODE_PATTERN)
NAME_MAX = 100
REASON_MAX = 200
BAYS_MESSAGE = "bays"


class BayExists(errors.DomainError):
    """A bay of the shop has this code already (whether or not it is listed)."""

    code = "bay_exists"
    status = 409


@dataclass(frozen=True)
class BayChange:
    """What an admin changes on one bay; ``None`` leaves it. ``in_service``
    False goes with the ``reason`` (a new reason is sent the same way), and
    a ``reason`` only with it. A ``capacity`` above one goes with a ``kind``
    that holds several cars, so that whether a change is allowed never
    depends on what the bay was. ``position`` is the bay's new place on the
    board, from 1 (beyond the end: last)."""

    name: str | None = None
    kind: str | None = None
    capacity: int | None = None
    in_service: bool | None = None
    reason: str | None = None
    position: int | None = None


def check_code(code: str) -> str:
    if not CODE.fullmatch(code):
        raise errors.ValidationFailed(
            "code", _("A bay code is 1 to 20 Latin letters, digits, - or _ (no spaces).")
        )
    return code


def _trimmed(field: str, value: str, limit: int) -> str:
    """Stored text within ``limit`` characters as sent, trimmed."""
    if len(check_text(field, value)) > limit:
        raise errors.ValidationFailed(field, _("At most %(count)s characters.", count=limit))
    return value.strip()


def _name(value: str) -> str:
    value = _trimmed("name", value, NAME_MAX)
    if not value:
        raise errors.ValidationFailed("name", _("A bay needs a name."))
    return value


def _kind(value: str) -> str:
    if value not in BAY_KINDS:
        raise errors.ValidationFailed(
            "kind", _("The kind is one of %(kinds)s.", kinds=", ".join(BAY_KINDS))
        )
    return value


def _capacity(kind: str | None, capacity: int) -> int:
    """One car on a repair bay; 1 to ``MAX_CAPACITY`` on a wash bay or a
    parking lane, said with the kind (``kind`` is the one sent, if any)."""
    if not 1 <= capacity <= MAX_CAPACITY:
        raise errors.ValidationFailed(
            "capacity", _("A bay holds 1 to %(count)s cars.", count=MAX_CAPACITY)
        )
    if capacity > 1 and kind not in MULTI_CAR_KINDS:
        raise errors.ValidationFailed(
            "capacity",
            _(
                "A repair bay holds one car; send the kind (wash bay or parking lane) "
                "with a capacity above one."
            ),
        )
    return capacity


def _position(position: int | None) -> int | None:
    if position is not None and position < 1:
        raise errors.ValidationFailed("position", _("Places on the board count from 1."))
    return position


def _allowed(tx: Transaction) -> None:
    if not may(tx.actor, Command.ADMINISTER):
        raise errors.Forbidden(_("Only an admin or a manager changes the bays."))


def _place(ordered: list[Bay], bay: Bay, position: int | None) -> list[Bay]:
    """``ordered`` with ``bay`` at ``position`` (from 1; None or beyond the
    end: last)."""
    others = [b for b in ordered if b is not bay]
    index = len(others) if position is None else max(0, min(position - 1, len(others)))
    return [*others[:index], bay, *others[index:]]


def _published(tx: Transaction, ordered: list[Bay], bay: Bay) -> dict[str, Any]:
    """Number the board's order, count the bays' version up, and send the
    staff screens the new list after the commit; the changed bay's JSON."""
    for number, each in enumerate(ordered):
        if each.position != number:
            each.position = number
    settings = dict(tx.shop.settings or {})
    version = shop_settings.bays_version(settings) + 1
    settings[shop_settings.BAYS_VERSION] = version
    # A new dict: the JSON column notices reassignment, not in-place edits.
    tx.shop.settings = settings
    listed = [queries.bay_json(b, n) for n, b in enumerate(ordered, start=1)]
    tx.notify(
        Notice(BAYS_MESSAGE, {"version": version, "bays": listed}, (staff_room(tx.locked.id),))
    )
    log.info("shop %s: bay %s changed by %s", tx.locked.id, bay.code, tx.actor.ref or tx.actor.name)
    return listed[ordered.index(bay)]


def _audited(bay: Bay, ordered: list[Bay]) -> dict[str, Any]:
    """The bay as the audit compares it: its place on the board from 1."""
    return {
        "name": bay.name,
        "kind": bay.kind,
        "capacity": bay.capacity,
        "in_service": not bay.out_of_service_reason,
        "reason": bay.out_of_service_reason,
        "position": ordered.index(bay) + 1,
    }


def _forgetting(core: Core, outcome: Outcome) -> Outcome:
    """After a committed change: no shared snapshot from before it is
    handed to a screen that connects now (``snapshots.forget``)."""
    if outcome.notices:
        snapshots.forget(core)
    return outcome


def add_bay(
    core: Core,
    request: CommandRequest,
    *,
    code: str,
    name: str = "",
    kind: str = "general",
    capacity: int = 1,
    position: int | None = None,
) -> Outcome:
    """A new bay of the shop, in service, at ``position`` on the board (from
    1; by default last). Answers 201 with the bay."""
    code = check_code(code)
    name = _name(name) if name.strip() else code
    kind = _kind(kind)
    capacity = _capacity(kind, capacity)
    position = _position(position)

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _allowed(tx)
        taken = tx.session.execute(
            select(Bay.id).where(Bay.shop_id == tx.locked.id, Bay.code == code)
        ).scalar()
        if taken is not None:
            raise BayExists(_("Bay %(code)s exists already.", code=code), field="code")
        bay = Bay(
            shop_id=tx.locked.id,
            code=code,
            name=name,
            kind=kind,
            capacity=capacity,
            active=True,
            position=0,
            out_of_service_reason="",
        )
        tx.session.add(bay)
        tx.session.flush()
        ordered = _place(queries.bays_in_order(tx.session, tx.locked.id), bay, position)
        added = _audited(bay, ordered)
        del added["in_service"], added["reason"]
        tx.audit(admin_events.BAY_ADDED, f"bay:{code}", added)
        return 201, _published(tx, ordered, bay)

    return _forgetting(core, execute(core, request, "add_bay", work))


def change_bay(core: Core, request: CommandRequest, code: str, change: BayChange) -> Outcome:
    """Change one bay of the shop (``BayChange``); another shop's bay, or
    none, is ``not_found``. Answers 200 with the bay."""
    name = None if change.name is None else _name(change.name)
    kind = None if change.kind is None else _kind(change.kind)
    capacity = None if change.capacity is None else _capacity(kind, change.capacity)
    position = _position(change.position)
    reason = None
    if change.reason is not None:
        if change.in_service is not False:
            raise errors.ValidationFailed(
                "reason", _("A reason goes with taking the bay out of service (in_service false).")
            )
        reason = _trimmed("reason", change.reason, REASON_MAX)
    if change.in_service is False and not reason:
        raise errors.ValidationFailed(
            "reason", _("Say why the bay is out of service (for example: lift repair).")
        )

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _allowed(tx)
        ordered = queries.bays_in_order(tx.session, tx.locked.id)
        bay = next((b for b in ordered if b.code == code), None)
        if bay is None:
            raise errors.NotFound(_("No bay %(code)s in this shop.", code=code))
        before = _audited(bay, ordered)
        if name is not None:
            bay.name = name
        if kind is not None:
            bay.kind = kind
        if capacity is not None:
            bay.capacity = capacity
        elif bay.kind not in MULTI_CAR_KINDS:
            # A lane made a repair bay again holds one car.
            bay.capacity = 1
        if change.in_service is True:
            bay.out_of_service_reason = ""
        elif reason:
            bay.out_of_service_reason = reason
        if position is not None:
            ordered = _place(ordered, bay, position)
        changed = admin_events.changes(before, _audited(bay, ordered))
        if changed:
            tx.audit(
                admin_events.BAY_CHANGED, f"bay:{code}", {"name": bay.name, "changes": changed}
            )
        return 200, _published(tx, ordered, bay)

    return _forgetting(core, execute(core, request, "change_bay", work))


def rename_bay(core: Core, request: CommandRequest, code: str, name: str) -> Outcome:
    return change_bay(core, request, code, BayChange(name=name))


def set_bay_kind(
    core: Core, request: CommandRequest, code: str, kind: str, capacity: int | None = None
) -> Outcome:
    """What the bay is for, and how many cars it holds (one on a repair bay)."""
    return change_bay(core, request, code, BayChange(kind=kind, capacity=capacity))


def take_out_of_service(core: Core, request: CommandRequest, code: str, reason: str) -> Outcome:
    """The board shows the bay out of service with ``reason`` (a bay out of
    service already gets the new reason). Cars on it stay (the foreman moves
    them); a dispatch to it is the foreman's call."""
    return change_bay(core, request, code, BayChange(in_service=False, reason=reason))


def return_to_service(core: Core, request: CommandRequest, code: str) -> Outcome:
    return change_bay(core, request, code, BayChange(in_service=True))


def move_bay(core: Core, request: CommandRequest, code: str, position: int) -> Outcome:
    """Put the bay at ``position`` on the board (from 1)."""
    return change_bay(core, request, code, BayChange(position=position))
