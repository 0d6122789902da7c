"""Staff and data never leak across shops (issue 14, item 5): every REST
endpoint under /api/v1 that takes an id or a code, asked by shop B with
shop A's ids, answers 404 (or 403) and changes nothing in shop A.

The endpoints are read from the app's url_map, not listed by hand: a new
route with a path parameter fails ``test_every_endpoint_with_an_id_is_swept``
until it has a probe here (or a reason in ``NOT_SHOP_SCOPED``). The ids a
body or a query string carries are read from the OpenAPI document the same
way (``test_every_id_in_a_body_or_query_is_swept``).

Each probe makes its object in shop A fresh, sends the request with shop
B's credential (a fresh Idempotency-Key on mutations), and checks the
answer, that nothing of A's is in it, and that every row of A (every table
with a shop, and the sign-in rows of A's people) reads as before. Then the
same request with A's own credential must succeed: the probe is a real
request on a real object, refused only for the shop.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import Table, select

from shared.persistence.models import Base, StaffUser, import_all_models
from shared.services import setup
from shared.services.auth import create_api_token
from shared.services.core import Core
from shared.web.openapi import document
from tests.conftest import HandClock, Shop, seed_shop
from tests.request_flow import Rest
from tests.test_openapi import operations, resolve

API = "/api/v1/"
# A's own things, whose names B must never read back.
A_PLATE = "粤A11111"
A_CUSTOMER = "仅甲店客户"
A_BAY = "A-ONLY"
A_BADGE = "7777"
A_PERSON = "甲店独有员工"
A_TOKEN = "甲店独有令牌"
MARKERS = (A_PLATE, A_CUSTOMER, A_BAY, A_BADGE, A_PERSON, A_TOKEN)


# ---------------------------------------------------------------- requests


@dataclass
class Call:
    """One request: method, path, JSON body or raw bytes with a type, role."""

    method: str
    path: str
    role: str = "admin"
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    client: Any
    core: Core
    a: Shop
    b: Shop
    rest: Rest  # shop A's people

    def send(self, call: Call, shop: Shop) -> Any:
        headers = {"Authorization": f"Bearer {shop.tokens[call.role]}"}
        if call.method != "GET":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        data = call.raw
        if data is None and call.body is not None:
            data = json.dumps(call.body).encode()
        return self.client.open(
            call.path,
            method=call.method,
            data=data,
            query_string=call.query,
            headers=headers,
            content_type=call.content_type if data is not None else None,
        )

    # ------------------------------------------------------ A's objects

    def order(self, **fields: Any) -> dict[str, Any]:
        return self.rest.create(plate=A_PLATE, customer={"name": A_CUSTOMER}, **fields)

    def started(self) -> dict[str, Any]:
        bay = f"Z{uuid.uuid4().hex[:6]}"
        setup.add_bay(self.core, self.a.shop_id, bay, bay)
        order = self.order()
        body = {"bay": bay, "technicians": [self.a.technicians[0]], "version": order["version"]}
        order = self.rest.ok("PUT", f"/api/v1/orders/{order['id']}/assignment", body)
        return dict(self.rest.move(order, "in_progress"))

    def delivered(self) -> dict[str, Any]:
        """A's car through its checks and handed back to its customer."""
        order = self.rest.move(self.started(), "quality_check")
        for _level in range(3):
            path = f"/api/v1/orders/{order['id']}/checks"
            order = self.rest.ok("POST", path, {"version": order["version"]})
        body = {
            "version": order["version"],
            "final_check_done": True,
            "old_parts_shown": True,
            "next_service_date": "2099-06-01",
            "next_service_mileage": 52000,
            "note": "",
        }
        return self.rest.ok("POST", f"/desk/api/orders/{order['id']}/handover", body)

    def back_again(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """A delivered visit and the same car checked in again (a comeback to mark)."""
        first = self.delivered()
        return first, self.order()

    def flagged(self) -> dict[str, Any]:
        first, back = self.back_again()
        body = {"of_order_id": first["id"], "note": "空调不制冷", "version": back["version"]}
        return dict(self.rest.ok("POST", f"/api/v1/orders/{back['id']}/comeback", body)["order"])

    def quoted(self) -> tuple[dict[str, Any], int]:
        order = self.started()
        body = {"description": "刹车片", "labour_hours": 1.0, "price_cents": 100, "version": 0}
        body["version"] = order["version"]
        answer = self.rest.ok("POST", f"/api/v1/orders/{order['id']}/extra-work", body)
        return dict(answer["order"]), int(answer["id"])

    def photographed(self) -> tuple[dict[str, Any], int]:
        order, quote = self.quoted()
        call = Call("POST", photo_path(order["id"], quote), raw=jpeg(), content_type="image/jpeg")
        assert self.send(call, self.a).status_code == 201
        return order, quote

    def signed_in_person(self, signed: bool) -> tuple[dict[str, Any], int]:
        order, quote = self.quoted()
        decision = {"approved": True, "quote_version": 1, "channel": "in_person"}
        self.rest.ok("POST", f"/api/v1/orders/{order['id']}/extra-work/{quote}/decision", decision)
        if signed:
            path = f"/api/v1/orders/{order['id']}/extra-work/{quote}/signature"
            call = Call("PUT", path, raw=png(), content_type="image/png")
            assert self.send(call, self.a).status_code == 201
        return order, quote

    def complaint(self) -> int:
        """A complaint of A's: a delivered order whose follow-up call heard
        one, through the desk's own route (reception.record_follow_up)."""
        order = self.rest.move(self.started(), "quality_check")
        for _level in range(3):
            order = self.rest.ok(
                "POST", f"/api/v1/orders/{order['id']}/checks", {"version": order["version"]}
            )
        path = f"/desk/api/orders/{order['id']}/handover"
        self.rest.ok("POST", path, self.rest.handover_body(order), role="advisor")
        body = {"outcome": "complaint", "note": f"{A_CUSTOMER}说洗车没洗干净"}
        path = f"/desk/api/orders/{order['id']}/follow-ups"
        answer = self.rest.ok("POST", path, body, role="advisor")
        assert answer["complaint"]["status"] == "open", answer
        return int(answer["complaint"]["id"])

    def staff(self, user_id: int) -> dict[str, Any]:
        people = self.rest.get("/api/v1/staff")[1]["staff"]
        return dict(next(p for p in people if p["id"] == user_id))

    def free_starts(self) -> list[str]:
        """Free reception slots of A on a day ahead (real clock)."""
        for ahead in range(2, 16):
            day = (date.today() + timedelta(days=ahead)).isoformat()
            found = self.rest.get(f"/api/v1/capacity?date={day}")[1]
            starts = [s["start"] for s in found["slots"] if s["free"] > 0]
            if len(starts) >= 2:
                return starts
        raise AssertionError("no free slots ahead")

    def appointment(self) -> dict[str, Any]:
        """An appointment of A's, booked into its first free slot."""
        body = {
            "plate": A_PLATE,
            "customer": {"name": A_CUSTOMER, "phone": "13800000000"},
            "items": [{"title": "保养", "labour_hours": 1}],
            "start": self.free_starts()[0],
        }
        return self.rest.ok("POST", "/api/v1/appointments", body)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def png() -> bytes:
    image = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(60, 60), (300, 140), (540, 60)], fill=(10, 10, 120, 255), width=6)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def photo_path(order_id: int, quote_id: int) -> str:
    return f"/api/v1/orders/{order_id}/extra-work/{quote_id}/photo"


