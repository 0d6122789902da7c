"""A badge is one identity however it is typed: surrounding spaces and
full-width digits (a Chinese IME's "３００２") are the same badge for the
per-badge delay at the HTTP edge, for the lookup, for the failure count that
locks it, and for the foreman's unlock. Otherwise each spelling would get its
own budget of wrong PINs."""

from __future__ import annotations

from typing import Any

import pytest

from shared.services import devices, kiosk_login
from shared.services.auth import Principal, resolve_bearer
from tests.conftest import Shop

# The same badge, 1001, as a tablet may send it.
SPELLINGS = ["1001", " 1001", "1001 ", "１００１", "\u30001001", "１00１"]


def pair_kiosk(shop: Shop, name: str = "工位平板") -> str:
    started = devices.start_pairing(shop.core, "kiosk")
    devices.approve_pairing(
        shop.core, started.user_code, kind="kiosk", name=name, shop_id=shop.shop_id
    )
    return str(devices.poll_pairing(shop.core, started.device_code)["device_token"])


def login(client: Any, device: str, badge: str, pin: str) -> Any:
    return client.post(
        "/kiosk/api/login",
        json={"badge": badge, "pin": pin},
        headers={"Authorization": f"Bearer {device}"},
    )


@pytest.mark.parametrize("raw", SPELLINGS)
def test_every_spelling_normalises_to_the_badge(raw: str) -> None:
    assert kiosk_login.normalise_badge(raw) == "1001"


def test_a_spelling_signs_in_as_the_badge(client: Any, shop: Shop) -> None:
    reply = login(client, pair_kiosk(shop), "１００１ ", "1234")
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["user"]["id"] == shop.technicians[0]


def test_the_delay_counts_every_spelling_of_one_badge(client: Any, shop: Shop) -> None:
    device = pair_kiosk(shop)
    for raw in SPELLINGS[1:]:  # five wrong PINs, each spelled differently
        assert login(client, device, raw, "0000").status_code == 401
    for raw in SPELLINGS:
        slowed = login(client, device, raw, "1234")  # even the right PIN waits
        assert slowed.status_code == 429, raw
        assert slowed.get_json()["code"] == "rate_limited"


def test_the_lock_counts_every_spelling_and_the_unlock_finds_it(shop: Shop) -> None:
    device = resolve_bearer(shop.core, pair_kiosk(shop))
    assert isinstance(device, Principal)
    for attempt in range(kiosk_login.LOCK_AFTER_FAILURES):
        with pytest.raises(kiosk_login.WrongPin):
            kiosk_login.login(shop.core, device, SPELLINGS[attempt % len(SPELLINGS)], "0000")
    assert [b["badge"] for b in kiosk_login.locked_badges(shop.core, shop.shop_id)] == ["1001"]
    with pytest.raises(kiosk_login.BadgeLocked):
        kiosk_login.login(shop.core, device, "１００１", "1234")
    assert kiosk_login.unlock_badge(shop.core, shop.shop_id, " １００１", "领班")
    assert kiosk_login.login(shop.core, device, "1001", "1234").user_id == shop.technicians[0]
