"""From order facts to the manager's figures (docs/REPORTS.md).

Two steps, both pure: ``day_totals`` spreads each order's facts over the
local days they belong to (a ``Totals`` per day: additive sums, plus the
values the medians need), and ``figures`` turns the totals of a period into
the JSON-ready figures. Periods (``periods``: day, ISO week, month) and the
previous period (``previous_range``) are whole local days, inclusive.

The persisted rollup (``shared/services/reports.py``) produces the same
per-day ``Totals`` with SQL sums over the facts table; tests hold the two
equal, so the figures never depend on which path added them up.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

from shared.domain.report_facts import (
    APPROVED,
    DECLINED,
    DWELL_STAGES,
    EXPIRED,
    PENDING,
    QUOTE_STATUSES,
    OrderFacts,
)

GROUPS = ("day", "week", "month")
# A survey score at or below this is low (the desk's follow-up list, 回访).
LOW_SCORE = 3
# The longest range a report takes (about three years of days).
MAX_DAYS = 3 * 366
RATINGS = (1, 2, 3, 4, 5)
T = TypeVar("T")

Counts = defaultdict[str, float]


def counts() -> Counts:
    return defaultdict(float)


def _plus(target: Counts, other: Mapping[str, float], sign: float = 1.0) -> None:
    for key, value in other.items():
        target[key] += sign * value


@dataclass
class Totals:
    """Additive totals of one day (or a period): named sums, the values of
    the medians, per technician [clocked, sold] hours, per bay occupied
    minutes, per advisor named sums, and survey scores by value."""

    sums: Counts = field(default_factory=counts)
    cycle: list[float] = field(default_factory=list)
    wait: list[float] = field(default_factory=list)
    techs: dict[int, list[float]] = field(default_factory=dict)
    bays: dict[str, float] = field(default_factory=dict)
    advisors: dict[int | None, Counts] = field(default_factory=dict)
    ratings: Counter[int] = field(default_factory=Counter)
    # Which orders stand behind two figures that need more than sums (the
    # low scores' follow-up, declined work sold later): the orders delivered
    # this day with a low score, and (order, quote) of each quote first
    # quoted this day and declined.
    low_scores: list[int] = field(default_factory=list)
    declined: list[tuple[int, int]] = field(default_factory=list)

    def add(self, other: Totals) -> None:
        _plus(self.sums, other.sums)
        self.cycle.extend(other.cycle)
        self.wait.extend(other.wait)
        for tech, (clocked, sold) in other.techs.items():
            mine = self.techs.setdefault(tech, [0.0, 0.0])
            mine[0] += clocked
            mine[1] += sold
        for bay, minutes in other.bays.items():
            self.bays[bay] = self.bays.get(bay, 0.0) + minutes
        for advisor, sums in other.advisors.items():
            _plus(self.advisor(advisor), sums)
        self.ratings.update(other.ratings)
        self.low_scores.extend(other.low_scores)
        self.declined.extend(other.declined)

    def subtract(self, other: Totals) -> None:
        """Take ``other``'s part out (a stored fact found stale)."""
        _plus(self.sums, other.sums, -1.0)
        self.cycle = _without(self.cycle, other.cycle)
        self.wait = _without(self.wait, other.wait)
        for tech, (clocked, sold) in other.techs.items():
            mine = self.techs.setdefault(tech, [0.0, 0.0])
            mine[0] -= clocked
            mine[1] -= sold
        for bay, minutes in other.bays.items():
            self.bays[bay] = self.bays.get(bay, 0.0) - minutes
        for advisor, sums in other.advisors.items():
            _plus(self.advisor(advisor), sums, -1.0)
        self.ratings.subtract(other.ratings)
        self.low_scores = _without_items(self.low_scores, other.low_scores)
        self.declined = _without_items(self.declined, other.declined)

    def advisor(self, advisor_id: int | None) -> Counts:
        found = self.advisors.get(advisor_id)
        if found is None:
            found = self.advisors[advisor_id] = counts()
        return found


def _without(values: list[float], gone: list[float]) -> list[float]:
    if not gone:
        return values
    remove = Counter(round(v, 6) for v in gone)
    kept = []
    for value in values:
        key = round(value, 6)
        if remove[key] > 0:
            remove[key] -= 1
        else:
            kept.append(value)
    return kept


