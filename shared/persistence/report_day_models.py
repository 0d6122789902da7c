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

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.persistence.models import Base, RepairOrder

# The quality customers' visits (``reports._visits``): each frequent plate's
# orders, their days and stages, read from this index alone, not from the
# orders' rows (wide with their JSON: a year's ~23,000 visits of frequent
# plates cost three times as much from the table). Declared here, beside
# the reports' tables, as only the reports read it; migration 0025.
VISITS_INDEX = Index(
    "ix_repair_order_report_visits",
    RepairOrder.shop_id,
    RepairOrder.plate,
    RepairOrder.business_day,
    RepairOrder.stage,
)


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


class ReportMark(Base):
    """How far a shop's stored facts are known complete: every closed order
    whose events all have ``seq`` up to ``seq`` has its facts stored, of its
    current version, on the calendar ``basis`` (and summed in ``report_day``).
    So a report need only look for stale facts among the open orders and
    those with a later event, not among every order of its range.

    Set by the refresh when it found nothing more to store (in the
    transaction that wrote the last of them); a rebuild raises
    ``generation`` and sets ``seq`` to -1 (no claim), so a refresh that read
    before the rebuild cannot claim what the rebuild threw away."""

    __tablename__ = "report_mark"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    basis: Mapped[str] = mapped_column(String(32))
    generation: Mapped[int] = mapped_column(Integer)
