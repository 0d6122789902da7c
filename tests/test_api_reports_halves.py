"""One truth for the reports' two surfaces: the REST API (/api/v1/reports/…)
and the /reports page's own routes (/reports/api/…, /reports/orders.*).

A foreman gets the same workshop half from both (``reports.WORKSHOP_FIGURES``,
the technicians, the lists ``WORKSHOP_DRILL_DOWNS`` with the columns of
``order_columns(workshop_only=True)``), the front office refused on both;
a manager gets the same whole from both. Both read the query with one
parser (shared/web/report_params.py), and its refusals name the report's
last day and the grouping in the reader's language, while ``field`` stays
``to`` / ``group`` (their field labels are a move's new stage and the
dealer group)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from flask import Flask

from shared.services import reports, setup
from shared.services.core import Core
from shared.web import problem_text
from tests.conftest import HandClock
from tests.request_flow import Rest
from tests.services.report_flows import Flow, Shopfloor

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 6, 8, 9, 0, tzinfo=SHANGHAI)
RANGE = {"from": "2026-06-08", "to": "2026-06-08"}
PASSWORD = "halves pass 123"
FRONT_DRILLS = sorted(set(reports.DRILL_DOWNS) - set(reports.WORKSHOP_DRILL_DOWNS))


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(MONDAY)
    core.clock = fixed
    return fixed


@pytest.fixture
def floor(client: Any, shop: Any, core: Core, clock: HandClock) -> Shopfloor:
    """A day with a declined quote and a low score, a failed check, a late
    car and a cancelled one: every list has something to show."""
    floor = Shopfloor(Rest(client, shop, core), clock)
    floor.run(Flow(quote="decline", rating=2))
    floor.run(Flow(fail_check=True, rating=5))
    floor.run(Flow(promise_minutes=10, step_minutes=20))
    floor.run(Flow(stop="cancelled"))
    return floor


def signed_in(app: Flask, shop: Any, role: str, lang: str = "en") -> Any:
    """A browser's session of a person of the shop (the /login form, in
    the language ``lang``, which the session keeps)."""
    name = f"{role}-halves-{lang}"
    setup.create_user(shop.core, shop.shop_id, role=role, name=name, password=PASSWORD)
    browser = app.test_client()
    page = browser.get(f"/login?lang={lang}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    answer = browser.post(
        "/login", data={"name": name, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code in (302, 303), answer.get_data(as_text=True)
    return browser


def rest(browser: Any, path: str, **query: str) -> Any:
    return browser.get(f"/api/v1/reports/{path}", query_string={**RANGE, **query})


def page(browser: Any, path: str, **query: str) -> Any:
    return browser.get(f"/reports/{path}", query_string={**RANGE, **query})


def csv_rows(answer: Any) -> list[list[str]]:
    assert answer.status_code == 200
    return list(csv.reader(io.StringIO(answer.get_data().decode("utf-8-sig"))))


def xlsx_rows(answer: Any) -> list[tuple[Any, ...]]:
    assert answer.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(answer.get_data()), read_only=True)
    return [tuple(line) for line in book["orders"].iter_rows(values_only=True)]


def test_the_workshop_half_is_defined_once(app: Flask) -> None:
    """The decision, in the service: the workshop's figures, lists and
    columns; the page's tiles for a foreman are drawn from those figures."""
    assert reports.WORKSHOP_FIGURES == (
        "orders",
        "on_time_rate",
        "cycle_minutes",
        "stage_dwell_minutes",
        "reception_wait_minutes",
        "labour",
        "bay_utilisation",
        "first_time_fix_rate",
        "rework_count",
        "reopened_count",
    )
    assert set(reports.WORKSHOP_DRILL_DOWNS) < set(reports.DRILL_DOWNS)
    assert {"comeback", "low_score", "declined_quote"}.isdisjoint(reports.WORKSHOP_DRILL_DOWNS)
    keys = [key for key, _label in reports.ORDER_COLUMNS]
    workshop = [key for key, _label in reports.order_columns(workshop_only=True)]
    assert workshop == [key for key in keys if key not in reports.FRONT_OFFICE_COLUMNS]
    assert {"approved_cents", "declined_cents", "survey_rating"} <= reports.FRONT_OFFICE_COLUMNS
    from board import reports as report_page

    with app.test_request_context():
        tiles = report_page.tiles(False)
        assert {spec["key"] for spec in tiles} <= set(reports.WORKSHOP_FIGURES)
        assert {spec["drill"] for spec in tiles if spec["drill"]} <= {
            "all",
            *reports.WORKSHOP_DRILL_DOWNS,
        }
        assert "reception_wait_minutes" in {spec["key"] for spec in tiles}


