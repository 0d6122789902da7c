"""The badge lock: ten wrong PINs within an hour lock a badge until the
foreman unlocks it (service level, with a moving clock; the HTTP delays in
front of it are tested in test_kiosk_login.py)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from test_kiosk_login import pair_kiosk

from shared.services import kiosk_login
from shared.services.auth import resolve_bearer

T0 = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)


def test_ten_failures_in_an_hour_lock_the_badge_until_the_foreman_unlocks(shop, core) -> None:
    """The lock is the service's (Flask-Limiter's delays are bypassed here by
    calling it directly with a moving clock, as an attacker across many
    kiosks and windows would)."""
    now = [T0]
    core.clock = lambda: now[0]
    kiosk = resolve_bearer(core, pair_kiosk(core, shop.shop_id))
    assert kiosk is not None
    for _ in range(10):
        now[0] += timedelta(minutes=5)
        with contextlib.suppress(kiosk_login.WrongPin):
            kiosk_login.login(core, kiosk, "1001", "9999")
    assert [b["badge"] for b in kiosk_login.locked_badges(core, shop.shop_id)] == ["1001"]
    try:
        kiosk_login.login(core, kiosk, "1001", "1234")
        raise AssertionError("a locked badge signed in")
    except kiosk_login.BadgeLocked as refused:
        assert refused.status == 423
    # Other badges are unaffected.
    assert kiosk_login.login(core, kiosk, "1002", "5678").name == "李师傅"
    assert kiosk_login.unlock_badge(core, shop.shop_id, "1001", "车间主管")
    assert kiosk_login.login(core, kiosk, "1001", "1234").user_id == shop.technicians[0]
    # The failures before the unlock do not count again.
    with contextlib.suppress(kiosk_login.WrongPin):
        kiosk_login.login(core, kiosk, "1001", "9999")
    assert kiosk_login.locked_badges(core, shop.shop_id) == []


def test_failures_older_than_an_hour_do_not_lock(shop, core) -> None:
    now = [T0]
    core.clock = lambda: now[0]
    kiosk = resolve_bearer(core, pair_kiosk(core, shop.shop_id))
    assert kiosk is not None
    for _ in range(10):
        now[0] += timedelta(minutes=7)
        with contextlib.suppress(kiosk_login.WrongPin):
            kiosk_login.login(core, kiosk, "1001", "9999")
    assert kiosk_login.locked_badges(core, shop.shop_id) == []
