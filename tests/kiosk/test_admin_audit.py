"""The audit log (issue 14, item 7) through the real app and SQLite: every
command's event with who, what, when and from where, filtered by order,
person and the shop's calendar day, a page at a time, and as CSV that no
spreadsheet runs as a formula; admin and manager only, another shop's ids
unknown."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.services import audit, setup
from shared.services.auth import create_api_token
from shared.services.core import Core
from tests.conftest import HandClock, Shop, seed_shop
from tests.kiosk.conftest import Api
from tests.kiosk.test_kiosk_login import login, pair_kiosk

# 23:30 on 1 March in Shanghai is 15:30 UTC; an hour later it is 2 March
# there and still 1 March in UTC.
BEFORE_MIDNIGHT = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
PASSWORD = "audit-pass-1"


def audit_json(client: Any, shop: Shop, role: str = "admin", **query: Any) -> Any:
    return client.get("/api/v1/audit", query_string=query, headers=shop.headers(role))


def test_filters_by_order_person_and_the_shops_day_across_midnight(
    client: Any, core: Core, shop: Shop
) -> None:
    clock = HandClock(BEFORE_MIDNIGHT)
    core.clock = clock
    api = Api(shop, client=client)
    late = api.create("粤B10001")
    clock.now = AFTER_MIDNIGHT
    early = api.create("粤B10002")
    api.assign(early, [shop.technicians[0]])

    def seqs(**query: Any) -> list[tuple[int, str]]:
        reply = audit_json(client, shop, **query)
        assert reply.status_code == 200, reply.get_json()
        return [(e["order_id"], e["type"]) for e in reply.get_json()["events"]]

    # Shanghai's 1 March ends at 16:00 UTC: the second order is on 2 March.
    assert seqs(day="2026-03-01") == [(late["id"], "order_created")]
    # A dispatch is two events: the stage change and the assignment.
    dispatched = [(early["id"], "stage_changed"), (early["id"], "assigned")]
    assert seqs(day="2026-03-02") == [*dispatched, (early["id"], "order_created")]
    assert seqs(day="2026-02-28") == []
    # By order; newest first.
    assert seqs(order_id=early["id"]) == [*dispatched, (early["id"], "order_created")]
    # By person: the foreman token dispatched, the advisor token opened both.
    tokens = client.get("/api/v1/tokens", headers=shop.headers()).get_json()["tokens"]
    ids = {t["name"]: t["id"] for t in tokens}
    assert seqs(actor=f"token:{ids['test foreman']}") == dispatched
    assert [t for _o, t in seqs(actor=f"token:{ids['test advisor']}")] == ["order_created"] * 2
    # All three at once.
    assert seqs(order_id=early["id"], actor=f"token:{ids['test advisor']}", day="2026-03-02") == [
        (early["id"], "order_created")
    ]
    event = audit_json(client, shop, order_id=early["id"]).get_json()["events"][1]
    assert event["actor_name"] == "test foreman" and event["via"] == "token"
    assert event["data"]["bay"] == "B01" and event["plate"] == "粤B10002"
    assert event["at"].startswith("2026-03-01T16:30")


def test_a_person_is_found_under_their_own_sign_in_and_their_tokens_with_the_kiosk(
    client: Any, core: Core, shop: Shop
) -> None:
    """A technician's taps on a kiosk are recorded as the technician; the
    audit names the kiosk they were signed in on then. A token made for the
    same person counts as theirs."""
    api = Api(shop, client=client)
    order = api.assign(api.create("粤B20001"), [shop.technicians[0]])
    kiosk = pair_kiosk(core, shop.shop_id, name="二号工位平板")
    signed = login(client, kiosk, "1001", "1234").get_json()["token"]
    tapped = client.post(
        f"/kiosk/api/orders/{order['id']}/start",
        json={"version": order["version"]},
        headers={"Authorization": f"Bearer {signed}"},
    )
    assert tapped.status_code == 200, tapped.get_json()
    paused = api.move(tapped.get_json(), "paused", pause_reason="other", reason="等钥匙")
    assert paused[0] == 200, paused

    wang = f"user:{shop.technicians[0]}"
    events = audit_json(client, shop, actor=wang).get_json()["events"]
    # The pause came through the technician's own token (user-bound), the
    # start through the kiosk sign-in.
    assert [(e["type"], e["actor"].split(":")[0]) for e in events] == [
        ("pause_reason_added", "token"),
        ("stage_changed", "token"),
        ("stage_changed", "user"),
    ]
    started = events[-1]
    assert started["via"] == "staff" and started["actor_name"] == "王师傅"
    assert started["device"]["name"] == "二号工位平板"
    assert all(e["device"] is None for e in events[:2])
    # Everyone else did not do these.
    li = f"user:{shop.technicians[1]}"
    assert audit_json(client, shop, actor=li).get_json()["events"] == []


def test_pages_follow_the_cursor_to_the_end(client: Any, shop: Shop) -> None:
    api = Api(shop, client=client)
    for n in range(5):
        api.create(f"粤B3000{n}")
    seen: list[int] = []
    before: int | None = None
    for _ in range(3):
        query = {"limit": 2, **({"before": before} if before else {})}
        page = audit_json(client, shop, **query).get_json()
        seen += [e["seq"] for e in page["events"]]
        before = page["next_before"]
    assert before is None
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 5


def test_refusals_non_admins_other_shops_and_bad_filters(
    client: Any, core: Core, shop: Shop
) -> None:
    other = seed_shop(core, slug="other")
    theirs = Api(other, client=client).create("粤B40001")
    for role in ("advisor", "foreman", "technician", "display-board", "display-lounge"):
        assert audit_json(client, shop, role).status_code == 403, role
    assert client.get("/api/v1/audit").status_code == 401
    assert audit_json(client, shop, role="manager").status_code == 200
    # Another shop's order, person and token are as unknown as missing ones.
    for query in (
        {"order_id": theirs["id"]},
        {"actor": f"user:{other.technicians[0]}"},
        {"actor": "token:999999"},
        {"order_id": 999_999},
    ):
        refused = audit_json(client, shop, **query)
        assert refused.status_code == 404, query
        assert refused.get_json()["code"] == "not_found"
    for field, value in (
        ("day", "2026-13-01"),
        ("order_id", "abc"),
        ("limit", "500"),
        ("actor", "someone"),
        ("format", "xlsx"),
    ):
        refused = audit_json(client, shop, **{field: value})
        assert refused.status_code == 422, field
        assert refused.get_json()["field"] == field
    # Their events never show in ours, even unfiltered.
    assert theirs["id"] not in {
        e["order_id"] for e in audit_json(client, shop).get_json()["events"]
    }


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_a_spreadsheet_would_run_gets_an_apostrophe(start: str) -> None:
    assert audit.escape_cell(f"{start}1+1") == f"'{start}1+1"
    assert audit.escape_cell("粤B12345") == "粤B12345"
    assert audit.escape_cell(42) == 42


def test_csv_export_escapes_formulas_keeps_the_filters_and_leaves_out_customers(
    client: Any, core: Core, shop: Shop
) -> None:
    """Token names are typed by people: one that starts like a formula
    reaches the export as text. The customer's phone and name never do."""
    formulas = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)"]
    for name in formulas:
        shop.tokens[name] = create_api_token(core, shop_id=shop.shop_id, role="advisor", name=name)
        reply = client.post(
            "/api/v1/orders",
            json={"plate": "粤B50001", "customer": {"name": "欧阳先生", "phone": "13912345678"}},
            headers=shop.headers(name),
        )
        assert reply.status_code == 201
    exported = client.get("/api/v1/audit", query_string={"format": "csv"}, headers=shop.headers())
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    text = exported.get_data(as_text=True)
    assert text.startswith("\ufeff")
    assert "13912345678" not in text and "欧阳" not in text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["actor_name"] for r in rows] == [f"'{name}" for name in reversed(formulas)]
    assert all(r["event"] == "order_created" and r["plate"] == "粤B50001" for r in rows)
    # Times on the shop's clock, with its offset.
    assert all(r["time"].endswith("+08:00") for r in rows)
    # The filters hold in the export too.
    one = client.get(
        "/api/v1/audit",
        query_string={"format": "csv", "order_id": rows[0]["order_id"]},
        headers=shop.headers(),
    ).get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(one.lstrip("\ufeff"))))) == 1
    unknown = client.get(
        "/api/v1/audit", query_string={"format": "csv", "order_id": 999_999}, headers=shop.headers()
    )
    assert unknown.status_code == 404


