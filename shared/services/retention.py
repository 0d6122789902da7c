"""Customer-data retention: the daily job that anonymises closed orders once
their shop's retention has passed (issue 14, item 8; PIPL: personal data kept
no longer than needed), and the anonymiser the desk's erase shares.

What is replaced and what is kept is the domain's (``shared.domain.retention``).
For each order this module

- replaces the customer's data on the order row and inside every event of its
  log: the log keeps its ``seq``, types, times and order ids, so reports and
  the replay of the log still add up, and the fold of the anonymised events
  is the anonymised row;
- deletes its photos and signatures, and empties the notes kept around it
  (handover, follow-up calls, re-issued links);
- empties the customer's contact for messages (e-mail, WeChat openid) and
  each message's recipient and text, the advisor's one-off words among
  them (issue 17); a message still queued is suppressed as stale. What was
  sent when, on which channel, and what became of it stays: the shop's
  figures;
- empties its complaints' texts (the customer's words, the outcome) in their
  rows and in their own event log, keeping status, owner, times and who
  (``rules.anonymise_complaint``);
- gives it a new customer token that nobody holds (the old link dies; links
  of closed orders stop working a day after closing anyway);
- replaces the same data in the stored first answers to Idempotency-Keys
  that mention the order (kept 48 h for replays), so no copy outlives it;
- sets ``anonymised_at``: an order is anonymised once, and running the job
  again changes nothing.

An order with a complaint still open is held back: its owner still has to
call the customer back. The first run after the complaint is resolved
anonymises it. A complaint resolved after its order was anonymised (the
customer asked for erasure at the desk while it was open) gets its outcome
emptied by the shop's next run (``forget_complaint_texts``): an anonymised
order's complaints hold no text.

Writes go through ``commands.execute`` (the shop's row locked, the group
committer's writer) in batches of ``BATCH_ORDERS``, so a shop with years of
history never holds the writer for long; the screens' commands get it
between two batches. The job writes no event and emits nothing: a closed
order is on no screen (boards and the lounge show active orders, a
customer's link is dead a day after closing), and an event would tell every
screen about a change none of them shows. On SQLite the writes run with
``secure_delete`` on, so the replaced values and the deleted pictures are
overwritten in the file rather than left in its free pages, where a backup
made afterwards would copy them.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import Session

from shared.domain import complaints as complaint_rules
from shared.domain import notifications as notify_rules
from shared.domain import retention as rules
from shared.domain.order import Actor, OrderState
from shared.domain.stages import TERMINAL_STAGES, Role
from shared.persistence.appointment_models import Appointment, AppointmentEvent, BookingCode
from shared.persistence.models import IdempotencyRecord, OrderEvent, RepairOrder, Shop
from shared.persistence.notification_models import Notification
from shared.persistence.off_hub import run_off_hub
from shared.persistence.photo_models import QuotePhoto, QuoteSignature
from shared.persistence.reception_models import (
    Complaint,
    ComplaintEvent,
    CustomerLinkIssue,
    FollowUpCall,
    HandoverRecord,
)
from shared.persistence.retention_models import PrivacyLog
from shared.services import shop_settings
from shared.services.commands import IDEMPOTENCY_TTL, CommandRequest, Transaction, execute
from shared.services.core import Core
from shared.services.orders import new_customer_token
from shared.services.rows import state_from_row, write_state
from shared.services.views import mask_plate

log = logging.getLogger(__name__)

# Who anonymises on schedule: the shop's retention clock, not a person.
RETENTION_CLOCK = Actor(
    name="retention clock", roles=frozenset({Role.SYSTEM}), ref="system:retention"
)
# Orders per write transaction: a few tens of milliseconds of the writer.
BATCH_ORDERS = 50
CLOSED_STAGES = tuple(sorted(stage.value for stage in TERMINAL_STAGES))
# Identity values found inside longer texts too (a refusal's detail naming
# the plate); shorter ones only as whole values, so "110" never eats a price.
SUBSTRING_MINIMUM = 5


# ------------------------------------------------------------------ what is due


@dataclass(frozen=True)
class DueOrder:
    """A closed order past its shop's retention, as the dry run lists it:
    numbers and dates only, never the customer's data."""

    id: int
    number: int
    business_day: date
    stage: str
    closed_on: date


