"""The admin page lists when each screen was last seen: connecting and the
periodic seq check record it, at most once a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.persistence.models import Device
from shared.services import devices
from shared.services.core import Core
from tests.conftest import Shop


def _paired_board(core: Core, shop: Shop) -> tuple[int, str]:
    started = devices.start_pairing(core, "board")
    device_id = devices.approve_pairing(
        core, started.user_code, kind="board", name="车间大屏", shop_id=shop.shop_id
    )
    token = devices.poll_pairing(core, started.device_code)["device_token"]
    return device_id, str(token)


def _last_seen(core: Core, device_id: int) -> datetime | None:
    with core.db.read() as session:
        device = session.get(Device, device_id)
        assert device is not None
        return device.last_seen_at


def test_connect_and_seq_check_record_last_seen(
    app: Any, socketio: Any, core: Core, shop: Shop
) -> None:
    device_id, token = _paired_board(core, shop)
    assert _last_seen(core, device_id) is None
    first = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    core.clock = lambda: first
    board = socketio.test_client(app, auth={"token": token})
    assert board.is_connected()
    assert _last_seen(core, device_id) == first

    # Within the minute nothing is written again.
    core.clock = lambda: first + timedelta(seconds=30)
    assert board.emit("seq", {}, callback=True)["seq"] >= 0
    assert _last_seen(core, device_id) == first
    board.disconnect()
