"""What of a complaint is the shop's audit, for the tests that erase its
customer's words (retention, the desk's erase): everything but the texts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shared.persistence.reception_models import Complaint, ComplaintEvent
from shared.services.core import Core


def complaint_trail(core: Core, complaint_id: int) -> tuple[Any, ...]:
    """What of a complaint is the shop's audit: its row but the texts, and
    each event but the texts."""
    with core.db.read() as session:
        row = session.get(Complaint, complaint_id)
        assert row is not None
        events = session.execute(
            select(ComplaintEvent)
            .where(ComplaintEvent.complaint_id == complaint_id)
            .order_by(ComplaintEvent.id)
        ).scalars()
        return (
            (row.shop_id, row.order_id, row.follow_up_id, row.status, row.owner_id),
            (row.opened_by, row.opened_at, row.resolved_by, row.resolved_at, row.version),
            [
                (
                    e.id,
                    e.type,
                    e.at,
                    e.actor,
                    e.actor_name,
                    e.idempotency_key,
                    {k: v for k, v in e.data.items() if k not in ("description", "outcome")},
                )
                for e in events
            ],
        )
