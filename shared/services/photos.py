"""Photos of additional work: the technician's picture beside a quote line.

The tablet's file is never stored. It is decoded with Pillow (JPEG, PNG,
WebP, and HEIC when pillow-heif is installed), turned upright from its EXIF
orientation, scaled to at most 1600 px and re-encoded as a fresh JPEG, so the
stored bytes carry no EXIF, GPS position, XMP or comments, and a file that
only pretends to be an image is refused before anything is written.

Attaching goes through ``commands.execute`` like every command: the shop row
is locked, an Idempotency-Key replays the first answer, and the photo row is
written in that transaction. It records no order event (the photo changes no
state the domain knows about), so the command's publish carries a small
``photo`` notice instead of an ``order`` message, and screens fetch the
picture.

A quote has at most one photo. While the quote is pending a new upload
replaces it (a revised quote may come with a new picture) and the photo's
``revision`` counts up; once the customer has decided, the photo is what they
decided on and is locked (``quote_locked``), as is the photo of a quote that
expired (``quote_expired``).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.domain import errors, policy
from shared.domain.order import Quote
from shared.domain.policy import Command
from shared.persistence.models import RepairOrder
from shared.persistence.photo_models import QuotePhoto
from shared.realtime.publisher import Notice, customer_room, staff_room
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core
from shared.services.rows import state_from_row

MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_SIDE = 1600
# A 48-megapixel phone sensor is the largest honest input; beyond it a small
# file that decodes to gigabytes (a decompression bomb) is refused unread.
MAX_PIXELS = 50_000_000
JPEG_QUALITY = 80
STORED_TYPE = "image/jpeg"
PHOTO_EVENT = "photo"

try:  # HEIC only when the optional decoder is installed.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_FORMATS: tuple[str, ...] = ("HEIF",)
except ImportError:
    HEIF_FORMATS = ()

# Only these decoders are ever tried: Pillow knows dozens of formats, and a
# rarely used decoder is where a crafted file would find its bug.
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", *HEIF_FORMATS)
INPUT_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp"}
    | ({"image/heic", "image/heif"} if HEIF_FORMATS else set())
)


class PhotoTooLarge(errors.DomainError):
    code = "payload_too_large"
    status = 413


# What Pillow raises for a file it cannot read, a truncated one or one that
# decodes to too many pixels.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


@dataclass(frozen=True)
class Photo:
    """A picture as stored: re-encoded on upload, served as it was stored.

    ``revision`` counts replacements; ``final`` says it can no longer change
    (its quote was decided or expired), so a browser may keep it."""

    data: bytes
    width: int
    height: int
    content_type: str = STORED_TYPE
    revision: int = 1
    final: bool = False

    @property
    def etag(self) -> str:
        """A validator of the bytes themselves (a replaced picture has a new one)."""
        return hashlib.sha256(self.data).hexdigest()[:32]


def staff_photo_url(order_id: int, quote_id: int) -> str:
    return f"/api/v1/orders/{order_id}/extra-work/{quote_id}/photo"


def _unreadable() -> errors.ValidationFailed:
    formats = "JPEG, PNG, WebP" + (" or HEIC" if HEIF_FORMATS else "")
    return errors.ValidationFailed("photo", f"The photo is not a readable image ({formats}).")


def flatten(image: Image.Image) -> Image.Image:
    """RGB on white: JPEG has no transparency, and black behind a cut-out
    part would hide what the photo is meant to show."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit grey: scaled to 8 bits, not clipped to white.
        return image.convert("I").point(lambda value: value / 256).convert("L").convert("RGB")
    return image.convert("RGB")


def prepare_photo(raw: bytes) -> Photo:
    """Validate and re-encode one uploaded picture (see the module docstring)."""
    if not raw:
        raise errors.ValidationFailed("photo", "The photo is empty.")
    if len(raw) > MAX_PHOTO_BYTES:
        raise PhotoTooLarge(f"The photo is over {MAX_PHOTO_BYTES // (1024 * 1024)} MB.")
    try:
        with Image.open(io.BytesIO(raw), formats=INPUT_FORMATS) as image:
            if image.width * image.height > MAX_PIXELS:
                raise errors.ValidationFailed("photo", "The photo has too many pixels.")
            # JPEG decodes straight to a fraction of its size: a 12-megapixel
            # shot costs a quarter of the memory and time.
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            flat = flatten(upright)
    except DECODE_ERRORS:
        raise _unreadable() from None
    # A new image from the bare pixels: nothing of the original's metadata
    # (EXIF, GPS, XMP, ICC, comments) can ride along into the saved file.
    clean = Image.frombytes("RGB", flat.size, flat.tobytes())
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return Photo(data=out.getvalue(), width=clean.width, height=clean.height)


def photo_locked(quote: Quote, now: datetime) -> errors.DomainError | None:
    """Why this quote's photo may no longer change, or None while it may: a
    decided quote is what the customer agreed to (``quote_locked``), an
    expired one can no longer be agreed to (``quote_expired``, also once its
    time is up before the shop's timer has marked it)."""
    if quote.status == "expired" or (
        quote.status == "pending" and quote.expires_at is not None and now >= quote.expires_at
    ):
        return errors.QuoteExpired(
            f"Quote {quote.id} has expired; its photo can no longer change.", quote_id=quote.id
        )
    if quote.status != "pending":
        return errors.QuoteLocked(
            f"Quote {quote.id} was already {quote.status}; its photo can no longer change.",
            quote_id=quote.id,
        )
    return None


