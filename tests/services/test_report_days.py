"""The per-day rollup ``report_day`` (shared/services/report_cache.py): at
every moment it is exactly the SQL sums of the stored facts (``stored_days``),
whatever wrote them (a refresh of part of the shop, a survey or a comeback
mark after the facts were stored, a rebuild), and so every report read from
it is the log's recomputation."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from shared.domain import report_figures as rf
from shared.persistence.report_day_models import ReportDay
from shared.services import report_cache, reports
from shared.services.core import Core
from tests.conftest import HandClock
from tests.request_flow import Rest
from tests.services.report_flows import Flow, Shopfloor
from tests.services.test_reports import DAY, FLOWS, MONDAY, same_everywhere

# Wide enough for every day the flows below can touch.
FIRST, LAST = DAY - timedelta(days=10), DAY + timedelta(days=40)


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(MONDAY)
    core.clock = fixed
    return fixed


@pytest.fixture
def floor(client: Any, shop: Any, core: Core, clock: HandClock) -> Shopfloor:
    return Shopfloor(Rest(client, shop, core), clock)


def plain(t: rf.Totals) -> dict[str, Any]:
    """A day's totals without the zeros and orders that carry no meaning."""

    def nonzero(values: dict[Any, float]) -> dict[Any, float]:
        return {key: round(value, 6) for key, value in values.items() if abs(value) > 1e-9}

    return {
        "sums": nonzero(dict(t.sums)),
        "cycle": sorted(round(v, 6) for v in t.cycle),
        "wait": sorted(round(v, 6) for v in t.wait),
        "techs": {
            tech: (round(c, 6), round(s, 6))
            for tech, (c, s) in t.techs.items()
            if abs(c) > 1e-9 or abs(s) > 1e-9
        },
        "bays": nonzero(t.bays),
        "advisors": {
            advisor: found for advisor, sums in t.advisors.items() if (found := nonzero(dict(sums)))
        },
        "ratings": {rating: n for rating, n in t.ratings.items() if n},
        "low_scores": sorted(t.low_scores),
        "declined": sorted(t.declined),
    }


def plain_days(days: rf.Days) -> dict[date, dict[str, Any]]:
    return {day: plain(t) for day, t in sorted(days.items()) if any(plain(t).values())}


def rollup_is_the_stored_sums(core: Core, shop_id: int) -> None:
    with core.db.read() as session:
        rolled = report_cache.rollup_days(session, shop_id, FIRST, LAST)
        summed = report_cache.stored_days(session, shop_id, FIRST, LAST)
    assert plain_days(rolled) == plain_days(summed)
    # A day no stored fact touches has no row.
    assert set(rolled) == set(summed)


def days_stored(core: Core) -> int:
    with core.db.read() as session:
        return int(session.execute(select(func.count()).select_from(ReportDay)).scalar_one())


def test_the_text_of_a_day_reads_back_exactly() -> None:
    t = rf.Totals()
    t.sums["checked_in"] += 3
    t.sums["sold_hours"] += 0.1 + 0.2
    t.cycle += [1 / 3, 120.0]
    t.wait += [2.5]
    t.techs[7] = [1.25, 0.75]
    t.bays["B01"] = 90.5
    t.advisor(None)["orders"] += 1
    t.advisor(4)["cents:approved"] += 68000
    t.ratings[5] += 2
    t.low_scores += [12, 15]
    t.declined += [(12, 3)]
    row = report_cache.day_row(1, DAY, t)
    assert report_cache.totals_of_day(row["totals"], row["cycle"], row["wait"]) == t
    assert report_cache.totals_of_day(row["totals"]).cycle == []


