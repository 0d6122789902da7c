"""The inspection chain through the real app and database: one person signs
at most one level of a job (the kiosk offers them no second pass, and the
command refuses one 409 ``same_person_checks``, whichever credential they
use), a failed check starts the chain again, and the shop's setting
``checks_by_one_person_allowed`` (REST and /admin/shop) lets a small shop's
one inspector sign more, recorded on the event."""

from __future__ import annotations

import re
from typing import Any

from test_kiosk_api import signed_in, tap

from shared.services import setup, shop_profile
from tests.staff_sessions import sign_in_as


def in_check(api: Any, shop: Any, plate: str, bay: str = "B01") -> dict[str, Any]:
    """An order of 王师傅's, self-checked: waiting for the team lead."""
    order = api.assign(api.create(plate), [shop.technicians[0]], bay=bay)
    _, order = api.move(order, "in_progress")
    status, order = api.move(order, "quality_check")
    assert status == 200 and order["check_level"] == "team_lead", order
    return order


def me(client: Any, token: str) -> dict[str, Any]:
    reply = client.get("/kiosk/api/me", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200
    return dict(reply.get_json())


def check_of(client: Any, token: str, order_id: int) -> dict[str, Any]:
    [found] = [c for c in me(client, token)["checks"] if c["id"] == order_id]
    return dict(found)


def passes(api: Any, order_id: int) -> list[tuple[str, str, bool]]:
    """Each check_passed of the order: level, who, whether one person was allowed."""
    return [
        (e["data"]["level"], e["actor"], e["data"]["checks_by_one_person_allowed"])
        for e in api.get(order_id)["history"]
        if e["type"] == "check_passed"
    ]


def qc_inspector(core: Any, shop: Any) -> str:
    """赵质检: a second QC inspector of the shop, badge 1003."""
    setup.create_user(
        core,
        shop.shop_id,
        role="technician",
        name="赵质检",
        badge="1003",
        pin="4321",
        qualifications=("qc_inspector",),
    )
    return "1003"


def test_one_person_signs_one_level_whatever_credential_they_use(client, shop, core, api) -> None:
    order = in_check(api, shop, "粤B40001")
    li = signed_in(client, shop, core, "1002", "5678")
    zhao = signed_in(client, shop, core, qc_inspector(core, shop), "4321")
    card = check_of(client, li, order["id"])
    assert (card["check_level"], card["allowed_actions"], card["signatures"]) == (
        "team_lead",
        ["pass", "fail"],
        [],
    )
    passed = tap(client, li, order, "pass", "li-1")
    assert passed.status_code == 200 and passed.get_json()["check_level"] == "qc"

    # His kiosk names who signed the team lead level and offers him no pass at QC.
    card = check_of(client, li, order["id"])
    assert card["signatures"] == [{"level": "team_lead", "name": "李师傅", "by_one_person": False}]
    assert card["signed_earlier"] is True and card["allowed_actions"] == ["fail"]
    assert check_of(client, zhao, order["id"])["allowed_actions"] == ["pass", "fail"]

    # A tap anyway (a queued one, an old screen) is refused by the command.
    refused = tap(client, li, passed.get_json(), "pass", "li-2")
    assert refused.status_code == 409
    assert refused.mimetype == "application/problem+json"
    body = refused.get_json()
    assert body["code"] == "same_person_checks" and body["level"] == "qc"
    assert body["order"]["check_level"] == "qc"  # the order as it is, to redraw
    # Nor through his own API token (the same person behind another credential).
    status, body = api.call(
        "POST",
        f"/api/v1/orders/{order['id']}/checks",
        "technician2",
        {"version": passed.get_json()["version"]},
    )
    assert (status, body["code"]) == (409, "same_person_checks")

    done = tap(client, zhao, passed.get_json(), "pass", "zhao-1")
    assert done.status_code == 200 and done.get_json()["check_level"] == "final"
    assert passes(api, order["id"]) == [("team_lead", "李师傅", False), ("qc", "赵质检", False)]
    # An integration's token is no person: it records the final level.
    status, body = api.call(
        "POST",
        f"/api/v1/orders/{order['id']}/checks",
        "foreman",
        {"version": done.get_json()["version"]},
    )
    assert status == 200 and body["stage"] == "ready"


def test_a_failed_check_starts_the_chain_again(client, shop, core, api) -> None:
    order = in_check(api, shop, "粤B40002")
    li = signed_in(client, shop, core, "1002", "5678")
    zhao = signed_in(client, shop, core, qc_inspector(core, shop), "4321")
    order = tap(client, li, order, "pass", "li-1").get_json()
    # He may still send it back: failing signs nothing off.
    failed = tap(client, li, order, "fail", "li-2", reason="刹车异响仍在")
    assert failed.status_code == 200 and failed.get_json()["stage"] == "in_progress"
    status, again = api.move(failed.get_json(), "quality_check")
    assert status == 200
    # A new chain: he signs the team lead level again, 赵质检 the QC level.
    assert check_of(client, li, order["id"])["signatures"] == []
    order = tap(client, li, again, "pass", "li-3").get_json()
    assert tap(client, zhao, order, "pass", "zhao-1").status_code == 200


def test_a_small_shop_lets_one_person_sign_and_the_event_says_so(client, shop, core, api) -> None:
    assert shop_profile.profile(core, shop.shop_id)["checks_by_one_person_allowed"] is False
    status, current = api.call("GET", "/api/v1/shop", "admin")
    assert status == 200 and current["checks_by_one_person_allowed"] is False
    status, changed = api.call(
        "PATCH",
        "/api/v1/shop",
        "admin",
        {"checks_by_one_person_allowed": True, "version": current["version"]},
    )
    assert status == 200 and changed["checks_by_one_person_allowed"] is True
    assert changed["version"] == current["version"] + 1
    status, refused = api.call(
        "PATCH", "/api/v1/shop", "admin", {"checks_by_one_person_allowed": "yes", "version": 1}
    )
    assert (status, refused["code"], refused["field"]) == (
        422,
        "validation_error",
        "checks_by_one_person_allowed",
    )

    order = in_check(api, shop, "粤B40003")
    li = signed_in(client, shop, core, "1002", "5678")
    order = tap(client, li, order, "pass", "li-1").get_json()
    card = check_of(client, li, order["id"])
    assert card["signed_earlier"] is False and card["allowed_actions"] == ["pass", "fail"]
    assert me(client, li)["checks_by_one_person_allowed"] is True
    order = tap(client, li, order, "pass", "li-2").get_json()
    assert order["check_level"] == "final"
    assert passes(api, order["id"]) == [("team_lead", "李师傅", False), ("qc", "李师傅", True)]
    assert check_of(client, li, order["id"])["signatures"][1] == {
        "level": "qc",
        "name": "李师傅",
        "by_one_person": True,
    }

    # Switched off again: the rule holds from the next signature on.
    status, _ = api.call(
        "PATCH",
        "/api/v1/shop",
        "admin",
        {"checks_by_one_person_allowed": False, "version": changed["version"]},
    )
    assert status == 200
    second = tap(client, li, in_check(api, shop, "粤B40004", bay="B02"), "pass", "li-3").get_json()
    refused = tap(client, li, second, "pass", "li-4")
    assert refused.status_code == 409 and refused.get_json()["code"] == "same_person_checks"


def test_the_admin_sets_it_on_the_shop_page(client, shop, core) -> None:
    admin = setup.create_user(
        core, shop.shop_id, role="admin", name="店长", password="admin-pass-1"
    )
    sign_in_as(client, admin)
    page = client.get("/admin/shop?lang=en").get_data(as_text=True)
    box = re.search(r'<input[^>]*name="checks_by_one_person_allowed"[^>]*>', page)
    assert box and "checked" not in box.group(0)
    assert "One person may sign more than one level of the same job" in page
    fields: dict[str, Any] = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="checkbox"' not in tag:
            fields[name.group(1)] = value.group(1) if value else ""
    saved = client.post("/admin/shop", data={**fields, "checks_by_one_person_allowed": "y"})
    assert saved.status_code == 303, saved.get_data(as_text=True)[:1000]
    assert shop_profile.profile(core, shop.shop_id)["checks_by_one_person_allowed"] is True
    page = client.get("/admin/shop").get_data(as_text=True)
    box = re.search(r'<input[^>]*name="checks_by_one_person_allowed"[^>]*>', page)
    assert box and "checked" in box.group(0)
    # The audit log names the change.
    audit = client.get("/api/v1/audit", headers=shop.headers("admin")).get_json()
    assert any(
        "checks_by_one_person_allowed" in str(entry.get("data", entry)) for entry in audit["events"]
    ), audit
