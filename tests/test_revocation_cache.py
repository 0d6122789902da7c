"""What the hub's check finds dead is dead for the whole process at once.

The check reads the database without the brief cache REST calls use; when
it cuts a socket whose credential was revoked by another process, the same
credential must not stay valid in that cache for a few more seconds, or the
screen's next question (``whoami``, a reconnect) would be told it is still
paired and go round again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from shared.persistence.models import Device
from shared.realtime.hub import Hub, hub_of
from shared.services import devices
from shared.services.auth import resolve_bearer
from shared.services.core import Core
from tests.conftest import Shop


@pytest.fixture
def hub(socketio: Any) -> Iterator[Hub]:
    found = hub_of(socketio)
    assert found is not None
    found.stop()  # rounds run by the test itself
    yield found


def test_a_cut_credential_is_no_longer_valid_anywhere_in_the_process(
    app: Any, socketio: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    started = devices.start_pairing(core, "board")
    device_id = devices.approve_pairing(
        core, started.user_code, kind="board", name="大屏", shop_id=shop.shop_id
    )
    token = str(devices.poll_pairing(core, started.device_code)["device_token"])
    board = socketio.test_client(app, auth={"token": token})
    assert board.is_connected()
    assert resolve_bearer(core, token) is not None  # now remembered for a few seconds

    # Revoked by another process (the CLI): this process's cache is not told.
    with core.db.write() as session:
        session.execute(update(Device).where(Device.id == device_id).values(status="revoked"))
    assert resolve_bearer(core, token) is not None

    assert hub.sweep() == 1
    assert not board.is_connected()
    assert resolve_bearer(core, token) is None
    whoami = app.test_client().get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert whoami.status_code == 401
