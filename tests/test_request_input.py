"""How every JSON endpoint reads a request: text, fields and times.

* Text: a lone surrogate (the JSON escape ``\\udc00``) once reached the
  database and made the order and every event-feed page holding it answer
  500 for good. Every string is now held to one rule (``shared.domain.text``):
  no lone surrogates, no control characters (line feed and tab only in
  multi-line fields), no bidirectional controls, no noncharacters; the error
  names the field, nested fields by their path.
* Fields: a field the endpoint does not take is refused (422 naming it), in
  nested objects and list items too, on every JSON endpoint.
* Times: a timestamp is ISO 8601 with an offset, within five years of the
  app's clock; dates near year 1 or 9999 used to overflow into a 500.

Everything runs in process, on the real SQLite database of the app fixture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.domain.errors import ValidationFailed
from shared.domain.plates import normalise_plate
from shared.domain.text import check_text, printable_name, repair_text, text_problem
from shared.persistence.models import StaffUser
from shared.services import devices
from shared.services.core import Core
from tests.conftest import ROOT, Shop
from tests.request_flow import Rest, customer_token

PROBLEM = "application/problem+json"


@pytest.fixture
def rest(client: Any, shop: Shop, core: Core) -> Rest:
    return Rest(client, shop, core)


def assert_refused(answer: tuple[int, Any], field: str) -> dict[str, Any]:
    status, body = answer
    assert status == 422, body
    assert body["code"] == "validation_error", body
    assert body["field"] == field, body
    return dict(body)


# ---------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("text", "multiline"),
    [
        ("a\udc00b", True),  # lone low surrogate
        ("\ud83d", True),  # lone high surrogate
        ("\x00", True),
        ("\x1b[31m", True),  # terminal escape
        ("\x7f", True),  # DEL
        ("\x85", True),  # C1 next line
        ("a\rb", True),  # a line break is \n only
        ("a\nb", False),
        ("a\tb", False),
        ("\u202eevil", True),  # right-to-left override
        ("\u202a", True),
        ("\u2066x\u2069", True),  # isolates
        ("\u200e", True),  # left-to-right mark
        ("\u200f", True),  # right-to-left mark
        ("\u061c", True),  # Arabic letter mark
        ("\u2028", True),  # line separator
        ("\u2029", True),
        ("\ufdd0", True),  # noncharacters
        ("\ufffe", True),
        ("\U0010ffff", True),
    ],
)
def test_the_text_rule_refuses(text: str, multiline: bool) -> None:
    problem = text_problem(text, multiline=multiline)
    assert problem is not None
    problem.encode("ascii")  # names the code point; never repeats the text
    with pytest.raises(ValidationFailed) as refused:
        check_text("customer.name", text, multiline=multiline)
    assert refused.value.field == "customer.name"


@pytest.mark.parametrize(
    ("text", "multiline"),
    [
        ("张先生", False),
        ("Zoë O'Brien-Łukasz", False),
        ("刹车异响\n左前轮\t明显", True),
        ("👨\u200d👩\u200d👧 ok 👍🏽", False),  # zero-width joiners build emoji
        ("🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", False),  # tag flag
        ("\ufffd", False),  # what repaired text holds
        ("", False),
    ],
)
def test_the_text_rule_allows(text: str, multiline: bool) -> None:
    assert text_problem(text, multiline=multiline) is None


def test_repair_replaces_lone_surrogates_and_joins_pairs() -> None:
    assert repair_text("a\udc00b") == "a\ufffdb"
    assert repair_text("\ud83d\ude00") == "😀"
    assert repair_text("ok") == "ok"
    assert printable_name("x\udc00\u202e") == "x\\udc00\\u202e"


def test_plates_use_the_same_rule() -> None:
    for bad in ("粤B\u202e12345", "粤B12345\udc00"):
        with pytest.raises(ValidationFailed) as refused:
            normalise_plate(bad)
        assert refused.value.field == "plate"


# ---------------------------------------------------------------- text


@pytest.mark.parametrize("key", [False, True], ids=["plain", "with-idempotency-key"])
def test_a_lone_surrogate_in_a_reason_is_refused_and_the_order_stays_readable(
    rest: Rest, key: bool
) -> None:
    order = rest.create()
    before = rest.last_seq()
    raw = b'{"to":"cancelled","version":1,"reason":"a\\udc00b"}'
    answer = rest.send("POST", f"/api/v1/orders/{order['id']}/transitions", raw=raw, key=key)
    body = assert_refused(answer, "reason")
    assert "surrogate" in body["detail"]
    assert rest.order(order["id"])["stage"] == order["stage"]
    assert rest.last_seq() == before
    rest.assert_readable(order["id"], before)


SURROGATES = [
    ('{"plate":"粤B12345","customer":{"name":"\\udc00"}}', "customer.name"),
    ('{"plate":"粤B12345","items":[{"title":"ok"},{"title":"x\\ud800"}]}', "items[1].title"),
    ('{"plate":"粤B12345\\udfff"}', "plate"),
    ('{"plate":"粤B12345","\\udc00":1}', "\\udc00"),
    ('{"plate":"粤B12345","vehicle":{"\\ud800x":1}}', "vehicle.\\ud800x"),
    ('{"plate":"粤B12345","stray":["\\udc00"]}', "stray[0]"),
]


def test_lone_surrogates_are_refused_wherever_they_are(rest: Rest) -> None:
    """Keys too: the named field is escaped, so the error itself is UTF-8."""
    before = rest.last_seq()
    for raw, field in SURROGATES:
        for key in (False, True):
            answer = rest.send("POST", "/api/v1/orders", raw=raw.encode(), role="advisor", key=key)
            assert_refused(answer, field)
    assert rest.last_seq() == before


DISPLAYED: list[tuple[dict[str, Any], str]] = [
    ({"customer": {"name": "\u202e张三"}}, "customer.name"),
    ({"customer": {"name": "张\n三"}}, "customer.name"),
    ({"customer": {"phone": "\u200f138"}}, "customer.phone"),
    ({"vehicle": {"model": "卡罗拉\x1b[2J"}}, "vehicle.model"),
    ({"vehicle": {"vin": "LVSHCAMB\x00"}}, "vehicle.vin"),
    ({"items": [{"title": "\u2066换油\u2069"}]}, "items[0].title"),
    ({"complaint": "异响\r\n"}, "complaint"),
    ({"complaint": "异响\ufffe"}, "complaint"),
    ({"priority": "vip\u200e"}, "priority"),
]


def test_displayed_text_refuses_controls_bidi_and_noncharacters(rest: Rest) -> None:
    for fields, field in DISPLAYED:
        answer = rest.send("POST", "/api/v1/orders", _order(**fields), role="advisor")
        assert_refused(answer, field)


def test_multi_line_fields_keep_line_feeds_tabs_and_emoji(rest: Rest) -> None:
    complaint = "左前轮异响\n\t刹车时明显 👨\u200d🔧"
    order = rest.create(complaint=complaint, customer={"name": "Zoë 张"})
    assert rest.order(order["id"])["complaint"] == complaint


def _order(**fields: Any) -> dict[str, Any]:
    return {"plate": "粤B12345", **fields}


def test_every_text_field_of_every_endpoint_is_checked(rest: Rest) -> None:
    """One bidirectional override per text field, endpoint by endpoint."""
    bad = "x\u202e"
    order = rest.create()
    oid = order["id"]
    transitions = f"/api/v1/orders/{oid}/transitions"
    body: dict[str, Any]
    for body, field in [
        ({"to": bad, "version": 1}, "to"),
        ({"to": "cancelled", "version": 1, "reason": bad}, "reason"),
        ({"to": "paused", "version": 1, "pause_reason": bad}, "pause_reason"),
    ]:
        assert_refused(rest.send("POST", transitions, body), field)
    body = {"bay": bad, "technicians": [], "version": 1}
    assert_refused(rest.send("PUT", f"/api/v1/orders/{oid}/assignment", body), "bay")
    started = rest.started()
    body = {"description": bad, "labour_hours": 1, "price_cents": 1, "version": 1}
    path = f"/api/v1/orders/{started['id']}/extra-work"
    assert_refused(rest.send("POST", path, body), "description")
    quoted, quote = rest.quoted()
    path = f"/api/v1/orders/{quoted['id']}/extra-work/{quote['id']}/decision"
    decision = {"approved": True, "quote_version": quote["version"], "channel": bad}
    assert_refused(rest.send("POST", path, decision), "channel")
    desk = f"/desk/api/orders/{oid}"
    for path, body, field in [
        (f"{desk}/follow-ups", {"outcome": bad}, "outcome"),
        (f"{desk}/follow-ups", {"outcome": "reached", "note": bad}, "note"),
        (f"{desk}/customer-link", {"reason": bad}, "reason"),
    ]:
        assert_refused(rest.send("POST", path, body, role="advisor"), field)
    ready = rest.ready()
    body = {**rest.handover_body(ready), "note": bad}
    path = f"/desk/api/orders/{ready['id']}/handover"
    assert_refused(rest.send("POST", path, body, role="advisor"), "note")
    body = {**rest.handover_body(ready), "next_service_date": bad}
    assert_refused(rest.send("POST", path, body, role="advisor"), "next_service_date")
    delivered = rest.delivered()
    path = f"/api/v1/track/{customer_token(delivered)}/survey"
    assert_refused(rest.send("POST", path, {"rating": 5, "comment": bad}, role=None), "comment")
    kiosk = rest.kiosk()
    mine = rest.started()
    tap = f"/kiosk/api/orders/{mine['id']}"
    version = mine["version"]
    for action, body, field in [
        ("parts", {"version": version, "reason": bad}, "reason"),
        ("pause", {"version": version, "pause_reason": bad}, "pause_reason"),
        (
            "extra-work",
            {"version": version, "description": bad, "labour_hours": 1, "price_cents": 1},
            "description",
        ),
    ]:
        assert_refused(rest.send("POST", f"{tap}/{action}", body, bearer=kiosk), field)
    path = f"/api/v1/orders/{quoted['id']}/extra-work/{quote['id']}/photo"
    assert_refused(rest.send("POST", path, {"photo": "AAAA\u202e"}), "photo")


def test_query_strings_follow_the_same_rule(rest: Rest, client: Any, shop: Shop) -> None:
    response = client.get("/api/v1/orders?stage=%E2%80%AEready", headers=shop.headers())
    assert response.status_code == 422 and response.get_json()["field"] == "stage"
    response = client.get("/api/v1/events?after=1%E2%80%AE", headers=shop.headers())
    assert response.status_code == 422 and response.get_json()["field"] == "after"
    advisor = shop.headers("advisor")
    response = client.get("/desk/api/vehicles?plate=%E7%B2%A4B%E2%80%AE12345", headers=advisor)
    assert response.status_code == 422 and response.get_json()["field"] == "plate"


# ---------------------------------------------------------------- fields


UNKNOWN = [
    ({"plate": "粤B12345", "stage": "ready", "is_admin": True}, "stage"),
    ({"plate": "粤B12345", "is_admin": True}, "is_admin"),
    ({"plate": "粤B12345", "customer": {"name": "张", "x": 1}}, "customer.x"),
    ({"plate": "粤B12345", "vehicle": {"colour": "红"}}, "vehicle.colour"),
    ({"plate": "粤B12345", "items": [{"title": "a"}, {"title": "b", "x": 1}]}, "items[1].x"),
    ({"plate": "粤B12345", "customer": None, "notes": ""}, "notes"),
]


def test_unknown_fields_are_refused_naming_the_first(rest: Rest) -> None:
    before = rest.last_seq()
    for body, field in UNKNOWN:
        answer = rest.send("POST", "/api/v1/orders", body, role="advisor")
        assert field in assert_refused(answer, field)["detail"]
    assert rest.last_seq() == before


Call = Callable[[dict[str, Any]], tuple[int, Any]]


def _endpoints(rest: Rest) -> list[tuple[str, dict[str, Any], Call]]:
    """Every JSON endpoint with a body it accepts, as (name, body, send)."""
    order = rest.create()
    started = rest.started()
    quoted, quote = rest.quoted()
    also_quoted, other_quote = rest.quoted()
    ready = rest.ready()
    delivered = rest.delivered()
    kiosk = rest.kiosk()
    mine = rest.started()
    checked = rest.move(rest.started(), "quality_check")
    token = customer_token(quoted)
    oid = order["id"]

    def api(method: str, path: str, role: str = "admin") -> Call:
        return lambda body: rest.send(method, path, body, role=role)

    def tap(order: dict[str, Any], action: str) -> Call:
        path = f"/kiosk/api/orders/{order['id']}/{action}"
        return lambda body: rest.send("POST", path, body, bearer=kiosk)

    def customer(path: str) -> Call:
        return lambda body: rest.send("POST", f"/api/v1/track/{token}{path}", body, role=None)

    photo = "/9j/4AAQSkZJRgABAQ=="  # not a picture: refused only after the fields
    quotes = f"/api/v1/orders/{quoted['id']}/extra-work"
    return [
        ("create order", {"plate": "粤B54321"}, api("POST", "/api/v1/orders", "advisor")),
        (
            "transition",
            {"to": "cancelled", "version": order["version"], "reason": "客户取消"},
            api("POST", f"/api/v1/orders/{oid}/transitions"),
        ),
        (
            "check",
            {"version": ready["version"]},
            api("POST", f"/api/v1/orders/{ready['id']}/checks"),
        ),
        (
            "assignment",
            {"bay": "B03", "technicians": [rest.shop.technicians[1]], "version": 1},
            api("PUT", f"/api/v1/orders/{rest.create()['id']}/assignment", "foreman"),
        ),
        (
            "extra work",
            {
                "description": "x",
                "labour_hours": 1,
                "price_cents": 1,
                "version": started["version"],
            },
            api("POST", f"/api/v1/orders/{started['id']}/extra-work"),
        ),
        (
            "decision",
            {"approved": True, "quote_version": other_quote["version"], "channel": "phone"},
            api(
                "POST",
                f"/api/v1/orders/{also_quoted['id']}/extra-work/{other_quote['id']}/decision",
            ),
        ),
        (
            "customer decision",
            {"approved": False, "quote_version": quote["version"]},
            customer(f"/extra-work/{quote['id']}/decision"),
        ),
        (
            "survey",
            {"rating": 5, "comment": "好"},
            lambda body: rest.send(
                "POST", f"/api/v1/track/{customer_token(delivered)}/survey", body, role=None
            ),
        ),
        (
            "follow-up",
            {"outcome": "reached", "note": "ok"},
            api("POST", f"/desk/api/orders/{delivered['id']}/follow-ups", "advisor"),
        ),
        (
            "customer link",
            {"reason": "丢了"},
            api("POST", f"/desk/api/orders/{started['id']}/customer-link", "advisor"),
        ),
        (
            "handover",
            rest.handover_body(ready),
            api("POST", f"/desk/api/orders/{ready['id']}/handover", "advisor"),
        ),
        ("kiosk start", {"version": mine["version"]}, tap(mine, "start")),
        ("kiosk clock-on", {"version": mine["version"]}, tap(mine, "clock-on")),
        (
            "kiosk parts",
            {"version": mine["version"], "reason": "刹车片"},
            tap(mine, "parts"),
        ),
        ("kiosk pass", {"version": checked["version"]}, tap(checked, "pass")),
        (
            "photo (JSON)",
            {"photo": photo},
            api("POST", f"{quotes}/{quote['id']}/photo"),
        ),
    ]


def test_every_json_endpoint_refuses_a_field_it_does_not_take(rest: Rest) -> None:
    """The same body with one surprise field is refused (422 naming it) and
    changes nothing; without it the endpoint gets past the body (no 422
    about fields)."""
    for name, body, send in _endpoints(rest):
        before = rest.last_seq()
        status, answer = send({**body, "surprise": True})
        assert status == 422, (name, answer)
        assert answer["field"] == "surprise", (name, answer)
        assert rest.last_seq() == before, name
        status, answer = send(body)
        assert status < 500, (name, answer)
        assert status != 422 or answer["field"] == "photo", (name, answer)


def test_the_kiosk_login_and_pairing_take_their_text_through_the_rule(rest: Rest) -> None:
    status, answer = rest.send("POST", "/api/v1/devices/pairing", {"kind": "kiosk\u202e"})
    assert (status, answer["field"]) == (422, "kind")
    status, answer = rest.send(
        "POST", "/api/v1/devices/pairing/poll", raw=b'{"device_code":"\\udc00"}'
    )
    assert (status, answer["field"]) == (422, "device_code")


def test_the_pairing_and_the_kiosk_login_refuse_a_field_they_do_not_take(rest: Rest) -> None:
    """The endpoints that run no command check their bodies the same way."""
    status, answer = rest.send("POST", "/api/v1/devices/pairing", {"kind": "board", "x": 1})
    assert (status, answer["field"]) == (422, "x")
    started = devices.start_pairing(rest.core, "kiosk")
    status, answer = rest.send(
        "POST", "/api/v1/devices/pairing/poll", {"device_code": started.device_code, "x": 1}
    )
    assert (status, answer["field"]) == (422, "x")
    devices.approve_pairing(
        rest.core, started.user_code, kind="kiosk", name="平板", shop_id=rest.shop.shop_id
    )
    device = devices.poll_pairing(rest.core, started.device_code)["device_token"]
    status, answer = rest.send(
        "POST", "/kiosk/api/login", {"badge": "1001", "pin": "1234", "x": 1}, bearer=device
    )
    assert (status, answer["field"]) == (422, "x")


# ---------------------------------------------------------------- times


EXTREMES = [
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59+00:00",
    "0001-01-01T00:00:00-00:01",
    "2300-01-01T00:00:00+08:00",
    "1990-01-01T00:00:00+08:00",
]


def test_extreme_promised_times_are_refused(rest: Rest) -> None:
    for promised in EXTREMES:
        answer = rest.send("POST", "/api/v1/orders", _order(promised_at=promised), role="advisor")
        assert_refused(answer, "promised_at")


def test_the_window_is_five_years_around_the_apps_clock(rest: Rest, core: Core) -> None:
    now = datetime(2040, 3, 1, 4, 0, tzinfo=UTC)
    core.clock = lambda: now

    def promise(when: datetime) -> tuple[int, Any]:
        body = _order(plate=f"粤B{when.year}{when.month:02d}"[:9], promised_at=when.isoformat())
        return rest.send("POST", "/api/v1/orders", body, role="advisor")

    assert promise(now + timedelta(days=4 * 365))[0] == 201
    assert promise(now - timedelta(days=4 * 365))[0] == 201
    assert_refused(promise(now + timedelta(days=6 * 365)), "promised_at")
    assert_refused(promise(now - timedelta(days=6 * 365)), "promised_at")
    # A time that was fine by the machine's clock is refused by the app's.
    assert_refused(promise(datetime(2030, 1, 7, 9, 0, tzinfo=UTC)), "promised_at")


def test_not_a_timestamp_is_refused(rest: Rest) -> None:
    for promised, field in [("tomorrow", "promised_at"), ("2030-01-07T17:00:00", "promised_at")]:
        answer = rest.send("POST", "/api/v1/orders", _order(promised_at=promised), role="advisor")
        assert_refused(answer, field)


def test_numbers_must_be_finite(rest: Rest) -> None:
    raw = b'{"plate":"\\u7ca4B12345","items":[{"title":"x","labour_hours":NaN}]}'
    assert_refused(rest.send("POST", "/api/v1/orders", raw=raw, role="advisor"), "body")
    raw = b'{"plate":"\\u7ca4B12345","items":[{"title":"x","labour_hours":1e999}]}'
    assert_refused(
        rest.send("POST", "/api/v1/orders", raw=raw, role="advisor"), "items[0].labour_hours"
    )


# ---------------------------------------------------------------- forms, CLI


def test_the_form_validator_applies_the_rule(app: Any) -> None:
    from wtforms import Form, StringField
    from wtforms.validators import DataRequired

    from shared.web.form_text import StoredText

    class Named(Form):  # type: ignore[misc]
        name = StringField("name", validators=[DataRequired(), StoredText()])
        note = StringField("note", validators=[StoredText(multiline=True)])

    class Data(dict[str, list[str]]):
        def getlist(self, key: str) -> list[str]:
            return self.get(key, [])

    with app.test_request_context():
        assert Named(Data(name=["张三"], note=["a\nb"])).validate()
        form = Named(Data(name=["\u202e张三"], note=["ok"]))
        assert not form.validate() and form.errors["name"]
        form = Named(Data(name=["张三"], note=["a\rb"]))
        assert not form.validate() and form.errors["note"]


def _cli(
    database: str, tmp: Any, *args: str | bytes, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("BAYLIGHT_")}
    env.update(BAYLIGHT_DATABASE_URL=database, BAYLIGHT_INSTANCE_PATH=str(tmp))
    return subprocess.run(
        [sys.executable, "-m", "shared.entrypoint", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        timeout=120,
    )


def test_cli_arguments_follow_the_rule(core: Core, shop: Shop, tmp_path: Any) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates; a stray
    control character is typed by accident. Both exit 2, naming the argument,
    and store nothing."""
    database = core.settings.database_url

    def users() -> int:
        with core.db.read() as session:
            return int(session.execute(select(func.count()).select_from(StaffUser)).scalar_one())

    before = users()
    for name in (b"bad\xffname", "bad\u202ename".encode()):
        done = _cli(database, tmp_path, "create-user", "--role", "advisor", "--name", name)
        assert done.returncode == 2, done
        assert b"--name" in done.stderr, done.stderr
    done = _cli(
        database, tmp_path, "create-user", "--role", "advisor", "--name", "好人", "--badge", "\x07"
    )
    assert done.returncode == 2 and b"--badge" in done.stderr, done
    for password in (b"secret\x1b[0m\n", b"se\xffcret\n"):
        done = _cli(
            database,
            tmp_path,
            *("create-user", "--role", "advisor", "--name", "好人", "--password-stdin"),
            stdin=password,
        )
        assert done.returncode == 2 and b"password" in done.stderr, done
    assert users() == before
    done = _cli(database, tmp_path, "create-user", "--role", "advisor", "--name", "好人")
    assert done.returncode == 0, done
    assert users() == before + 1


def test_answers_stay_strict_json(rest: Rest) -> None:
    """A refusal never echoes what it refuses in a way that breaks the answer."""
    raw = json.dumps({"plate": "粤B12345", "\udc00\u202e" * 50: 1}).encode()
    status, answer = rest.send("POST", "/api/v1/orders", raw=raw, role="advisor")
    assert status == 422 and len(answer["field"]) < 400
