"""One year of a busy shop for the reports benchmark (issue 16): about 300
orders a day, their events and labour segments, on SQLite or PostgreSQL.

Going through the real commands for 110,000 orders would take hours on this
machine, so the year is made in two steps, each honest:

1. **Template lives through the real commands.** ``template_lives`` plans a
   few dozen to a few hundred order lives (deterministic seed): walk-ins and
   bookings, dispatch, the technician's own taps (their clock), pauses for
   parts and for other reasons, extra work quoted and approved or declined
   (one declined and then another approved), inspections with a failed
   check and rework, washing, handover, the customer's survey, a changed
   promise, carry-overs across the night (paused for the night, or a clock
   left running into the shift end), cancellations at reception and of a
   booking. ``record_templates`` runs them through ``shared/services`` on a
   clock set to each command's moment, into a scratch database whose shop
   has the same staff and bays as the year's, each life on a day of its own.

2. **Replication.** ``write_year`` copies those lives' rows into the year:
   each copy is the template's order row, events and labour segments with
   every time moved by whole days plus a quarter-hour multiple (the rules
   are translation-invariant: nothing in a fold or a clock depends on the
   date, and a life is only moved by minutes when none of its clocks meets a
   shift end), its technicians, bay and advisor renamed to free ones of the
   same kind (a greedy schedule, so a technician is rarely on two jobs at
   once), a plate from the shop's customers (regulars come back several
   times a year), a fresh customer token, the day's queue number in order of
   arrival, and ``seq`` issued per shop without gaps in time order. The
   order row is the template's state, moved and renamed, written through the
   same column mapping the commands use (``shared/services/rows.py``). Orders
   still open at the year's end (today) keep only their events up to now,
   their row is the fold of those events and their running clocks are open.

tests/test_bench_reports.py checks that replaying every generated order's
log gives its row, that seq is gap-free and follows time, and that a copy
equals what the real commands write when the same life is run with the
copy's people and times.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, select, update

from shared.demo import seed as demo
from shared.domain.eta import suggest_promised_at
from shared.domain.events import Assigned, OrderCreated, event_from_record
from shared.domain.extra_work import QuoteTerms
from shared.domain.labour import DEFAULT_SHIFT_END, END_SHIFT
from shared.domain.order import Actor, OrderState, apply_event
from shared.domain.plates import normalise_plate
from shared.domain.stages import PauseReason, Role, Stage
from shared.persistence.models import Bay, LabourSegment, OrderEvent, RepairOrder, Shop
from shared.services import orders, setup
from shared.services.commands import CommandRequest, Outcome
from shared.services.core import Core
from shared.services.orders import new_customer_token
from shared.services.rows import _COLUMNS, state_from_row

TIMEZONE = "Asia/Shanghai"
ZONE = ZoneInfo(TIMEZONE)
SLUG = "busy"
SHOP_NAME = "Baylight 大店 (bench)"
# The busy shop: 96 technicians (every eighth a team lead), 4 QC inspectors,
# 10 advisors, 3 foremen; 72 general and 16 quick bays, 3 wash bays: at 300
# orders a day its lives keep a general bay ~10 h on average (a car paused
# for parts or overnight stays on it), a quick bay ~2 h, a technician on
# the clock ~2 h, so fewer would have to work two cars at once.
TECHNICIANS = 96
TEAM_LEAD_EVERY = 8
QC_INSPECTORS = 4
ADVISORS = 10
FOREMEN = 3
GENERAL_BAYS = 72
QUICK_BAYS = 16
WASH_BAYS = 3
WASH_CAPACITY = 4
# Where the template lives are recorded: each on a day of its own from here.
TEMPLATE_EPOCH = datetime(2020, 1, 6, tzinfo=ZONE)
TEMPLATE_DAYS_APART = 3
# A copy moves by whole days plus one of these (minutes), chosen so that none
# of its clocks crosses a shift end.
JITTERS = tuple(range(-90, 91, 15))
# A quarter of the visits come from regular customers (about 5 visits a year
# each), the rest from cars seen once.
REGULAR_SHARE = 0.25
CACHE = Path(__file__).resolve().parent / ".cache"
FORMAT_VERSION = 3


# ------------------------------------------------------------------ people


@dataclass(frozen=True)
class People:
    """The shop's staff ids by kind, and their names (the log records them)."""

    technicians: tuple[int, ...]
    team_leads: tuple[int, ...]
    inspectors: tuple[int, ...]
    advisors: tuple[int, ...]
    foremen: tuple[int, ...]
    manager: int
    names: dict[int, str]
    general_bays: tuple[str, ...]
    quick_bays: tuple[str, ...]

    def actor(self, user_id: int, *roles: Role) -> Actor:
        return Actor(
            name=self.names[user_id],
            roles=frozenset(roles),
            user_id=user_id,
            ref=f"user:{user_id}",
        )

    def technician(self, user_id: int) -> Actor:
        roles = [Role.TECHNICIAN]
        if user_id in self.team_leads:
            roles.append(Role.TEAM_LEAD)
        return self.actor(user_id, *roles)


def build_shop(core: Core) -> tuple[int, People]:
    """The busy shop's staff and bays through the set-up services (the same
    in the scratch database and the year's, so their names match)."""
    shop_id = setup.ensure_shop(core, slug=SLUG, name=SHOP_NAME, timezone=TIMEZONE)
    names: dict[int, str] = {}

    def person(role: str, name: str, qualifications: tuple[str, ...] = ()) -> int:
        user_id = setup.create_user(
            core, shop_id, role=role, name=name, qualifications=qualifications
        )
        names[user_id] = name
        return user_id

    technicians, team_leads = [], []
    for n in range(1, TECHNICIANS + 1):
        lead = n % TEAM_LEAD_EVERY == 1
        user_id = person("technician", f"技师{n:02d}", ("team_lead",) if lead else ())
        technicians.append(user_id)
        if lead:
            team_leads.append(user_id)
    inspectors = [
        person("technician", f"质检{n}", ("qc_inspector",)) for n in range(1, QC_INSPECTORS + 1)
    ]
    advisors = [person("advisor", f"顾问{n}") for n in range(1, ADVISORS + 1)]
    foremen = [person("foreman", f"调度{n}") for n in range(1, FOREMEN + 1)]
    manager = person("manager", "经理")
    general = tuple(f"G{n:02d}" for n in range(1, GENERAL_BAYS + 1))
    quick = tuple(f"Q{n:02d}" for n in range(1, QUICK_BAYS + 1))
    for code in general:
        setup.add_bay(core, shop_id, code, f"{code} 工位", "general")
    for code in quick:
        setup.add_bay(core, shop_id, code, f"{code} 快保", "quick")
    for n in range(1, WASH_BAYS + 1):
        setup.add_bay(core, shop_id, f"W{n}", f"洗车{n}", "wash", capacity=WASH_CAPACITY)
    return shop_id, People(
        tuple(technicians),
        tuple(team_leads),
        tuple(inspectors),
        tuple(advisors),
        tuple(foremen),
        manager,
        names,
        general,
        quick,
    )