def test_a_refresh_rolls_up_the_days_and_a_survey_later_rolls_them_again(
    core: Core, shop: Any, floor: Shopfloor, clock: HandClock
) -> None:
    order = floor.run(Flow(promise_minutes=240, step_minutes=30))
    floor.run(Flow(quote="decline", step_minutes=20, rating=2))
    assert days_stored(core) == 0
    assert reports.refresh_facts(core, shop.shop_id) == 2
    rollup_is_the_stored_sums(core, shop.shop_id)
    with core.db.read() as session:
        monday = report_cache.rollup_days(session, shop.shop_id, DAY, DAY)[DAY]
    assert (monday.sums["checked_in"], monday.sums["delivered"]) == (2, 2)
    assert monday.ratings[2] == 1 and monday.sums["quotes:declined"] == 1
    assert len(monday.low_scores) == 1 and len(monday.declined) == 1
    # The next morning the first customer answers the survey: the stored row
    # is stale (the report recomputes it), and the refresh rolls its day again.
    clock.advance(hours=20)
    token = str(order["customer_url"]).rsplit("/t/", 1)[1]
    floor.rest.ok("POST", f"/api/v1/track/{token}/survey", {"rating": 5}, role=None)
    same_everywhere(core, shop.shop_id, DAY, DAY, None)
    assert reports.refresh_facts(core, shop.shop_id) == 1
    rollup_is_the_stored_sums(core, shop.shop_id)
    with core.db.read() as session:
        monday = report_cache.rollup_days(session, shop.shop_id, DAY, DAY)[DAY]
    assert (monday.ratings[5], monday.ratings[2], monday.sums["responses"]) == (1, 1, 2)
    same_everywhere(core, shop.shop_id, DAY, DAY, None)


def test_a_rebuild_throws_the_days_away_and_sums_them_again(
    core: Core, shop: Any, floor: Shopfloor, clock: HandClock
) -> None:
    floor.run(Flow(reopen=True, quote="approve", step_minutes=15))
    clock.advance(days=1)
    floor.run(Flow(stop="cancelled", cancel_from="in_progress"))
    reports.refresh_facts(core, shop.shop_id)
    before = days_stored(core)
    assert before >= 2
    with core.db.write() as session:
        # A day summed wrongly (whatever did it) does not survive a rebuild.
        session.execute(
            ReportDay.__table__.update().values(
                totals=report_cache.day_row(shop.shop_id, DAY, rf.Totals())["totals"]
            )
        )
    assert reports.rebuild_facts(core, shop.shop_id) == 2
    assert days_stored(core) == before
    rollup_is_the_stored_sums(core, shop.shop_id)
    same_everywhere(core, shop.shop_id, DAY - timedelta(days=1), DAY + timedelta(days=2), "day")


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rounds=st.lists(
        st.tuples(
            st.lists(st.tuples(FLOWS, st.integers(0, 3000)), min_size=1, max_size=3),
            st.integers(0, 4),
        ),
        min_size=1,
        max_size=3,
    ),
    offset=st.integers(-3, 5),
    length=st.integers(0, 9),
)
def test_the_days_rollup_equals_the_stored_sums_and_the_log(
    core: Core,
    shop: Any,
    floor: Shopfloor,
    clock: HandClock,
    rounds: list[tuple[list[tuple[Flow, int]], int]],
    offset: int,
    length: int,
) -> None:
    """Whatever the shop did between partial refreshes (examples share the
    database, so older ones add up and their orders' facts are rewritten),
    the days' rollup is the stored facts' sums, and the reports read from it
    are the log's."""
    for flows, refresh in rounds:
        for flow, gap in flows:
            floor.run(flow)
            clock.advance(minutes=gap)
        reports.refresh_facts(core, shop.shop_id, limit=refresh)
        rollup_is_the_stored_sums(core, shop.shop_id)
    start = DAY + timedelta(days=offset)
    same_everywhere(core, shop.shop_id, start, start + timedelta(days=length), None)


def mark(core: Core, shop_id: int) -> report_cache.Mark:
    with core.db.read() as session:
        return report_cache.read_mark(session, report_cache.shop_view(session, shop_id))


def last_seq(core: Core, shop_id: int) -> int:
    from shared.persistence.models import Shop

    with core.db.read() as session:
        return int(session.execute(select(Shop.last_seq).where(Shop.id == shop_id)).scalar_one())


def test_the_mark_is_claimed_only_when_nothing_is_left_to_store(
    core: Core, shop: Any, floor: Shopfloor, clock: HandClock
) -> None:
    first = floor.run(Flow())
    floor.run(Flow(quote="decline"))
    floor.run(Flow(stop="in_progress"))
    assert mark(core, shop.shop_id).seq is None
    # Two closed orders due, one stored: no claim yet.
    assert reports.refresh_facts(core, shop.shop_id, limit=1) == 1
    assert mark(core, shop.shop_id).seq is None
    assert reports.refresh_facts(core, shop.shop_id, limit=1) == 1
    assert mark(core, shop.shop_id).seq is None
    # Nothing left (the open order is never stored): claimed up to the log's end.
    assert reports.refresh_facts(core, shop.shop_id, limit=1) == 0
    assert mark(core, shop.shop_id).seq == last_seq(core, shop.shop_id)
    # An event after the mark (a survey on a stored order) is found all the same.
    clock.advance(hours=2)
    token = str(first["customer_url"]).rsplit("/t/", 1)[1]
    floor.rest.ok("POST", f"/api/v1/track/{token}/survey", {"rating": 1}, role=None)
    assert reports.summary(core, shop.shop_id, DAY, DAY)["figures"]["csat"]["low_scores"] == 1
    same_everywhere(core, shop.shop_id, DAY, DAY, None)
    assert reports.refresh_facts(core, shop.shop_id) == 1
    assert mark(core, shop.shop_id).seq == last_seq(core, shop.shop_id)
    same_everywhere(core, shop.shop_id, DAY, DAY, None)