def _without_items(values: list[T], gone: list[T]) -> list[T]:
    if not gone:
        return values
    remove = Counter(gone)
    kept = []
    for value in values:
        if remove[value] > 0:
            remove[value] -= 1
        else:
            kept.append(value)
    return kept


Days = dict[date, Totals]


def _at(days: Days, day: date | None, start: date, end: date) -> Totals | None:
    if day is None or day < start or day > end:
        return None
    found = days.get(day)
    if found is None:
        found = days[day] = Totals()
    return found


def day_totals(facts: Iterable[OrderFacts], start: date, end: date) -> Days:
    """Each order's facts on the days they belong to, within [start, end]."""
    days: Days = {}
    for f in facts:
        add_facts(days, f, start, end)
    return days


def add_facts(days: Days, f: OrderFacts, start: date, end: date) -> None:
    """One order's part of the per-day totals (docs/REPORTS.md says why each
    part belongs to its day)."""
    t = _at(days, f.checkin_day, start, end)
    if t is not None:
        t.sums["checked_in"] += 1
        t.advisor(f.advisor_id)["orders"] += 1
        if f.carried_over:
            t.sums["carried_over"] += 1
        if f.reception_wait_minutes is not None:
            t.wait.append(f.reception_wait_minutes)
    t = _at(days, f.ready_day, start, end)
    if t is not None:
        t.sums["ready"] += 1
        if f.cycle_minutes is not None:
            t.cycle.append(f.cycle_minutes)
        if f.ready_on_time is not None:
            a = t.advisor(f.advisor_id)
            t.sums["ready_promised"] += 1
            a["ready_promised"] += 1
            if f.ready_on_time:
                t.sums["ready_on_time"] += 1
                a["ready_on_time"] += 1
    t = _at(days, f.delivered_day, start, end)
    if t is not None:
        a = t.advisor(f.advisor_id)
        t.sums["delivered"] += 1
        a["delivered"] += 1
        if f.delivered_on_time is not None:
            t.sums["delivered_promised"] += 1
            if f.delivered_on_time:
                t.sums["delivered_on_time"] += 1
        for stage, minutes in f.dwell.items():
            t.sums[f"dwell_sum:{stage}"] += minutes
            t.sums[f"dwell_n:{stage}"] += 1
        if f.first_time_fix:
            t.sums["first_time_fix"] += 1
        t.sums["rework"] += f.rework_count
        t.sums["reopened"] += f.reopened_count
        if f.survey_rating is not None:
            t.sums["responses"] += 1
            t.sums["rating_sum"] += f.survey_rating
            t.ratings[f.survey_rating] += 1
            a["responses"] += 1
            a["rating_sum"] += f.survey_rating
            if f.survey_rating <= LOW_SCORE:
                t.sums["low_scores"] += 1
                t.low_scores.append(f.order_id)
    t = _at(days, f.cancelled_day, start, end)
    if t is not None:
        t.sums["cancelled"] += 1
    t = _at(days, f.labour_day, start, end)
    if t is not None:
        t.sums["sold_hours"] += f.sold_hours
        t.sums["sold_hours_clocked"] += f.sold_hours_clocked
        t.sums["clocked_hours"] += f.clocked_hours
        for part in f.labour:
            mine = t.techs.setdefault(part.technician_id, [0.0, 0.0])
            mine[0] += part.clocked_hours
            mine[1] += part.sold_hours
    for bay in f.bay_days:
        t = _at(days, bay.day, start, end)
        if t is not None:
            t.bays[bay.bay] = t.bays.get(bay.bay, 0.0) + bay.minutes
    for quote in f.quotes:
        t = _at(days, quote.day, start, end)
        if t is not None:
            add_quote(t, f.advisor_id, quote.status, quote.price_cents)
            if quote.status == DECLINED:
                t.declined.append((f.order_id, quote.quote_id))
    for comeback in f.comebacks:
        t = _at(days, comeback.day, start, end)
        if t is not None:
            t.sums["comebacks"] += 1


def add_quote(t: Totals, advisor_id: int | None, status: str, price_cents: float) -> None:
    """One quote on its day (also used by the persisted rollup)."""
    a = t.advisor(advisor_id)
    t.sums["quotes"] += 1
    t.sums[f"quotes:{status}"] += 1
    t.sums[f"cents:{status}"] += price_cents
    a[f"quotes:{status}"] += 1
    a[f"cents:{status}"] += price_cents


def collapse(days: Mapping[date, Totals], start: date, end: date) -> Totals:
    """The totals of the days within [start, end]."""
    out = Totals()
    for day, totals in days.items():
        if start <= day <= end:
            out.add(totals)
    return out