# ------------------------------------------------------------- template lives


@dataclass(frozen=True)
class Step:
    """One command of a life, ``minutes`` after the previous one."""

    kind: str
    minutes: float
    to: Stage | None = None
    reason: str = ""
    pause_reason: PauseReason | None = None
    approved: bool = True
    rating: int = 0
    extra: demo.ExtraWork | None = None
    parts_status: str = ""
    expected_in: float = 0.0


@dataclass
class Life:
    """One order's life: its car, who serves it, its commands."""

    car: demo.NewCar
    booked: bool
    advisor: int
    foreman: int
    crew: tuple[int, ...]
    bay: str
    team_lead: int
    inspector: int
    steps: list[Step]
    start: datetime = TEMPLATE_EPOCH
    label: str = ""
    # The work waiting in the shop when the promise was made (hours).
    backlog_hours: float = 20.0
    # Each step's moment, once run (a run given them uses them instead).
    moments: list[datetime] = field(default_factory=list)


def _arrival_minutes(rng: random.Random) -> float:
    """Minutes after 08:00 of an arrival: busiest in the morning."""
    if rng.random() < 0.55:
        return rng.uniform(0, 150)
    return rng.uniform(150, 540)


def _repair_steps(rng: random.Random, car: demo.NewCar, shape: dict[str, bool]) -> list[Step]:
    """Dispatch to handover, with the variations ``shape`` asks for."""
    gap = rng.uniform
    hours = car.job.hours
    steps = [Step("assign", gap(5, 40)), Step("start", gap(3, 15), to=Stage.IN_PROGRESS)]
    work = hours * 60 * gap(0.6, 1.3)
    done = 0.0
    if shape.get("quote_declined_then_approved"):
        steps += [
            Step("quote", gap(15, 40), extra=rng.choice(demo.EXTRA_WORK)),
            Step("decide", gap(5, 30), approved=False),
            Step("resume", gap(2, 10), to=Stage.IN_PROGRESS),
            Step("quote", gap(10, 30), extra=rng.choice(demo.EXTRA_WORK)),
            Step("decide", gap(5, 30), approved=True),
            Step("resume", gap(2, 10), to=Stage.IN_PROGRESS),
        ]
        done += 40
    elif shape.get("quote"):
        approved = rng.random() < 0.75
        steps += [
            Step("quote", gap(15, 40), extra=rng.choice(demo.EXTRA_WORK)),
            Step("decide", gap(5, 45), approved=approved),
            Step("resume", gap(2, 10), to=Stage.IN_PROGRESS),
        ]
        done += 30
    if shape.get("parts"):
        steps += [
            Step(
                "pause",
                gap(10, 40),
                to=Stage.PAUSED,
                reason=rng.choice(demo.PARTS_WAITS),
                pause_reason=PauseReason.PARTS,
            ),
            Step("parts", gap(5, 20), parts_status="ordered", expected_in=gap(40, 180)),
            Step("parts", gap(40, 150), parts_status="arrived"),
            Step("resume", gap(2, 15), to=Stage.IN_PROGRESS),
        ]
        if shape.get("promise"):
            steps.insert(-2, Step("promise", gap(2, 10), reason="等配件，交车推迟"))
        done += 25
    if shape.get("pause_other"):
        steps += [
            Step(
                "pause",
                gap(10, 40),
                to=Stage.PAUSED,
                reason=rng.choice(demo.OTHER_PAUSES),
                pause_reason=PauseReason.OTHER,
            ),
            Step("resume", gap(10, 45), to=Stage.IN_PROGRESS),
        ]
        done += 20
    if shape.get("overnight_paused"):
        # Paused for the night at the end of the day, resumed next morning.
        steps += [
            Step("pause_night", 0, to=Stage.PAUSED, pause_reason=PauseReason.OTHER),
            Step("resume_morning", 0, to=Stage.IN_PROGRESS),
        ]
    if shape.get("overnight_running"):
        # The clock is left running past the shift end (closed at it), the
        # job finished next morning.
        steps.append(Step("finish_morning", 0, to=Stage.QUALITY_CHECK))
    else:
        steps.append(Step("finish", max(work - done, 10), to=Stage.QUALITY_CHECK))
    steps.append(Step("pass_lead", gap(5, 20)))
    if shape.get("rework"):
        steps += [
            Step(
                "fail",
                gap(5, 15),
                to=Stage.IN_PROGRESS,
                reason=rng.choice(demo.CHECK_FAILURES),
            ),
            Step("finish", gap(15, 50), to=Stage.QUALITY_CHECK),
            Step("pass_lead", gap(5, 15)),
        ]
    steps += [Step("pass_qc", gap(5, 20)), Step("pass_final", gap(3, 15))]
    if car.wash:
        steps.append(Step("washed", gap(15, 35), to=Stage.READY))
    if not shape.get("never_collected"):
        steps.append(Step("deliver", gap(10, 150), to=Stage.DELIVERED))
        if rng.random() < 0.4:
            rating = rng.choices((5, 4, 3, 2, 1), weights=(62, 24, 8, 4, 2))[0]
            steps.append(Step("survey", gap(60, 60 * 30), rating=rating))
    return steps


