"""The customer's signature (客户签字) on additional work approved in person.

When the customer approves a quote at the desk (channel ``in_person``), the
advisor hands them the tablet and they sign; the signature is kept beside the
quote like its photo and printed on the job ticket. It is the shop's evidence
that the customer agreed 客户同意并授权 to the work and the price of the
version recorded.

Who: the staff who record decisions (``Command.DECIDE_QUOTE``), never a
customer: a customer's own page decides without signing, and a signature sent
from a customer's link would prove nothing. When: only for a quote approved
with channel ``in_person`` (``signature_not_allowed`` otherwise: a phone
approval has no one to sign, a declined quote nothing to sign for).

One signature per quote. A second one **replaces** the first (a smudged
signature is redone on the spot) as long as the order is open; once it is
delivered (or cancelled) the ticket is history and the signature is locked
(``signature_locked``). Each replacement counts up ``revision``.

The upload is a PNG (a signature pad's canvas export), at most 512 KB. Like a
photo it is never stored as sent: decoded with Pillow (PNG only), refused if
it is not a readable picture, has too many pixels or holds no ink, flattened
on white, turned to greyscale (ink is ink on a thermal printer), scaled to at
most 1200 px and re-encoded, so nothing of the original file rides along.
Storing goes through ``commands.execute`` (shop lock, Idempotency-Key) and,
like a photo, writes no order event: a ``signature`` notice tells the staff
screens after the commit.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.domain import errors, policy
from shared.domain.order import OrderState, Quote
from shared.domain.policy import Command
from shared.domain.stages import Role
from shared.persistence.models import RepairOrder, Shop
from shared.persistence.photo_models import QuoteSignature, signed_quote_ids
from shared.realtime.publisher import Notice, staff_room
from shared.services import photos
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core
from shared.services.rows import state_from_row

MAX_SIGNATURE_BYTES = 512 * 1024
MAX_SIGNATURE_SIDE = 1200
# A signature pad on a high-density tablet draws a few megapixels at most;
# a small PNG that decodes to more is refused before it is decoded.
MAX_SIGNATURE_PIXELS = 8_000_000
STORED_TYPE = "image/png"
INPUT_FORMATS = ("PNG",)
INPUT_TYPES = frozenset({"image/png"})
SIGNATURE_EVENT = "signature"
SIGNING_CHANNEL = "in_person"
# A pixel at least this much darker than white is ink; lighter is paper,
# anti-aliasing or a scanner's noise.
INK_BELOW = 200
# How wide the ticket prints a signature, in CSS pixels (about 63 mm).
TICKET_WIDTH = 240


class SignatureTooLarge(errors.DomainError):
    code = "payload_too_large"
    status = 413


class SignatureNotAllowed(errors.DomainError):
    """Only an approval given in person is signed."""

    code = "signature_not_allowed"
    status = 409


class SignatureLocked(errors.DomainError):
    """The order is closed: what it recorded stays as it was handed over."""

    code = "signature_locked"
    status = 409


@dataclass(frozen=True)
class Signature:
    """A signature as stored (greyscale PNG on white). ``final`` once the
    order is closed and it can no longer be replaced."""

    data: bytes
    width: int
    height: int
    content_type: str = STORED_TYPE
    revision: int = 1
    final: bool = False

    @property
    def etag(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:32]


def signature_url(order_id: int, quote_id: int) -> str:
    return f"/api/v1/orders/{order_id}/extra-work/{quote_id}/signature"


def _unreadable(detail: str = "The signature is not a readable PNG image.") -> errors.DomainError:
    return errors.ValidationFailed("image", detail)


def prepare_signature(raw: bytes) -> Signature:
    """Validate and re-encode one uploaded signature (see the module docstring)."""
    if not raw:
        raise _unreadable("The signature is empty.")
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise SignatureTooLarge(f"The signature is over {MAX_SIGNATURE_BYTES // 1024} KB.")
    try:
        with Image.open(io.BytesIO(raw), formats=INPUT_FORMATS) as image:
            if image.width * image.height > MAX_SIGNATURE_PIXELS:
                raise _unreadable("The signature has too many pixels.")
            flat = photos.flatten(image).convert("L")
            flat.thumbnail((MAX_SIGNATURE_SIDE, MAX_SIGNATURE_SIDE), Image.Resampling.LANCZOS)
    except photos.DECODE_ERRORS:
        raise _unreadable() from None
    # Ink is what is darker than paper; a blank pad (a tap on "done" before
    # signing) is no signature.
    ink = flat.point(lambda value: 255 if value < INK_BELOW else 0)
    if ink.getbbox() is None:
        raise _unreadable("The signature is blank.")
    # A new image from the bare pixels: no text chunks, no ICC profile.
    clean = Image.frombytes("L", flat.size, flat.tobytes())
    out = io.BytesIO()
    clean.save(out, "PNG", optimize=True)
    return Signature(data=out.getvalue(), width=clean.width, height=clean.height)


def may_sign(who: policy.HasRoles) -> bool:
    """Whether this actor or principal records a customer's signature: the
    staff who record decisions (``Command.DECIDE_QUOTE``), customers excepted."""
    return Role.CUSTOMER not in who.roles and policy.may(who, Command.DECIDE_QUOTE)


def signable(state: OrderState, quote_id: int) -> Quote:
    """The quote, if a signature may be stored for it now, else the refusal."""
    quote = state.quote(quote_id)
    if quote.status != "approved" or quote.channel != SIGNING_CHANNEL:
        raise SignatureNotAllowed(
            f"Quote {quote_id} was not approved in person (status {quote.status}, channel "
            f"{quote.channel or 'none'}); only an in-person approval is signed.",
            quote_id=quote_id,
        )
    if not state.active:
        raise SignatureLocked(
            f"The order is {state.stage.value}; its signatures can no longer change.",
            quote_id=quote_id,
        )
    return quote


def store_signature(
    core: Core, request: CommandRequest, order_id: int, quote_id: int, raw_bytes: bytes
) -> Outcome:
    """Store the customer's signature on an in-person approval, or replace
    it while the order is open: 201 {url, …} when stored, 200 when replaced.

    The picture is decoded and re-encoded before the write transaction, so the
    shop's lock is never held while Pillow works.
    """
    prepared = prepare_signature(raw_bytes)

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        if not may_sign(tx.actor):
            raise errors.Forbidden(
                "Only the staff who record the customer's decision take their signature."
            )
        quote = signable(state_from_row(tx.load_order(order_id)), quote_id)
        version = quote.decided_version or quote.version
        existing = tx.session.execute(
            select(QuoteSignature).where(
                QuoteSignature.order_id == order_id, QuoteSignature.quote_id == quote_id
            )
        ).scalar_one_or_none()
        author = (tx.actor.ref or tx.actor.name)[:200]
        if existing is None:
            status, revision = 201, 1
            tx.session.add(
                QuoteSignature(
                    shop_id=tx.locked.id,
                    order_id=order_id,
                    quote_id=quote_id,
                    quote_version=version,
                    content_type=prepared.content_type,
                    data=prepared.data,
                    width=prepared.width,
                    height=prepared.height,
                    created_at=tx.now,
                    created_by=author,
                    revision=revision,
                )
            )
        else:
            status, revision = 200, existing.revision + 1
            existing.quote_version = version
            existing.content_type = prepared.content_type
            existing.data = prepared.data
            existing.width = prepared.width
            existing.height = prepared.height
            existing.created_at = tx.now
            existing.created_by = author
            existing.revision = revision
        tx.notify(signature_notice(order_id, quote_id, shop_id=tx.locked.id))
        return status, {
            "order_id": order_id,
            "quote_id": quote_id,
            "url": signature_url(order_id, quote_id),
            "quote_version": version,
            "content_type": prepared.content_type,
            "width": prepared.width,
            "height": prepared.height,
            "bytes": len(prepared.data),
            "revision": revision,
        }

    return execute(core, request, "store_signature", work)


def signature_notice(order_id: int, quote_id: int, *, shop_id: int) -> Notice:
    """Tells the staff screens (the desk) a signature was stored. Staff only:
    the customer's page does not show it and the lounge never sees a name,
    let alone a signature. It carries no picture; a replay tells nothing."""
    return Notice(
        SIGNATURE_EVENT, {"order_id": order_id, "quote_id": quote_id}, (staff_room(shop_id),)
    )


def _shop_order(session: Session, shop_id: int, order_id: int) -> RepairOrder:
    order = session.get(RepairOrder, order_id)
    if order is None or order.shop_id != shop_id:
        raise errors.NotFound(f"No order {order_id} in this shop.")
    return order


def signature_for(core: Core, shop_id: int, order_id: int, quote_id: int) -> Signature:
    """The stored signature of one quote of this shop's order, or NotFound."""
    with core.db.read() as session:
        row = session.execute(
            select(QuoteSignature).where(
                QuoteSignature.shop_id == shop_id,
                QuoteSignature.order_id == order_id,
                QuoteSignature.quote_id == quote_id,
            )
        ).scalar_one_or_none()
        if row is None:
            raise errors.NotFound(f"Quote {quote_id} of order {order_id} has no signature.")
        order = _shop_order(session, shop_id, order_id)
        final = not state_from_row(order).active
        return Signature(row.data, row.width, row.height, row.content_type, row.revision, final)


