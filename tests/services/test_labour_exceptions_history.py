"""Labour integrity over a range of days (issue 16, criterion 6).

``labour.exceptions_between`` lists, for every shop day of a range, what
the foreman's console lists for that day (``daily_exceptions``): a clock
closed at the shift end, and a job whose clocked hours pass 2× its standard
hours. History is the ``labour_segment`` rows; a clock still left running
past the shift end is shown as closing will leave it, and nothing is
written: closing the shift is the ``end_shift`` command.

Real services on real SQLite; time moves through ``core.clock`` only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shared.domain import errors
from shared.persistence.models import LabourSegment
from shared.services import labour
from shared.services.commands import CommandRequest
from shared.services.core import Core
from tests.conftest import HandClock
from tests.reception.flow import Workshop, flask_call

START = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)  # Monday 10:00 in Asia/Shanghai
MONDAY = date(2026, 5, 4)


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(START)
    core.clock = fixed
    return fixed


def segments(core: Core) -> list[tuple[Any, ...]]:
    """Every clock segment as stored, every column."""
    with core.db.read() as session:
        rows = session.execute(select(LabourSegment).order_by(LabourSegment.id)).scalars()
        return [
            (
                s.id,
                s.order_id,
                s.technician_id,
                s.started_at,
                s.ended_at,
                s.end_reason,
                s.flagged,
                s.flag_reason,
            )
            for s in rows
        ]


def per_day(core: Core, shop_id: int, first: date, last: date) -> list[dict[str, Any]]:
    """``daily_exceptions`` of each day, each line with its day."""
    found = []
    day = first
    while day <= last:
        found += [
            {"day": day.isoformat(), **e} for e in labour.daily_exceptions(core, shop_id, day)
        ]
        day += timedelta(days=1)
    return found


def start(workshop: Workshop, plate: str, bay: str, who: str) -> dict[str, Any]:
    """Open, dispatch to ``bay`` and start the job by the technician's own
    tap (``who``: the seeded token), which opens their clock."""
    order = workshop.create(plate=plate)
    principal = {"technician": 0, "technician2": 1}[who]
    body = {"bay": bay, "technicians": [workshop.shop.technicians[principal]]}
    path = f"/api/v1/orders/{order['id']}"
    order = workshop._do(
        "PUT", f"{path}/assignment", {**body, "version": order["version"]}, "foreman"
    )
    move = {"to": "in_progress", "version": order["version"]}
    return dict(workshop._do("POST", f"{path}/transitions", move, who))


@pytest.fixture
def history(client: Any, shop: Any, core: Core, clock: HandClock) -> dict[str, Any]:
    """Monday: a one-hour job worked 2.5 h from 10:00 on bay B02, and a job
    started at 13:00 on B01 whose clock is left running (the shift ends at
    18:00). Nothing happens after: the clock reads Tuesday 09:00."""
    workshop = Workshop(flask_call(client), shop)
    long_job = start(workshop, "粤B10002", "B02", "technician2")
    clock.advance(hours=2.5)
    long_job = workshop.move(long_job, "quality_check")
    clock.now = START + timedelta(hours=3)
    forgotten = start(workshop, "粤B10001", "B01", "technician")
    clock.now = START + timedelta(hours=23)  # Tuesday 09:00
    return {"forgotten": forgotten, "long_job": long_job}


def test_each_day_of_a_range_lists_what_its_day_lists(
    core: Core, shop: Any, history: dict[str, Any]
) -> None:
    found = labour.exceptions_between(
        core, shop.shop_id, MONDAY - timedelta(days=2), MONDAY + timedelta(days=1)
    )
    assert found == per_day(
        core, shop.shop_id, MONDAY - timedelta(days=2), MONDAY + timedelta(days=1)
    )
    kinds = [(e["day"], e["kind"], e["order_id"]) for e in found]
    forgotten, long_job = history["forgotten"]["id"], history["long_job"]["id"]
    # Monday's overrun, and the forgotten clock shown closed at 18:00 (5 h,
    # an overrun too); closing it at Monday's end leaves a segment that
    # ended on Monday, so Tuesday lists nothing.
    assert kinds == [
        ("2026-05-04", "shift_end", forgotten),
        ("2026-05-04", "overrun", long_job),
        ("2026-05-04", "overrun", forgotten),
    ]
    monday = found[0]
    assert monday["clocked_hours"] == 5.0 and monday["plate"] == "粤B10001"
    assert monday["technicians"] == [{"id": shop.technicians[0], "name": "王师傅"}]
    assert (found[1]["clocked_hours"], found[1]["standard_hours"]) == (2.5, 1.0)
    assert found[1]["technicians"] == [{"id": shop.technicians[1], "name": "李师傅"}]
    assert [e["day"] for e in found] == sorted(e["day"] for e in found)


def test_reading_the_range_closes_nothing_and_the_command_does(
    core: Core, shop: Any, history: dict[str, Any]
) -> None:
    before = segments(core)
    running = [s for s in before if s[4] is None]
    assert [s[1] for s in running] == [history["forgotten"]["id"]]
    listed = labour.exceptions_between(core, shop.shop_id, MONDAY, MONDAY + timedelta(days=1))
    labour.daily_exceptions(core, shop.shop_id)
    assert segments(core) == before  # a read never writes

    # Closing the shift is the explicit command: it writes what the read showed.
    closed = labour.end_shift(core, CommandRequest(labour.SHIFT_CLOCK, shop.shop_id))
    assert closed.body["closed"] == 1
    after = segments(core)
    [forgotten] = [s for s in after if s[1] == history["forgotten"]["id"]]
    assert forgotten[4].astimezone(UTC) == datetime(2026, 5, 4, 10, 0, tzinfo=UTC)  # 18:00
    assert (forgotten[5], forgotten[6]) == ("shift_end", True)
    again = labour.exceptions_between(core, shop.shop_id, MONDAY, MONDAY + timedelta(days=1))
    assert again == listed


def test_a_range_is_checked_and_days_to_come_are_empty(
    core: Core, shop: Any, history: dict[str, Any]
) -> None:
    with pytest.raises(errors.ValidationFailed) as backwards:
        labour.exceptions_between(core, shop.shop_id, MONDAY, MONDAY - timedelta(days=1))
    assert backwards.value.extra["field"] == "to"
    with pytest.raises(errors.ValidationFailed) as too_long:
        labour.exceptions_between(core, shop.shop_id, MONDAY, MONDAY + timedelta(days=366))
    assert too_long.value.extra["field"] == "to"
    year = labour.exceptions_between(core, shop.shop_id, MONDAY, MONDAY + timedelta(days=365))
    assert year == per_day(core, shop.shop_id, MONDAY, MONDAY + timedelta(days=1))
    future = MONDAY + timedelta(days=30)
    assert labour.exceptions_between(core, shop.shop_id, future, future) == []