# ---------------------------------------------------------------- probes

Probe = Callable[[World], Call]


def _get_order(w: World) -> Call:
    return Call("GET", f"/api/v1/orders/{w.order()['id']}")


def _transition(w: World) -> Call:
    order = w.order()
    body = {"to": "cancelled", "version": order["version"], "reason": "客户取消"}
    return Call("POST", f"/api/v1/orders/{order['id']}/transitions", body=body)


def _check(w: World) -> Call:
    order = w.rest.move(w.started(), "quality_check")
    return Call("POST", f"/api/v1/orders/{order['id']}/checks", body={"version": order["version"]})


def _assign(w: World) -> Call:
    order = w.order()
    body = {"bay": A_BAY, "technicians": [w.a.technicians[0]], "version": order["version"]}
    return Call("PUT", f"/api/v1/orders/{order['id']}/assignment", "foreman", body)


def _quote(w: World) -> Call:
    order = w.started()
    body = {"description": "刹车片", "labour_hours": 1.0, "price_cents": 100}
    body["version"] = order["version"]
    return Call("POST", f"/api/v1/orders/{order['id']}/extra-work", body=body)


def _revise(w: World) -> Call:
    order, quote = w.quoted()
    body = {"description": "刹车盘", "labour_hours": 2.0, "price_cents": 200, "quote_version": 1}
    return Call("PUT", f"/api/v1/orders/{order['id']}/extra-work/{quote}", body=body)


def _decide(w: World) -> Call:
    order, quote = w.quoted()
    body = {"approved": True, "quote_version": 1, "channel": "phone"}
    return Call("POST", f"/api/v1/orders/{order['id']}/extra-work/{quote}/decision", body=body)


def _attach_photo(w: World) -> Call:
    order, quote = w.quoted()
    return Call("POST", photo_path(order["id"], quote), raw=jpeg(), content_type="image/jpeg")


def _photo(w: World) -> Call:
    order, quote = w.photographed()
    return Call("GET", photo_path(order["id"], quote))


def _photos(w: World) -> Call:
    order, _quote = w.photographed()
    return Call("GET", f"/api/v1/orders/{order['id']}/photos")


def _put_signature(w: World) -> Call:
    order, quote = w.signed_in_person(signed=False)
    path = f"/api/v1/orders/{order['id']}/extra-work/{quote}/signature"
    return Call("PUT", path, raw=png(), content_type="image/png")


def _signature(w: World) -> Call:
    order, quote = w.signed_in_person(signed=True)
    return Call("GET", f"/api/v1/orders/{order['id']}/extra-work/{quote}/signature")


