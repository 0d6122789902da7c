"""The appointments REST API (CONTRACT v1.1 names): capacity of a day,
book (201, or 409 capacity_full with alternatives), the day's list, one
appointment with its history, check-in into the order, cancel, reschedule,
no-show; roles, idempotency, version checks; and the shop's appointment
settings through PATCH /api/v1/shop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.services.core import Core
from tests.conftest import HandClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=SHANGHAI).astimezone(UTC)


def at(hour: int, minute: int = 0, day: int = 2) -> str:
    return datetime(2026, 6, day, hour, minute, tzinfo=SHANGHAI).isoformat()


BODY = {
    "plate": "沪A12345",
    "customer": {"name": "张先生", "phone": "13800000000", "notify": ["sms"]},
    "vehicle": {"model": "朗逸", "vin": "LSVAB", "mileage": 42000},
    "complaint": "保养",
    "items": [{"title": "小保养", "labour_hours": 1, "bay_kind": "general"}],
}


def test_book_list_check_in(client: Any, core: Core, shop: Any) -> None:
    core.clock = HandClock(NOW)
    capacity = client.get("/api/v1/capacity?date=2026-06-02", headers=shop.headers("advisor"))
    assert capacity.status_code == 200
    assert capacity.get_json()["slots"][0]["start"] == at(8, 30)
    made = client.post(
        "/api/v1/appointments",
        json={**BODY, "start": at(9)},
        headers=shop.headers("advisor", key="b1"),
    )
    assert made.status_code == 201, made.get_json()
    booked = made.get_json()
    replay = client.post(
        "/api/v1/appointments",
        json={**BODY, "start": at(9)},
        headers=shop.headers("advisor", key="b1"),
    )
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.get_json() == booked
    full = client.post(
        "/api/v1/appointments",
        json={**BODY, "plate": "沪B22222", "start": at(9)},
        headers=shop.headers("advisor"),
    )
    assert full.status_code == 409
    problem = full.get_json()
    assert problem["code"] == "capacity_full" and problem["reason"] == "reception_full"
    assert problem["alternatives"] == [at(8, 45), at(9, 15), at(8, 30)]
    day = client.get("/api/v1/appointments?date=2026-06-02", headers=shop.headers("technician"))
    assert [a["id"] for a in day.get_json()["appointments"]] == [booked["id"]]
    one = client.get(f"/api/v1/appointments/{booked['id']}", headers=shop.headers("foreman"))
    assert [e["type"] for e in one.get_json()["events"]] == ["booked"]
    stale = client.post(
        f"/api/v1/appointments/{booked['id']}/check-in",
        json={"version": 7},
        headers=shop.headers("advisor"),
    )
    assert stale.status_code == 409 and stale.get_json()["appointment"]["version"] == 1
    order = client.post(
        f"/api/v1/appointments/{booked['id']}/check-in",
        json={"version": 1},
        headers=shop.headers("advisor"),
    )
    assert order.status_code == 201
    assert order.get_json()["plate"] == "沪A12345" and order.get_json()["number"] == 1
    again = client.post(
        f"/api/v1/appointments/{booked['id']}/check-in",
        json={"version": 2},
        headers=shop.headers("advisor"),
    )
    assert again.status_code == 409
    assert again.get_json()["appointment"]["order_id"] == order.get_json()["id"]


def test_roles_and_refusals(client: Any, core: Core, shop: Any) -> None:
    core.clock = HandClock(NOW)
    technician = client.post(
        "/api/v1/appointments", json={**BODY, "start": at(9)}, headers=shop.headers("technician")
    )
    assert technician.status_code == 403
    board = client.get("/api/v1/appointments", headers=shop.headers("display-board"))
    assert board.status_code == 403
    no_start = client.post("/api/v1/appointments", json=BODY, headers=shop.headers("advisor"))
    assert no_start.status_code == 422 and no_start.get_json()["field"] == "start"
    bad_kind = client.post(
        "/api/v1/appointments",
        json={**BODY, "start": at(9), "items": [{"title": "x", "bay_kind": "moon"}]},
        headers=shop.headers("advisor"),
    )
    assert bad_kind.status_code == 422 and bad_kind.get_json()["field"] == "items[0].bay_kind"
    unknown = client.post(
        "/api/v1/appointments", json={**BODY, "start": at(9), "x": 1}, headers=shop.headers()
    )
    assert unknown.status_code == 422 and unknown.get_json()["field"] == "x"
    made = client.post(
        "/api/v1/appointments", json={**BODY, "start": at(9)}, headers=shop.headers()
    ).get_json()
    no_reason = client.post(
        f"/api/v1/appointments/{made['id']}/cancel", json={"version": 1}, headers=shop.headers()
    )
    assert no_reason.status_code == 422
    moved = client.post(
        f"/api/v1/appointments/{made['id']}/reschedule",
        json={"version": 1, "start": at(10)},
        headers=shop.headers(),
    )
    assert moved.status_code == 200 and moved.get_json()["start"] == at(10)
    early = client.post(
        f"/api/v1/appointments/{made['id']}/no-show", json={"version": 2}, headers=shop.headers()
    )
    assert early.status_code == 409
    cancelled = client.post(
        f"/api/v1/appointments/{made['id']}/cancel",
        json={"version": 2, "reason": "改天"},
        headers=shop.headers(),
    )
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"


def test_the_shop_s_appointment_settings(client: Any, core: Core, shop: Any) -> None:
    core.clock = HandClock(NOW)
    profile = client.get("/api/v1/shop", headers=shop.headers()).get_json()
    assert profile["appointments"] == {
        "walk_in_share": 0.3,
        "cars_per_advisor_per_slot": 1,
        "grace_minutes": 30,
        "lead_minutes": 60,
        "days_ahead": 14,
        "online_booking": True,
        "phone_verification": False,
        "board_arrivals": False,
    }
    changed = client.patch(
        "/api/v1/shop",
        json={
            "version": profile["version"],
            "appointments": {"walk_in_share": 0, "cars_per_advisor_per_slot": 3},
        },
        headers=shop.headers(),
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["appointments"]["walk_in_share"] == 0
    assert changed.get_json()["appointments"]["grace_minutes"] == 30
    capacity = client.get("/api/v1/capacity?date=2026-06-02", headers=shop.headers()).get_json()
    # No advisor staff: one car per slot however many each advisor takes.
    assert capacity["slots"][0]["capacity"] == 1
    assert capacity["labour"]["general"]["total"] == 19.0
    assert capacity["labour"]["general"]["free"] == 19.0
    for wrong in ({"walk_in_share": 0.95}, {"grace_minutes": -1}, {"online": True}):
        refused = client.patch(
            "/api/v1/shop",
            json={"version": changed.get_json()["version"], "appointments": wrong},
            headers=shop.headers(),
        )
        assert refused.status_code == 422
        assert refused.get_json()["field"].startswith("appointments.")
