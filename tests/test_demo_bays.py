"""The demo never double-books a bay: the seeded day puts each car on a bay
that is free while it stands there, and the simulator dispatches only to bays
with room, so the services never have to refuse either of them with
``bay_occupied``."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from sqlalchemy import select

from shared.demo.seed import seed_demo
from shared.demo.simulator import Simulator
from shared.domain.stages import HOLDING_STAGES
from shared.persistence.models import Bay, RepairOrder
from shared.services.core import Core

STEPS = 300
# The bays of the cars standing on one now.
_STANDING = select(RepairOrder.bay).where(
    RepairOrder.stage.in_([s.value for s in HOLDING_STAGES]), RepairOrder.bay.is_not(None)
)


def _over_capacity(core: Core) -> dict[str, int]:
    """Bays holding more cars than they take (nothing, when the rule held)."""
    with core.db.read() as session:
        capacity = dict(session.execute(select(Bay.code, Bay.capacity)).all())
        standing = Counter(session.execute(_STANDING).scalars())
    return {str(bay): count for bay, count in standing.items() if count > capacity.get(str(bay), 1)}


def test_the_seeded_day_and_the_simulator_never_try_a_taken_bay(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="shared.demo.simulator")
    seed_demo(core)
    assert _over_capacity(core) == {}
    with core.db.read() as session:
        standing = session.execute(_STANDING).all()
    assert len(standing) >= 10, "the seeded floor is not busy"

    simulator = Simulator(core, lambda seconds: None, rng_seed=11)
    dispatched = 0
    for _ in range(STEPS):
        moved = simulator.step()
        dispatched += bool(moved and "dispatched to" in moved)
        assert _over_capacity(core) == {}

    refused = [r.getMessage() for r in caplog.records if "bay_occupied" in r.getMessage()]
    assert refused == []
    assert dispatched >= 5, "the simulator found no room to dispatch to"
