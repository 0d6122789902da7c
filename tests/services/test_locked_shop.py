"""The command's shop as its locked row (``LockedShop``): order commands read
its id, time zone, settings and seq without the ORM entity; a command that
loads the entity (or changes it) sees the seq counted so far, and what it
changes is what the rest of its transaction, and of its batch, reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from shared.domain.order import transition
from shared.domain.stages import Stage
from shared.persistence.models import Shop
from shared.services import commands
from shared.services.commands import Outcome, Transaction
from shared.services.core import Core
from tests.services.test_concurrency import dispatched_order, request
from tests.services.test_group_commit import queue_behind_the_writer


def _stored_seq(core: Core, shop_id: int) -> int:
    with core.db.read() as session:
        return int(session.execute(select(Shop.last_seq).where(Shop.id == shop_id)).scalar_one())


def _start(order_id: int, seen: dict[str, Any], *, entity_first: bool) -> Any:
    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        if entity_first:
            seen["entity_before"] = tx.shop.last_seq
        row = tx.load_order(order_id)
        state = tx.check_version(row, 3)
        tx.record(row, state, transition(state, Stage.IN_PROGRESS, actor=tx.actor, now=tx.now))
        seen["counted"] = tx.locked.last_seq
        seen["entity_after"] = tx.shop.last_seq
        return 200, {}

    return work


@pytest.mark.parametrize("entity_first", [False, True], ids=["loaded-after", "loaded-before"])
def test_the_entity_has_the_seq_of_the_commands_events(
    core: Core, shop: Any, entity_first: bool
) -> None:
    """Loaded after the events, or before them and kept in step."""
    order_id = dispatched_order(core, shop, shop.technicians[0], "粤G40001")
    before = _stored_seq(core, shop.shop_id)
    seen: dict[str, Any] = {}
    commands.execute(
        core,
        request(core, shop, "foreman"),
        "probe",
        _start(order_id, seen, entity_first=entity_first),
    )
    if entity_first:
        assert seen["entity_before"] == before
    assert seen["counted"] == seen["entity_after"] == before + 1 == _stored_seq(core, shop.shop_id)


def test_the_row_reads_what_is_stored_until_the_entity_is_changed(core: Core, shop: Any) -> None:
    """Unloaded, the time zone and settings are the locked row's; once a
    command changes the entity, the row reads the change, within the command
    and in the next command of the same batch."""
    with core.db.write() as session:
        stored = session.get(Shop, shop.shop_id)
        assert stored is not None
        stored.settings = {"quote_valid_minutes": 30}
    foreman = request(core, shop, "foreman")
    seen: list[tuple[str, dict[str, Any]]] = []

    def changes(tx: Transaction) -> tuple[int, dict[str, Any]]:
        seen.append((tx.locked.timezone, dict(tx.locked.settings)))
        tx.shop.settings = {**tx.shop.settings, "quote_valid_minutes": 45}
        tx.shop.timezone = "Asia/Urumqi"
        seen.append((tx.locked.timezone, dict(tx.locked.settings)))
        return 200, {}

    def reads(tx: Transaction) -> tuple[int, dict[str, Any]]:
        seen.append((tx.locked.timezone, dict(tx.locked.settings)))
        return 200, {}

    calls: list[Callable[[], Any]] = [
        lambda: commands.execute(core, foreman, "probe_first", reads),
        lambda: commands.execute(core, foreman, "probe_change", changes),
        lambda: commands.execute(core, foreman, "probe_read", reads),
    ]
    results = queue_behind_the_writer(core, calls)

    assert all(isinstance(r, Outcome) for r in results), results
    assert seen == [
        ("Asia/Shanghai", {"quote_valid_minutes": 30}),
        ("Asia/Shanghai", {"quote_valid_minutes": 30}),
        ("Asia/Urumqi", {"quote_valid_minutes": 45}),
        ("Asia/Urumqi", {"quote_valid_minutes": 45}),
    ]
    with core.db.read() as session:
        stored = session.get(Shop, shop.shop_id)
        assert stored is not None
        assert (stored.timezone, stored.settings) == ("Asia/Urumqi", {"quote_valid_minutes": 45})
