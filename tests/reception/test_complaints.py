"""Complaints (issue 15, reception desk): a follow-up call that ends in a
complaint opens one, owned by a member of staff; it stays open (listed on
the desk) until resolved with its outcome. Real services on a real SQLite
database: each change writes its row and one ``complaint_event`` in the
command's transaction and tells the staff screens after commit; a stale
version is refused with 409 and the complaint as it is; a replayed
Idempotency-Key answers the first answer and writes nothing more.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from shared.domain import errors
from shared.persistence.reception_models import Complaint, ComplaintEvent, FollowUpCall
from shared.services import complaints, reception, setup
from shared.services.auth import create_api_token, resolve_bearer
from shared.services.commands import CommandRequest, fingerprint
from shared.services.core import Core
from tests.conftest import HandClock

from .flow import Workshop, flask_call
from .test_reception import START

Emitted = list[tuple[str, Any, str]]


class Recorder:
    """Stands in for Flask-SocketIO's emitter: what the publisher sent, after commit."""

    def __init__(self) -> None:
        self.sent: Emitted = []

    def emit(self, event: str, data: Any, *, to: str, namespace: str = "/") -> None:
        self.sent.append((event, data, to))


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(START)
    core.clock = fixed
    return fixed


@pytest.fixture
def people(core: Core, shop: Any) -> dict[str, int]:
    """An advisor with her own token (she takes the calls), a manager, and
    a technician (who may not own a complaint)."""
    chen = setup.create_user(core, shop.shop_id, role="advisor", name="陈顾问", password="x" * 10)
    liu = setup.create_user(core, shop.shop_id, role="manager", name="刘经理", password="y" * 10)
    shop.tokens["chen"] = create_api_token(
        core, shop_id=shop.shop_id, role="advisor", name="陈顾问", user_id=chen
    )
    return {"chen": chen, "liu": liu, "wang": shop.technicians[0]}


@pytest.fixture
def emitted(core: Core) -> Emitted:
    recorder = Recorder()
    core.publisher.emitter = recorder
    return recorder.sent


def as_(shop: Any, who: str, key: str | None = None, body: Any = None) -> CommandRequest:
    principal = resolve_bearer(shop.core, shop.tokens[who])
    assert principal is not None
    return CommandRequest(
        actor=principal.actor(),
        shop_id=shop.shop_id,
        idempotency_key=key,
        fingerprint=fingerprint("POST", "/test", body) if key else None,
    )


def delivered(client: Any, shop: Any) -> dict[str, Any]:
    workshop = Workshop(flask_call(client), shop)
    return workshop.hand_over(workshop.finish(workshop.start(workshop.create())))


