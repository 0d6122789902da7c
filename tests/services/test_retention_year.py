"""The retention job over a year of a shop's orders (issue 14, "Measured and
tested"): a few hundred orders across 365 days, walked through the real
services with photos and signatures, some customers coming back; the shop
keeps personal data 180 days after delivery.

The job runs once (after a dry run) and again. Then no name, phone, VIN,
plate or typed text of an expired order is anywhere: in any table's rows, in
the event log, in the database file or in a backup made afterwards, nor are
the bytes of its photos and signatures; the orders inside the retention are
exactly as they were; every order's events still replay to its row; and the
figures reports are made of (orders per day, stage moves, time in each stage,
reworks, approvals, ratings) are unchanged.

One history for the module (generating it is most of the time); each test
checks one promise of it.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from shared.domain.events import event_from_record
from shared.domain.order import apply_events
from shared.persistence.models import OrderEvent, RepairOrder, Shop
from shared.persistence.retention_models import PrivacyLog
from shared.services import backup, retention
from shared.services.core import Core
from shared.services.rows import state_from_row
from shared.services.views import mask_plate
from tests.conftest import HandClock, migrated_copy, offline_core, seed_shop
from tests.services.retention_orders import (
    Customer,
    Visit,
    Walker,
    at_local_morning,
    found_markers,
)

FIRST_DAY = date(2025, 3, 3)
DAYS = 365
RETENTION_DAYS = 180
NOW = at_local_morning(FIRST_DAY + timedelta(days=DAYS + 1), hour=10)
ZONE = ZoneInfo("Asia/Shanghai")
Rows = dict[str, list[tuple[Any, ...]]]


@dataclass
class Year:
    """The history, and the database as it was at each step."""

    core: Core
    path: Path
    visits: list[Visit]
    expired: set[int]
    before: Rows
    after_dry_run: Rows
    after: Rows
    after_again: Rows
    plans: list[retention.ShopPlan]
    runs: list[retention.ShopRun]
    runs_again: list[retention.ShopRun]
    backup_bytes: bytes
    file_bytes: bytes
    events_before: list[tuple[Any, ...]]
    events_after: list[tuple[Any, ...]]


def table_rows(path: Path) -> Rows:
    """Every row of every table, as SQLite stores it, through a connection
    of its own (only what is committed)."""
    with closing(sqlite3.connect(path)) as connection:
        names = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: sorted(
                connection.execute(f'SELECT * FROM "{name}"').fetchall(), key=lambda row: repr(row)
            )
            for name in names
        }


def event_rows(core: Core) -> list[tuple[Any, ...]]:
    with core.db.read() as session:
        return [
            (e.seq, e.type, e.order_id, e.at, e.actor, e.data)
            for e in session.execute(select(OrderEvent).order_by(OrderEvent.seq)).scalars()
        ]


def generate(core: Core, shop_id: int, technician: int, clock: HandClock) -> list[Visit]:
    """Over 200 orders across 365 days: most delivered, some cancelled, a
    few still in the shop at the end; one customer in eight comes back."""
    rng = random.Random(14)
    walker = Walker(core, shop_id, technician, clock)
    visits: list[Visit] = []
    regulars: list[Customer] = []
    for day in range(DAYS):
        for slot in range(rng.choice((0, 1, 0, 1, 1))):
            clock.now = at_local_morning(FIRST_DAY + timedelta(days=day), 9 + 3 * slot)
            returning = regulars and rng.random() < 0.125
            customer = rng.choice(regulars) if returning else Customer.new(rng)
            regulars.append(customer)
            end = "cancelled" if rng.random() < 0.08 else "delivered"
            if day >= DAYS - 2:
                end = "in_progress"
            visits.append(walker.walk(rng, customer, mark=f"{day:03d}{slot}", end=end))
    return visits


def _no_disk_wait(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA synchronous=OFF")


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Iterator[Year]:
    tmp = tmp_path_factory.mktemp("year")
    path = tmp / "year.db"
    core = offline_core(migrated_copy(migrated_template, path), tmp)
    # Some 3,000 commands make the history: without waiting for the disk
    # after each (durability is not what this module is about).
    event.listen(core.db.engine, "connect", _no_disk_wait)
    core.db.engine.dispose()
    clock = HandClock(at_local_morning(FIRST_DAY))
    core.clock = clock
    shop = seed_shop(core)
    with core.db.write() as session:
        row = session.get(Shop, shop.shop_id)
        assert row is not None
        row.settings = {**row.settings, "retention_days": RETENTION_DAYS}
    visits = generate(core, shop.shop_id, shop.technicians[0], clock)
    clock.now = NOW
    cut = NOW - timedelta(days=RETENTION_DAYS)
    with core.db.read() as session:
        expired = set(
            session.execute(
                select(RepairOrder.id).where(
                    RepairOrder.stage.in_(("delivered", "cancelled")), RepairOrder.closed_at < cut
                )
            ).scalars()
        )
    before = table_rows(path)
    events_before = event_rows(core)
    plans = retention.plan(core)
    after_dry_run = table_rows(path)
    runs = retention.run_retention(core)
    after = table_rows(path)
    events_after = event_rows(core)
    runs_again = retention.run_retention(core)
    after_again = table_rows(path)
    copy = tmp / "backup.db"
    backup.backup(core, str(copy))
    core.db.dispose()
    log = path.with_name(path.name + "-wal")
    on_disk = path.read_bytes() + (log.read_bytes() if log.exists() else b"")
    yield Year(
        core,
        path,
        visits,
        expired,
        before,
        after_dry_run,
        after,
        after_again,
        plans,
        runs,
        runs_again,
        copy.read_bytes(),
        on_disk,
        events_before,
        events_after,
    )


def _expired_visits(year: Year) -> list[Visit]:
    return [visit for visit in year.visits if visit.order_id in year.expired]


def _kept_visits(year: Year) -> list[Visit]:
    return [visit for visit in year.visits if visit.order_id not in year.expired]


def _gone_markers(year: Year) -> set[str]:
    """What must be gone: every marker of an expired visit, except a
    returning customer's identity, which their later visit still holds."""
    kept = {marker for visit in _kept_visits(year) for marker in visit.customer.markers()}
    return {m for visit in _expired_visits(year) for m in visit.markers() if m not in kept}


