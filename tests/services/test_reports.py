"""Reports through the real commands (docs/REPORTS.md): known answers for a
shop's day, and the facts cache always equal to the log's recomputation,
whatever state it is in (empty, partly refreshed, stale, rebuilt)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from shared.persistence.report_models import ReportFact
from shared.services import reports
from shared.services.core import Core
from tests.conftest import HandClock, seed_shop
from tests.request_flow import Rest
from tests.services.report_flows import Flow, Shopfloor

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 8 June 2026, 09:00 (not a public holiday).
MONDAY = datetime(2026, 6, 8, 9, 0, tzinfo=SHANGHAI)
DAY = MONDAY.date()


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(MONDAY)
    core.clock = fixed
    return fixed


@pytest.fixture
def floor(client: Any, shop: Any, core: Core, clock: HandClock) -> Shopfloor:
    return Shopfloor(Rest(client, shop, core), clock)


def stored(core: Core) -> int:
    with core.db.read() as session:
        return int(session.execute(select(func.count()).select_from(ReportFact)).scalar_one())


def same_everywhere(core: Core, shop_id: int, start: date, end: date, group: str | None) -> None:
    """Every report from the cache equals the log's recomputation."""
    assert reports.summary(core, shop_id, start, end, group) == reports.summary(
        core, shop_id, start, end, group, cached=False
    )
    for name in ("technicians", "advisors"):
        read = getattr(reports, name)
        assert read(core, shop_id, start, end) == read(core, shop_id, start, end, cached=False)
    for only in (None, *reports.DRILL_DOWNS):
        assert list(reports.order_rows(core, shop_id, start, end, only=only)) == list(
            reports.order_rows(core, shop_id, start, end, only=only, cached=False)
        )


def test_a_day_of_the_shop_with_known_answers(
    core: Core, shop: Any, floor: Shopfloor, clock: HandClock
) -> None:
    plain = floor.run(Flow(promise_minutes=240, step_minutes=30, rating=5, plate="粤B00001"))
    clock.now = MONDAY.replace(hour=12)
    late = floor.run(Flow(promise_minutes=60, step_minutes=20, fail_check=True, rating=2))
    clock.now = MONDAY.replace(hour=14, minute=30)
    floor.run(Flow(stop="cancelled", cancel_from="in_progress", step_minutes=10))
    clock.now = MONDAY.replace(hour=15)
    floor.run(Flow(quote="decline", stop="ready", step_minutes=10))
    clock.now = MONDAY.replace(hour=16)
    floor.run(Flow(quote="approve", reopen=True, stop="ready", step_minutes=10))
    clock.now = MONDAY.replace(hour=17, minute=30)
    carried = floor.run(Flow(stop="in_progress", step_minutes=10))
    clock.now = MONDAY + timedelta(days=1)
    back = floor.run(Flow(stop="checked_in", plate="粤B00001"))
    floor.flag_comeback(back, plain)
    monday = reports.summary(core, shop.shop_id, DAY, DAY)["figures"]
    assert monday["orders"] == {
        "checked_in": 6,
        "ready": 4,
        "delivered": 2,
        "cancelled": 1,
        # Still in progress the morning after.
        "carried_over": 1,
    }
    # Plain: 30 + 30 + 30 + 30 = 120 min to ready; promised at 240 min.
    assert monday["on_time_rate"]["delivered"] == {"rate": 0.5, "on_time": 1, "n": 2}
    assert monday["first_time_fix_rate"] == {"rate": 0.5, "first_time": 1, "n": 2}
    assert monday["rework_count"] == 1
    assert monday["csat"]["responses"] == 2 and monday["csat"]["low_scores"] == 1
    assert monday["csat"]["low_score_follow_up"] == {"not_called": 1}
    assert monday["approval_rate"]["by_count"] == 0.5
    assert monday["approval_rate"]["declined_cents"] == 68000
    # Waits from check-in to dispatch: one step of each flow (30, 20, 10 × 4),
    # the cancelled car's left out.
    assert monday["reception_wait_minutes"] == {"median": 10, "p90": 30, "mean": 16, "n": 5}
    tuesday = reports.summary(core, shop.shop_id, DAY + timedelta(days=1), DAY + timedelta(days=1))
    assert tuesday["figures"]["comebacks"]["count"] == 1
    assert tuesday["previous"]["figures"]["orders"]["checked_in"] == 6
    rows = list(reports.order_rows(core, shop.shop_id, DAY, DAY, only="late"))
    assert [row["order_id"] for row in rows] == [late["id"]]
    comeback = list(
        reports.order_rows(
            core, shop.shop_id, DAY + timedelta(days=1), DAY + timedelta(days=1), only="comeback"
        )
    )
    assert [(r["order_id"], r["comeback_of"]) for r in comeback] == [(back["id"], plain["id"])]
    carried_rows = list(reports.order_rows(core, shop.shop_id, DAY, DAY, only="carried_over"))
    assert [r["order_id"] for r in carried_rows] == [carried["id"]]
    techs = reports.technicians(core, shop.shop_id, DAY, DAY)
    assert [t["name"] for t in techs] == ["王师傅"]
    assert techs[0]["clocked_hours"] > 0
    # Every report is the same from the cache, empty, filled and rebuilt.
    same_everywhere(core, shop.shop_id, DAY, DAY + timedelta(days=1), "day")
    assert reports.refresh_facts(core, shop.shop_id) == 3
    assert stored(core) == 3
    same_everywhere(core, shop.shop_id, DAY, DAY + timedelta(days=1), "day")
    assert reports.rebuild_facts(core, shop.shop_id) == 3
    same_everywhere(core, shop.shop_id, DAY - timedelta(days=3), DAY + timedelta(days=2), "week")