def events(core: Core, complaint_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    with core.db.read() as session:
        rows = session.execute(
            select(ComplaintEvent)
            .where(ComplaintEvent.complaint_id == complaint_id)
            .order_by(ComplaintEvent.id)
        ).scalars()
        return [(e.type, e.actor_name, dict(e.data)) for e in rows]


def count(core: Core, table: Any) -> int:
    with core.db.read() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_complaint_is_opened_owned_handed_on_and_resolved(
    client: Any, core: Core, shop: Any, clock: HandClock, people: dict[str, int], emitted: Emitted
) -> None:
    order = delivered(client, shop)
    emitted.clear()
    call = reception.record_follow_up(
        core,
        as_(shop, "chen"),
        order["id"],
        outcome="complaint",
        note="  洗车没洗干净，内饰有油印  ",
    )
    assert call.status == 201
    opened = call.body["complaint"]
    # The call's note is the customer's words; whoever took the call owns it.
    assert opened["description"] == "洗车没洗干净，内饰有油印"
    assert opened["owner"] == {"id": people["chen"], "name": "陈顾问"}
    assert (opened["status"], opened["version"], opened["opened_by"]) == ("open", 1, "陈顾问")
    assert (opened["number"], opened["plate"]) == (order["number"], order["plate"])
    # The screens hear of it after commit, by a hint without the words.
    hints = [(data, to) for event, data, to in emitted if event == "complaint"]
    assert hints == [
        ({"id": opened["id"], "status": "open", "version": 1}, f"staff:{shop.shop_id}")
    ]
    # It is on the desk's list, and the call is off the call list.
    assert [c["id"] for c in complaints.open_complaints(core, shop.shop_id)] == [opened["id"]]
    assert order["id"] not in {c["id"] for c in reception.follow_up_list(core, shop.shop_id)}

    clock.advance(hours=1)
    handed = complaints.change_owner(
        core, as_(shop, "advisor"), opened["id"], owner_id=people["liu"], version=1
    )
    assert handed.status == 200
    assert handed.body["owner"] == {"id": people["liu"], "name": "刘经理"}
    assert handed.body["version"] == 2
    # Naming the owner it has changes nothing: no event, same version.
    again = complaints.change_owner(
        core, as_(shop, "advisor"), opened["id"], owner_id=people["liu"], version=2
    )
    assert again.body["version"] == 2

    clock.advance(days=1)
    resolved = complaints.resolve(
        core, as_(shop, "manager"), opened["id"], outcome="重新精洗并上门道歉，客户满意", version=2
    )
    assert resolved.status == 200
    assert resolved.body["status"] == "resolved"
    assert resolved.body["outcome"] == "重新精洗并上门道歉，客户满意"
    assert resolved.body["resolved_at"] == clock.now.isoformat()
    assert resolved.body["resolved_by"] == "test manager"
    assert resolved.body["version"] == 3
    # Off the desk's list; its record stays, each change in its log.
    assert complaints.open_complaints(core, shop.shop_id) == []
    assert events(core, opened["id"]) == [
        (
            "complaint_opened",
            "陈顾问",
            {
                "order_id": order["id"],
                "description": "洗车没洗干净，内饰有油印",
                "owner_id": people["chen"],
            },
        ),
        (
            "complaint_owner_changed",
            "test advisor",
            {"old_owner_id": people["chen"], "owner_id": people["liu"]},
        ),
        (
            "complaint_resolved",
            "test manager",
            {"outcome": "重新精洗并上门道歉，客户满意", "by": "test manager"},
        ),
    ]
    assert [h["type"] for h in complaints.history(core, shop.shop_id, opened["id"])] == [
        "complaint_opened",
        "complaint_owner_changed",
        "complaint_resolved",
    ]
    # A resolved complaint is closed: no new owner, no second resolution.
    for change in (
        lambda: complaints.change_owner(
            core, as_(shop, "advisor"), opened["id"], owner_id=people["chen"], version=3
        ),
        lambda: complaints.resolve(
            core, as_(shop, "advisor"), opened["id"], outcome="再次处理", version=3
        ),
    ):
        with pytest.raises(errors.IllegalTransition) as closed:
            change()
        assert closed.value.status == 409
        assert closed.value.extra["complaint"]["status"] == "resolved"
    assert len(events(core, opened["id"])) == 3


def test_a_stale_version_is_refused_with_the_complaint_as_it_is(
    client: Any, core: Core, shop: Any, clock: HandClock, people: dict[str, int], emitted: Emitted
) -> None:
    order = delivered(client, shop)
    opened = reception.record_follow_up(
        core, as_(shop, "chen"), order["id"], outcome="complaint", note="等了两个小时"
    ).body["complaint"]
    complaints.change_owner(
        core, as_(shop, "advisor"), opened["id"], owner_id=people["liu"], version=1
    )
    emitted.clear()
    # A second desk still shows version 1: its resolution is refused, nothing written.
    with pytest.raises(errors.StaleVersion) as stale:
        complaints.resolve(core, as_(shop, "chen"), opened["id"], outcome="已道歉", version=1)
    assert stale.value.status == 409 and stale.value.code == "stale_version"
    assert stale.value.extra["complaint"]["version"] == 2
    assert stale.value.extra["complaint"]["owner"]["name"] == "刘经理"
    assert stale.value.extra["complaint"]["status"] == "open"
    assert len(events(core, opened["id"])) == 2
    assert emitted == []


def test_the_same_over_http_409_and_a_replayed_key(
    client: Any, core: Core, shop: Any, clock: HandClock, people: dict[str, int]
) -> None:
    """The desk's own JSON: 409 ``stale_version`` with the complaint, and an
    Idempotency-Key replayed (a retried click) answering the first answer
    without a second event."""
    order = delivered(client, shop)
    headers = shop.headers("chen", key="call-1")
    call = client.post(
        f"/desk/api/orders/{order['id']}/follow-ups",
        json={"outcome": "complaint", "note": "洗车没洗干净", "owner_id": people["liu"]},
        headers=headers,
    )
    assert call.status_code == 201, call.get_json()
    opened = call.get_json()["complaint"]
    assert opened["owner"]["id"] == people["liu"]
    # The call retried with its key: the same complaint, not a second one.
    replay = client.post(
        f"/desk/api/orders/{order['id']}/follow-ups",
        json={"outcome": "complaint", "note": "洗车没洗干净", "owner_id": people["liu"]},
        headers=headers,
    )
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == call.get_json()
    assert count(core, Complaint) == 1 and count(core, FollowUpCall) == 1

    listed = client.get("/desk/api/complaints", headers=shop.headers("advisor")).get_json()
    assert [c["id"] for c in listed["complaints"]] == [opened["id"]]
    # Who may own one: office staff and the foreman, never a technician.
    assert {o["name"] for o in listed["owners"]} == {"陈顾问", "刘经理"}

    path = f"/desk/api/complaints/{opened['id']}/resolution"
    body = {"outcome": "重新精洗，客户满意", "version": 1}
    first = client.post(path, json=body, headers=shop.headers("advisor", key="resolve-1"))
    assert first.status_code == 200 and first.get_json()["status"] == "resolved"
    replayed = client.post(path, json=body, headers=shop.headers("advisor", key="resolve-1"))
    assert replayed.status_code == 200 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json() == first.get_json()
    assert [e[0] for e in events(core, opened["id"])] == ["complaint_opened", "complaint_resolved"]
    # The key with another body is refused; a new key on the old version is stale.
    reused = client.post(
        path, json={**body, "outcome": "别的"}, headers=shop.headers("advisor", key="resolve-1")
    )
    assert reused.status_code == 422 and reused.get_json()["code"] == "idempotency_key_reuse"
    stale = client.post(path, json=body, headers=shop.headers("advisor", key="resolve-2"))
    assert stale.status_code == 409 and stale.get_json()["code"] == "stale_version"
    assert stale.get_json()["complaint"]["version"] == 2


def test_what_a_complaint_needs(
    client: Any, core: Core, shop: Any, clock: HandClock, people: dict[str, int]
) -> None:
    """The customer's words, an owner who is active office staff of this
    shop, an outcome to resolve; nothing is written by a refusal."""
    order = delivered(client, shop)
    follow_ups = f"/desk/api/orders/{order['id']}/follow-ups"
    empty = client.post(
        follow_ups, json={"outcome": "complaint", "note": "  "}, headers=shop.headers("chen")
    )
    assert empty.status_code == 422 and empty.get_json()["field"] == "note"
    for owner in (people["wang"], 999_999):
        refused = client.post(
            follow_ups,
            json={"outcome": "complaint", "note": "太慢", "owner_id": owner},
            headers=shop.headers("chen"),
        )
        assert refused.status_code == 422 and refused.get_json()["field"] == "owner_id"
    assert count(core, Complaint) == 0 and count(core, FollowUpCall) == 0

    opened = reception.record_follow_up(
        core, as_(shop, "advisor"), order["id"], outcome="complaint", note="太慢"
    ).body["complaint"]
    # A token without a person behind it took the call: nobody owns it yet.
    assert opened["owner"] is None
    path = f"/desk/api/complaints/{opened['id']}"
    blank = client.post(
        f"{path}/resolution", json={"outcome": " ", "version": 1}, headers=shop.headers("advisor")
    )
    assert blank.status_code == 422 and blank.get_json()["field"] == "outcome"
    foreign = client.post(
        f"{path}/owner", json={"owner_id": 999_999, "version": 1}, headers=shop.headers("advisor")
    )
    assert foreign.status_code == 422
    # The floor's roles do not work the desk's complaints.
    floor = client.post(
        f"{path}/owner",
        json={"owner_id": people["chen"], "version": 1},
        headers=shop.headers("foreman"),
    )
    assert floor.status_code == 403
    # Another shop's complaint is not found.
    other = setup.ensure_shop(core, slug="other", name="别的店")
    other_token = create_api_token(core, shop_id=other, role="advisor", name="别店顾问")
    missing = client.post(
        f"{path}/owner",
        json={"owner_id": people["chen"], "version": 1},
        headers={"Authorization": f"Bearer {other_token}"},
    )
    assert missing.status_code == 404
    assert events(core, opened["id"]) == [
        (
            "complaint_opened",
            "test advisor",
            {"order_id": order["id"], "description": "太慢", "owner_id": None},
        )
    ]
