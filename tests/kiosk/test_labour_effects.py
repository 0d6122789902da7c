"""The labour clock's effects in their order: a refused clock move is refused
before anything is written (nothing to put back), the foreman's overview is
a read that writes nothing even while a clock runs past the shift's end, and
closing the shift is a command whose closing reaches the staff room after
commit, and only it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select

from shared.domain import labour as rules
from shared.domain import order as order_rules
from shared.domain.stages import Stage
from shared.persistence.models import LabourSegment, OrderEvent
from shared.services import labour, setup
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest, Transaction, execute
from shared.services.core import Core
from shared.services.rows import state_from_row
from tests.staff_sessions import sign_in_as

# 10:00 in Shanghai on a Monday, and 08:30 the next morning.
MORNING = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)
NEXT_MORNING = datetime(2030, 1, 8, 0, 30, tzinfo=UTC)
SHIFT_END = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai
WRITES = ("insert", "update", "delete")


@contextmanager
def statements(core: Core) -> Iterator[list[str]]:
    """The SQL statements the block sends, lower-cased."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql.strip().lower())

    event.listen(core.db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(core.db.engine, "before_cursor_execute", note)


def counts(core: Core) -> tuple[int, int, int]:
    """Events, segments, and segments still running."""
    with core.db.read() as session:
        events = session.execute(select(func.count()).select_from(OrderEvent)).scalar_one()
        segments = session.execute(select(func.count()).select_from(LabourSegment)).scalar_one()
        running = session.execute(
            select(func.count()).select_from(LabourSegment).where(LabourSegment.ended_at.is_(None))
        ).scalar_one()
    return int(events), int(segments), int(running)


def csrf_token(client: Any) -> str:
    page = client.get("/foreman").data.decode()
    return page.split('name="csrf-token" content="')[1].split('"')[0]


def sign_in_foreman(client: Any, core: Core, shop: Any) -> str:
    """The test client signed in as a foreman (at the core's time, so the
    session lives); the console's CSRF token."""
    sign_in_as(client, setup.create_user(core, shop.shop_id, role="foreman", name="赵主管"))
    return csrf_token(client)


def a_clock_left_running(api: Any, shop: Any, core: Core) -> dict[str, Any]:
    """Wang's clock started at 10:00 and still running the next morning."""
    core.clock = lambda: MORNING
    order = api.assign(api.create("粤B40001", hours=8.0), [shop.technicians[0]])
    status, order = api.move(order, "in_progress")
    assert status == 200
    core.clock = lambda: NEXT_MORNING
    return order


def test_a_refused_clock_move_is_refused_before_anything_is_written(api, shop, core) -> None:
    core.clock = lambda: MORNING
    wang = shop.technicians[0]
    first = api.assign(api.create("粤B40002"), [wang])
    assert api.move(first, "in_progress")[0] == 200
    second = api.assign(api.create("粤B40003"), [wang], bay="B02")
    principal = resolve_bearer(core, shop.tokens["technician"])
    assert principal is not None
    request = CommandRequest(principal.actor(), shop.shop_id)
    seen: dict[str, Any] = {}

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(second["id"])
        before = tx.check_version(row, second["version"])
        events = order_rules.transition(before, Stage.IN_PROGRESS, actor=tx.actor, now=tx.now)
        with statements(core) as sent:
            try:
                labour.plan_transition(tx, row, before, order_rules.apply_events(before, events))
            finally:
                seen.update(sent=list(sent), state=state_from_row(row))
                seen["modified"] = tx.session.is_modified(row)
        raise AssertionError("the second clock was not refused")

    totals = counts(core)
    with pytest.raises(rules.ClockConflict) as refused:
        execute(core, request, "transition", work)
    # Only reads were sent, and the row is as it was loaded: nothing to put back.
    assert seen["sent"] and not [s for s in seen["sent"] if s.startswith(WRITES)]
    assert seen["state"].stage == Stage.DISPATCHED and not seen["modified"]
    assert refused.value.extra["order"]["stage"] == "dispatched"
    assert counts(core) == totals


def test_the_planned_moves_are_written_after_the_events(api, shop, core) -> None:
    """Plan, record, write: the path the order commands take."""
    core.clock = lambda: MORNING
    wang = shop.technicians[0]
    order = api.assign(api.create("粤B40004"), [wang])
    principal = resolve_bearer(core, shop.tokens["technician"])
    assert principal is not None

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order["id"])
        before = tx.check_version(row, order["version"])
        events = order_rules.transition(before, Stage.IN_PROGRESS, actor=tx.actor, now=tx.now)
        after = order_rules.apply_events(before, events)
        moves = labour.plan_transition(tx, row, before, after)
        assert moves.start_for == (wang,) and moves.stop_reason is None
        tx.record(row, before, events, after)
        labour.move_clocks(tx, moves)
        return 200, tx.view(row)

    outcome = execute(core, CommandRequest(principal.actor(), shop.shop_id), "transition", work)
    assert outcome.body["stage"] == "in_progress"
    assert [s.running for s in labour.order_segments(core, order["id"])] == [True]


