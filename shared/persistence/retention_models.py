"""The record of what happened to customers' personal data (issue 14, item 8):
each retention run's anonymisation, and each request a customer made at the
desk to export or erase their data, with who handled it and when.

Kept apart from ``models.py`` and outside the order's fold: handling an
order's personal data changes no state the domain knows about. The record
itself holds no personal data (order ids and counts, never a name, phone or
plate), so it may be kept as long as the shop keeps its audit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.persistence.models import Base


class PrivacyLog(Base):
    """One handling: ``kind`` is ``retention`` (the daily job, one row per
    batch), ``erase`` or ``export`` (a customer's request at the desk).
    ``actor`` is the credential's reference (``user:<id>``, ``token:<id>``,
    ``system:retention``), ``actor_name`` the name at that moment;
    ``details`` what else the handling needs to be understood later (the
    retention in days and the cut-off; orders still active and so kept)."""

    __tablename__ = "privacy_log"
    __table_args__ = (Index("ix_privacy_log_shop_at", "shop_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    kind: Mapped[str] = mapped_column(String(20))
    order_ids: Mapped[list[Any]] = mapped_column(default=list)
    actor: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    at: Mapped[datetime] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