def template_lives(count: int, seed: int, people: People) -> list[Life]:
    """``count`` lives, deterministic for the seed: mostly ordinary repairs,
    with the variations a busy shop sees in the shares it sees them."""
    rng = random.Random(seed)
    lives: list[Life] = []
    plates: set[str] = set()
    for index in range(count):
        car = demo.random_car(rng, plates)
        kind = rng.choices(
            ("walk_in", "booked", "cancel_reception", "cancel_booking"),
            weights=(82, 14, 3, 1),
        )[0]
        shape = {
            "quote": rng.random() < 0.22,
            "quote_declined_then_approved": rng.random() < 0.03,
            "parts": rng.random() < 0.12,
            "promise": rng.random() < 0.5,
            "pause_other": rng.random() < 0.07,
            "rework": rng.random() < 0.06,
            "overnight_paused": False,
            "overnight_running": False,
            "never_collected": rng.random() < 0.01,
        }
        if car.job.hours >= 3 and rng.random() < 0.5:
            shape["overnight_paused" if rng.random() < 0.7 else "overnight_running"] = True
        long_job = car.job.hours >= 3
        crew_size = 2 if long_job and rng.random() < 0.5 else 1
        crew = tuple(rng.sample(people.technicians, crew_size))
        bays = people.quick_bays if car.job.hours <= demo.QUICK_JOB_HOURS else people.general_bays
        leads = [t for t in people.team_leads if t not in crew]
        life = Life(
            car=car,
            booked=kind in ("booked", "cancel_booking"),
            advisor=rng.choice(people.advisors),
            foreman=rng.choice(people.foremen),
            crew=crew,
            bay=rng.choice(bays),
            team_lead=rng.choice(leads),
            inspector=rng.choice(people.inspectors),
            steps=[],
            label=kind,
            backlog_hours=rng.uniform(5, 80),
        )
        arrival = _arrival_minutes(rng)
        midnight = TEMPLATE_EPOCH + timedelta(days=TEMPLATE_DAYS_APART * index + 1)
        day = midnight + timedelta(hours=8)
        if life.booked:
            booked_at = day - timedelta(days=1) + timedelta(minutes=rng.uniform(60, 560))
            life.start = booked_at
            wait = (day + timedelta(minutes=arrival) - booked_at).total_seconds() / 60
            life.steps = [Step("book", 0)]
            if kind == "cancel_booking":
                life.steps.append(
                    Step(
                        "cancel",
                        rng.uniform(30, 600),
                        to=Stage.CANCELLED,
                        reason=rng.choice(demo.CANCEL_REASONS),
                    )
                )
            else:
                life.steps.append(Step("check_in", wait, to=Stage.CHECKED_IN))
        else:
            life.start = day + timedelta(minutes=arrival)
            life.steps = [Step("open", 0)]
        if kind == "cancel_reception":
            life.steps.append(
                Step(
                    "cancel",
                    rng.uniform(10, 40),
                    to=Stage.CANCELLED,
                    reason=rng.choice(demo.CANCEL_REASONS),
                )
            )
        elif kind != "cancel_booking":
            life.steps += _repair_steps(rng, car, shape)
        life.label = kind + "".join(f"+{k}" for k, v in shape.items() if v)
        lives.append(life)
    return lives


