"""REST v1 for comebacks and the labour-integrity report (issue 16), over
HTTP through the real app (Flask test client, real SQLite, real services):

- ``POST /api/v1/orders/{id}/comeback`` and ``…/comeback/withdrawal``: the
  Idempotency-Key replays, a stale version is 409 with the order as it is,
  each refusal is said in the reader's language and changes nothing, roles;
- ``GET …/comeback-candidates``; the shop setting ``comeback_days`` through
  ``PATCH /api/v1/shop`` and the /admin/shop form;
- ``GET /api/v1/reports/labour-exceptions`` and ``.csv``: the same lines as
  the service, the CSV read back with the csv module (byte-order mark,
  header in the reader's language, formula payloads escaped), the roles,
  the range checked, and a GET that leaves every clock segment as it was.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.persistence.models import LabourSegment, OrderEvent
from shared.services import labour, setup, shop_profile
from shared.services.auth import create_api_token
from shared.services.core import Core
from tests.conftest import HandClock, seed_shop
from tests.reception.flow import Workshop, flask_call
from tests.staff_sessions import sign_in_as

START = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)  # Monday 10:00 in Asia/Shanghai
PLATE = "粤B12345"


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(START)
    core.clock = fixed
    return fixed


@pytest.fixture
def workshop(client: Any, shop: Any) -> Workshop:
    return Workshop(flask_call(client), shop)


@pytest.fixture
def visits(workshop: Workshop, clock: HandClock) -> tuple[dict[str, Any], dict[str, Any]]:
    """A visit delivered on Monday, the same car back on Thursday."""
    first = workshop.hand_over(workshop.finish(workshop.start(workshop.create(plate=PLATE))))
    clock.advance(days=3)
    return dict(first), workshop.create(plate=PLATE)


def log_size(core: Core) -> int:
    with core.db.read() as session:
        return int(session.execute(select(func.count()).select_from(OrderEvent)).scalar_one())


def post(client: Any, shop: Any, path: str, body: Any, role: str = "advisor", **more: Any) -> Any:
    key = more.pop("key", None)
    lang = more.pop("lang", "en")
    return client.post(f"{path}?lang={lang}", json=body, headers=shop.headers(role, key=key))


def test_flag_replay_and_withdrawal_over_http(
    client: Any, shop: Any, core: Core, visits: Any
) -> None:
    first, back = visits
    path = f"/api/v1/orders/{back['id']}/comeback"
    body = {"of_order_id": first["id"], "note": "空调不制冷", "version": back["version"]}
    answer = post(client, shop, path, body, key="cb-http-1")
    assert answer.status_code == 200, answer.get_json()
    mark = answer.get_json()["comeback"]
    assert (mark["of_order_id"], mark["of_number"], mark["days"], mark["note"]) == (
        first["id"],
        first["number"],
        3,
        "空调不制冷",
    )
    size = log_size(core)
    replay = post(client, shop, path, body, key="cb-http-1")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.get_json() == answer.get_json() and log_size(core) == size
    reuse = post(client, shop, path, {**body, "note": "别的"}, key="cb-http-1")
    assert reuse.status_code == 422 and reuse.get_json()["code"] == "idempotency_key_reuse"

    listed = client.get(
        f"/api/v1/orders/{back['id']}/comeback-candidates", headers=shop.headers("foreman")
    ).get_json()
    assert listed["comeback"] == mark and listed["candidates"][0]["order_id"] == first["id"]

    version = answer.get_json()["order"]["version"]
    # The version the caller saw: an older one is 409 with the order now.
    stale = post(
        client, shop, f"{path}/withdrawal", {"reason": "标错", "version": version - 1}
    ).get_json()
    assert stale["code"] == "stale_version" and stale["order"]["version"] == version
    withdrawn = post(client, shop, f"{path}/withdrawal", {"reason": "标错", "version": version})
    assert withdrawn.status_code == 200 and withdrawn.get_json()["comeback"] is None
    none_left = post(client, shop, f"{path}/withdrawal", {"reason": "再撤", "version": version + 1})
    assert none_left.status_code == 409 and none_left.get_json()["code"] == "not_flagged"
    assert log_size(core) == size + 1


def test_the_fault_and_the_reason_may_take_several_lines(
    client: Any, shop: Any, core: Core, visits: Any
) -> None:
    """The document and the web layer take multi-line text for both; the
    service refused a line feed (422 "control character U+000A")."""
    first, back = visits
    path = f"/api/v1/orders/{back['id']}/comeback"
    note = "空调不制冷\n出风口有异味"
    flagged = post(
        client, shop, path, {"of_order_id": first["id"], "note": note, "version": back["version"]}
    )
    assert flagged.status_code == 200, flagged.get_json()
    assert flagged.get_json()["comeback"]["note"] == note
    version = flagged.get_json()["order"]["version"]
    reason = "标错了\n是另一台车"
    withdrawn = post(client, shop, f"{path}/withdrawal", {"reason": reason, "version": version})
    assert withdrawn.status_code == 200, withdrawn.get_json()
    with core.db.read() as session:
        newest = select(OrderEvent.type, OrderEvent.data).where(OrderEvent.order_id == back["id"])
        kind, data = session.execute(newest.order_by(OrderEvent.seq.desc()).limit(1)).one()
    assert kind == "comeback_unflagged" and data["reason"] == reason


def test_refusals_are_said_in_the_readers_language_and_change_nothing(
    client: Any, shop: Any, core: Core, workshop: Workshop, visits: Any
) -> None:
    first, back = visits
    other_car = workshop.create(plate="粤B99999")
    path = f"/api/v1/orders/{back['id']}/comeback"
    size = log_size(core)

    def refused(of: int, lang: str, **more: Any) -> dict[str, Any]:
        body = {"of_order_id": of, "note": "异响", "version": back["version"], **more}
        answer = post(client, shop, path, body, lang=lang)
        assert answer.mimetype == "application/problem+json"
        assert log_size(core) == size
        return dict(answer.get_json(), status=answer.status_code)

    plate = refused(other_car["id"], "zh_Hans")
    assert (plate["status"], plate["code"], plate["field"]) == (
        422,
        "validation_error",
        "of_order_id",
    )
    assert plate["detail"] == f"{other_car['number']} 号工单是另一辆车（粤B99999）。"
    unknown = refused(999_999, "zh_Hant")
    assert unknown["field"] == "of_order_id" and "999999" in unknown["detail"]
    blank = refused(first["id"], "en", note="   ")
    assert blank["field"] == "note" and blank["detail"] == "Note is required."
    assert post(client, shop, path, {"of_order_id": first["id"], "version": 1}).status_code == 422
    for role, status in (("technician", 403), ("display-board", 403), ("foreman", 403)):
        body = {"of_order_id": first["id"], "note": "x", "version": back["version"]}
        assert post(client, shop, path, body, role=role).status_code == status
    assert client.post(path, json={}).status_code == 401

    marked = post(client, shop, path, {"of_order_id": first["id"], "note": "异响", "version": 0})
    assert marked.status_code == 409 and marked.get_json()["code"] == "stale_version"
    version = back["version"]
    ok = post(client, shop, path, {"of_order_id": first["id"], "note": "异响", "version": version})
    assert ok.status_code == 200
    size = log_size(core)
    twice = post(
        client,
        shop,
        path,
        {"of_order_id": first["id"], "note": "异响", "version": version + 1},
        lang="zh_Hans",
    ).get_json()
    assert twice["code"] == "already_flagged" and twice["title"] == "已标记为返修"
    assert twice["comeback"]["of_order_id"] == first["id"]
    assert twice["order"]["version"] == version + 1 and log_size(core) == size


def test_another_shops_orders_are_unknown(client: Any, shop: Any, core: Core, visits: Any) -> None:
    first, back = visits
    other = seed_shop(core, slug="other")
    theirs = Workshop(flask_call(client), other).create(plate=PLATE)
    # Their advisor names our delivered visit: no such order in their shop.
    answer = post(
        client,
        other,
        f"/api/v1/orders/{theirs['id']}/comeback",
        {"of_order_id": first["id"], "note": "x", "version": theirs["version"]},
    )
    assert answer.status_code == 422 and answer.get_json()["field"] == "of_order_id"
    # Our order through their credential: not found, for the flag and the read.
    mine = post(
        client,
        other,
        f"/api/v1/orders/{back['id']}/comeback",
        {"of_order_id": first["id"], "note": "x", "version": back["version"]},
    )
    assert mine.status_code == 404
    read = client.get(
        f"/api/v1/orders/{back['id']}/comeback-candidates", headers=other.headers("advisor")
    )
    assert read.status_code == 404
    # Their car with our plate has no candidates: our visits are not theirs.
    listed = client.get(
        f"/api/v1/orders/{theirs['id']}/comeback-candidates", headers=other.headers("advisor")
    ).get_json()
    assert listed["candidates"] == []


def test_the_setting_through_rest_and_the_admin_page(client: Any, shop: Any, core: Core) -> None:
    profile = client.get("/api/v1/shop", headers=shop.headers("admin")).get_json()
    assert profile["comeback_days"] == 30
    wrong = client.patch(
        "/api/v1/shop?lang=zh_Hans",
        json={"version": profile["version"], "comeback_days": 0},
        headers=shop.headers("admin"),
    ).get_json()
    assert (
        wrong["field"] == "comeback_days"
        and wrong["detail"] == "返修统计期限为交车后 1 至 365 天。"
    )
    changed = client.patch(
        "/api/v1/shop",
        json={"version": profile["version"], "comeback_days": 45},
        headers=shop.headers("admin"),
    ).get_json()
    assert changed["comeback_days"] == 45 and changed["version"] == profile["version"] + 1
    stale = client.patch(
        "/api/v1/shop",
        json={"version": profile["version"], "comeback_days": 10},
        headers=shop.headers("admin"),
    )
    assert stale.status_code == 409 and stale.get_json()["shop"]["comeback_days"] == 45

    admin = setup.create_user(
        core, shop.shop_id, role="admin", name="店长", password="admin-pass-1"
    )
    sign_in_as(client, admin)
    page = client.get("/admin/shop?lang=zh_Hans").get_data(as_text=True)
    box = re.search(r'<input[^>]*name="comeback_days"[^>]*>', page)
    assert box and 'value="45"' in box.group(0) and 'min="1"' in box.group(0)
    assert "返修统计期限" in page
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="checkbox"' not in tag:
            fields[name.group(1)] = value.group(1) if value else ""
    saved = client.post("/admin/shop", data={**fields, "comeback_days": "14"})
    assert saved.status_code == 303, saved.get_data(as_text=True)[:500]
    assert shop_profile.profile(core, shop.shop_id)["comeback_days"] == 14
    page = client.get("/admin/shop").get_data(as_text=True)
    fields["version"] = re.findall(r'name="version"[^>]*value="(\d+)"', page)[0]
    refused = client.post("/admin/shop?lang=en", data={**fields, "comeback_days": "400"})
    assert refused.status_code == 422
    assert "A comeback is counted within 1 to 365 days" in refused.get_data(as_text=True)
    assert shop_profile.profile(core, shop.shop_id)["comeback_days"] == 14


# ---------------------------------------------------------------- labour integrity


def segments(core: Core) -> list[tuple[Any, ...]]:
    with core.db.read() as session:
        rows = session.execute(select(LabourSegment).order_by(LabourSegment.id)).scalars()
        return [(s.id, s.order_id, s.started_at, s.ended_at, s.end_reason, s.flagged) for s in rows]


@pytest.fixture
def forgotten_clock(client: Any, shop: Any, core: Core, clock: HandClock) -> dict[str, Any]:
    """Monday 10:00: a technician whose name is a spreadsheet formula starts
    a one-hour job and leaves its clock running; the clock now reads
    Tuesday 09:00 (the shift ended at 18:00)."""
    evil = setup.create_user(
        core,
        shop.shop_id,
        role="technician",
        name='=HYPERLINK("http://x","看")',
        badge="6001",
        pin="6001",
    )
    shop.tokens["evil"] = create_api_token(
        core, shop_id=shop.shop_id, role="technician", name="evil", user_id=evil
    )
    workshop = Workshop(flask_call(client), shop)
    order = workshop.create(plate="粤B10001")
    path = f"/api/v1/orders/{order['id']}"
    body = {"bay": "B01", "technicians": [evil], "version": order["version"]}
    order = workshop._do("PUT", f"{path}/assignment", body, "foreman")
    move = {"to": "in_progress", "version": order["version"]}
    order = workshop._do("POST", f"{path}/transitions", move, "evil")
    clock.now = START + timedelta(hours=23)
    return {"order": order, "technician": evil}


def test_the_report_as_json_and_csv_and_no_get_writes(
    client: Any, shop: Any, core: Core, forgotten_clock: dict[str, Any]
) -> None:
    before = segments(core)
    assert [s[3] for s in before] == [None]  # running, past the shift end
    query = "from=2026-05-03&to=2026-05-05"
    answer = client.get(
        f"/api/v1/reports/labour-exceptions?{query}", headers=shop.headers("manager")
    )
    assert answer.status_code == 200
    found = answer.get_json()
    assert (found["from"], found["to"]) == ("2026-05-03", "2026-05-05")
    expected = labour.exceptions_between(
        core, shop.shop_id, datetime(2026, 5, 3).date(), datetime(2026, 5, 5).date()
    )
    assert found["exceptions"] == expected
    assert [(e["day"], e["kind"]) for e in expected] == [
        ("2026-05-04", "shift_end"),
        ("2026-05-04", "overrun"),
    ]

    export = client.get(
        f"/api/v1/reports/labour-exceptions.csv?{query}&lang=zh_Hans",
        headers=shop.headers("foreman"),
    )
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "attachment" in export.headers["Content-Disposition"]
    text = export.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == [
        "日期",
        "异常",
        "受理号码",
        "车牌",
        "维修技师",
        "实际工时",
        "标准工时",
        "工单编号",
        "异常代码",
    ]
    order = forgotten_clock["order"]
    assert rows[1:] == [
        [
            "2026-05-04",
            "下班时工时计时未停止",
            str(order["number"]),
            "粤B10001",
            '\'=HYPERLINK("http://x","看")',
            "8.0",
            "",
            str(order["id"]),
            "shift_end",
        ],
        [
            "2026-05-04",
            "超过标准工时 2 倍",
            str(order["number"]),
            "粤B10001",
            '\'=HYPERLINK("http://x","看")',
            "8.0",
            "1.0",
            str(order["id"]),
            "overrun",
        ],
    ]
    # Neither read closed the forgotten clock: closing is the command's.
    assert segments(core) == before


def test_the_report_refuses_as_documented(
    client: Any, shop: Any, forgotten_clock: dict[str, Any]
) -> None:
    path = "/api/v1/reports/labour-exceptions"
    ok = "from=2026-05-04&to=2026-05-04"
    for role, status in (
        ("admin", 200),
        ("manager", 200),
        ("foreman", 200),
        ("advisor", 403),
        ("technician", 403),
        ("display-board", 403),
    ):
        for suffix in ("", ".csv"):
            got = client.get(f"{path}{suffix}?{ok}", headers=shop.headers(role))
            # Read to its end: a streamed answer holds its request's context
            # until then (a server always reads it to the end).
            got.get_data()
            assert got.status_code == status, (role, suffix)
    assert client.get(f"{path}?{ok}").status_code == 401

    def field(query: str) -> str:
        answer = client.get(f"{path}.csv?{query}", headers=shop.headers("manager"))
        assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
        return str(answer.get_json()["field"])

    assert field("to=2026-05-04") == "from"
    assert field("from=2026-05-04") == "to"
    assert field("from=2026-13-01&to=2026-05-04") == "from"
    assert field("from=2026-05-04&to=2026-05-03") == "to"
    assert field("from=2025-01-01&to=2026-05-04") == "to"