def test_the_overview_writes_nothing_while_a_clock_runs_past_the_shift_end(
    api, shop, core, client
) -> None:
    order = a_clock_left_running(api, shop, core)
    sign_in_foreman(client, core, shop)
    totals = counts(core)
    entered: list[bool] = []
    write = core.db.write

    def watched_write() -> Any:
        entered.append(True)
        return write()

    core.db.write = watched_write  # type: ignore[method-assign]
    try:
        with statements(core) as sent:
            overview = client.get("/foreman/api/overview")
    finally:
        core.db.write = write  # type: ignore[method-assign]
    assert overview.status_code == 200
    assert entered == [] and not [s for s in sent if s.startswith(WRITES)]
    assert counts(core) == totals and totals[2] == 1
    assert labour.order_segments(core, order["id"])[0].running
    # Yesterday's clock is reported, as the closing will leave it, not closed.
    listed = labour.daily_exceptions(core, shop.shop_id, day=MORNING.date())
    assert [(e["kind"], e["order_id"]) for e in listed] == [("shift_end", order["id"])]
    assert listed[0]["clocked_hours"] == 8.0
    states = {t["id"]: t["state"] for t in overview.get_json()["technicians"]}
    assert states[shop.technicians[0]] == "idle"


def test_closing_the_shift_is_a_command_heard_in_the_staff_room(
    app, socketio, api, shop, core, client
) -> None:
    order = a_clock_left_running(api, shop, core)
    foreman = sign_in_foreman(client, core, shop)
    board = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    lounge = socketio.test_client(app, auth={"token": shop.tokens["display-lounge"]})
    for screen in (board, lounge):
        assert screen.is_connected()
        screen.get_received()
    assert client.post("/foreman/api/close-shift", json={}).status_code == 400  # no CSRF token
    closed = client.post("/foreman/api/close-shift", json={}, headers={"X-CSRFToken": foreman})
    assert closed.status_code == 200, closed.get_json()
    answer = closed.get_json()
    assert answer["closed"] == 1 and datetime.fromisoformat(answer["shift_end"]) == SHIFT_END
    [segment] = labour.order_segments(core, order["id"])
    assert segment.ended_at == SHIFT_END and segment.end_reason == rules.END_SHIFT
    assert segment.flagged and rules.FLAG_SHIFT_END in segment.flag_reason
    [heard] = board.get_received()
    assert heard["name"] == "shift_closed"
    assert datetime.fromisoformat(heard["args"][0]["shift_end"]) == SHIFT_END
    assert heard["args"][0]["clocks"] == [
        {"order_id": order["id"], "technician_id": shop.technicians[0]}
    ]
    assert lounge.get_received() == []
    # No order changed: versions stay, so no tablet's next tap turns stale.
    assert api.get(order["id"])["version"] == order["version"]
    # Nothing is left to close: a second close changes and tells nothing.
    again = client.post("/foreman/api/close-shift", json={}, headers={"X-CSRFToken": foreman})
    assert again.get_json()["closed"] == 0
    assert board.get_received() == []
    for screen in (board, lounge):
        screen.disconnect()


def test_a_command_that_finds_a_forgotten_clock_closes_it_and_tells_the_staff_room(
    app, socketio, api, shop, core
) -> None:
    """Any command that meets yesterday's clock closes it the same way."""
    old = a_clock_left_running(api, shop, core)
    board = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    board.get_received()
    new = api.assign(api.create("粤B40005"), [shop.technicians[0]], bay="B02")
    board.get_received()
    assert api.move(new, "in_progress")[0] == 200
    names = [m["name"] for m in board.get_received()]
    assert names == ["order", "shift_closed"]
    assert labour.order_segments(core, old["id"])[0].end_reason == rules.END_SHIFT
    board.disconnect()
