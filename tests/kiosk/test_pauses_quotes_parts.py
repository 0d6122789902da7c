"""Pauses, quotes and parts through the real REST API, on a real database.

The first test is the outside report, step by step: a demo order paused for
brake pads, then extra work quoted, then approved by the customer. Before,
the pause reason switched to approval, the parts note was replaced by the
quote text, and the approval put the order back in progress with both
technicians' clocks running while the car still waited for the pads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from shared.persistence.models import LabourSegment
from shared.services import labour, timers
from shared.services.core import Core

MORNING = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


class Clock:
    """The service clock, moved by the test (core.clock is the only time source)."""

    def __init__(self, core: Core, at: datetime = MORNING) -> None:
        self.at = at
        core.clock = lambda: self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def running(core: Core, order_id: int) -> list[tuple[int, str, str]]:
    with core.db.read() as session:
        rows = session.execute(
            select(
                LabourSegment.technician_id, LabourSegment.started_by, LabourSegment.started_how
            ).where(LabourSegment.order_id == order_id, LabourSegment.ended_at.is_(None))
        ).all()
    return [tuple(r) for r in rows]


def token_of(order: dict[str, Any]) -> str:
    return str(order["customer_url"].rsplit("/", 1)[1])


def two_technicians_at_work(api: Any, shop: Any, plate: str) -> dict[str, Any]:
    order = api.assign(api.create(plate, hours=2.0), list(shop.technicians))
    status, order = api.move(order, "in_progress")
    assert status == 200, order
    return order


def test_the_reported_parts_then_quote_then_approval_keeps_the_car_waiting(
    api, shop, core, client
) -> None:
    Clock(core)
    order = two_technicians_at_work(api, shop, "粤B50001")
    status, paused = api.move(order, "paused", pause_reason="parts", reason="等刹车片")
    assert status == 200, paused
    status, quote = api.call(
        "POST",
        f"/api/v1/orders/{order['id']}/extra-work",
        "technician",
        {
            "description": "刹车盘磨损",
            "labour_hours": 1.0,
            "price_cents": 60_000,
            "version": paused["version"],
        },
    )
    assert status == 201, quote
    order = quote["order"]
    assert [(r["reason"], r["note"]) for r in order["pause_reasons"]] == [
        ("parts", "等刹车片"),
        ("approval", "刹车盘磨损"),
    ]
    assert (order["pause_reason"], order["pause_note"]) == ("parts", "等刹车片")

    approved = client.post(
        f"/api/v1/track/{token_of(order)}/extra-work/{quote['id']}/decision",
        json={"approved": True, "quote_version": quote["version"]},
    )
    assert approved.status_code == 200, approved.get_json()
    after = api.get(order["id"])
    # Still waiting for the pads: paused, the parts note intact, no clock.
    assert after["stage"] == "paused"
    assert [(r["reason"], r["note"]) for r in after["pause_reasons"]] == [("parts", "等刹车片")]
    assert running(core, order["id"]) == []
    for technician in shop.technicians:
        assert labour.running_clock(core, technician) is None
    status, refused = api.move(after, "in_progress")
    assert status == 409 and refused["code"] == "parts_pending"

    # The pads arrive: the car waits for nobody, and still nothing runs.
    status, arrived = api.call(
        "PATCH", f"/api/v1/orders/{order['id']}/parts/1", "advisor", {"status": "arrived"}
    )
    assert status == 200, arrived
    assert (arrived["order"]["stage"], arrived["order"]["pause_reasons"]) == ("paused", [])
    assert running(core, order["id"]) == []
    # The technician's tap resumes the work and starts their clock only.
    status, resumed = api.move(arrived["order"], "in_progress")
    assert status == 200 and resumed["stage"] == "in_progress"
    technician = shop.technicians[0]
    assert [(t, how) for t, _by, how in running(core, order["id"])] == [(technician, "own")]


def test_a_revised_quote_refuses_a_decision_on_the_old_version(api, shop, core, client) -> None:
    Clock(core)
    order = two_technicians_at_work(api, shop, "粤B50002")
    status, quote = api.call(
        "POST",
        f"/api/v1/orders/{order['id']}/extra-work",
        "technician",
        {
            "description": "雨刮",
            "labour_hours": 0.2,
            "price_cents": 8_000,
            "version": order["version"],
        },
    )
    assert status == 201
    status, revised = api.call(
        "PUT",
        f"/api/v1/orders/{order['id']}/extra-work/{quote['id']}",
        "advisor",
        {
            "description": "雨刮（一对）",
            "labour_hours": 0.3,
            "price_cents": 15_000,
            "quote_version": 1,
        },
    )
    assert status == 200, revised
    assert (revised["version"], revised["price_cents"]) == (2, 15_000)
    token = token_of(order)
    old = client.post(
        f"/api/v1/track/{token}/extra-work/{quote['id']}/decision",
        json={"approved": True, "quote_version": 1},
    )
    assert old.status_code == 409 and old.get_json()["code"] == "stale_version"
    assert api.get(order["id"])["quotes"][0]["status"] == "pending"
    # Revising the old version again is refused the same way.
    status, stale = api.call(
        "PUT",
        f"/api/v1/orders/{order['id']}/extra-work/{quote['id']}",
        "advisor",
        {"description": "x", "labour_hours": 0.3, "price_cents": 1, "quote_version": 1},
    )
    assert status == 409 and stale["code"] == "stale_version"
    new = client.post(
        f"/api/v1/track/{token}/extra-work/{quote['id']}/decision",
        json={"approved": True, "quote_version": 2},
    )
    assert new.status_code == 200, new.get_json()
    decided = api.get(order["id"])["quotes"][0]
    assert (decided["status"], decided["decided_version"], decided["channel"]) == (
        "approved",
        2,
        "customer_page",
    )
    # An approved quote is locked: a change needs a new quote.
    status, locked = api.call(
        "PUT",
        f"/api/v1/orders/{order['id']}/extra-work/{quote['id']}",
        "advisor",
        {"description": "x", "labour_hours": 0.3, "price_cents": 1, "quote_version": 2},
    )
    assert status == 409 and locked["code"] == "quote_locked"


def test_an_unanswered_quote_expires_and_a_late_decision_is_refused(
    api, shop, core, client
) -> None:
    clock = Clock(core)
    order = two_technicians_at_work(api, shop, "粤B50003")
    status, quote = api.call(
        "POST",
        f"/api/v1/orders/{order['id']}/extra-work",
        "technician",
        {
            "description": "轮胎",
            "labour_hours": 0.5,
            "price_cents": 90_000,
            "version": order["version"],
        },
    )
    assert status == 201
    assert timers.expire_due_quotes(core) == 0, "nothing is due yet"
    clock.advance(hours=4, seconds=1)
    late = client.post(
        f"/api/v1/track/{token_of(order)}/extra-work/{quote['id']}/decision",
        json={"approved": True, "quote_version": 1},
    )
    assert late.status_code == 409 and late.get_json()["code"] == "quote_expired"
    assert timers.expire_due_quotes(core) == 1
    assert timers.expire_due_quotes(core) == 0, "an expired quote expires once"
    after = api.get(order["id"])
    assert after["quotes"][0]["status"] == "expired"
    assert (after["stage"], after["pause_reasons"]) == ("paused", [])
    types = [e["type"] for e in after["history"]][-2:]
    assert types == ["quote_expired", "pause_reason_cleared"]
    assert after["history"][-1]["actor"] == "quote clock"
    status, phoned = api.call(
        "POST",
        f"/api/v1/orders/{order['id']}/extra-work/{quote['id']}/decision",
        "advisor",
        {"approved": True, "quote_version": 1, "channel": "phone"},
    )
    assert status == 409 and phoned["code"] == "quote_expired"


def test_parts_move_requested_ordered_arrived_and_only_the_counter_moves_them(
    api, shop, core
) -> None:
    Clock(core)
    order = two_technicians_at_work(api, shop, "粤B50004")
    status, part = api.call(
        "POST",
        f"/api/v1/orders/{order['id']}/parts",
        "technician",
        {"description": "机油滤清器", "version": order["version"]},
    )
    assert status == 201, part
    assert (part["id"], part["status"], part["order"]["stage"]) == (1, "requested", "paused")
    eta = "2030-01-07T15:30:00+08:00"
    status, refused = api.call(
        "PATCH",
        f"/api/v1/orders/{order['id']}/parts/1",
        "technician",
        {"status": "ordered", "eta": eta},
    )
    assert status == 403, refused
    status, ordered = api.call(
        "PATCH",
        f"/api/v1/orders/{order['id']}/parts/1",
        "foreman",
        {"status": "ordered", "eta": eta},
    )
    assert status == 200, ordered
    assert ordered["eta"] == "2030-01-07T07:30:00+00:00"
    reason = ordered["order"]["pause_reasons"][0]
    assert (reason["key"], reason["expected_at"]) == ("parts:1", "2030-01-07T07:30:00+00:00")
    status, bad = api.call(
        "PATCH", f"/api/v1/orders/{order['id']}/parts/1", "advisor", {"status": "lost"}
    )
    assert status == 422 and bad["field"] == "status"
    status, arrived = api.call(
        "PATCH", f"/api/v1/orders/{order['id']}/parts/1", "advisor", {"status": "arrived"}
    )
    assert status == 200 and arrived["status"] == "arrived"
    status, again = api.call(
        "PATCH", f"/api/v1/orders/{order['id']}/parts/1", "advisor", {"status": "ordered"}
    )
    assert status == 422, again
    assert api.get(order["id"])["pause_reasons"] == []


def test_an_other_reason_is_cleared_by_the_floor_and_parts_are_not(api, shop, core) -> None:
    Clock(core)
    order = two_technicians_at_work(api, shop, "粤B50005")
    status, _ = api.move(order, "paused", pause_reason="other", reason="等试车道")
    assert status == 200
    status, part = api.call(
        "POST",
        f"/api/v1/orders/{order['id']}/parts",
        "technician",
        {"description": "火花塞"},
    )
    assert status == 201
    keys = [r["key"] for r in part["order"]["pause_reasons"]]
    assert keys[1] == "parts:1" and keys[0].startswith("other:")
    status, refused = api.call(
        "POST", f"/api/v1/orders/{order['id']}/pause-reasons/parts:1/clear", "technician", {}
    )
    assert status == 422 and refused["field"] == "key"
    status, cleared = api.call(
        "POST", f"/api/v1/orders/{order['id']}/pause-reasons/{keys[0]}/clear", "technician", {}
    )
    assert status == 200, cleared
    assert [r["key"] for r in cleared["pause_reasons"]] == ["parts:1"]
    assert cleared["stage"] == "paused"
