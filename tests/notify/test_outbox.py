"""The outbox: a customer's messages are rows written in the transaction of
the event that causes them (issue 17). Real services, real SQLite, the
orders walked through the real REST API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.persistence.models import OrderEvent
from shared.persistence.notification_models import Notification
from shared.services.core import Core
from tests.conftest import HandClock
from tests.reception.flow import Workshop, flask_call

# 10:00 in Asia/Shanghai, the seeded shop's zone (inside opening hours).
START = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)


@pytest.fixture
def workshop(client: Any, shop: Any, core: Core) -> Workshop:
    core.clock = HandClock(START)
    return Workshop(flask_call(client), shop)


def messages(core: Core, order_id: int) -> list[Notification]:
    with core.db.read() as session:
        found = list(
            session.scalars(
                select(Notification)
                .where(Notification.order_id == order_id)
                .order_by(Notification.id)
            )
        )
        session.expunge_all()  # read as they were, after the read rolls back
        return found


def consenting(**more: Any) -> dict[str, Any]:
    return {
        "customer": {
            "name": "张先生",
            "phone": "13800000000",
            "email": "zhang@example.com",
            "notify": ["sms", "email"],
            **more,
        }
    }


def test_an_order_received_queues_one_message_per_consented_channel(
    workshop: Workshop, core: Core
) -> None:
    order = workshop.create(**consenting())
    assert order["customer"]["notify"] == ["sms", "email"]
    assert order["customer"]["email"] == "zhang@example.com"
    found = messages(core, order["id"])
    assert [(m.kind, m.channel, m.status) for m in found] == [
        ("order_received", "sms", "queued"),
        ("order_received", "email", "queued"),
    ]
    with core.db.read() as session:
        seq = session.scalar(
            select(OrderEvent.seq).where(
                OrderEvent.order_id == order["id"], OrderEvent.type == "order_created"
            )
        )
    assert {m.seq for m in found} == {seq}
    # Neither the name nor the phone is kept with the queued message.
    assert all(m.recipient == "" and "张" not in str(m.facts) for m in found)


def test_no_consent_no_message(workshop: Workshop, core: Core) -> None:
    order = workshop.create()
    assert order["customer"]["notify"] == []
    ready = workshop.finish(workshop.start(order))
    assert ready["stage"] == "ready"
    with core.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 0


def test_ready_and_quote_are_queued_with_their_event(workshop: Workshop, core: Core) -> None:
    order = workshop.start(workshop.create(**consenting(notify=["sms"])))
    quoted = workshop.quote(order, "更换刹车片", 1.0, 48000)
    ready_order = workshop.get(order["id"])
    kinds = [m.kind for m in messages(core, order["id"])]
    assert kinds == ["order_received", "quote_waiting"]
    assert quoted and ready_order["stage"] in ("paused", "in_progress")
    # The quote message names its quote and version, for the staleness check.
    quote_message = messages(core, order["id"])[1]
    assert quote_message.facts["version"] == 1 and quote_message.facts["quote_id"]


def test_a_refused_command_queues_nothing(
    workshop: Workshop, core: Core, client: Any, shop: Any
) -> None:
    order = workshop.create(**consenting(notify=["sms"]))
    before = len(messages(core, order["id"]))
    # A stale version is refused with 409: no event, no message.
    response = client.post(
        f"/api/v1/orders/{order['id']}/transitions",
        json={"to": "ready", "version": order["version"] + 5},
        headers=shop.headers("admin", key="stale-1"),
    )
    assert response.status_code == 409
    assert len(messages(core, order["id"])) == before


@pytest.mark.parametrize(
    ("customer", "field"),
    [
        ({"email": "not-an-address", "notify": ["email"]}, "customer.email"),
        ({"notify": ["pigeon"]}, "customer.notify"),
        ({"phone": "", "notify": ["sms"]}, "customer.notify"),
        ({"notify": ["email"]}, "customer.notify"),
        ({"language": "fr"}, "customer.language"),
    ],
)
def test_bad_consent_is_refused_and_changes_nothing(
    client: Any, shop: Any, core: Core, customer: dict[str, Any], field: str
) -> None:
    with core.db.read() as session:
        events_before = session.scalar(select(func.count()).select_from(OrderEvent))
    body = {"plate": "粤B12345", "customer": {"name": "张", "phone": "13800000000", **customer}}
    response = client.post(
        "/api/v1/orders",
        json=body,
        headers=shop.headers("advisor", key=f"bad-{field}-{len(customer)}"),
    )
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["field"] == field
    with core.db.read() as session:
        assert session.scalar(select(func.count()).select_from(OrderEvent)) == events_before
        assert session.scalar(select(func.count()).select_from(Notification)) == 0
