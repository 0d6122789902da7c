"""A kiosk credential is checked on a read: taps within ``TOUCH_EVERY`` of the
last recorded activity write nothing and never take the write lock; a tap
once it is due records its time in a short write of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from test_kiosk_login import login, me, pair_kiosk

from shared.persistence.kiosk_models import KioskSession
from shared.services import kiosk_login
from shared.services.core import Core

T0 = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)
WRITES = ("insert", "update", "delete")


@contextmanager
def watched(core: Core) -> Iterator[dict[str, list[str]]]:
    """The write transactions opened and the SQL statements sent in the block."""
    seen: dict[str, list[str]] = {"writes": [], "statements": []}
    write = core.db.write

    def watched_write() -> Any:
        seen["writes"].append("write")
        return write()

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen["statements"].append(sql.strip().lower())

    core.db.write = watched_write  # type: ignore[method-assign]
    event.listen(core.db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(core.db.engine, "before_cursor_execute", note)
        core.db.write = write  # type: ignore[method-assign]


def last_seen(core: Core) -> datetime:
    with core.db.read() as session:
        found = session.execute(select(KioskSession.last_seen_at)).scalar_one()
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def test_checks_inside_the_touch_step_write_nothing(client, shop, core) -> None:
    now = [T0]
    core.clock = lambda: now[0]
    token = login(client, pair_kiosk(core, shop.shop_id), "1001", "1234").get_json()["token"]
    step = kiosk_login.TOUCH_EVERY
    now[0] = T0 + step - timedelta(seconds=1)
    with watched(core) as seen:
        assert kiosk_login.resolve_session(core, token, touch=True) is not None
        assert me(client, token).status_code == 200
    assert seen["writes"] == []
    assert not [s for s in seen["statements"] if s.startswith(WRITES)]
    assert last_seen(core) == T0
    # Due: one short write records the tap, and the idle window starts again.
    now[0] = T0 + step
    with watched(core) as seen:
        assert kiosk_login.resolve_session(core, token, touch=True) is not None
    assert seen["writes"] == ["write"]
    assert last_seen(core) == T0 + step
    now[0] = T0 + step + kiosk_login.IDLE_TIMEOUT
    assert kiosk_login.resolve_session(core, token, touch=False) is not None


def test_a_check_that_is_not_a_tap_never_writes(client, shop, core) -> None:
    core.clock = lambda: T0
    token = login(client, pair_kiosk(core, shop.shop_id), "1001", "1234").get_json()["token"]
    core.clock = lambda: T0 + timedelta(minutes=2)
    with watched(core) as seen:
        assert kiosk_login.resolve_session(core, token, touch=False) is not None
    assert seen["writes"] == [] and last_seen(core) == T0
