"""Leave days through PATCH /api/v1/staff/{id}: the list replaces the
future ones, GET shows them, and a technician on leave brings no hours to
that day's capacity."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.services.core import Core
from tests.conftest import HandClock

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def test_leave_days_replace_the_future_ones_and_cut_the_capacity(
    client: Any, core: Core, shop: Any
) -> None:
    core.clock = HandClock(NOW)
    admin = shop.headers("admin")
    technician = shop.technicians[0]
    before = client.get("/api/v1/capacity?date=2026-06-02", headers=admin).get_json()
    assert before["technician_hours"] == 19.0  # two technicians × 08:30–18:00
    listed = client.get("/api/v1/staff", headers=admin).get_json()["staff"]
    staff = next(s for s in listed if s["id"] == technician)
    assert staff["leave"] == []
    changed = client.patch(
        f"/api/v1/staff/{technician}",
        json={"version": staff["version"], "leave": ["2026-06-03", "2026-06-02", "2026-06-02"]},
        headers=admin,
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["leave"] == ["2026-06-02", "2026-06-03"]
    after = client.get("/api/v1/capacity?date=2026-06-02", headers=admin).get_json()
    assert after["technician_hours"] == 9.5
    again = client.patch(
        f"/api/v1/staff/{technician}",
        json={"version": changed.get_json()["version"], "leave": ["2026-06-05"]},
        headers=admin,
    )
    assert again.get_json()["leave"] == ["2026-06-05"]
    past = client.patch(
        f"/api/v1/staff/{technician}",
        json={"version": changed.get_json()["version"], "leave": ["2026-05-01"]},
        headers=admin,
    )
    assert past.status_code == 422 and past.get_json()["field"] == "leave"
    wrong = client.patch(
        f"/api/v1/staff/{technician}",
        json={"version": changed.get_json()["version"], "leave": ["June"]},
        headers=admin,
    )
    assert wrong.status_code == 422
    assert date(2026, 6, 5).isoformat() in client.get("/api/v1/staff", headers=admin).get_data(
        as_text=True
    )
