"""The demo shop and its simulator, on a real SQLite database through the real services.

The seeded shop must look like a working day (every stage, every pause reason,
every inspection level) and its history must be real: replaying each order's
stored events gives the row. The simulator must keep moving cars along the
legal flow, keep ``seq`` gap-free, keep the shop's size in bounds, survive a
person changing an order under it, and stop when its sleep says so.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from shared.demo.seed import (
    ADMIN_NAME,
    ADVISOR_NAME,
    ADVISOR_PASSWORD,
    DEMO_SLUG,
    SHOP_NAME,
    seed_demo,
)
from shared.demo.simulator import MAX_ACTIVE, MIN_ACTIVE, Simulator
from shared.domain.events import StageChanged, event_from_record
from shared.domain.order import apply_events
from shared.domain.stages import TERMINAL_STAGES, TRANSITIONS, CheckLevel, PauseReason, Stage
from shared.persistence.models import (
    ApiToken,
    Bay,
    LabourSegment,
    OrderEvent,
    RepairOrder,
    Shop,
    StaffUser,
)
from shared.services import setup, shop_profile, staff_login
from shared.services.auth import hash_pin, resolve_bearer, verify_pin
from shared.services.core import Core
from shared.services.rows import state_from_row


def _all(core: Core, model: Any) -> list[Any]:
    with core.db.read() as session:
        rows = list(session.execute(select(model)).scalars())
        session.expunge_all()
        return rows


def _count(core: Core, model: Any) -> int:
    with core.db.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _active_count(core: Core) -> int:
    with core.db.read() as session:
        query = select(func.count()).where(
            RepairOrder.stage.not_in([s.value for s in TERMINAL_STAGES])
        )
        return int(session.execute(query).scalar_one())


def _assert_history_replays(core: Core) -> int:
    """Every order row equals the fold of its stored events; returns how many orders."""
    with core.db.read() as session:
        rows = list(session.execute(select(RepairOrder).order_by(RepairOrder.id)).scalars())
        for row in rows:
            records = session.execute(
                select(OrderEvent).where(OrderEvent.order_id == row.id).order_by(OrderEvent.seq)
            ).scalars()
            events = [event_from_record(r.type, r.at, r.data) for r in records]
            assert events[0].type == "order_created"
            for event in events:
                if isinstance(event, StageChanged):
                    move = (event.from_stage, event.to_stage)
                    assert move in TRANSITIONS, f"{row.plate}: illegal {move}"
            assert apply_events(None, events) == state_from_row(row), row.plate
        return len(rows)


def _assert_seq_is_gap_free_and_follows_time(core: Core) -> None:
    with core.db.read() as session:
        seqs = list(session.execute(select(OrderEvent.seq).order_by(OrderEvent.seq)).scalars())
        moments = list(session.execute(select(OrderEvent.at).order_by(OrderEvent.seq)).scalars())
        last_seq = session.execute(select(Shop.last_seq)).scalar_one()
    assert seqs == list(range(1, len(seqs) + 1))
    assert last_seq == len(seqs)
    assert moments == sorted(moments), "events were stamped out of order"


def _bare_demo_shop(core: Core) -> None:
    """The demo shop with two bays and two technicians but no orders: the
    simulator's first moves are arrivals. Much faster than a full seed."""
    shop_id = setup.ensure_shop(core, slug=DEMO_SLUG, name=SHOP_NAME)
    for code in ("B01", "B02"):
        setup.add_bay(core, shop_id, code, code)
    for name in ("王建国", "李明"):
        setup.create_user(core, shop_id, role="technician", name=name)


