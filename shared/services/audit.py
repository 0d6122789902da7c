"""The audit log (issue 14, item 7): every command of a shop, who did it,
what, when and from where, filtered by order, person, day (on the shop's
calendar) and kind, a page at a time, and as CSV.

It reads two logs, and nothing here writes. The event log (``OrderEvent``)
holds every order command's events; ``AdminEvent`` every administration
command (staff, bays, the shop profile and stage labels, API tokens,
screens: ``shared.services.admin_events``). What a record keeps of its
author is ``actor`` (the credential's reference: ``user:<id>`` for a person
signed in at the office or on a kiosk, ``token:<id>`` for an API token,
``customer:<id>`` for a customer's link, ``system:<clock>`` for the server's
own clocks, ``system:cli`` for the command line) and ``actor_name`` (the
name at that moment). The device is not recorded. For a person, the kiosk
they were signed in on at that moment is found from the kiosk sign-ins
(``KioskSession``: which kiosk, from when, last activity, revoked when) and
shown as such; an office PC is no device Baylight knows.

The two logs are merged newest first. Each is read in its own order (order
events by ``seq``, admin events by ``(at, id)``), and the cursor (``Cursor``)
says how far each has been listed, so a page never repeats or skips a
record, and new records do not shift the pages already cut, whatever the
two logs' times.

The audit is about who did what, not about the customers: their name,
phone, VIN and free text (complaint, survey comment) are left out of the
details here and in the export.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from shared.domain import errors
from shared.persistence.kiosk_models import KioskSession
from shared.persistence.models import (
    AdminEvent,
    ApiToken,
    Device,
    OrderEvent,
    RepairOrder,
    StaffUser,
)
from shared.services.core import Core
from shared.services.kiosk_login import IDLE_TIMEOUT

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
EXPORT_BATCH = 500
# The engine's estimate revisions (``eta_revised``, by the plan clock) are
# no one's command and outnumber the commands; listed only when asked for.
ESTIMATE_TYPES = ("eta_revised",)
# Event fields that hold the customer's personal data or free text.
PERSONAL_FIELDS = frozenset(
    {"customer_name", "customer_phone", "vehicle_vin", "complaint", "comment"}
)
# Actor filters that stand for a group of actors.
ANY_CUSTOMER = "customer"
ANY_SYSTEM = "system"
ACTOR_KINDS = ("user", "token", "customer", "system")
ACTOR_MAX = 80
# The two logs: an order's events and the administration commands.
ORDER = "order"
ADMIN = "admin"
SOURCES = (ORDER, ADMIN)
# A cell a spreadsheet would read as a formula (or a DDE call) starts with
# one of these; such a cell is written with a leading apostrophe (OWASP,
# "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "seq",
    "time",
    "order_id",
    "number",
    "plate",
    "event",
    "actor",
    "actor_name",
    "via",
    "device",
    "details",
    "source",
    "target",
)

# The cursor as text: ``o<seq>`` (order events below that seq come next),
# ``a<microseconds since 1970>-<id>`` (admin events before that time and id),
# or both as ``o….a…``. A bare number is the cursor of the audit before admin
# events existed: order events below it, and no admin event (every one is
# newer than a page cut then). The digit counts keep every value in range.
CURSOR_PATTERN = (
    r"^([0-9]{1,18}|o[0-9]{1,18}(\.a[0-9]{1,17}-[0-9]{1,18})?|a[0-9]{1,17}-[0-9]{1,18})$"
)
_CURSOR = re.compile(CURSOR_PATTERN)
_PART = re.compile(r"^(?:o(?P<seq>[0-9]+)|a(?P<at>[0-9]+)-(?P<id>[0-9]+))$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Cursor:
    """How far a listing got in each log. ``seq``: the next order events
    have a smaller seq; ``admin``: the next admin events come before this
    ``(at, id)``. None: that log is not begun (or not listed)."""

    seq: int | None = None
    admin: tuple[datetime, int] | None = None

    def text(self) -> str:
        parts = []
        if self.seq is not None:
            parts.append(f"o{self.seq}")
        if self.admin is not None:
            at, ident = self.admin
            parts.append(f"a{(at - _EPOCH) // _MICROSECOND}-{ident}")
        return ".".join(parts)

    @classmethod
    def parse(cls, raw: str) -> Cursor:
        """The cursor a page gave as ``next_before``; ``ValidationFailed``
        naming ``before`` for anything else."""
        if not _CURSOR.fullmatch(raw):
            raise errors.ValidationFailed(
                "before", "before is the next_before of the previous page."
            )
        if raw.isdigit():
            return cls(seq=int(raw), admin=(_EPOCH, 0))
        seq: int | None = None
        admin: tuple[datetime, int] | None = None
        for part in raw.split("."):
            found = _PART.fullmatch(part)
            assert found is not None  # the pattern above
            if found["seq"] is not None:
                seq = int(found["seq"])
            else:
                admin = (_EPOCH + int(found["at"]) * _MICROSECOND, int(found["id"]))
        return cls(seq=seq, admin=admin)


# What is left of a log once it is listed to its end.
_DONE_SEQ = 0
_DONE_ADMIN = (_EPOCH, 0)


@dataclass(frozen=True)
class AuditQuery:
    """What to list. ``actor`` is a record's actor (``user:7``), a person's
    whole record when it is a user (their own sign-ins and the API tokens
    made for them), or ``customer`` / ``system`` for every customer link or
    every server clock. ``day`` is a date on the shop's calendar. ``kind``
    is ``order`` or ``admin`` for one log alone (an ``order_id`` lists only
    order events). ``before`` is the cursor (the newest come first)."""

    order_id: int | None = None
    actor: str | None = None
    day: date | None = None
    before: Cursor | None = None
    limit: int = PAGE_SIZE
    estimates: bool = False
    kind: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One record as the audit shows it: an order event (``source`` order,
    with ``seq`` and the order) or an administration command (``source``
    admin, with its ``id`` and ``target``); ``type`` is the event type or
    the command's kind."""

    at: datetime
    type: str
    actor: str
    actor_name: str
    via: str  # staff | token | customer | system
    source: str = ORDER
    seq: int | None = None
    id: int | None = None
    order_id: int | None = None
    number: int | None = None
    plate: str | None = None
    target: str | None = None
    device_id: int | None = None
    device: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Unique among the shop's records of both logs."""
        return f"o{self.seq}" if self.source == ORDER else f"a{self.id}"

    def as_json(self) -> dict[str, Any]:
        """The REST view (``AuditEvent`` in the OpenAPI document)."""
        return {
            "source": self.source,
            "seq": self.seq,
            "id": self.id,
            "at": self.at.isoformat(),
            "order_id": self.order_id,
            "number": self.number,
            "plate": self.plate,
            "type": self.type,
            "target": self.target,
            "actor": self.actor,
            "actor_name": self.actor_name,
            "via": self.via,
            "device": (
                {"id": self.device_id, "name": self.device} if self.device_id is not None else None
            ),
            "data": self.details,
        }


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    # Where the next (older) page starts; None on the last page.
    cursor: Cursor | None

    @property
    def next_before(self) -> str | None:
        """The cursor as the ``before`` of the next page."""
        return self.cursor.text() if self.cursor is not None else None


