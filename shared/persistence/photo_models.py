"""The photo a technician attaches to a line of additional work.

Kept apart from ``models.py`` and outside the order's fold: a photo is
evidence beside a quote, not a change of the order's state, so attaching one
neither bumps the order's version nor invalidates a technician's next tap.
The bytes are the server's own re-encoding (JPEG, ≤ 1600 px, no EXIF), never
what the tablet sent, so no location or camera data is ever stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.persistence.models import Base


class QuotePhoto(Base):
    """One photo per quote line; the unique pair keeps a retry from adding a second."""

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
