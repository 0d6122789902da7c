"""Reception desk services: returning cars, the suggested promised
time, the customer's link (re-issue when a ticket is lost), what the ticket and
the customer's page show, and the 3-day follow-up call list.

Writes go through ``commands.execute`` like every order command, so they are
idempotent per Idempotency-Key and serialised under the shop's row lock.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.domain import errors
from shared.domain.plates import normalise_plate
from shared.domain.stages import Stage
from shared.persistence.models import RepairOrder, Shop, StaffUser
from shared.persistence.reception_models import CustomerLinkIssue, FollowUpCall
from shared.services import complaints, links, shop_settings
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core
from shared.services.orders import new_customer_token

HISTORY_LIMIT = 20
# Seed 000: a car that comes 4 or more times a year is a "quality customer".
QUALITY_VISITS_PER_YEAR = 4
FOLLOW_UP_AFTER_DAYS = 3
# Delivered orders older than this drop off the list, called or not.
FOLLOW_UP_WINDOW_DAYS = 30
LOW_SCORE = 3
COMPLAINT = "complaint"
OUTCOMES = ("reached", "no_answer", "call_back", COMPLAINT)
# Outcomes after which the order stays on the list for another try.
RETRY_OUTCOMES = frozenset({"no_answer", "call_back"})
MAX_NOTE = 1000


def shop_zone(session: Session, shop_id: int) -> ZoneInfo:
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise errors.NotFound(f"No shop {shop_id}.")
    return ZoneInfo(shop.timezone)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def clean_note(value: str, field: str = "note") -> str:
    """Trimmed free text for notes and reasons; control characters refused
    (they would end up on printed lists and in terminals)."""
    cleaned = value.strip()
    if len(cleaned) > MAX_NOTE:
        raise errors.ValidationFailed(field, f"{field} is longer than {MAX_NOTE} characters.")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in cleaned):
        raise errors.ValidationFailed(field, f"{field} contains control characters.")
    return cleaned


# ------------------------------------------------------------- returning cars


def _visit(row: RepairOrder) -> dict[str, Any]:
    return {
        "id": row.id,
        "number": row.number,
        "business_day": row.business_day.isoformat(),
        "stage": row.stage,
        "created_at": _iso(row.created_at),
        "closed_at": _iso(row.closed_at),
        "mileage": row.vehicle_mileage,
        "complaint": row.complaint,
        "items": [item["title"] for item in row.items],
        "declined": [q["description"] for q in row.quotes if q.get("status") == "declined"],
        "survey_rating": row.survey_rating,
    }


def vehicle_history(core: Core, shop_id: int, plate: str) -> dict[str, Any]:
    """A returning car by its normalised plate: the last customer details to
    pre-fill the form, and its past orders in this shop (newest first)."""
    canonical = normalise_plate(plate)
    now = core.now()
    with core.db.read() as session:
        rows = (
            session.execute(
                select(RepairOrder)
                .where(RepairOrder.shop_id == shop_id, RepairOrder.plate == canonical)
                .order_by(RepairOrder.created_at.desc(), RepairOrder.id.desc())
                .limit(HISTORY_LIMIT)
            )
            .scalars()
            .all()
        )
        visits = session.execute(
            select(func.count())
            .select_from(RepairOrder)
            .where(RepairOrder.shop_id == shop_id, RepairOrder.plate == canonical)
        ).scalar_one()
        # Built inside the session: a read session's rows expire when it closes.
        last_year = [r for r in rows if r.created_at >= now - timedelta(days=365)]
        latest = rows[0] if rows else None
        return {
            "plate": canonical,
            "returning": latest is not None,
            "visits": int(visits),
            "quality_customer": len(last_year) >= QUALITY_VISITS_PER_YEAR,
            "last": None
            if latest is None
            else {
                "customer": {"name": latest.customer_name, "phone": latest.customer_phone},
                "vehicle": {
                    "model": latest.vehicle_model,
                    "vin": latest.vehicle_vin,
                    "mileage": latest.vehicle_mileage,
                },
            },
            "orders": [_visit(r) for r in rows],
        }


# ------------------------------------------------------------- customer link


def reissue_customer_token(
    core: Core, request: CommandRequest, order_id: int, *, reason: str = ""
) -> Outcome:
    """A new capability token for the customer (lost or forwarded ticket). The
    old one stops working at once: it was the order's only token. Audited in
    ``customer_link_issue``; a replayed Idempotency-Key returns the same link."""
    reason = clean_note(reason, "reason")[:200]

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        row.customer_token = new_customer_token()
        tx.session.add(
            CustomerLinkIssue(
                shop_id=tx.locked.id,
                order_id=row.id,
                reason=reason,
                issued_by=tx.actor.ref or tx.actor.name,
                issued_at=tx.now,
            )
        )
        return 200, {"id": row.id, "customer_url": tx.view(row)["customer_url"]}

    outcome = execute(core, request, "reissue_customer_token", work)
    # The old link is revoked: the socket hub re-checks its sockets now (every
    # revocation clears the credential cache, which is the hub's signal).
    core.principals.clear()
    return outcome


# ------------------------------------------------------------- ticket and page


@dataclass(frozen=True)
class Contact:
    """Whom the customer calls: the advisor who opened the order, else the shop."""

    name: str
    phone: str


def _contact(session: Session, row: RepairOrder, shop: Shop) -> Contact:
    """The advisor by the name customers know them by (display name), and
    their phone, else the shop's hotline."""
    settings = shop.settings or {}
    hotline = shop_settings.hotline(settings) or str(settings.get("phone", ""))
    if row.advisor_id is not None:
        advisor = session.get(StaffUser, row.advisor_id)
        if advisor is not None:
            return Contact(advisor.display_name or advisor.name, advisor.phone or hotline)
    return Contact("", hotline)


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


