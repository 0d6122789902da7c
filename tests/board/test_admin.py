"""The web admin (/admin) through the real app and a real SQLite database:
only a signed-in admin or manager gets in, a pairing code shown on a screen is
approved with the CSRF-protected form, a device is revoked from the list (its
token stops working at once), wrong codes are limited to five per 15 minutes,
and the opening hours are left to the shop profile."""

from __future__ import annotations

import re
from typing import Any

from shared.services import devices, setup
from shared.services.auth import Principal, resolve_bearer

PASSWORD = "admin-pass-1"


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: Any, name: str, password: str = PASSWORD) -> None:
    page = client.get("/login").get_data(as_text=True)
    reply = client.post(
        "/login?next=/admin",
        data={"name": name, "password": password, "csrf_token": csrf_token(page)},
    )
    assert reply.status_code == 302, reply.get_data(as_text=True)
    assert reply.headers["Location"].endswith("/admin")


def admin_client(client: Any, shop: Any, role: str = "admin") -> str:
    name = f"{role}-user"
    setup.create_user(shop.core, shop.shop_id, role=role, name=name, password=PASSWORD)
    sign_in(client, name)
    page = client.get("/admin")
    assert page.status_code == 200
    return csrf_token(page.get_data(as_text=True))


def test_admin_page_needs_a_signed_in_admin_or_manager(client: Any, shop: Any) -> None:
    reply = client.get("/admin")
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/login?next=/admin"
    # A bearer token is no session: the page is for people at a browser.
    assert client.get("/admin", headers=shop.headers("admin")).status_code == 302

    setup.create_user(
        shop.core, shop.shop_id, role="advisor", name="advisor-user", password=PASSWORD
    )
    sign_in(client, "advisor-user")
    assert client.get("/admin").status_code == 403


