"""Every refusal of the REST API is a clear problem+json error with a stable
``code`` (and ``field`` for bad input), and a refused request changes
nothing: the order and the shop's ``last_seq`` are the same before and after.
Then one order goes through the whole flow over REST.

All against a real ``baylight serve``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from .sockets import Api

pytestmark = [pytest.mark.slow, pytest.mark.server_per_module]

PROBLEM = "application/problem+json"
LATER = "2030-06-01T18:00:00+08:00"


@pytest.fixture
def api(live: Any) -> Iterator[Api]:
    server, shop = live
    client = Api(server.url, shop.tokens)
    yield client
    client.close()


def assert_problem(
    response: requests.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    """RFC 9457 shape with the contract's stable code (and field)."""
    sent = response.request
    assert response.status_code == status, (sent.method, sent.url, response.text)
    assert response.headers["Content-Type"].startswith(PROBLEM), response.headers
    body = dict(response.json())
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    return body


# What the shop-load engine may change at any moment (it re-plans every
# minute and after each change, recording eta_revised): not a refusal's doing.
ENGINE_FIELDS = frozenset({"version", "eta", "risk", "risk_cause", "late", "at_risk", "updated_at"})


def shop_state(api: Api) -> list[dict[str, Any]]:
    """Every order, but for what the engine alone changes: what a refusal
    must not touch. (Their histories are the log, which ``unchanged``
    checks for new events.)"""
    orders = []
    for active in ("true", "false"):
        listed = api.call("GET", f"/orders?active={active}", expect=200).json()["orders"]
        orders += [{k: v for k, v in o.items() if k not in ENGINE_FIELDS} for o in listed]
    return sorted(orders, key=lambda order: order["id"])


@contextmanager
def unchanged(api: Api) -> Iterator[None]:
    seq = api.last_seq()
    before = shop_state(api)
    yield
    assert shop_state(api) == before
    # Nothing recorded since but the engine's own estimates.
    since = api.call("GET", f"/events?after={seq}&limit=1000", expect=200).json()["events"]
    assert {e["type"] for e in since} <= {"eta_revised"}, since


def by_people(api: Api, after: int) -> list[dict[str, Any]]:
    """The events after ``after`` that commands recorded, without the
    shop-load engine's own estimates (eta_revised)."""
    log = api.call("GET", f"/events?after={after}&limit=1000", expect=200).json()["events"]
    return [e for e in log if e["type"] != "eta_revised"]


def without_history(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if k != "history"}


def in_progress(api: Api, shop: Any, technician: int = 0) -> dict[str, Any]:
    """An order dispatched to one technician, who has started it."""
    role = "technician" if technician == 0 else "technician2"
    order = api.create(plate=f"粤B2000{technician}", customer={"name": "张三"})
    order = api.assign(order, "B01", [shop.technicians[technician]])
    return api.move(order, "in_progress", role=role)


# ---------------------------------------------------------------- refusals


def assert_conflicts_carry_the_current_order(api: Api, order: dict[str, Any]) -> None:
    """A 409 carries what a screen needs to redraw: the order as it is now
    (and, for an illegal move, the stages that are allowed)."""
    path = f"/orders/{order['id']}/transitions"

    api.quiet()
    order = api.order(order["id"])
    with unchanged(api):
        illegal = {"to": "delivered", "version": order["version"]}
        body = assert_problem(
            api.call("POST", path, role="advisor", body=illegal), 409, "illegal_transition"
        )
    assert sorted(body["allowed"]) == ["cancelled", "paused", "quality_check"]
    assert body["order"] == without_history(api.order(order["id"]))

    with unchanged(api):
        # Version 1 was before the dispatch and the start: a person changed it since.
        stale = {"to": "quality_check", "version": 1}
        body = assert_problem(
            api.call("POST", path, role="technician", body=stale), 409, "stale_version"
        )
    assert body["order"] == without_history(api.order(order["id"]))
    assert body["order"]["version"] == order["version"]