def ticket(core: Core, shop_id: int, order_id: int) -> dict[str, Any]:
    """What the printed job ticket shows; times in the shop's time zone."""
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        shop = session.get(Shop, shop_id)
        if row is None or shop is None or row.shop_id != shop_id:
            raise errors.NotFound(f"No order {order_id}.")
        zone = ZoneInfo(shop.timezone)
        contact = _contact(session, row, shop)
        return {
            "id": row.id,
            "number": row.number,
            "business_day": row.business_day.isoformat(),
            "plate": row.plate,
            "vehicle_model": row.vehicle_model,
            "customer_name": row.customer_name,
            "promised_at": _local(row.promised_at, zone),
            "created_at": _local(row.created_at, zone),
            "waiting": row.waiting,
            "wash": row.wash,
            "work_items": [item["title"] for item in row.items],
            "advisor_name": contact.name,
            "advisor_phone": contact.phone,
            "shop_name": shop.name,
            "customer_url": f"{links.base_url(core.settings)}/t/{row.customer_token}",
        }


def customer_page(core: Core, order_id: int) -> dict[str, Any]:
    """What the customer's page renders around the live order: the car, the
    shop, whom to call, the shop's time zone for times, and whether the survey
    is done. Never the customer's own name or phone (a forwarded link must not
    leak them)."""
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        shop = session.get(Shop, row.shop_id) if row is not None else None
        if row is None or shop is None:
            raise errors.NotFound(f"No order {order_id}.")
        contact = _contact(session, row, shop)
        return {
            "number": row.number,
            "plate": row.plate,
            "vehicle_model": row.vehicle_model,
            "shop_name": shop.name,
            "timezone": shop.timezone,
            "advisor_name": contact.name,
            "advisor_phone": contact.phone,
            "surveyed": row.survey_rating is not None,
        }


# ------------------------------------------------------------- follow-up calls


def _reasons(row: RepairOrder, today: date, zone: ZoneInfo) -> list[str]:
    reasons = []
    if row.closed_at is not None:
        days = (today - row.closed_at.astimezone(zone).date()).days
        if days >= FOLLOW_UP_AFTER_DAYS:
            reasons.append("three_day")
    if any(q.get("status") == "declined" for q in row.quotes):
        reasons.append("declined_work")
    if row.survey_rating is not None and row.survey_rating <= LOW_SCORE:
        reasons.append("low_score")
    return reasons