def _request_parts(w: World) -> Call:
    order = w.started()
    return Call("POST", f"/api/v1/orders/{order['id']}/parts", body={"description": "机油滤芯"})


def _parts_status(w: World) -> Call:
    order = w.started()
    part = w.rest.ok("POST", f"/api/v1/orders/{order['id']}/parts", {"description": "机油滤芯"})
    path = f"/api/v1/orders/{order['id']}/parts/{part['id']}"
    return Call("PATCH", path, body={"status": "ordered"})


def _clear_reason(w: World) -> Call:
    order = w.rest.move(w.started(), "paused", pause_reason="other", reason="等待工具")
    [key] = [r["key"] for r in order["pause_reasons"] if r["reason"] == "other"]
    path = f"/api/v1/orders/{order['id']}/pause-reasons/{key}/clear"
    return Call("POST", path, body={"version": order["version"]})


def _promise(w: World) -> Call:
    order = w.order()
    body = {"promised_at": "2030-01-08T12:00:00+08:00", "reason": "等配件", "version": 0}
    body["version"] = order["version"]
    return Call("PUT", f"/api/v1/orders/{order['id']}/promise", body=body)


def _comeback(w: World) -> Call:
    first, back = w.back_again()
    body = {"of_order_id": first["id"], "note": "空调不制冷", "version": back["version"]}
    return Call("POST", f"/api/v1/orders/{back['id']}/comeback", "advisor", body)


def _comeback_withdrawal(w: World) -> Call:
    order = w.flagged()
    body = {"reason": "标错", "version": order["version"]}
    return Call("POST", f"/api/v1/orders/{order['id']}/comeback/withdrawal", "advisor", body)


def _comeback_candidates(w: World) -> Call:
    _first, back = w.back_again()
    return Call("GET", f"/api/v1/orders/{back['id']}/comeback-candidates")


def _bay(w: World) -> Call:
    return Call("PATCH", f"/api/v1/bays/{A_BAY}", body={"name": "改名"})


def _staff(w: World) -> Call:
    person = w.staff(w.a.extra["person"])
    body = {"version": person["version"], "phone": "13911112222"}
    return Call("PATCH", f"/api/v1/staff/{person['id']}", body=body)


def _token(w: World) -> Call:
    token_id = w.a.extra["spare_token"]
    return Call("DELETE", f"/api/v1/tokens/{token_id}")


def _notifications(w: World) -> Call:
    return Call("GET", f"/api/v1/orders/{w.order()['id']}/notifications")


def _one_off(w: World) -> Call:
    order = w.rest.create(
        plate=A_PLATE, customer={"name": A_CUSTOMER, "phone": "13800000000", "notify": ["sms"]}
    )
    return Call("POST", f"/api/v1/orders/{order['id']}/notifications", body={"text": "配件已到"})


def _opt_out(w: World) -> Call:
    return Call("POST", f"/api/v1/orders/{w.order()['id']}/notifications/opt-out", body={})


def _appointment(w: World) -> Call:
    return Call("GET", f"/api/v1/appointments/{w.appointment()['id']}")


def _appointment_command(action: str, **body: Any) -> Probe:
    def probe(w: World) -> Call:
        made = w.appointment()
        more = dict(body)
        if action == "reschedule":
            more["start"] = w.free_starts()[1]
        if action == "no-show":
            # Its start has passed (the app's clock moved past it).
            w.core.clock = HandClock(datetime.fromisoformat(made["start"]) + timedelta(minutes=5))
        path = f"/api/v1/appointments/{made['id']}/{action}"
        return Call("POST", path, body={"version": made["version"], **more})

    return probe