def test_a_survey_after_the_facts_were_stored_is_counted(
    core: Core, shop: Any, floor: Shopfloor, clock: HandClock
) -> None:
    order = floor.run(Flow())
    assert reports.refresh_facts(core, shop.shop_id) == 1
    before = reports.summary(core, shop.shop_id, DAY, DAY)["figures"]["csat"]
    assert before["responses"] == 0
    clock.advance(hours=20)  # the next morning: the link still works
    token = str(order["customer_url"]).rsplit("/t/", 1)[1]
    floor.rest.ok("POST", f"/api/v1/track/{token}/survey", {"rating": 4}, role=None)
    # The stored row is stale now: the report recomputes that order.
    after = reports.summary(core, shop.shop_id, DAY, DAY)["figures"]["csat"]
    assert (after["responses"], after["average"]) == (1, 4.0)
    same_everywhere(core, shop.shop_id, DAY, DAY, None)
    assert reports.refresh_facts(core, shop.shop_id) == 1
    assert reports.summary(core, shop.shop_id, DAY, DAY)["figures"]["csat"] == after


def test_a_calendar_change_is_not_answered_from_old_facts(
    core: Core, shop: Any, floor: Shopfloor, client: Any
) -> None:
    floor.run(Flow())
    reports.refresh_facts(core, shop.shop_id)
    version = client.get("/api/v1/shop", headers=shop.headers("admin")).get_json()["version"]
    answer = client.patch(
        "/api/v1/shop",
        json={"opening_hours": {"open": "10:00", "close": "16:00"}, "version": version},
        headers={**shop.headers("admin"), "Idempotency-Key": "calendar"},
    )
    assert answer.status_code == 200, answer.get_json()
    same_everywhere(core, shop.shop_id, DAY, DAY, None)
    # The refresh stores them again on the new calendar.
    assert reports.refresh_facts(core, shop.shop_id) == 1


def test_declined_work_sold_on_the_same_plate_s_next_visit(
    core: Core, shop: Any, floor: Shopfloor, clock: HandClock
) -> None:
    floor.run(Flow(quote="decline", plate="粤B77777"))
    clock.advance(days=3)
    floor.rest.create(
        plate="粤B77777", items=[{"title": "更换刹车片（前后）", "labour_hours": 2.0}]
    )
    week = reports.summary(core, shop.shop_id, DAY, DAY + timedelta(days=6))
    assert week["figures"]["approval_rate"]["declined_sold_later_cents"] == 68000
    other = reports.summary(core, shop.shop_id, DAY + timedelta(days=1), DAY + timedelta(days=6))
    assert other["figures"]["approval_rate"]["declined_sold_later_cents"] == 0


def test_quality_customers_come_four_times_in_twelve_months(
    core: Core, shop: Any, floor: Shopfloor, clock: HandClock
) -> None:
    for _visit in range(4):
        floor.run(Flow(plate="粤B44444"))
        clock.advance(days=60)
    floor.run(Flow(plate="粤B33333"))
    end = clock().date()
    found = reports.summary(core, shop.shop_id, end - timedelta(days=29), end)["figures"]
    assert found["quality_customers"] == {"count": 1, "orders": 0}
    year = reports.summary(core, shop.shop_id, DAY, end)["figures"]["quality_customers"]
    assert year == {"count": 1, "orders": 4}


def test_ranges_are_checked(core: Core, shop: Any) -> None:
    from shared.domain.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as reversed_range:
        reports.summary(core, shop.shop_id, DAY, DAY - timedelta(days=1))
    assert reversed_range.value.field == "to"
    with pytest.raises(ValidationFailed):
        reports.summary(core, shop.shop_id, DAY, DAY + timedelta(days=3 * 366))
    with pytest.raises(ValidationFailed) as group:
        reports.summary(core, shop.shop_id, DAY, DAY, "year")
    assert group.value.field == "group"
    with pytest.raises(ValidationFailed) as only:
        reports.order_rows(core, shop.shop_id, DAY, DAY, only="nope")
    assert only.value.field == "only"


