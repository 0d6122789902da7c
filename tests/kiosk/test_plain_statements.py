"""A stage change writes the order row, its events, the seq and the labour
clock as plain statements (cheaper than the unit of work's bookkeeping;
docs/PERFORMANCE.md). What is stored must still be exactly what the answer
says, and a refused change must write nothing at all."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from shared.persistence.models import Base, LabourSegment, OrderEvent, RepairOrder
from shared.services import labour


def _stored(core: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as plain tuples."""
    with core.db.read() as session:
        return {
            table.name: [tuple(row) for row in session.execute(text(f"SELECT * FROM {table.name}"))]
            for table in Base.metadata.sorted_tables
        }


def test_each_stage_change_stores_what_its_answer_says(api, shop, core) -> None:
    wang = shop.technicians[0]
    order = api.assign(api.create("粤B30001"), [wang])
    moves: list[tuple[str, dict[str, Any]]] = [
        ("in_progress", {}),
        ("paused", {"pause_reason": "other", "reason": "试车"}),
        ("in_progress", {}),
    ]
    for stage, more in moves:
        status, answer = api.move(order, stage, **more)
        assert status == 200, answer
        # A pause adds its reason, a resume clears it: one or two events.
        assert answer["version"] > order["version"]
        with core.db.read() as session:
            row = session.get(RepairOrder, order["id"])
            assert row is not None
            assert (row.stage, row.version, row.pause_reason) == (
                answer["stage"],
                answer["version"],
                answer.get("pause_reason"),
            )
            versions = session.execute(
                select(OrderEvent.seq).where(OrderEvent.order_id == order["id"])
            ).all()
            assert len(versions) == answer["version"]
        order = answer
    clocks = labour.order_segments(core, order["id"])
    assert [(s.end_reason, s.ended_at is None) for s in clocks] == [
        ("pause", False),
        (None, True),
    ]


def test_a_stale_change_writes_nothing(api, shop, core) -> None:
    wang = shop.technicians[0]
    order = api.assign(api.create("粤B30002"), [wang])
    status, started = api.move(order, "in_progress")
    assert status == 200, started
    status, paused = api.move(started, "paused", pause_reason="parts", reason="等配件")
    assert status == 200, paused
    before = _stored(core)
    status, refused = api.move(started, "quality_check")
    assert status == 409, refused
    status, refused = api.move(started, "paused", pause_reason="parts", reason="等配件")
    assert status == 409, refused
    assert _stored(core) == before


def test_what_is_stored_is_what_the_answer_says(api, shop, core) -> None:
    wang = shop.technicians[0]
    order = api.assign(api.create("粤B30003"), [wang])
    status, order = api.move(order, "in_progress")
    assert status == 200, order
    status, paused = api.move(order, "paused", pause_reason="parts", reason="等配件")
    assert status == 200, paused
    with core.db.read() as session:
        row = session.get(RepairOrder, order["id"])
        assert row is not None
        assert (row.stage, row.version, row.pause_reason) == ("paused", paused["version"], "parts")
        # The parts request, the pause, and the reason it adds.
        assert row.version == order["version"] + 3
        clocks = session.execute(
            select(LabourSegment.ended_at, LabourSegment.end_reason).where(
                LabourSegment.order_id == order["id"]
            )
        ).all()
    assert len(clocks) == 1 and clocks[0].ended_at is not None
    assert clocks[0].end_reason == "pause"
    assert api.get(order["id"])["version"] == paused["version"]
    # A stale second change is refused and changes nothing.
    status, refused = api.move(order, "in_progress")
    assert status == 409, refused
    assert api.get(order["id"])["stage"] == "paused"
    assert [s.ended_at is not None for s in labour.order_segments(core, order["id"])] == [True]
