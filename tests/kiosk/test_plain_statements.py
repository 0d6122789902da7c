"""A stage change writes the order row, its events, the seq and the labour
clock as plain statements: the unit of work is left nothing to flush (its
bookkeeping cost more than the statements; docs/PERFORMANCE.md). What is
stored must still be exactly what the answer says."""

from __future__ import annotations

from sqlalchemy import event, select

from shared.persistence.models import LabourSegment, RepairOrder
from shared.services import labour


def _watch_flushes(core) -> list[str]:
    """Every object the unit of work is asked to flush, by class name."""
    seen: list[str] = []

    def before_flush(session, _context, _instances) -> None:
        seen.extend(type(o).__name__ for o in [*session.new, *session.dirty])

    event.listen(core.db.sessions, "before_flush", before_flush)
    return seen


def test_stage_changes_leave_the_unit_of_work_nothing(api, shop, core) -> None:
    wang = shop.technicians[0]
    order = api.assign(api.create("粤B30001"), [wang])
    seen = _watch_flushes(core)
    status, order = api.move(order, "in_progress")
    assert status == 200, order
    status, order = api.move(order, "paused", pause_reason="parts", reason="等配件")
    assert status == 200, order
    status, order = api.move(order, "in_progress")
    assert status == 200, order
    assert seen == []
    # The watch does see the commands that still add ORM rows.
    api.create("粤B30002")
    assert "RepairOrder" in seen


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
        assert row.version == order["version"] + 1
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