@dataclass
class ShopPlan:
    """One shop's retention and the orders it would anonymise now."""

    shop_id: int
    slug: str
    name: str
    timezone: str
    days: int
    cutoff: datetime
    orders: list[DueOrder] = field(default_factory=list)


def _shop_plan(session: Session, shop: Shop, now: datetime) -> ShopPlan:
    days = shop_settings.retention_days(shop.settings or {})
    cut = rules.cutoff(now, days)
    zone = ZoneInfo(shop.timezone)
    found = session.execute(
        select(
            RepairOrder.id,
            RepairOrder.number,
            RepairOrder.business_day,
            RepairOrder.stage,
            RepairOrder.closed_at,
        )
        .where(*_due(shop.id, cut))
        .order_by(RepairOrder.closed_at, RepairOrder.id)
    ).all()
    # closed_at is never None here: the query asks for it before the cut-off.
    orders = [
        DueOrder(order_id, number, day, stage, (closed or cut).astimezone(zone).date())
        for order_id, number, day, stage, closed in found
    ]
    return ShopPlan(shop.id, shop.slug, shop.name, shop.timezone, days, cut, orders)


def _due(shop_id: int, cut: datetime) -> tuple[Any, ...]:
    """Closed (delivered or cancelled) before the cut-off, not yet
    anonymised, and no complaint about it still open."""
    open_complaint = exists().where(
        Complaint.order_id == RepairOrder.id, Complaint.status == complaint_rules.OPEN
    )
    return (
        RepairOrder.shop_id == shop_id,
        RepairOrder.stage.in_(CLOSED_STAGES),
        RepairOrder.anonymised_at.is_(None),
        RepairOrder.closed_at < cut,
        ~open_complaint,
    )


def plan(core: Core, shop_ids: Sequence[int] | None = None) -> list[ShopPlan]:
    """What a run would anonymise now, per shop (every shop unless named).
    Reads only: this is the dry run."""
    now = core.now()
    with core.db.read() as session:
        query = select(Shop).order_by(Shop.id)
        if shop_ids is not None:
            query = query.where(Shop.id.in_(list(shop_ids)))
        return [_shop_plan(session, shop, now) for shop in session.execute(query).scalars()]


# ------------------------------------------------------------------ the anonymiser