def test_with_a_mark_the_refresher_reads_only_the_orders_changed_since(
    core: Core, shop: Any, floor: Shopfloor, clock: HandClock
) -> None:
    """The refresher asks every few seconds; with the mark claimed it looks
    only at orders with an event since the mark, not at every closed order
    of the shop (a year's join on the hub). Shown by a stored row made stale
    behind the log's back: under the mark it is not looked at again; once a
    rebuild withdraws the mark, it is."""
    first = floor.run(Flow())
    second = floor.run(Flow(quote="decline"))
    assert reports.refresh_facts(core, shop.shop_id) == 2
    assert mark(core, shop.shop_id).seq == last_seq(core, shop.shop_id)
    with core.db.write() as session:
        session.execute(
            report_cache.FACTS.update()
            .where(report_cache.FACTS.c.order_id == first["id"])
            .values(version=0)
        )
    assert reports.refresh_facts(core, shop.shop_id) == 0
    # An event on the other order after the mark: that order alone is read.
    clock.advance(hours=2)
    token = str(second["customer_url"]).rsplit("/t/", 1)[1]
    floor.rest.ok("POST", f"/api/v1/track/{token}/survey", {"rating": 4}, role=None)
    with core.db.read() as session:
        view = report_cache.shop_view(session, shop.shop_id)
        due = report_cache._due(session, view, 100, mark(core, shop.shop_id).seq)
        everything = report_cache._due(session, view, 100, None)
    assert due == [second["id"]]
    assert everything == sorted([first["id"], second["id"]])
    assert reports.rebuild_facts(core, shop.shop_id) == 2
    same_everywhere(core, shop.shop_id, DAY, DAY, None)


def test_a_rebuild_withdraws_the_mark_and_a_refresh_read_before_it_cannot_claim(
    core: Core, shop: Any, floor: Shopfloor
) -> None:
    floor.run(Flow())
    reports.refresh_facts(core, shop.shop_id)
    before = mark(core, shop.shop_id)
    assert before.seq is not None and before.generation == 0
    with core.db.write() as session:
        report_cache._forget_mark(session, shop.shop_id)
        # A refresh that read ``before`` writes after the rebuild began.
        report_cache._set_mark(session, shop.shop_id, before.seq, "x" * 32, before)
    assert mark(core, shop.shop_id) == report_cache.Mark(None, 1)
    # The rebuild's own refresh claims it again, on the new generation.
    assert reports.rebuild_facts(core, shop.shop_id) == 1
    assert mark(core, shop.shop_id) == report_cache.Mark(last_seq(core, shop.shop_id), 2)
    same_everywhere(core, shop.shop_id, DAY, DAY, None)


def test_a_calendar_change_withdraws_the_mark(
    core: Core, shop: Any, floor: Shopfloor, client: Any
) -> None:
    floor.run(Flow())
    reports.refresh_facts(core, shop.shop_id)
    assert mark(core, shop.shop_id).seq is not None
    version = client.get("/api/v1/shop", headers=shop.headers("admin")).get_json()["version"]
    answer = client.patch(
        "/api/v1/shop",
        json={"opening_hours": {"open": "10:00", "close": "16:00"}, "version": version},
        headers={**shop.headers("admin"), "Idempotency-Key": "calendar-mark"},
    )
    assert answer.status_code == 200, answer.get_json()
    # The claim was on the old calendar: not used, and every report is the log's.
    assert mark(core, shop.shop_id).seq is None
    same_everywhere(core, shop.shop_id, DAY, DAY, None)
    assert reports.refresh_facts(core, shop.shop_id) == 1
    assert mark(core, shop.shop_id).seq == last_seq(core, shop.shop_id)
    rollup_is_the_stored_sums(core, shop.shop_id)
