"""The queries every change of an order runs read the shop's cars in the
shop, not its whole history: SQLite's plan for each statement of a lounge
view (built for every change and every lounge snapshot) is checked here,
because a plan that reads every order the shop ever had costs nothing in a
test database and milliseconds per change in a shop after a year."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from shared.domain.events import WorkItem
from shared.persistence.models import RepairOrder
from shared.services import orders
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.services.core import Core
from shared.services.views import lounge_view

# Indexes that hold every order of a shop, whatever its stage: a change's
# query that reads through one of them with the shop alone reads history.
HISTORY_INDEXES = ("ix_repair_order_report_visits", "ix_repair_order_shop_plate")


@contextmanager
def statements(core: Core) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(core.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(core.db.engine, "before_cursor_execute", record)


def test_a_lounge_view_reads_the_cars_in_the_shop_through_the_stage_index(
    core: Core, shop: Any
) -> None:
    principal = resolve_bearer(core, shop.tokens["advisor"])
    assert principal is not None
    caller = CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)
    for plate in ("粤B12352", "粤B99952"):
        orders.create_order(core, caller, plate=plate, items=[WorkItem("保养", 1.0)])
    with core.db.read() as session:
        row = session.execute(select(RepairOrder).order_by(RepairOrder.id)).scalars().first()
        assert row is not None
        with statements(core) as seen:
            view = lounge_view(row)
        # The two masks read the same, so the twin check did run.
        assert view["plate_masked_more"] is not None
        assert seen, "the lounge view asked nothing of the database"
        raw = session.connection().connection.dbapi_connection
        assert raw is not None
        for statement, parameters in seen:
            plan = raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            steps = " | ".join(str(step[-1]) for step in plan)
            assert not any(index in steps for index in HISTORY_INDEXES), (statement, steps)
            assert "SCAN repair_order" not in steps, (statement, steps)
