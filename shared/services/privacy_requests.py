"""A customer's request, made at the reception desk, to export or erase their
personal data (PIPL: a copy of one's data, and its deletion).

The customer is found by the car's plate and their phone together: both must
match an order, and a wrong phone finds nothing, exactly as an unknown plate
does, so the desk learns nothing about a car from its plate alone.

- **Export**: every order of that plate and phone (active ones too) with the
  customer's data in it, as one JSON document: who, the car, what was said
  and done, the additional work and the decisions, the survey, the handover
  and follow-up notes, their complaints (what they said, how it was closed),
  photos and signatures (base64), how they agreed to be told (e-mail,
  channels, language, a WeChat binding, an opt-out) and the messages sent
  to them (channel, kind, what became of it, where it went and what it
  said). It is never stored:
  the command that records it runs without an Idempotency-Key, so no first
  answer holding it is kept for replays.
- **Erase**: the delivered and cancelled orders of that plate and phone are
  anonymised at once, as the retention job does it
  (``shared.services.retention.anonymise_orders``). An order still in the
  shop is not: its car is being worked on, and the people working on it
  need the customer's name and phone. With nothing but active orders the
  erase is refused (``order_active``); with both, the closed ones are erased
  and the active ones named in the answer, to be erased once delivered. A
  complaint about an erased order loses its texts with it, open or not: the
  customer asked. An open one stays on the desk to be resolved; its outcome,
  written after, is emptied by the next retention run.

Both are recorded in ``privacy_log`` (who, when, which orders) in the same
transaction; the record holds no personal data.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.domain.plates import normalise_plate
from shared.domain.stages import TERMINAL_STAGES, Stage
from shared.persistence.models import OrderEvent, RepairOrder, Shop
from shared.persistence.notification_models import Notification
from shared.persistence.photo_models import QuotePhoto, QuoteSignature
from shared.persistence.reception_models import Complaint, FollowUpCall, HandoverRecord
from shared.services import retention
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core
from shared.services.rows import part_to_json, quote_to_json, state_from_row

EXPORT_FORMAT = "baylight.customer-data.v1"
PHONE_DIGITS_MIN = 5
PHONE_DIGITS_MAX = 15
# Dialled from abroad, a mainland number carries the country code.
COUNTRY_PREFIXES = ("0086", "86")
MAINLAND_MOBILE_DIGITS = 11


class OrderActive(errors.DomainError):
    """The customer's orders are all still in the shop: nothing to erase yet."""

    code = "order_active"
    status = 409


def phone_digits(raw: str) -> str:
    """A phone number as its digits, without a +86 / 0086 country code, so
    "138 0013 8000", "138-0013-8000" and "+86 13800138000" are one number."""
    digits = "".join(c for c in raw if c.isascii() and c.isdigit())
    for prefix in COUNTRY_PREFIXES:
        if digits.startswith(prefix) and len(digits) == len(prefix) + MAINLAND_MOBILE_DIGITS:
            return digits[len(prefix) :]
    return digits


def _checked_phone(raw: str) -> str:
    digits = phone_digits(raw)
    if not PHONE_DIGITS_MIN <= len(digits) <= PHONE_DIGITS_MAX:
        raise errors.ValidationFailed(
            "phone", _("Enter the phone number the customer gave for the car.")
        )
    return digits


def _not_found() -> errors.NotFound:
    # One answer for an unknown plate and for a known plate with another phone.
    return errors.NotFound(_("No orders of this plate with this phone number."))


def customer_orders(session: Session, shop_id: int, plate: str, phone: str) -> list[RepairOrder]:
    """This shop's orders (oldest first) of the car with this plate whose
    customer gave this phone; anonymised orders have neither any more."""
    canonical = normalise_plate(plate)
    digits = _checked_phone(phone)
    rows = session.execute(
        select(RepairOrder)
        .where(
            RepairOrder.shop_id == shop_id,
            RepairOrder.plate == canonical,
            RepairOrder.anonymised_at.is_(None),
        )
        .order_by(RepairOrder.created_at, RepairOrder.id)
    ).scalars()
    return [row for row in rows if phone_digits(row.customer_phone) == digits]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _closed(row: RepairOrder) -> bool:
    return Stage(row.stage) in TERMINAL_STAGES