def test_manager_approves_a_code_and_revokes_the_screen(client: Any, shop: Any) -> None:
    token = admin_client(client, shop, role="manager")
    started = devices.start_pairing(shop.core, "lounge")
    shown = started.user_code[:4] + "-" + started.user_code[4:]

    # Without the CSRF token the form is refused and nothing is approved.
    refused = client.post("/admin/pair", data={"code": shown, "kind": "lounge", "name": "休息区"})
    assert refused.status_code == 400
    assert devices.poll_pairing(shop.core, started.device_code)["status"] == "pending"

    reply = client.post(
        "/admin/pair",
        data={"code": shown.lower(), "kind": "lounge", "name": "休息区电视", "csrf_token": token},
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)
    answer = devices.poll_pairing(shop.core, started.device_code)
    assert answer["status"] == "approved"
    device_token = str(answer["device_token"])
    principal = resolve_bearer(shop.core, device_token)
    assert isinstance(principal, Principal)
    assert principal.audience == "lounge" and principal.shop_id == shop.shop_id

    listing = client.get("/admin").get_data(as_text=True)
    found = re.search(r'<tr data-device-id="(\d+)" class="status-active">', listing)
    assert found and "休息区电视" in listing
    device_id = int(found.group(1))

    # Revoking needs the CSRF token too.
    assert client.post(f"/admin/devices/{device_id}/revoke").status_code == 400
    assert resolve_bearer(shop.core, device_token) is not None
    revoked = client.post(f"/admin/devices/{device_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert resolve_bearer(shop.core, device_token) is None
    listing = client.get("/admin").get_data(as_text=True)
    assert f'<tr data-device-id="{device_id}" class="status-revoked">' in listing


def test_a_code_for_another_kind_is_refused(client: Any, shop: Any) -> None:
    token = admin_client(client, shop)
    started = devices.start_pairing(shop.core, "board")
    reply = client.post(
        "/admin/pair",
        data={"code": started.user_code, "kind": "kiosk", "name": "x", "csrf_token": token},
    )
    assert reply.status_code == 400
    assert devices.poll_pairing(shop.core, started.device_code)["status"] == "pending"


def test_sixth_wrong_code_within_the_window_is_refused(client: Any, shop: Any) -> None:
    token = admin_client(client, shop)
    for attempt in range(5):
        reply = client.post(
            "/admin/pair",
            data={
                "code": f"BBBB-BBB{'BCDFG'[attempt]}",
                "kind": "board",
                "name": "x",
                "csrf_token": token,
            },
        )
        assert reply.status_code == 404, f"attempt {attempt + 1}: {reply.status_code}"
    # Even the right code is refused now: the limit is on trying, not on luck.
    started = devices.start_pairing(shop.core, "board")
    sixth = client.post(
        "/admin/pair",
        data={"code": started.user_code, "kind": "board", "name": "x", "csrf_token": token},
    )
    assert sixth.status_code == 429
    assert devices.poll_pairing(shop.core, started.device_code)["status"] == "pending"


def test_successful_pairings_do_not_use_up_the_wrong_code_budget(client: Any, shop: Any) -> None:
    token = admin_client(client, shop)
    for _ in range(7):
        started = devices.start_pairing(shop.core, "board")
        reply = client.post(
            "/admin/pair",
            data={"code": started.user_code, "kind": "board", "name": "看板", "csrf_token": token},
        )
        assert reply.status_code == 200


def test_the_screens_page_sends_opening_hours_to_the_shop_profile(client: Any, shop: Any) -> None:
    """One place sets the hours (the profile, which tells every screen): the
    old form on this page is gone, and its address with it."""
    token = admin_client(client, shop)
    page = client.get("/admin").get_data(as_text=True)
    assert 'id="hours-link" href="/admin/shop"' in page
    assert "hours-form" not in page
    gone = client.post(
        "/admin/hours", data={"opening": "08:00", "closing": "18:30", "csrf_token": token}
    )
    assert gone.status_code in (404, 405)


def test_a_screen_name_with_a_bidi_override_is_refused(client: Any, shop: Any) -> None:
    """A screen's name shows on other screens: it follows the text rule of
    every displayed text (no control or bidi characters)."""
    token = admin_client(client, shop)
    started = devices.start_pairing(shop.core, "board")
    refused = client.post(
        "/admin/pair",
        data={
            "code": started.user_code,
            "kind": "board",
            "name": "看板\u202e",
            "csrf_token": token,
        },
    )
    assert refused.status_code == 400
    assert devices.poll_pairing(shop.core, started.device_code)["status"] == "pending"


def test_a_screen_last_seen_reads_on_the_shops_clock_with_its_date_when_not_today(
    client: Any, shop: Any
) -> None:
    """The admin list says when each screen was last seen in the shop's time
    zone (Asia/Shanghai), never the server's UTC, and with the date when it
    was not today there."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from shared.persistence.models import Device
    from shared.web.i18n import shop_time

    admin_client(client, shop)
    zone = ZoneInfo("Asia/Shanghai")
    # A time of day whose UTC reading differs: 09:05 in the shop is 01:05 UTC.
    seen = datetime.now(zone).replace(hour=9, minute=5, second=0, microsecond=0)
    yesterday = seen - timedelta(days=1)
    started = devices.start_pairing(shop.core, "board")
    device_id = devices.approve_pairing(
        shop.core, started.user_code, kind="board", name="车间大屏", shop_id=shop.shop_id
    )
    with shop.core.db.write() as session:
        device = session.get(Device, device_id)
        assert device is not None
        device.last_seen_at = yesterday.astimezone(UTC)
    page = client.get("/admin").get_data(as_text=True)
    assert yesterday.strftime("%Y-%m-%d 09:05") in page
    assert yesterday.astimezone(UTC).strftime("%Y-%m-%d %H:%M") not in page
    now = seen + timedelta(hours=1)
    assert shop_time(seen.astimezone(UTC), "Asia/Shanghai", now) == "09:05"
    assert shop_time(yesterday, "Asia/Shanghai", now) == yesterday.strftime("%Y-%m-%d 09:05")
    assert shop_time(None, "Asia/Shanghai") == "—"


# ------------------------------------------------------------------ screens
# (issue 14, item 6: name, online now, rename, revoke after a confirmation)


def _paired(shop: Any, kind: str = "board", name: str = "车间大屏") -> tuple[int, str]:
    started = devices.start_pairing(shop.core, kind)
    device_id = devices.approve_pairing(
        shop.core, started.user_code, kind=kind, name=name, shop_id=shop.shop_id
    )
    return device_id, str(devices.poll_pairing(shop.core, started.device_code)["device_token"])


def _row(page: str, device_id: int) -> str:
    found = re.search(rf'<tr data-device-id="{device_id}".*?</tr>', page, re.S)
    assert found, f"no row for screen {device_id}"
    return found.group(0)


def test_a_screen_is_renamed_by_its_own_shop_only(client: Any, shop: Any) -> None:
    from tests.conftest import seed_shop

    token = admin_client(client, shop)
    device_id, _token = _paired(shop)
    page = client.get("/admin").get_data(as_text=True)
    # The column is the screen's name (名称), not a person's (姓名).
    assert "<th>姓名</th>" not in page
    assert client.post(f"/admin/devices/{device_id}/rename", data={"name": "x"}).status_code == 400
    renamed = client.post(
        f"/admin/devices/{device_id}/rename", data={"name": " 二号车间看板 ", "csrf_token": token}
    )
    assert renamed.status_code == 303
    assert "二号车间看板" in _row(client.get("/admin").get_data(as_text=True), device_id)
    for bad in ("", "看板\u202e"):
        refused = client.post(
            f"/admin/devices/{device_id}/rename", data={"name": bad, "csrf_token": token}
        )
        assert refused.status_code == 400, bad
    other = seed_shop(shop.core, slug="other")
    theirs, _ = _paired(other, name="别家看板")
    refused = client.post(
        f"/admin/devices/{theirs}/rename", data={"name": "mine now", "csrf_token": token}
    )
    assert refused.status_code == 404
    assert [d["name"] for d in devices.list_devices(shop.core, other.shop_id)] == ["别家看板"]


def test_revoking_a_screen_asks_first_on_a_page_of_its_own(client: Any, shop: Any) -> None:
    from tests.conftest import seed_shop

    token = admin_client(client, shop)
    device_id, device_token = _paired(shop, "lounge", "休息区电视")
    row = _row(client.get("/admin").get_data(as_text=True), device_id)
    # The list links to the confirmation; it has no revoking form of its own.
    assert f'href="/admin/devices/{device_id}/revoke"' in row
    assert f'action="/admin/devices/{device_id}/revoke"' not in row
    confirm = client.get(f"/admin/devices/{device_id}/revoke")
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert "休息区电视" in page
    assert f'<form method="post" action="/admin/devices/{device_id}/revoke"' in page
    assert resolve_bearer(shop.core, device_token) is not None, "asking revokes nothing"
    done = client.post(f"/admin/devices/{device_id}/revoke", data={"csrf_token": token})
    assert done.status_code == 303
    assert resolve_bearer(shop.core, device_token) is None
    other = seed_shop(shop.core, slug="other")
    theirs, _ = _paired(other)
    assert client.get(f"/admin/devices/{theirs}/revoke").status_code == 404
    assert (
        client.post(f"/admin/devices/{theirs}/revoke", data={"csrf_token": token}).status_code
        == 404
    )


def test_online_now_comes_from_the_hub(app: Any, socketio: Any, client: Any, shop: Any) -> None:
    """One process without a message queue holds every socket: its hub's
    answer is the whole truth. A kiosk is online while a technician signed
    in on it holds a socket."""
    from shared.realtime.hub import hub_of
    from tests.kiosk.test_kiosk_login import login

    admin_client(client, shop)
    board_id, board_token = _paired(shop)
    kiosk_id, kiosk_token = _paired(shop, "kiosk", "一号工位平板")
    assert "online-no" in _row(client.get("/admin").get_data(as_text=True), board_id)
    board = socketio.test_client(app, auth={"token": board_token})
    signed = login(app.test_client(), kiosk_token, "1001", "1234").get_json()["token"]
    kiosk = socketio.test_client(app, auth={"token": signed})
    assert board.is_connected() and kiosk.is_connected()
    page = client.get("/admin").get_data(as_text=True)
    assert "online-yes" in _row(page, board_id) and "online-yes" in _row(page, kiosk_id)
    assert 'id="online-hint"' not in page
    board.disconnect()
    page = client.get("/admin").get_data(as_text=True)
    assert "online-no" in _row(page, board_id) and "online-yes" in _row(page, kiosk_id)
    kiosk.disconnect()
    hub = hub_of(socketio)
    assert hub is not None and hub.presence(shop.shop_id).whole
    hub.stop()


def test_with_several_processes_a_recent_heartbeat_counts_as_online(shop: Any) -> None:
    """With a message queue other workers hold sockets this process cannot
    see: a screen seen within ONLINE_WITHIN (its last-seen heartbeat) is
    online, an older one is not, and a revoked one never is."""
    from datetime import timedelta

    from shared.persistence.models import Device

    core = shop.core
    fresh, _ = _paired(shop, name="刚看到")
    stale, _ = _paired(shop, name="很久没见")
    gone, _ = _paired(shop, name="已撤销")
    now = core.now()
    with core.db.write() as session:
        for device_id, ago in ((fresh, 60), (stale, 400), (gone, 10)):
            device = session.get(Device, device_id)
            assert device is not None
            device.last_seen_at = now - timedelta(seconds=ago)
    devices.revoke_device(core, gone)
    partial = devices.Presence(whole=False)
    online = {d["name"]: d["online"] for d in devices.list_devices(core, shop.shop_id, partial)}
    assert online == {"刚看到": True, "很久没见": False, "已撤销": False}
    # One process holding everything answers from its sockets alone.
    whole = devices.Presence(frozenset({stale}), whole=True)
    online = {d["name"]: d["online"] for d in devices.list_devices(core, shop.shop_id, whole)}
    assert online == {"刚看到": False, "很久没见": True, "已撤销": False}
