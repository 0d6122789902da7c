"""The screens list of /admin names screens as people do and tells when a
kiosk in use was last seen (issue 15, Admin), through the real app, hub and
SQLite database:

- a pairing's notice names the screen by its kind and the name it was given,
  never by its row id ("屏幕 6"), in zh_Hans, zh_Hant and en; a refusal
  there (the wrong kind) is said in the page's language;
- a kiosk is seen by its technicians' sign-ins and taps, so a kiosk in use is
  never "—": signed in over HTTP only, its last seen is that sign-in on the
  shop's clock (Asia/Shanghai, with the date when not today); with the
  technician's socket open it is online and "just now".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from shared.persistence.kiosk_models import KioskSession
from shared.persistence.models import Device
from shared.services import devices
from tests.board.test_admin import admin_client
from tests.kiosk.test_kiosk_login import login, pair_kiosk

SHOP_ZONE = ZoneInfo("Asia/Shanghai")
NOTICES = {
    "zh_Hans": "已配对：客户休息区“前台电视”。",
    "zh_Hant": "已配對：客戶休息區「前台电视」。",
    "en": "Paired: Waiting lounge “前台电视”.",
}
WRONG_KIND = {
    "zh_Hans": "该屏幕申请配对为车间看板，而不是客户休息区。",
    "zh_Hant": "該螢幕申請配對為車間看板，而不是客戶休息區。",
    "en": "That screen asked to be a Workshop board, not a Waiting lounge.",
}
HOUR = timedelta(hours=1)
JUST_NOW = {"zh_Hans": "刚刚", "zh_Hant": "剛剛", "en": "Just now"}


def _cell(page: str, device_id: int, name: str) -> str:
    row = re.search(rf'<tr data-device-id="{device_id}"[^>]*>(.*?)</tr>', page, re.DOTALL)
    assert row, f"no row for screen {device_id}"
    cell = re.search(rf'<td class="{name}">(.*?)</td>', row.group(1), re.DOTALL)
    assert cell, f"no {name} cell"
    return re.sub(r"<[^>]+>", "", cell.group(1)).strip()


@pytest.mark.parametrize("locale", ["zh_Hans", "zh_Hant", "en"])
def test_a_pairing_names_the_screen_by_kind_and_name_in_the_page_language(
    client: Any, shop: Any, locale: str
) -> None:
    token = admin_client(client, shop)
    client.get(f"/admin?lang={locale}")  # the choice is remembered in the cookie
    started = devices.start_pairing(shop.core, "lounge")
    reply = client.post(
        "/admin/pair",
        data={"code": started.user_code, "kind": "lounge", "name": "前台电视", "csrf_token": token},
    )
    page = reply.get_data(as_text=True)
    assert reply.status_code == 200
    assert NOTICES[locale] in page
    [device] = devices.list_devices(shop.core, shop.shop_id)
    # Not by its id: neither "screen 1" nor "屏幕 1" / "螢幕 1".
    assert not re.search(rf"(screen|屏幕|螢幕) ?{device['id']}\b", page)

    board = devices.start_pairing(shop.core, "board")
    reply = client.post(
        "/admin/pair",
        data={"code": board.user_code, "kind": "lounge", "name": "大屏", "csrf_token": token},
    )
    assert reply.status_code == 400
    assert WRONG_KIND[locale] in reply.get_data(as_text=True)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
def test_a_kiosk_in_use_is_seen_by_its_technicians(
    app: Any, socketio: Any, client: Any, shop: Any, locale: str
) -> None:
    admin_client(client, shop)
    device_token = pair_kiosk(shop.core, shop.shop_id, "二号工位平板")
    [kiosk] = devices.list_devices(shop.core, shop.shop_id)
    page = client.get(f"/admin?lang={locale}").get_data(as_text=True)
    never = {"zh_Hans": "从未连接", "en": "Never"}[locale]
    assert _cell(page, kiosk["id"], "last-seen") == never

    # Signed in and tapping over HTTP, no socket (as before it connects, or
    # with its socket down): seen at the sign-in, on the shop's clock.
    signed_in = login(app.test_client(), device_token, "1001", "1234")
    credential = signed_in.get_json()["token"]
    [kiosk] = devices.list_devices(shop.core, shop.shop_id)
    assert kiosk["last_seen"] is not None
    shop_clock = kiosk["last_seen"].astimezone(SHOP_ZONE)
    page = client.get("/admin").get_data(as_text=True)
    assert _cell(page, kiosk["id"], "last-seen") == shop_clock.strftime("%H:%M")
    assert _cell(page, kiosk["id"], "online") in ("离线", "Offline")

    # The technician's socket is open: online, and seen just now.
    technician = socketio.test_client(app, auth={"token": credential})
    assert technician.is_connected()
    page = client.get("/admin").get_data(as_text=True)
    assert _cell(page, kiosk["id"], "last-seen") == JUST_NOW[locale]
    assert _cell(page, kiosk["id"], "online") in ("在线", "Online")
    technician.disconnect()

    # Nothing since its last tap and heartbeat yesterday (the shop's
    # yesterday): the date is said too.
    yesterday = datetime.now(SHOP_ZONE).replace(hour=9, minute=5, second=0, microsecond=0)
    yesterday -= timedelta(days=1)
    with shop.core.db.write() as session:
        session.execute(update(KioskSession).values(last_seen_at=yesterday.astimezone(UTC)))
        session.execute(update(Device).values(last_seen_at=yesterday.astimezone(UTC) - HOUR))
    page = client.get("/admin").get_data(as_text=True)
    assert _cell(page, kiosk["id"], "last-seen") == yesterday.strftime("%Y-%m-%d 09:05")
