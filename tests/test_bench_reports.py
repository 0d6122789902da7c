"""The reports benchmark's generated year (bench/reports_data.py), small:
every generated order replays from its log to its row, seq is gap-free and
follows time, the day's queue numbers run 1..n, and a copy of a template
life is exactly what the real commands write when the same life is run with
the copy's people, bay, plate and times. The same year copied into
PostgreSQL replays there too. Speed is the benchmark's business."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import reports_data as rd
from shared.domain.events import StageChanged, event_from_record
from shared.domain.order import apply_events
from shared.domain.stages import TRANSITIONS
from shared.persistence.models import LabourSegment, OrderEvent, RepairOrder, Shop
from shared.services.core import Core
from shared.services.rows import state_from_row

# A moment in the afternoon (local), so the last day holds open orders.
NOW = datetime(2026, 3, 18, 7, 40, tzinfo=UTC)
# 18 lives whose seed gives every variation (a booking cancelled and one at
# reception, parts, a quote declined then another approved, rework, both
# kinds of night) at least once.
SPEC = rd.Spec(days=3, per_day=20, templates=18, seed=32)
SHAPES = {
    "walk_in",
    "booked",
    "cancel_booking",
    "cancel_reception",
    "parts",
    "quote",
    "quote_declined_then_approved",
    "rework",
    "overnight_paused",
    "overnight_running",
}


def _replays(core: Core) -> tuple[int, int]:
    """Every order row equals the fold of its stored events; every stage
    change is a legal move. Returns (orders, open orders)."""
    open_orders = 0
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
                    assert (event.from_stage, event.to_stage) in TRANSITIONS
            state = apply_events(None, events)
            assert state == state_from_row(row), row.id
            assert (row.closed_at is None) == state.active, row.id
            open_orders += state.active
    return len(rows), open_orders


def _log_is_gap_free(core: Core) -> None:
    with core.db.read() as session:
        log = session.execute(
            select(OrderEvent.seq, OrderEvent.at, OrderEvent.id).order_by(OrderEvent.seq)
        ).all()
        last_seq = session.execute(select(Shop.last_seq)).scalar_one()
    assert [s for s, _at, _id in log] == list(range(1, len(log) + 1))
    assert last_seq == len(log)
    moments = [at for _s, at, _id in log]
    assert moments == sorted(moments), "events out of time order"
    assert [i for _s, _at, i in log] == sorted(i for _s, _at, i in log)


def _numbers_and_tokens(core: Core) -> None:
    with core.db.read() as session:
        rows = session.execute(
            select(
                RepairOrder.business_day,
                RepairOrder.number,
                RepairOrder.created_at,
                RepairOrder.customer_token,
            ).order_by(RepairOrder.created_at)
        ).all()
    by_day: dict[Any, list[int]] = {}
    for day, number, created, _token in rows:
        assert created.astimezone(rd.ZONE).date() == day
        by_day.setdefault(day, []).append(number)
    for numbers in by_day.values():
        assert numbers == list(range(1, len(numbers) + 1))
    assert len({token for *_rest, token in rows}) == len(rows)


def test_a_generated_year_replays_and_its_log_is_gap_free(tmp_path: Path) -> None:
    # Small batches: the log is written in many of them, the open orders'
    # rows refer to before their last state is known.
    info = rd.generate(f"sqlite:///{tmp_path / 'year.db'}", SPEC, tmp_path, now=NOW, batch=50)
    core = rd.offline_core(f"sqlite:///{tmp_path / 'year.db'}", tmp_path)
    try:
        orders, open_orders = _replays(core)
        _log_is_gap_free(core)
        _numbers_and_tokens(core)
        with core.db.read() as session:
            events = session.execute(select(func.count()).select_from(OrderEvent)).scalar()
            segments = session.execute(
                select(
                    LabourSegment.technician_id, LabourSegment.started_at, LabourSegment.ended_at
                )
            ).all()
            days = session.execute(
                select(func.count(func.distinct(RepairOrder.business_day)))
            ).scalar()
    finally:
        core.db.dispose()
    assert orders == info["orders"] and events == info["events"]
    # Two whole days and today until 15:40, about 20 a day.
    assert 2 * 20 * 0.85 <= orders <= 3 * 20 * 1.15
    assert days == 3
    assert open_orders >= 1, "today's orders still in the shop"
    # Clocks: each ends after it starts; the ones running now belong to open
    # orders and to nobody twice.
    running = [s for s in segments if s.ended_at is None]
    assert all(s.ended_at is None or s.ended_at >= s.started_at for s in segments)
    assert all(s.started_at <= NOW for s in segments)
    assert len({s.technician_id for s in running}) == len(running)


def _direct_run(tmp_path: Path, lives: list[rd.Life], copies: list[rd.Copy]) -> Core:
    """The same lives through the real commands with the copies' people,
    bay, plate and times, in a fresh database."""
    core = rd.offline_core(f"sqlite:///{tmp_path / 'direct.db'}", tmp_path)
    shop_id, people = rd.build_shop(core)
    recorder = rd.Recorder(core, shop_id, people)
    for life, copy in zip(lives, copies, strict=True):
        crew = tuple(copy.technicians.get(t, t) for t in life.crew)
        moved = replace(
            life,
            start=life.start + copy.delta,
            moments=[m + copy.delta for m in life.moments],
            advisor=copy.advisor.get(life.advisor, life.advisor),
            bay=copy.bay or life.bay,
            crew=crew,
            car=replace(life.car, plate=copy.plate),
        )
        copy.order_id = recorder.run(moved)
    return core


def test_a_copy_is_what_the_commands_write_for_its_people_and_times(tmp_path: Path) -> None:
    templates_core = rd.offline_core(f"sqlite:///{tmp_path / 'templates.db'}", tmp_path)
    shop_id, people = rd.build_shop(templates_core)
    lives = rd.template_lives(SPEC.templates, SPEC.seed, people)
    recorder = rd.Recorder(templates_core, shop_id, people)
    for life in lives:
        recorder.run(life)
    templates = rd.load_templates(templates_core, shop_id)
    templates_core.db.dispose()
    assert len(templates) == len(lives)
    assert {shape for life in lives for shape in life.label.split("+")} >= SHAPES
    assert any(t.jitters != (0,) for t in templates)
    assert any(s["end_reason"] == "shift_end" for t in templates for s in t.segments)
    assert any(t.state.survey_rating for t in templates)
    assert any(t.state.rework_count for t in templates)

    # Other people (no team lead: they sign the first check), other bays of
    # the same kind, 400 days and a permitted quarter-hour multiple later.
    plain = [t for t in people.technicians if t not in people.team_leads]
    copies = []
    for n, template in enumerate(templates):
        crew = {
            t: plain[(plain.index(t) + 7) % len(plain)] if t in plain else t for t in template.crew
        }
        bays = people.quick_bays if template.bay_kind == "quick" else people.general_bays
        bay = bays[(bays.index(template.bay) + 3) % len(bays)] if template.bay in bays else None
        advisors = people.advisors
        advisor = (
            {template.advisor: advisors[(advisors.index(template.advisor) + 1) % len(advisors)]}
            if template.advisor is not None
            else {}
        )
        jitter = max(template.jitters, key=abs)
        copies.append(
            rd.Copy(
                template=template,
                delta=timedelta(days=400, minutes=jitter),
                technicians=crew,
                bay=bay,
                advisor=advisor,
                plate=f"粤B{n:05d}",
                serial=n,
                number=1,
            )
        )
    assert any(c.delta.seconds for c in copies), "some copies move by minutes too"

    direct = _direct_run(tmp_path, lives, copies)
    try:
        with direct.db.read() as session:
            for copy in copies:
                row = session.get(RepairOrder, copy.order_id)
                assert row is not None
                made = rd.order_row(copy, row.shop_id, rd.copy_state(copy, people.names), None)
                closed = copy.template.closed_at
                made["closed_at"] = closed + copy.delta if closed else None
                for column, value in made.items():
                    if column not in ("id", "customer_token"):
                        assert getattr(row, column) == value, (copy.template.order_id, column)
                assert rd.copy_state(copy, people.names) == state_from_row(row)
                stored = session.execute(
                    select(OrderEvent).where(OrderEvent.order_id == row.id).order_by(OrderEvent.seq)
                ).scalars()
                written = [
                    {k: getattr(e, k) for k in ("type", "at", "actor", "actor_name", "data")}
                    for e in stored
                ]
                copied = [rd.copy_event(copy, e, people.names) for e in copy.template.events]
                assert copied == written, copy.template.order_id
                segments = session.execute(
                    select(LabourSegment)
                    .where(LabourSegment.order_id == row.id)
                    .order_by(LabourSegment.id)
                ).scalars()
                keys = [c.name for c in LabourSegment.__table__.c if c.name != "id"]
                assert rd.copy_segments(copy, row.shop_id, NOW + timedelta(days=999)) == [
                    {k: getattr(s, k) for k in keys} for s in segments
                ]
    finally:
        direct.db.dispose()


def test_the_year_copied_into_postgresql_replays_there(tmp_path: Path, postgres_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'year.db'}"
    info = rd.generate(source, SPEC, tmp_path, now=NOW)
    rd.copy_database(source, postgres_url, tmp_path)
    core = rd.offline_core(postgres_url, tmp_path)
    try:
        orders, _open = _replays(core)
        _log_is_gap_free(core)
        with core.db.read() as session:
            segments = session.execute(select(func.count()).select_from(LabourSegment)).scalar()
    finally:
        core.db.dispose()
    assert (orders, segments) == (info["orders"], info["segments"])


def test_a_clock_closed_by_the_shift_end_is_never_moved_by_minutes() -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=rd.ZONE)
    closed = {"started_at": start, "ended_at": start.replace(hour=18), "end_reason": "shift_end"}
    assert rd._safe_jitters([closed], start) == (0,)
    # Paused at 17:50: moved later, the 18:00 shift end would have closed it.
    late = {"started_at": start.replace(hour=17), "ended_at": start.replace(hour=17, minute=50)}
    late["end_reason"] = "paused"
    allowed = rd._safe_jitters([late], start)
    assert {-90, -15, 0} <= set(allowed)
    assert not {15, 30, 45} & set(allowed)
