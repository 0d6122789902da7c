"""pauses hold a set of reasons; parts requests; who started each clock

An order waits for a set of reasons now (``pause_reasons``) and keeps its
parts requests (``parts``). A paused order from before this revision had one
reason: it becomes that one open reason, with the approval reason keyed to
each quote still pending (so the customer's decision clears it). A clock
segment records who started it and how (``started_by``, ``started_how``);
clocks from before are marked ``unknown``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 11:00:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _reasons(reason: str | None, note: str, quotes: Any, version: int) -> list[dict[str, Any]]:
    if isinstance(quotes, str):
        quotes = json.loads(quotes)
    if reason == "approval":
        pending = [q for q in quotes or [] if q.get("status", "pending") == "pending"]
        return [
            {
                "key": f"approval:{q['id']}",
                "reason": "approval",
                "note": q.get("description", ""),
                "expected_at": None,
            }
            for q in pending
        ]
    if reason == "parts":
        return [{"key": "parts:1", "reason": "parts", "note": note, "expected_at": None}]
    if reason:
        return [{"key": f"other:{version}", "reason": reason, "note": note, "expected_at": None}]
    return []


def upgrade() -> None:
    # Plain ADD COLUMN (every database has it): a batch copy of repair_order
    # would drop a table the event log and the clocks point at.
    empty = sa.text("'[]'")
    unknown = sa.text("'unknown'")
    op.add_column(
        "repair_order", sa.Column("pause_reasons", sa.JSON(), nullable=False, server_default=empty)
    )
    op.add_column(
        "repair_order", sa.Column("parts", sa.JSON(), nullable=False, server_default=empty)
    )
    op.add_column(
        "labour_segment",
        sa.Column("started_by", sa.String(60), nullable=False, server_default=unknown),
    )
    op.add_column(
        "labour_segment",
        sa.Column("started_how", sa.String(20), nullable=False, server_default=unknown),
    )
    orders = sa.table(
        "repair_order",
        sa.column("id", sa.Integer()),
        sa.column("stage", sa.String()),
        sa.column("pause_reason", sa.String()),
        sa.column("pause_note", sa.Text()),
        sa.column("quotes", sa.JSON()),
        sa.column("version", sa.Integer()),
        sa.column("pause_reasons", sa.JSON()),
        sa.column("parts", sa.JSON()),
        sa.column("updated_at", sa.DateTime()),
    )
    connection = op.get_bind()
    paused = connection.execute(
        sa.select(
            orders.c.id,
            orders.c.pause_reason,
            orders.c.pause_note,
            orders.c.quotes,
            orders.c.version,
            orders.c.updated_at,
        ).where(orders.c.stage == "paused")
    ).all()
    for order_id, reason, note, quotes, version, updated_at in paused:
        reasons = _reasons(reason, note or "", quotes, int(version or 1))
        # A parts pause becomes a parts request the counter can move on.
        parts = [
            {
                "id": 1,
                "description": note or "parts",
                "status": "requested",
                "eta": None,
                "requested_at": updated_at.isoformat() if updated_at else None,
                "arrived_at": None,
            }
            for _ in range(1 if reason == "parts" else 0)
        ]
        connection.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(pause_reasons=reasons, parts=parts)
        )


def downgrade() -> None:
    with op.batch_alter_table("labour_segment") as batch:
        batch.drop_column("started_how")
        batch.drop_column("started_by")
    with op.batch_alter_table("repair_order") as batch:
        batch.drop_column("parts")
        batch.drop_column("pause_reasons")