def test_refusals_are_problems_that_change_nothing(live: Any, api: Api, subtests: Any) -> None:
    """Every wrong request names what is wrong (``code``, ``field``) and
    leaves the order and the event log exactly as they were."""
    server, shop = live
    order = in_progress(api, shop)
    with subtests.test("conflicts"):
        assert_conflicts_carry_the_current_order(api, order)
    order_path = f"/orders/{order['id']}"
    version = order["version"]
    cases: list[tuple[str, str, str, Any, str]] = [
        ("version as text", "POST", "/transitions", {"to": "paused", "version": "3"}, "version"),
        ("version missing", "POST", "/transitions", {"to": "paused"}, "version"),
        ("unknown stage", "POST", "/transitions", {"to": "flying", "version": version}, "to"),
        ("plate a number", "POST", "", {"plate": 123}, "plate"),
        ("plate missing", "POST", "", {"customer": {"name": "x"}}, "plate"),
        ("items not a list", "POST", "", {"plate": "粤B1", "items": "oil"}, "items"),
        ("customer not an object", "POST", "", {"plate": "粤B1", "customer": "x"}, "customer"),
        (
            "mileage as text",
            "POST",
            "",
            {"plate": "粤B40001", "vehicle": {"mileage": "9"}},
            "vehicle.mileage",
        ),
        (
            "promised_at without offset",
            "POST",
            "",
            {"plate": "粤B40001", "promised_at": "2030-06-01T18:00:00"},
            "promised_at",
        ),
        (
            "negative item labour hours",
            "POST",
            "",
            {"plate": "粤B40001", "items": [{"title": "机油", "labour_hours": -1}]},
            "items[0].labour_hours",
        ),
        (
            "technicians not ids",
            "PUT",
            "/assignment",
            {"bay": "B01", "technicians": ["x"], "version": version},
            "technicians",
        ),
        (
            "negative extra-work hours",
            "POST",
            "/extra-work",
            {"description": "刹车盘", "labour_hours": -2, "price_cents": 100, "version": version},
            "labour_hours",
        ),
        (
            "technician id beyond 64 bits",
            "PUT",
            "/assignment",
            {"bay": "B01", "technicians": [2**64], "version": version},
            "technicians",
        ),
        (
            "approved as text",
            "POST",
            "/extra-work/1/decision",
            {"approved": "yes", "quote_version": 1},
            "approved",
        ),
    ]
    for name, method, suffix, body, field in cases:
        with subtests.test(name), unchanged(api):
            path = "/orders" if suffix == "" else order_path + suffix
            assert_problem(api.call(method, path, body=body), 422, "validation_error", field)

    raw_cases: list[tuple[str, bytes, str]] = [
        ("malformed JSON", b'{"to": "paused",', "application/json"),
        ("JSON array", b'["paused"]', "application/json"),
        ("deeply nested JSON", b"[" * 5000 + b"]" * 5000, "application/json"),
        ("wrong content type", b'{"to": "paused", "version": 4}', "text/plain"),
        ("form encoded", b"to=paused&version=4", "application/x-www-form-urlencoded"),
    ]
    for name, data, content_type in raw_cases:
        with subtests.test(name), unchanged(api):
            response = post_raw(server.url, shop, order_path + "/transitions", data, content_type)
            assert_problem(response, 422, "validation_error", "body")

    with subtests.test("oversized body"), unchanged(api):
        huge = json.dumps({"plate": "粤B40002", "complaint": "x" * (65 * 1024)}).encode()
        response = post_raw(server.url, shop, "/orders", huge, "application/json")
        assert_problem(response, 413, "payload_too_large")

    for unknown in (999_999, 2**64):
        with subtests.test("unknown order", order_id=unknown), unchanged(api):
            assert_problem(api.call("GET", f"/orders/{unknown}"), 404, "not_found")
            move = {"to": "paused", "version": 1}
            path = f"/orders/{unknown}/transitions"
            response = api.call("POST", path, role="technician", body=move)
            assert_problem(response, 404, "not_found")

    with subtests.test("unknown stage filter"):
        assert_problem(api.call("GET", "/orders?stage=bogus"), 422, "validation_error", "stage")


