"""The kiosk's tap endpoints and the foreman console's endpoints over HTTP:
taps are order commands with the technician as actor, a replayed
Idempotency-Key applies once, the foreman's console needs a foreman session
and its mutations the CSRF token, and the dispatch queue puts VIP and
waiting customers first."""

from __future__ import annotations

from typing import Any

from test_kiosk_login import login, pair_kiosk

from shared.services import labour, setup
from tests.staff_sessions import sign_in_as


def tap(client: Any, token: str, order: dict[str, Any], action: str, key: str, **more: Any) -> Any:
    return client.post(
        f"/kiosk/api/orders/{order['id']}/{action}",
        json={"version": order["version"], **more},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
    )


def signed_in(client: Any, shop: Any, core: Any, badge: str = "1001", pin: str = "1234") -> str:
    return str(login(client, pair_kiosk(core, shop.shop_id), badge, pin).get_json()["token"])


def test_taps_drive_a_job_and_a_replayed_tap_applies_once(client, shop, core, api) -> None:
    token = signed_in(client, shop, core)
    order = api.assign(api.create("粤B20001", hours=3.0), [shop.technicians[0]])
    started = tap(client, token, order, "start", "tap-1")
    assert started.status_code == 200, started.get_json()
    again = tap(client, token, order, "start", "tap-1")  # the outbox retrying
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    order = started.get_json()
    history = api.get(order["id"])["history"]
    assert [e["data"].get("to_stage") for e in history].count("in_progress") == 1
    assert history[-1]["actor"] == "王师傅"
    assert labour.running_clock(core, shop.technicians[0])["order_id"] == order["id"]
    me = client.get("/kiosk/api/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [j["id"] for j in me["jobs"]] == [order["id"]]
    asked = tap(client, token, order, "parts", "tap-2", description="前刹车片")
    assert asked.status_code == 201, asked.get_json()
    assert asked.get_json()["description"] == "前刹车片"
    assert asked.get_json()["order"]["pause_reason"] == "parts"
    status, arrived = api.call(
        "PATCH", f"/api/v1/orders/{order['id']}/parts/1", "advisor", {"status": "arrived"}
    )
    assert status == 200, arrived
    resumed = tap(client, token, arrived["order"], "resume", "tap-3")
    finished = tap(client, token, resumed.get_json(), "finish", "tap-4")
    assert finished.get_json()["stage"] == "quality_check"
    assert [s.end_reason for s in labour.order_segments(core, order["id"])] == ["pause", "finish"]


def test_a_stale_tap_is_refused_with_the_current_order(client, shop, core, api) -> None:
    token = signed_in(client, shop, core)
    order = api.assign(api.create("粤B20002"), [shop.technicians[0]])
    api.assign(order, [shop.technicians[1]], bay="B02")  # the foreman reassigns meanwhile
    refused = tap(client, token, order, "start", "tap-stale")
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "stale_version"
    assert refused.get_json()["order"]["technicians"][0]["id"] == shop.technicians[1]


def test_checks_are_offered_to_qualified_technicians_only(client, shop, core, api) -> None:
    order = api.assign(api.create("粤B20003"), [shop.technicians[0]])
    _, order = api.move(order, "in_progress")
    _, order = api.move(order, "quality_check")
    wang = signed_in(client, shop, core)
    li = signed_in(client, shop, core, "1002", "5678")
    headers = {"Authorization": f"Bearer {wang}"}
    assert client.get("/kiosk/api/me", headers=headers).get_json()["checks"] == []
    me = client.get("/kiosk/api/me", headers={"Authorization": f"Bearer {li}"}).get_json()
    assert [c["id"] for c in me["checks"]] == [order["id"]]
    passed = tap(client, li, order, "pass", "check-1")
    assert passed.status_code == 200 and passed.get_json()["check_level"] == "qc"
    failed = tap(client, li, passed.get_json(), "fail", "check-2", reason="异响仍在")
    assert failed.get_json()["stage"] == "in_progress"


def foreman_session(client: Any, core: Any, shop: Any) -> None:
    foreman = setup.create_user(core, shop.shop_id, role="foreman", name="赵主管")
    sign_in_as(client, foreman)


def test_foreman_console_needs_a_foreman_session(client, shop, core) -> None:
    assert client.get("/foreman").status_code == 302
    assert (
        client.get("/foreman/api/overview", headers={"Accept": "application/json"}).status_code
        == 401
    )
    foreman_session(client, core, shop)
    page = client.get("/foreman")
    assert page.status_code == 200
    assert b'name="csrf-token"' in page.data
    assert b"<script>" not in page.data  # CSP: scripts are files only


def test_dispatch_queue_puts_waiting_customers_then_vip_first(client, shop, core, api) -> None:
    """The console's order is the one the shop-load engine plans in: the
    lounge first (a VIP among them first), then VIP, then by promise."""
    late_normal = api.create("粤B30001", promised_at="2030-01-07T12:00:00+08:00")
    vip = api.create("粤B30002", priority="vip", promised_at="2030-01-07T18:00:00+08:00")
    waiting = api.create("粤B30003", waiting=True, promised_at="2030-01-07T16:00:00+08:00")
    early = api.create("粤B30004", promised_at="2030-01-07T10:00:00+08:00")
    vip_waiting = api.create(
        "粤B30006", priority="vip", waiting=True, promised_at="2030-01-07T17:00:00+08:00"
    )
    dispatched = api.assign(api.create("粤B30005"), [shop.technicians[0]])
    foreman_session(client, core, shop)
    overview = client.get("/foreman/api/overview").get_json()
    assert [o["id"] for o in overview["queue"]] == [
        vip_waiting["id"],
        waiting["id"],
        vip["id"],
        early["id"],
        late_normal["id"],
    ]
    assert dispatched["id"] not in [o["id"] for o in overview["queue"]]
    assert {t["state"] for t in overview["technicians"]} == {"idle"}


def test_foreman_unlock_needs_the_csrf_token(client, shop, core) -> None:
    from shared.persistence.kiosk_models import BadgeLock

    with core.db.write() as session:
        session.add(BadgeLock(shop_id=shop.shop_id, badge="1001", locked_at=core.now()))
    foreman_session(client, core, shop)
    assert client.post("/foreman/api/badges/1001/unlock").status_code == 400
    page = client.get("/foreman").data.decode()
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    unlocked = client.post("/foreman/api/badges/1001/unlock", headers={"X-CSRFToken": token})
    assert unlocked.status_code == 200
    overview = client.get("/foreman/api/overview").get_json()
    assert overview["locked_badges"] == []
