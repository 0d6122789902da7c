"""Pictures kept beside a line of additional work: the technician's photo of
what was found, and the customer's signature on an in-person approval.

Kept apart from ``models.py`` and outside the order's fold: a picture is
evidence beside a quote, not a change of the order's state, so storing one
neither bumps the order's version nor invalidates a technician's next tap.
The bytes are the server's own re-encoding, never what the tablet sent, so no
location or camera data is ever stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.persistence.models import Base


class QuotePhoto(Base):
    """One photo per quote line (JPEG, ≤ 1600 px, no EXIF); the unique pair
    keeps a retry from adding a second. While the quote is pending a new
    photo replaces it in place and ``revision`` counts up, so a screen can
    tell the picture changed."""

    __tablename__ = "quote_photo"
    __table_args__ = (UniqueConstraint("order_id", "quote_id", name="uq_quote_photo_order_quote"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id"))
    quote_id: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))
    revision: Mapped[int] = mapped_column(Integer, default=1)


class QuoteSignature(Base):
    """The customer's signature (客户签字) on an additional-work quote they
    approved in person at the desk: one per quote, a greyscale PNG on white.
    ``quote_version`` is the version the approval was given on; ``revision``
    counts replacements (allowed until the order is closed)."""

    __tablename__ = "quote_signature"
    __table_args__ = (
        UniqueConstraint("order_id", "quote_id", name="uq_quote_signature_order_quote"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id"))
    quote_id: Mapped[int] = mapped_column(Integer)
    quote_version: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))
    revision: Mapped[int] = mapped_column(Integer, default=1)


def signed_quote_ids(session: Session | None, order_ids: Iterable[int]) -> set[tuple[int, int]]:
    """(order id, quote id) of every signed quote of these orders, in one
    query on the unique index. Here, beside the model, so the order views
    (``services/views.py``) can ask without importing the signature service
    (which runs commands, which build those views). No session, no answer."""
    wanted = sorted({int(order_id) for order_id in order_ids})
    if session is None or not wanted:
        return set()
    found = session.execute(
        select(QuoteSignature.order_id, QuoteSignature.quote_id).where(
            QuoteSignature.order_id.in_(wanted)
        )
    ).all()
    return {(int(order_id), int(quote_id)) for order_id, quote_id in found}
