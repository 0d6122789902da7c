"""The shop's running clocks, read on every stage change: clocks are written
as plain statements when a command decides, so the same transaction's later
read must see its own opens and closes, a rollback must undo them, and the
read must use its index (the shop's whole clock history is otherwise scanned
on every command)."""

from __future__ import annotations

from datetime import UTC, datetime

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
        # Closed in this transaction: no longer running.
        labour._close(session, [stored], AT, "pause")
        assert labour._running(session, shop.shop_id) == []
        # Opened in this transaction: running.
        labour._open(session, shop.shop_id, first["id"], [li], AT, started_by="test")
        (opened,) = labour._running(session, shop.shop_id)
        assert (opened.technician_id, opened.started_at) == (li, AT)
        session.rollback()
    with core.db.read() as session:
        still = labour._running(session, shop.shop_id)
        assert [(s.order_id, s.technician_id, s.ended_at) for s in still] == [
            (first["id"], wang, None)
        ]
    (segment,) = labour.order_segments(core, first["id"])
    assert segment.ended_at is None and segment.end_reason is None


def test_another_shops_clocks_are_not_running_here(api, shop, core) -> None:
    _order(api, shop, "粤B20002", shop.technicians[0])
    with core.db.read() as session:
        assert labour._running(session, shop.shop_id + 1) == []


def test_the_running_clock_read_uses_its_index(core, shop) -> None:
    statement = labour._RUNNING.params(b_shop=shop.shop_id)
    compiled = statement.compile(core.db.engine, compile_kwargs={"literal_binds": True})
    with core.db.engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_labour_segment_shop_open" in details, details
    assert "ended_at" in details, details
