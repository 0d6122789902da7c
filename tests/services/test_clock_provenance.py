"""Clocks start only by a technician's own act (电子工时: no false hours).

Random command sequences, from random people, run through the real services
on a real database: starts, pauses, resumes, quotes and the customer's
decisions, parts requests and arrivals, reassignments, clock-ons (a
technician's own, and a foreman's for a technician). After every command,
every clock segment ever opened must have begun by the technician's own act
(recorded as theirs: a tap that moved the order, at that order's event by
them, or their own clock-on), or by a foreman's (or the service manager's)
explicit clock-on for them, recorded as theirs.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

import pytest
from sqlalchemy import select

from shared.domain import errors
from shared.domain.extra_work import QuoteTerms
from shared.domain.stages import PauseReason, Stage
from shared.persistence.models import LabourSegment, OrderEvent, RepairOrder
from shared.services import labour, orders
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.services.core import Core
from shared.services.rows import state_from_row
from shared.services.timers import expire_due_quotes

ROLES = ("technician", "technician2", "foreman", "advisor", "manager")


def caller(core: Core, shop: Any, role: str) -> CommandRequest:
    principal = resolve_bearer(core, shop.tokens[role])
    assert principal is not None
    return CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)


def refs(core: Core, shop: Any) -> dict[str, str]:
    found = {}
    for role in ROLES:
        principal = resolve_bearer(core, shop.tokens[role])
        assert principal is not None
        found[role] = principal.actor().ref
    return found


def step(rng: random.Random, core: Core, shop: Any, order_id: int) -> None:
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        assert row is not None
        state = state_from_row(row)
    # Moves most (by technicians and the foreman alike), and now and then
    # everything else that can touch a clock or a pause.
    role = rng.choice([*ROLES, "technician", "foreman", "foreman"])
    request = caller(core, shop, role)
    kind = rng.choice(
        ["move"] * 6 + ["quote", "decide", "parts", "arrive", "clock", "assign", "clear"]
    )
    version = state.version
    if kind == "move":
        to = rng.choice([Stage.IN_PROGRESS, Stage.PAUSED, Stage.QUALITY_CHECK])
        reason = rng.choice([PauseReason.OTHER] * 3 + [PauseReason.PARTS])
        reason = reason if to == Stage.PAUSED else None
        orders.transition_order(
            core, request, order_id, to=to, version=version, reason="x", pause_reason=reason
        )
    elif kind == "quote":
        orders.quote_extra_work(
            core,
            request,
            order_id,
            QuoteTerms("雨刮", 0.2, 1),
            version=version,
        )
    elif kind == "decide" and state.quotes:
        quote = rng.choice(state.quotes)
        orders.decide_extra_work(
            core,
            caller(core, shop, "advisor"),
            order_id,
            quote_id=quote.id,
            approved=rng.random() < 0.5,
            quote_version=quote.version,
            channel="phone",
        )
    elif kind == "parts":
        orders.request_parts(core, request, order_id, description="滤芯", eta=None, version=None)
    elif kind == "arrive" and state.parts:
        part = rng.choice(state.parts)
        orders.change_parts_status(
            core, request, order_id, part_id=part.id, status="arrived", eta=None
        )
    elif kind == "clock":
        technician = rng.choice([None, *shop.technicians])
        labour.clock_on(core, request, order_id, technician)
    elif kind == "assign":
        technicians = rng.sample(shop.technicians, rng.randint(1, 2))
        orders.assign_order(
            core, request, order_id, bay="B01", technicians=technicians, version=version
        )
    elif kind == "clear" and state.pause_reasons:
        key = rng.choice(state.pause_reasons).key
        orders.clear_pause_reason(core, request, order_id, key=key, version=None)


def check_every_clock(core: Core, shop: Any, known: dict[str, str]) -> int:
    own_ref = {shop.technicians[0]: known["technician"], shop.technicians[1]: known["technician2"]}
    with core.db.read() as session:
        segments = session.execute(select(LabourSegment)).scalars().all()
        for segment in segments:
            if segment.started_how == labour.STARTED_BY_FOREMAN:
                # The dispatchers: the foreman, or the service manager above them.
                assert segment.started_by in {known["foreman"], known["manager"]}
                continue
            assert segment.started_how == labour.STARTED_OWN
            assert segment.started_by == own_ref[segment.technician_id]
            # A clock started by a move began at that move, made by them.
            at_start = (
                session.execute(
                    select(OrderEvent.actor).where(
                        OrderEvent.order_id == segment.order_id, OrderEvent.at == segment.started_at
                    )
                )
                .scalars()
                .all()
            )
            assert set(at_start) <= {segment.started_by}, at_start
        return len(segments)


@pytest.mark.parametrize("seed", range(5))
def test_every_clock_begins_with_the_technician_s_own_act(core: Core, shop: Any, seed: int) -> None:
    rng = random.Random(seed)
    known = refs(core, shop)
    order = orders.create_order(
        core, caller(core, shop, "advisor"), plate=f"粤B6{seed:04d}", items=[]
    ).body
    assigned = orders.assign_order(
        core,
        caller(core, shop, "foreman"),
        order["id"],
        bay="B01",
        technicians=list(shop.technicians),
        version=order["version"],
    ).body
    # Wang starts the job; from then on anyone does anything.
    orders.transition_order(
        core,
        caller(core, shop, "technician"),
        order["id"],
        to=Stage.IN_PROGRESS,
        version=assigned["version"],
    )
    clocks = 0
    for _ in range(80):
        # A refused command changes nothing (tested elsewhere); go on.
        with contextlib.suppress(errors.DomainError):
            step(rng, core, shop, order["id"])
        expire_due_quotes(core)
        clocks = check_every_clock(core, shop, known)
    assert clocks > 0, "the sequence should have clocked someone"
