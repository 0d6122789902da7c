"""The order's state is the fold of its events, and the stored form of the
events (type, at, JSON data) is enough to rebuild it exactly.

A hypothesis state machine issues random commands from random people; refused
commands must change nothing, accepted ones append events. After every step
the log is serialised as the event table stores it, parsed back, and replayed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from shared.domain import errors
from shared.domain.events import Event, WorkItem, event_from_record
from shared.domain.extra_work import (
    decide_extra_work,
    expire_quotes,
    quote_extra_work,
    revise_quote,
)
from shared.domain.holds import PART_ARRIVED
from shared.domain.order import (
    Actor,
    OrderState,
    allowed_moves,
    apply_events,
    assign,
    clear_pause_reason,
    create,
    pass_check,
    transition,
)
from shared.domain.parts import change_parts_status, request_parts
from shared.domain.stages import PauseReason, Role, Stage
from tests.domain.immutability import assert_deeply_frozen

SHANGHAI = timezone(timedelta(hours=8))
T0 = datetime(2025, 6, 2, 7, 45, tzinfo=SHANGHAI)
TECH_IDS = (7, 8, 9)

# Most commands come from people who may give them; some from anyone.
USEFUL_ROLES = st.sampled_from(
    [Role.SYSTEM, Role.FOREMAN, Role.ADVISOR, Role.TECHNICIAN, Role.QC_INSPECTOR, Role.TEAM_LEAD]
)
ROLES = st.one_of(
    st.just(frozenset({Role.SYSTEM})),
    st.frozensets(USEFUL_ROLES, min_size=1, max_size=2),
    st.frozensets(st.sampled_from(list(Role)), min_size=1, max_size=3),
)
USER_IDS = st.sampled_from([None, *TECH_IDS, 99])
ACTORS = st.builds(lambda roles, uid: Actor("someone", roles, user_id=uid), ROLES, USER_IDS)
REASONS = st.sampled_from(["", "customer request", "异响 noise from the rear axle"])
MINUTES = st.integers(min_value=0, max_value=240)
SHOP_CLOCK = Actor("quote clock", frozenset({Role.SYSTEM}), ref="system:quotes")


def to_record(event: Event) -> str:
    """What the event table stores (and the events API sends), as JSON text."""
    return json.dumps(
        {"type": event.type, "at": event.at.isoformat(), "data": event.data()},
        ensure_ascii=False,
    )


def from_record(text: str) -> Event:
    record = json.loads(text)
    return event_from_record(record["type"], datetime.fromisoformat(record["at"]), record["data"])


class OrderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.events: list[Event] = []
        self.state: OrderState | None = None
        self.max_rework = 0
        self.stages_seen: set[Stage] = set()
        # The state rebuilt from the stored form alone, and how many events
        # of the log it has folded.
        self.replayed: OrderState | None = None
        self.replayed_count = 0

    # ------------------------------------------------------------ helpers

    def _tick(self, minutes: int) -> datetime:
        # strictly increasing, timezone-aware
        self.now += timedelta(minutes=minutes, seconds=1)
        return self.now

    def _issue(self, command: Any, *args: Any, **kwargs: Any) -> None:
        assert self.state is not None
        try:
            events = command(self.state, *args, **kwargs)
        except errors.DomainError as refused:
            assert refused.code != "domain_error"
            assert isinstance(refused.detail, str) and refused.detail
            if isinstance(refused, errors.IllegalTransition):
                assert refused.extra["allowed"] == [s.value for s in allowed_moves(self.state)]
            return
        assert events, "an accepted command records what happened"
        self.events.extend(events)
        self.state = apply_events(self.state, events)
        self.stages_seen.add(self.state.stage)
        event(f"reached {self.state.stage.value}")

    # ------------------------------------------------------------ commands

    @initialize(
        booked=st.booleans(),
        wash=st.booleans(),
        hours=st.lists(st.floats(min_value=0, max_value=12, allow_nan=False), max_size=3),
        promised=st.one_of(st.none(), st.integers(min_value=30, max_value=3 * 24 * 60)),
        mileage=st.one_of(st.none(), st.integers(min_value=0, max_value=5_000_000)),
    )
    def open_order(
        self,
        booked: bool,
        wash: bool,
        hours: list[float],
        promised: int | None,
        mileage: int | None,
    ) -> None:
        events = create(
            number=17,
            plate=" 苏E·5T2X9 ",
            now=self.now,
            actor=Actor("desk", frozenset({Role.ADVISOR}), user_id=1),
            booked=booked,
            customer_name="张女士",
            customer_phone="+86 139 1234 5678",
            vehicle_model="Sagitar",
            vehicle_vin="LFV2A21K0A3012345",
            vehicle_mileage=mileage,
            complaint="保养\nbrakes squeal",
            items=[WorkItem(f"item {i}", h) for i, h in enumerate(hours)],
            promised_at=None if promised is None else self.now + timedelta(minutes=promised),
            waiting=not booked,
            wash=wash,
        )
        self.events.extend(events)
        self.state = apply_events(None, events)
        self.stages_seen.add(self.state.stage)

    @rule(
        data=st.data(),
        actor=ACTORS,
        reason=REASONS,
        pause_reason=st.one_of(st.none(), st.sampled_from(list(PauseReason))),
        minutes=MINUTES,
    )
    def move(
        self,
        data: st.DataObject,
        actor: Actor,
        reason: str,
        pause_reason: PauseReason | None,
        minutes: int,
    ) -> None:
        assert self.state is not None
        # Mostly a move the order allows now (rarely cancelling, which ends
        # the story), sometimes any stage at all.
        moves = [s for s in allowed_moves(self.state) if s != Stage.CANCELLED]
        targets = st.sampled_from(list(Stage))
        if moves:
            targets = st.one_of(st.sampled_from(moves), st.sampled_from(moves), targets)
        to = data.draw(targets, label="to")
        self._issue(
            transition,
            to,
            actor=actor,
            now=self._tick(minutes),
            reason=reason,
            pause_reason=pause_reason,
        )

    @rule(
        actor=ACTORS,
        bay=st.sampled_from(["B1", "B2", " 洗车位 ", "", "B\x07"]),
        technicians=st.one_of(
            st.lists(st.sampled_from(TECH_IDS), min_size=1, max_size=2, unique=True),
            st.lists(st.sampled_from(TECH_IDS), max_size=3),
        ),
        minutes=MINUTES,
    )
    def dispatch(self, actor: Actor, bay: str, technicians: list[int], minutes: int) -> None:
        self._issue(assign, bay=bay, technicians=technicians, actor=actor, now=self._tick(minutes))

    @rule(data=st.data(), minutes=MINUTES)
    def advance(self, data: st.DataObject, minutes: int) -> None:
        """The simulator moves the car along the usual flow."""
        assert self.state is not None
        system = Actor("simulator", frozenset({Role.SYSTEM}))
        now = self._tick(minutes)
        if self.state.stage == Stage.CHECKED_IN:
            self._issue(assign, bay="B1", technicians=[7], actor=system, now=now)
        elif self.state.stage == Stage.QUALITY_CHECK and self.state.check_level is not None:
            self._issue(pass_check, actor=system, now=now)
        else:
            moves = [s for s in allowed_moves(self.state) if s != Stage.CANCELLED]
            if not moves:
                return
            to = data.draw(st.sampled_from(moves), label="to")
            pause = data.draw(st.sampled_from(list(PauseReason)), label="pause_reason")
            self._issue(transition, to, actor=system, now=now, reason="flow", pause_reason=pause)

    @rule(actor=ACTORS, minutes=MINUTES)
    def sign_check(self, actor: Actor, minutes: int) -> None:
        self._issue(pass_check, actor=actor, now=self._tick(minutes))

    @rule(
        actor=ACTORS,
        hours=st.one_of(st.sampled_from([0.0, 0.5, 1.25]), st.floats(min_value=0.01, max_value=8)),
        price=st.integers(min_value=-5, max_value=200_000),
        description=st.sampled_from(["Wiper blades", "更换刹车片", " ", "Tyre\x00"]),
        minutes=MINUTES,
    )
    def quote(self, actor: Actor, hours: float, price: int, description: str, minutes: int) -> None:
        self._issue(
            quote_extra_work,
            description=description,
            labour_hours=hours,
            price_cents=price,
            actor=actor,
            now=self._tick(minutes),
        )

    @precondition(lambda self: self.state is not None and bool(self.state.quotes))
    @rule(
        data=st.data(),
        actor=ACTORS | st.just(Actor("customer", frozenset({Role.CUSTOMER}), ref="track")),
        approved=st.booleans(),
        version=st.sampled_from([1, 1, 1, 2]),
        channel=st.sampled_from(["customer_page", "phone", "in_person", "fax"]),
        minutes=MINUTES,
    )
    def decide(
        self,
        data: st.DataObject,
        actor: Actor,
        approved: bool,
        version: int,
        channel: str,
        minutes: int,
    ) -> None:
        assert self.state is not None
        ids = [q.id for q in self.state.quotes] + [len(self.state.quotes) + 1]
        quote_id = data.draw(st.sampled_from(ids), label="quote_id")
        self._issue(
            decide_extra_work,
            quote_id=quote_id,
            approved=approved,
            quote_version=version,
            channel=channel,
            actor=actor,
            now=self._tick(minutes),
        )

    @precondition(lambda self: self.state is not None and bool(self.state.quotes))
    @rule(
        data=st.data(),
        actor=ACTORS,
        version=st.sampled_from([1, 2, 2, 3]),
        price=st.integers(min_value=-5, max_value=200_000),
        minutes=MINUTES,
    )
    def revise(
        self, data: st.DataObject, actor: Actor, version: int, price: int, minutes: int
    ) -> None:
        assert self.state is not None
        quote_id = data.draw(st.sampled_from([q.id for q in self.state.quotes]), label="quote_id")
        self._issue(
            revise_quote,
            quote_id=quote_id,
            quote_version=version,
            description="Wiper blades, both sides",
            labour_hours=0.4,
            price_cents=price,
            actor=actor,
            now=self._tick(minutes),
        )

    @rule(minutes=st.sampled_from([0, 60, 300]))
    def expire(self, minutes: int) -> None:
        self._issue(expire_quotes, actor=SHOP_CLOCK, now=self._tick(minutes))

    @rule(
        actor=ACTORS,
        description=st.sampled_from(["刹车片", "Oil filter", " "]),
        eta=st.one_of(st.none(), st.integers(min_value=10, max_value=600)),
        minutes=MINUTES,
    )
    def ask_for_parts(self, actor: Actor, description: str, eta: int | None, minutes: int) -> None:
        now = self._tick(minutes)
        expected = None if eta is None else now + timedelta(minutes=eta)
        self._issue(request_parts, description=description, eta=expected, actor=actor, now=now)

    @precondition(lambda self: self.state is not None and bool(self.state.parts))
    @rule(
        data=st.data(),
        actor=ACTORS,
        status=st.sampled_from(["ordered", "arrived", "arrived", "lost"]),
        minutes=MINUTES,
    )
    def parts_counter(self, data: st.DataObject, actor: Actor, status: str, minutes: int) -> None:
        assert self.state is not None
        part_id = data.draw(st.sampled_from([p.id for p in self.state.parts]), label="part_id")
        now = self._tick(minutes)
        self._issue(
            change_parts_status,
            part_id=part_id,
            status=status,
            eta=now + timedelta(hours=2),
            actor=actor,
            now=now,
        )

    @precondition(lambda self: self.state is not None and bool(self.state.pause_reasons))
    @rule(data=st.data(), actor=ACTORS, minutes=MINUTES)
    def clear_reason(self, data: st.DataObject, actor: Actor, minutes: int) -> None:
        assert self.state is not None
        keys = [r.key for r in self.state.pause_reasons]
        key = data.draw(st.sampled_from(keys), label="key")
        self._issue(clear_pause_reason, key, actor=actor, now=self._tick(minutes))

    # ------------------------------------------------------------ invariants

    @invariant()
    def replaying_the_stored_log_gives_the_same_state(self) -> None:
        """After every step, the step's new events are stored and read back,
        and the state folded from what was read back equals the live state.

        Folding the read-back log a step at a time is the same fold as
        replaying it whole (``apply_events`` is a left fold), at linear rather
        than quadratic cost; the whole log is also replayed from nothing, from
        its stored form and as it is, when each run ends (``teardown``)."""
        if self.state is None:
            return
        new = self.events[self.replayed_count :]
        replayed = [from_record(to_record(e)) for e in new]
        assert replayed == new
        assert [type(e) for e in replayed] == [type(e) for e in new]
        self.replayed = apply_events(self.replayed, replayed) if replayed else self.replayed
        self.replayed_count = len(self.events)
        assert self.replayed == self.state

    def teardown(self) -> None:
        if self.state is None:
            return
        stored = [to_record(e) for e in self.events]
        assert apply_events(None, [from_record(text) for text in stored]) == self.state
        assert apply_events(None, self.events) == self.state

    @invariant()
    def rules_cannot_change_the_state(self) -> None:
        if self.state is not None:
            assert_deeply_frozen(self.state)

    @invariant()
    def version_counts_the_events(self) -> None:
        if self.state is None:
            return
        assert self.state.version == len(self.events)
        assert self.state.updated_at == self.events[-1].at
        assert self.state.created_at == self.events[0].at

    @invariant()
    def stage_is_a_stage(self) -> None:
        if self.state is None:
            return
        assert isinstance(self.state.stage, Stage)
        if self.state.stage != Stage.PAUSED:
            assert self.state.pause_reasons == ()
        first = self.state.pause_reasons[0] if self.state.pause_reasons else None
        assert self.state.pause_reason == (first.reason if first else None)
        assert self.state.pause_note == (first.note if first else "")
        if self.state.stage == Stage.DISPATCHED:
            assert self.state.bay and self.state.technicians

    @invariant()
    def the_car_waits_for_exactly_what_is_open(self) -> None:
        """While paused, the car waits for every quote nobody answered and
        every part not yet arrived, and for nothing that is settled; it can
        only leave the pause (by a resume) once those are settled."""
        if self.state is None or self.state.stage != Stage.PAUSED:
            return
        keys = {r.key for r in self.state.pause_reasons}
        pending = {f"approval:{q.id}" for q in self.state.pending_quotes}
        missing = {f"parts:{p.id}" for p in self.state.parts if p.status != PART_ARRIVED}
        assert {k for k in keys if not k.startswith("other:")} == pending | missing

    @invariant()
    def rework_never_decreases(self) -> None:
        if self.state is None:
            return
        assert self.state.rework_count >= self.max_rework
        self.max_rework = self.state.rework_count

    @invariant()
    def times_are_sane(self) -> None:
        if self.state is None:
            return
        ats = [e.at for e in self.events]
        assert ats == sorted(ats)
        assert self.state.worked_minutes >= 0
        if self.state.stage not in (Stage.BOOKED, Stage.READY, Stage.DELIVERED, Stage.CANCELLED):
            assert self.state.eta is not None and self.state.eta >= self.state.updated_at


OrderMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOrderReplay = OrderMachine.TestCase


def test_a_whole_repair_replays_from_its_records() -> None:
    """A fixed, complete story: booked, checked in, dispatched, extra work
    approved, a failed check, rework, wash, ready, delivered."""
    now = T0
    system = Actor("sim", frozenset({Role.SYSTEM}))

    def at(minutes: int) -> datetime:
        return now + timedelta(minutes=minutes)

    events: list[Event] = list(
        create(
            number=1,
            plate="浙A·00001",
            now=at(0),
            actor=system,
            booked=True,
            wash=True,
            items=[WorkItem("Service", 1.0)],
            promised_at=at(240),
        )
    )
    state = apply_events(None, events)
    script: list[Any] = [
        lambda s: transition(s, Stage.CHECKED_IN, actor=system, now=at(30)),
        lambda s: assign(s, bay="B4", technicians=[7, 8], actor=system, now=at(35)),
        lambda s: transition(s, Stage.IN_PROGRESS, actor=system, now=at(40)),
        lambda s: quote_extra_work(
            s, description="Pads", labour_hours=0.5, price_cents=30_000, actor=system, now=at(70)
        ),
        lambda s: decide_extra_work(
            s,
            quote_id=1,
            approved=True,
            quote_version=1,
            channel="customer_page",
            actor=Actor("c", frozenset({Role.CUSTOMER})),
            now=at(89),
        ),
        lambda s: transition(s, Stage.IN_PROGRESS, actor=system, now=at(90)),
        lambda s: request_parts(s, description="pads", eta=at(125), actor=system, now=at(100)),
        lambda s: change_parts_status(
            s, part_id=1, status="ordered", eta=at(120), actor=system, now=at(105)
        ),
        lambda s: change_parts_status(s, part_id=1, status="arrived", actor=system, now=at(125)),
        lambda s: transition(s, Stage.IN_PROGRESS, actor=system, now=at(130)),
        lambda s: transition(s, Stage.QUALITY_CHECK, actor=system, now=at(160)),
        lambda s: pass_check(s, actor=system, now=at(165)),
        lambda s: transition(s, Stage.IN_PROGRESS, actor=system, now=at(170), reason="loose clip"),
        lambda s: transition(s, Stage.QUALITY_CHECK, actor=system, now=at(180)),
        lambda s: pass_check(s, actor=system, now=at(185)),
        lambda s: pass_check(s, actor=system, now=at(190)),
        lambda s: pass_check(s, actor=system, now=at(195)),
        lambda s: transition(s, Stage.READY, actor=system, now=at(215)),
        lambda s: transition(s, Stage.DELIVERED, actor=system, now=at(250)),
    ]
    for step in script:
        new = step(state)
        events.extend(new)
        state = apply_events(state, new)
    assert state.stage == Stage.DELIVERED
    assert state.rework_count == 1
    assert state.ready_at == at(215)
    assert state.total_labour_hours == 1.5
    # in progress 40..70, 90..100 (resumed after the decision), 130..160, 170..180
    assert state.worked_minutes == 30 + 10 + 30 + 10
    assert state.version == len(events)
    assert [(p.description, p.status, p.arrived_at) for p in state.parts] == [
        ("pads", "arrived", at(125))
    ]

    text = "\n".join(to_record(e) for e in events)
    replayed = [from_record(line) for line in text.splitlines()]
    assert apply_events(None, replayed) == state
    # every prefix of the log is a state the order was in
    assert apply_events(None, replayed[:1]).stage == Stage.BOOKED
