"""What the shop's clock does by itself: expire quotes nobody answered.

Each expiry is a command like any other (the shop row locked, the event
committed, then published), issued by the shop's clock as the actor, so two
server processes running the timer cannot expire a quote twice: the second
finds it expired already and records nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select

from shared.domain import errors, extra_work
from shared.domain.stages import Stage
from shared.persistence.models import RepairOrder
from shared.services import orders
from shared.services.commands import CommandRequest
from shared.services.core import Core
from shared.services.rows import state_from_row

log = logging.getLogger(__name__)

# How often the timer looks (a quote expires at most this late).
TIMER_SECONDS = 30.0
# Quotes are only open while the car is in repair.
_QUOTED_STAGES = (Stage.IN_PROGRESS.value, Stage.PAUSED.value)


def due_quote_orders(core: Core) -> list[tuple[int, int]]:
    """(shop, order) of every order with a pending quote whose time is up."""
    now = core.now()
    with core.db.read() as session:
        rows = session.execute(
            select(RepairOrder).where(RepairOrder.stage.in_(_QUOTED_STAGES))
        ).scalars()
        return [
            (row.shop_id, row.id) for row in rows if extra_work.due_quotes(state_from_row(row), now)
        ]


def expire_due_quotes(core: Core) -> int:
    """Expire every quote whose time is up; how many orders it changed."""
    changed = 0
    for shop_id, order_id in due_quote_orders(core):
        try:
            orders.expire_quotes(core, CommandRequest(orders.QUOTE_CLOCK, shop_id), order_id)
        except errors.DomainError:
            continue  # decided or expired by someone else in the meantime
        changed += 1
    return changed


def run_timers(core: Core, sleep: Callable[[float], object], every: float = TIMER_SECONDS) -> None:
    """The background task of a server process (``socketio.sleep`` as ``sleep``,
    so it cooperates in every async mode). A failing round is logged and the
    next one tried: a database blip must not end the timer."""
    while True:
        sleep(every)
        try:
            expire_due_quotes(core)
        except Exception:
            log.warning("the quote timer failed; trying again in %s s", every, exc_info=True)
