"""REST reports (/api/v1/reports/…): who may read what, refused ranges, and
the exports read back (CSV with the csv module, XLSX with openpyxl), with
formula payloads in every text column."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from shared.services import reports
from shared.services.core import Core
from tests.conftest import HandClock
from tests.request_flow import Rest
from tests.services.report_flows import Flow, Shopfloor

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 6, 8, 9, 0, tzinfo=SHANGHAI)
RANGE = {"from": "2026-06-08", "to": "2026-06-08"}
PATHS = ("summary", "technicians", "advisors", "orders", "orders.csv", "orders.xlsx")
# What a spreadsheet would run, in every text column the export has.
PAYLOADS = ("=1+1", "+SUM(A1)", "-2+3", "@cmd", '=HYPERLINK("http://x")')
TEXT_COLUMNS = ("plate", "advisor", "technicians", "work")


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(MONDAY)
    core.clock = fixed
    return fixed


@pytest.fixture
def floor(client: Any, shop: Any, core: Core, clock: HandClock) -> Shopfloor:
    return Shopfloor(Rest(client, shop, core), clock)


def get(client: Any, shop: Any, path: str, role: str = "manager", **query: str) -> Any:
    return client.get(
        f"/api/v1/reports/{path}", query_string=query or RANGE, headers=shop.headers(role)
    )


def test_managers_read_everything_a_foreman_the_workshop_half(
    client: Any, shop: Any, floor: Shopfloor
) -> None:
    floor.run(Flow(quote="decline", rating=2))
    for role in ("manager", "admin"):
        for path in PATHS:
            assert get(client, shop, path, role).status_code == 200, (role, path)
        figures = get(client, shop, "summary", role).get_json()["figures"]
        assert "csat" in figures and "approval_rate" in figures
    foreman = get(client, shop, "summary", "foreman").get_json()
    assert set(foreman["figures"]) == set(reports.WORKSHOP_FIGURES)
    assert set(foreman["previous"]["figures"]) == set(reports.WORKSHOP_FIGURES)
    # The workshop's own tables and lists; the advisors are the front office's.
    for path in ("technicians", "orders", "orders.csv", "orders.xlsx"):
        assert get(client, shop, path, "foreman").status_code == 200, path
    assert get(client, shop, "advisors", "foreman").status_code == 403
    for role in ("advisor", "technician", "display-board"):
        for path in PATHS:
            assert get(client, shop, path, role).status_code == 403, (role, path)
    anonymous = client.get("/api/v1/reports/summary", query_string=RANGE)
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "2026-06-08"}, "from"),
        ({"from": "2026-06-08"}, "to"),
        ({"from": "2026-06-31", "to": "2026-07-01"}, "from"),
        ({"from": "8/6/2026", "to": "2026-07-01"}, "from"),
        ({"from": "2026-06-09", "to": "2026-06-08"}, "to"),
        ({"from": "2020-01-01", "to": "2026-06-08"}, "to"),
        ({**RANGE, "group": "year"}, "group"),
        ({**RANGE, "only": "everything"}, "only"),
        ({**RANGE, "limit": "0"}, "limit"),
    ],
)
def test_bad_queries_are_422_with_the_field(
    client: Any, shop: Any, query: dict[str, str], field: str
) -> None:
    path = "orders" if field in ("only", "limit") else "summary"
    answer = get(client, shop, path, **query)
    assert answer.status_code == 422
    assert answer.mimetype == "application/problem+json"
    problem = answer.get_json()
    assert (problem["code"], problem["field"]) == ("validation_error", field)
    if field == "only":
        for export in ("orders.csv", "orders.xlsx"):
            assert get(client, shop, export, **query).status_code == 422


def test_the_summary_is_grouped_and_compared(client: Any, shop: Any, floor: Shopfloor) -> None:
    floor.run(Flow())
    answer = get(
        client, shop, "summary", **{"from": "2026-06-01", "to": "2026-06-14"}, group="week"
    )
    found = answer.get_json()
    assert [p["from"] for p in found["periods"]] == ["2026-06-01", "2026-06-08"]
    assert found["periods"][1]["figures"]["orders"]["delivered"] == 1
    assert found["figures"]["orders"]["delivered"] == 1
    assert (found["previous"]["from"], found["previous"]["to"]) == ("2026-05-18", "2026-05-31")


def test_the_csv_reads_back_with_a_bom_and_escaped_formulas(
    client: Any, shop: Any, core: Core, floor: Shopfloor
) -> None:
    for payload in PAYLOADS:
        order = floor.rest.create(items=[{"title": payload, "labour_hours": 1.0}])
        del order
    from sqlalchemy import update

    from shared.persistence.models import StaffUser

    with core.db.write() as session:
        session.execute(
            update(StaffUser).where(StaffUser.id == shop.technicians[0]).values(name="=2+2")
        )
    floor.run(Flow())
    answer = get(client, shop, "orders.csv")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    raw = answer.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert len(header) == len(reports.ORDER_COLUMNS)
    keys = [key for key, _label in reports.ORDER_COLUMNS]
    records = [dict(zip(keys, row, strict=True)) for row in body]
    works = sorted(r["work"] for r in records if r["work"] != "更换机油")
    assert works == sorted("'" + p for p in PAYLOADS)
    assert [r["technicians"] for r in records if r["technicians"]] == ["'=2+2"]
    for record in records:
        for column in TEXT_COLUMNS:
            assert not record[column].startswith(("=", "+", "-", "@", "\t", "\r")), record
    # Numbers stay numbers, true/false 1/0.
    delivered = next(r for r in records if r["stage"] == "delivered")
    assert delivered["first_time_fix"] == "1" and float(delivered["sold_hours"]) == 1.0


def test_the_xlsx_reads_back_with_text_never_formulas(
    client: Any, shop: Any, core: Core, floor: Shopfloor
) -> None:
    for payload in PAYLOADS:
        floor.rest.create(items=[{"title": payload, "labour_hours": 1.0}])
    floor.run(Flow(rating=4))
    answer = client.get(
        "/api/v1/reports/orders.xlsx",
        query_string={**RANGE, "only": ""},
        headers={**shop.headers("manager"), "Accept-Language": "en"},
    )
    assert answer.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(answer.get_data()))
    sheet = book["orders"]
    rows = list(sheet.iter_rows(values_only=True))
    keys = [key for key, _label in reports.ORDER_COLUMNS]
    assert list(rows[0]) == [str(label) for _key, label in reports.ORDER_COLUMNS]
    records = [dict(zip(keys, row, strict=True)) for row in rows[1:]]
    assert len(records) == len(PAYLOADS) + 1
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            assert cell.data_type != "f", cell.value
    works = sorted(r["work"] for r in records if r["work"] != "更换机油")
    assert works == sorted("'" + p for p in PAYLOADS)
    delivered = next(r for r in records if r["stage"] == "delivered")
    assert delivered["survey_rating"] == 4
    assert delivered["first_time_fix"] is True


def test_the_drill_down_pages(client: Any, shop: Any, floor: Shopfloor, clock: HandClock) -> None:
    for _car in range(3):
        floor.run(Flow(promise_minutes=10, stop="ready", step_minutes=5))
    first = get(client, shop, "orders", only="late", limit="2", **RANGE).get_json()
    assert len(first["orders"]) == 2 and first["next_offset"] == 2
    assert [c["key"] for c in first["columns"]] == [k for k, _l in reports.ORDER_COLUMNS]
    rest = get(client, shop, "orders", only="late", limit="2", offset="2", **RANGE).get_json()
    assert len(rest["orders"]) == 1 and rest["next_offset"] is None
    ids = [o["order_id"] for o in first["orders"] + rest["orders"]]
    assert ids == sorted(ids)
    none = get(client, shop, "orders", only="comeback", **RANGE).get_json()
    assert none["orders"] == []


def test_the_export_headers_are_in_the_reader_s_language(
    client: Any, shop: Any, floor: Shopfloor
) -> None:
    floor.run(Flow())
    english = client.get(
        "/api/v1/reports/orders.csv",
        query_string=RANGE,
        headers={**shop.headers("manager"), "Accept-Language": "en"},
    )
    header = english.get_data().decode("utf-8-sig").splitlines()[0]
    assert header.startswith("Order,Queue number,Plate")
    chinese = client.get(
        "/api/v1/reports/orders.csv",
        query_string=RANGE,
        headers={**shop.headers("manager"), "Accept-Language": "zh-CN"},
    )
    assert not chinese.get_data().decode("utf-8-sig").startswith("Order,")


def test_a_report_day_is_the_shop_s_day(
    client: Any, shop: Any, floor: Shopfloor, clock: HandClock
) -> None:
    # 23:30 in Shanghai is 15:30 UTC the same day; 00:30 the next day is
    # still the previous day in UTC.
    clock.now = MONDAY.replace(hour=23, minute=30) + timedelta(hours=1)
    floor.run(Flow(stop="checked_in"))
    monday = get(client, shop, "summary").get_json()["figures"]["orders"]["checked_in"]
    tuesday = get(client, shop, "summary", **{"from": "2026-06-09", "to": "2026-06-09"})
    assert monday == 0
    assert tuesday.get_json()["figures"]["orders"]["checked_in"] == 1