def test_seed_builds_a_working_day_with_a_real_history_once(core: Core) -> None:
    seeded = seed_demo(core)

    assert seeded.shop_name == SHOP_NAME
    shop = _all(core, Shop)
    assert [(s.id, s.slug, s.timezone) for s in shop] == [
        (seeded.shop_id, DEMO_SLUG, "Asia/Shanghai")
    ]
    # Whom a customer calls, on the ticket and the phone page.
    contact = shop_profile.profile(core, seeded.shop_id)
    assert contact["address"] and contact["hotline"]
    bays = _all(core, Bay)
    assert sorted(b.code for b in bays) == [f"B{n:02d}" for n in range(1, 13)]
    assert Counter(b.kind for b in bays) == {"general": 9, "quick": 2, "wash": 1}
    staff = _all(core, StaffUser)
    technicians = [u for u in staff if u.role == "technician"]
    assert len(technicians) == 10
    assert sorted(u.badge for u in technicians) == [str(b) for b in range(1001, 1011)]
    assert {q for u in technicians for q in u.qualifications} == {"team_lead", "qc_inspector"}
    assert Counter(u.role for u in staff if u.role != "technician") == {
        "admin": 1,
        "foreman": 1,
        "manager": 1,
        "advisor": 1,
    }
    advisor = next(u for u in staff if u.role == "advisor")
    assert (seeded.advisor_name, seeded.advisor_password) == (ADVISOR_NAME, ADVISOR_PASSWORD)
    assert advisor.name == ADVISOR_NAME
    assert check_password_hash(advisor.password_hash, ADVISOR_PASSWORD)
    # Every login the server prints is one the shop has: each office person
    # with their password, each technician with their badge and PIN.
    assert [login.role for login in seeded.office] == ["admin", "manager", "foreman", "advisor"]
    by_name = {u.name: u for u in staff}
    for login in seeded.office:
        assert by_name[login.name].role == login.role
        assert check_password_hash(by_name[login.name].password_hash, login.password)
    assert [login.badge for login in seeded.technicians] == [str(b) for b in range(1001, 1011)]
    for login in seeded.technicians:
        assert by_name[login.name].badge == login.badge
        assert check_password_hash(by_name[login.name].pin_hash, login.pin)
    admin = resolve_bearer(core, seeded.admin_token)
    assert admin is not None
    assert (admin.role, admin.shop_id) == ("admin", seeded.shop_id)

    orders = _all(core, RepairOrder)
    assert len(orders) >= 38
    assert {Stage(o.stage) for o in orders} == set(Stage)
    assert 25 <= _active_count(core) <= 45
    paused = {o.pause_reason for o in orders if o.stage == Stage.PAUSED}
    assert paused == {r.value for r in PauseReason}
    checking = {o.check_level for o in orders if o.stage == Stage.QUALITY_CHECK}
    assert checking == {level.value for level in CheckLevel}
    assert all(o.wash for o in orders if o.stage == Stage.WASHING)
    assert any(o.priority == "vip" for o in orders)
    assert any(o.waiting for o in orders) and not all(o.waiting for o in orders)
    assert any(o.rework_count for o in orders), "no order failed an inspection"
    assert any(q["status"] == "approved" for o in orders for q in o.quotes)
    assert any(q["status"] == "pending" for o in orders for q in o.quotes)
    assert any(len(o.plate) == 8 for o in orders), "no new-energy (green) plate"
    assert len({o.plate for o in orders}) == len(orders)
    for order in orders:
        hours = [item["labour_hours"] for item in order.items]
        assert order.items and all(0.5 <= h <= 4 for h in hours), order.complaint
        assert order.vehicle_model and order.complaint and order.customer_phone
        assert order.promised_at is not None
        if order.stage in (Stage.DISPATCHED, Stage.IN_PROGRESS, Stage.PAUSED):
            assert order.bay and order.technicians
    on_floor = [o.bay for o in orders if o.stage in ("dispatched", "in_progress", "paused")]
    assert len(on_floor) == len(set(on_floor)), "two cars seeded on one bay"

    assert _assert_history_replays(core) == len(orders)
    _assert_seq_is_gap_free_and_follows_time(core)
    # The demo acts for the shop, except that technicians start and resume
    # their own work (their own taps start their clocks).
    events = _all(core, OrderEvent)
    technician_refs = {f"user:{u.id}" for u in _all(core, StaffUser) if u.role == "technician"}
    assert {e.actor for e in events} <= {"system:demo"} | technician_refs
    for event in events:
        if event.actor != "system:demo":
            assert event.type in ("stage_changed", "pause_reason_cleared"), event.type
            if event.type == "stage_changed":
                assert event.data["to_stage"] == "in_progress"
    clocks = _all(core, LabourSegment)
    assert clocks and {c.started_how for c in clocks} == {"own"}
    assert all(c.started_by == f"user:{c.technician_id}" for c in clocks)

    # Seeding again (every `baylight serve --demo` does) adds nothing but a token.
    tables = (Shop, Bay, StaffUser, RepairOrder, OrderEvent)
    counts = [_count(core, table) for table in tables]
    again = seed_demo(core)
    assert [_count(core, table) for table in tables] == counts
    assert again.shop_id == seeded.shop_id
    assert again.admin_token != seeded.admin_token
    principal = resolve_bearer(core, again.admin_token)
    assert principal is not None and principal.role == "admin"
    assert _count(core, ApiToken) == 2
    assert (again.office, again.technicians) == (seeded.office, seeded.technicians)


