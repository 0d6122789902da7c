"""The reports' per-day rollup (issue 16; docs/REPORTS.md).

One ``report_day`` row per shop and local day: the sum of every stored
``report_fact`` row's part of that day (``shared.domain.report_figures.Totals``
as ``shared.services.report_cache.rollup_text`` writes it), so a year's
summary reads ~365 rows instead of adding up ~100,000 orders' facts.

A cache of a cache: written only in the transaction that writes the facts it
sums (``report_cache._write`` recomputes every day those facts touch, and
``rebuild_facts`` throws the shop's rows away with its facts), so it always
equals the SQL sums of the stored facts; tests hold it equal to them and to
the log's recomputation. No customer's data (no plate, no names, no texts).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, LargeBinary, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.persistence.models import Base


class ReportDay(Base):
    """One day's totals of a shop's stored report facts: the sums as JSON
    text, and the values of the two medians (check-in to ready, reception
    wait) as little-endian doubles, a year's ~200,000 of them read at once."""

    __tablename__ = "report_day"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    totals: Mapped[str] = mapped_column(Text)
    cycle: Mapped[bytes] = mapped_column(LargeBinary)
    wait: Mapped[bytes] = mapped_column(LargeBinary)
