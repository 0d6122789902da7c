"""Schema-driven fuzzing of the whole REST API from its own OpenAPI document.

Schemathesis reads the document (the one /api/v1/openapi.json serves; the
fixture checks they are the same) and generates requests for every operation:
valid ones from the schemas and invalid ones (wrong types, values out of range,
missing required fields, unknown fields). They go to the app in process,
through WSGI: no server and no sockets, so the run stays short on a small
machine. Every answer must be one the document promises: never a 5xx, only
documented status codes and content types, bodies that match their schemas,
and invalid input refused.

The shop behind it is real (SQLite, seeded with orders in several stages, a
pending quote and customer links) and path parameters are drawn from its real
ids and tokens most of the time, so the requests reach the rules instead of
stopping at not_found. The run is derandomised and bounded (a fixed number of
examples per operation), so it finds the same things every time.

The operations are dealt to this file and tests/test_fuzz_api_part2.py to
part4.py (tests/fuzz_support.py holds the run's configuration), so that the
workers share the fuzz; this file also holds what the fuzz leaves out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from schemathesis import Case

from shared.domain.text import text_problem
from shared.web.openapi import MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN, document
from shared.web.photos import BASE64_BYTES, ENVELOPE_BYTES
from tests.conftest import Shop
from tests.fuzz_support import (
    OPERATION_IDS,
    PARTS,
    Target,
    answer_as_documented,
    part,
    schema,
    serve_target,
    silent_examples,  # noqa: F401  (fixture)
)
from tests.test_openapi import operations, resolve, violations


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Iterator[Target]:
    yield from serve_target(tmp_path_factory, migrated_template)


@pytest.mark.usefixtures("silent_examples")
@part(1).parametrize()
def test_every_operation_answers_as_documented(case: Case, target: Target) -> None:
    answer_as_documented(case, target)


def test_every_operation_is_fuzzed() -> None:
    """The parts together fuzz every operation of the document, each once,
    and each part has its file."""
    for number in range(2, PARTS + 1):
        source = Path(__file__).with_name(f"test_fuzz_api_part{number}.py").read_text()
        assert f"@part({number}).parametrize()" in source, number
    dealt = [
        operation.definition.raw["operationId"]
        for number in range(1, PARTS + 1)
        for operation in (result.ok() for result in part(number).get_all_operations())
    ]
    assert sorted(dealt) == sorted(OPERATION_IDS)
    assert len(set(dealt)) == len(dealt) == len(list(schema.get_all_operations())) >= 70


# ------------------------------------------------------------ what the fuzz leaves out


def test_documented_text_patterns_are_the_stored_text_rule() -> None:
    """The document's patterns for text fields say exactly what
    shared.domain.text refuses, character by character (lone surrogates
    aside: they are no text, so no pattern names them)."""
    every = (chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    single, multi = re.compile(SINGLE_LINE_PATTERN), re.compile(MULTI_LINE_PATTERN)
    for char in every:
        assert (text_problem(char) is None) == bool(single.fullmatch(char)), hex(ord(char))
        assert (text_problem(char, multiline=True) is None) == bool(multi.fullmatch(char)), hex(
            ord(char)
        )


def test_an_oversized_body_is_refused_as_documented(client: Any, shop: Shop) -> None:
    """Past the limit (the photo upload's is the largest), every operation
    that takes a JSON body answers the documented 413."""
    doc = document()
    created = client.post("/api/v1/orders", json={"plate": "粤B12345"}, headers=shop.headers())
    order = created.get_json()
    token = order["customer_url"].rsplit("/", 1)[1]
    oversized = b'{"x": "' + b"a" * (BASE64_BYTES + ENVELOPE_BYTES) + b'"}'
    taking_bodies = [
        (path, method)
        for path, method, op in operations(doc)
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]
    assert len(taking_bodies) >= 10
    for path, method in taking_bodies:
        response = client.open(
            path.format(
                order_id=order["id"],
                quote_id=1,
                part_id=1,
                key="other:1",
                token=token,
                staff_id=1,
                code="B01",
                token_id=1,
                appointment_id=1,
                shop="test",
            ),
            method=method.upper(),
            data=oversized,
            content_type="application/json",
            headers=shop.headers("admin"),
        )
        assert response.status_code == 413, (path, response.get_data(as_text=True)[:300])
        _assert_documented(doc, path, method, response)


def _assert_documented(doc: dict[str, Any], path: str, method: str, response: Any) -> None:
    op = doc["paths"][path][method]
    status = str(response.status_code)
    assert status in op["responses"], f"{method.upper()} {path} → undocumented {status}"
    documented = resolve(doc, op["responses"][status])
    assert response.mimetype in documented["content"]
    schema = documented["content"][response.mimetype]["schema"]
    wrong = violations(response.get_json(), schema, doc)
    assert not wrong, wrong
    for name, header in documented.get("headers", {}).items():
        header = resolve(doc, header)
        if header.get("required"):
            assert name in response.headers, f"{name} missing on {status}"
        if name in response.headers and header["schema"].get("type") == "integer":
            assert response.headers[name].isdigit(), f"{name}: {response.headers[name]}"


def test_every_rate_limit_refusal_is_documented_with_retry_after(
    app: Any, client: Any, shop: Shop
) -> None:
    """The fuzz resets the limiter; here each limit is reached on purpose:
    a credential's REST budget, guessed customer links, and the pairing poll
    (slow_down). Each refusal is the documented 429 with Retry-After."""
    doc = document()
    admin = shop.headers("admin")
    # The limits count in fixed one-minute windows: a run that crosses into
    # the next minute starts a fresh count, so the loops go on (at most two
    # windows' worth) until the refusal comes.
    for _ in range(2 * 600 + 1):
        limited = client.get("/api/v1/bays", headers=admin)
        if limited.status_code == 429:
            break
    assert limited.status_code == 429
    _assert_documented(doc, "/api/v1/bays", "get", limited)

    for attempt in range(2 * 30 + 1):
        guessed = client.get(f"/api/v1/track/{attempt:043d}")
        if guessed.status_code == 429:
            break
    assert guessed.status_code == 429
    _assert_documented(doc, "/api/v1/track/{token}", "get", guessed)

    started = client.post("/api/v1/devices/pairing", json={"kind": "board"}).get_json()
    poll = {"device_code": started["device_code"]}
    assert client.post("/api/v1/devices/pairing/poll", json=poll).status_code == 200
    slow = client.post("/api/v1/devices/pairing/poll", json=poll)
    assert slow.status_code == 429 and slow.get_json()["code"] == "slow_down"
    _assert_documented(doc, "/api/v1/devices/pairing/poll", "post", slow)