def test_an_earlier_demo_gets_its_office_logins_and_prints_only_what_signs_in(
    core: Core,
) -> None:
    """A demo shop from before the logins were printed (foreman and manager
    without a password, no admin), where someone has since chosen their own
    password or PIN: the missing logins are made, and what no longer signs
    in with the demo's words is not printed."""
    seeded = seed_demo(core)
    with core.db.write() as session:
        people = {u.name: u for u in session.execute(select(StaffUser)).scalars()}
        people["孙卫东"].password_hash = None
        people["钱丽华"].password_hash = None
        session.delete(people[ADMIN_NAME])
        people[ADVISOR_NAME].password_hash = hash_pin("chosen by the advisor")
        people["张伟"].pin_hash = hash_pin("9876")
    again = seed_demo(core)
    assert [login.role for login in again.office] == ["admin", "manager", "foreman"]
    assert [login.name for login in again.technicians] == [
        login.name for login in seeded.technicians if login.name != "张伟"
    ]
    for login in again.office:
        assert staff_login.sign_in(core, login.name, login.password, DEMO_SLUG)
    with core.db.read() as session:
        advisor = session.execute(
            select(StaffUser).where(StaffUser.name == ADVISOR_NAME)
        ).scalar_one()
        assert verify_pin(advisor.password_hash, "chosen by the advisor")


def test_two_hundred_steps_move_cars_along_the_legal_flow(core: Core) -> None:
    seed_demo(core)
    simulator = Simulator(core, lambda seconds: None, rng_seed=7)
    moves: list[str] = []
    sizes: list[int] = []

    for _ in range(200):
        description = simulator.step()
        if description is not None:
            moves.append(description)
        sizes.append(_active_count(core))

    assert len(moves) >= 150
    assert min(sizes) >= MIN_ACTIVE and max(sizes) <= MAX_ACTIVE
    kinds = " | ".join(moves)
    for expected in ("new car", "dispatched to", "work started", "check passed", "handed over"):
        assert expected in kinds, f"no {expected!r} among {len(moves)} moves"
    for order in _all(core, RepairOrder):
        stage = Stage(order.stage)
        # A reason is only ever open on a waiting car, and the one-line reason
        # is the first open one. An arrival or a decision clears its reason
        # but leaves the car paused until someone resumes it (docs/API.md),
        # so a paused car may have none left.
        reasons = order.pause_reasons or []
        assert order.pause_reason == (reasons[0]["reason"] if reasons else None)
        assert not reasons or stage == Stage.PAUSED, (stage, reasons)
        assert (stage == Stage.QUALITY_CHECK) == (order.check_level is not None)
        if stage == Stage.WASHING:
            assert order.wash
    _assert_history_replays(core)
    _assert_seq_is_gap_free_and_follows_time(core)


def test_a_person_changing_orders_under_the_simulator_only_skips_moves(
    core: Core, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="shared.demo.simulator")
    _bare_demo_shop(core)
    simulator = Simulator(core, lambda seconds: None, rng_seed=3)
    for _ in range(12):
        simulator.step()
    # The simulator's view, then the floor moves on without it, as when a
    # foreman or technician acts on the same orders between read and write.
    stale = simulator._floor()
    for _ in range(12):
        simulator.step()
    monkeypatch.setattr(simulator, "_floor", lambda: stale)

    results = [simulator.step() for _ in range(20)]

    assert None in results, "every stale move went through"
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert any("(stale_version)" in message for message in skipped), skipped
    _assert_history_replays(core)
    _assert_seq_is_gap_free_and_follows_time(core)


class _Stop(Exception):
    """What the test's sleep raises to end the endless loop."""


def test_run_moves_at_the_given_pace_and_stops_when_sleep_raises(core: Core) -> None:
    _bare_demo_shop(core)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 6:
            raise _Stop

    with pytest.raises(_Stop):
        Simulator(core, sleep, rng_seed=1, pace_seconds=2.0).run()

    assert len(pauses) == 6
    assert all(1.0 <= p <= 3.0 for p in pauses)
    assert _count(core, RepairOrder) >= 1
    assert _count(core, OrderEvent) >= 6
    _assert_seq_is_gap_free_and_follows_time(core)