def post_raw(url: str, shop: Any, path: str, data: bytes, content_type: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {shop.tokens['admin']}", "Content-Type": content_type}
    return requests.post(f"{url}/api/v1{path}", data=data, headers=headers, timeout=10)


# ---------------------------------------------------------------- idempotency


def test_idempotency_key_replays_and_refuses_reuse(live: Any, api: Api) -> None:
    """A retried request (flaky kiosk Wi-Fi) replays the first answer and
    writes nothing; the same key for another request is refused."""
    _server, shop = live
    order = api.assign(api.create(plate="粤B30001"), "B01", [shop.technicians[0]])
    path = f"/orders/{order['id']}/transitions"
    start = {"to": "in_progress", "version": order["version"]}
    seq = api.quiet()  # the engine's estimates of the new car are in

    first = api.call("POST", path, role="technician", body=start, key="start-1")
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    [started] = by_people(api, seq)
    assert started["seq"] == seq + 1
    with unchanged(api):
        again = api.call("POST", path, role="technician", body=start, key="start-1")
    assert again.status_code == first.status_code
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    history = api.order(order["id"])["history"]
    assert [e["seq"] for e in history if e["type"] != "eta_revised"][-1] == seq + 1

    with unchanged(api):
        other = {**start, "reason": "another body"}
        reused = api.call("POST", path, role="technician", body=other, key="start-1")
        assert_problem(reused, 422, "idempotency_key_reuse")

    pause = {"to": "paused", "pause_reason": "parts", "version": first.json()["version"]}
    with unchanged(api):
        too_long = api.call("POST", path, role="technician", body=pause, key="k" * 256)
        assert_problem(too_long, 422, "validation_error", "Idempotency-Key")
    longest = api.call("POST", path, role="technician", body=pause, key="k" * 255)
    assert longest.status_code == 200, longest.text
    assert_create_replay_makes_one_order(api)


def assert_create_replay_makes_one_order(api: Api) -> None:
    """A retried create (the advisor's double click) is one order, one event."""
    body = {"plate": "粤B30002", "customer": {"name": "李四"}}
    first = api.call("POST", "/orders", role="advisor", body=body, key="create-1", expect=201)
    seq = api.quiet()
    with unchanged(api):
        again = api.call("POST", "/orders", role="advisor", body=body, key="create-1", expect=201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    listed = api.call("GET", "/orders", expect=200).json()["orders"]
    assert [o["id"] for o in listed if o["plate"] == body["plate"]] == [first.json()["id"]]
    assert by_people(api, seq) == []


# ---------------------------------------------------------------- who may


def test_credentials_and_roles(live: Any, api: Api, subtests: Any) -> None:
    """No or a bad credential is 401; a known caller doing what its role may
    not is 403; both change nothing."""
    server, shop = live
    theirs = in_progress(api, shop, technician=1)
    theirs = api.move(theirs, "paused", role="technician2", pause_reason="parts")
    orders = f"{server.url}/api/v1/orders"
    for name, header in [
        ("no header", None),
        ("unknown token", "Bearer bl_not-a-token"),
        ("empty bearer", "Bearer "),
        ("basic scheme", "Basic YWRtaW46YWRtaW4="),
    ]:
        with subtests.test(name), unchanged(api):
            headers = {"Authorization": header} if header else {}
            assert_problem(requests.get(orders, headers=headers, timeout=10), 401, "unauthorized")
            create = requests.post(orders, json={"plate": "粤B50001"}, headers=headers, timeout=10)
            assert_problem(create, 401, "unauthorized")

    with subtests.test("lounge reads orders"), unchanged(api):
        assert_problem(api.call("GET", "/orders", role="display-lounge"), 403, "forbidden")
        path = f"/orders/{theirs['id']}"
        assert_problem(api.call("GET", path, role="display-lounge"), 403, "forbidden")

    with subtests.test("board writes"), unchanged(api):
        response = api.call("POST", "/orders", role="display-board", body={"plate": "粤B50001"})
        assert_problem(response, 403, "forbidden")

    with subtests.test("technician resumes someone else's job"), unchanged(api):
        resume = {"to": "in_progress", "version": theirs["version"]}
        path = f"/orders/{theirs['id']}/transitions"
        assert_problem(api.call("POST", path, role="technician", body=resume), 403, "forbidden")

    with subtests.test("technician starts someone else's job"):
        assert_only_assignee_starts(api, shop)


def assert_only_assignee_starts(api: Api, shop: Any) -> None:
    """王师傅 may not start a job dispatched to 李师傅; 李师傅 then may."""
    order = api.assign(api.create(plate="粤B50002"), "B02", [shop.technicians[1]])
    start = {"to": "in_progress", "version": order["version"]}
    with unchanged(api):
        path = f"/orders/{order['id']}/transitions"
        response = api.call("POST", path, role="technician", body=start)
        assert_problem(response, 403, "forbidden")
    assert api.move(order, "in_progress", role="technician2")["stage"] == "in_progress"


# ---------------------------------------------------------------- happy path


def test_whole_flow_over_rest(live: Any, api: Api) -> None:
    """One car from reception to hand-over, each step by the role that does
    it on the floor, and the record it leaves."""
    _server, shop = live
    technician, lead = shop.technicians
    order = api.create(
        plate="粤B60001",
        customer={"name": "王五", "phone": "13700001111"},
        vehicle={"model": "Corolla", "vin": "lsvab4br5kn654321", "mileage": 30000},
        complaint="保养",
        items=[{"title": "机油机滤", "labour_hours": 0.5}],
        promised_at=LATER,
        waiting=True,
        wash=True,
    )
    assert (order["stage"], order["version"]) == ("checked_in", 1)
    assert order["vehicle"]["vin"] == "LSVAB4BR5KN654321"
    order = api.assign(order, "B01", [technician, lead])
    assert (order["stage"], order["bay"]) == ("dispatched", "B01")
    order = api.move(order, "in_progress", role="technician")

    quote_body = {
        "description": "刹车片磨损",
        "labour_hours": 1.0,
        "price_cents": 38000,
        "version": order["version"],
    }
    quoted = api.call(
        "POST", f"/orders/{order['id']}/extra-work", role="technician", body=quote_body, expect=201
    ).json()
    order = quoted["order"]
    assert (order["stage"], order["pause_reason"]) == ("paused", "approval")
    assert quoted["status"] == "pending"
    decision = {"approved": True, "quote_version": quoted["version"], "channel": "phone"}
    order = api.call(
        "POST",
        f"/orders/{order['id']}/extra-work/{quoted['id']}/decision",
        role="advisor",
        body=decision,
        expect=200,
    ).json()
    # The decision clears its reason; the technician resumes the work.
    assert (order["stage"], order["pause_reasons"]) == ("paused", [])
    assert order["quotes"][0]["status"] == "approved"
    assert order["labour_hours"] == 1.5
    order = api.move(order, "in_progress", role="technician")

    order = api.move(order, "quality_check", role="technician")
    # Three levels, three signers: one person signs one level (same_person_checks).
    for role in ("technician2", "foreman", "manager"):
        path = f"/orders/{order['id']}/checks"
        order = api.call(
            "POST", path, role=role, body={"version": order["version"]}, expect=200
        ).json()
    assert order["stage"] == "washing"
    order = api.move(order, "ready", role="technician")
    order = api.move(order, "delivered", role="advisor")
    assert order["stage"] == "delivered"

    assert_history(api, order)
    closed = api.call("GET", "/orders?active=false", expect=200).json()["orders"]
    assert [o["id"] for o in closed] == [order["id"]]
    active = api.call("GET", "/orders?active=true", expect=200).json()["orders"]
    assert active == []
    delivered = api.call("GET", "/orders?stage=delivered", expect=200).json()["orders"]
    assert [o["id"] for o in delivered] == [order["id"]]
    assert_problem(api.call("GET", "/orders?stage=bogus"), 422, "validation_error", "stage")


def assert_history(api: Api, order: dict[str, Any]) -> None:
    """The order's history is its events in seq order, the same ones the
    shop's event feed lists, one per version."""
    history = api.order(order["id"])["history"]
    stages = [e["data"]["to_stage"] for e in history if e["type"] == "stage_changed"]
    # The shop-load engine may record a revised estimate between any two of
    # the commands (eta_revised, by the plan clock, when the estimate moves
    # five minutes: on a loaded machine the steps take that long).
    assert {e["actor"] for e in history if e["type"] == "eta_revised"} <= {"plan clock"}
    assert [e["type"] for e in history if e["type"] != "eta_revised"] == [
        "order_created",
        "assigned",
        "stage_changed",
        "stage_changed",
        "extra_work_quoted",
        "stage_changed",
        "pause_reason_added",
        "extra_work_decided",
        "pause_reason_cleared",
        "stage_changed",
        "stage_changed",
        "check_passed",
        "check_passed",
        "check_passed",
        "stage_changed",
        "stage_changed",
        "stage_changed",
    ]
    assert stages == [
        "dispatched",
        "in_progress",
        "paused",
        "in_progress",
        "quality_check",
        "washing",
        "ready",
        "delivered",
    ]
    seqs = [e["seq"] for e in history]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert len(history) == order["version"]
    feed = api.call("GET", "/events?after=0&limit=1000", expect=200).json()
    assert [e for e in feed["events"] if e["order_id"] == order["id"]] == history
    assert feed["last_seq"] == seqs[-1]