FLOWS = st.builds(
    Flow,
    promise_minutes=st.integers(30, 600),
    step_minutes=st.integers(5, 400),
    quote=st.sampled_from([None, "approve", "decline"]),
    fail_check=st.booleans(),
    reopen=st.booleans(),
    stop=st.sampled_from(["checked_in", "in_progress", "ready", "delivered", "cancelled"]),
    cancel_from=st.sampled_from(["checked_in", "in_progress", "ready"]),
    rating=st.one_of(st.none(), st.integers(1, 5)),
    plate=st.sampled_from([None, "粤B55555"]),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    flows=st.lists(st.tuples(FLOWS, st.integers(0, 2000)), min_size=1, max_size=4),
    refresh=st.integers(0, 5),
    offset=st.integers(-3, 3),
    length=st.integers(1, 9),
    group=st.sampled_from([None, "day", "week", "month"]),
)
def test_the_stored_rollup_equals_the_log_s_recomputation(
    core: Core,
    shop: Any,
    floor: Shopfloor,
    clock: HandClock,
    flows: list[tuple[Flow, int]],
    refresh: int,
    offset: int,
    length: int,
    group: str | None,
) -> None:
    """Whatever the shop did, however much of the cache the refresh wrote
    (examples share the database, so older ones add up), every report from
    the cache is the log's."""
    for flow, gap in flows:
        floor.run(flow)
        clock.advance(minutes=gap)
    reports.refresh_facts(core, shop.shop_id, limit=refresh)
    start = DAY + timedelta(days=offset)
    same_everywhere(core, shop.shop_id, start, start + timedelta(days=length), group)


def test_the_background_refresh_stores_closed_orders_only_when_the_writer_is_free(
    core: Core, shop: Any, floor: Shopfloor
) -> None:
    floor.run(Flow())
    floor.run(Flow(stop="in_progress"))
    slept: list[float] = []
    refresher = reports.FactsRefresher(core, slept.append)
    with core.db.write_lock:
        # A command holds the writer: the refresh waits for the next round.
        assert refresher.round() == 0
    assert stored(core) == 0
    assert refresher.round() == 1  # the delivered car; the open one never
    assert stored(core) == 1 and slept
    assert refresher.round() == 0


def another_shop_beside(core: Core, client: Any, floor: Shopfloor, clock: HandClock) -> Any:
    """A second shop; each of the two with a delivered car and an open one."""
    other = seed_shop(core, slug="other")
    for place in (floor, Shopfloor(Rest(client, other, core), clock)):
        place.run(Flow())
        place.run(Flow(stop="in_progress"))
    return other


def test_a_round_stores_every_shop_in_one_transaction(
    core: Core, shop: Any, floor: Shopfloor, client: Any, clock: HandClock
) -> None:
    # Two shops, each with a delivered car and an open one: a round of the
    # refresher commits once for both, not once per shop (each commit holds
    # the writer for its fsync, and commands wait behind it).
    other = another_shop_beside(core, client, floor, clock)
    commits: list[object] = []

    def counted(_connection: object) -> None:
        commits.append(_connection)

    event.listen(core.db.engine, "commit", counted)
    try:
        slept: list[float] = []
        refresher = reports.FactsRefresher(core, slept.append)
        # The shops' reads are spread evenly over the time given.
        assert refresher.round(spread=1.0) == 2
        assert slept == [0.5, 0.5]
        assert len(commits) == 1
        assert stored(core) == 2
        # Both marks moved: the next round finds nothing and writes nothing.
        commits.clear()
        assert refresher.round() == 0
        assert commits == []
    finally:
        event.remove(core.db.engine, "commit", counted)
    same_everywhere(core, shop.shop_id, DAY, DAY, None)
    same_everywhere(core, other.shop_id, DAY, DAY, None)


def test_a_report_never_takes_the_write_lock(core: Core, shop: Any, floor: Shopfloor) -> None:
    import threading

    floor.run(Flow(rating=5))
    reports.refresh_facts(core, shop.shop_id)
    done = threading.Event()
    found: dict[str, Any] = {}

    def read() -> None:
        found["summary"] = reports.summary(core, shop.shop_id, DAY, DAY, "day")
        found["rows"] = list(reports.order_rows(core, shop.shop_id, DAY, DAY))
        done.set()

    with core.db.write_lock:
        reader = threading.Thread(target=read)
        reader.start()
        # Answered while a writer holds the lock.
        assert done.wait(20)
    reader.join()
    assert found["summary"]["figures"]["csat"]["responses"] == 1