def test_a_foreman_reads_the_same_half_from_the_api_and_the_page(
    app: Flask, shop: Any, floor: Shopfloor
) -> None:
    foreman = signed_in(app, shop, "foreman")

    # The summary: the workshop's figures, the same from both, in every period.
    from_api = rest(foreman, "summary", group="day")
    from_page = page(foreman, "api/summary", group="day")
    assert from_api.status_code == from_page.status_code == 200
    summary = from_api.get_json()
    assert summary == from_page.get_json()
    for part in (summary, summary["previous"], *summary["periods"]):
        assert set(part["figures"]) == set(reports.WORKSHOP_FIGURES), part["figures"].keys()
    assert summary["figures"]["orders"]["delivered"] == 3
    assert summary["figures"]["reception_wait_minutes"]["n"] == 3

    # Labour per technician is the workshop's: the same table from both.
    technicians = rest(foreman, "technicians").get_json()["technicians"]
    assert technicians and technicians == page(foreman, "api/technicians").get_json()["technicians"]

    # The advisors and the front office's lists: refused on both.
    for answer in (rest(foreman, "advisors"), page(foreman, "api/advisors")):
        assert answer.status_code == 403 and answer.get_json()["code"] == "forbidden"
    for only in FRONT_DRILLS:
        for answer in (
            rest(foreman, "orders", only=only),
            rest(foreman, "orders.csv", only=only),
            rest(foreman, "orders.xlsx", only=only),
            page(foreman, "api/orders", only=only),
            page(foreman, "orders.csv", only=only),
            page(foreman, "orders.xlsx", only=only),
        ):
            assert answer.status_code == 403, (only, answer.request.path)

    # The workshop's lists: the same orders and columns, without money or customers.
    workshop = [key for key, _label in reports.order_columns(workshop_only=True)]
    counted = 0
    for only in ("all", *reports.WORKSHOP_DRILL_DOWNS):
        listed = rest(foreman, "orders", only=only, limit="1000").get_json()
        assert [c["key"] for c in listed["columns"]] == workshop
        assert all(list(row) == workshop for row in listed["orders"]), only
        shown = page(foreman, "api/orders", only=only).get_json()
        assert shown["count"] == len(listed["orders"]), only
        page_keys = [c["key"] for c in shown["columns"]]
        assert set(page_keys) <= set(workshop), only
        wanted = {row["number"] for row in listed["orders"]}
        assert {row["number"] for row in shown["rows"]} == wanted, only
        api_csv = csv_rows(rest(foreman, "orders.csv", only=only))
        assert api_csv == csv_rows(page(foreman, "orders.csv", only=only)), only
        assert len(api_csv[0]) == len(workshop) and len(api_csv) == len(wanted) + 1
        api_xlsx = xlsx_rows(rest(foreman, "orders.xlsx", only=only))
        assert api_xlsx == xlsx_rows(page(foreman, "orders.xlsx", only=only)), only
        counted += len(wanted)
    assert counted > 4  # every order of the day, and the late, reworked, cancelled


def test_a_manager_reads_the_same_whole_from_the_api_and_the_page(
    app: Flask, shop: Any, floor: Shopfloor
) -> None:
    manager = signed_in(app, shop, "manager")
    summary = rest(manager, "summary", group="day").get_json()
    assert summary == page(manager, "api/summary", group="day").get_json()
    assert {"approval_rate", "csat", "comebacks", "quality_customers"} <= set(summary["figures"])
    advisors = rest(manager, "advisors").get_json()["advisors"]
    assert advisors and advisors == page(manager, "api/advisors").get_json()["advisors"]
    every = [key for key, _label in reports.ORDER_COLUMNS]
    for only in ("all", "declined_quote", "low_score"):
        listed = rest(manager, "orders", only=only).get_json()
        assert [c["key"] for c in listed["columns"]] == every
        assert page(manager, "api/orders", only=only).get_json()["count"] == len(listed["orders"])
        assert csv_rows(rest(manager, "orders.csv", only=only)) == csv_rows(
            page(manager, "orders.csv", only=only)
        )


# The refusals of the report's query, said with the report's words.
SAID = {
    "zh_Hans": {
        "to": "报表的结束日期应为日期，例如 2026-05-01。",
        "to_missing": "请填写报表的结束日期。",
        "group": "分组方式必须是以下之一：day, week, month。",
        "front": "这份清单只有服务经理可以查看。",
    },
    "en": {
        "to": "The report's last day is a date like 2026-05-01.",
        "to_missing": "The report's last day is required.",
        "group": "The grouping must be one of day, week, month.",
        "front": "That list is the service manager's.",
    },
}
ACCEPT = {"zh_Hans": "zh-CN", "en": "en"}


@pytest.mark.parametrize("locale", list(SAID))
def test_the_query_refusals_name_the_report_s_day_and_grouping(
    app: Flask, shop: Any, locale: str
) -> None:
    foreman = signed_in(app, shop, "foreman", locale)
    said = SAID[locale]
    with app.test_request_context(headers={"Accept-Language": ACCEPT[locale]}):
        wrong_labels = [problem_text.field_label("to"), problem_text.field_label("group")]
    headers = {"Accept-Language": ACCEPT[locale]}
    cases = [
        ({"to": "2026-13-01"}, "to", said["to"]),
        ({"group": "year"}, "group", said["group"]),
    ]
    for query, field, detail in cases:
        for prefix in ("/api/v1/reports/summary", "/reports/api/summary"):
            answer = foreman.get(prefix, query_string={**RANGE, **query}, headers=headers)
            body = answer.get_json()
            assert answer.status_code == 422, body
            assert (body["code"], body["field"], body["detail"]) == (
                "validation_error",
                field,
                detail,
            ), prefix
            assert not any(label and label in body["detail"] for label in wrong_labels), body
    missing = foreman.get(
        "/api/v1/reports/summary", query_string={"from": RANGE["from"]}, headers=headers
    )
    assert (missing.get_json()["field"], missing.get_json()["detail"]) == (
        "to",
        said["to_missing"],
    )
    for prefix in ("/api/v1/reports/orders", "/reports/api/orders"):
        front = foreman.get(prefix, query_string={**RANGE, "only": "low_score"}, headers=headers)
        assert front.status_code == 403
        assert front.get_json()["detail"] == said["front"], prefix