class Recorder:
    """Runs lives through the services, each command on a clock set to its
    moment (a copy of the core: the real clock is untouched)."""

    def __init__(self, core: Core, shop_id: int, people: People) -> None:
        self.moment = core.now()
        self.core = replace(core, clock=lambda: self.moment)
        self.shop_id = shop_id
        self.people = people

    def request(self, actor: Actor) -> CommandRequest:
        return CommandRequest(actor=actor, shop_id=self.shop_id)

    def run(self, life: Life, *, crew: tuple[int, ...] | None = None) -> int:
        """The life's commands in order; returns the order's id. A life
        that holds its moments (a copy of a run one, moved) keeps them."""
        self.moment = life.start
        order_id, version, quote = 0, 0, (0, 0)
        promised = life.start
        parts = 0
        people = self.people
        crew = crew or life.crew
        tech = people.technician(crew[0])
        advisor = people.actor(life.advisor, Role.ADVISOR)
        foreman = people.actor(life.foreman, Role.FOREMAN)
        core = self.core
        recorded = list(life.moments)
        life.moments = []
        for n, step in enumerate(life.steps):
            if recorded:
                self.moment = recorded[n]
            else:
                self._advance(step)
            life.moments.append(self.moment)
            outcome: Outcome
            move = partial(
                orders.transition_order,
                core,
                order_id=order_id,
                to=step.to,
                reason=step.reason,
                pause_reason=step.pause_reason,
            )
            if step.kind in ("open", "book"):
                car = life.car
                promised = suggest_promised_at(
                    self.moment + (timedelta(days=1) if life.booked else timedelta()),
                    car.job.hours,
                    backlog_hours=life.backlog_hours,
                    technicians_on_shift=len(people.technicians) // 2,
                )
                outcome = demo.open_order(
                    core,
                    self.request(advisor),
                    car,
                    promised_at=promised.astimezone(ZONE),
                    booked=life.booked,
                )
                order_id = int(outcome.body["id"])
            elif step.kind in ("check_in", "cancel", "deliver"):
                outcome = move(self.request(advisor), version=version)
            elif step.kind == "assign":
                outcome = orders.assign_order(
                    core,
                    self.request(foreman),
                    order_id,
                    bay=life.bay,
                    technicians=list(crew),
                    version=version,
                )
            elif step.kind in ("start", "resume", "resume_morning", "finish", "finish_morning"):
                outcome = move(self.request(tech), version=version)
            elif step.kind in ("pause", "pause_night"):
                if step.pause_reason == PauseReason.PARTS:
                    parts += 1
                reason = step.reason or "下班，明早继续"
                outcome = orders.transition_order(
                    core,
                    self.request(tech),
                    order_id,
                    to=Stage.PAUSED,
                    version=version,
                    reason=reason,
                    pause_reason=step.pause_reason,
                )
            elif step.kind == "parts":
                eta = (
                    self.moment + timedelta(minutes=step.expected_in) if step.expected_in else None
                )
                outcome = orders.change_parts_status(
                    core,
                    self.request(foreman),
                    order_id,
                    part_id=parts,
                    status=step.parts_status,
                    eta=eta,
                )
            elif step.kind == "promise":
                later = suggest_promised_at(max(promised, self.moment), 1.0, 0.0, 1)
                promised = later
                outcome = orders.change_promise(
                    core,
                    self.request(advisor),
                    order_id,
                    promised_at=later.astimezone(ZONE),
                    reason=step.reason,
                    version=version,
                )
            elif step.kind == "quote":
                assert step.extra is not None
                extra = step.extra
                outcome = orders.quote_extra_work(
                    core,
                    self.request(tech),
                    order_id,
                    QuoteTerms(extra.description, extra.labour_hours, extra.price_cents),
                    version=version,
                )
                quote = (int(outcome.body["id"]), int(outcome.body["version"]))
            elif step.kind == "decide":
                outcome = orders.decide_extra_work(
                    core,
                    self.request(advisor),
                    order_id,
                    quote_id=quote[0],
                    approved=step.approved,
                    quote_version=quote[1],
                    channel="phone",
                )
            elif step.kind == "pass_lead":
                outcome = orders.pass_check(
                    core, self.request(people.technician(life.team_lead)), order_id, version=version
                )
            elif step.kind == "pass_qc":
                qc = people.actor(life.inspector, Role.TECHNICIAN, Role.QC_INSPECTOR)
                outcome = orders.pass_check(core, self.request(qc), order_id, version=version)
            elif step.kind == "pass_final":
                outcome = orders.pass_check(core, self.request(foreman), order_id, version=version)
            elif step.kind == "fail":
                qc = people.actor(life.inspector, Role.TECHNICIAN, Role.QC_INSPECTOR)
                outcome = move(self.request(qc), version=version)
            elif step.kind == "washed":
                outcome = move(self.request(foreman), version=version)
            elif step.kind == "survey":
                customer = Actor(
                    name="customer",
                    roles=frozenset({Role.CUSTOMER}),
                    ref=f"customer:{order_id}",
                )
                outcome = orders.submit_survey(
                    core, self.request(customer), order_id, rating=step.rating, comment=""
                )
            else:  # pragma: no cover - a typo in a plan
                raise ValueError(step.kind)
            body = outcome.body.get("order", outcome.body)
            version = int(body["version"])
        return order_id

    def _advance(self, step: Step) -> None:
        """The moment of the next command: ``minutes`` later, or for the
        night's steps the end of this working day and the next morning."""
        local = self.moment.astimezone(ZONE)
        if step.kind == "pause_night":
            evening = datetime.combine(local.date(), DEFAULT_SHIFT_END, tzinfo=ZONE)
            self.moment = max(self.moment + timedelta(minutes=5), evening - timedelta(minutes=12))
        elif step.kind in ("resume_morning", "finish_morning"):
            morning = datetime.combine(
                local.date() + timedelta(days=1), datetime.min.time(), tzinfo=ZONE
            ) + timedelta(hours=8, minutes=20)
            self.moment = morning + timedelta(minutes=35 if step.kind == "finish_morning" else 0)
        else:
            self.moment = self.moment + timedelta(minutes=step.minutes)


def record_templates(core: Core, lives: Sequence[Life]) -> tuple[int, People]:
    """The busy shop in ``core``'s database, every life run through the
    services on its own day(s)."""
    shop_id, people = build_shop(core)
    recorder = Recorder(core, shop_id, people)
    for life in lives:
        recorder.run(life)
    return shop_id, people


# --------------------------------------------------------------- templates


# Event data fields that name the person who acted (the customer reads it).
_NAME_KEYS = ("taken_by", "by")
# Event data fields that hold a time (top-level in every event type).
_TIME_KEYS = ("promised_at", "expires_at", "expected_at", "eta", "old", "new", "shift_end")


@dataclass
class TemplateEvent:
    at: datetime
    type: str
    actor: str
    actor_name: str
    data: dict[str, Any]
    time_keys: tuple[str, ...]


@dataclass
class Template:
    """A recorded life as rows: what a copy is made from."""

    order_id: int
    state: OrderState
    closed_at: datetime | None
    events: list[TemplateEvent]
    segments: list[dict[str, Any]]
    crew: tuple[int, ...]
    bay: str | None
    bay_kind: str
    advisor: int | None
    # Busy windows (start, end) of the crew and of the bay.
    crew_window: tuple[datetime, datetime] | None
    bay_window: tuple[datetime, datetime] | None
    jitters: tuple[int, ...] = (0,)

    @property
    def created_at(self) -> datetime:
        return self.events[0].at

    @property
    def last_at(self) -> datetime:
        return max(
            [e.at for e in self.events] + [s["ended_at"] or s["started_at"] for s in self.segments]
        )


def _shift_ends_between(start: datetime, end: datetime) -> bool:
    """Whether a shift end (18:00 local) falls in (start, end]."""
    local = start.astimezone(ZONE)
    first = datetime.combine(local.date(), DEFAULT_SHIFT_END, tzinfo=ZONE)
    if first <= local:
        first += timedelta(days=1)
    return first <= end.astimezone(ZONE)


def _safe_jitters(segments: Sequence[dict[str, Any]], created: datetime) -> tuple[int, ...]:
    """The minute shifts under which the commands would have written the
    same clocks: none crosses a shift end, none was closed by one."""
    if any(s["end_reason"] == END_SHIFT for s in segments):
        return (0,)
    safe = []
    for minutes in JITTERS:
        delta = timedelta(minutes=minutes)
        if (created + delta).astimezone(ZONE).date() != created.astimezone(ZONE).date():
            continue
        ok = True
        for s in segments:
            start = s["started_at"]
            end = s["ended_at"] or start
            # The command that ended it also checked the shift end first.
            if _shift_ends_between(start + delta, end + delta) or _shift_ends_between(start, end):
                ok = False
                break
        if ok:
            safe.append(minutes)
    return tuple(safe) or (0,)