def summary(row: RepairOrder) -> dict[str, Any]:
    """An order as the desk lists it for a request: numbers, dates, stage."""
    return {
        "id": row.id,
        "number": row.number,
        "business_day": row.business_day.isoformat(),
        "stage": row.stage,
        "created_at": _iso(row.created_at),
        "closed_at": _iso(row.closed_at),
        "erasable": _closed(row),
    }


def find(core: Core, shop_id: int, plate: str, phone: str) -> dict[str, Any]:
    """The orders a request would cover (none: an empty list), without
    their personal data: the desk shows them before exporting or erasing."""
    with core.db.read() as session:
        return {"orders": [summary(row) for row in customer_orders(session, shop_id, plate, phone)]}


# ------------------------------------------------------------------ export


def _picture(content_type: str, data: bytes, **more: Any) -> dict[str, Any]:
    return {**more, "content_type": content_type, "base64": base64.b64encode(data).decode()}


def _order_export(session: Session, row: RepairOrder, zone: ZoneInfo) -> dict[str, Any]:
    state = state_from_row(row)
    events = session.execute(
        select(OrderEvent.type, OrderEvent.at, OrderEvent.data)
        .where(OrderEvent.order_id == row.id)
        .order_by(OrderEvent.seq)
    ).all()
    # The stage it was opened in (checked in, or booked), then every move.
    timeline = [
        {"stage": data.get("to_stage", data.get("stage")), "at": _iso(at)}
        for kind, at, data in events
        if kind in ("order_created", "stage_changed")
    ]
    handover = session.execute(
        select(HandoverRecord).where(HandoverRecord.order_id == row.id)
    ).scalar_one_or_none()
    calls = session.execute(
        select(FollowUpCall).where(FollowUpCall.order_id == row.id).order_by(FollowUpCall.id)
    ).scalars()
    complaints = session.execute(
        select(Complaint).where(Complaint.order_id == row.id).order_by(Complaint.id)
    ).scalars()
    photos = session.execute(
        select(QuotePhoto).where(QuotePhoto.order_id == row.id).order_by(QuotePhoto.quote_id)
    ).scalars()
    signed = session.execute(
        select(QuoteSignature)
        .where(QuoteSignature.order_id == row.id)
        .order_by(QuoteSignature.quote_id)
    ).scalars()
    return {
        "number": row.number,
        "business_day": row.business_day.isoformat(),
        "stage": row.stage,
        "created_at": _iso(row.created_at),
        "closed_at": _iso(row.closed_at),
        "time_zone": zone.key,
        "plate": row.plate,
        "customer": {"name": row.customer_name, "phone": row.customer_phone},
        "vehicle": {
            "model": row.vehicle_model,
            "vin": row.vehicle_vin,
            "mileage": row.vehicle_mileage,
        },
        "complaint": row.complaint,
        "items": list(row.items),
        "promised_at": _iso(row.promised_at),
        "additional_work": [
            {k: v for k, v in quote_to_json(q).items() if k != "taken_by"} for q in state.quotes
        ],
        "parts": [part_to_json(p) for p in state.parts],
        "survey": None
        if row.survey_rating is None
        else {"rating": row.survey_rating, "comment": row.survey_comment},
        "timeline": timeline,
        "handover": None
        if handover is None
        else {
            "at": _iso(handover.recorded_at),
            "old_parts_shown": handover.old_parts_shown,
            "next_service_date": _iso_date(handover.next_service_date),
            "next_service_mileage": handover.next_service_mileage,
            "note": handover.note,
        },
        "follow_up_calls": [
            {"at": _iso(call.recorded_at), "outcome": call.outcome, "note": call.note}
            for call in calls
        ],
        # What the customer complained of and how it was closed; who in the
        # shop handled it is the shop's own business, as for the calls.
        "complaints": [
            {
                "opened_at": _iso(complaint.opened_at),
                "description": complaint.description,
                "status": complaint.status,
                "resolved_at": _iso(complaint.resolved_at),
                "outcome": complaint.outcome,
            }
            for complaint in complaints
        ],
        "photos": [_picture(p.content_type, p.data, quote_id=p.quote_id) for p in photos],
        "signatures": [_picture(s.content_type, s.data, quote_id=s.quote_id) for s in signed],
        **_messages_export(session, row),
    }


