"""A customer's request to export or erase their data at the reception desk
(issue 14, item 8), through the real app: the desk's JSON endpoints with the
advisor's token or her signed-in session, real SQLite, real services.

The customer is found by plate and phone together; a wrong phone finds
nothing and says so exactly as an unknown plate does. The export is a JSON
download of their orders, kept nowhere; the erase anonymises their delivered
and cancelled orders at once and refuses while the car is still in the shop.
A complaint the customer made on a follow-up call is in the export, and the
erase empties its texts (open or resolved) and keeps its trail.
Both are recorded in privacy_log; only reception (advisor, manager, admin)
may ask, and a signed-in page must send its CSRF token.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from shared.persistence.models import IdempotencyRecord, OrderEvent, RepairOrder
from shared.persistence.reception_models import Complaint, ComplaintEvent
from shared.persistence.retention_models import PrivacyLog
from shared.services import reception, setup
from shared.services.auth import create_api_token
from shared.services.core import Core
from shared.services.views import mask_plate
from tests.complaint_trail import complaint_trail
from tests.conftest import HandClock, seed_shop
from tests.reception.flow import Workshop, flask_call, token_of
from tests.staff_sessions import sign_in_as

START = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
PLATE = "粤B·7PQ31"
CANONICAL = "粤B7PQ31"
PHONE = "13812345678"
NAME = "黄女士"
VIN = "LFV2A21K8E3PQ3101"
OTHER_PHONE = "13987654321"  # the husband, who brought the same car once
FIND, EXPORT, ERASE = (
    "/desk/api/privacy/orders",
    "/desk/api/privacy/export",
    "/desk/api/privacy/erase",
)


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(START)
    core.clock = fixed
    return fixed


@pytest.fixture
def advisor(core: Core, shop: Any) -> int:
    user_id = setup.create_user(
        core, shop.shop_id, role="advisor", name="陈顾问", password="correct horse battery"
    )
    shop.tokens["desk"] = create_api_token(
        core, shop_id=shop.shop_id, role="advisor", name="陈顾问", user_id=user_id
    )
    return user_id


@pytest.fixture
def workshop(client: Any, shop: Any, clock: HandClock, advisor: int) -> Workshop:
    return Workshop(flask_call(client), shop)


def visit(
    workshop: Workshop, *, phone: str = PHONE, name: str = NAME, end: str = "delivered"
) -> Any:
    """One order of the car, walked to ``end`` (delivered over the desk's
    own handover, with an Idempotency-Key: its first answer is kept)."""
    order = workshop.create(
        plate=PLATE,
        customer={"name": name, "phone": phone},
        vehicle={"model": "大众朗逸", "vin": VIN, "mileage": 61000},
        complaint=f"{name}说空调不凉",
    )
    if end == "checked_in":
        return order
    order = workshop.finish(workshop.start(order))
    workshop.hand_over(order, role="desk", note=f"{name}下次换电瓶", next_service_mileage=71000)
    return workshop.get(order["id"])


def ask(client: Any, shop: Any, path: str, role: str = "desk", **body: Any) -> Any:
    fields = {"plate": PLATE, "phone": PHONE, **body}
    return client.post(path, json=fields, headers=shop.headers(role, key=f"k-{path}-{role}"))


def logged(core: Core) -> list[dict[str, Any]]:
    """The privacy log's records, oldest first."""
    with core.db.read() as session:
        return [
            {
                "kind": entry.kind,
                "order_ids": entry.order_ids,
                "actor_name": entry.actor_name,
                "details": entry.details,
            }
            for entry in session.execute(select(PrivacyLog).order_by(PrivacyLog.id)).scalars()
        ]


