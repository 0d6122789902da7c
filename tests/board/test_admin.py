"""The web admin (/admin) through the real app and a real SQLite database:
only a signed-in admin or manager gets in, a pairing code shown on a screen is
approved with the CSRF-protected form, a device is revoked from the list (its
token stops working at once), wrong codes are limited to five per 15 minutes,
and the opening hours the lounge follows are saved."""

from __future__ import annotations

import re
from typing import Any

from shared.services import devices, queries, setup
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


def test_opening_hours_reach_the_screens_snapshot(client: Any, shop: Any) -> None:
    token = admin_client(client, shop)
    saved = client.post(
        "/admin/hours", data={"opening": "08:00", "closing": "18:30", "csrf_token": token}
    )
    assert saved.status_code == 200
    lounge = resolve_bearer(shop.core, shop.tokens["display-lounge"])
    assert lounge is not None
    assert queries.snapshot(shop.core, lounge)["shop"]["opening_hours"] == {
        "open": "08:00",
        "close": "18:30",
    }
    wrong = client.post(
        "/admin/hours", data={"opening": "8 am", "closing": "18:30", "csrf_token": token}
    )
    assert wrong.status_code == 400
    cleared = client.post("/admin/hours", data={"opening": "", "closing": "", "csrf_token": token})
    assert cleared.status_code == 200
    assert queries.snapshot(shop.core, lounge)["shop"]["opening_hours"] is None


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