@dataclass(frozen=True)
class Person:
    """Someone the audit can be filtered by, for the page's list."""

    actor: str
    name: str
    kind: str  # user | token
    active: bool


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    """The shop's calendar day as a UTC interval [start, end): midnight to
    midnight on the shop's clock (a DST day is 23 or 25 hours long). At the
    ends of the calendar (year 1, year 9999) a bound past what a datetime
    holds is the first or last one there is."""
    here = ZoneInfo(zone)
    try:
        start = datetime.combine(day, time.min, here).astimezone(UTC)
    except OverflowError:
        start = datetime.min.replace(tzinfo=UTC)
    try:
        end = datetime.combine(day + timedelta(days=1), time.min, here).astimezone(UTC)
    except OverflowError:
        end = datetime.max.replace(tzinfo=UTC)
    return start, end


def _via(actor: str) -> str:
    kind = actor.split(":", 1)[0]
    return {"user": "staff", "token": "token", "customer": "customer"}.get(kind, "system")


def _details(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in PERSONAL_FIELDS}


@dataclass(frozen=True)
class _Actors:
    """The actors a filter stands for: every one with a prefix (a group), or
    these exact references."""

    prefix: str | None = None
    exact: tuple[str, ...] = ()

    def condition(self, column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
        if self.prefix is not None:
            return column.like(self.prefix + "%")
        return column.in_(self.exact)


def _actors(session: Session, shop_id: int, actor: str) -> _Actors:
    """The actors ``actor`` stands for. Another shop's person or token is
    as unknown as a missing one."""
    if len(actor) > ACTOR_MAX:
        raise errors.ValidationFailed("actor", f"actor has at most {ACTOR_MAX} characters.")
    if actor == ANY_CUSTOMER:
        return _Actors(prefix="customer:")
    if actor == ANY_SYSTEM:
        return _Actors(prefix="system:")
    kind, _, ref = actor.partition(":")
    if kind not in ACTOR_KINDS or not ref:
        raise errors.ValidationFailed(
            "actor",
            "actor is user:<id>, token:<id>, customer:<id>, system:<name>, customer or system.",
        )
    if kind in ("user", "token"):
        if not ref.isdigit() or len(ref) > 18:
            raise errors.ValidationFailed("actor", f"{kind}:<id> takes a whole number.")
        model = StaffUser if kind == "user" else ApiToken
        owner = session.execute(select(model.shop_id).where(model.id == int(ref))).scalar()
        if owner != shop_id:
            raise errors.NotFound(f"No {kind} {ref} in this shop.")
    if kind != "user":
        return _Actors(exact=(actor,))
    # A person acts under their own sign-in and under tokens made for them.
    tokens = session.execute(
        select(ApiToken.id).where(ApiToken.shop_id == shop_id, ApiToken.user_id == int(ref))
    ).scalars()
    return _Actors(exact=(actor, *(f"token:{t}" for t in tokens)))


@dataclass(frozen=True)
class _Scope:
    """The query's filters, checked against the shop once for both logs."""

    shop_id: int
    order_id: int | None
    actors: _Actors | None
    bounds: tuple[datetime, datetime] | None
    estimates: bool
    orders: bool
    admin: bool


def _scope(session: Session, shop_id: int, zone: str, query: AuditQuery) -> _Scope:
    if query.kind is not None and query.kind not in SOURCES:
        raise errors.ValidationFailed("kind", "kind is order or admin.")
    if query.order_id is not None:
        owner = session.execute(
            select(RepairOrder.shop_id).where(RepairOrder.id == query.order_id)
        ).scalar()
        if owner != shop_id:
            raise errors.NotFound(f"No order {query.order_id} in this shop.")
    return _Scope(
        shop_id=shop_id,
        order_id=query.order_id,
        actors=_actors(session, shop_id, query.actor) if query.actor else None,
        bounds=day_bounds(query.day, zone) if query.day is not None else None,
        estimates=query.estimates,
        orders=query.kind in (None, ORDER),
        admin=query.kind in (None, ADMIN) and query.order_id is None,
    )


def _order_rows(session: Session, scope: _Scope, before: int | None, limit: int) -> list[Any]:
    conditions: list[ColumnElement[bool]] = [OrderEvent.shop_id == scope.shop_id]
    if scope.order_id is not None:
        conditions.append(OrderEvent.order_id == scope.order_id)
    if scope.actors is not None:
        conditions.append(scope.actors.condition(OrderEvent.actor))
    if scope.bounds is not None:
        conditions += [OrderEvent.at >= scope.bounds[0], OrderEvent.at < scope.bounds[1]]
    if not scope.estimates:
        conditions.append(OrderEvent.type.not_in(ESTIMATE_TYPES))
    if before is not None:
        conditions.append(OrderEvent.seq < before)
    return list(
        session.execute(
            select(OrderEvent, RepairOrder.plate, RepairOrder.number)
            .join(RepairOrder, RepairOrder.id == OrderEvent.order_id)
            .where(and_(*conditions))
            .order_by(OrderEvent.seq.desc())
            .limit(limit)
        ).all()
    )


def _admin_rows(
    session: Session, scope: _Scope, before: tuple[datetime, int] | None, limit: int
) -> list[AdminEvent]:
    conditions: list[ColumnElement[bool]] = [AdminEvent.shop_id == scope.shop_id]
    if scope.actors is not None:
        conditions.append(scope.actors.condition(AdminEvent.actor))
    if scope.bounds is not None:
        conditions += [AdminEvent.at >= scope.bounds[0], AdminEvent.at < scope.bounds[1]]
    if before is not None:
        at, ident = before
        conditions.append(or_(AdminEvent.at < at, and_(AdminEvent.at == at, AdminEvent.id < ident)))
    return list(
        session.execute(
            select(AdminEvent)
            .where(and_(*conditions))
            .order_by(AdminEvent.at.desc(), AdminEvent.id.desc())
            .limit(limit)
        ).scalars()
    )


def _order_entry(row: Any) -> AuditEntry:
    event, plate, number = row
    return AuditEntry(
        at=event.at,
        type=event.type,
        actor=event.actor,
        actor_name=event.actor_name,
        via=_via(event.actor),
        source=ORDER,
        seq=event.seq,
        order_id=event.order_id,
        number=number,
        plate=plate,
        details=_details(dict(event.data or {})),
    )


def _admin_entry(event: AdminEvent) -> AuditEntry:
    return AuditEntry(
        at=event.at,
        type=event.kind,
        actor=event.actor,
        actor_name=event.actor_name,
        via=_via(event.actor),
        source=ADMIN,
        id=event.id,
        target=event.target,
        details=dict(event.data or {}),
    )


def _with_kiosks(session: Session, shop_id: int, entries: list[AuditEntry]) -> list[AuditEntry]:
    """Each person's record with the kiosk they were signed in on then (a
    kiosk sign-in lives from its start until revoked or idle past
    ``IDLE_TIMEOUT`` after its last activity)."""
    people = {
        int(ref)
        for kind, ref in (e.actor.partition(":")[::2] for e in entries)
        if kind == "user" and ref.isdigit()
    }
    if not people:
        return entries
    earliest = min(e.at for e in entries)
    latest = max(e.at for e in entries)
    sign_ins = session.execute(
        select(
            KioskSession.user_id,
            KioskSession.created_at,
            KioskSession.last_seen_at,
            KioskSession.revoked_at,
            Device.id,
            Device.name,
        )
        .join(Device, Device.id == KioskSession.device_id)
        .where(
            KioskSession.shop_id == shop_id,
            KioskSession.user_id.in_(sorted(people)),
            KioskSession.created_at <= latest,
            KioskSession.last_seen_at >= earliest - IDLE_TIMEOUT,
            or_(KioskSession.revoked_at.is_(None), KioskSession.revoked_at >= earliest),
        )
        .order_by(KioskSession.created_at.desc())
    ).all()
    found: list[AuditEntry] = []
    for entry in entries:
        for user_id, started, last, revoked, device_id, name in sign_ins:
            if (
                entry.actor == f"user:{user_id}"
                and started <= entry.at <= last + IDLE_TIMEOUT
                and (revoked is None or entry.at <= revoked)
            ):
                entry = replace(entry, device_id=device_id, device=name)
                break
        found.append(entry)
    return found


def _merge(
    orders: list[AuditEntry], admins: list[AuditEntry], limit: int
) -> tuple[list[AuditEntry], int, int]:
    """The newest ``limit`` of the two lists (each newest first), and how
    many of each were taken. At the same moment the admin record comes
    first: it is written last in its command."""
    merged: list[AuditEntry] = []
    taken_orders = taken_admins = 0
    while len(merged) < limit and (taken_orders < len(orders) or taken_admins < len(admins)):
        order = orders[taken_orders] if taken_orders < len(orders) else None
        admin = admins[taken_admins] if taken_admins < len(admins) else None
        if admin is not None and (order is None or admin.at >= order.at):
            merged.append(admin)
            taken_admins += 1
        else:
            assert order is not None
            merged.append(order)
            taken_orders += 1
    return merged, taken_orders, taken_admins


def _next_cursor(
    scope: _Scope, orders: list[AuditEntry], admins: list[AuditEntry], taken: tuple[int, int]
) -> Cursor | None:
    """Where the next page starts in each log: after the last record listed,
    or, in a log none was listed from, at the record waiting first (so a
    newer one written meanwhile never slips into an older page); None when
    both are at their end."""
    taken_orders, taken_admins = taken
    if taken_orders == len(orders) and taken_admins == len(admins):
        return None
    seq: int | None = None
    if scope.orders:
        if taken_orders:
            seq = orders[taken_orders - 1].seq
        elif orders:
            seq = int(orders[0].seq or 0) + 1
        else:
            seq = _DONE_SEQ
    admin: tuple[datetime, int] | None = None
    if scope.admin:
        if taken_admins:
            last = admins[taken_admins - 1]
            admin = (last.at, int(last.id or 0))
        elif admins:
            admin = (admins[0].at, int(admins[0].id or 0) + 1)
        else:
            admin = _DONE_ADMIN
    return Cursor(seq=seq, admin=admin)


def audit_page(core: Core, shop_id: int, zone: str, query: AuditQuery) -> AuditPage:
    """One page of the shop's records, newest first, and the next cursor."""
    if not 1 <= query.limit <= MAX_PAGE_SIZE:
        raise errors.ValidationFailed("limit", f"limit must be from 1 to {MAX_PAGE_SIZE}.")
    return _read_page(core, shop_id, zone, query)


def _read_page(core: Core, shop_id: int, zone: str, query: AuditQuery) -> AuditPage:
    """Up to ``limit`` + 1 records of each log past the cursor, merged: the
    page is the newest ``limit``, and whatever is left says there is more."""
    before = query.before or Cursor()
    with core.db.read() as session:
        scope = _scope(session, shop_id, zone, query)
        orders: list[AuditEntry] = []
        admins: list[AuditEntry] = []
        if scope.orders:
            rows = _order_rows(session, scope, before.seq, query.limit + 1)
            orders = [_order_entry(row) for row in rows]
        if scope.admin:
            events = _admin_rows(session, scope, before.admin, query.limit + 1)
            admins = [_admin_entry(event) for event in events]
        merged, taken_orders, taken_admins = _merge(orders, admins, query.limit)
        entries = _with_kiosks(session, shop_id, merged)
    return AuditPage(entries, _next_cursor(scope, orders, admins, (taken_orders, taken_admins)))


def audit_csv(core: Core, shop_id: int, zone: str, query: AuditQuery) -> Iterator[str]:
    """The export: every record the filters select, newest first, as CSV
    lines (``csv_lines``). The filters are checked and the first batch read
    now, so a wrong filter is an error before the first byte; the rest is
    read a batch at a time as the lines are taken (a busy month never sits in
    memory at once)."""
    first = _read_page(core, shop_id, zone, replace(query, limit=EXPORT_BATCH))
    return csv_lines(_entries_from(core, shop_id, zone, query, first), zone)


def _entries_from(
    core: Core, shop_id: int, zone: str, query: AuditQuery, page: AuditPage
) -> Iterator[AuditEntry]:
    while True:
        yield from page.entries
        if page.cursor is None:
            return
        page = _read_page(
            core, shop_id, zone, replace(query, before=page.cursor, limit=EXPORT_BATCH)
        )


def people(core: Core, shop_id: int) -> list[Person]:
    """The shop's staff and API tokens, to filter the audit by."""
    with core.db.read() as session:
        staff = session.execute(
            select(StaffUser.id, StaffUser.name, StaffUser.active)
            .where(StaffUser.shop_id == shop_id)
            .order_by(StaffUser.active.desc(), StaffUser.name)
        ).all()
        tokens = session.execute(
            select(ApiToken.id, ApiToken.name, ApiToken.revoked_at)
            .where(ApiToken.shop_id == shop_id, ApiToken.user_id.is_(None))
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.name)
        ).all()
    return [Person(f"user:{i}", name, "user", bool(active)) for i, name, active in staff] + [
        Person(f"token:{i}", name, "token", revoked is None) for i, name, revoked in tokens
    ]


def escape_cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs: text starting with a formula
    character gets a leading apostrophe (shown, never evaluated)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _blank(value: object) -> object:
    return "" if value is None else value


def csv_row(entry: AuditEntry, zone: str) -> list[object]:
    """An entry as the export's cells (times on the shop's clock, with the
    offset), before escaping; an admin record has no seq nor order."""
    return [
        _blank(entry.seq),
        entry.at.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds"),
        _blank(entry.order_id),
        _blank(entry.number),
        _blank(entry.plate),
        entry.type,
        entry.actor,
        entry.actor_name,
        entry.via,
        entry.device or "",
        json.dumps(entry.details, ensure_ascii=False, sort_keys=True, default=str),
        entry.source,
        _blank(entry.target),
    ]


def csv_lines(entries: Iterator[AuditEntry], zone: str) -> Iterator[str]:
    """The export as text lines: a byte-order mark (so a spreadsheet reads
    the Chinese as UTF-8), the header, then one escaped row per entry."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: Sequence[object]) -> str:
        writer.writerow([escape_cell(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield "\ufeff" + line(CSV_COLUMNS)
    for entry in entries:
        yield line(csv_row(entry, zone))
