"""Report definitions on hand-built event logs with known answers
(docs/REPORTS.md): each order's facts, then the figures of a period."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.domain import report_figures as rf
from shared.domain.report_facts import (
    ClockSpan,
    LogEvent,
    OrderFacts,
    order_facts,
    same_work,
    work_text,
)
from shared.domain.shop_calendar import ShopCalendar

ZONE = ZoneInfo("Asia/Shanghai")
# 08:30–18:00 every day, no public holidays: the open minutes are plain.
CALENDAR = ShopCalendar.from_settings("Asia/Shanghai", {"public_holidays": False})
MON, TUE, WED = date(2026, 6, 8), date(2026, 6, 9), date(2026, 6, 10)
LATER = datetime(2026, 6, 12, 12, 0, tzinfo=ZONE)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZONE)


def created(when: datetime, **data: Any) -> LogEvent:
    base = {
        "number": 1,
        "plate": "粤B12345",
        "stage": "checked_in",
        "items": [{"title": "更换机油", "labour_hours": 2.0}],
        "promised_at": None,
        "advisor_id": 7,
    }
    base.update(data)
    if isinstance(base["promised_at"], datetime):
        base["promised_at"] = base["promised_at"].isoformat()
    return LogEvent("order_created", when, base)


def move(when: datetime, to: str, from_stage: str = "") -> LogEvent:
    return LogEvent("stage_changed", when, {"from_stage": from_stage, "to_stage": to})


def assign(when: datetime, bay: str, *techs: int) -> LogEvent:
    return LogEvent("assigned", when, {"bay": bay, "technicians": list(techs)})


def event(type_: str, when: datetime, **data: Any) -> LogEvent:
    return LogEvent(type_, when, data)


def passed(when: datetime) -> list[LogEvent]:
    return [event("check_passed", when, level=level) for level in ("team_lead", "qc", "final")]


def plain_order() -> list[LogEvent]:
    """Checked in Monday 09:00, promised 17:00, 2 h sold; dispatched to B01
    at 09:30, worked 10:00–12:00, checked, ready 12:30, delivered 13:00."""
    return [
        created(at(MON, 9), promised_at=at(MON, 17)),
        assign(at(MON, 9, 30), "B01", 1),
        move(at(MON, 9, 30), "dispatched"),
        move(at(MON, 10), "in_progress"),
        move(at(MON, 12), "quality_check"),
        *passed(at(MON, 12, 30)),
        move(at(MON, 12, 30), "ready"),
        move(at(MON, 13), "delivered"),
        event("survey_submitted", at(TUE, 10), rating=5, comment=""),
    ]


def facts(
    events: list[LogEvent], spans: list[ClockSpan] | None = None, order_id: int = 1
) -> OrderFacts:
    return order_facts(order_id, events, spans or [], CALENDAR, LATER)


def test_a_plain_order_s_facts() -> None:
    f = facts(plain_order(), [ClockSpan(1, at(MON, 10), at(MON, 12))])
    assert f.version == 11
    assert (f.checkin_day, f.ready_day, f.delivered_day, f.labour_day) == (MON, MON, MON, MON)
    assert f.reception_wait_minutes == 30
    assert f.cycle_minutes == 210
    assert f.ready_on_time is True and f.delivered_on_time is True
    assert dict(f.dwell) == {
        "checked_in": 30,
        "dispatched": 30,
        "in_progress": 120,
        "quality_check": 30,
        "ready": 30,
    }
    # On its bay from dispatch until it left quality check.
    assert [(b.bay, b.day, b.minutes) for b in f.bay_days] == [("B01", MON, 180)]
    assert (f.sold_hours, f.clocked_hours, f.sold_hours_clocked) == (2.0, 2.0, 2.0)
    assert f.first_time_fix is True and f.rework_count == 0
    assert f.survey_rating == 5
    assert f.carried_over is False
    assert f.advisor_id == 7


def test_a_reopened_order_counts_its_final_ready_and_its_rework() -> None:
    events = [
        created(at(MON, 9), promised_at=at(MON, 15)),
        assign(at(MON, 9), "B01", 1),
        move(at(MON, 9), "dispatched"),
        move(at(MON, 10), "in_progress"),
        move(at(MON, 13), "quality_check"),
        *passed(at(MON, 14)),
        move(at(MON, 14), "ready"),
        # The advisor's handover check finds the fault still there.
        event("check_failed", at(MON, 14, 30), level="handover", reason="异响仍在"),
        move(at(MON, 14, 30), "in_progress"),
        move(at(MON, 15), "quality_check"),
        *passed(at(MON, 15, 30)),
        move(at(MON, 15, 30), "ready"),
        move(at(MON, 16), "delivered"),
    ]
    f = facts(events)
    assert f.ready_at == at(MON, 15, 30)
    assert f.ready_on_time is False  # ready at 14:00 once, but not for good
    assert f.cycle_minutes == 390
    assert (f.rework_count, f.reopened_count, f.first_time_fix) == (1, 1, False)
    assert f.dwell["ready"] == 30 + 30  # the first wait in ready, and the last
    assert f.dwell["in_progress"] == 180 + 30


def test_a_cancelled_order_counts_only_as_cancelled_and_its_wasted_labour() -> None:
    events = [
        created(at(MON, 9), promised_at=at(MON, 12)),
        assign(at(MON, 9, 10), "B02", 2),
        move(at(MON, 9, 10), "dispatched"),
        move(at(MON, 9, 30), "in_progress"),
        move(at(MON, 10), "cancelled"),
    ]
    f = facts(events, [ClockSpan(2, at(MON, 9, 30), at(MON, 10))])
    assert f.cancelled_day == MON
    assert (f.ready_day, f.delivered_day, f.ready_on_time, f.cycle_minutes) == (
        None,
        None,
        None,
        None,
    )
    assert f.reception_wait_minutes is None
    assert f.labour_day == MON
    assert (f.sold_hours, f.clocked_hours) == (0.0, 0.5)
    assert f.carried_over is False
    # It stood on B02 from dispatch until cancelled.
    assert [(b.bay, b.minutes) for b in f.bay_days] == [("B02", 50)]


def test_a_car_carried_over_midnight() -> None:
    events = [
        created(at(MON, 17), promised_at=at(TUE, 12)),
        assign(at(MON, 17, 30), "B02", 1),
        move(at(MON, 17, 30), "dispatched"),
        move(at(MON, 17, 45), "in_progress"),
        move(at(TUE, 9), "quality_check"),
        *passed(at(TUE, 10)),
        move(at(TUE, 10), "ready"),
    ]
    f = facts(events)
    assert f.checkin_day == MON and f.ready_day == TUE
    assert f.carried_over is True
    assert f.cycle_minutes == 17 * 60
    # Only open minutes fill a bay: 17:30–18:00, then 08:30–10:00.
    assert [(b.day, b.minutes) for b in f.bay_days] == [(MON, 30), (TUE, 90)]
    # Not delivered: no dwell yet, no first-time fix verdict.
    assert f.dwell == {} and f.first_time_fix is None
    days = rf.day_totals([f], MON, TUE)
    assert days[MON].sums["carried_over"] == 1
    assert days[TUE].cycle == [1020]


def test_an_open_order_is_carried_over_only_once_its_day_has_ended() -> None:
    events = [created(at(WED, 9))]
    assert order_facts(1, events, [], CALENDAR, at(WED, 17)).carried_over is False
    assert order_facts(1, events, [], CALENDAR, at(WED + timedelta(days=1), 9)).carried_over


def quoted_order() -> list[LogEvent]:
    return [
        created(at(MON, 9), items=[{"title": "保养", "labour_hours": 1.0}]),
        assign(at(MON, 9), "B01", 1),
        move(at(MON, 9), "dispatched"),
        move(at(MON, 9, 30), "in_progress"),
        event(
            "extra_work_quoted",
            at(MON, 10),
            quote_id=1,
            description="更换刹车片",
            labour_hours=1.5,
            price_cents=68000,
        ),
        move(at(MON, 10), "paused"),
        event("extra_work_decided", at(MON, 11), quote_id=1, approved=False, channel="phone"),
        event(
            "extra_work_quoted",
            at(TUE, 9),
            quote_id=2,
            description="更换前轮刹车片",
            labour_hours=1.0,
            price_cents=50000,
        ),
        event(
            "quote_revised",
            at(TUE, 9, 5),
            quote_id=2,
            version=2,
            description="更换前轮刹车片",
            labour_hours=1.0,
            price_cents=45000,
        ),
        event("extra_work_decided", at(TUE, 9, 30), quote_id=2, approved=True, channel="phone"),
        event(
            "extra_work_quoted",
            at(TUE, 9, 40),
            quote_id=3,
            description="雨刮",
            labour_hours=0.1,
            price_cents=9000,
        ),
        event("quote_expired", at(TUE, 13, 40), quote_id=3),
        event(
            "extra_work_quoted",
            at(TUE, 14),
            quote_id=4,
            description="空调滤芯",
            labour_hours=0.2,
            price_cents=12000,
        ),
    ]


def test_a_declined_then_approved_quote() -> None:
    f = facts(quoted_order())
    assert [(q.quote_id, q.day, q.status, q.price_cents) for q in f.quotes] == [
        (1, MON, "declined", 68000),
        (2, TUE, "approved", 45000),  # the revised price
        (3, TUE, "expired", 9000),
        (4, TUE, "pending", 12000),
    ]
    found = rf.figures(rf.collapse(rf.day_totals([f], MON, TUE), MON, TUE))["approval_rate"]
    # Decided: approved 1, declined 1, expired 1; pending left out.
    assert found["by_count"] == pytest.approx(1 / 3, abs=1e-4)
    assert found["by_value"] == pytest.approx(45000 / (45000 + 68000 + 9000), abs=1e-4)
    assert (found["quotes"], found["pending"], found["declined_cents"]) == (4, 1, 68000)
    monday = rf.figures(rf.collapse(rf.day_totals([f], MON, MON), MON, MON))["approval_rate"]
    assert (monday["quotes"], monday["by_count"]) == (1, 0.0)
    # The declined brake pads were sold after all as the front ones.
    assert same_work(work_text("更换刹车片"), work_text("更换前轮刹车片")) is False
    assert same_work(work_text("刹车片"), work_text("更换 前轮刹车片。"))


def test_sold_hours_are_the_items_and_approved_work() -> None:
    events = [
        *quoted_order(),
        move(at(TUE, 15), "in_progress"),
        move(at(TUE, 16), "quality_check"),
        *passed(at(TUE, 16, 30)),
        move(at(TUE, 16, 30), "ready"),
    ]
    spans = [
        ClockSpan(1, at(MON, 9, 30), at(MON, 10)),
        ClockSpan(1, at(TUE, 15), at(TUE, 16)),
        ClockSpan(2, at(TUE, 15), at(TUE, 15, 30)),
    ]
    f = facts(events, spans)
    assert f.sold_hours == 2.0  # 1 h of items + the approved 1 h
    assert f.clocked_hours == 2.0
    assert f.labour_day == TUE
    shares = {p.technician_id: (p.clocked_hours, p.sold_hours) for p in f.labour}
    assert shares == {1: (1.5, 1.5), 2: (0.5, 0.5)}
    rows = rf.technician_rows(rf.collapse(rf.day_totals([f], MON, TUE), MON, TUE))
    assert [(r["technician_id"], r["efficiency"]) for r in rows] == [(1, 1.0), (2, 1.0)]


def test_a_comeback_counts_while_its_mark_stands() -> None:
    flag = event("comeback_flagged", at(WED, 9), of_order_id=1, of_number=3, days=2, note="异响")
    unflag = event("comeback_unflagged", at(WED, 10), of_order_id=1, reason="误标")
    f = facts([created(at(WED, 8, 40)), flag], order_id=2)
    assert [(c.of_order_id, c.day, c.days) for c in f.comebacks] == [(1, WED, 2)]
    assert facts([created(at(WED, 8, 40)), flag, unflag], order_id=2).comebacks == ()
    again = facts([created(at(WED, 8, 40)), flag, unflag, flag], order_id=2)
    days = rf.day_totals([facts(plain_order()), again], MON, WED)
    assert rf.figures(rf.collapse(days, MON, WED))["comebacks"] == {
        "count": 1,
        "rate": 1.0,
        "n": 1,
    }


def test_a_booked_order_is_checked_in_when_it_arrives() -> None:
    events = [
        created(at(MON, 18), stage="booked", promised_at=at(TUE, 12)),
        move(at(TUE, 8, 45), "checked_in"),
        assign(at(TUE, 9), "B01", 1),
        move(at(TUE, 9), "dispatched"),
    ]
    f = facts(events)
    assert f.checkin_day == TUE
    assert f.reception_wait_minutes == 15
    assert "booked" not in f.dwell


def test_on_time_is_judged_against_the_first_promise() -> None:
    events = [
        *plain_order()[:-3],
        event(
            "promise_changed",
            at(MON, 11),
            old=at(MON, 17).isoformat(),
            new=at(MON, 12).isoformat(),
            by="小王",
            reason="",
        ),
        move(at(MON, 12, 30), "ready"),
    ]
    f = facts(events)
    assert f.promised_at == at(MON, 17) and f.last_promised_at == at(MON, 12)
    assert f.ready_on_time is True
    no_promise = [created(at(MON, 9)), *plain_order()[1:8]]
    assert facts(no_promise).ready_on_time is None


def test_a_period_s_figures() -> None:
    plain = facts(plain_order(), [ClockSpan(1, at(MON, 10), at(MON, 12))])
    low = facts(
        [*plain_order()[:-1], event("survey_submitted", at(TUE, 9), rating=2, comment="")],
        order_id=3,
    )
    days = rf.day_totals([plain, low], MON, WED)
    context = rf.Context(bay_open_minutes={"B01": 570.0, "B02": 570.0})
    found = rf.figures(rf.collapse(days, MON, MON), context)
    assert found["orders"] == {
        "checked_in": 2,
        "ready": 2,
        "delivered": 2,
        "cancelled": 0,
        "carried_over": 0,
    }
    assert found["on_time_rate"]["ready"] == {"rate": 1.0, "on_time": 2, "n": 2}
    assert found["cycle_minutes"] == {"median": 210, "p90": 210, "mean": 210, "n": 2}
    assert found["stage_dwell_minutes"]["in_progress"] == {"mean": 120, "n": 2}
    assert found["stage_dwell_minutes"]["paused"] == {"mean": None, "n": 0}
    assert found["bay_utilisation"]["bays"][0] == {
        "bay": "B01",
        "occupied_minutes": 360,
        "open_minutes": 570,
        "rate": round(360 / 570, 4),
    }
    assert found["bay_utilisation"]["rate"] == round(360 / 1140, 4)
    # The survey counts on the delivery day, whenever it came.
    assert found["csat"]["responses"] == 2
    assert found["csat"]["average"] == 3.5
    assert found["csat"]["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert found["csat"]["low_scores"] == 1
    assert found["csat"]["response_rate"] == 1.0
    assert found["labour"] == {
        "sold_hours": 4.0,
        "clocked_hours": 2.0,
        "sold_hours_clocked": 2.0,
        "efficiency": 1.0,
    }
    assert found["first_time_fix_rate"] == {"rate": 1.0, "first_time": 2, "n": 2}
    assert rf.workshop_half(found).keys() == set(rf.WORKSHOP_FIGURES)
    nothing = rf.figures(rf.collapse(days, WED, WED))
    assert nothing["on_time_rate"]["ready"]["rate"] is None
    assert nothing["cycle_minutes"]["median"] is None


def test_periods_and_the_previous_period() -> None:
    assert rf.periods(date(2026, 6, 27), date(2026, 7, 2), "week") == [
        (date(2026, 6, 27), date(2026, 6, 28)),
        (date(2026, 6, 29), date(2026, 7, 2)),
    ]
    assert rf.periods(date(2026, 1, 15), date(2026, 3, 3), "month") == [
        (date(2026, 1, 15), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 3)),
    ]
    assert rf.periods(date(2026, 12, 30), date(2027, 1, 1), "month")[-1] == (
        date(2027, 1, 1),
        date(2027, 1, 1),
    )
    assert len(rf.periods(MON, WED, "day")) == 3
    assert rf.previous_range(date(2026, 6, 1), date(2026, 6, 30)) == (
        date(2026, 5, 2),
        date(2026, 5, 31),
    )


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert rf.percentile(values, 0.9) == 9
    assert rf.spread(values)["median"] == 5.5
    assert rf.percentile([3.0], 0.9) == 3


def test_totals_subtract_what_they_added() -> None:
    plain = facts(plain_order(), [ClockSpan(1, at(MON, 10), at(MON, 12))])
    carried = facts(
        [
            created(at(MON, 17), promised_at=at(TUE, 12)),
            assign(at(MON, 17, 30), "B02", 1),
            move(at(MON, 17, 30), "dispatched"),
        ],
        order_id=2,
    )
    both = rf.collapse(rf.day_totals([plain, carried], MON, TUE), MON, TUE)
    both.subtract(rf.collapse(rf.day_totals([carried], MON, TUE), MON, TUE))
    alone = rf.collapse(rf.day_totals([plain], MON, TUE), MON, TUE)
    assert rf.figures(both) == rf.figures(alone)