def test_the_history_is_a_year_with_orders_on_both_sides_of_the_retention(year: Year) -> None:
    assert 200 <= len(year.visits) <= 300
    assert 100 <= len(year.expired) <= len(year.visits) - 100
    assert any(visit.pictures for visit in _expired_visits(year))
    assert any(visit.stage == "cancelled" for visit in _expired_visits(year))
    returning = {id(v.customer) for v in _expired_visits(year)} & {
        id(v.customer) for v in _kept_visits(year)
    }
    assert returning, "some customer of an expired order came back within the retention"


def test_the_dry_run_lists_the_expired_orders_and_changes_nothing(year: Year) -> None:
    (shop,) = year.plans
    assert shop.days == RETENTION_DAYS
    assert {order.id for order in shop.orders} == year.expired
    assert year.after_dry_run == year.before


def test_no_personal_data_of_an_expired_order_is_left_in_any_row(year: Year) -> None:
    gone = _gone_markers(year)
    assert len(gone) > 500
    stored = found_markers(repr(year.after))
    assert gone & stored == set()
    # The scan finds what is there: the orders inside the retention keep theirs.
    assert {marker for visit in _kept_visits(year) for marker in visit.markers()} <= stored


def test_no_personal_data_or_picture_of_an_expired_order_is_left_on_disk(year: Year) -> None:
    gone = _gone_markers(year)
    kept = {marker for visit in _kept_visits(year) for marker in visit.markers()}
    pictures = [_piece(p) for v in _expired_visits(year) for p in v.pictures]
    kept_pictures = [_piece(p) for v in _kept_visits(year) for p in v.pictures]
    assert pictures and kept_pictures
    for name, content in (("backup", year.backup_bytes), ("database file", year.file_bytes)):
        found = found_markers(content)
        assert gone & found == set(), name
        assert not any(piece in content for piece in pictures), name
        # The same scan finds what is kept.
        assert kept <= found, name
        assert all(piece in content for piece in kept_pictures), name


def _piece(picture: bytes) -> bytes:
    """48 bytes from the middle of a stored picture: its own noise."""
    middle = len(picture) // 2
    return picture[middle : middle + 48]