def load_templates(core: Core, shop_id: int) -> list[Template]:
    """Every order of the scratch shop as a template."""
    templates = []
    with core.db.read() as session:
        bay_kinds = dict(
            session.execute(select(Bay.code, Bay.kind).where(Bay.shop_id == shop_id)).all()
        )
        rows = session.execute(
            select(RepairOrder).where(RepairOrder.shop_id == shop_id).order_by(RepairOrder.id)
        ).scalars()
        for row in rows:
            records = session.execute(
                select(OrderEvent).where(OrderEvent.order_id == row.id).order_by(OrderEvent.seq)
            ).scalars()
            events = []
            crew: list[int] = []
            bay = None
            assigned_at = None
            left_bay = None
            last_clock = None
            for r in records:
                keys = tuple(k for k in _TIME_KEYS if isinstance(r.data.get(k), str))
                events.append(
                    TemplateEvent(r.at, r.type, r.actor, r.actor_name, dict(r.data), keys)
                )
                if r.type == Assigned.type:
                    crew += [int(t) for t in r.data["technicians"] if int(t) not in crew]
                    bay = r.data["bay"]
                    assigned_at = assigned_at or r.at
                if r.type == "stage_changed" and r.data["to_stage"] in (
                    "washing",
                    "ready",
                    "cancelled",
                    "delivered",
                ):
                    left_bay = left_bay or r.at
                if r.type == "stage_changed" and r.data["to_stage"] == "quality_check":
                    last_clock = r.at
            segments = [
                {
                    c: getattr(s, c)
                    for c in (
                        "technician_id",
                        "started_at",
                        "ended_at",
                        "end_reason",
                        "flagged",
                        "flag_reason",
                        "started_by",
                        "started_how",
                    )
                }
                for s in session.execute(
                    select(LabourSegment)
                    .where(LabourSegment.order_id == row.id)
                    .order_by(LabourSegment.id)
                ).scalars()
            ]
            if segments:
                ends = [s["ended_at"] or s["started_at"] for s in segments]
                last_clock = max([*ends, *([last_clock] if last_clock else [])])
            state = state_from_row(row)
            template = Template(
                order_id=row.id,
                state=state,
                closed_at=row.closed_at,
                events=events,
                segments=segments,
                crew=tuple(crew),
                bay=bay,
                bay_kind=bay_kinds.get(bay or "", ""),
                advisor=state.advisor_id,
                crew_window=(assigned_at, last_clock or assigned_at) if assigned_at else None,
                bay_window=(assigned_at, left_bay or last_clock or assigned_at)
                if assigned_at
                else None,
            )
            template.jitters = _safe_jitters(segments, template.created_at)
            templates.append(template)
    return templates


# ------------------------------------------------------------------- copies