def _messages_export(session: Session, row: RepairOrder) -> dict[str, Any]:
    """How the customer agreed to be told, and every message sent to them
    (issue 17): where it went and what it said are theirs; who in the shop
    wrote a one-off is the shop's own business, as for the calls."""
    messages = session.execute(
        select(Notification).where(Notification.order_id == row.id).order_by(Notification.id)
    ).scalars()
    return {
        "notifications": {
            "email": row.customer_email,
            "channels": list(row.customer_notify or ()),
            "language": row.customer_language,
            "consented_at": _iso(row.notify_consented_at),
            "wechat_bound": bool(row.wechat_openid),
            "opted_out_at": _iso(row.notify_opted_out_at),
        },
        "messages": [
            {
                "channel": message.channel,
                "kind": message.kind,
                "status": message.status,
                "reason": message.reason,
                "created_at": _iso(message.created_at),
                "sent_at": _iso(message.sent_at),
                "recipient": message.recipient,
                "text": message.text or str((message.facts or {}).get("text", "") or ""),
            }
            for message in messages
        ],
    }


def _iso_date(value: Any) -> str | None:
    return value.isoformat() if value else None


def export_customer_data(
    core: Core, request: CommandRequest, plate: str, phone: str
) -> dict[str, Any]:
    """The customer's data as one document (module docstring), recorded as
    an ``export``. The document is read first, outside the writer (a few
    megabytes of pictures need not hold the shop's commands up); then the
    record is written. That command runs without the request's
    Idempotency-Key: a replay would need the document stored, and it must
    not be."""
    now = core.now()
    with core.db.read() as session:
        shop = session.get(Shop, request.shop_id)
        rows = customer_orders(session, request.shop_id, plate, phone) if shop else []
        if shop is None or not rows:
            raise _not_found()
        zone = ZoneInfo(shop.timezone)
        exported = [row.id for row in rows]
        document = {
            "format": EXPORT_FORMAT,
            # On the shop's clock: the file is named after its day.
            "exported_at": now.astimezone(zone).isoformat(),
            "shop": shop.name,
            "orders": [_order_export(session, row, zone) for row in rows],
        }

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        retention.privacy_record(tx, "export", exported)
        return 200, {"exported": exported}

    unkeyed = replace(request, idempotency_key=None, fingerprint=None)
    execute(core, unkeyed, "export_customer_data", work)
    return document


# ------------------------------------------------------------------ erase


def erase_customer_data(core: Core, request: CommandRequest, plate: str, phone: str) -> Outcome:
    """Anonymise the customer's delivered and cancelled orders now (module
    docstring); 200 {erased: [...], active: [...]} without personal data."""
    # Stored answers past their 48 h are forgotten first (the daily job
    # would, at the shop's quiet hour): only the younger ones are looked
    # through and scrubbed, and an older copy must not outlive the erase.
    retention.forget_old_answers(core)
    with core.db.read() as session:
        # Looked up before the write, to find the stored answers that copy
        # their data; the command finds the orders again under the shop's lock.
        closed_before = [
            row.id
            for row in customer_orders(session, request.shop_id, plate, phone)
            if _closed(row)
        ]
    answers = retention.answers_mentioning(core, closed_before)

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        rows = customer_orders(tx.session, tx.locked.id, plate, phone)
        if not rows:
            raise _not_found()
        closed = [row for row in rows if _closed(row)]
        active = [summary(row) for row in rows if not _closed(row)]
        if not closed:
            raise OrderActive(
                _(
                    "The car is still in the shop (queue number %(number)s): its data can "
                    "be erased once it is delivered.",
                    number=", ".join(str(order["number"]) for order in active),
                ),
                active=active,
            )
        erased = [summary(row) for row in closed]
        done = retention.anonymise_orders(tx, closed, answers)
        retention.privacy_record(tx, "erase", done, kept_active=[order["id"] for order in active])
        return 200, {"erased": erased, "active": active}

    outcome = execute(core, request, "erase_customer_data", work)
    # The orders' customer links died with their old tokens: the socket hub
    # re-checks its sockets now (every revocation clears this cache).
    core.principals.clear()
    if not outcome.replayed:
        retention.fold_log(core)
    return outcome
