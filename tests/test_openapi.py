"""The OpenAPI document against the application it describes.

openapi-spec-validator is not a dependency, so structure is checked here
directly; response bodies are checked against the documented schemas with a
small validator that is *strict* about undocumented properties, so a field
added to a view without being documented fails here.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from shared.domain import errors
from shared.domain.events import EVENT_TYPES
from shared.domain.stages import PauseReason, Stage
from shared.persistence.models import RepairOrder
from shared.services.commands import IDEMPOTENCY_KEY_MAX
from shared.services.views import customer_view, lounge_view
from shared.web.openapi import document
from tests.conftest import Shop

HTTP_METHODS = ("get", "put", "post", "patch", "delete")
MUTATIONS = frozenset({"put", "post", "patch", "delete"})
# Pairing is documented as not idempotent (a retry must start over).
NOT_IDEMPOTENT = frozenset({"startPairing", "pollPairing", "requestBookingCode"})
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
FLASK_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
TEMPLATE_PARAMETER = re.compile(r"{([^{}]+)}")


# ------------------------------------------------------------ helpers


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """Follow ``$ref`` (local JSON pointers only) until a real node."""
    while isinstance(node, dict) and "$ref" in node:
        pointer = node["$ref"]
        assert pointer.startswith("#/"), pointer
        target: Any = doc
        for part in pointer[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def schemas_in(node: Any) -> Iterator[dict[str, Any]]:
    """Every object schema (one with properties) anywhere in the tree."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            yield node
        for value in node.values():
            yield from schemas_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from schemas_in(value)


def _is_type(value: Any, name: str) -> bool:
    checks = {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }
    return checks[name]