# Every (rule, method) under /api/v1 with a path parameter.
PROBES: dict[tuple[str, str], Probe] = {
    ("/api/v1/appointments/<int:appointment_id>", "GET"): _appointment,
    ("/api/v1/appointments/<int:appointment_id>/check-in", "POST"): _appointment_command(
        "check-in"
    ),
    ("/api/v1/appointments/<int:appointment_id>/cancel", "POST"): _appointment_command(
        "cancel", reason="改天"
    ),
    ("/api/v1/appointments/<int:appointment_id>/reschedule", "POST"): _appointment_command(
        "reschedule"
    ),
    ("/api/v1/appointments/<int:appointment_id>/no-show", "POST"): _appointment_command("no-show"),
    ("/api/v1/orders/<int:order_id>/notifications", "GET"): _notifications,
    ("/api/v1/orders/<int:order_id>/notifications", "POST"): _one_off,
    ("/api/v1/orders/<int:order_id>/notifications/opt-out", "POST"): _opt_out,
    ("/api/v1/orders/<int:order_id>", "GET"): _get_order,
    ("/api/v1/orders/<int:order_id>/transitions", "POST"): _transition,
    ("/api/v1/orders/<int:order_id>/checks", "POST"): _check,
    ("/api/v1/orders/<int:order_id>/assignment", "PUT"): _assign,
    ("/api/v1/orders/<int:order_id>/extra-work", "POST"): _quote,
    ("/api/v1/orders/<int:order_id>/extra-work/<int:quote_id>", "PUT"): _revise,
    ("/api/v1/orders/<int:order_id>/extra-work/<int:quote_id>/decision", "POST"): _decide,
    ("/api/v1/orders/<int:order_id>/extra-work/<int:quote_id>/photo", "POST"): _attach_photo,
    ("/api/v1/orders/<int:order_id>/extra-work/<int:quote_id>/photo", "GET"): _photo,
    ("/api/v1/orders/<int:order_id>/photos", "GET"): _photos,
    ("/api/v1/orders/<int:order_id>/extra-work/<int:quote_id>/signature", "PUT"): _put_signature,
    ("/api/v1/orders/<int:order_id>/extra-work/<int:quote_id>/signature", "GET"): _signature,
    ("/api/v1/orders/<int:order_id>/parts", "POST"): _request_parts,
    ("/api/v1/orders/<int:order_id>/parts/<int:part_id>", "PATCH"): _parts_status,
    ("/api/v1/orders/<int:order_id>/pause-reasons/<key>/clear", "POST"): _clear_reason,
    ("/api/v1/orders/<int:order_id>/promise", "PUT"): _promise,
    ("/api/v1/orders/<int:order_id>/comeback", "POST"): _comeback,
    ("/api/v1/orders/<int:order_id>/comeback/withdrawal", "POST"): _comeback_withdrawal,
    ("/api/v1/orders/<int:order_id>/comeback-candidates", "GET"): _comeback_candidates,
    ("/api/v1/bays/<code>", "PATCH"): _bay,
    ("/api/v1/staff/<int:staff_id>", "PATCH"): _staff,
    ("/api/v1/tokens/<int:token_id>", "DELETE"): _token,
}
# Routes with a parameter that names no shop's object for a bearer: the
# customer's own link is the credential (256 random bits), whoever sends it;
# it reaches its one order and no other (tests of the customer page).
NOT_SHOP_SCOPED = {
    "/api/v1/track/<token>/notifications/opt-out": "a customer's capability link",
    "/api/v1/track/<token>": "a customer's capability link",
    "/api/v1/track/<token>/extra-work/<int:quote_id>/decision": "a customer's capability link",
    "/api/v1/track/<token>/survey": "a customer's capability link",
    "/api/v1/track/<token>/extra-work/<int:quote_id>/photo": "a customer's capability link",
    "/api/v1/track/<token>/photos": "a customer's capability link",
    "/api/v1/appointment-link/<token>": "a customer's capability link",
    "/api/v1/appointment-link/<token>/cancel": "a customer's capability link",
    "/api/v1/appointment-link/<token>/confirm": "a customer's capability link",
    "/api/v1/appointment-link/<token>/reminders/stop": "a customer's capability link",
    "/api/v1/appointment-link/<token>/reschedule": "a customer's capability link",
    "/api/v1/appointment-link/<token>/slots": "a customer's capability link",
    # The shop's public booking page, named by its slug: no credential, so
    # no other shop to cross into (tests/test_api_booking.py).
    "/api/v1/book/<shop>/appointments": "the shop's public page",
    "/api/v1/book/<shop>/code": "the shop's public page",
    "/api/v1/book/<shop>/slots": "the shop's public page",
}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def api_rules(app: Any) -> set[tuple[str, str]]:
    """(rule, method) of every /api/v1 route with a path parameter."""
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API) and rule.arguments
        for method in (rule.methods or set()) - IGNORED_METHODS
    }


# ---------------------------------------------------------------- A's rows


def _tables() -> list[Table]:
    import_all_models()
    return list(Base.metadata.sorted_tables)


