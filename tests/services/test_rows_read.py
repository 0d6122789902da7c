"""An order's state read from its row is the same whichever way the row
came: an ORM row as loaded, one whose columns were expired (a command's
refusal expires the session), or a plain row of the table's columns (the
planner's reads); and ``changed_columns`` finds nothing to write for the
state the row already holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shared.persistence.models import RepairOrder
from shared.services.core import Core
from shared.services.rows import changed_columns, state_from_row
from tests.conftest import Shop


def test_the_state_of_a_row_is_the_same_however_it_was_read(
    client: Any, shop: Shop, core: Core
) -> None:
    made = client.post(
        "/api/v1/orders",
        json={"plate": "粤B12345", "items": [{"title": "更换刹车片", "labour_hours": 1.5}]},
        headers=shop.headers("advisor"),
    )
    assert made.status_code == 201
    order_id = made.get_json()["id"]
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        assert row is not None
        loaded = state_from_row(row)
        assert changed_columns(row, loaded) == {}
        session.expire(row)
        assert "stage" not in row.__dict__
        assert state_from_row(row) == loaded
        session.expire(row, ["plate", "items"])
        assert changed_columns(row, loaded) == {}
        plain = session.execute(
            select(*RepairOrder.__table__.c).where(RepairOrder.id == order_id)
        ).one()
        assert state_from_row(plain) == loaded
    assert loaded.plate == "粤B12345" and loaded.stage.value == made.get_json()["stage"]
