"""A customer's messages under the retention rules (issue 17, PIPL): the
daily job and an erasure at the desk empty the customer's e-mail, WeChat
openid and each message's recipient and text (the advisor's one-off words
too) with the rest of their data, suppress what still waits, and scrub the
stored answers that copied them; the export at the desk includes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from shared.persistence.models import IdempotencyRecord, RepairOrder
from shared.persistence.notification_models import Notification
from shared.services import retention, setup
from shared.services.auth import create_api_token
from shared.services.core import Core
from tests.conftest import HandClock, Shop
from tests.reception.flow import Workshop, flask_call

START = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
PLATE, PHONE, EMAIL = "粤B12345", "13800000000", "zhang@example.com"
OPENID = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"
ONE_OFF = "张先生，您的车明早九点前可取"
SENT_TEXT = "湖滨店：您的车辆已完工，可以取车了。"


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(START)
    core.clock = fixed
    return fixed


@pytest.fixture
def workshop(client: Any, shop: Shop, core: Core, clock: HandClock) -> Workshop:
    user_id = setup.create_user(
        core, shop.shop_id, role="advisor", name="陈顾问", password="correct horse battery"
    )
    shop.tokens["desk"] = create_api_token(
        core, shop_id=shop.shop_id, role="advisor", name="陈顾问", user_id=user_id
    )
    return Workshop(flask_call(client), shop)


def told_visit(workshop: Workshop, client: Any, shop: Shop, core: Core) -> dict[str, Any]:
    """An order whose customer agreed to SMS and e-mail and bound WeChat, with
    an advisor's one-off (kept for its key), a message sent (as the sender
    records one) and, once delivered, the survey still waiting."""
    order = workshop.create(
        plate=PLATE,
        customer={"name": "张先生", "phone": PHONE, "email": EMAIL, "notify": ["sms", "email"]},
    )
    with core.db.write() as session:
        session.execute(
            update(RepairOrder)
            .where(RepairOrder.id == order["id"])
            .values(wechat_openid=OPENID, customer_notify=["sms", "wechat", "email"])
        )
    sent = client.post(
        f"/api/v1/orders/{order['id']}/notifications",
        json={"text": ONE_OFF, "channels": ["sms"]},
        headers=shop.headers("advisor", key="one-off-kept"),
    )
    assert sent.status_code == 201
    with core.db.write() as session:
        session.execute(
            update(Notification)
            .where(Notification.order_id == order["id"], Notification.channel == "email")
            .values(status="sent", recipient=EMAIL, text=SENT_TEXT, sent_at=START, locale="zh_Hans")
        )
    order = workshop.finish(workshop.start(workshop.get(order["id"])))
    workshop.hand_over(order, role="desk")
    return workshop.get(order["id"])


def messages(core: Core, order_id: int) -> list[Notification]:
    with core.db.read() as session:
        found = list(
            session.scalars(
                select(Notification)
                .where(Notification.order_id == order_id)
                .order_by(Notification.id)
            )
        )
        session.expunge_all()
        return found


def stored_answers(core: Core) -> str:
    with core.db.read() as session:
        bodies = session.scalars(select(IdempotencyRecord.body)).all()
    return json.dumps(bodies, ensure_ascii=False)


def assert_forgotten(core: Core, order_id: int) -> None:
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        assert row is not None
        assert row.anonymised_at is not None
        assert (row.customer_email, row.wechat_openid) == ("", "")
        # Codes, not data: what they agreed to and how they were told stays.
        assert row.customer_notify == ["sms", "wechat", "email"]
    found = messages(core, order_id)
    assert found
    for message in found:
        assert message.recipient == "" and message.text == ""
        assert not (message.facts or {}).get("text")
        assert message.status != "queued"
    sent = [m for m in found if m.channel == "email" and m.kind == "order_received"]
    assert [(m.status, m.sent_at is not None) for m in sent] == [("sent", True)]
    waiting = [m for m in found if m.kind == "survey"]
    assert waiting and all((m.status, m.reason) == ("suppressed", "stale") for m in waiting)
    answers = stored_answers(core)
    for secret in (ONE_OFF, EMAIL, OPENID, SENT_TEXT):
        assert secret not in answers, secret


def test_the_retention_job_forgets_the_customers_messages(
    workshop: Workshop, client: Any, shop: Shop, core: Core, clock: HandClock
) -> None:
    order = told_visit(workshop, client, shop, core)
    # Still within retention: nothing changes.
    retention.run_retention(core, [shop.shop_id])
    assert any((m.facts or {}).get("text") == ONE_OFF for m in messages(core, order["id"]))
    assert any(m.recipient == EMAIL for m in messages(core, order["id"]))
    assert ONE_OFF in stored_answers(core)
    clock.advance(days=1096)
    # Stored answers live 48 h: keep the one-off's copy alive to see it scrubbed.
    with core.db.write() as session:
        session.execute(update(IdempotencyRecord).values(created_at=clock()))
    (run,) = retention.run_retention(core, [shop.shop_id])
    assert run.anonymised == [order["id"]]
    assert_forgotten(core, order["id"])


def test_an_erasure_at_the_desk_forgets_them_and_the_export_has_them(
    workshop: Workshop, client: Any, shop: Shop, core: Core, clock: HandClock
) -> None:
    order = told_visit(workshop, client, shop, core)
    exported = client.post(
        "/desk/api/privacy/export",
        json={"plate": PLATE, "phone": PHONE},
        headers=shop.headers("desk"),
    )
    assert exported.status_code == 200
    (document,) = exported.get_json()["orders"]
    assert document["notifications"] == {
        "email": EMAIL,
        "channels": ["sms", "wechat", "email"],
        "language": "",
        "consented_at": document["notifications"]["consented_at"],
        "wechat_bound": True,
        "opted_out_at": None,
    }
    assert OPENID not in exported.get_data(as_text=True)
    by_kind = {(m["kind"], m["channel"]): m for m in document["messages"]}
    assert by_kind[("one_off", "sms")]["text"] == ONE_OFF
    assert by_kind[("order_received", "email")]["recipient"] == EMAIL
    assert by_kind[("order_received", "email")]["text"] == SENT_TEXT
    assert by_kind[("order_received", "email")]["status"] == "sent"

    erased = client.post(
        "/desk/api/privacy/erase",
        json={"plate": PLATE, "phone": PHONE},
        headers=shop.headers("desk", key="erase-1"),
    )
    assert erased.status_code == 200, erased.get_json()
    assert_forgotten(core, order["id"])
    listed = client.get(f"/api/v1/orders/{order['id']}/notifications", headers=shop.headers())
    assert ONE_OFF not in listed.get_data(as_text=True)