def shop_rows(core: Core, shop_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the shop: its own row, each table's rows with its
    shop_id, and the sign-in rows of its people (sessions, throttles)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with core.db.read() as session:
        people = set(
            session.execute(select(StaffUser.id).where(StaffUser.shop_id == shop_id)).scalars()
        )
        for table in _tables():
            columns = table.c
            if table.name == "shop":
                query = select(table).where(columns.id == shop_id)
            elif "shop_id" in columns:
                query = select(table).where(columns.shop_id == shop_id)
            elif "user_id" in columns:
                query = select(table).where(columns.user_id.in_(people))
            else:
                continue
            rows = session.execute(query.order_by(*table.primary_key.columns)).all()
            found[table.name] = [tuple(row) for row in rows]
    return found


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def world(client: Any, core: Core, shop: Shop) -> World:
    other = seed_shop(core, slug="other")
    setup.add_bay(core, shop.shop_id, A_BAY, "甲店独有工位")
    shop.extra["person"] = setup.create_user(
        core, shop.shop_id, role="technician", name=A_PERSON, badge=A_BADGE, pin="4321"
    )
    spare = create_api_token(core, shop_id=shop.shop_id, role="advisor", name=A_TOKEN)
    with core.db.read() as session:
        from shared.persistence.models import ApiToken
        from shared.services.auth import hash_secret

        shop.extra["spare_token"] = session.execute(
            select(ApiToken.id).where(ApiToken.token_hash == hash_secret(spare))
        ).scalar_one()
    return World(client, core, shop, other, Rest(client, shop, core))


def echoed(call: Call) -> str:
    """What the caller sent: an answer may name it back without leaking."""
    return call.path + json.dumps(call.body, ensure_ascii=False) + json.dumps(call.query)


def nothing_of_a(call: Call, text: str) -> None:
    for marker in MARKERS:
        if marker not in echoed(call):
            assert marker not in text, (call.method, call.path, marker)


def refused_without_a_trace(call: Call, answer: Any) -> None:
    assert answer.status_code in (403, 404), (call.method, call.path, answer.status_code)
    assert answer.headers["Content-Type"].startswith("application/problem+json"), call.path
    nothing_of_a(call, answer.get_data(as_text=True))


# ---------------------------------------------------------------- the sweep


def test_every_endpoint_with_an_id_is_swept(app: Any) -> None:
    routes = api_rules(app)
    unknown = {
        (rule, method)
        for rule, method in routes
        if (rule, method) not in PROBES and rule not in NOT_SHOP_SCOPED
    }
    assert not unknown, f"give these endpoints a cross-shop probe: {sorted(unknown)}"
    assert set(PROBES) <= routes, "probes for routes the app no longer has"


@pytest.mark.parametrize(("rule", "method"), sorted(PROBES))
def test_shop_b_gets_nothing_of_shop_a_by_id(world: World, rule: str, method: str) -> None:
    call = PROBES[(rule, method)](world)
    before = shop_rows(world.core, world.a.shop_id)
    answer = world.send(call, world.b)
    refused_without_a_trace(call, answer)
    assert shop_rows(world.core, world.a.shop_id) == before, (method, call.path)
    # The same request from A's own people is a real one on a real object.
    own = world.send(call, world.a)
    assert 200 <= own.status_code < 300, (method, call.path, own.get_data(as_text=True))


# ---------------------------------------------------------------- ids in bodies and queries

REFERENCE_NAMES = {"actor", "bay", "technicians", "code", "badge"}


def references(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(path, method, name) of every query parameter or body field that
    names a row by id or code, as the OpenAPI document describes them."""
    found: set[tuple[str, str, str]] = set()
    for path, method, op in operations(doc):
        if not path.startswith(API):
            continue
        names = [
            p["name"]
            for p in (resolve(doc, p) for p in op.get("parameters", []))
            if p.get("in") == "query"
        ]
        body = op.get("requestBody")
        if body:
            for media in resolve(doc, body).get("content", {}).values():
                names += list(resolve(doc, media.get("schema", {})).get("properties", {}))
        found |= {(path, method, n) for n in names if n.endswith("_id") or n in REFERENCE_NAMES}
    return found


def _audit(w: World, **query: str) -> Call:
    return Call("GET", "/api/v1/audit", query=query)


BODY_AND_QUERY: dict[tuple[str, str, str], str] = {
    ("/api/v1/audit", "get", "order_id"): "refused: test_audit_filters_of_another_shop",
    ("/api/v1/audit", "get", "actor"): "refused: test_audit_filters_of_another_shop",
    ("/api/v1/orders/{order_id}/assignment", "put", "bay"): "refused: test_assignment_...",
    ("/api/v1/orders/{order_id}/assignment", "put", "technicians"): "refused: test_assignment_...",
    ("/api/v1/bays", "post", "code"): "B's own namespace: test_codes_and_badges_...",
    ("/api/v1/staff", "post", "badge"): "B's own namespace: test_codes_and_badges_...",
    ("/api/v1/staff/{staff_id}", "patch", "badge"): "B's own namespace: test_codes_and_badges_...",
    ("/api/v1/book/{shop}/appointments", "post", "code"): (
        "the phone check's code, not a row: tests/test_api_booking.py"
    ),
    ("/api/v1/orders/{order_id}/comeback", "post", "of_order_id"): (
        "refused: tests/test_api_comebacks.py::test_another_shops_orders_are_unknown"
    ),
}


def test_every_id_in_a_body_or_query_is_swept() -> None:
    found = references(document())
    assert found == set(BODY_AND_QUERY), f"sweep these fields too: {found - set(BODY_AND_QUERY)}"


def test_audit_filters_of_another_shop_are_not_found(world: World) -> None:
    order = world.order()
    person = world.a.extra["person"]
    token = world.a.extra["spare_token"]
    for query in (
        {"order_id": str(order["id"])},
        {"actor": f"user:{person}"},
        {"actor": f"token:{token}"},
        {"order_id": str(order["id"]), "format": "csv"},
    ):
        call = _audit(world, **query)
        answer = world.send(call, world.b)
        refused_without_a_trace(call, answer)
        assert world.send(call, world.a).status_code == 200, query
    # Unfiltered, B reads its own log only.
    everything = world.send(_audit(world, format="csv"), world.b).get_data(as_text=True)
    assert A_PLATE not in everything and A_PERSON not in everything


def test_assignment_to_shop_as_bay_or_technicians_is_refused(world: World) -> None:
    theirs = Rest(world.client, world.b, world.core).create(plate="粤B22222")
    path = f"/api/v1/orders/{theirs['id']}/assignment"
    before = shop_rows(world.core, world.a.shop_id)
    for body in (
        {"bay": A_BAY, "technicians": [world.b.technicians[0]]},
        {"bay": world.b.bays[0], "technicians": [world.a.technicians[0]]},
        {"bay": world.b.bays[0], "technicians": [world.a.extra["person"]]},
    ):
        call = Call("PUT", path, "foreman", {**body, "version": theirs["version"]})
        answer = world.send(call, world.b)
        assert 400 <= answer.status_code < 500, (body, answer.get_data(as_text=True))
        nothing_of_a(call, answer.get_data(as_text=True))
    assert shop_rows(world.core, world.a.shop_id) == before
    status, after = Rest(world.client, world.b, world.core).get(f"/api/v1/orders/{theirs['id']}")
    assert status == 200 and after["bay"] is None and after["technicians"] == []


def test_codes_and_badges_are_each_shops_own(world: World) -> None:
    """A bay code or a badge that shop A uses is free in shop B: B's new
    bay and person are B's, and A's stay as they were."""
    before = shop_rows(world.core, world.a.shop_id)
    bay = world.send(Call("POST", "/api/v1/bays", body={"code": A_BAY, "name": "乙店"}), world.b)
    assert bay.status_code == 201, bay.get_data(as_text=True)
    body = {"name": "乙店技师", "role": "technician", "badge": A_BADGE, "pin": "1357"}
    person = world.send(Call("POST", "/api/v1/staff", body=body), world.b)
    assert person.status_code == 201, person.get_data(as_text=True)
    added = person.get_json()
    patched = world.send(
        Call(
            "PATCH",
            f"/api/v1/staff/{world.b.technicians[0]}",
            body={"version": _version(world, world.b, world.b.technicians[0]), "badge": "8888"},
        ),
        world.b,
    )
    assert patched.status_code == 200
    assert shop_rows(world.core, world.a.shop_id) == before
    assert added["badge"] == A_BADGE


def _version(world: World, shop: Shop, user_id: int) -> str:
    people = world.send(Call("GET", "/api/v1/staff"), shop).get_json()["staff"]
    return str(next(p["version"] for p in people if p["id"] == user_id))


# ---------------------------------------------------------------- lists


def test_no_list_of_shop_b_shows_anything_of_shop_a(app: Any, world: World) -> None:
    """Every GET under /api/v1 without a parameter, asked by B's admin,
    says nothing of A's orders, people, bays or tokens."""
    world.photographed()
    world.rest.ready()
    lists = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API) and not rule.arguments and "GET" in (rule.methods or ())
    )
    assert "/api/v1/orders" in lists and "/api/v1/tokens" in lists
    for path in lists:
        for query in ({}, {"active": "false"}):
            call = Call("GET", path, query=query)
            nothing_of_a(call, world.send(call, world.b).get_data(as_text=True))