def signatures_of(core: Core, shop_id: int, order_id: int) -> list[dict[str, Any]]:
    """Which quotes of an order carry a signature (without the bytes)."""
    with core.db.read() as session:
        _shop_order(session, shop_id, order_id)
        found = session.execute(
            select(
                QuoteSignature.quote_id,
                QuoteSignature.quote_version,
                QuoteSignature.width,
                QuoteSignature.height,
                QuoteSignature.revision,
            )
            .where(QuoteSignature.shop_id == shop_id, QuoteSignature.order_id == order_id)
            .order_by(QuoteSignature.quote_id)
        ).all()
    return [
        {
            "quote_id": quote_id,
            "quote_version": quote_version,
            "width": width,
            "height": height,
            "revision": revision,
            "signature_url": signature_url(order_id, quote_id),
        }
        for quote_id, quote_version, width, height, revision in found
    ]


def signed_quotes(session: Session, order_ids: Iterable[int]) -> set[tuple[int, int]]:
    """(order id, quote id) of every signed quote of these orders, in one
    query: what the staff order view needs to add ``signature_url``."""
    return signed_quote_ids(session, order_ids)


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


def ticket_extra_work(core: Core, shop_id: int, order_id: int) -> list[dict[str, Any]]:
    """The approved additional work the printed ticket lists: what, for how
    much, on which version, how and when it was approved and who took it
    (times in the shop's time zone), and the signature when there is one."""
    with core.db.read() as session:
        order = _shop_order(session, shop_id, order_id)
        shop = session.get(Shop, shop_id)
        zone = ZoneInfo(shop.timezone) if shop is not None else ZoneInfo("UTC")
        approved = [q for q in state_from_row(order).quotes if q.status == "approved"]
        signed = {
            quote_id: width
            for quote_id, width in session.execute(
                select(QuoteSignature.quote_id, QuoteSignature.width).where(
                    QuoteSignature.shop_id == shop_id, QuoteSignature.order_id == order_id
                )
            ).all()
        }
    listed = []
    for quote in approved:
        width = signed.get(quote.id)
        entry: dict[str, Any] = {
            "id": quote.id,
            "description": quote.description,
            "labour_hours": quote.labour_hours,
            "price_cents": quote.price_cents,
            "decided_version": quote.decided_version or quote.version,
            "channel": quote.channel or "",
            "decided_at": _local(quote.decided_at, zone),
            "taken_by": quote.taken_by,
            "signature_url": None,
            "signature_width": 0,
        }
        if width is not None:
            entry["signature_url"] = signature_url(order_id, quote.id)
            entry["signature_width"] = min(TICKET_WIDTH, width)
        listed.append(entry)
    return listed