# ---------------------------------------------------------------- periods


def periods(start: date, end: date, group: str) -> list[tuple[date, date]]:
    """The range cut into days, ISO weeks (Monday first) or calendar months,
    the first and last clipped to the range."""
    out = []
    day = start
    while day <= end:
        if group == "day":
            last = day
        elif group == "week":
            last = day + timedelta(days=6 - day.weekday())
        else:
            following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
            last = following - timedelta(days=1)
        last = min(last, end)
        out.append((day, last))
        day = last + timedelta(days=1)
    return out


def previous_range(start: date, end: date) -> tuple[date, date]:
    """The period just before, as many days long."""
    length = (end - start).days + 1
    return start - timedelta(days=length), start - timedelta(days=1)


# ---------------------------------------------------------------- figures


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(total: float, n: float) -> float | None:
    return round(total / n, 2) if n else None


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (the value at rank ceil(share·n)): always one
    of the values, and the same on every run."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return round(ordered[rank - 1], 2)


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median (the middle value, or the mean of the two), p90 and mean."""
    if not values:
        return {"median": None, "p90": None, "mean": None, "n": 0}
    return {
        "median": round(statistics.median(values), 2),
        "p90": percentile(values, 0.9),
        "mean": round(sum(values) / len(values), 2),
        "n": len(values),
    }


@dataclass(frozen=True)
class Context:
    """What a period's figures need beyond the order facts: each bay's open
    minutes in the period (the shop calendar × the bay's capacity), the
    quality customers, the low scores' follow-up and declined work sold on
    a later order. Computed by the service from the database."""

    bay_open_minutes: Mapping[str, float] = field(default_factory=dict)
    quality_customers: int = 0
    quality_customer_orders: int = 0
    low_score_follow_up: Mapping[str, int] = field(default_factory=dict)
    declined_sold_later_cents: int = 0


# The foreman's half of the figures (docs/REPORTS.md): the workshop's own.
# Not the front office's: approvals (money), satisfaction, comebacks (the
# advisor's mark), quality customers, and no per-advisor table.
WORKSHOP_FIGURES = (
    "orders",
    "on_time_rate",
    "cycle_minutes",
    "stage_dwell_minutes",
    "reception_wait_minutes",
    "labour",
    "bay_utilisation",
    "first_time_fix_rate",
    "rework_count",
    "reopened_count",
)


def figures(t: Totals, context: Context | None = None) -> dict[str, Any]:
    """The figures of one period from its totals (docs/REPORTS.md)."""
    c = context or Context()
    s = t.sums
    delivered = s["delivered"]
    decided = s[f"quotes:{APPROVED}"] + s[f"quotes:{DECLINED}"] + s[f"quotes:{EXPIRED}"]
    decided_cents = s[f"cents:{APPROVED}"] + s[f"cents:{DECLINED}"] + s[f"cents:{EXPIRED}"]
    occupied = {bay: minutes for bay, minutes in t.bays.items() if minutes > 1e-9}
    bays: list[dict[str, Any]] = []
    used_total = open_total = 0.0
    for bay in sorted(set(occupied) | set(c.bay_open_minutes)):
        used = occupied.get(bay, 0.0)
        open_minutes = c.bay_open_minutes.get(bay, 0.0)
        used_total += used
        open_total += open_minutes
        bays.append(
            {
                "bay": bay,
                "occupied_minutes": round(used, 1),
                "open_minutes": round(open_minutes, 1),
                "rate": _rate(used, open_minutes),
            }
        )
    responses = s["responses"]
    return {
        "orders": {
            "checked_in": int(s["checked_in"]),
            "ready": int(s["ready"]),
            "delivered": int(delivered),
            "cancelled": int(s["cancelled"]),
            "carried_over": int(s["carried_over"]),
        },
        "on_time_rate": {
            "ready": {
                "rate": _rate(s["ready_on_time"], s["ready_promised"]),
                "on_time": int(s["ready_on_time"]),
                "n": int(s["ready_promised"]),
            },
            "delivered": {
                "rate": _rate(s["delivered_on_time"], s["delivered_promised"]),
                "on_time": int(s["delivered_on_time"]),
                "n": int(s["delivered_promised"]),
            },
        },
        "cycle_minutes": spread(t.cycle),
        "stage_dwell_minutes": {
            stage: {
                "mean": _mean(s[f"dwell_sum:{stage}"], s[f"dwell_n:{stage}"]),
                "n": int(s[f"dwell_n:{stage}"]),
            }
            for stage in DWELL_STAGES
        },
        "reception_wait_minutes": spread(t.wait),
        "labour": {
            "sold_hours": round(s["sold_hours"], 2),
            "clocked_hours": round(s["clocked_hours"], 2),
            "sold_hours_clocked": round(s["sold_hours_clocked"], 2),
            "efficiency": _rate(s["sold_hours_clocked"], s["clocked_hours"]),
        },
        "bay_utilisation": {
            "rate": _rate(used_total, open_total),
            "occupied_minutes": round(used_total, 1),
            "open_minutes": round(open_total, 1),
            "bays": bays,
        },
        "approval_rate": {
            "by_count": _rate(s[f"quotes:{APPROVED}"], decided),
            "by_value": _rate(s[f"cents:{APPROVED}"], decided_cents),
            "n": int(decided),
            "quotes": int(s["quotes"]),
            **{status: int(s[f"quotes:{status}"]) for status in QUOTE_STATUSES},
            **{f"{status}_cents": int(s[f"cents:{status}"]) for status in QUOTE_STATUSES},
            "declined_sold_later_cents": c.declined_sold_later_cents,
        },
        "first_time_fix_rate": {
            "rate": _rate(s["first_time_fix"], delivered),
            "first_time": int(s["first_time_fix"]),
            "n": int(delivered),
        },
        "rework_count": int(s["rework"]),
        "reopened_count": int(s["reopened"]),
        "comebacks": {
            "count": int(s["comebacks"]),
            "rate": _rate(s["comebacks"], delivered),
            "n": int(delivered),
        },
        "csat": {
            "responses": int(responses),
            "response_rate": _rate(responses, delivered),
            "average": _mean(s["rating_sum"], responses),
            "distribution": {str(r): int(t.ratings[r]) for r in RATINGS},
            "low_scores": int(s["low_scores"]),
            "low_score_follow_up": dict(c.low_score_follow_up),
            "n": int(delivered),
        },
        "quality_customers": {
            "count": c.quality_customers,
            "orders": c.quality_customer_orders,
        },
    }


def workshop_half(found: Mapping[str, Any]) -> dict[str, Any]:
    """The figures a foreman sees: the workshop's (``WORKSHOP_FIGURES``),
    without money or customers."""
    return {key: value for key, value in found.items() if key in WORKSHOP_FIGURES}


def technician_rows(t: Totals) -> list[dict[str, Any]]:
    """Per technician: clocked and sold hours, efficiency (sold ÷ clocked)."""
    rows = []
    for tech, (clocked, sold) in sorted(t.techs.items()):
        if abs(clocked) < 1e-9 and abs(sold) < 1e-9:
            continue
        rows.append(
            {
                "technician_id": tech,
                "clocked_hours": round(clocked, 2),
                "sold_hours": round(sold, 2),
                "efficiency": _rate(sold, clocked),
            }
        )
    return rows


def advisor_rows(t: Totals) -> list[dict[str, Any]]:
    """Per advisor (order_created.advisor_id): orders checked in, on-time
    ready rate, quote approval rate by count and value, CSAT."""
    rows = []
    for advisor, a in sorted(t.advisors.items(), key=lambda item: (item[0] is None, item[0] or 0)):
        decided = a[f"quotes:{APPROVED}"] + a[f"quotes:{DECLINED}"] + a[f"quotes:{EXPIRED}"]
        cents = a[f"cents:{APPROVED}"] + a[f"cents:{DECLINED}"] + a[f"cents:{EXPIRED}"]
        if not any(abs(v) > 1e-9 for v in a.values()):
            continue
        rows.append(
            {
                "advisor_id": advisor,
                "orders": int(a["orders"]),
                "delivered": int(a["delivered"]),
                "on_time_rate": _rate(a["ready_on_time"], a["ready_promised"]),
                "on_time_n": int(a["ready_promised"]),
                "approval_rate": _rate(a[f"quotes:{APPROVED}"], decided),
                "approval_rate_by_value": _rate(a[f"cents:{APPROVED}"], cents),
                "quotes_decided": int(decided),
                "quotes_pending": int(a[f"quotes:{PENDING}"]),
                "csat_average": _mean(a["rating_sum"], a["responses"]),
                "csat_responses": int(a["responses"]),
            }
        )
    return rows