# ---------------------------------------------------------------- the sweep's own test


def test_the_sweep_sees_a_new_route_and_a_leak(app: Any, world: World) -> None:
    """A route that forgets the caller's shop is caught twice: it has no
    probe, and its answer to B carries A's order."""
    from flask import jsonify

    from shared.services import queries
    from shared.web.access import READ_ROLES, require

    @require(READ_ROLES)
    def leaky(order_id: int) -> Any:
        # The mistake: the order's own shop instead of the caller's.
        return jsonify(queries.get_order(world.core, world.a.shop_id, order_id))

    app.add_url_rule("/api/v1/leaky/<int:order_id>", "leaky", leaky)
    assert ("/api/v1/leaky/<int:order_id>", "GET") in api_rules(app)
    with pytest.raises(AssertionError, match="cross-shop probe"):
        test_every_endpoint_with_an_id_is_swept(app)
    call = Call("GET", f"/api/v1/leaky/{world.order()['id']}")
    with pytest.raises(AssertionError):
        refused_without_a_trace(call, world.send(call, world.b))


# ---------------------------------------------------------------- the staff pages' own routes

# The routes outside /api/v1 that take an id or a code: the admin pages, the
# desk's, foreman's and kiosk's JSON, the job ticket and its QR codes, the
# group's pages. Shop B's admin (signed in, with the CSRF token) and B's
# kiosk ask each with shop A's ids: 404, or 403 where the page is not theirs
# at all (the group's), and nothing of A's changes. The value is the body:
# "form" fields, JSON, or None for a GET.
A_ORDER, A_STARTED, A_DEVICE = "{order}", "{started}", "{device}"
A_USER, A_TOKEN_ID = "{person}", "{token}"
A_COMPLAINT, A_OWNER = "{complaint}", "{owner}"
FORM = {
    "name": "改名",
    "kind": "general",
    "capacity": "1",
    "reason": "举升机维修",
    "position": "1",
    "pin": "9999",
    "password": "new pass word 1",
    "version": "x",
}
SESSION_PROBES: dict[tuple[str, str], tuple[str, Any]] = {
    ("/admin/bays/<code>/edit", "POST"): (f"/admin/bays/{A_BAY}/edit", "form"),
    ("/admin/bays/<code>/in", "POST"): (f"/admin/bays/{A_BAY}/in", "form"),
    ("/admin/bays/<code>/move", "POST"): (f"/admin/bays/{A_BAY}/move", "form"),
    ("/admin/bays/<code>/out", "POST"): (f"/admin/bays/{A_BAY}/out", "form"),
    ("/admin/devices/<int:device_id>/rename", "POST"): (
        f"/admin/devices/{A_DEVICE}/rename",
        "form",
    ),
    ("/admin/devices/<int:device_id>/revoke", "GET"): (f"/admin/devices/{A_DEVICE}/revoke", None),
    ("/admin/devices/<int:device_id>/revoke", "POST"): (
        f"/admin/devices/{A_DEVICE}/revoke",
        "form",
    ),
    ("/admin/staff/<int:user_id>", "GET"): (f"/admin/staff/{A_USER}", None),
    ("/admin/staff/<int:user_id>", "POST"): (f"/admin/staff/{A_USER}", "form"),
    ("/admin/staff/<int:user_id>/deactivate", "GET"): (f"/admin/staff/{A_USER}/deactivate", None),
    ("/admin/staff/<int:user_id>/deactivate", "POST"): (
        f"/admin/staff/{A_USER}/deactivate",
        "form",
    ),
    ("/admin/staff/<int:user_id>/password", "POST"): (f"/admin/staff/{A_USER}/password", "form"),
    ("/admin/staff/<int:user_id>/pin", "POST"): (f"/admin/staff/{A_USER}/pin", "form"),
    ("/admin/staff/<int:user_id>/reactivate", "POST"): (
        f"/admin/staff/{A_USER}/reactivate",
        "form",
    ),
    ("/admin/staff/<int:user_id>/unlock", "POST"): (f"/admin/staff/{A_USER}/unlock", "form"),
    ("/admin/tokens/<int:token_id>/revoke", "GET"): (f"/admin/tokens/{A_TOKEN_ID}/revoke", None),
    ("/admin/tokens/<int:token_id>/revoke", "POST"): (f"/admin/tokens/{A_TOKEN_ID}/revoke", "form"),
    ("/desk/api/orders/<int:order_id>/customer-link", "POST"): (
        f"/desk/api/orders/{A_ORDER}/customer-link",
        {"reason": "票据丢失"},
    ),
    ("/desk/api/orders/<int:order_id>/follow-ups", "POST"): (
        f"/desk/api/orders/{A_ORDER}/follow-ups",
        {"outcome": "reached", "note": ""},
    ),
    ("/desk/api/orders/<int:order_id>/handover", "POST"): (
        f"/desk/api/orders/{A_ORDER}/handover",
        {
            "version": 1,
            "final_check_done": True,
            "old_parts_shown": True,
            "next_service_date": "2030-06-01",
            "next_service_mileage": 52000,
            "note": "",
        },
    ),
    ("/desk/api/complaints/<int:complaint_id>/owner", "POST"): (
        f"/desk/api/complaints/{A_COMPLAINT}/owner",
        {"owner_id": A_OWNER, "version": 1},
    ),
    ("/desk/api/complaints/<int:complaint_id>/resolution", "POST"): (
        f"/desk/api/complaints/{A_COMPLAINT}/resolution",
        {"outcome": "已处理", "version": 1},
    ),
    ("/foreman/api/badges/<badge>/unlock", "POST"): (f"/foreman/api/badges/{A_BADGE}/unlock", {}),
    ("/foreman/api/orders/<int:order_id>/clock-on", "POST"): (
        f"/foreman/api/orders/{A_STARTED}/clock-on",
        {"technician_id": 0},
    ),
    ("/kiosk/api/orders/<int:order_id>/<action>", "POST"): (
        f"/kiosk/api/orders/{A_STARTED}/pause",
        {"version": 0, "pause_reason": "other", "reason": "等待工具"},
    ),
    ("/login/locks/<int:user_id>/unlock", "POST"): (f"/login/locks/{A_USER}/unlock", {}),
    ("/orders/<int:order_id>/qr.png", "GET"): (f"/orders/{A_ORDER}/qr.png", None),
    ("/orders/<int:order_id>/qr.svg", "GET"): (f"/orders/{A_ORDER}/qr.svg", None),
    ("/orders/<int:order_id>/ticket", "GET"): (f"/orders/{A_ORDER}/ticket", None),
    ("/group/shops/<slug>/board", "GET"): ("/group/shops/test/board", None),
    ("/group/shops/<slug>/admin", "GET"): ("/group/shops/test/admin", None),
    ("/group/shops/<slug>/admin", "POST"): ("/group/shops/test/admin", "form"),
    ("/group/members/<int:user_id>", "POST"): (f"/group/members/{A_USER}", "form"),
    ("/group/members/<int:user_id>/revoke", "POST"): (f"/group/members/{A_USER}/revoke", "form"),
}


