"""Customer-data retention, piece by piece: the shop's setting as the job
reads it, what of each event is personal (every text field classified), the
fold of anonymised events, the daily timer in each shop's time zone, batches,
the stored answers of Idempotency-Keys, complaints (their texts go with the
order, their trail stays, an open one holds its order back), and ``baylight
retention run [--dry-run]`` run for real. The year of orders is
tests/services/test_retention_year.py.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from shared.domain import complaints as complaint_rules
from shared.domain import retention as rules
from shared.domain.events import (
    EVENT_TYPES,
    Assigned,
    CheckFailed,
    EtaRevised,
    Event,
    ExtraWorkDecided,
    ExtraWorkQuoted,
    OrderCreated,
    PartsRequested,
    PartsStatusChanged,
    PauseReasonAdded,
    PauseReasonCleared,
    PromiseChanged,
    QuoteRevised,
    StageChanged,
    SurveySubmitted,
    WorkItem,
    event_from_record,
)
from shared.domain.order import apply_events
from shared.domain.stages import PauseReason, Stage
from shared.persistence.models import (
    Base,
    IdempotencyRecord,
    RepairOrder,
    Shop,
    import_all_models,
)
from shared.persistence.reception_models import Complaint, ComplaintEvent, FollowUpCall
from shared.persistence.retention_models import PrivacyLog
from shared.services import complaints, orders, reception, retention, setup
from shared.services.commands import CommandRequest, execute, fingerprint
from shared.services.core import Core
from shared.services.views import mask_plate
from tests.complaint_trail import complaint_trail
from tests.conftest import ROOT, HandClock, migrated_copy, offline_core, seed_shop
from tests.conftest import Shop as SeededShop
from tests.services.retention_orders import MANAGER, Customer, Walker

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def set_retention(core: Core, shop_id: int, days: object) -> None:
    with core.db.write() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        shop.settings = {**(shop.settings or {}), "retention_days": days}


# ---------------------------------------------------------------- the setting


def test_the_job_reads_the_shops_retention_and_never_a_shorter_one_than_allowed(
    core: Core, shop: SeededShop, clock: HandClock
) -> None:
    walker = Walker(core, shop.shop_id, shop.technicians[0], clock)
    visit = walker.walk(random.Random(8), Customer.new(random.Random(8)), mark="0004")
    clock.advance(days=40)
    # Unset, below the minimum of 30 days, or not a whole number of days:
    # read as the default three years, so the 40-day-old order is kept.
    for stored in (None, 7, 29, True, 30.0, "30", [30]):
        set_retention(core, shop.shop_id, stored)
        assert retention.plan(core)[0].days == 1095, stored
        assert retention.run_retention(core)[0].anonymised == [], stored
    set_retention(core, shop.shop_id, 30)
    assert retention.run_retention(core)[0].anonymised == [visit.order_id]


# ---------------------------------------------------------------- what is personal


def _text_fields(cls: type[Event]) -> set[str]:
    """Fields that hold text of any kind (plain, codes, the items' titles)."""
    wanted = ("str", "Stage", "PauseReason", "tuple[WorkItem")
    return {f.name for f in fields(cls) if str(f.type).startswith(wanted)}


def test_every_text_field_of_every_event_is_either_personal_or_kept() -> None:
    for type_name, cls in EVENT_TYPES.items():
        personal = set(rules.PERSONAL_TEXT.get(type_name, ()))
        kept = set(rules.KEPT_TEXT.get(type_name, ()))
        if type_name == "order_created":
            personal |= {rules.PLATE_FIELD, rules.ITEMS_FIELD}
        assert not personal & kept, type_name
        assert personal | kept == _text_fields(cls), type_name
    assert set(rules.PERSONAL_TEXT) | set(rules.KEPT_TEXT) <= set(EVENT_TYPES)


def _every_kind_of_text(now: datetime) -> list[Event]:
    """One event of each kind that carries the customer's text, folded in an
    order apply_events accepts; a pause reason stays open at the end."""
    at = [now + timedelta(minutes=m) for m in range(20)]
    return [
        OrderCreated(
            at=at[0],
            number=3,
            plate="粤B12345",
            customer_name="张三",
            customer_phone="13800138000",
            vehicle_model="凯美瑞",
            vehicle_vin="LSVAB12345CD67890",
            vehicle_mileage=42000,
            complaint="刹车响",
            items=(WorkItem("保养", 1.5), WorkItem("换刹车片", 2.0)),
            promised_at=at[19],
        ),
        Assigned(at=at[1], bay="B01", technicians=(7,)),
        StageChanged(at=at[2], from_stage=Stage.DISPATCHED, to_stage=Stage.IN_PROGRESS),
        ExtraWorkQuoted(
            at=at[3], quote_id=1, description="轮胎鼓包", labour_hours=1, price_cents=9
        ),
        QuoteRevised(at=at[4], quote_id=1, version=2, description="两条轮胎鼓包", labour_hours=1),
        PauseReasonAdded(
            at=at[5], key="approval:1", reason=PauseReason.APPROVAL, note="两条轮胎鼓包"
        ),
        ExtraWorkDecided(at=at[6], quote_id=1, approved=True, channel="phone", taken_by="陈顾问"),
        PauseReasonCleared(at=at[7], key="approval:1", why="decided"),
        PartsRequested(at=at[8], part_id=1, description="轮胎 x2"),
        PartsStatusChanged(at=at[9], part_id=1, status="arrived"),
        StageChanged(
            at=at[10],
            from_stage=Stage.IN_PROGRESS,
            to_stage=Stage.PAUSED,
            reason="等张太太回电 13900000000",
            pause_reason=PauseReason.OTHER,
        ),
        PauseReasonAdded(at=at[10], key="other:12", reason=PauseReason.OTHER, note="等张太太回电"),
        PromiseChanged(
            at=at[11], old=at[19], new=at[19] + timedelta(hours=1), by="陈顾问", reason="张先生晚到"
        ),
        CheckFailed(at=at[12], level="team_lead", reason="张先生说还响"),
        SurveySubmitted(at=at[13], rating=4, comment="张三很满意"),
        EtaRevised(at=at[14], eta=at[18], risk="at_risk", cause="parts"),
    ]


def test_the_fold_of_anonymised_events_is_the_anonymised_state() -> None:
    events = _every_kind_of_text(T0)
    masked = mask_plate("粤B12345")
    anonymised = [
        event_from_record(e.type, e.at, rules.anonymise_event_data(e.type, e.data(), masked))
        for e in events
    ]
    state = apply_events(None, events)
    assert apply_events(None, anonymised) == rules.anonymise_state(state, masked)
    # And it is anonymous: nothing of the customer's survives in the fold.
    folded = repr(apply_events(None, anonymised))
    for personal in ("张", "13800138000", "LSVAB", "12345", "刹车", "轮胎", "保养"):
        assert personal not in folded, personal
    # What the figures need is the same.
    for kept in ("version", "stage", "rework_count", "survey_rating", "vehicle_mileage"):
        assert getattr(apply_events(None, anonymised), kept) == getattr(state, kept), kept
    assert apply_events(None, anonymised).total_labour_hours == state.total_labour_hours


def test_personal_texts_are_what_anonymising_replaces() -> None:
    for event in _every_kind_of_text(T0):
        data = event.data()
        texts = rules.personal_texts(event.type, data)
        left = repr(rules.anonymise_event_data(event.type, data, "粤B·***45"))
        assert not [text for text in texts if text in left], event.type


def test_every_text_field_of_every_complaint_event_is_either_personal_or_kept() -> None:
    for type_name, cls in complaint_rules.EVENT_TYPES.items():
        personal = set(rules.COMPLAINT_PERSONAL_TEXT.get(type_name, ()))
        kept = set(rules.COMPLAINT_KEPT_TEXT.get(type_name, ()))
        texts = {f.name for f in fields(cls) if str(f.type).startswith("str")}
        assert not personal & kept, type_name
        assert personal | kept == texts, type_name
    classified = set(rules.COMPLAINT_PERSONAL_TEXT) | set(rules.COMPLAINT_KEPT_TEXT)
    assert classified <= set(complaint_rules.EVENT_TYPES)


def test_the_fold_of_anonymised_complaint_events_is_the_anonymised_complaint() -> None:
    events: list[complaint_rules.ComplaintEvent] = [
        complaint_rules.open_complaint(7, "张三说内饰有油印，电话 13800138000", 3, T0),
        complaint_rules.OwnerChanged(at=T0 + timedelta(hours=1), old_owner_id=3, owner_id=4),
        complaint_rules.ComplaintResolved(
            at=T0 + timedelta(days=1), outcome="退洗车费，张三说可以", by="刘经理"
        ),
    ]
    anonymised = [
        complaint_rules.EVENT_TYPES[e.type](
            at=e.at, **rules.anonymise_complaint_event_data(e.type, e.data())
        )
        for e in events
    ]
    state = complaint_rules.apply_events(None, events)
    folded = complaint_rules.apply_events(None, anonymised)
    assert folded == rules.anonymise_complaint(state)
    assert "张三" not in repr(folded) and "13800138000" not in repr(folded)
    # The trail: status, owner, times, who resolved it, the version.
    assert (folded.status, folded.owner_id, folded.resolved_by, folded.version) == (
        "resolved",
        4,
        "刘经理",
        3,
    )
    assert (folded.opened_at, folded.resolved_at) == (state.opened_at, state.resolved_at)
    for event in events:
        texts = rules.complaint_personal_texts(event.type, event.data())
        left = repr(rules.anonymise_complaint_event_data(event.type, event.data()))
        assert not [text for text in texts if text in left], event.type


# ---------------------------------------------------------------- the daily timer


def test_the_daily_run_is_due_after_the_quiet_hour_of_the_shops_own_clock() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    # 02:59 and 03:00 in Shanghai on 3 March.
    before, at_three = (
        datetime(2026, 3, 2, 18, 59, tzinfo=UTC),
        datetime(2026, 3, 2, 19, tzinfo=UTC),
    )
    assert rules.last_quiet_time(before, shanghai) == datetime(2026, 3, 2, 3, tzinfo=shanghai)
    assert rules.last_quiet_time(at_three, shanghai) == datetime(2026, 3, 3, 3, tzinfo=shanghai)
    assert rules.run_due(None, before, shanghai)  # never ran in this process
    assert not rules.run_due(before - timedelta(hours=20), before, shanghai)
    assert rules.run_due(before, at_three, shanghai)


class Stop(Exception):
    pass


class Sleeps:
    """``sleep`` for the timer: records each wait, stops after ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if len(self.calls) >= self.limit:
            raise Stop


@pytest.fixture
def clock(core: Core) -> HandClock:
    fixed = HandClock(T0)
    core.clock = fixed
    return fixed


def test_the_timer_runs_every_shop_after_start_then_each_at_its_own_quiet_hour(
    core: Core, shop: SeededShop, clock: HandClock
) -> None:
    berlin = seed_shop(core, slug="berlin")
    with core.db.write() as session:
        row = session.get(Shop, berlin.shop_id)
        assert row is not None
        row.timezone = "Europe/Berlin"
    timer = retention.RetentionTimer(core, Sleeps(99), start_delay=120, poll=300)
    assert {run.shop_id for run in timer.run_once()} == {shop.shop_id, berlin.shop_id}
    clock.advance(hours=1)
    assert timer.run_once() == []
    # 03:00 in Shanghai on 3 March is 19:00 UTC on the 2nd; Berlin's is 02:00 UTC on the 3rd.
    clock.now = datetime(2026, 3, 2, 19, 0, 30, tzinfo=UTC)
    assert [run.shop_id for run in timer.run_once()] == [shop.shop_id]
    clock.now = datetime(2026, 3, 3, 1, 59, tzinfo=UTC)
    assert timer.run_once() == []
    clock.now = datetime(2026, 3, 3, 2, 0, 30, tzinfo=UTC)
    assert [run.shop_id for run in timer.run_once()] == [berlin.shop_id]


def test_the_timer_waits_before_its_first_run_and_anonymises_then(
    core: Core, shop: SeededShop, clock: HandClock
) -> None:
    walker = Walker(core, shop.shop_id, shop.technicians[0], clock)
    visit = walker.walk(random.Random(1), Customer.new(random.Random(2)), mark="0001")
    set_retention(core, shop.shop_id, 30)
    clock.advance(days=31)
    sleeps = Sleeps(3)
    timer = retention.RetentionTimer(core, sleeps, start_delay=120, poll=300)
    with pytest.raises(Stop):
        timer.run()
    assert sleeps.calls == [120, 300, 300]
    with core.db.read() as session:
        row = session.get(RepairOrder, visit.order_id)
        assert row is not None and row.anonymised_at is not None


# ---------------------------------------------------------------- batches, answers


def test_a_large_shop_is_anonymised_a_batch_per_write(
    core: Core, shop: SeededShop, clock: HandClock
) -> None:
    rng = random.Random(3)
    walker = Walker(core, shop.shop_id, shop.technicians[0], clock)
    ids = [
        walker.walk(rng, Customer.new(rng), mark=f"{n:04d}", end="cancelled").order_id
        for n in range(5)
    ]
    set_retention(core, shop.shop_id, 30)
    clock.advance(days=31)
    pauses: list[int] = []
    run = retention.anonymise_due(core, shop.shop_id, batch_size=2, pause=lambda: pauses.append(1))
    assert sorted(run.anonymised) == sorted(ids)
    assert run.batches == 3 and len(pauses) == 2
    with core.db.read() as session:
        logged = session.execute(select(PrivacyLog).order_by(PrivacyLog.id)).scalars().all()
        assert [len(entry.order_ids) for entry in logged] == [2, 2, 1]
        assert {entry.details["days"] for entry in logged} == {30}


def test_an_order_inside_its_retention_is_kept_and_one_day_later_is_not(
    core: Core, shop: SeededShop, clock: HandClock
) -> None:
    walker = Walker(core, shop.shop_id, shop.technicians[0], clock)
    visit = walker.walk(random.Random(4), Customer.new(random.Random(5)), mark="0002")
    set_retention(core, shop.shop_id, 30)
    clock.advance(days=29)
    assert retention.run_retention(core)[0].anonymised == []
    clock.advance(days=2)
    assert retention.run_retention(core)[0].anonymised == [visit.order_id]


def test_a_stored_answer_that_copies_the_order_is_scrubbed_and_still_replays(
    core: Core, shop: SeededShop, clock: HandClock
) -> None:
    walker = Walker(core, shop.shop_id, shop.technicians[0], clock)
    customer = Customer.new(random.Random(6))
    visit = walker.walk(random.Random(6), customer, mark="0003", survey=False)
    set_retention(core, shop.shop_id, 30)
    clock.advance(days=40)
    # The advisor rates the old visit on a late follow-up call, with a key:
    # its first answer (the order, name and phone in it) is kept 48 h.
    body = {"rating": 5, "comment": ""}
    keyed = CommandRequest(MANAGER, shop.shop_id, "late-call-1", fingerprint("POST", "/x", body))
    first = orders.submit_survey(core, keyed, visit.order_id, rating=5, comment="")
    assert first.status == 201
    assert customer.name in repr(first.body)
    retention.run_retention(core)
    with core.db.read() as session:
        (stored,) = session.execute(select(IdempotencyRecord.body)).scalars().all()
    text = repr(stored)
    assert not [marker for marker in customer.markers() if marker in text]
    assert mask_plate(customer.plate) in text
    again = orders.submit_survey(core, keyed, visit.order_id, rating=5, comment="")
    assert again.replayed and again.body == stored


def test_stored_answers_older_than_their_48_hours_are_forgotten(
    core: Core, shop: SeededShop, clock: HandClock
) -> None:
    keyed = CommandRequest(MANAGER, shop.shop_id, "open-1", "print")
    orders.create_order(core, keyed, plate="粤B54321", customer_name="李四")
    clock.advance(hours=47)
    retention.run_retention(core)
    with core.db.read() as session:
        assert len(session.execute(select(IdempotencyRecord)).scalars().all()) == 1
    clock.advance(hours=2)
    retention.run_retention(core)
    with core.db.read() as session:
        assert session.execute(select(IdempotencyRecord)).scalars().all() == []


# ---------------------------------------------------------------- the CLI


def _rows(path: Path) -> dict[str, list[Any]]:
    with closing(sqlite3.connect(path)) as connection:
        tables = [
            n for (n,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {
            t: sorted(connection.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
            for t in tables
        }


def _cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAYLIGHT_")}
    env.update(BAYLIGHT_DATABASE_URL=f"sqlite:///{path}", BAYLIGHT_INSTANCE_PATH=str(path.parent))
    return subprocess.run(
        [sys.executable, "-m", "shared.entrypoint", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_dry_run_says_what_would_change_without_personal_data_and_changes_nothing(
    tmp_path: Path, migrated_template: Path
) -> None:
    path = tmp_path / "baylight.db"
    core = offline_core(migrated_copy(migrated_template, path), tmp_path)
    # The CLI runs on the real clock: the old visits are 60 days old.
    real_now = datetime.now(UTC)
    clock = HandClock(real_now - timedelta(days=60))
    core.clock = clock
    shop = seed_shop(core, slug="north")
    rng = random.Random(7)
    walker = Walker(core, shop.shop_id, shop.technicians[0], clock)
    old = [
        walker.walk(rng, Customer.new(rng), mark=f"00{n}0", end=end)
        for n, end in enumerate(("delivered", "cancelled"))
    ]
    clock.now = real_now - timedelta(days=5)
    recent = walker.walk(rng, Customer.new(rng), mark="0100")
    active = walker.walk(rng, Customer.new(rng), mark="0110", end="in_progress")
    set_retention(core, shop.shop_id, 30)
    core.db.dispose()
    before = _rows(path)

    dry = _cli(path, "retention", "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert _rows(path) == before
    out = dry.stdout
    assert "2 orders would be anonymised" in out
    assert "shop north (测试店): keeps 30 days; 2 orders closed before" in out
    with core.db.read() as session:
        for visit in old:
            row = session.get(RepairOrder, visit.order_id)
            assert row is not None
            assert (
                f"order {row.id}: #{row.number} of {row.business_day.isoformat()}, {row.stage}"
                in out
            )
        for visit in (recent, active):
            assert f"order {visit.order_id}:" not in out
    everyone = [marker for visit in (*old, recent, active) for marker in visit.markers()]
    assert not [marker for marker in everyone if marker in out + dry.stderr]

    done = _cli(path, "retention", "run")
    assert done.returncode == 0, done.stderr
    assert "retention run: 2 orders anonymised" in done.stdout
    assert "shop north: keeps 30 days; 2 orders anonymised (batches: 1)" in done.stdout
    with core.db.read() as session:
        for visit in old:
            row = session.get(RepairOrder, visit.order_id)
            assert row is not None and row.anonymised_at is not None
            assert row.plate == mask_plate(visit.customer.plate)
        for visit in (recent, active):
            row = session.get(RepairOrder, visit.order_id)
            assert row is not None and row.anonymised_at is None
            assert row.customer_name == visit.customer.name
    clock.now = datetime.now(UTC)
    assert retention.plan(core)[0].orders == []
    core.db.dispose()


# ---------------------------------------------------------------- complaints


def every_row(core: Core) -> str:
    """Every row of every table, as one text to look for a marker in."""
    import_all_models()
    with core.db.read() as session:
        return repr([session.execute(select(table)).all() for table in Base.metadata.sorted_tables])


def keyed(shop_id: int, key: str) -> CommandRequest:
    return CommandRequest(MANAGER, shop_id, key, fingerprint("POST", "/x", {"key": key}))


def test_a_complaints_words_and_outcome_go_with_its_order_once_resolved_and_its_trail_stays(
    core: Core, shop: SeededShop, clock: HandClock
) -> None:
    """Heard on the follow-up call three days after delivery, still open when
    the order's 30 days are up: the order is held back (its owner has to call
    the customer). Resolved, the next run anonymises the order and empties
    the complaint's texts in its row, its log and the stored answers, and
    keeps who, when, status and owner."""
    customer = Customer.new(random.Random(21))
    visit = Walker(core, shop.shop_id, shop.technicians[0], clock).walk(
        random.Random(21), customer, mark="0021", survey=False
    )
    chen = setup.create_user(core, shop.shop_id, role="advisor", name="陈顾问", password="x" * 10)
    liu = setup.create_user(core, shop.shop_id, role="manager", name="刘经理", password="y" * 10)
    set_retention(core, shop.shop_id, 30)
    clock.advance(days=3)
    words = f"{customer.name}说内饰有油印 CPL0021，回电 {customer.phone}"
    opened = reception.record_follow_up(
        core, keyed(shop.shop_id, "call-1"), visit.order_id, outcome="complaint", note=words
    )
    complaint = opened.body["complaint"]
    assert complaint["description"] == words
    complaints.change_owner(
        core, keyed(shop.shop_id, "owner-1"), complaint["id"], owner_id=chen, version=1
    )
    clock.advance(days=28)
    # Past the retention, but the complaint is open: kept, and not planned.
    assert retention.plan(core)[0].orders == []
    assert retention.run_retention(core)[0].anonymised == []
    with core.db.read() as session:
        row = session.get(RepairOrder, visit.order_id)
        assert row is not None and row.anonymised_at is None
    assert words in every_row(core)
    # Resolved a day later, with what the customer said.
    clock.advance(days=1)
    outcome = f"退还洗车费 OUT0021，{customer.name}说可以"
    complaints.change_owner(
        core, keyed(shop.shop_id, "owner-2"), complaint["id"], owner_id=liu, version=2
    )
    resolved = complaints.resolve(
        core, keyed(shop.shop_id, "resolve-1"), complaint["id"], outcome=outcome, version=3
    )
    assert resolved.body["outcome"] == outcome
    trail = complaint_trail(core, complaint["id"])
    run = retention.run_retention(core)[0]
    assert run.anonymised == [visit.order_id] and run.complaints == []
    everything = every_row(core)
    for marker in ("CPL0021", "OUT0021", customer.phone, customer.name[2:], customer.plate[1:]):
        assert marker not in everything, marker
    # The trail is as it was: status, owners, who opened and resolved it, when.
    assert complaint_trail(core, complaint["id"]) == trail
    (_row, (opened_by, _at, resolved_by, _resolved, version), events) = trail
    assert (opened_by, resolved_by, version) == ("周经理", "周经理", 4)
    assert [e[1] for e in events] == [
        "complaint_opened",
        "complaint_owner_changed",
        "complaint_owner_changed",
        "complaint_resolved",
    ]
    assert [e[6].get("owner_id") for e in events][1:3] == [chen, liu]
    with core.db.read() as session:
        row = session.get(Complaint, complaint["id"])
        assert row is not None and (row.description, row.outcome) == ("", "")
        assert (row.status, row.owner_id) == ("resolved", liu)
        texts = [
            (e.data.get("description"), e.data.get("outcome"))
            for e in session.execute(
                select(ComplaintEvent).where(ComplaintEvent.complaint_id == row.id)
            ).scalars()
        ]
        assert texts == [("", None), (None, None), (None, None), (None, "")]
        # The resolution's stored answer still replays, scrubbed.
        stored = session.execute(
            select(IdempotencyRecord.body).where(IdempotencyRecord.key == "resolve-1")
        ).scalar_one()
    assert stored["description"] == stored["outcome"] == ""
    assert stored["plate"] == mask_plate(customer.plate) and stored["customer"]["phone"] == ""
    again = complaints.resolve(
        core, keyed(shop.shop_id, "resolve-1"), complaint["id"], outcome=outcome, version=3
    )
    assert again.replayed and again.body == stored
    # Nothing left to do: a second run changes nothing.
    assert retention.run_retention(core)[0] == retention.ShopRun(shop.shop_id, "test", 30)


def test_a_stored_complaint_answer_is_scrubbed_for_its_order_not_the_one_with_its_id() -> None:
    answer = {"id": 7, "order_id": 3, "plate": "粤B12345", "description": "张三说"}
    assert retention.mentioned_orders(answer) == {3}
    assert retention.mentioned_orders({"order_id": 3, "complaint": answer}) == {3}
    assert retention.mentioned_orders({"id": 7, "plate": "粤B12345"}) == {7}


def test_a_complaint_resolved_after_its_order_was_anonymised_loses_its_outcome_next_run(
    core: Core, shop: SeededShop, clock: HandClock
) -> None:
    """The customer asked to be erased while the complaint was open (the
    desk's erase anonymises the order at once, tests/reception/
    test_desk_privacy_requests.py); the outcome written after it is the
    order's text too, and the shop's next run empties it."""
    customer = Customer.new(random.Random(22))
    visit = Walker(core, shop.shop_id, shop.technicians[0], clock).walk(
        random.Random(22), customer, mark="0022", survey=False
    )
    clock.advance(days=3)
    opened = reception.record_follow_up(
        core, keyed(shop.shop_id, "call-2"), visit.order_id, outcome="complaint", note="CPL0022"
    ).body["complaint"]
    # The erase, as the desk does it: the closed order anonymised now.
    request = CommandRequest(MANAGER, shop.shop_id)
    answers = retention.answers_mentioning(core, [visit.order_id])
    assert answers  # the call's own stored answer holds the words

    def erase(tx: Any) -> tuple[int, dict[str, Any]]:
        row = tx.session.get(RepairOrder, visit.order_id)
        return 200, {"done": retention.anonymise_orders(tx, [row], answers)}

    execute(core, request, "erase_customer_data", erase)
    with core.db.read() as session:
        row = session.get(Complaint, opened["id"])
        assert row is not None and (row.description, row.status) == ("", "open")
        call = session.execute(
            select(FollowUpCall).where(FollowUpCall.order_id == visit.order_id)
        ).scalar_one()
        assert call.note == ""
    clock.advance(hours=5)
    complaints.resolve(
        core, keyed(shop.shop_id, "late-1"), opened["id"], outcome="OUT0022 退款", version=1
    )
    trail = complaint_trail(core, opened["id"])
    assert "OUT0022" in every_row(core)
    run = retention.run_retention(core)[0]
    assert (run.anonymised, run.complaints) == ([], [opened["id"]])
    left = every_row(core)
    assert "OUT0022" not in left and "CPL0022" not in left
    assert complaint_trail(core, opened["id"]) == trail
    with core.db.read() as session:
        logged = session.execute(select(PrivacyLog).order_by(PrivacyLog.id.desc())).scalars()
        latest = next(iter(logged))
        assert (latest.kind, latest.order_ids) == ("retention", [visit.order_id])
        assert latest.details == {"complaints": [opened["id"]]}
    assert retention.run_retention(core)[0].complaints == []
