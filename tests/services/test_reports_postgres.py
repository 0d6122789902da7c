"""The reports on a real PostgreSQL server: the facts cache's SQL sums, the
driver-level reads and the exports answer as on SQLite, and as the log's
recomputation (fails under CI=true when PostgreSQL is missing, skips
otherwise: tests/conftest.py ``postgres_url``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings
from shared.services import reports
from shared.services.core import Core
from shared.web.app import create_app
from tests.conftest import HandClock, seed_shop
from tests.request_flow import Rest
from tests.services.report_flows import Flow, Shopfloor
from tests.services.test_reports import DAY, MONDAY, same_everywhere

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Any, Core, Any]]:
    settings = Settings.from_env(
        {}, database_url=postgres_url, instance_path=tmp_path, async_mode="threading", testing=True
    )
    app, _socketio = create_app(settings)
    core: Core = app.extensions["baylight"]
    yield app, core, seed_shop(core)
    core.db.dispose()


def test_the_summary_on_postgresql(pg: tuple[Any, Core, Any]) -> None:
    app, core, shop = pg
    clock = HandClock(MONDAY)
    core.clock = clock
    client = app.test_client()
    floor = Shopfloor(Rest(client, shop, core), clock)
    floor.run(Flow(rating=2, plate="粤B00001"))
    floor.run(Flow(quote="decline", fail_check=True, promise_minutes=30, step_minutes=20))
    floor.run(Flow(stop="cancelled", step_minutes=10))
    floor.run(Flow(quote="approve", reopen=True, stop="ready", step_minutes=10))
    clock.advance(days=1)
    back = floor.run(Flow(stop="checked_in", plate="粤B00001"))
    first = next(iter(reports.order_rows(core, shop.shop_id, DAY, DAY)))
    floor.flag_comeback(back, {"id": first["order_id"]})
    span = (DAY - timedelta(days=2), DAY + timedelta(days=1))
    same_everywhere(core, shop.shop_id, *span, "day")
    assert reports.refresh_facts(core, shop.shop_id) == 3
    same_everywhere(core, shop.shop_id, *span, "week")
    found = client.get(
        "/api/v1/reports/summary",
        query_string={"from": DAY.isoformat(), "to": DAY.isoformat()},
        headers=shop.headers("manager"),
    ).get_json()["figures"]
    assert found["orders"]["checked_in"] == 4
    assert found["orders"]["cancelled"] == 1
    assert found["csat"]["low_scores"] == 1
    assert found["approval_rate"]["n"] == 2 and found["approval_rate"]["by_count"] == 0.5
    assert found["first_time_fix_rate"]["n"] == 2
    tuesday = DAY + timedelta(days=1)
    later = reports.summary(core, shop.shop_id, tuesday, tuesday)["figures"]
    assert later["comebacks"]["count"] == 1
    answer = client.get(
        "/api/v1/reports/orders.csv",
        query_string={"from": DAY.isoformat(), "to": DAY.isoformat()},
        headers=shop.headers("manager"),
    )
    assert answer.get_data().startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    assert len(rows) == 1 + 4