def filled(body: Any, ids: dict[str, int]) -> Any:
    """A JSON body with its placeholders ("{owner}") replaced by the ids."""
    if not isinstance(body, dict):
        return body
    return {
        key: ids[value[1:-1]]
        if isinstance(value, str) and value.startswith("{") and value.endswith("}")
        else value
        for key, value in body.items()
    }


# Not any shop's object: files, and capability links (the customer's page,
# the first run's one-time set-up link), whose secret is the credential.
# Public pages: a customer's capability link (its order, its appointment),
# the first-run link, and the shop's public booking page (anyone may book).
NOT_SHOP_ROUTES = {
    "/static/<path:filename>",
    "/t/<token>",
    "/t/<token>/wechat",
    "/setup/<token>",
    "/a/<token>",
    "/book/<shop>",
}
# The GET answered 200 with nothing in it for any order not delivered with
# a checklist (its own shop's too), so it tells B nothing: checked below.
EMPTY_FOR_OTHERS = {("/desk/api/orders/<int:order_id>/handover", "GET")}


def test_every_staff_route_with_an_id_is_swept(app: Any) -> None:
    routes = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.arguments and not rule.rule.startswith(API) and rule.rule not in NOT_SHOP_ROUTES
        for method in (rule.methods or set()) - IGNORED_METHODS
    }
    unknown = routes - set(SESSION_PROBES) - EMPTY_FOR_OTHERS
    assert not unknown, f"give these routes a cross-shop probe: {sorted(unknown)}"
    assert set(SESSION_PROBES) <= routes