def test_plate_and_phone_together_find_the_customers_orders_and_nothing_else(
    client: Any, shop: Any, workshop: Workshop
) -> None:
    hers = visit(workshop)
    his = visit(workshop, phone=OTHER_PHONE, name="黄先生")
    found = ask(client, shop, FIND)
    assert found.status_code == 200
    assert [order["id"] for order in found.get_json()["orders"]] == [hers["id"]]
    assert found.get_json()["orders"][0]["erasable"] is True
    # However the phone is written.
    spelled = ask(client, shop, FIND, phone="+86 138-1234-5678").get_json()["orders"]
    assert [order["id"] for order in spelled] == [hers["id"]]
    assert [o["id"] for o in ask(client, shop, FIND, phone=OTHER_PHONE).get_json()["orders"]] == [
        his["id"]
    ]
    # A wrong phone and an unknown plate get the same answer: nothing.
    wrong_phone = ask(client, shop, FIND, phone="13800000000")
    unknown_plate = ask(client, shop, FIND, plate="粤B00000")
    assert wrong_phone.get_json() == unknown_plate.get_json() == {"orders": []}
    assert NAME not in wrong_phone.get_data(as_text=True)
    # A listed order carries numbers, dates and stages only.
    assert not {"customer", "plate", "vehicle", "complaint"} & set(found.get_json()["orders"][0])
    refused = ask(client, shop, FIND, phone="12")
    assert refused.status_code == 422 and refused.get_json()["field"] == "phone"


def test_export_is_a_download_of_the_customers_data_recorded_and_kept_nowhere(
    client: Any, shop: Any, workshop: Workshop, core: Core
) -> None:
    hers = visit(workshop)
    visit(workshop, phone=OTHER_PHONE, name="黄先生")
    answer = ask(client, shop, EXPORT)
    assert answer.status_code == 200
    assert (
        answer.headers["Content-Disposition"]
        == 'attachment; filename="customer-data-2026-05-04.json"'
    )
    assert answer.headers["Cache-Control"] == "no-store"
    document = answer.get_json()
    (order,) = document["orders"]
    assert order["customer"] == {"name": NAME, "phone": PHONE}
    assert order["vehicle"]["vin"] == VIN and order["plate"] == CANONICAL
    assert order["complaint"] == f"{NAME}说空调不凉"
    assert order["handover"]["note"] == f"{NAME}下次换电瓶"
    assert [step["stage"] for step in order["timeline"]][-1] == "delivered"
    assert "黄先生" not in answer.get_data(as_text=True)
    (entry,) = logged(core)
    assert (entry["kind"], entry["order_ids"], entry["actor_name"]) == (
        "export",
        [hers["id"]],
        "陈顾问",
    )
    assert NAME not in repr(entry)
    # The document is not kept for a replay of its key.
    with core.db.read() as session:
        keys = session.execute(select(IdempotencyRecord.key)).scalars().all()
    assert f"k-{EXPORT}-desk" not in keys
    # A wrong phone exports nothing and records nothing.
    wrong = ask(client, shop, EXPORT, phone="13800000000")
    unknown = ask(client, shop, EXPORT, plate="粤B00000")
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.get_json()["detail"] == unknown.get_json()["detail"]
    assert NAME not in wrong.get_data(as_text=True)
    assert len(logged(core)) == 1


def test_erase_anonymises_the_delivered_orders_at_once_and_never_an_active_one(
    client: Any, shop: Any, workshop: Workshop, core: Core
) -> None:
    delivered = visit(workshop)
    link = token_of(delivered)
    assert client.get(f"/api/v1/track/{link}").status_code == 200
    active = visit(workshop, end="checked_in")
    erased = ask(client, shop, ERASE)
    assert erased.status_code == 200, erased.get_json()
    body = erased.get_json()
    assert [order["id"] for order in body["erased"]] == [delivered["id"]]
    assert [order["id"] for order in body["active"]] == [active["id"]]
    assert NAME not in erased.get_data(as_text=True)
    with core.db.read() as session:
        gone = session.get(RepairOrder, delivered["id"])
        kept = session.get(RepairOrder, active["id"])
        assert gone is not None and kept is not None
        assert gone.anonymised_at is not None and gone.plate == mask_plate(CANONICAL)
        assert (gone.customer_name, gone.customer_phone, gone.vehicle_vin) == ("", "", "")
        assert (kept.customer_name, kept.customer_phone, kept.anonymised_at) == (NAME, PHONE, None)
        events = session.execute(
            select(OrderEvent.data).where(OrderEvent.order_id == delivered["id"])
        ).scalars()
        answers = session.execute(select(IdempotencyRecord.body)).scalars().all()
    assert not re.search(f"{NAME}|{PHONE}|{VIN}|7PQ31", repr(list(events)))
    # The desk's own handover answer (kept 48 h for its key) is scrubbed too,
    # while the active order's creation answer keeps what it holds.
    scrubbed = [a for a in answers if a.get("id") == delivered["id"]]
    assert scrubbed and NAME not in repr(scrubbed) and PHONE not in repr(scrubbed)
    assert client.get(f"/api/v1/track/{link}").status_code == 404
    (entry,) = logged(core)
    assert (entry["kind"], entry["order_ids"], entry["details"]) == (
        "erase",
        [delivered["id"]],
        {"kept_active": [active["id"]]},
    )
    # Found again: only the car still in the shop. A retry of the same
    # request answers as the first time.
    assert [o["id"] for o in ask(client, shop, FIND).get_json()["orders"]] == [active["id"]]
    again = ask(client, shop, ERASE)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.get_json() == body
    # With only the active order left, the erase is refused and changes nothing.
    refused = ask(client, shop, ERASE, role="manager")
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "order_active"
    assert [order["id"] for order in refused.get_json()["active"]] == [active["id"]]
    with core.db.read() as session:
        still = session.get(RepairOrder, active["id"])
        assert still is not None and still.customer_name == NAME
    assert len(logged(core)) == 1


