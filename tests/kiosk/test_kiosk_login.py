"""Technician sign-in on a paired kiosk (badge + PIN), through the real HTTP
endpoints and Flask-Limiter: the credential, its idle expiry and logout, the
growing delay, the badge lock the foreman lifts, and the limits that keep one
attacker from locking out everyone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from shared.persistence.kiosk_models import KioskSession
from shared.services import devices, kiosk_login, setup
from shared.services.auth import hash_secret, resolve_bearer
from shared.services.core import Core

T0 = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)


def pair_kiosk(core: Core, shop_id: int, name: str = "工位平板") -> str:
    started = devices.start_pairing(core, "kiosk")
    devices.approve_pairing(core, started.user_code, kind="kiosk", name=name, shop_id=shop_id)
    answer = devices.poll_pairing(core, started.device_code)
    return str(answer["device_token"])


def login(client: Any, device_token: str, badge: str, pin: str) -> Any:
    return client.post(
        "/kiosk/api/login",
        json={"badge": badge, "pin": pin},
        headers={"Authorization": f"Bearer {device_token}", "Accept": "application/json"},
    )


def me(client: Any, token: str) -> Any:
    return client.get("/kiosk/api/me", headers={"Authorization": f"Bearer {token}"})


def test_badge_and_pin_give_a_credential_bound_to_the_kiosk(client, shop, core) -> None:
    device = pair_kiosk(core, shop.shop_id)
    reply = login(client, device, "1001", "1234")
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    token = body["token"]
    assert body["user"]["id"] == shop.technicians[0] and body["expires_in"] == 180
    assert len(token) >= 3 + 43  # "ks_" + 256 bits in base64url
    with core.db.read() as session:
        stored = session.execute(select(KioskSession.token_hash)).scalars().all()
    assert stored == [hash_secret(token)]  # only the hash is kept
    assert me(client, token).get_json()["user"]["name"] == "王师傅"
    # Bound to the kiosk: revoking the kiosk ends the technician's session.
    device_id = int(resolve_bearer(core, device).ref.split(":")[1])  # type: ignore[union-attr]
    devices.revoke_device(core, device_id)
    assert me(client, token).status_code == 401


def test_only_a_paired_kiosk_signs_in(client, shop) -> None:
    assert login(client, shop.tokens["display-board"], "1001", "1234").status_code == 401
    assert login(client, shop.tokens["technician"], "1001", "1234").status_code == 401


def test_three_idle_minutes_end_the_session_and_activity_keeps_it(client, shop, core) -> None:
    now = [T0]
    core.clock = lambda: now[0]
    token = login(client, pair_kiosk(core, shop.shop_id), "1001", "1234").get_json()["token"]
    now[0] += timedelta(minutes=2, seconds=50)
    assert me(client, token).status_code == 200  # a tap: counts as activity
    now[0] += timedelta(minutes=2, seconds=50)
    assert me(client, token).status_code == 200
    # The socket's periodic re-check is not activity.
    now[0] += timedelta(minutes=2)
    assert kiosk_login.resolve_session(core, token, touch=False) is not None
    now[0] += timedelta(minutes=1, seconds=1)
    assert kiosk_login.resolve_session(core, token, touch=False) is None
    assert me(client, token).status_code == 401


def test_logout_revokes_the_credential(client, shop, core) -> None:
    token = login(client, pair_kiosk(core, shop.shop_id), "1002", "5678").get_json()["token"]
    reply = client.post("/kiosk/api/logout", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200 and reply.get_json()["signed_out"] is True
    assert me(client, token).status_code == 401


def test_five_failures_then_a_growing_delay_per_badge(client, shop, core) -> None:
    device = pair_kiosk(core, shop.shop_id)
    for _ in range(5):
        assert login(client, device, "1001", "0000").status_code == 401
    slowed = login(client, device, "1001", "1234")  # even the right PIN waits
    assert slowed.status_code == 429
    assert slowed.get_json()["code"] == "rate_limited"
    assert 0 < int(slowed.headers["Retry-After"]) <= 60
    # Another badge on another kiosk is not slowed by this one's failures.
    other = pair_kiosk(core, shop.shop_id, "二号平板")
    assert login(client, other, "1002", "5678").status_code == 200


def test_one_kiosk_trying_many_badges_is_stopped_before_it_locks_them(client, shop, core) -> None:
    setup.create_user(core, shop.shop_id, role="technician", name="技师", badge="2000", pin="4321")
    attacker = pair_kiosk(core, shop.shop_id, "被盗平板")
    badges = ["1001", "1002", "2000"] * 3 + ["1001", "1002", "2000"]
    answers = [login(client, attacker, badge, "0000").status_code for badge in badges]
    assert answers[:10] == [401] * 10
    assert answers[10:] == [429, 429]  # the kiosk is throttled, not the badges
    assert kiosk_login.locked_badges(core, shop.shop_id) == []
    assert login(client, pair_kiosk(core, shop.shop_id), "2000", "4321").status_code == 200


def test_unknown_badges_cannot_be_told_apart_and_are_never_locked(client, shop, core) -> None:
    device = pair_kiosk(core, shop.shop_id)
    unknown = login(client, device, "9999", "1234")
    wrong = login(client, device, "1001", "0000")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json()["detail"] == wrong.get_json()["detail"]