def test_shop_b_staff_pages_get_nothing_of_shop_a(app: Any, world: World) -> None:
    from shared.services import devices
    from tests.staff_sessions import sign_in_as

    pairing = devices.start_pairing(world.core, "board")
    ids = {
        "order": world.order()["id"],
        "started": world.started()["id"],
        "device": devices.approve_pairing(
            world.core, pairing.user_code, kind="board", name="甲店屏", shop_id=world.a.shop_id
        ),
        "person": world.a.extra["person"],
        "token": world.a.extra["spare_token"],
        "complaint": world.complaint(),
        # A's manager, who may own a complaint (the call's token has no person).
        "owner": setup.create_user(
            world.core, world.a.shop_id, role="manager", name="甲店经理", password="pass word 34"
        ),
    }
    b_admin = setup.create_user(
        world.core, world.b.shop_id, role="admin", name="乙店管理员", password="pass word 12"
    )
    browser = app.test_client()
    sign_in_as(browser, b_admin)
    page = browser.get("/admin/staff").get_data(as_text=True)
    csrf = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    kiosk = Rest(world.client, world.b, world.core).kiosk()
    before = shop_rows(world.core, world.a.shop_id)
    for (rule, method), (template, body) in SESSION_PROBES.items():
        path = template.format(**ids)
        body = filled(body, ids)
        if rule.startswith("/kiosk/"):
            answer = world.client.post(
                path, json=body, headers={"Authorization": f"Bearer {kiosk}"}
            )
        elif method == "GET":
            answer = browser.get(path)
        elif body == "form":
            answer = browser.post(path, data={**FORM, "csrf_token": csrf})
        else:
            answer = browser.post(path, json=body, headers={"X-CSRFToken": csrf})
        expected = {403} if rule.startswith("/group/") else {404}
        assert answer.status_code in expected, (method, path, answer.status_code)
        nothing_of_a(Call(method, path, body=body), answer.get_data(as_text=True))
        assert shop_rows(world.core, world.a.shop_id) == before, (method, path)
    for rule, _method in EMPTY_FOR_OTHERS:
        answer = browser.get(rule.replace("<int:order_id>", str(ids["order"])))
        assert answer.status_code == 200 and answer.get_json() == {"handover": None}


COMPLAINT_PROBES = sorted(r for r in SESSION_PROBES if r[0].startswith("/desk/api/complaints/"))


@pytest.mark.parametrize(("rule", "method"), COMPLAINT_PROBES)
def test_the_complaint_probes_are_real_requests_in_shop_a(
    app: Any, world: World, rule: str, method: str
) -> None:
    """B's 404 above is for the shop, not for the request: the same body,
    sent by A's own signed-in manager on A's complaint, changes it."""
    from shared.persistence.reception_models import Complaint
    from tests.staff_sessions import sign_in_as

    manager = setup.create_user(
        world.core, world.a.shop_id, role="manager", name="甲店经理", password="pass word 34"
    )
    ids = {"complaint": world.complaint(), "owner": manager}
    template, body = SESSION_PROBES[(rule, method)]
    browser = app.test_client()
    sign_in_as(browser, manager)
    page = browser.get("/desk").get_data(as_text=True)
    csrf = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    answer = browser.post(
        template.format(**ids), json=filled(body, ids), headers={"X-CSRFToken": csrf}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    with world.core.db.read() as session:
        row = session.get(Complaint, ids["complaint"])
        assert row is not None and row.version == 2
        assert (row.owner_id, row.status) in {(manager, "open"), (None, "resolved")}