def _quote(tx: Transaction, order_id: int, quote_id: int) -> Quote:
    actor = tx.actor
    if not policy.may(actor, Command.ATTACH_PHOTO):
        raise errors.Forbidden("Your role may not attach photos to quotes.")
    state = state_from_row(tx.load_order(order_id))
    found = next((q for q in state.quotes if q.id == quote_id), None)
    if found is None:
        raise errors.NotFound(f"No quote {quote_id} on order {order_id}.")
    # As for quoting: a technician documents only jobs dispatched to them.
    if not policy.is_assigned(actor, actor.user_id, state.technicians):
        raise errors.Forbidden("This order is not dispatched to you.")
    locked = photo_locked(found, tx.now)
    if locked is not None:
        raise locked
    return found


def attach_photo(
    core: Core, request: CommandRequest, order_id: int, quote_id: int, raw_bytes: bytes
) -> Outcome:
    """Store the photo of a pending quote, or replace the one it has;
    201 {quote_id, photo_url, revision, …}.

    The picture is decoded and re-encoded before the write transaction, so the
    shop's lock is never held while Pillow works.
    """
    prepared = prepare_photo(raw_bytes)

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        _quote(tx, order_id, quote_id)
        existing = tx.session.execute(
            select(QuotePhoto).where(
                QuotePhoto.order_id == order_id, QuotePhoto.quote_id == quote_id
            )
        ).scalar_one_or_none()
        author = (tx.actor.ref or tx.actor.name)[:200]
        if existing is None:
            revision = 1
            tx.session.add(
                QuotePhoto(
                    shop_id=tx.locked.id,
                    order_id=order_id,
                    quote_id=quote_id,
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
            revision = existing.revision + 1
            existing.content_type = prepared.content_type
            existing.data = prepared.data
            existing.width = prepared.width
            existing.height = prepared.height
            existing.created_at = tx.now
            existing.created_by = author
            existing.revision = revision
        tx.notify(photo_notice(order_id, quote_id, shop_id=tx.locked.id))
        return 201, {
            "order_id": order_id,
            "quote_id": quote_id,
            "photo_url": staff_photo_url(order_id, quote_id),
            "content_type": prepared.content_type,
            "width": prepared.width,
            "height": prepared.height,
            "bytes": len(prepared.data),
            "revision": revision,
        }

    return execute(core, request, "attach_photo", work)


def photo_notice(order_id: int, quote_id: int, *, shop_id: int) -> Notice:
    """Tells open screens a photo arrived (or replaced the quote's photo). It
    carries no picture and no order: staff and the order's customer (not the
    lounge) fetch it with their own credential. A replayed upload changes
    nothing, so it tells nothing."""
    return Notice(
        PHOTO_EVENT,
        {"order_id": order_id, "quote_id": quote_id},
        (staff_room(shop_id), customer_room(order_id)),
    )


def _shop_order(session: Session, shop_id: int, order_id: int) -> RepairOrder:
    order = session.get(RepairOrder, order_id)
    if order is None or order.shop_id != shop_id:
        raise errors.NotFound(f"No order {order_id} in this shop.")
    return order


def photo_for(core: Core, shop_id: int, order_id: int, quote_id: int) -> Photo:
    """The stored picture of one quote of this shop's order, or NotFound;
    ``final`` once the quote can no longer take another photo."""
    with core.db.read() as session:
        row = session.execute(
            select(QuotePhoto).where(
                QuotePhoto.shop_id == shop_id,
                QuotePhoto.order_id == order_id,
                QuotePhoto.quote_id == quote_id,
            )
        ).scalar_one_or_none()
        if row is None:
            raise errors.NotFound(f"Quote {quote_id} of order {order_id} has no photo.")
        state = state_from_row(_shop_order(session, shop_id, order_id))
        quote = next((q for q in state.quotes if q.id == quote_id), None)
        final = quote is None or photo_locked(quote, core.now()) is not None
        return Photo(row.data, row.width, row.height, row.content_type, row.revision, final)


def photos_of(core: Core, shop_id: int, order_id: int) -> list[dict[str, Any]]:
    """Which quotes of an order have a photo (without the bytes), so a page
    asks only for pictures that exist; ``revision`` tells a replaced one."""
    with core.db.read() as session:
        _shop_order(session, shop_id, order_id)
        found = session.execute(
            select(QuotePhoto.quote_id, QuotePhoto.width, QuotePhoto.height, QuotePhoto.revision)
            .where(QuotePhoto.shop_id == shop_id, QuotePhoto.order_id == order_id)
            .order_by(QuotePhoto.quote_id)
        ).all()
    return [
        {"quote_id": quote_id, "width": width, "height": height, "revision": revision}
        for quote_id, width, height, revision in found
    ]