@contextmanager
def secure_delete(session: Session) -> Iterator[None]:
    """SQLite overwrites what the statements inside delete or replace,
    instead of leaving it in free space in the file (PRAGMA secure_delete);
    the connection's own setting is restored after."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA secure_delete").scalar()
    connection.exec_driver_sql("PRAGMA secure_delete = 1")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA secure_delete = {int(before or 0)}")


@dataclass
class _Replacements:
    """What one order's data becomes wherever a copy of it is found: whole
    values, and identity values that are also replaced inside longer texts."""

    whole: dict[str, str] = field(default_factory=dict)
    inside: dict[str, str] = field(default_factory=dict)

    def add(self, value: object, replacement: str = "", *, identity: bool = False) -> None:
        if not isinstance(value, str) or not value or value == replacement:
            return
        self.whole[value] = replacement
        if identity and len(value) >= SUBSTRING_MINIMUM:
            self.inside[value] = replacement

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            if value in self.whole:
                return self.whole[value]
            for old, new in self.inside.items():
                if old in value:
                    value = value.replace(old, new)
            return value
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        return value


def mentioned_orders(body: Any) -> set[int]:
    """The orders a stored answer carries data of: an order's view (an object
    with its ``id`` and its ``plate`` or ``customer_url``) or an answer about
    one (``order_id``; its ``id`` is then its own, a complaint's), at any
    depth."""
    found: set[int] = set()
    if isinstance(body, dict):
        other = body.get("order_id")
        if isinstance(other, int):
            found.add(other)
        else:
            order_id = body.get("id")
            if isinstance(order_id, int) and ("plate" in body or "customer_url" in body):
                found.add(order_id)
        for value in body.values():
            found |= mentioned_orders(value)
    elif isinstance(body, list):
        for value in body:
            found |= mentioned_orders(value)
    return found


def answers_mentioning(core: Core, order_ids: Sequence[int]) -> dict[int, list[int]]:
    """Stored first answers (Idempotency-Key records, kept 48 h) that carry
    data of these orders: order id → record ids. Read before the write, so
    the writer is not held while they are looked through."""
    wanted = set(order_ids)
    if not wanted:
        return {}
    since = core.now() - IDEMPOTENCY_TTL
    found: dict[int, list[int]] = {}
    with core.db.read() as session:
        records = session.execute(
            select(IdempotencyRecord.id, IdempotencyRecord.body).where(
                IdempotencyRecord.created_at >= since
            )
        )
        for record_id, body in records:
            for order_id in mentioned_orders(body) & wanted:
                found.setdefault(order_id, []).append(record_id)
    return found


def anonymise_orders(
    tx: Transaction, rows: Sequence[RepairOrder], answers: Mapping[int, Sequence[int]]
) -> list[int]:
    """Anonymise these orders (closed, not yet anonymised: the caller checked
    under the shop's lock) as the module docstring says; their ids."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    session = tx.session
    events: dict[int, list[OrderEvent]] = {}
    for event in session.execute(
        select(OrderEvent).where(OrderEvent.order_id.in_(ids)).order_by(OrderEvent.seq)
    ).scalars():
        events.setdefault(event.order_id, []).append(event)
    notes = _notes_around(session, ids)
    complaints = _complaints_of(session, ids)
    messages = _messages_of(session, ids)
    with secure_delete(session):
        for row in rows:
            masked = mask_plate(row.plate)
            found = _Replacements()
            found.add(row.plate, masked, identity=True)
            found.add(row.customer_phone, identity=True)
            found.add(row.vehicle_vin, identity=True)
            found.add(row.customer_email, identity=True)
            found.add(row.wechat_openid, identity=True)
            row.customer_email = ""
            row.wechat_openid = ""
            for message in messages.get(row.id, ()):
                _anonymise_message(message, found, tx.now)
            for event in events.get(row.id, ()):
                for text in rules.personal_texts(event.type, event.data):
                    found.add(text, masked if text == row.plate else "")
                changed = rules.anonymise_event_data(event.type, event.data, masked)
                if changed != event.data:
                    # A new dict: the JSON column notices reassignment.
                    event.data = changed
            state = state_from_row(row)
            for text in _state_texts(state):
                found.add(text)
            for text in notes.get(row.id, ()):
                found.add(text)
            for complaint, complaint_events in complaints.get(row.id, ()):
                _anonymise_complaint(complaint, complaint_events, found)
            write_state(row, rules.anonymise_state(state, masked))
            token = new_customer_token()
            found.add(row.customer_token, token, identity=True)
            row.customer_token = token
            row.anonymised_at = tx.now
            _scrub_answers(session, answers.get(row.id, ()), found)
        session.execute(delete(QuotePhoto).where(QuotePhoto.order_id.in_(ids)))
        session.execute(delete(QuoteSignature).where(QuoteSignature.order_id.in_(ids)))
        session.execute(
            update(HandoverRecord).where(HandoverRecord.order_id.in_(ids)).values(note="")
        )
        session.execute(update(FollowUpCall).where(FollowUpCall.order_id.in_(ids)).values(note=""))
        session.execute(
            update(CustomerLinkIssue).where(CustomerLinkIssue.order_id.in_(ids)).values(reason="")
        )
        _anonymise_orders_appointments(session, ids, tx.now)
        session.flush()
    return ids


def _state_texts(state: OrderState) -> list[str]:
    """Free texts of the order as stored (the events hold the same, but an
    order written before a field was in its events keeps it only here)."""
    texts = [state.customer_name, state.complaint, state.survey_comment, state.promise_reason]
    texts += [item.title for item in state.items]
    texts += [quote.description for quote in state.quotes]
    texts += [part.description for part in state.parts]
    texts += [reason.note for reason in state.pause_reasons]
    return [text for text in texts if text]


def _messages_of(session: Session, ids: Sequence[int]) -> dict[int, list[Notification]]:
    """The orders' messages to their customers (the outbox rows)."""
    found: dict[int, list[Notification]] = {}
    for message in session.execute(
        select(Notification).where(Notification.order_id.in_(ids)).order_by(Notification.id)
    ).scalars():
        if message.order_id is not None:
            found.setdefault(message.order_id, []).append(message)
    return found


def _anonymise_message(message: Notification, found: _Replacements, now: datetime) -> None:
    """Empty what a message holds of the customer: where it went, what it
    said (the advisor's one-off words too); ``found`` learns them, for the
    stored answers that copy them. Channel, kind, times and what became of
    it stay. One still waiting is not sent any more."""
    one_off = str((message.facts or {}).get("text", "") or "")
    found.add(message.recipient, identity=True)
    found.add(message.text)
    found.add(one_off)
    if message.recipient:
        message.recipient = ""
    if message.text:
        message.text = ""
    if one_off:
        message.facts = {**message.facts, "text": ""}
    if message.status == notify_rules.QUEUED:
        message.status = notify_rules.SUPPRESSED
        message.reason = notify_rules.STALE
        message.updated_at = now


def _notes_around(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    """The notes kept beside the orders (handover, follow-up calls, link re-issues)."""
    found: dict[int, list[str]] = {}
    queries = (
        select(HandoverRecord.order_id, HandoverRecord.note).where(
            HandoverRecord.order_id.in_(ids)
        ),
        select(FollowUpCall.order_id, FollowUpCall.note).where(FollowUpCall.order_id.in_(ids)),
        select(CustomerLinkIssue.order_id, CustomerLinkIssue.reason).where(
            CustomerLinkIssue.order_id.in_(ids)
        ),
    )
    for query in queries:
        for order_id, text in session.execute(query):
            if text:
                found.setdefault(order_id, []).append(text)
    return found


def _complaints_of(
    session: Session, ids: Sequence[int]
) -> dict[int, list[tuple[Complaint, list[ComplaintEvent]]]]:
    """The complaints about the orders, each with its event log."""
    rows = session.execute(
        select(Complaint).where(Complaint.order_id.in_(ids)).order_by(Complaint.id)
    ).scalars()
    logs: dict[int, list[ComplaintEvent]] = {}
    found: dict[int, list[tuple[Complaint, list[ComplaintEvent]]]] = {}
    wanted = list(rows)
    if not wanted:
        return found
    for event in session.execute(
        select(ComplaintEvent)
        .where(ComplaintEvent.complaint_id.in_([row.id for row in wanted]))
        .order_by(ComplaintEvent.id)
    ).scalars():
        logs.setdefault(event.complaint_id, []).append(event)
    for row in wanted:
        found.setdefault(row.order_id, []).append((row, logs.get(row.id, [])))
    return found


def _anonymise_complaint(
    row: Complaint, events: Sequence[ComplaintEvent], found: _Replacements
) -> None:
    """Empty a complaint's texts in its row and its log (``found`` learns
    them, for the stored answers that copy them); the rest stays."""
    for event in events:
        for text in rules.complaint_personal_texts(event.type, event.data):
            found.add(text)
        changed = rules.anonymise_complaint_event_data(event.type, event.data)
        if changed != event.data:
            event.data = changed
    found.add(row.description)
    found.add(row.outcome)
    row.description = ""
    row.outcome = ""


def _scrub_answers(session: Session, record_ids: Sequence[int], found: _Replacements) -> None:
    for record_id in record_ids:
        record = session.get(IdempotencyRecord, record_id)
        if record is None:
            continue  # forgotten meanwhile
        scrubbed = found.scrub(record.body)
        if scrubbed != record.body:
            record.body = scrubbed


def privacy_record(
    tx: Transaction, kind: str, order_ids: Sequence[int], **details: Any
) -> PrivacyLog:
    """The record of one handling of personal data (``PrivacyLog``), in the
    command's transaction: no anonymisation or export without it."""
    record = PrivacyLog(
        shop_id=tx.locked.id,
        kind=kind,
        order_ids=list(order_ids),
        actor=(tx.actor.ref or tx.actor.name)[:200],
        actor_name=tx.actor.name[:100],
        at=tx.now,
        details=details,
    )
    tx.session.add(record)
    return record


# ------------------------------------------------------------------ the run


@dataclass
class ShopRun:
    """What one run did in one shop."""

    shop_id: int
    slug: str
    days: int
    anonymised: list[int] = field(default_factory=list)
    batches: int = 0
    # Complaints resolved after their order was anonymised, their texts emptied.
    complaints: list[int] = field(default_factory=list)
    # Appointments past the retention whose customer's data was emptied.
    appointments: list[int] = field(default_factory=list)


def _batch(
    core: Core, shop_id: int, order_ids: Sequence[int], answers: Mapping[int, Sequence[int]]
) -> list[int]:
    """One write: these orders, each checked again under the shop's lock
    (an order may have been erased at the desk, or the retention lengthened,
    since the plan was read)."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        days = shop_settings.retention_days(tx.shop.settings or {})
        cut = rules.cutoff(tx.now, days)
        rows = (
            tx.session.execute(
                select(RepairOrder)
                .where(RepairOrder.id.in_(list(order_ids)), *_due(tx.locked.id, cut))
                .order_by(RepairOrder.id)
            )
            .scalars()
            .all()
        )
        done = anonymise_orders(tx, rows, answers)
        if done:
            privacy_record(tx, "retention", done, days=days, cutoff=cut.isoformat())
        return 200, {"anonymised": done}

    outcome = execute(core, CommandRequest(RETENTION_CLOCK, shop_id), "anonymise_orders", work)
    return list(outcome.body["anonymised"])


def anonymise_due(
    core: Core,
    shop_id: int,
    *,
    batch_size: int = BATCH_ORDERS,
    pause: Callable[[], object] | None = None,
) -> ShopRun:
    """Anonymise every order of one shop past its retention, a batch per
    write; ``pause`` runs between two batches (the server's timer yields
    there, so the shop's screens are served meanwhile)."""
    (shop_plan,) = plan(core, [shop_id])
    result = ShopRun(shop_id, shop_plan.slug, shop_plan.days)
    result.complaints = forget_complaint_texts(core, shop_id)
    result.appointments = anonymise_appointments(core, shop_id, batch_size=batch_size)
    due = [order.id for order in shop_plan.orders]
    if not due:
        return result
    answers = answers_mentioning(core, due)
    for start in range(0, len(due), batch_size):
        if start and pause is not None:
            pause()
        result.anonymised += _batch(core, shop_id, due[start : start + batch_size], answers)
        result.batches += 1
    return result


def _due_appointments(shop_id: int, cut: datetime) -> Any:
    """Appointments of the shop whose day lies before the cut-off, not yet
    anonymised (whatever became of them: the day is past either way)."""
    return (
        select(Appointment.id)
        .where(
            Appointment.shop_id == shop_id,
            Appointment.anonymised_at.is_(None),
            Appointment.start < cut,
        )
        .order_by(Appointment.start, Appointment.id)
    )


def _anonymise_appointment(session: Session, row: Appointment, now: datetime) -> None:
    """Empty an appointment's customer's data as an order's is (name,
    phone, e-mail, plate, VIN, the customer's words, the work's titles, a
    cancellation's reason), in its row, its log (a reason; an online
    booker's phone in the actor, ``online:<shop>:<phone>``) and its
    reminders' recipient and text; a new token nobody holds. Times, status
    and hours stay."""
    row.plate = mask_plate(row.plate) if row.plate else ""
    row.customer_name = ""
    row.customer_phone = ""
    row.customer_email = ""
    row.customer_notify = []
    row.vehicle_model = ""
    row.vehicle_vin = ""
    row.vehicle_mileage = None
    row.complaint = ""
    row.cancel_reason = ""
    row.items = rules.anonymise_items(row.items)
    row.token = new_customer_token()
    row.anonymised_at = now
    for event in session.execute(
        select(AppointmentEvent).where(AppointmentEvent.appointment_id == row.id)
    ).scalars():
        if "reason" in (event.data or {}):
            event.data = {**event.data, "reason": ""}
        event.actor = _without_phone(event.actor)
    session.execute(
        update(Notification)
        .where(
            Notification.shop_id == row.shop_id,
            Notification.order_id.is_(None),
            Notification.kind == notify_rules.REMINDER,
            Notification.facts["appointment_id"].as_integer() == row.id,
        )
        .values(recipient="", text="", updated_at=now)
    )


def _without_phone(actor: str) -> str:
    """An appointment event's actor without the booker's phone: the public
    page's booker is ``online:<shop>:<phone>`` (``online:<shop>:`` stays:
    that it was booked online is not personal)."""
    if actor.startswith("online:"):
        return ":".join(actor.split(":")[:2]) + ":"
    return actor


def _anonymise_orders_appointments(session: Session, ids: Sequence[int], now: datetime) -> None:
    """The appointments that became these orders (checked in), emptied with
    them: the order's erasure must not leave the customer in the booking."""
    for row in session.execute(
        select(Appointment).where(
            Appointment.order_id.in_(list(ids)), Appointment.anonymised_at.is_(None)
        )
    ).scalars():
        _anonymise_appointment(session, row, now)


def anonymise_appointments(
    core: Core, shop_id: int, *, batch_size: int = BATCH_ORDERS
) -> list[int]:
    """Anonymise the shop's appointments past its retention (by their day),
    a batch per write, and forget the public page's phone codes (and their
    messages' phone and code) older than a day. Their ids."""
    now = core.now()
    with core.db.read() as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            return []
        cut = rules.cutoff(now, shop_settings.retention_days(shop.settings or {}))
        due = list(session.execute(_due_appointments(shop_id, cut)).scalars())
    done: list[int] = []
    for start in range(0, max(len(due), 1), batch_size):
        ids = due[start : start + batch_size]

        def work(tx: Transaction, ids: Sequence[int] = ids) -> tuple[int, dict[str, Any]]:
            days = shop_settings.retention_days(tx.shop.settings or {})
            cut = rules.cutoff(tx.now, days)
            rows = (
                tx.session.execute(
                    select(Appointment).where(
                        Appointment.id.in_(list(ids)),
                        Appointment.id.in_(_due_appointments(tx.locked.id, cut)),
                    )
                )
                .scalars()
                .all()
            )
            with secure_delete(tx.session):
                for row in rows:
                    _anonymise_appointment(tx.session, row, tx.now)
                _forget_codes(tx.session, tx.locked.id, tx.now)
                tx.session.flush()
            return 200, {"appointments": sorted(r.id for r in rows)}

        outcome = execute(
            core, CommandRequest(RETENTION_CLOCK, shop_id), "anonymise_appointments", work
        )
        done += list(outcome.body["appointments"])
    return done


# The public page's codes are kept a day after they were sent (abuse is
# looked at the next morning), then forgotten with their phone.
CODES_KEPT = timedelta(days=1)


def _forget_codes(session: Session, shop_id: int, now: datetime) -> None:
    cut = now - CODES_KEPT
    old = list(
        session.execute(
            select(BookingCode.id).where(
                BookingCode.shop_id == shop_id, BookingCode.created_at < cut
            )
        ).scalars()
    )
    if not old:
        return
    session.execute(
        update(Notification)
        .where(
            Notification.shop_id == shop_id,
            Notification.order_id.is_(None),
            Notification.kind == notify_rules.BOOKING_CODE,
            Notification.created_at < cut,
        )
        .values(recipient="", text="", facts={}, updated_at=now)
    )
    session.execute(delete(BookingCode).where(BookingCode.id.in_(old)))


def _late_complaints(shop_id: int) -> Any:
    """The shop's complaints with text whose order is anonymised already."""
    return (
        select(Complaint.id, Complaint.order_id)
        .join(RepairOrder, RepairOrder.id == Complaint.order_id)
        .where(
            Complaint.shop_id == shop_id,
            RepairOrder.anonymised_at.is_not(None),
            or_(Complaint.description != "", Complaint.outcome != ""),
        )
        .order_by(Complaint.id)
    )


def forget_complaint_texts(core: Core, shop_id: int) -> list[int]:
    """Empty the texts of complaints whose order is anonymised already: one
    still open when its customer's data was erased at the desk, resolved
    since with an outcome. Their ids (none: nothing was written)."""
    with core.db.read() as session:
        late = session.execute(_late_complaints(shop_id)).all()
    if not late:
        return []
    answers = answers_mentioning(core, sorted({order_id for _id, order_id in late}))

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        found_late = tx.session.execute(_late_complaints(tx.locked.id)).all()
        order_ids = sorted({order_id for _id, order_id in found_late})
        if not order_ids:
            return 200, {"complaints": []}
        complaints = _complaints_of(tx.session, order_ids)
        wanted = {complaint_id for complaint_id, _order in found_late}
        done: list[int] = []
        with secure_delete(tx.session):
            for order_id in order_ids:
                found = _Replacements()
                for row, events in complaints.get(order_id, ()):
                    if row.id in wanted:
                        _anonymise_complaint(row, events, found)
                        done.append(row.id)
                _scrub_answers(tx.session, answers.get(order_id, ()), found)
            tx.session.flush()
        privacy_record(tx, "retention", order_ids, complaints=sorted(done))
        return 200, {"complaints": sorted(done)}

    outcome = execute(
        core, CommandRequest(RETENTION_CLOCK, shop_id), "forget_complaint_texts", work
    )
    return list(outcome.body["complaints"])


def forget_old_answers(core: Core) -> int:
    """Forget the stored first answers older than the 48 h they are kept for
    replays (``commands.IDEMPOTENCY_TTL``): they hold copies of order views,
    names and phones included. Like ``commands.purge_idempotency_records``,
    with SQLite overwriting what it deletes. Returns how many."""
    cut = core.now() - IDEMPOTENCY_TTL
    with core.db.write() as session, secure_delete(session):
        result = session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cut)
        )
        return int(getattr(result, "rowcount", 0) or 0)


# How long the log's fold waits for readers still on an older snapshot.
FOLD_WAIT_SECONDS = 10.0


def fold_log(core: Core) -> bool:
    """SQLite: fold the write-ahead log into the database file and empty it
    (``wal_checkpoint(TRUNCATE)``). Until then the file still holds the
    pages as they were before the data was replaced, and the log older
    copies of them; SQLite would fold it by itself only after more writes.
    It waits for readers still on an older snapshot, so it runs on a real
    thread (``run_off_hub``), with a connection of its own. Whether the log
    was emptied; a busy database is left to SQLite's own checkpoints."""
    if not core.db.is_sqlite or core.db.url.database in (None, "", ":memory:"):
        return False
    path = core.db.url.database

    def fold() -> bool:
        connection = sqlite3.connect(path, timeout=FOLD_WAIT_SECONDS)
        try:
            busy, _frames, _folded = connection.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ).fetchone()
            return not busy
        finally:
            connection.close()

    try:
        return run_off_hub(fold)
    except sqlite3.Error:
        log.warning("folding the write-ahead log failed", exc_info=True)
        return False


def run_retention(
    core: Core,
    shop_ids: Sequence[int] | None = None,
    *,
    pause: Callable[[], object] | None = None,
) -> list[ShopRun]:
    """The daily job: old stored answers forgotten, then every shop (or the
    ones named) anonymised as far as its retention says, then the
    write-ahead log folded (``fold_log``) if anything was."""
    forget_old_answers(core)
    if shop_ids is None:
        with core.db.read() as session:
            shop_ids = list(session.execute(select(Shop.id).order_by(Shop.id)).scalars())
    runs = [anonymise_due(core, shop_id, pause=pause) for shop_id in shop_ids]
    if any(run.anonymised or run.complaints or run.appointments for run in runs):
        fold_log(core)
    return runs


# ------------------------------------------------------------------ the timer

# The first run, shortly after the server starts: once the screens that
# reconnect after a restart have had the writer.
START_DELAY_SECONDS = 120.0
# How often the timer looks whether a shop's quiet hour has come.
POLL_SECONDS = 300.0


class RetentionTimer:
    """The server's daily retention job (``run``, a background task):
    every shop once shortly after the server starts, then once a day when
    the shop's own clock passes ``QUIET_HOUR`` (03:00), each shop in its
    time zone. Never in a request. Two server processes may both run it:
    each order is anonymised once, under its shop's lock."""

    def __init__(
        self,
        core: Core,
        sleep: Callable[[float], object],
        *,
        start_delay: float = START_DELAY_SECONDS,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.core = core
        self.sleep = sleep
        self.start_delay = start_delay
        self.poll = poll
        self.last_run: dict[int, datetime] = {}

    def due(self) -> list[int]:
        """The shops whose daily run is due now (``rules.run_due``)."""
        now = self.core.now()
        with self.core.db.read() as session:
            shops = session.execute(select(Shop.id, Shop.timezone).order_by(Shop.id)).all()
        return [
            shop_id
            for shop_id, timezone in shops
            if rules.run_due(self.last_run.get(shop_id), now, ZoneInfo(timezone))
        ]

    def run_once(self) -> list[ShopRun]:
        """One look: run every due shop. A failing shop is logged and tried
        again at the next look; the others go on."""
        due = self.due()
        if not due:
            return []
        done: list[ShopRun] = []
        try:
            forget_old_answers(self.core)
        except Exception:
            log.warning("forgetting old stored answers failed", exc_info=True)
        for shop_id in due:
            started = self.core.now()
            try:
                outcome = anonymise_due(self.core, shop_id, pause=lambda: self.sleep(0))
            except Exception:
                log.warning("the retention run of shop %s failed", shop_id, exc_info=True)
                continue
            self.last_run[shop_id] = started
            done.append(outcome)
            if outcome.anonymised:
                log.info(
                    "retention: %s orders of shop %s anonymised",
                    len(outcome.anonymised),
                    outcome.slug,
                )
        if any(outcome.anonymised or outcome.complaints for outcome in done):
            fold_log(self.core)
        return done

    def run(self) -> None:
        """The background task (``socketio.sleep`` as ``sleep``, so it
        cooperates in every async mode)."""
        self.sleep(self.start_delay)
        while True:
            try:
                self.run_once()
            except Exception:
                log.warning("the retention timer failed; trying again later", exc_info=True)
            self.sleep(self.poll)