def test_only_reception_may_ask_and_another_shop_finds_nothing(
    client: Any, shop: Any, workshop: Workshop, core: Core
) -> None:
    visit(workshop)
    for role in ("technician", "foreman", "display-board", "display-lounge"):
        for path in (FIND, EXPORT, ERASE):
            answer = ask(client, shop, path, role=role)
            assert answer.status_code == 403, (role, path)
            assert NAME not in answer.get_data(as_text=True)
    assert client.post(FIND, json={"plate": PLATE, "phone": PHONE}).status_code == 401
    for role in ("manager", "admin"):
        assert ask(client, shop, FIND, role=role).get_json()["orders"], role
    other = seed_shop(core, slug="other")
    assert ask(client, other, FIND, role="advisor").get_json() == {"orders": []}
    assert ask(client, other, EXPORT, role="advisor").status_code == 404
    assert ask(client, other, ERASE, role="advisor").status_code == 404
    assert logged(core) == []


def test_the_desk_page_offers_it_and_a_signed_in_request_needs_the_csrf_token(
    client: Any, shop: Any, workshop: Workshop, advisor: int
) -> None:
    visit(workshop)
    sign_in_as(client, advisor)
    page = client.get("/desk?lang=en").get_data(as_text=True)
    for element in (
        "privacy-form",
        "privacy-plate",
        "privacy-phone",
        "privacy-export",
        "privacy-erase",
    ):
        assert f'id="{element}"' in page
    assert "Customer data request" in page and "privacy_confirm" in page
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert token
    fields = {"plate": PLATE, "phone": PHONE}
    assert client.post(FIND, json=fields).status_code == 403
    assert client.post(ERASE, json=fields).status_code == 403
    answer = client.post(FIND, json=fields, headers={"X-CSRFToken": token.group(1)})
    assert answer.status_code == 200 and len(answer.get_json()["orders"]) == 1


def test_an_erased_customer_gets_no_follow_up_call(
    client: Any, shop: Any, workshop: Workshop, core: Core, clock: HandClock
) -> None:
    """Three shop days after delivery a car is due for its call (回访); once
    its customer asked to be erased, there is nobody left to call."""
    kept = visit(workshop, phone="13900000000", name="李先生")
    erased = visit(workshop)
    clock.advance(days=4)
    due = {call["id"] for call in reception.follow_up_list(core, shop.shop_id)}
    assert {kept["id"], erased["id"]} <= due
    assert ask(client, shop, ERASE).status_code == 200
    due = {call["id"] for call in reception.follow_up_list(core, shop.shop_id)}
    assert kept["id"] in due and erased["id"] not in due


# ---------------------------------------------------------------- complaints

COMPLAINT_WORDS = f"{NAME}说空调还是不凉，要求退钱"
OUTCOME = f"重新加注冷媒，{NAME}说满意"


