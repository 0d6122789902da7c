"""REST for a customer's messages (issue 17): the one-off from the desk, the
opt-out (desk and the customer's own link), the order's list and the
failed ones. The real app on real SQLite, through the Flask client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from shared.persistence.models import RepairOrder
from shared.persistence.notification_models import Notification
from shared.services.core import Core
from tests.conftest import HandClock, Shop, seed_shop
from tests.reception.flow import Workshop, flask_call, token_of

# 22:30 in Asia/Shanghai (the seeded shop's zone): inside the default quiet hours.
LATE = datetime(2026, 5, 4, 14, 30, tzinfo=UTC)


@pytest.fixture
def workshop(client: Any, shop: Shop, core: Core) -> Workshop:
    core.clock = HandClock(LATE)
    return Workshop(flask_call(client), shop)


def consenting(order_fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "customer": {
            "name": "张先生",
            "phone": "13800000000",
            "email": "zhang@example.com",
            "notify": ["sms", "email"],
        },
        **(order_fields or {}),
    }


def rows(core: Core, order_id: int) -> list[Notification]:
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


def send(client: Any, shop: Shop, order_id: int, body: dict[str, Any], **headers: Any) -> Any:
    return client.post(
        f"/api/v1/orders/{order_id}/notifications",
        json=body,
        headers={**shop.headers(headers.pop("role", "advisor"), key=headers.pop("key", None))},
    )


def test_a_one_off_is_queued_now_on_every_reachable_channel_even_in_quiet_hours(
    workshop: Workshop, client: Any, shop: Shop, core: Core
) -> None:
    order = workshop.create(**consenting())
    received = rows(core, order["id"])
    # The automatic message waits for the morning; the advisor's does not.
    assert all(m.not_before > LATE for m in received)
    answer = send(client, shop, order["id"], {"text": "您的车明早九点前可取。"}, key="one-off-1")
    assert answer.status_code == 201, answer.get_json()
    sent = answer.get_json()["notifications"]
    assert [(m["channel"], m["kind"], m["status"]) for m in sent] == [
        ("sms", "one_off", "queued"),
        ("email", "one_off", "queued"),
    ]
    assert all(m["text"] == "您的车明早九点前可取。" and m["reason"] is None for m in sent)
    one_offs = [m for m in rows(core, order["id"]) if m.kind == "one_off"]
    assert [m.not_before.replace(tzinfo=UTC) for m in one_offs] == [LATE, LATE]
    assert all(
        m.by and m.seq is None and m.facts == {"text": "您的车明早九点前可取。"} for m in one_offs
    )
    assert len({m.dedupe_key for m in one_offs}) == 2

    listed = client.get(
        f"/api/v1/orders/{order['id']}/notifications", headers=shop.headers("foreman")
    )
    assert listed.status_code == 200
    kinds = [(m["kind"], m["channel"]) for m in listed.get_json()["notifications"]]
    assert kinds == [
        ("order_received", "sms"),
        ("order_received", "email"),
        ("one_off", "sms"),
        ("one_off", "email"),
    ]
    first = listed.get_json()["notifications"][0]
    assert set(first) >= {"channel", "kind", "status", "reason", "at", "id", "attempts"}
    assert "recipient" not in first


def test_a_replayed_key_queues_nothing_more_and_another_body_is_refused(
    workshop: Workshop, client: Any, shop: Shop, core: Core
) -> None:
    order = workshop.create(**consenting())
    first = send(client, shop, order["id"], {"text": "配件已到"}, key="same-key")
    again = send(client, shop, order["id"], {"text": "配件已到"}, key="same-key")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    assert len([m for m in rows(core, order["id"]) if m.kind == "one_off"]) == 2
    other = send(client, shop, order["id"], {"text": "另一条"}, key="same-key")
    assert other.status_code == 422
    assert other.get_json()["code"] == "idempotency_key_reuse"
    # Without a key, each send is its own message.
    send(client, shop, order["id"], {"text": "配件已到"})
    send(client, shop, order["id"], {"text": "配件已到"})
    assert len([m for m in rows(core, order["id"]) if m.kind == "one_off"]) == 6


def test_a_stale_version_is_409_with_the_order_as_it_is(
    workshop: Workshop, client: Any, shop: Shop, core: Core
) -> None:
    order = workshop.create(**consenting())
    moved = workshop.start(order)
    answer = send(client, shop, order["id"], {"text": "hi", "version": order["version"]})
    assert answer.status_code == 409
    problem = answer.get_json()
    assert problem["code"] == "stale_version"
    assert problem["order"]["version"] == moved["version"]
    assert not [m for m in rows(core, order["id"]) if m.kind == "one_off"]
    fresh = send(client, shop, order["id"], {"text": "hi", "version": moved["version"]})
    assert fresh.status_code == 201
    opt = client.post(
        f"/api/v1/orders/{order['id']}/notifications/opt-out",
        json={"version": order["version"]},
        headers=shop.headers("advisor"),
    )
    assert opt.status_code == 409 and opt.get_json()["code"] == "stale_version"


def test_channels_must_be_agreed_and_reachable(workshop: Workshop, client: Any, shop: Shop) -> None:
    order = workshop.create(**consenting())
    # Well-formed, but not what the customer agreed to: 409 with the order.
    wechat = send(client, shop, order["id"], {"text": "hi", "channels": ["wechat"]})
    assert wechat.status_code == 409
    assert wechat.get_json()["order"]["id"] == order["id"]
    assert "wechat" in wechat.get_json()["detail"]
    # Malformed: 422 naming the field.
    odd = send(client, shop, order["id"], {"text": "hi", "channels": ["fax"]})
    assert odd.status_code == 422 and odd.get_json()["field"] == "channels"
    empty_list = send(client, shop, order["id"], {"text": "hi", "channels": []})
    assert empty_list.status_code == 422 and empty_list.get_json()["field"] == "channels"
    only_sms = send(client, shop, order["id"], {"text": "hi", "channels": ["sms", "sms"]})
    assert [m["channel"] for m in only_sms.get_json()["notifications"]] == ["sms"]
    long = send(client, shop, order["id"], {"text": "长" * 501})
    assert long.status_code == 422 and long.get_json()["field"] == "text"
    padded = send(client, shop, order["id"], {"text": "长" * 499 + "  "})
    assert padded.status_code == 422 and padded.get_json()["field"] == "text"
    empty = send(client, shop, order["id"], {"text": "  "})
    assert empty.status_code == 422 and empty.get_json()["field"] == "text"
    unknown = send(client, shop, order["id"], {"text": "hi", "to": "13900000000"})
    assert unknown.status_code == 422 and unknown.get_json()["field"] == "to"
    silent = workshop.create()
    none = send(client, shop, silent["id"], {"text": "hi"})
    assert none.status_code == 409 and none.get_json()["order"]["id"] == silent["id"]


def test_only_the_office_sends_and_opts_out(workshop: Workshop, client: Any, shop: Shop) -> None:
    order = workshop.create(**consenting())
    for role in ("technician", "foreman", "display-board"):
        assert send(client, shop, order["id"], {"text": "hi"}, role=role).status_code == 403
        refused = client.post(
            f"/api/v1/orders/{order['id']}/notifications/opt-out",
            json={},
            headers=shop.headers(role),
        )
        assert refused.status_code == 403
    for role in ("admin", "manager", "advisor"):
        assert send(client, shop, order["id"], {"text": "hi"}, role=role).status_code == 201


def test_another_shops_order_is_not_found(
    workshop: Workshop, client: Any, shop: Shop, core: Core
) -> None:
    order = workshop.create(**consenting())
    other = seed_shop(core, slug="other")
    headers = other.headers("admin", key="x-shop")
    path = f"/api/v1/orders/{order['id']}/notifications"
    assert client.get(path, headers=headers).status_code == 404
    assert client.post(path, json={"text": "hi"}, headers=headers).status_code == 404
    opt = client.post(path + "/opt-out", json={}, headers=other.headers("admin"))
    assert opt.status_code == 404
    assert [m.status for m in rows(core, order["id"])] == ["queued", "queued"]
    failed = client.get("/api/v1/notifications/failed", headers=other.headers("admin"))
    assert failed.get_json() == {"notifications": []}


def test_the_desk_opt_out_suppresses_the_queued_ones_once(
    workshop: Workshop, client: Any, shop: Shop, core: Core
) -> None:
    order = workshop.create(**consenting())
    assert [m.status for m in rows(core, order["id"])] == ["queued", "queued"]
    path = f"/api/v1/orders/{order['id']}/notifications/opt-out"
    answer = client.post(path, json={}, headers=shop.headers("advisor", key="opt-1"))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["opted_out"] is True and body["suppressed"] == 2
    assert body["order"]["customer"]["opted_out"] is True
    assert [(m.status, m.reason) for m in rows(core, order["id"])] == [
        ("suppressed", "opted_out"),
        ("suppressed", "opted_out"),
    ]
    with core.db.read() as session:
        row = session.get(RepairOrder, order["id"])
        assert row is not None and row.notify_opt_out == "desk"
    replay = client.post(path, json={}, headers=shop.headers("advisor", key="opt-1"))
    assert replay.get_json() == body and replay.headers.get("Idempotent-Replayed") == "true"
    core.clock.advance(minutes=5)  # type: ignore[attr-defined]
    second = client.post(path, json={}, headers=shop.headers("advisor"))
    assert second.status_code == 200
    assert second.get_json()["suppressed"] == 0
    assert second.get_json()["opted_out_at"] == body["opted_out_at"]
    # Nothing more is queued: not a one-off, nor what the car's next steps cause.
    refused = send(client, shop, order["id"], {"text": "hi"})
    assert refused.status_code == 409
    workshop.finish(workshop.start(workshop.get(order["id"])))
    assert len(rows(core, order["id"])) == 2


def test_the_customer_opts_out_by_their_link(
    workshop: Workshop, client: Any, shop: Shop, core: Core
) -> None:
    order = workshop.create(**consenting())
    token = token_of(order)
    answer = client.post(f"/api/v1/track/{token}/notifications/opt-out", json={})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["suppressed"] == 2
    # The customer's view: nothing of the staff's (no phone, no e-mail).
    assert "customer" not in body["order"] and "13800000000" not in answer.get_data(as_text=True)
    staff = workshop.get(order["id"])
    assert staff["customer"]["opted_out"] is True
    assert staff["customer"]["notify"] == []
    wrong = client.post(f"/api/v1/track/{'x' * 43}/notifications/opt-out", json={})
    assert wrong.status_code == 404


def test_failed_messages_are_listed_for_the_desk(
    workshop: Workshop, client: Any, shop: Shop, core: Core
) -> None:
    order = workshop.create(**consenting())
    with core.db.write() as session:
        session.execute(
            update(Notification)
            .where(Notification.order_id == order["id"], Notification.channel == "sms")
            .values(status="failed", reason="gave_up", attempts=5, updated_at=LATE)
        )
    failed = client.get("/api/v1/notifications/failed", headers=shop.headers("advisor"))
    assert failed.status_code == 200
    (only,) = failed.get_json()["notifications"]
    assert (only["order_id"], only["channel"], only["reason"], only["attempts"]) == (
        order["id"],
        "sms",
        "gave_up",
        5,
    )
    assert only["number"] == order["number"] and only["plate"] == order["plate"]
    later = (LATE + timedelta(minutes=1)).isoformat()
    none = client.get(
        "/api/v1/notifications/failed", query_string={"since": later}, headers=shop.headers()
    )
    assert none.get_json() == {"notifications": []}


def test_the_desks_hear_of_a_one_off_and_an_opt_out(
    workshop: Workshop, client: Any, shop: Shop, app: Any, socketio: Any
) -> None:
    order = workshop.create(**consenting())
    desk = socketio.test_client(app, auth={"token": shop.tokens["advisor"]})
    assert desk.is_connected()
    desk.get_received()  # the snapshot
    send(client, shop, order["id"], {"text": "hi"})
    client.post(
        f"/api/v1/orders/{order['id']}/notifications/opt-out", json={}, headers=shop.headers()
    )
    # A second opt-out changes nothing, and says nothing.
    client.post(
        f"/api/v1/orders/{order['id']}/notifications/opt-out", json={}, headers=shop.headers()
    )
    hints = [m["args"][0] for m in desk.get_received() if m["name"] == "notifications"]
    assert hints == [{"order_id": order["id"]}, {"order_id": order["id"]}]
    desk.disconnect()