def violations(value: Any, schema: dict[str, Any], doc: dict[str, Any], at: str = "$") -> list[str]:
    """What is wrong with ``value`` under ``schema`` (the subset of JSON Schema
    the document uses). Objects with ``properties`` are closed: an undocumented
    key is a violation."""
    schema = resolve(doc, schema)
    if "oneOf" in schema:
        matching = [b for b in schema["oneOf"] if not violations(value, b, doc, at)]
        return [] if len(matching) == 1 else [f"{at}: matches {len(matching)} oneOf branches"]
    if "anyOf" in schema:
        if all(violations(value, b, doc, at) for b in schema["anyOf"]):
            return [f"{at}: matches no anyOf branch"]
        return []
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is_type(value, k) for k in kinds):
            return [f"{at}: {value!r} is not {kinds}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{at}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{at}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict) and "properties" in schema:
        properties = schema["properties"]
        for name in schema.get("required", []):
            if name not in value:
                found.append(f"{at}: missing {name}")
        for name, item in value.items():
            if name not in properties:
                found.append(f"{at}: undocumented property {name}")
            else:
                found += violations(item, properties[name], doc, f"{at}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += violations(item, schema["items"], doc, f"{at}[{index}]")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{at}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{at}: {value} > {schema['maximum']}")
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", len(value)):
            found.append(f"{at}: longer than {schema['maxLength']}")
        if schema.get("format") == "date-time" and datetime.fromisoformat(value).tzinfo is None:
            found.append(f"{at}: {value} has no UTC offset")
    return found


# ------------------------------------------------------------ (1) structure


def test_document_is_structurally_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert all(server["url"].startswith("/") for server in doc["servers"]), "servers: relative"
    assert json.loads(json.dumps(doc)) == doc, "JSON-serialisable, no tuples or enums"
    assert document() == doc, "deterministic"

    for pointer in set(refs(doc)):
        assert resolve(doc, {"$ref": pointer}) is not None, pointer

    schemes = set(doc["components"]["securitySchemes"])
    tags = {tag["name"] for tag in doc["tags"]}
    seen_ids: set[str] = set()
    for path, method, op in operations(doc):
        where = f"{method.upper()} {path}"
        assert op.get("operationId"), where
        assert op["operationId"] not in seen_ids, f"duplicate operationId at {where}"
        seen_ids.add(op["operationId"])
        assert set(op["tags"]) <= tags, where
        assert op["responses"], where
        for status, response in op["responses"].items():
            response = resolve(doc, response)
            assert re.fullmatch(r"[1-5]\d\d", status), where
            assert response["description"], where
            if int(status) >= 400 and path.startswith("/api/"):
                assert set(response["content"]) == {"application/problem+json"}, where
        for requirement in op.get("security", doc["security"]):
            assert set(requirement) <= schemes, where
        parameters = [resolve(doc, p) for p in op.get("parameters", [])]
        declared = {p["name"] for p in parameters if p["in"] == "path"}
        assert declared == set(TEMPLATE_PARAMETER.findall(path)), where
        assert all(p["required"] for p in parameters if p["in"] == "path"), where
        names = [(p["in"], p["name"]) for p in parameters]
        assert len(names) == len(set(names)), f"parameter declared twice at {where}"
        if method in MUTATIONS:
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert resolve(doc, body)["type"] == "object", where
            keys = [p for p in parameters if p["name"] == "Idempotency-Key"]
            if op["operationId"] in NOT_IDEMPOTENT:
                assert not keys and "Not idempotent" in op["description"], where
            else:
                assert keys and keys[0]["in"] == "header", f"no Idempotency-Key at {where}"
                assert keys[0]["schema"]["maxLength"] == IDEMPOTENCY_KEY_MAX == 255

    for schema in schemas_in(doc["components"]):
        assert set(schema.get("required", [])) <= set(schema["properties"]), schema


def test_enumerations_come_from_the_domain() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    stages = [s.value for s in Stage]
    assert schemas["Order"]["properties"]["stage"]["enum"] == stages
    assert schemas["Transition"]["properties"]["to"]["enum"] == stages
    assert schemas["Transition"]["required"] == ["to", "version"]
    assert schemas["Transition"]["properties"]["pause_reason"]["enum"] == [
        *(r.value for r in PauseReason),
        None,
    ]
    assert schemas["OrderCreate"]["required"] == ["plate"]
    event_union = schemas["Event"]
    assert set(event_union["discriminator"]["mapping"]) == set(EVENT_TYPES)
    for type_name, target in event_union["discriminator"]["mapping"].items():
        assert resolve(doc, {"$ref": target})["properties"]["type"]["const"] == type_name


# ------------------------------------------------------------ (2) routes


def _routes(app: Any) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/v1/") or rule.rule in ("/healthz", "/metrics")):
            continue
        path = FLASK_PARAMETER.sub(r"{\1}", rule.rule)
        for method in set(rule.methods or ()) - IGNORED_METHODS:
            found.add((path, method.lower()))
    return found


def test_every_route_is_documented_and_every_documented_route_exists(app: Any) -> None:
    documented = {(path, method) for path, method, _op in operations(document())}
    routes = _routes(app)
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations the app does not serve"


# ------------------------------------------------------------ (3) real answers


@dataclass
class Call:
    op_id: str
    params: dict[str, Any]
    body: Any
    headers: dict[str, str]
    status: int
    reply: Any


@dataclass
class Api:
    """Calls operations by operationId, through the document's own paths, and
    checks every answer against that operation's documented responses."""

    client: Any
    doc: dict[str, Any]
    called: set[str] = field(default_factory=set)
    keyed: list[Call] = field(default_factory=list)

    def operation(self, op_id: str) -> tuple[str, str, dict[str, Any]]:
        for path, method, op in operations(self.doc):
            if op["operationId"] == op_id:
                return path, method, op
        raise KeyError(op_id)

    def call(
        self,
        op_id: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        expect: int | None = None,
        raw: bytes | None = None,
    ) -> Any:
        path, method, op = self.operation(op_id)
        url = path.format(**(params or {}))
        options: dict[str, Any] = {"headers": headers or {}, "query_string": query}
        if raw is not None:
            options.update(data=raw, content_type="application/json")
        elif method in MUTATIONS:
            options["json"] = body
        response = self.client.open(url, method=method.upper(), **options)
        status = response.status_code
        text = response.get_data()[:500].decode("utf-8", "replace")
        assert status not in (405, 500), f"{op_id} → {status}: {text}"
        assert str(status) in op["responses"], f"{op_id} → undocumented {status}: {text}"
        documented = resolve(self.doc, op["responses"][str(status)])
        assert response.mimetype in documented["content"], f"{op_id} → {response.mimetype}"
        if response.is_json:
            schema = documented["content"][response.mimetype]["schema"]
            wrong = violations(response.get_json(), schema, self.doc)
            assert not wrong, f"{op_id} → {status} does not match its schema: {wrong[:8]}"
        if expect is not None:
            assert status == expect, f"{op_id} → {status}, expected {expect}: {text}"
        self.called.add(op_id)
        if "Idempotency-Key" in (headers or {}):
            self.keyed.append(Call(op_id, params or {}, body, headers or {}, status, response))
        return response


def test_every_documented_operation_answers_as_documented(client: Any, shop: Shop) -> None:
    doc = document()
    api = Api(client, doc)
    admin = shop.headers("admin")

    def keyed(name: str) -> dict[str, str]:
        return shop.headers("admin", key=f"openapi-{name}")

    created = api.call(
        "createOrder",
        body={
            "plate": "粤B12345",
            "customer": {"name": "张先生", "phone": "13800000000"},
            "vehicle": {"model": "Model", "vin": "LSVAA4182E2123456", "mileage": 42000},
            "complaint": "刹车异响",
            "items": [{"title": "保养", "labour_hours": 1.5}],
            "promised_at": "2030-01-01T18:00:00+08:00",
            "waiting": True,
            "wash": False,
            "priority": "vip",
        },
        headers=keyed("create"),
        expect=201,
    ).get_json()
    order = {"order_id": created["id"]}
    token = created["customer_url"].rsplit("/", 1)[1]
    api.call("listOrders", headers=admin, query={"active": "true"}, expect=200)
    api.call("getOrder", params=order, headers=admin, expect=200)
    version = api.call(
        "assignOrder",
        params=order,
        body={"bay": shop.bays[0], "technicians": [shop.technicians[0]], "version": 1},
        headers=keyed("assign"),
        expect=200,
    ).get_json()["version"]

    def move(to: str, version: int, **more: Any) -> int:
        reply = api.call(
            "transitionOrder",
            params=order,
            body={"to": to, "version": version, **more},
            headers=keyed(f"move-{to}-{version}"),
            expect=200,
        )
        return int(reply.get_json()["version"])

    version = move("in_progress", version)
    stale = api.call(
        "transitionOrder",
        params=order,
        body={"to": "paused", "version": version - 1, "pause_reason": "parts"},
        headers=admin,
        expect=409,
    ).get_json()
    assert stale["code"] == "stale_version" and stale["order"]["version"] == version
    illegal = api.call(
        "transitionOrder", params=order, body={"to": "delivered", "version": version}, headers=admin
    ).get_json()
    assert illegal["code"] == "illegal_transition" and "quality_check" in illegal["allowed"]
    paused = api.call(
        "transitionOrder",
        params=order,
        body={"to": "paused", "version": version, "pause_reason": "other", "reason": "等钥匙"},
        headers=keyed("pause-other"),
        expect=200,
    ).get_json()
    [other] = paused["pause_reasons"]
    assert other["reason"] == "other" and other["key"].startswith("other:")
    version = paused["version"]

    def quote(name: str, version: int) -> dict[str, Any]:
        reply = api.call(
            "quoteExtraWork",
            params=order,
            body={
                "description": name,
                "labour_hours": 0.5,
                "price_cents": 12000,
                "version": version,
            },
            headers=keyed(f"quote-{name.replace(' ', '-')}"),
            expect=201,
        )
        return dict(reply.get_json())

    first = quote("brake pads", version)
    assert first["status"] == "pending" and first["expires_at"]
    assert first["order"]["stage"] == "paused" and len(first["order"]["pause_reasons"]) == 2
    revise = {"description": "brake pads and discs", "labour_hours": 1.0, "price_cents": 30000}
    stale_quote = api.call(
        "reviseQuote",
        params={**order, "quote_id": first["id"]},
        body={**revise, "quote_version": first["version"] + 1},
        headers=admin,
        expect=409,
    ).get_json()
    assert stale_quote["code"] == "stale_version"
    assert stale_quote["quote_version"] == first["version"]
    first = api.call(
        "reviseQuote",
        params={**order, "quote_id": first["id"]},
        body={**revise, "quote_version": first["version"]},
        headers=keyed("revise"),
        expect=200,
    ).get_json()
    assert first["version"] == 2 and first["price_cents"] == 30000
    second = quote("wiper blades", first["order"]["version"])
    photo = {**order, "quote_id": second["id"]}
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(picture, "JPEG")
    api.call(
        "attachQuotePhoto",
        params=photo,
        body={"photo": base64.b64encode(picture.getvalue()).decode()},
        headers=keyed("photo"),
        expect=201,
    )
    api.call("getQuotePhoto", params=photo, headers=admin, expect=200)
    api.call("listQuotePhotos", params=order, headers=admin, expect=200)
    api.call(
        "getQuotePhotoAsCustomer", params={"token": token, "quote_id": second["id"]}, expect=200
    )
    api.call("listQuotePhotosAsCustomer", params={"token": token}, expect=200)
    part = api.call(
        "requestParts",
        params=order,
        body={"description": "刹车片 (front)", "eta": "2030-01-01T10:00:00+08:00"},
        headers=keyed("parts"),
        expect=201,
    ).get_json()
    assert part["status"] == "requested" and part["order"]["parts"] == [
        {k: v for k, v in part.items() if k != "order"}
    ]
    with shop.core.db.read() as session:
        row = session.get(RepairOrder, created["id"])
        assert row is not None
        lounge, customer = lounge_view(row), customer_view(row)
    assert lounge["pause_reasons"] == ["other", "approval", "approval", "parts"]
    assert not violations(lounge, doc["components"]["schemas"]["LoungeOrder"], doc)
    assert [r["reason"] for r in customer["pause_reasons"]] == lounge["pause_reasons"]
    assert not violations(customer, doc["components"]["schemas"]["CustomerOrder"], doc)
    assert "刹车片" not in json.dumps(lounge["pause_reasons"] + customer["pause_reasons"])
    cleared = api.call(
        "clearPauseReason",
        params={**order, "key": other["key"]},
        body={"version": part["order"]["version"]},
        headers=keyed("clear"),
        expect=200,
    ).get_json()
    assert [r["reason"] for r in cleared["pause_reasons"]] == ["approval", "approval", "parts"]
    changed = api.call(
        "changePromise",
        params=order,
        body={
            "promised_at": "2031-01-02T17:00:00+08:00",
            "reason": "等配件到货",
            "version": cleared["version"],
        },
        headers=keyed("promise"),
        expect=200,
    ).get_json()
    assert changed["promise_change"]["reason"] == "等配件到货"
    suggested = api.call(
        "suggestPromise",
        headers=admin,
        query={"labour_hours": "1.5", "waiting": "true"},
        expect=200,
    ).get_json()
    assert suggested["promised_at"] >= suggested["starts_at"]

    def resume_refused(code: str) -> None:
        current = api.call("getOrder", params=order, headers=admin, expect=200).get_json()
        refused = api.call(
            "transitionOrder",
            params=order,
            body={"to": "in_progress", "version": current["version"]},
            headers=admin,
            expect=409,
        ).get_json()
        assert refused["code"] == code and refused["pause_reasons"], refused

    resume_refused("approval_pending")
    decision = {"approved": True, "channel": "in_person"}
    api.call(
        "decideExtraWork",
        params={**order, "quote_id": first["id"]},
        body={**decision, "quote_version": 1},
        headers=admin,
        expect=409,
    )
    approved = api.call(
        "decideExtraWork",
        params={**order, "quote_id": first["id"]},
        body={**decision, "quote_version": first["version"]},
        headers=keyed("decide"),
        expect=200,
    ).get_json()
    assert approved["stage"] == "paused", "a decision never restarts work"
    [taken] = [q for q in approved["quotes"] if q["id"] == first["id"]]
    assert taken["status"] == "approved" and taken["decided_version"] == 2 and taken["taken_by"]
    locked = api.call(
        "reviseQuote",
        params={**order, "quote_id": first["id"]},
        body={**revise, "quote_version": first["version"]},
        headers=admin,
        expect=409,
    ).get_json()
    assert locked["code"] == "quote_locked" and locked["quote_id"] == first["id"]
    signed = {**order, "quote_id": first["id"]}
    signature = io.BytesIO()
    stroke = Image.new("L", (300, 100), 255)
    stroke.paste(0, (20, 45, 280, 55))
    stroke.save(signature, "PNG")
    api.call(
        "putQuoteSignature",
        params=signed,
        body={"image": base64.b64encode(signature.getvalue()).decode()},
        headers=keyed("signature"),
        expect=201,
    )
    api.call("getQuoteSignature", params=signed, headers=admin, expect=200)
    now_signed = api.call("getOrder", params=order, headers=admin, expect=200).get_json()
    [signed_quote] = [q for q in now_signed["quotes"] if q["id"] == first["id"]]
    assert str(signed_quote["signature_url"]).endswith(f"/extra-work/{first['id']}/signature")
    api.call("trackOrder", params={"token": token}, expect=200)
    early = api.call(
        "submitSurvey", params={"token": token}, body={"rating": 4}, expect=409
    ).get_json()
    assert early["code"] == "illegal_transition"
    assert "phone" not in json.dumps(early), "a customer's refusal carries the customer view"
    decided = api.call(
        "decideExtraWorkAsCustomer",
        params={"token": token, "quote_id": second["id"]},
        body={"approved": False, "quote_version": second["version"]},
        headers={"Idempotency-Key": "openapi-customer-decide"},
        expect=200,
    ).get_json()
    assert decided["order"]["stage"] == "paused", "a decision never restarts work"
    assert all("taken_by" not in q for q in decided["order"]["quotes"])
    resume_refused("parts_pending")
    part_path = {**order, "part_id": part["id"]}
    ordered = api.call(
        "changePartsStatus",
        params=part_path,
        body={"status": "ordered", "eta": "2030-01-02T10:00:00+08:00"},
        headers=keyed("part-ordered"),
        expect=200,
    ).get_json()
    assert ordered["order"]["pause_reasons"][0]["expected_at"] == ordered["eta"]
    arrived = api.call(
        "changePartsStatus",
        params=part_path,
        body={"status": "arrived"},
        headers=keyed("part-arrived"),
        expect=200,
    ).get_json()
    assert arrived["arrived_at"] and arrived["order"]["stage"] == "paused"
    assert arrived["order"]["pause_reasons"] == []
    version = move("in_progress", arrived["order"]["version"])
    version = move("quality_check", version)
    for _level in range(3):
        version = api.call(
            "passCheck",
            params=order,
            body={"version": version},
            headers=keyed(f"check-{version}"),
            expect=200,
        ).get_json()["version"]
    move("delivered", version)
    api.call(
        "submitSurvey",
        params={"token": token},
        body={"rating": 5, "comment": "很好"},
        headers={"Idempotency-Key": "openapi-survey"},
        expect=201,
    )

    api.call("listBays", headers=admin, expect=200)
    api.call("listTechnicians", headers=admin, expect=200)
    page = api.call("listEvents", headers=admin, query={"after": "0"}, expect=200).get_json()
    assert {e["type"] for e in page["events"]} >= {"order_created", "check_passed"}
    api.call("getOpenApi", expect=200)
    api.call("whoami", headers=admin, expect=200)
    started = api.call("startPairing", body={"kind": "board"}, expect=201).get_json()
    api.call("pollPairing", body={"device_code": started["device_code"]}, expect=200)
    api.call("getHealth", expect=200)
    api.call("getMetrics", expect=200)

    # Refusals the document promises.
    api.call(
        "createOrder", body={"plate": "粤B1"}, headers=shop.headers("display-board"), expect=403
    )
    api.call("createOrder", body={}, headers=admin, expect=422)
    api.call("createOrder", raw=b'{"plate": "' + b"x" * 70_000 + b'"}', headers=admin, expect=413)
    api.call("getOrder", params={"order_id": 999_999}, headers=admin, expect=404)
    api.call("listBays", expect=401)

    # Administration: API tokens (a revoked one stays revoked) and the audit log.
    tokens = api.call("listTokens", headers=admin, expect=200).get_json()["tokens"]
    lounge = next(t for t in tokens if t["name"] == "test display-lounge")
    api.call(
        "revokeToken",
        params={"token_id": lounge["id"]},
        body={},
        headers=keyed("revoke-token"),
        expect=200,
    )
    api.call("listAudit", headers=admin, query={"order_id": str(created["id"])}, expect=200)
    api.call("listAudit", headers=admin, query={"format": "csv"}, expect=200)

    # Administration: staff, bays and the shop profile (a stale save is a 409).
    staff = api.call(
        "addStaff",
        body={"name": "文档师傅", "role": "technician", "badge": "4001", "pin": "4321"},
        headers=keyed("staff-add"),
        expect=201,
    ).get_json()
    api.call("listStaff", headers=admin, expect=200)
    api.call(
        "updateStaff",
        params={"staff_id": staff["id"]},
        body={"version": staff["version"], "display_name": "文档", "active": False},
        headers=keyed("staff-patch"),
        expect=200,
    )
    bay = api.call(
        "createBay",
        body={"code": "W1", "kind": "wash", "capacity": 2},
        headers=keyed("bay"),
        expect=201,
    ).get_json()
    api.call(
        "updateBay",
        params={"code": bay["code"]},
        body={"in_service": False, "reason": "举升机维修"},
        headers=keyed("bay-out"),
        expect=200,
    )
    shop_now = api.call("getShop", headers=admin, expect=200).get_json()
    api.call(
        "updateShop",
        body={"version": shop_now["version"], "hotline": "400-800-8888"},
        headers=keyed("shop"),
        expect=200,
    )
    api.call(
        "updateShop",
        body={"version": shop_now["version"], "hotline": "400-1"},
        headers=admin,
        expect=409,
    )

    # Comebacks: the same plate back after its delivery, marked, withdrawn;
    # the labour-integrity report as JSON and CSV.
    back = api.call(
        "createOrder",
        body={"plate": "粤B12345", "items": [{"title": "刹车复查", "labour_hours": 0.5}]},
        headers=keyed("create-comeback"),
        expect=201,
    ).get_json()
    api.call("getComebackCandidates", params={"order_id": back["id"]}, headers=admin, expect=200)
    marked = api.call(
        "flagComeback",
        params={"order_id": back["id"]},
        body={"of_order_id": created["id"], "note": "刹车异响", "version": back["version"]},
        headers=keyed("comeback"),
        expect=200,
    ).get_json()
    api.call(
        "flagComeback",
        params={"order_id": back["id"]},
        body={"of_order_id": created["id"], "note": "再标", "version": marked["order"]["version"]},
        headers=admin,
        expect=409,
    )
    api.call(
        "withdrawComeback",
        params={"order_id": back["id"]},
        body={"reason": "标错了", "version": marked["order"]["version"]},
        headers=keyed("comeback-withdrawal"),
        expect=200,
    )
    # Notifications (issue 17): a customer who agreed to SMS, a one-off, the
    # list, the desk's alert, the desk's opt-out and the customer's own.
    told = api.call(
        "createOrder",
        body={
            "plate": "粤B54321",
            "customer": {"name": "李女士", "phone": "13900000000", "notify": ["sms"]},
        },
        headers=keyed("create-notify"),
        expect=201,
    ).get_json()
    told_order = {"order_id": told["id"]}
    api.call(
        "sendNotification",
        params=told_order,
        body={"text": "配件已到", "channels": ["sms"]},
        headers=keyed("notify-send"),
        expect=201,
    )
    api.call("listNotifications", params=told_order, headers=admin, expect=200)
    api.call("listFailedNotifications", headers=admin, expect=200)
    api.call(
        "optOutNotifications",
        params=told_order,
        body={"version": told["version"]},
        headers=keyed("notify-opt-out"),
        expect=200,
    )
    api.call(
        "optOutNotificationsAsCustomer",
        params={"token": told["customer_url"].rsplit("/", 1)[1]},
        body={},
        headers={"Idempotency-Key": "openapi-notify-customer"},
        expect=200,
    )
    # Appointments (issue 18): a day ahead's capacity, a booking into its
    # first free slot, the day's list, one appointment, a move, a no-show
    # refused before its start, the check-in, and a second booking cancelled.
    free: list[str] = []
    for ahead in range(2, 16):
        day = (date.today() + timedelta(days=ahead)).isoformat()
        capacity = api.call("getCapacity", headers=admin, query={"date": day}, expect=200)
        free = [s["start"] for s in capacity.get_json()["slots"] if s["free"] > 0]
        if len(free) >= 3:
            break
    visit = {
        "plate": "粤B67890",
        "customer": {"name": "陈先生", "phone": "13700000000", "notify": ["sms"]},
        "vehicle": {"model": "Model", "vin": "LSVAA4182E2123457", "mileage": 30000},
        "complaint": "保养",
        "items": [{"title": "小保养", "labour_hours": 1, "bay_kind": "general"}],
    }
    booked = api.call(
        "bookAppointment",
        body={**visit, "start": free[0]},
        headers=keyed("appointment-book"),
        expect=201,
    ).get_json()
    appointment = {"appointment_id": booked["id"]}
    api.call("listAppointments", headers=admin, query={"date": day}, expect=200)
    api.call("getAppointment", params=appointment, headers=admin, expect=200)
    moved = api.call(
        "rescheduleAppointment",
        params=appointment,
        body={"version": booked["version"], "start": free[1]},
        headers=keyed("appointment-move"),
        expect=200,
    ).get_json()
    api.call(
        "markAppointmentNoShow",
        params=appointment,
        body={"version": moved["version"]},
        headers=keyed("appointment-no-show"),
        expect=409,
    )
    api.call(
        "checkInAppointment",
        params=appointment,
        body={"version": moved["version"]},
        headers=keyed("appointment-check-in"),
        expect=201,
    )
    other = api.call(
        "bookAppointment", body={**visit, "start": free[2]}, headers=admin, expect=201
    ).get_json()
    api.call(
        "cancelAppointment",
        params={"appointment_id": other["id"]},
        body={"version": other["version"], "reason": "改天再来"},
        headers=keyed("appointment-cancel"),
        expect=200,
    )
    # The public booking page and the customer's link (issue 18): the page's
    # CSRF token rides on its POSTs, as the page sends it.
    # A browser of its own: the page's session cookie would hold the staff
    # calls after it to the page's CSRF rule too.
    browser = client.application.test_client()
    public_api = Api(browser, doc)
    booking_page = browser.get("/book/test").get_data(as_text=True)
    found_csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', booking_page)
    assert found_csrf, "the booking page carries its CSRF token"
    public = {"X-CSRFToken": found_csrf.group(1)}
    starts: list[str] = []
    for ahead in range(2, 16):
        day = (date.today() + timedelta(days=ahead)).isoformat()
        listed = public_api.call(
            "listPublicSlots",
            params={"shop": "test"},
            query={"date": day, "work": "service"},
            headers={},
            expect=200,
        ).get_json()
        starts = [slot["start"] for slot in listed["slots"]]
        if starts:
            break
    public_api.call(
        "requestBookingCode",
        params={"shop": "test"},
        body={"phone": "13800138000"},
        headers=public,
        expect=202,
    )
    online = public_api.call(
        "bookOnline",
        params={"shop": "test"},
        body={
            "work": ["service"],
            "start": starts[0],
            "plate": "沪A12345",
            "name": "张先生",
            "phone": "13800138000",
        },
        headers={**public, "Idempotency-Key": "openapi-book"},
        expect=201,
    ).get_json()
    link = {"token": online["manage_url"].rstrip("/").rsplit("/", 1)[1]}
    public_api.call("getAppointmentByLink", params=link, headers={}, expect=200)
    public_api.call("listLinkSlots", params=link, query={"date": day}, headers={}, expect=200)
    for op_id, body in (
        ("confirmAppointmentByLink", {}),
        ("rescheduleAppointmentByLink", {"start": starts[-1]}),
        ("stopAppointmentReminders", {}),
        ("cancelAppointmentByLink", {}),
    ):
        public_api.call(
            op_id,
            params=link,
            body=body,
            headers={**public, "Idempotency-Key": f"openapi-{op_id}"},
            expect=200,
        )
    api.called |= public_api.called
    span = {"from": "2026-01-01", "to": "2026-01-31"}
    api.call("listLabourExceptions", headers=admin, query=span, expect=200)
    api.call("exportLabourExceptions", headers=admin, query=span, expect=200)
    # The manager's reports, over the days of this test's orders.
    recent = {
        "from": (date.today() - timedelta(days=40)).isoformat(),
        "to": (date.today() + timedelta(days=1)).isoformat(),
    }
    grouped = {**recent, "group": "week"}
    api.call("getReportSummary", headers=admin, query=grouped, expect=200)
    api.call("getReportTechnicians", headers=admin, query=recent, expect=200)
    api.call("getReportAdvisors", headers=admin, query=recent, expect=200)
    api.call("listReportOrders", headers=admin, query=recent, expect=200)
    api.call("exportReportOrdersCsv", headers=admin, query=recent, expect=200)
    api.call("exportReportOrdersXlsx", headers=admin, query=recent, expect=200)
    backwards = {"from": recent["to"], "to": recent["from"]}
    api.call("getReportSummary", headers=admin, query=backwards, expect=422)

    every = {op["operationId"] for _path, _method, op in operations(doc)}
    assert api.called == every, f"never exercised: {every - api.called}"

    # What the document says about Idempotency-Key holds for each operation.
    assert {c.op_id for c in [*api.keyed, *public_api.keyed]} == {
        op["operationId"]
        for _path, method, op in operations(doc)
        if method in MUTATIONS and op["operationId"] not in NOT_IDEMPOTENT
    }
    for caller, first_call in [
        *((api, c) for c in list(api.keyed)),
        *((public_api, c) for c in list(public_api.keyed)),
    ]:
        replay = caller.call(
            first_call.op_id,
            params=first_call.params,
            body=first_call.body,
            headers=first_call.headers,
            expect=first_call.status,
        )
        assert replay.headers.get("Idempotent-Replayed") == "true", first_call.op_id


def test_every_operation_refuses_only_as_documented(client: Any, shop: Shop) -> None:
    """Wrong input everywhere: no credential, unknown ids, an empty body."""
    doc = document()
    api = Api(client, doc)
    unknown = {
        "order_id": 999_999,
        "quote_id": 999,
        "part_id": 999,
        "key": "other:999",
        "token": "x" * 43,
        "token_id": 999_999,
        "staff_id": 999_999,
        "code": "ZZ99",
        "appointment_id": 999_999,
        "shop": "nowhere",
    }
    for _path, method, op in operations(doc):
        body = {} if method in MUTATIONS else None
        api.call(op["operationId"], params=unknown, body=body)
        api.call(op["operationId"], params=unknown, body=body, headers=shop.headers("admin"))
        api.call(
            op["operationId"], params=unknown, body=body, headers=shop.headers("display-lounge")
        )


# ------------------------------------------------------------ (4) schemas = views


def test_views_have_exactly_the_documented_properties(client: Any, shop: Shop) -> None:
    schemas = document()["components"]["schemas"]
    reply = client.post("/api/v1/orders", json={"plate": "粤B54321"}, headers=shop.headers())
    assert reply.status_code == 201
    created = reply.get_json()
    assert set(created) == set(schemas["Order"]["properties"]) == set(schemas["Order"]["required"])
    nested = schemas["Order"]["properties"]
    assert set(created["customer"]) == set(nested["customer"]["properties"])
    assert set(created["vehicle"]) == set(nested["vehicle"]["properties"])

    token = created["customer_url"].rsplit("/", 1)[1]
    tracked = client.get(f"/api/v1/track/{token}").get_json()["order"]
    customer = schemas["CustomerOrder"]
    assert set(tracked) == set(customer["properties"])
    with shop.core.db.read() as session:
        row = session.get(RepairOrder, created["id"])
        assert row is not None
        assert set(customer_view(row)) == set(customer["required"])
        lounge = lounge_view(row)
    assert set(lounge) == set(schemas["LoungeOrder"]["properties"])
    assert not violations(lounge, schemas["LoungeOrder"], document())


def test_live_messages_match_the_documented_views(app: Any, socketio: Any, shop: Shop) -> None:
    """Each Socket.IO audience receives the view docs/EVENTS.md promises."""
    doc = document()
    created = (
        app.test_client()
        .post("/api/v1/orders", json={"plate": "粤B11111"}, headers=shop.headers())
        .get_json()
    )
    token = created["customer_url"].rsplit("/", 1)[1]
    audiences = {
        "Order": shop.tokens["display-board"],
        "LoungeOrder": shop.tokens["display-lounge"],
        "CustomerOrder": token,
    }
    clients = {
        name: socketio.test_client(app, auth={"token": secret})
        for name, secret in audiences.items()
    }
    for name, connection in clients.items():
        snapshot = [m for m in connection.get_received() if m["name"] == "snapshot"]
        assert len(snapshot) == 1, name
        for order in snapshot[0]["args"][0]["orders"]:
            assert not violations(order, doc["components"]["schemas"][name], doc), name
    moved = app.test_client().post(
        f"/api/v1/orders/{created['id']}/transitions",
        json={"to": "cancelled", "version": 1, "reason": "customer left"},
        headers=shop.headers(),
    )
    assert moved.status_code == 200, moved.get_data(as_text=True)
    for name, connection in clients.items():
        messages = [m["args"][0] for m in connection.get_received() if m["name"] == "order"]
        assert len(messages) == 1, name
        assert set(messages[0]) == {"seq", "prev_seq", "order"}
        assert messages[0]["prev_seq"] < messages[0]["seq"]
        assert not violations(messages[0]["order"], doc["components"]["schemas"][name], doc)
        connection.disconnect()


# ------------------------------------------------------------ (5) the prose docs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _table_row(text: str, name: str) -> str:
    """The Markdown table row whose first cell is `name`."""
    rows = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, f"no single row for {name}"
    return rows[0]


def test_events_md_describes_every_event_and_its_fields() -> None:
    """Each event type has its row in docs/EVENTS.md naming every data field."""
    text = (DOCS / "EVENTS.md").read_text(encoding="utf-8")
    for type_name, cls in EVENT_TYPES.items():
        row = _table_row(text, type_name)
        missing = [f.name for f in fields(cls) if f.name != "at" and f"`{f.name}`" not in row]
        assert not missing, f"docs/EVENTS.md: {type_name} does not name {missing}"


def test_api_md_lists_every_domain_refusal_code() -> None:
    """Every refusal code of the domain's rules is in docs/API.md's table."""
    text = (DOCS / "API.md").read_text(encoding="utf-8")
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.DomainError)
    } - {errors.DomainError.code}
    for code in sorted(codes):
        _table_row(text, code)


# ------------------------------------------------------------ (6) served


def test_openapi_json_is_served_without_credentials(client: Any) -> None:
    reply = client.get("/api/v1/openapi.json")
    assert reply.status_code == 200
    assert reply.mimetype == "application/json"
    assert reply.get_json() == json.loads(json.dumps(document()))