def follow_up_list(core: Core, shop_id: int) -> list[dict[str, Any]]:
    """Calls to make (回访): orders delivered 3 or more days ago (shop's day),
    orders with declined additional work, and low survey scores (≤ 3), from the
    last 30 days, until a call reached the customer."""
    now = core.now()
    with core.db.read() as session:
        zone = shop_zone(session, shop_id)
        today = now.astimezone(zone).date()
        rows = (
            session.execute(
                select(RepairOrder)
                .where(
                    RepairOrder.shop_id == shop_id,
                    RepairOrder.stage == Stage.DELIVERED.value,
                    RepairOrder.closed_at >= now - timedelta(days=FOLLOW_UP_WINDOW_DAYS),
                    # An erased customer left nobody to call.
                    RepairOrder.anonymised_at.is_(None),
                )
                .order_by(RepairOrder.closed_at)
            )
            .scalars()
            .all()
        )
        calls: dict[int, list[FollowUpCall]] = {}
        if rows:
            for call in session.execute(
                select(FollowUpCall)
                .where(FollowUpCall.order_id.in_([r.id for r in rows]))
                .order_by(FollowUpCall.recorded_at, FollowUpCall.id)
            ).scalars():
                calls.setdefault(call.order_id, []).append(call)
        due = []
        for row in rows:
            reasons = _reasons(row, today, zone)
            tries = calls.get(row.id, [])
            if not reasons or (tries and tries[-1].outcome not in RETRY_OUTCOMES):
                continue
            due.append(_call_json(row, zone, reasons, tries))
        return due


def _call_json(
    row: RepairOrder, zone: ZoneInfo, reasons: list[str], tries: list[FollowUpCall]
) -> dict[str, Any]:
    return {
        "id": row.id,
        "number": row.number,
        "plate": row.plate,
        "customer": {"name": row.customer_name, "phone": row.customer_phone},
        "vehicle_model": row.vehicle_model,
        "delivered_at": _iso(row.closed_at),
        "delivered_on": row.closed_at.astimezone(zone).date().isoformat()
        if row.closed_at
        else None,
        "reasons": reasons,
        "declined": [q["description"] for q in row.quotes if q.get("status") == "declined"],
        "survey_rating": row.survey_rating,
        "survey_comment": row.survey_comment,
        "attempts": [
            {"outcome": c.outcome, "note": c.note, "at": _iso(c.recorded_at)} for c in tries
        ],
    }


def record_follow_up(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    outcome: str,
    note: str = "",
    owner_id: int | None = None,
) -> Outcome:
    """Write down how a follow-up call went; 'no answer' and 'call back' keep
    the order on the list. A 'complaint' opens a complaint in the same
    transaction (shared/services/complaints.py): the note is the customer's
    words, so it is required then; ``owner_id`` names who owns it (else
    whoever took the call)."""
    if outcome not in OUTCOMES:
        raise errors.ValidationFailed("outcome", f"outcome must be one of {', '.join(OUTCOMES)}.")
    note = clean_note(note)
    if outcome == COMPLAINT:
        note = complaints.clean_text(note, "note")

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        if row.stage != Stage.DELIVERED.value:
            raise errors.IllegalTransition("Follow-up calls are for delivered orders.", allowed=[])
        call = FollowUpCall(
            shop_id=tx.locked.id,
            order_id=row.id,
            outcome=outcome,
            note=note,
            recorded_by=tx.actor.ref or tx.actor.name,
            recorded_at=tx.now,
        )
        tx.session.add(call)
        answer: dict[str, Any] = {
            "order_id": row.id,
            "outcome": outcome,
            "note": note,
            "at": tx.now.isoformat(),
        }
        if outcome == COMPLAINT:
            tx.session.flush()
            opened = complaints.open_from_call(tx, row, call.id, note, owner_id)
            answer["complaint"] = complaints.complaint_json(
                opened, row, {} if opened.owner_id is None else _staff_names(tx, opened.owner_id)
            )
        return 201, answer

    return execute(core, request, "record_follow_up", work)


def _staff_names(tx: Transaction, user_id: int) -> dict[int, str]:
    user = tx.session.get(StaffUser, user_id)
    return {} if user is None else {user_id: user.display_name or user.name}