def complained(client: Any, shop: Any, order: Any) -> dict[str, Any]:
    """The follow-up call on the desk heard a complaint: it is open, the
    advisor's (she took the call)."""
    answer = client.post(
        f"/desk/api/orders/{order['id']}/follow-ups",
        json={"outcome": "complaint", "note": COMPLAINT_WORDS},
        headers=shop.headers("desk", key=f"call-{order['id']}"),
    )
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json()["complaint"])


def desk_post(client: Any, shop: Any, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body, headers=shop.headers("desk", key=f"k-{path}"))


def test_a_complaint_is_in_the_export_and_the_erase_empties_its_texts_and_keeps_its_trail(
    client: Any, shop: Any, workshop: Workshop, core: Core, clock: HandClock, advisor: int
) -> None:
    order = visit(workshop)
    clock.advance(days=3)
    opened = complained(client, shop, order)
    clock.advance(days=1)
    resolved = desk_post(
        client,
        shop,
        f"/desk/api/complaints/{opened['id']}/resolution",
        {"outcome": OUTCOME, "version": 1},
    )
    assert resolved.status_code == 200, resolved.get_json()

    exported = ask(client, shop, EXPORT).get_json()
    (entry,) = exported["orders"][0]["complaints"]
    assert entry == {
        "opened_at": "2026-05-07T02:00:00+00:00",
        "description": COMPLAINT_WORDS,
        "status": "resolved",
        "resolved_at": "2026-05-08T02:00:00+00:00",
        "outcome": OUTCOME,
    }
    # The call that heard it is there too, in the customer's words.
    calls = exported["orders"][0]["follow_up_calls"]
    assert [(c["outcome"], c["note"]) for c in calls] == [("complaint", COMPLAINT_WORDS)]

    trail = complaint_trail(core, opened["id"])
    assert ask(client, shop, ERASE).status_code == 200
    with core.db.read() as session:
        row = session.get(Complaint, opened["id"])
        assert row is not None and (row.description, row.outcome) == ("", "")
        logged_texts = [
            e.data
            for e in session.execute(
                select(ComplaintEvent).where(ComplaintEvent.complaint_id == row.id)
            ).scalars()
        ]
        answers = session.execute(select(IdempotencyRecord.body)).scalars().all()
    assert [d.get("description", d.get("outcome")) for d in logged_texts] == ["", ""]
    # Who opened and resolved it, when, its owner and status: all kept.
    assert complaint_trail(core, opened["id"]) == trail
    # (status, owner), then opened by and resolved by (tests/complaint_trail.py).
    assert trail[0][3:5] == ("resolved", advisor)
    assert (trail[1][0], trail[1][2]) == ("陈顾问", "陈顾问")
    # The stored first answers of the call and the resolution (kept 48 h
    # for their keys) say nothing of it any more; the order's own, four days
    # old, were forgotten before the erase looked.
    for text in (COMPLAINT_WORDS, OUTCOME, NAME, PHONE):
        assert text not in repr(answers), text


def test_an_open_complaint_erased_with_its_order_stays_on_the_desk_without_the_customer(
    client: Any, shop: Any, workshop: Workshop, core: Core, clock: HandClock
) -> None:
    """The customer's erasure wins over the complaint being handled: its
    words go now; it stays open on the desk, masked, to be resolved."""
    order = visit(workshop)
    clock.advance(days=3)
    opened = complained(client, shop, order)
    listed = client.get("/desk/api/complaints", headers=shop.headers("desk")).get_json()
    assert [c["description"] for c in listed["complaints"]] == [COMPLAINT_WORDS]
    assert ask(client, shop, ERASE).status_code == 200
    (still,) = client.get("/desk/api/complaints", headers=shop.headers("desk")).get_json()[
        "complaints"
    ]
    assert (still["id"], still["status"], still["version"]) == (opened["id"], "open", 1)
    assert still["description"] == "" and still["customer"] == {"name": "", "phone": ""}
    assert still["plate"] == mask_plate(CANONICAL)
    assert still["owner"] == opened["owner"] and still["opened_by"] == "陈顾问"
    # Nothing to export any more: plate and phone find nothing.
    assert ask(client, shop, EXPORT).status_code == 404
    done = desk_post(
        client,
        shop,
        f"/desk/api/complaints/{opened['id']}/resolution",
        {"outcome": "已处理", "version": 1},
    )
    assert done.status_code == 200 and done.get_json()["status"] == "resolved"
