"""The audit log (issue 14, item 7): every command's event of a shop, who
did it, what, when and from where, filtered by order, person and day (on the
shop's calendar), a page at a time, and as CSV.

It reads the event log (``OrderEvent``), the one record every command
writes; nothing here writes. What an event records of its author is
``actor`` (the credential's reference: ``user:<id>`` for a person signed in
at the office or on a kiosk, ``token:<id>`` for an API token, ``customer:<id>``
for a customer's link, ``system:<clock>`` for the server's own clocks) and
``actor_name`` (the name at that moment). The device is not recorded on the
event. For a person, the kiosk they were signed in on at that moment is
found from the kiosk sign-ins (``KioskSession``: which kiosk, from when,
last activity, revoked when) and shown as such; an office PC is no device
Baylight knows.

The audit is about who did what, not about the customers: their name,
phone, VIN and free text (complaint, survey comment) are left out of the
details here and in the export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.persistence.kiosk_models import KioskSession
from shared.persistence.models import ApiToken, Device, OrderEvent, RepairOrder, StaffUser
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
)


@dataclass(frozen=True)
class AuditQuery:
    """What to list. ``actor`` is an event's actor (``user:7``), a person's
    whole record when it is a user (their own sign-ins and the API tokens
    made for them), or ``customer`` / ``system`` for every customer link or
    every server clock. ``day`` is a date on the shop's calendar. ``before``
    is the cursor: only events with a smaller seq (the newest come first)."""

    order_id: int | None = None
    actor: str | None = None
    day: date | None = None
    before: int | None = None
    limit: int = PAGE_SIZE
    estimates: bool = False


@dataclass(frozen=True)
class AuditEntry:
    """One event as the audit shows it."""

    seq: int
    at: datetime
    order_id: int
    number: int
    plate: str
    type: str
    actor: str
    actor_name: str
    via: str  # staff | token | customer | system
    device_id: int | None = None
    device: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The REST view (``AuditEvent`` in the OpenAPI document)."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "order_id": self.order_id,
            "number": self.number,
            "plate": self.plate,
            "type": self.type,
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
    # The cursor for the next (older) page; None on the last page.
    next_before: int | None


@dataclass(frozen=True)
class Person:
    """Someone the audit can be filtered by, for the page's list."""

    actor: str
    name: str
    kind: str  # user | token
    active: bool


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    """The shop's calendar day as a UTC interval [start, end): midnight to
    midnight on the shop's clock (a DST day is 23 or 25 hours long)."""
    here = ZoneInfo(zone)
    start = datetime.combine(day, time.min, here)
    end = datetime.combine(day + timedelta(days=1), time.min, here)
    return start.astimezone(UTC), end.astimezone(UTC)


def _via(actor: str) -> str:
    kind = actor.split(":", 1)[0]
    return {"user": "staff", "token": "token", "customer": "customer"}.get(kind, "system")


def _details(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in PERSONAL_FIELDS}


def _actor_condition(session: Session, shop_id: int, actor: str) -> ColumnElement[bool]:
    """The events ``actor`` stands for; another shop's person or token is
    as unknown as a missing one."""
    if actor == ANY_CUSTOMER:
        return OrderEvent.actor.like("customer:%")
    if actor == ANY_SYSTEM:
        return OrderEvent.actor.like("system:%")
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
        return OrderEvent.actor == actor
    # A person acts under their own sign-in and under tokens made for them.
    tokens = session.execute(
        select(ApiToken.id).where(ApiToken.shop_id == shop_id, ApiToken.user_id == int(ref))
    ).scalars()
    return OrderEvent.actor.in_([actor, *(f"token:{t}" for t in tokens)])


def _filters(
    session: Session, shop_id: int, zone: str, query: AuditQuery
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [OrderEvent.shop_id == shop_id]
    if query.order_id is not None:
        owner = session.execute(
            select(RepairOrder.shop_id).where(RepairOrder.id == query.order_id)
        ).scalar()
        if owner != shop_id:
            raise errors.NotFound(f"No order {query.order_id} in this shop.")
        conditions.append(OrderEvent.order_id == query.order_id)
    if query.actor:
        conditions.append(_actor_condition(session, shop_id, query.actor))
    if query.day is not None:
        start, end = day_bounds(query.day, zone)
        conditions += [OrderEvent.at >= start, OrderEvent.at < end]
    if not query.estimates:
        conditions.append(OrderEvent.type.not_in(ESTIMATE_TYPES))
    if query.before is not None:
        conditions.append(OrderEvent.seq < query.before)
    return conditions


def _entries(session: Session, shop_id: int, rows: Sequence[Any]) -> list[AuditEntry]:
    entries = [
        AuditEntry(
            seq=event.seq,
            at=event.at,
            order_id=event.order_id,
            number=number,
            plate=plate,
            type=event.type,
            actor=event.actor,
            actor_name=event.actor_name,
            via=_via(event.actor),
            details=_details(dict(event.data or {})),
        )
        for event, plate, number in rows
    ]
    return _with_kiosks(session, shop_id, entries)


def _with_kiosks(session: Session, shop_id: int, entries: list[AuditEntry]) -> list[AuditEntry]:
    """Each person's event with the kiosk they were signed in on then (a
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


def _select(conditions: list[ColumnElement[bool]]) -> Any:
    return (
        select(OrderEvent, RepairOrder.plate, RepairOrder.number)
        .join(RepairOrder, RepairOrder.id == OrderEvent.order_id)
        .where(and_(*conditions))
        .order_by(OrderEvent.seq.desc())
    )


def audit_page(core: Core, shop_id: int, zone: str, query: AuditQuery) -> AuditPage:
    """One page of the shop's events, newest first, and the next cursor."""
    if not 1 <= query.limit <= MAX_PAGE_SIZE:
        raise errors.ValidationFailed("limit", f"limit must be from 1 to {MAX_PAGE_SIZE}.")
    return _read_page(core, shop_id, zone, query)


def _read_page(core: Core, shop_id: int, zone: str, query: AuditQuery) -> AuditPage:
    with core.db.read() as session:
        conditions = _filters(session, shop_id, zone, query)
        rows = session.execute(_select(conditions).limit(query.limit + 1)).all()
        more = len(rows) > query.limit
        entries = _entries(session, shop_id, rows[: query.limit])
    return AuditPage(entries, entries[-1].seq if more and entries else None)


def audit_csv(core: Core, shop_id: int, zone: str, query: AuditQuery) -> Iterator[str]:
    """The export: every event the filters select, newest first, as CSV
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
        if page.next_before is None:
            return
        page = _read_page(
            core, shop_id, zone, replace(query, before=page.next_before, limit=EXPORT_BATCH)
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


def csv_row(entry: AuditEntry, zone: str) -> list[object]:
    """An entry as the export's cells (times on the shop's clock, with the
    offset), before escaping."""
    return [
        entry.seq,
        entry.at.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds"),
        entry.order_id,
        entry.number,
        entry.plate,
        entry.type,
        entry.actor,
        entry.actor_name,
        entry.via,
        entry.device or "",
        json.dumps(entry.details, ensure_ascii=False, sort_keys=True, default=str),
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
