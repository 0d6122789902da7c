"""The reports' facts cache (issue 16; docs/REPORTS.md).

One ``report_fact`` row per order: ``shared.domain.report_facts.order_facts``
of its log as it stood at ``version`` (the order's version then) on the
shop's calendar then (``basis``), with the columns the reports sum and filter
on; and ``report_fact_part`` rows for the parts that fall on days of their
own (a technician's labour, a bay's occupied minutes, a quote, a comeback).

A cache, not a truth: every row can be rebuilt from the order's events and
labour segments (``shared.services.reports.rebuild_facts``), a row whose
version is not the order's is not used, and no customer's data is kept here
(no plate, no names, no work texts), so retention has nothing to erase.
Written only off the request path (``shared.services.reports.FactsRefresher``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.persistence.models import Base


class ReportFact(Base):
    """One order's report facts (``OrderFacts``) as of ``version``."""

    __tablename__ = "report_fact"
    __table_args__ = (
        Index("ix_report_fact_checkin", "shop_id", "checkin_day"),
        Index("ix_report_fact_ready", "shop_id", "ready_day"),
        Index("ix_report_fact_delivered", "shop_id", "delivered_day"),
        Index("ix_report_fact_cancelled", "shop_id", "cancelled_day"),
        Index("ix_report_fact_labour", "shop_id", "labour_day"),
    )

    order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id"), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    version: Mapped[int] = mapped_column(Integer)
    # The shop's zone and calendar the facts were computed on (a digest).
    basis: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(20))
    advisor_id: Mapped[int | None] = mapped_column(Integer)
    checkin_at: Mapped[datetime | None] = mapped_column()
    dispatched_at: Mapped[datetime | None] = mapped_column()
    ready_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    promised_at: Mapped[datetime | None] = mapped_column()
    checkin_day: Mapped[date | None] = mapped_column(Date)
    ready_day: Mapped[date | None] = mapped_column(Date)
    delivered_day: Mapped[date | None] = mapped_column(Date)
    cancelled_day: Mapped[date | None] = mapped_column(Date)
    labour_day: Mapped[date | None] = mapped_column(Date)
    ready_on_time: Mapped[bool | None] = mapped_column(Boolean)
    delivered_on_time: Mapped[bool | None] = mapped_column(Boolean)
    first_time_fix: Mapped[bool | None] = mapped_column(Boolean)
    carried_over: Mapped[bool] = mapped_column(Boolean)
    cycle_minutes: Mapped[float | None] = mapped_column(Float)
    reception_wait_minutes: Mapped[float | None] = mapped_column(Float)
    dwell_checked_in: Mapped[float | None] = mapped_column(Float)
    dwell_dispatched: Mapped[float | None] = mapped_column(Float)
    dwell_in_progress: Mapped[float | None] = mapped_column(Float)
    dwell_paused: Mapped[float | None] = mapped_column(Float)
    dwell_quality_check: Mapped[float | None] = mapped_column(Float)
    dwell_washing: Mapped[float | None] = mapped_column(Float)
    dwell_ready: Mapped[float | None] = mapped_column(Float)
    sold_hours: Mapped[float] = mapped_column(Float)
    sold_hours_clocked: Mapped[float] = mapped_column(Float)
    clocked_hours: Mapped[float] = mapped_column(Float)
    rework_count: Mapped[int] = mapped_column(Integer)
    reopened_count: Mapped[int] = mapped_column(Integer)
    survey_rating: Mapped[int | None] = mapped_column(Integer)
    # The rest of the facts (labour, bay days, quotes, comebacks, the last
    # promise), compact, to rebuild ``OrderFacts`` from the row.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class ReportFactPart(Base):
    """A part of an order's facts on a day of its own: ``kind`` labour (key
    the technician, amount clocked hours, amount2 sold hours), bay (key the
    bay, amount open minutes occupied), quote (key its status, amount its
    price in cents, amount2 its id), comeback (amount 1)."""

    __tablename__ = "report_fact_part"
    __table_args__ = (
        Index("ix_report_fact_part_day", "shop_id", "kind", "day"),
        Index("ix_report_fact_part_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("report_fact.order_id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    kind: Mapped[str] = mapped_column(String(10))
    day: Mapped[date] = mapped_column(Date)
    key: Mapped[str] = mapped_column(String(40))
    advisor_id: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[float] = mapped_column(Float)
    amount2: Mapped[float] = mapped_column(Float)
