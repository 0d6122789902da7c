"""A token's last use is a hint: noting it never waits behind a command that
holds the process's write lock (on PostgreSQL a command may hold it while a
row lock makes it wait, and a read request must still answer). It is then
left for the next time."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from shared.persistence.models import ApiToken
from shared.services.auth import note_token_use
from shared.services.core import Core


def last_used(core: Core, token_id: int) -> Any:
    with core.db.read() as session:
        return session.execute(
            select(ApiToken.last_used_at).where(ApiToken.id == token_id)
        ).scalar_one()


def test_noting_a_use_does_not_wait_for_a_busy_writer(core: Core, shop: Any) -> None:
    with core.db.read() as session:
        token_id = session.execute(select(ApiToken.id).limit(1)).scalar_one()
    before = last_used(core, token_id)
    now = core.now()
    with core.db.write_lock:  # a command is writing
        noting = threading.Thread(target=note_token_use, args=(core, [token_id], now))
        noting.start()
        noting.join(timeout=5)
        assert not noting.is_alive(), "noting a token's use waited for the write lock"
    assert last_used(core, token_id) == before
    note_token_use(core, [token_id], now)  # free again: written
    assert last_used(core, token_id) == now