def _signed_in(client: Any, shop: Shop, role: str = "manager") -> None:
    name = f"审计{role}"
    setup.create_user(shop.core, shop.shop_id, role=role, name=name, password=PASSWORD)
    page = client.get(f"/login?shop={shop.slug}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    reply = client.post(
        f"/login?shop={shop.slug}",
        data={"shop": shop.slug, "name": name, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert reply.status_code in (302, 303), reply.get_data(as_text=True)


def test_the_page_lists_filters_and_exports(client: Any, shop: Shop) -> None:
    api = Api(shop, client=client)
    first, second = api.create("粤B60001"), api.create("粤B60002")
    assert client.get("/admin/audit").headers["Location"].startswith("/login")
    _signed_in(client, shop)
    page = client.get("/admin/audit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-order-id="{first["id"]}"' in html and f'data-order-id="{second["id"]}"' in html
    assert 'aria-current="page">' in html
    filtered = client.get(f"/admin/audit?order_id={first['id']}").get_data(as_text=True)
    assert f'data-order-id="{first["id"]}"' in filtered
    assert f'data-order-id="{second["id"]}"' not in filtered
    export = client.get(f"/admin/audit.csv?order_id={first['id']}")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["plate"], r["event"]) for r in rows] == [("粤B60001", "order_created")]
    assert client.get("/admin/audit?order_id=999999").status_code == 404
    assert client.get("/admin/audit?day=yesterday").status_code == 400


def test_the_page_is_for_admins_and_managers_only(client: Any, shop: Shop) -> None:
    _signed_in(client, shop, role="advisor")
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403


# ------------------------------------------------------------ administration records


def test_csv_export_holds_administration_records_escaped(
    client: Any, core: Core, shop: Shop
) -> None:
    """An admin token named like a formula adds a bay and changes the shop:
    its name reaches the export as text, the bay's name only inside the
    details' JSON (a cell that starts with "{")."""
    name = '=HYPERLINK("http://x")'
    shop.tokens[name] = create_api_token(core, shop_id=shop.shop_id, role="admin", name=name)
    added = client.post(
        "/api/v1/bays", json={"code": "X01", "name": "@SUM(A1)"}, headers=shop.headers(name)
    )
    assert added.status_code == 201
    version = client.get("/api/v1/shop", headers=shop.headers()).get_json()["version"]
    changed = client.patch(
        "/api/v1/shop", json={"version": version, "hotline": "-400"}, headers=shop.headers(name)
    )
    assert changed.status_code == 200
    Api(shop, client=client).create("粤B70001")

    def export(**query: str) -> list[dict[str, str]]:
        reply = client.get(
            "/api/v1/audit", query_string={"format": "csv", **query}, headers=shop.headers()
        )
        assert reply.status_code == 200
        return list(csv.DictReader(io.StringIO(reply.get_data(as_text=True).lstrip("\ufeff"))))

    rows = export()
    assert [(r["source"], r["event"]) for r in rows] == [
        ("order", "order_created"),
        ("admin", "shop_changed"),
        ("admin", "bay_added"),
    ]
    shop_row, bay_row = rows[1], rows[2]
    assert bay_row["actor_name"] == f"'{name}" and bay_row["target"] == "bay:X01"
    assert bay_row["seq"] == bay_row["order_id"] == bay_row["plate"] == ""
    assert bay_row["via"] == "token" and bay_row["actor"].startswith("token:")
    details = bay_row["details"]
    assert details.startswith("{") and '"name": "@SUM(A1)"' in details
    assert '"hotline": {"new": "-400", "old": ""}' in shop_row["details"]
    assert all(not cell.startswith(audit.FORMULA_STARTS) for r in rows for cell in r.values())
    # The kind filter holds in the export too.
    assert [r["event"] for r in export(kind="admin")] == ["shop_changed", "bay_added"]
    assert [r["event"] for r in export(kind="order")] == ["order_created"]


def test_the_page_describes_administration_records_in_each_language(
    app: Any, client: Any, shop: Shop
) -> None:
    from flask_babel import force_locale
    from flask_babel import gettext as babel_text

    added = client.post(
        "/api/v1/bays",
        json={"code": "X02", "name": "快修位", "kind": "quick"},
        headers=shop.headers(),
    )
    assert added.status_code == 201
    staff = client.get("/api/v1/staff", headers=shop.headers()).get_json()["staff"]
    wang = next(p for p in staff if p["id"] == shop.technicians[0])
    gone = client.patch(
        f"/api/v1/staff/{wang['id']}",
        json={"version": wang["version"], "active": False},
        headers=shop.headers(),
    )
    assert gone.status_code == 200
    Api(shop, client=client).create("粤B80001")
    _signed_in(client, shop)

    english = client.get("/admin/audit?lang=en").get_data(as_text=True)
    rows = re.findall(r'<tr class="admin-event"[^>]*>.*?</tr>', english, re.S)
    assert len(rows) == 2
    deactivated, bay = rows
    assert 'data-type="staff_deactivated"' in deactivated
    assert f"Staff member {wang['name']}" in deactivated
    assert "Staff member deactivated" in deactivated and "yes → no" in deactivated
    assert "test admin" in deactivated and "API token" in deactivated
    assert 'data-target="bay:X02"' in bay and "Bay X02" in bay and "Bay added" in bay
    assert "Quick service" in bay and "Cars: 1" in bay
    assert 'data-order-id="' in english  # the order's event beside them
    only_admin = client.get("/admin/audit?kind=admin").get_data(as_text=True)
    assert 'id="filter-kind"' in only_admin and 'value="admin" selected' in only_admin
    assert only_admin.count('class="admin-event"') == 2 and "data-order-id" not in only_admin
    assert 'href="/admin/audit.csv?kind=admin"' in only_admin

    for lang in ("zh_Hans", "zh_Hant", "en"):
        page = client.get(f"/admin/audit?lang={lang}").get_data(as_text=True)
        with app.test_request_context(), force_locale(lang):
            words = [babel_text("Staff member deactivated"), babel_text("Bay added")]
            words.append(babel_text("Administration"))
        for word in words:
            assert word in page, (lang, word)


def test_days_at_the_ends_of_the_calendar_and_empty_filters(client: Any, shop: Shop) -> None:
    """A Shanghai 1 January of year 1 starts before the first instant a
    datetime holds (it was a server error); an empty field, as the page's
    form sends it, is no filter."""
    start, end = audit.day_bounds(date(1, 1, 1), "Asia/Shanghai")
    assert start == datetime.min.replace(tzinfo=UTC) and end.year == 1
    start, end = audit.day_bounds(date(9999, 12, 31), "America/New_York")
    assert start.year == 9999 and end == datetime.max.replace(tzinfo=UTC)
    for day in ("0001-01-01", "9999-12-31"):
        assert audit_json(client, shop, day=day).status_code == 200
    Api(shop, client=client).create("粤B90001")
    empty = {"order_id": "", "actor": "", "day": "", "kind": "", "before": "", "limit": ""}
    reply = audit_json(client, shop, **empty)
    assert reply.status_code == 200 and len(reply.get_json()["events"]) == 1
    # A CSV export checks a cursor and a limit sent with it, and leaves them aside.
    assert audit_json(client, shop, format="csv", before="o1", limit=1).status_code == 200
    assert audit_json(client, shop, format="csv", limit=500).status_code == 422


def test_an_inspection_is_named_in_the_shops_words_not_by_its_code(client: Any, shop: Shop) -> None:
    from tests.request_flow import Rest

    rest = Rest(client, shop, shop.core)
    order = rest.move(rest.started(), "quality_check")
    rest.ok("POST", f"/api/v1/orders/{order['id']}/checks", {"version": order["version"]})
    _signed_in(client, shop)
    page = client.get(f"/admin/audit?order_id={order['id']}&lang=en").get_data(as_text=True)
    table = page[page.index('id="audit"') :]
    assert "Team lead check" in table
    assert "team_lead" not in table