def test_expired_orders_are_anonymised_and_their_pictures_deleted(year: Year) -> None:
    before = {row[0]: row for row in year.before["repair_order"]}
    columns = _columns(year.path, "repair_order")
    for row in year.after["repair_order"]:
        order = dict(zip(columns, row, strict=True))
        if order["id"] not in year.expired:
            continue
        old = dict(zip(columns, before[order["id"]], strict=True))
        assert order["anonymised_at"] is not None
        assert order["plate"] == mask_plate(old["plate"]) != old["plate"]
        assert (order["customer_name"], order["customer_phone"], order["vehicle_vin"]) == (
            "",
            "",
            "",
        )
        assert order["customer_token"] != old["customer_token"]
        # What the figures are made of stays.
        for kept in ("number", "business_day", "stage", "version", "created_at", "closed_at"):
            assert order[kept] == old[kept]
    for table in ("quote_photo", "quote_signature"):
        owners = {row[_columns(year.path, table).index("order_id")] for row in year.after[table]}
        assert owners and not owners & year.expired


def test_orders_inside_the_retention_are_untouched(year: Year) -> None:
    for table in year.before:
        columns = _columns(year.path, table)
        if "order_id" in columns:
            key = columns.index("order_id")
        elif table == "repair_order":
            key = columns.index("id")
        else:
            continue
        kept_before = [row for row in year.before[table] if row[key] not in year.expired]
        kept_after = [row for row in year.after[table] if row[key] not in year.expired]
        assert kept_after == kept_before, table


def test_every_order_still_replays_to_its_row(year: Year) -> None:
    core = year.core
    with core.db.read() as session:
        rows = session.execute(select(RepairOrder).order_by(RepairOrder.id)).scalars().all()
        for row in rows:
            stored = session.execute(
                select(OrderEvent).where(OrderEvent.order_id == row.id).order_by(OrderEvent.seq)
            ).scalars()
            replayed = apply_events(None, [event_from_record(e.type, e.at, e.data) for e in stored])
            assert replayed == state_from_row(row), row.id
    core.db.dispose()


def figures(events: list[tuple[Any, ...]]) -> dict[str, Any]:
    """What reports count, from the log alone: orders per day, moves per
    stage, minutes spent in each stage, reworks, approvals, ratings."""
    opened: Counter[str] = Counter()
    moves: Counter[str] = Counter()
    minutes: Counter[str] = Counter()
    entered: dict[int, tuple[str, datetime]] = {}
    other: Counter[str] = Counter()
    for _seq, kind, order_id, at, _actor, data in events:
        if kind == "order_created":
            opened[at.astimezone(ZONE).date().isoformat()] += 1
            entered[order_id] = (data["stage"], at)
        elif kind == "stage_changed":
            stage, since = entered[order_id]
            minutes[stage] += round((at - since).total_seconds() / 60)
            moves[data["to_stage"]] += 1
            entered[order_id] = (data["to_stage"], at)
        elif kind == "check_failed":
            other["reworks"] += 1
        elif kind == "extra_work_decided":
            other["approved" if data["approved"] else "declined"] += 1
        elif kind == "survey_submitted":
            other["ratings"] += 1
            other["rating_points"] += data["rating"]
    return {"opened": opened, "moves": moves, "minutes": minutes, "other": other}


def test_report_figures_are_unchanged(year: Year) -> None:
    assert figures(year.events_after) == figures(year.events_before)
    # The log keeps its sequence, types, orders and times; only data changed.
    assert [e[:5] for e in year.events_after] == [e[:5] for e in year.events_before]
    changed = {e[2] for e, f in zip(year.events_after, year.events_before, strict=True) if e != f}
    assert changed == year.expired


def test_it_ran_in_batches_and_recorded_each(year: Year) -> None:
    (run,) = year.runs
    assert sorted(run.anonymised) == sorted(year.expired)
    assert run.batches == -(-len(year.expired) // retention.BATCH_ORDERS) >= 2
    columns = _columns(year.path, "privacy_log")
    logged = [dict(zip(columns, row, strict=True)) for row in year.after["privacy_log"]]
    assert len(logged) == run.batches
    assert {entry["kind"] for entry in logged} == {"retention"}
    assert {entry["actor"] for entry in logged} == {retention.RETENTION_CLOCK.ref}
    _ = PrivacyLog  # the table the rows above come from


def test_running_again_changes_nothing(year: Year) -> None:
    (run,) = year.runs_again
    assert run.anonymised == [] and run.batches == 0
    assert year.after_again == year.after


def _columns(path: Path, table: str) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return [column[1] for column in connection.execute(f'PRAGMA table_info("{table}")')]
