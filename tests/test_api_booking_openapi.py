"""The booking API's part of the OpenAPI document (api_booking.openapi_paths
and openapi_schemas, which shared/web/openapi.py merges): every route of
the blueprint is described and every description is a route; real answers
(success and refusals) have exactly the documented properties."""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.web import api_booking
from shared.web.openapi import document
from tests.booking_support import NOW, TUESDAY, at, page_token
from tests.conftest import HandClock, Shop
from tests.test_openapi import violations

FLASK_PARAMETER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
IGNORED = {"HEAD", "OPTIONS"}


@pytest.fixture
def web(app: Any, shop: Shop, core: Any) -> Any:
    core.clock = HandClock(NOW)
    return app.test_client()


def full_document() -> dict[str, Any]:
    """The document with this module's part in it (as once merged)."""
    doc = document()
    doc["components"]["schemas"] = {
        **doc["components"]["schemas"],
        **api_booking.openapi_schemas(),
    }
    return doc


def answer_schema(path: str, method: str, status: int) -> dict[str, Any]:
    operation = api_booking.openapi_paths()[path][method]
    response = operation["responses"][str(status)]
    if "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[1]
        response = document()["components"]["responses"][name]
    content = response["content"]
    return dict(next(iter(content.values()))["schema"])


def test_every_booking_route_is_described_and_nothing_else(app: Any) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api_booking."):
            path = FLASK_PARAMETER.sub(r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in set(rule.methods or ()) - IGNORED}
    paths = api_booking.openapi_paths()
    described = {(path, method) for path, methods in paths.items() for method in methods}
    assert routes == described
    # The app's document carries the booking paths and schemas as they are.
    doc = document()
    assert {p: doc["paths"][p] for p in paths} == paths
    own = api_booking.openapi_schemas()
    assert set(own) <= set(doc["components"]["schemas"])
    text = repr(paths) + repr(own)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in doc["components"]["schemas"], name


def test_real_answers_have_exactly_the_documented_properties(web: Any) -> None:
    doc = full_document()
    book = "/api/v1/book/{shop}"
    link = "/api/v1/appointment-link/{token}"

    def check(value: Any, path: str, method: str, status: int) -> None:
        assert violations(value, answer_schema(path, method, status), doc) == []

    slots = web.get(f"/api/v1/book/test/slots?date={TUESDAY}&work=service")
    check(slots.get_json(), f"{book}/slots", "get", 200)
    token = page_token(web)
    body = {
        "work": ["service"],
        "start": at(9).isoformat(),
        "plate": "沪A12345",
        "name": "张先生",
        "phone": "13800138000",
        "email": None,
        "notify": ["sms"],
        "language": "en",
        "code": None,
    }
    booked = web.post("/api/v1/book/test/appointments", json=body, headers={"X-CSRFToken": token})
    assert booked.status_code == 201, booked.get_json()
    check(booked.get_json(), f"{book}/appointments", "post", 201)
    full = web.post(
        "/api/v1/book/test/appointments",
        json={**body, "phone": "13900139000"},
        headers={"X-CSRFToken": token},
    )
    check(full.get_json(), f"{book}/appointments", "post", 409)
    code = web.post(
        "/api/v1/book/test/code", json={"phone": "13800138000"}, headers={"X-CSRFToken": token}
    )
    check(code.get_json(), f"{book}/code", "post", 202)

    mine = booked.get_json()["manage_url"].rsplit("/", 1)[1]
    check(web.get(f"/api/v1/appointment-link/{mine}").get_json(), link, "get", 200)
    moves = web.get(f"/api/v1/appointment-link/{mine}/slots?date={TUESDAY}")
    check(moves.get_json(), f"{link}/slots", "get", 200)
    for what, payload in (
        ("confirm", {}),
        ("reminders/stop", {}),
        ("reschedule", {"start": at(14).isoformat()}),
        ("cancel", {"reason": "出差"}),
    ):
        done = web.post(
            f"/api/v1/appointment-link/{mine}/{what}", json=payload, headers={"X-CSRFToken": token}
        )
        assert done.status_code == 200, (what, done.get_json())
        check(done.get_json(), f"{link}/{what}", "post", 200)
    refused = web.post(
        f"/api/v1/appointment-link/{mine}/cancel", json={}, headers={"X-CSRFToken": token}
    )
    check(refused.get_json(), f"{link}/cancel", "post", 409)
    missing = web.get("/api/v1/appointment-link/" + "x" * 43)
    check(missing.get_json(), link, "get", 404)
