"""The shop's running clocks, read on every stage change: read without a
flush, they must still reflect what the same transaction already opened or
closed, and the read must use its index (the shop's whole clock history is
otherwise scanned on every command)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from shared.persistence.models import LabourSegment
from shared.services import labour

AT = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)


def _order(api, shop, plate: str, technician: int) -> dict:
    order = api.assign(api.create(plate), [technician])
    status, order = api.move(order, "in_progress")
    assert status == 200
    return order


def test_running_clocks_include_this_transactions_opens_and_closes(api, shop, core) -> None:
    wang, li = shop.technicians
    first = _order(api, shop, "粤B20001", wang)
    with core.db.write() as session:
        (stored,) = labour._running(session, shop.shop_id)
        assert (stored.order_id, stored.technician_id) == (first["id"], wang)
        # Closed in this transaction, not yet flushed: no longer running.
        stored.ended_at = AT
        stored.end_reason = "pause"
        assert labour._running(session, shop.shop_id) == []
        # Opened in this transaction, not yet flushed: running.
        opened = LabourSegment(
            shop_id=shop.shop_id,
            order_id=first["id"],
            technician_id=li,
            started_at=AT,
            flagged=False,
            flag_reason="",
        )
        session.add(opened)
        assert labour._running(session, shop.shop_id) == [opened]
        session.rollback()
    with core.db.read() as session:
        still = labour._running(session, shop.shop_id)
        assert [(s.order_id, s.technician_id) for s in still] == [(first["id"], wang)]


def test_another_shops_clocks_are_not_running_here(api, shop, core) -> None:
    _order(api, shop, "粤B20002", shop.technicians[0])
    with core.db.read() as session:
        assert labour._running(session, shop.shop_id + 1) == []


def test_the_running_clock_read_uses_its_index(core, shop) -> None:
    statement = select(LabourSegment).where(
        LabourSegment.shop_id == shop.shop_id, LabourSegment.ended_at.is_(None)
    )
    compiled = statement.compile(core.db.engine, compile_kwargs={"literal_binds": True})
    with core.db.engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_labour_segment_shop_open" in details, details
    assert "ended_at" in details, details
