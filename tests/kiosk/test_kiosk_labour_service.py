"""Labour clock through the real REST API and the real services: segments
follow start / pause / resume / finish, refusals write nothing, reassignment,
shift end, the 2× flag, the exception list and sold vs clocked hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from shared.domain import labour as rules
from shared.persistence.models import LabourSegment, OrderEvent
from shared.services import labour, setup
from shared.services.auth import create_api_token
from shared.services.core import Core

# 10:00 in Shanghai on a Monday: inside the shift.
MORNING = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)


class Clock:
    """The service clock, moved by the test (core.clock is the only time source)."""

    def __init__(self, core: Core, at: datetime = MORNING) -> None:
        self.at = at
        core.clock = lambda: self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def segments(core: Core, order_id: int) -> list[rules.Segment]:
    return labour.order_segments(core, order_id)


def count(core: Core, model: Any) -> int:
    with core.db.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_start_pause_resume_finish_write_one_segment_each_stretch(api, shop, core) -> None:
    clock = Clock(core)
    wang = shop.technicians[0]
    order = api.assign(api.create("粤B10001", hours=2.0), [wang])
    status, order = api.move(order, "in_progress")
    assert status == 200
    assert [(s.technician_id, s.running) for s in segments(core, order["id"])] == [(wang, True)]
    clock.advance(minutes=30)
    status, order = api.move(order, "paused", pause_reason="parts", reason="刹车片")
    assert status == 200
    clock.advance(minutes=20)  # waiting for parts: no clock
    status, arrived = api.call(
        "PATCH", f"/api/v1/orders/{order['id']}/parts/1", "advisor", {"status": "arrived"}
    )
    assert status == 200 and arrived["status"] == "arrived"
    assert [s.running for s in segments(core, order["id"])] == [False], "an arrival clocks no one"
    status, order = api.move(arrived["order"], "in_progress")
    assert status == 200
    clock.advance(minutes=40)
    status, order = api.move(order, "quality_check")
    assert status == 200
    found = segments(core, order["id"])
    assert [(s.end_reason, round(s.hours(MORNING), 3)) for s in found] == [
        (rules.END_PAUSE, 0.5),
        (rules.END_FINISH, round(40 / 60, 3)),
    ]
    assert not any(s.running or s.flagged for s in found)
    assert labour.running_clock(core, wang) is None


def test_a_second_active_clock_is_refused_and_nothing_is_written(api, shop, core) -> None:
    Clock(core)
    wang = shop.technicians[0]
    first = api.assign(api.create("粤B10002"), [wang])
    status, first = api.move(first, "in_progress")
    assert status == 200
    second = api.assign(api.create("粤B10003"), [wang], bay="B02")
    events_before, segments_before = count(core, OrderEvent), count(core, LabourSegment)
    status, problem = api.move(second, "in_progress")
    assert status == 409
    assert problem["code"] == "clock_conflict"
    assert problem["order"]["stage"] == "dispatched"  # the current state, to redraw
    assert count(core, OrderEvent) == events_before
    assert count(core, LabourSegment) == segments_before
    assert api.get(second["id"])["version"] == second["version"]
    # Pausing the first job frees the clock for the second.
    api.move(first, "paused", pause_reason="other", reason="试车")
    assert api.move(second, "in_progress")[0] == 200


def test_only_an_assigned_technician_clocks(api, shop, core) -> None:
    Clock(core)
    zhao = setup.create_user(core, shop.shop_id, role="technician", name="赵师傅")
    shop.tokens["zhao"] = create_api_token(
        core, shop_id=shop.shop_id, role="technician", name="赵师傅", user_id=zhao
    )
    order = api.assign(api.create("粤B10004"), [shop.technicians[0]])
    status, _problem = api.move(order, "in_progress", role="zhao")
    assert status == 403
    assert segments(core, order["id"]) == []


def test_reassignment_closes_the_removed_technicians_clock(api, shop, core) -> None:
    clock = Clock(core)
    wang, li = shop.technicians
    order = api.assign(api.create("粤B10005"), [wang, li])
    _, order = api.move(order, "in_progress")  # Wang taps start: only his clock
    clock.advance(minutes=15)
    order = api.assign(order, [li])
    found = segments(core, order["id"])
    assert [(s.technician_id, s.end_reason) for s in found] == [(wang, rules.END_REASSIGNED)]
    assert found[0].ended_at == clock.at


def test_second_technician_clocks_on_a_job_in_progress(api, shop, core, client) -> None:
    Clock(core)
    wang, li = shop.technicians
    order = api.assign(api.create("粤B10006"), [wang, li])
    _, order = api.move(order, "in_progress")
    from shared.services.commands import CommandRequest

    principal_actor = _actor(shop, "technician2")
    outcome = labour.clock_on(core, CommandRequest(principal_actor, shop.shop_id), order["id"])
    assert outcome.body["clock"]["order_id"] == order["id"]
    assert sorted(s.technician_id for s in segments(core, order["id"]) if s.running) == [wang, li]
    # Pausing stops the whole job: both clocks close.
    api.move(api.get(order["id"]), "paused", pause_reason="parts", reason="")
    assert not any(s.running for s in segments(core, order["id"]))


def _actor(shop: Any, role: str) -> Any:
    from shared.services.auth import resolve_bearer

    principal = resolve_bearer(shop.core, shop.tokens[role])
    assert principal is not None
    return principal.actor()


def test_customer_approval_starts_no_clock_the_technician_does(api, shop, core) -> None:
    Clock(core)
    wang = shop.technicians[0]
    order = api.assign(api.create("粤B10007"), [wang])
    _, order = api.move(order, "in_progress")
    status, quote = api.call(
        "POST",
        f"/api/v1/orders/{order['id']}/extra-work",
        "technician",
        {
            "description": "刹车盘磨损",
            "labour_hours": 1.0,
            "price_cents": 50000,
            "version": order["version"],
        },
    )
    assert status == 201
    assert [s.end_reason for s in segments(core, order["id"])] == [rules.END_PAUSE]
    status, decided = api.call(
        "POST",
        f"/api/v1/orders/{order['id']}/extra-work/{quote['id']}/decision",
        "advisor",
        {"approved": True, "quote_version": quote["version"], "channel": "phone"},
    )
    # The car still waits for the technician: no clock runs for anyone.
    assert status == 200 and decided["stage"] == "paused"
    assert [s.running for s in segments(core, order["id"])] == [False]
    status, resumed = api.move(decided, "in_progress")
    assert status == 200 and resumed["stage"] == "in_progress"
    found = segments(core, order["id"])
    assert [(s.technician_id, s.running) for s in found] == [(wang, False), (wang, True)]


def test_a_clock_left_running_at_shift_end_is_closed_there_and_flagged(api, shop, core) -> None:
    clock = Clock(core)
    wang = shop.technicians[0]
    order = api.assign(api.create("粤B10008", hours=8.0), [wang])
    _, order = api.move(order, "in_progress")
    clock.at = datetime(2030, 1, 8, 0, 30, tzinfo=UTC)  # 08:30 next morning
    assert labour.close_shift(core, shop.shop_id) == 1
    [closed] = segments(core, order["id"])
    assert closed.ended_at == datetime(2030, 1, 7, 10, 0, tzinfo=UTC)  # 18:00 Shanghai
    assert closed.end_reason == rules.END_SHIFT
    assert closed.flagged and rules.FLAG_SHIFT_END in closed.flag_reason
    assert labour.close_shift(core, shop.shop_id) == 0  # idempotent
    listed = labour.daily_exceptions(core, shop.shop_id, day=datetime(2030, 1, 7).date())
    assert [(e["kind"], e["order_id"]) for e in listed] == [("shift_end", order["id"])]
    # The order is still in progress; Wang clocks on again in the morning.
    from shared.services.commands import CommandRequest

    labour.clock_on(core, CommandRequest(_actor(shop, "technician"), shop.shop_id), order["id"])
    assert [s.running for s in segments(core, order["id"])] == [False, True]


def test_a_forgotten_clock_is_closed_before_the_next_one_opens(api, shop, core) -> None:
    clock = Clock(core)
    wang = shop.technicians[0]
    old = api.assign(api.create("粤B10009"), [wang])
    api.move(old, "in_progress")
    clock.at = datetime(2030, 1, 8, 1, 0, tzinfo=UTC)
    new = api.assign(api.create("粤B10010"), [wang], bay="B02")
    status, _ = api.move(new, "in_progress")
    assert status == 200  # yesterday's clock does not block today's
    assert segments(core, old["id"])[0].end_reason == rules.END_SHIFT


def test_a_job_over_twice_its_standard_hours_is_flagged(api, shop, core) -> None:
    clock = Clock(core)
    order = api.assign(api.create("粤B10011", hours=0.5), [shop.technicians[0]])
    _, order = api.move(order, "in_progress")
    clock.advance(minutes=61)
    assert [e["kind"] for e in labour.daily_exceptions(core, shop.shop_id)] == ["overrun"]
    _, order = api.move(order, "quality_check")
    [segment] = segments(core, order["id"])
    assert segment.flagged and rules.FLAG_OVERRUN in segment.flag_reason
    [listed] = labour.daily_exceptions(core, shop.shop_id)
    assert listed["clocked_hours"] == round(61 / 60, 2)
    assert listed["standard_hours"] == 0.5


def test_sold_vs_clocked_per_technician(api, shop, core) -> None:
    clock = Clock(core)
    wang, li = shop.technicians
    first = api.assign(api.create("粤B10012", hours=2.0), [wang])
    _, first = api.move(first, "in_progress")
    clock.advance(hours=1)
    api.move(first, "quality_check")
    second = api.assign(api.create("粤B10013", hours=1.0), [li], bay="B02")
    _, second = api.move(second, "in_progress", role="technician2")
    clock.advance(hours=2)
    api.move(second, "quality_check", role="technician2")
    figures = {f["technician"]["id"]: f for f in labour.sold_vs_clocked(core, shop.shop_id)}
    assert figures[wang]["sold_hours"] == 2.0 and figures[wang]["clocked_hours"] == 1.0
    assert figures[li]["sold_hours"] == 1.0 and figures[li]["clocked_hours"] == 2.0
    assert figures[li]["ratio"] == 0.5
    plan = {b["bay"]: b for b in labour.bay_plan(core, shop.shop_id)}
    assert plan["B01"]["planned_hours"] == 2.0 and plan["B01"]["clocked_hours"] == 1.0
    states = {t["id"]: t["state"] for t in labour.technician_states(core, shop.shop_id)}
    assert states == {wang: "idle", li: "idle"}
