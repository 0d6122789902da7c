"""The kiosk's buttons come from the server: each job and check on
/kiosk/api/me carries the actions its viewer may tap, and those are what the
tap endpoints accept (an offered tap goes through, one not offered is refused)."""

from __future__ import annotations

from typing import Any

from test_kiosk_api import signed_in, tap


def me(client: Any, token: str) -> dict[str, Any]:
    reply = client.get("/kiosk/api/me", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200
    return dict(reply.get_json())


def job(client: Any, token: str, order_id: int) -> dict[str, Any]:
    return next(j for j in me(client, token)["jobs"] if j["id"] == order_id)


def test_a_job_offers_what_its_taps_accept(client, shop, core, api) -> None:
    token = signed_in(client, shop, core)
    order = api.assign(api.create("粤B30001", hours=2.0), [shop.technicians[0]])
    seen = job(client, token, order["id"])
    assert seen["allowed_actions"] == ["start"]
    assert tap(client, token, seen, "finish", "not-offered").status_code >= 400

    started = tap(client, token, seen, "start", "offered-1")
    assert started.status_code == 200, started.get_json()
    seen = job(client, token, order["id"])
    # The clock runs on this job already: joining it again is not offered.
    assert seen["allowed_actions"] == ["pause", "finish", "parts", "extra-work"]

    quoted = tap(
        client,
        token,
        seen,
        "extra-work",
        "offered-2",
        description="雨刮片老化",
        labour_hours=0.2,
        price_cents=12_000,
    )
    assert quoted.status_code == 201, quoted.get_json()
    seen = job(client, token, order["id"])
    # Waiting for the customer's decision: resuming is refused, so not offered;
    # asking for parts or quoting more still is.
    assert seen["stage"] == "paused" and seen["allowed_actions"] == ["parts", "extra-work"]
    assert tap(client, token, seen, "resume", "not-offered-2").status_code >= 400


def test_a_check_offers_pass_and_fail_to_its_signers_only(client, shop, core, api) -> None:
    order = api.assign(api.create("粤B30002"), [shop.technicians[0]])
    _, order = api.move(order, "in_progress")
    _, order = api.move(order, "quality_check")
    li = signed_in(client, shop, core, "1002", "5678")
    check = next(c for c in me(client, li)["checks"] if c["id"] == order["id"])
    assert check["allowed_actions"] == ["pass", "fail"]
    assert tap(client, li, check, "pass", "offered-3").status_code == 200


def test_queued_taps_are_drawn_from_the_server_s_table(client, shop, core) -> None:
    token = signed_in(client, shop, core)
    assert me(client, token)["actions_by_stage"] == {
        "dispatched": ["start"],
        "in_progress": ["pause", "finish", "parts", "extra-work"],
        "paused": ["resume", "parts", "extra-work"],
    }