def _shift(value: Any, delta: timedelta) -> Any:
    """Every time in a state (and its quotes, parts, reasons) moved by delta."""
    if isinstance(value, datetime):
        return value + delta
    if isinstance(value, tuple):
        return tuple(_shift(v, delta) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in fields(value):
            current = getattr(value, f.name)
            if isinstance(current, datetime | tuple) or (
                is_dataclass(current) and not isinstance(current, type)
            ):
                moved = _shift(current, delta)
                if moved is not current:
                    changes[f.name] = moved
        return replace(value, **changes) if changes else value
    return value


@dataclass
class Copy:
    """One order of the year: a template moved and renamed."""

    template: Template
    delta: timedelta
    technicians: dict[int, int]
    bay: str | None
    advisor: dict[int, int]
    plate: str
    serial: int
    order_id: int = 0
    number: int = 0
    truncated: bool = False
    emitted: list[tuple[str, datetime, dict[str, Any]]] = field(default_factory=list)
    _renamed: dict[str, str] | None = None

    def renamed(self, names: dict[int, str]) -> dict[str, str]:
        """Old person's name to the new one's, for names the log spells out."""
        if self._renamed is None:
            pairs = [*self.technicians.items(), *self.advisor.items()]
            self._renamed = {names[old]: names[new] for old, new in pairs}
        return self._renamed


def _rename_actor(ref: str, name: str, copy: Copy, names: dict[int, str]) -> tuple[str, str]:
    kind, _, number = ref.partition(":")
    if kind == "user" and number.isdigit():
        old = int(number)
        new = copy.technicians.get(old) or copy.advisor.get(old)
        if new is not None:
            return f"user:{new}", names[new]
    if kind == "customer":
        return f"customer:{copy.order_id}", name
    return ref, name


def copy_event(copy: Copy, event: TemplateEvent, names: dict[int, str]) -> dict[str, Any]:
    """The event row a copy's command would have written."""
    delta = copy.delta
    data = dict(event.data)
    for key in event.time_keys:
        data[key] = (datetime.fromisoformat(data[key]) + delta).isoformat()
    for key in _NAME_KEYS:
        if data.get(key):
            data[key] = copy.renamed(names).get(data[key], data[key])
    if event.type == OrderCreated.type:
        data["number"] = copy.number
        data["plate"] = copy.plate
        if data.get("advisor_id") is not None:
            data["advisor_id"] = copy.advisor.get(data["advisor_id"], data["advisor_id"])
    elif event.type == Assigned.type:
        data["technicians"] = [copy.technicians.get(t, t) for t in data["technicians"]]
        if copy.bay is not None:
            data["bay"] = copy.bay
    actor, actor_name = _rename_actor(event.actor, event.actor_name, copy, names)
    return {
        "type": event.type,
        "at": event.at + delta,
        "actor": actor,
        "actor_name": actor_name,
        "data": data,
    }


def copy_state(copy: Copy, names: dict[int, str]) -> OrderState:
    """The template's final state, moved and renamed as its events are."""
    state = _shift(copy.template.state, copy.delta)
    renamed = copy.renamed(names)
    return replace(
        state,
        quotes=tuple(
            replace(q, taken_by=renamed.get(q.taken_by, q.taken_by)) for q in state.quotes
        ),
        promise_by=renamed.get(state.promise_by, state.promise_by),
        number=copy.number,
        plate=copy.plate,
        technicians=tuple(copy.technicians.get(t, t) for t in state.technicians),
        bay=copy.bay if copy.bay is not None and state.bay == copy.template.bay else state.bay,
        advisor_id=copy.advisor.get(state.advisor_id, state.advisor_id)
        if state.advisor_id is not None
        else None,
    )


def order_row(
    copy: Copy, shop_id: int, state: OrderState, closed_at: datetime | None
) -> dict[str, Any]:
    """The repair_order row: the state through the commands' column mapping."""
    values = {name: store(getattr(state, name)) for name, store, _ in _COLUMNS}
    values.update(
        id=copy.order_id,
        shop_id=shop_id,
        business_day=state.created_at.astimezone(ZONE).date(),
        customer_token=new_customer_token(),
        closed_at=closed_at,
        anonymised_at=None,
    )
    return values


def copy_segments(copy: Copy, shop_id: int, now: datetime) -> list[dict[str, Any]]:
    out = []
    for s in copy.template.segments:
        started = s["started_at"] + copy.delta
        if started > now:
            continue
        ended = s["ended_at"] + copy.delta if s["ended_at"] is not None else None
        running = ended is None or ended > now
        by = s["started_by"]
        kind, _, number = by.partition(":")
        if kind == "user" and number.isdigit():
            by = f"user:{copy.technicians.get(int(number), int(number))}"
        out.append(
            {
                "shop_id": shop_id,
                "order_id": copy.order_id,
                "technician_id": copy.technicians.get(s["technician_id"], s["technician_id"]),
                "started_at": started,
                "ended_at": None if running else ended,
                "end_reason": None if running else s["end_reason"],
                "flagged": False if running else s["flagged"],
                "flag_reason": "" if running else s["flag_reason"],
                "started_by": by,
                "started_how": s["started_how"],
            }
        )
    return out


# ------------------------------------------------------------------ schedule


Span = tuple[datetime, datetime]


def _clocked_spans(template: Template) -> list[Span]:
    """When the template's crew is on the clock, stretches less than an hour
    apart merged (a paused car leaves its technicians free: BUSY_STAGES)."""
    spans = sorted((s["started_at"], s["ended_at"] or s["started_at"]) for s in template.segments)
    if not spans and template.crew_window is not None:
        spans = [template.crew_window]
    merged: list[Span] = []
    for begin, finish in spans:
        if merged and begin - merged[-1][1] < timedelta(hours=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


class _Diary:
    """One technician's or bay's booked spans, old ones forgotten."""

    def __init__(self) -> None:
        self.spans: list[Span] = []

    def free(self, wanted: Sequence[Span]) -> bool:
        return not any(a < d and c < b for a, b in self.spans for c, d in wanted)

    def book(self, wanted: Sequence[Span], forget_before: datetime) -> None:
        self.spans = [s for s in self.spans if s[1] >= forget_before] + list(wanted)


class Schedule:
    """Greedy: each copy gets technicians who are off the clock while its
    crew is on it, and a bay of its template's kind that is empty while its
    car holds one (a random free one; when none is, the one booked least
    into that time, counted as an overlap), so the year's labour and bay
    figures look like a shop's. Copies are scheduled in order of arrival."""

    def __init__(self, people: People, rng: random.Random) -> None:
        self.rng = rng
        self.techs = {t: _Diary() for t in people.technicians}
        self.bays = {
            "general": {b: _Diary() for b in people.general_bays},
            "quick": {b: _Diary() for b in people.quick_bays},
        }
        self.advisors = people.advisors
        self.bay_overlaps = 0
        self.crew_overlaps = 0

    @staticmethod
    def _pick(
        diaries: dict[Any, _Diary], wanted: list[Span], count: int, rng: random.Random
    ) -> tuple[list[Any], bool]:
        names = list(diaries)
        rng.shuffle(names)
        chosen = [n for n in names if diaries[n].free(wanted)][:count]
        if len(chosen) == count:
            return chosen, False

        def clash(name: Any) -> timedelta:
            return sum(
                (
                    min(b, d) - max(a, c)
                    for a, b in diaries[name].spans
                    for c, d in wanted
                    if a < d and c < b
                ),
                timedelta(),
            )

        rest = sorted((n for n in names if n not in chosen), key=clash)
        return chosen + rest[: count - len(chosen)], True

    def crew(self, template: Template, delta: timedelta) -> dict[int, int]:
        if not template.crew or template.crew_window is None:
            return {}
        wanted = [(a + delta, b + delta) for a, b in _clocked_spans(template)]
        chosen, clashed = self._pick(self.techs, wanted, len(template.crew), self.rng)
        self.crew_overlaps += clashed
        for t in chosen:
            self.techs[t].book(wanted, wanted[0][0] - timedelta(days=3))
        return dict(zip(template.crew, chosen, strict=True))

    def bay(self, template: Template, delta: timedelta) -> str | None:
        if template.bay is None or template.bay_window is None:
            return None
        kind = self.bays.get(template.bay_kind)
        if kind is None:
            return template.bay
        wanted = [(template.bay_window[0] + delta, template.bay_window[1] + delta)]
        (chosen,), clashed = self._pick(kind, wanted, 1, self.rng)
        self.bay_overlaps += clashed
        kind[chosen].book(wanted, wanted[0][0] - timedelta(days=3))
        return str(chosen)

    def advisor(self, template: Template) -> dict[int, int]:
        if template.advisor is None:
            return {}
        return {template.advisor: self.rng.choice(self.advisors)}


# --------------------------------------------------------------------- year


@dataclass
class YearStats:
    orders: int = 0
    events: int = 0
    segments: int = 0
    truncated: int = 0
    bay_overlaps: int = 0
    crew_overlaps: int = 0
    seconds: float = 0.0
    days: int = 0
    first_day: str = ""
    last_day: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _plates(rng: random.Random, regulars: int) -> Callable[[], str]:
    pool = [normalise_plate(demo.random_plate(rng, rng.random() < 0.2)) for _ in range(regulars)]

    def plate() -> str:
        if rng.random() < REGULAR_SHARE:
            return rng.choice(pool)
        return normalise_plate(demo.random_plate(rng, rng.random() < 0.2))

    return plate


def write_year(
    core: Core,
    templates: Sequence[Template],
    people: People,
    shop_id: int,
    *,
    days: int,
    per_day: int,
    now: datetime,
    seed: int,
    batch: int = 20_000,
) -> YearStats:
    """``days`` days of about ``per_day`` orders each, ending today (orders
    that began before ``now``; their events up to it), into ``core``'s
    database, whose shop already has the staff (``build_shop``) and no
    orders."""
    started = time.monotonic()
    rng = random.Random(seed)
    stats = YearStats(days=days)
    names = people.names
    schedule = Schedule(people, rng)
    plate = _plates(rng, max(per_day * days // 22, 10))
    today = now.astimezone(ZONE).date()
    first = today - timedelta(days=days - 1)
    stats.first_day, stats.last_day = first.isoformat(), today.isoformat()
    heap: list[tuple[datetime, int, int, Copy]] = []
    event_rows: list[dict[str, Any]] = []
    order_rows: list[dict[str, Any]] = []
    segment_rows: list[dict[str, Any]] = []
    truncated: list[Copy] = []
    numbers: dict[date, int] = defaultdict(int)
    seq = 0
    next_id = 0
    serial = 0

    def flush(final: bool = False) -> None:
        with core.db.write() as session:
            connection = session.connection()
            if order_rows:
                connection.execute(insert(RepairOrder.__table__), order_rows)
            if event_rows:
                connection.execute(insert(OrderEvent.__table__), event_rows)
            if segment_rows:
                connection.execute(insert(LabourSegment.__table__), segment_rows)
            if final:
                connection.execute(
                    update(Shop.__table__).where(Shop.id == shop_id).values(last_seq=seq)
                )
        stats.orders += len(order_rows)
        stats.events += len(event_rows)
        stats.segments += len(segment_rows)
        order_rows.clear()
        event_rows.clear()
        segment_rows.clear()

    def emit_until(limit: datetime) -> None:
        nonlocal seq, next_id
        while heap and heap[0][0] <= limit:
            at, _serial, index, copy = heapq.heappop(heap)
            event = copy.template.events[index]
            if index == 0:
                next_id += 1
                copy.order_id = next_id
                day = at.astimezone(ZONE).date()
                numbers[day] += 1
                copy.number = numbers[day]
                if not copy.truncated:
                    state = copy_state(copy, names)
                    closed = (
                        copy.template.closed_at + copy.delta if copy.template.closed_at else None
                    )
                    order_rows.append(order_row(copy, shop_id, state, closed))
                    segment_rows.extend(copy_segments(copy, shop_id, now))
            row = copy_event(copy, event, names)
            if index == 0 and copy.truncated:
                # Its row now (the log refers to it), its final state at the end.
                first = apply_event(None, event_from_record(row["type"], row["at"], row["data"]))
                order_rows.append(order_row(copy, shop_id, first, None))
            seq += 1
            row.update(
                id=seq, shop_id=shop_id, seq=seq, order_id=copy.order_id, idempotency_key=None
            )
            event_rows.append(row)
            if copy.truncated:
                copy.emitted.append((row["type"], row["at"], row["data"]))
            if index + 1 < len(copy.template.events):
                nxt = copy.template.events[index + 1].at + copy.delta
                if nxt <= now:
                    heapq.heappush(heap, (nxt, copy.serial, index + 1, copy))
            if len(event_rows) >= batch:
                flush()

    all_templates = list(templates)
    weights = [1.0] * len(all_templates)
    for offset in range(days):
        day = first + timedelta(days=offset)
        count = max(1, round(per_day * rng.uniform(0.85, 1.15)))
        picks = rng.choices(range(len(all_templates)), weights=weights, k=count)
        picks.sort(key=lambda p: all_templates[p].created_at.astimezone(ZONE).time())
        used: set[tuple[int, int]] = set()
        for pick in picks:
            template = all_templates[pick]
            jitter = rng.choice(template.jitters)
            if (pick, jitter) in used:
                options = [j for j in template.jitters if (pick, j) not in used]
                if not options:
                    continue
                jitter = rng.choice(options)
            used.add((pick, jitter))
            created_day = template.created_at.astimezone(ZONE).date()
            delta = timedelta(days=(day - created_day).days, minutes=jitter)
            if template.created_at + delta > now:
                continue
            serial += 1
            copy = Copy(
                template=template,
                delta=delta,
                technicians=schedule.crew(template, delta),
                bay=schedule.bay(template, delta),
                advisor=schedule.advisor(template),
                plate=plate(),
                serial=serial,
            )
            copy.truncated = template.last_at + delta > now
            if copy.truncated:
                truncated.append(copy)
            heapq.heappush(heap, (template.created_at + delta, serial, 0, copy))
        # Nothing created later can come before the next local midnight.
        midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=ZONE)
        emit_until(min(midnight, now) - timedelta(microseconds=1))
    emit_until(now)
    flush()
    finals = []
    for copy in truncated:
        if not copy.order_id:
            continue
        state = None
        closed = None
        for type_name, at, data in copy.emitted:
            state = apply_event(state, event_from_record(type_name, at, data))
            if closed is None and not state.active:
                closed = state.updated_at
        assert state is not None
        values = order_row(copy, shop_id, state, closed)
        del values["customer_token"]
        finals.append({f"v_{k}": v for k, v in values.items()})
        segment_rows.extend(copy_segments(copy, shop_id, now))
        stats.truncated += 1
    if finals:
        table = RepairOrder.__table__
        columns = [k[2:] for k in finals[0] if k != "v_id"]
        statement = (
            update(table)
            .where(table.c.id == bindparam("v_id"))
            .values({c: bindparam(f"v_{c}") for c in columns})
        )
        with core.db.write() as session:
            session.connection().execute(statement, finals)
    flush(final=True)
    stats.bay_overlaps = schedule.bay_overlaps
    stats.crew_overlaps = schedule.crew_overlaps
    stats.seconds = round(time.monotonic() - started, 1)
    return stats


# -------------------------------------------------------------------- build


@dataclass(frozen=True)
class Spec:
    """What a generated year is: its cache key."""

    days: int = 365
    per_day: int = 300
    templates: int = 160
    seed: int = 16

    def key(self, today: date) -> str:
        text = json.dumps(
            [FORMAT_VERSION, self.days, self.per_day, self.templates, self.seed, today.isoformat()]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def offline_core(database_url: str, instance: Path) -> Core:
    from shared.cli import _offline_core
    from shared.config import Settings

    return _offline_core(Settings.from_env({}, database_url=database_url, instance_path=instance))


def make_templates(spec: Spec, work: Path) -> tuple[list[Template], dict[str, Any]]:
    """The template lives recorded through the real commands in a scratch
    SQLite database under ``work``."""
    started = time.monotonic()
    url = f"sqlite:///{work / f'templates-{spec.seed}-{spec.templates}.db'}"
    core = offline_core(url, work)
    try:
        shop_id, people = build_shop(core)
        lives = template_lives(spec.templates, spec.seed, people)
        recorder = Recorder(core, shop_id, people)
        for life in lives:
            recorder.run(life)
        templates = load_templates(core, shop_id)
    finally:
        core.db.dispose()
    return templates, {"templates": len(templates), "seconds": round(time.monotonic() - started, 1)}


def generate(
    database_url: str, spec: Spec, work: Path, *, now: datetime | None = None, batch: int = 20_000
) -> dict[str, Any]:
    """A fresh database at ``database_url`` (empty, migrated here) holding the
    busy shop's year; what was made and how long it took."""
    now = now or datetime.now(UTC)
    templates, made = make_templates(spec, work)
    core = offline_core(database_url, work)
    try:
        shop_id, people = build_shop(core)
        stats = write_year(
            core,
            templates,
            people,
            shop_id,
            days=spec.days,
            per_day=spec.per_day,
            now=now,
            seed=spec.seed,
            batch=batch,
        )
    finally:
        core.db.dispose()
    return {"shop_id": shop_id, "now": now.isoformat(), "template_run": made, **stats.as_dict()}


def cached_sqlite(
    spec: Spec, work: Path, *, now: datetime | None = None
) -> tuple[Path, dict[str, Any]]:
    """The year as a SQLite file under bench/.cache/, made once per spec and
    day (its "today" is the day it was made)."""
    now = now or datetime.now(UTC)
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"year-{spec.key(now.astimezone(ZONE).date())}.db"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())
    partial_path = path.with_suffix(".partial")
    partial_path.unlink(missing_ok=True)
    info = generate(f"sqlite:///{partial_path}", spec, work, now=now)
    partial_path.rename(path)
    meta.write_text(json.dumps(info, indent=2))
    return path, info


# The reports' facts cache (issue 16, shared/services/report_cache.py) as
# a running shop has it: every closed order's facts stored. A copy of the
# year with the cache rebuilt is kept beside it, per version of that code.
FACTS_CODE = (
    "shared/domain/report_facts.py",
    "shared/services/report_cache.py",
    "shared/persistence/report_models.py",
    "shared/persistence/report_day_models.py",
)


def _facts_code_hash() -> str | None:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in FACTS_CODE:
        path = root / name
        if not path.exists():
            return None
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def with_facts(
    spec: Spec, work: Path, *, now: datetime | None = None
) -> tuple[Path, dict[str, Any]]:
    """The cached year with the reports' facts cache rebuilt from its log
    (``report_cache.rebuild_facts``, timed), or the plain year when this
    code base has no such cache."""
    path, info = cached_sqlite(spec, work, now=now)
    code = _facts_code_hash()
    if code is None:
        return path, info
    built = path.with_name(f"{path.stem}-facts-{code}.db")
    meta = built.with_suffix(".json")
    if built.exists() and meta.exists():
        return built, json.loads(meta.read_text())
    from shared.services import report_cache

    for stale in path.parent.glob(f"{path.stem}-facts-*"):
        stale.unlink()  # another version of the reports code's
    partial_path = built.with_suffix(".partial")
    shutil.copyfile(path, partial_path)
    core = offline_core(f"sqlite:///{partial_path}", work)
    try:
        started = time.monotonic()
        stored = report_cache.rebuild_facts(core, int(info["shop_id"]))
        info = {
            **info,
            "facts_code": code,
            "facts_stored": stored,
            "facts_rebuild_s": round(time.monotonic() - started, 1),
        }
    finally:
        core.db.dispose()
    partial_path.rename(built)
    meta.write_text(json.dumps(info, indent=2))
    return built, info


def copy_database(source_url: str, target_url: str, work: Path, batch: int = 20_000) -> float:
    """Every row of a generated database into a fresh (migrated here) one,
    e.g. the cached SQLite year into PostgreSQL; PostgreSQL's id sequences
    are moved past the copied ids and its statistics gathered. Returns
    seconds."""
    from sqlalchemy import text

    from shared.persistence.models import Base, import_all_models

    started = time.monotonic()
    import_all_models()
    source = offline_core(source_url, work)
    target = offline_core(target_url, work)
    try:
        with source.db.read() as reading, target.db.write() as writing:
            src, dst = reading.connection(), writing.connection()
            for table in Base.metadata.sorted_tables:
                if not src.execute(select(func.count()).select_from(table)).scalar():
                    continue
                # Migrations may have seeded a table (none does today): replace.
                dst.execute(table.delete())
                result = src.execution_options(yield_per=batch).execute(select(table))
                for chunk in result.mappings().partitions(batch):
                    dst.execute(insert(table), [dict(r) for r in chunk])
                if dst.dialect.name == "postgresql" and "id" in table.c:
                    dst.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                            f"(SELECT max(id) FROM {table.name}))"
                        )
                    )
        if target.db.engine.dialect.name == "postgresql":
            # Statistics, as a restore is followed by (and autovacuum would
            # get to in time): without them the planner takes every table
            # for empty and nests loops over 100,000 orders.
            with target.db.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    finally:
        source.db.dispose()
        target.db.dispose()
    return round(time.monotonic() - started, 1)
