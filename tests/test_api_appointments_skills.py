"""Technician skills through PATCH /api/v1/staff/{id}: a skill is a
qualification named after the bay kind it is for (ev, paint, alignment), it
changes the day's capacity of that kind (GET /api/v1/capacity, POST
/api/v1/appointments), and it is no role: it signs no check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain.stages import Role
from shared.services import setup
from shared.services.auth import resolve_bearer
from shared.services.core import Core
from shared.web.openapi import document
from tests.conftest import HandClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=SHANGHAI).astimezone(UTC)
DAY = "2026-06-02"
EV_JOB = {
    "plate": "粤BD12345",
    "customer": {"name": "林女士", "phone": "13800000001", "notify": ["sms"]},
    "vehicle": {"model": "比亚迪 汉", "vin": "LGXCE", "mileage": 30000},
    "complaint": "高压系统检查",
    "items": [{"title": "高压系统检查", "labour_hours": 2, "bay_kind": "ev"}],
    "start": datetime(2026, 6, 2, 9, 0, tzinfo=SHANGHAI).isoformat(),
}


def staff_of(client: Any, shop: Any, user_id: int) -> dict[str, Any]:
    listed = client.get("/api/v1/staff", headers=shop.headers("admin")).get_json()["staff"]
    found: dict[str, Any] = next(s for s in listed if s["id"] == user_id)
    return found


def set_qualifications(client: Any, shop: Any, user_id: int, values: list[str]) -> Any:
    person = staff_of(client, shop, user_id)
    return client.patch(
        f"/api/v1/staff/{user_id}",
        json={"version": person["version"], "qualifications": values},
        headers=shop.headers("admin"),
    )


def ev_labour(client: Any, shop: Any) -> dict[str, float]:
    day = client.get(f"/api/v1/capacity?date={DAY}", headers=shop.headers("advisor")).get_json()
    labour: dict[str, float] = day["labour"]["ev"]
    return labour


def test_an_ev_skill_opens_the_days_ev_capacity(client: Any, core: Core, shop: Any) -> None:
    core.clock = HandClock(NOW)
    # An EV bay of two places (19 h): the technicians, not the bay, bound the kind.
    setup.add_bay(core, shop.shop_id, "E1", "新能源工位", kind="ev", capacity=2)
    wang, li = shop.technicians

    # Nobody trained for EV work: the kind has no hours, the job is refused.
    assert ev_labour(client, shop)["total"] == 0
    refused = client.post("/api/v1/appointments", json=EV_JOB, headers=shop.headers("advisor"))
    assert refused.status_code == 409, refused.get_json()
    assert refused.get_json()["code"] == "capacity_full"
    assert refused.get_json()["reason"] == "labour_full"
    assert refused.get_json()["alternatives"] == []

    # 王师傅 trained for EV work: his day (08:30–18:00, 9.5 h) is the kind's.
    changed = set_qualifications(client, shop, wang, ["ev"])
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["qualifications"] == ["ev"]
    labour = ev_labour(client, shop)
    assert labour["total"] == 9.5
    assert labour["free"] == 6.65  # less the default walk-in share of 0.3
    booked = client.post(
        "/api/v1/appointments", json=EV_JOB, headers=shop.headers("advisor", key="ev1")
    )
    assert booked.status_code == 201, booked.get_json()
    assert ev_labour(client, shop)["booked"] == 2.0

    # Both trained: twice the hours.
    assert (
        set_qualifications(client, shop, li, ["team_lead", "qc_inspector", "ev"]).status_code == 200
    )
    assert ev_labour(client, shop)["total"] == 19.0

    # 王师傅 on leave that day: only 李师傅's hours.
    person = staff_of(client, shop, wang)
    leave = client.patch(
        f"/api/v1/staff/{wang}",
        json={"version": person["version"], "leave": [DAY]},
        headers=shop.headers("admin"),
    )
    assert leave.status_code == 200, leave.get_json()
    assert ev_labour(client, shop)["total"] == 9.5


def test_a_skill_is_checked_and_is_no_role(client: Any, core: Core, shop: Any) -> None:
    wang, _li = shop.technicians
    unknown = set_qualifications(client, shop, wang, ["welding"])
    assert unknown.status_code == 422
    assert unknown.get_json()["field"] == "qualifications"
    assert unknown.get_json()["reason"] == "unknown"
    twice = set_qualifications(client, shop, wang, ["ev", "ev"])
    assert twice.status_code == 422 and twice.get_json()["reason"] == "twice"

    # A skill signs nothing: the technician's roles are as without it.
    before = resolve_bearer(core, shop.tokens["technician"])
    assert before is not None and before.user_id == wang
    assert set_qualifications(client, shop, wang, ["ev", "paint", "alignment"]).status_code == 200
    core.principals.clear()
    skilled = resolve_bearer(core, shop.tokens["technician"])
    assert skilled is not None and skilled.roles == before.roles
    assert Role.TEAM_LEAD not in skilled.roles and Role.QC_INSPECTOR not in skilled.roles
    # The inspections keep their meaning beside a skill.
    assert set_qualifications(client, shop, wang, ["ev", "team_lead"]).status_code == 200
    core.principals.clear()
    lead = resolve_bearer(core, shop.tokens["technician"])
    assert lead is not None and Role.TEAM_LEAD in lead.roles
    assert Role.QC_INSPECTOR not in lead.roles


def test_the_openapi_document_lists_the_skills() -> None:
    schemas = document()["components"]["schemas"]
    for name in ("Technician", "Staff"):
        listed = schemas[name]["properties"]["qualifications"]["items"]["enum"]
        assert {"team_lead", "qc_inspector", "ev", "paint", "alignment"} <= set(listed), name
