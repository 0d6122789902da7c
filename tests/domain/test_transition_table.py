"""Every row of the transition table, and every pair that is not in it.

States are built by driving a real order through the flow with the rules
themselves (create -> assign -> start -> ...), so that each row is exercised
from a state the product can actually reach.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain import errors
from shared.domain.events import Assigned, CheckPassed, Event, StageChanged, WorkItem
from shared.domain.extra_work import quote_extra_work
from shared.domain.order import (
    Actor,
    OrderState,
    allowed_moves,
    apply_events,
    assign,
    create,
    pass_check,
    transition,
)
from shared.domain.stages import (
    ACTIVE_STAGES,
    CHECK_CHAIN,
    TERMINAL_STAGES,
    TRANSITIONS,
    PauseReason,
    Role,
    Stage,
    allowed_next_stages,
    next_stages,
)

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
TECH_ID = 7

SYSTEM = Actor("simulator", frozenset({Role.SYSTEM}))
ADVISOR = Actor("advisor", frozenset({Role.ADVISOR}), user_id=1)
FOREMAN = Actor("foreman", frozenset({Role.FOREMAN}), user_id=2)
TECH = Actor("tech", frozenset({Role.TECHNICIAN}), user_id=TECH_ID)
EVERYONE = Actor("everyone", frozenset(Role), user_id=TECH_ID)


class Flow:
    """Drives one order through the rules, one minute per command."""

    def __init__(self, *, wash: bool = False, booked: bool = False) -> None:
        self.now = T0
        self.events: list[Event] = []
        self.state: OrderState = self._apply(
            create(
                number=12,
                plate="粤B·12345",
                now=self.now,
                actor=ADVISOR,
                booked=booked,
                customer_name="Li Wei",
                items=[WorkItem("10,000 km service", 1.5), WorkItem("Brake pads", 0.8)],
                promised_at=T0 + timedelta(hours=4),
                wash=wash,
            )
        )

    def tick(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now

    def _apply(self, events: list[Event]) -> OrderState:
        self.events.extend(events)
        self.state = apply_events(getattr(self, "state", None), events)
        return self.state

    def move(self, to: Stage, actor: Actor = SYSTEM, **kwargs: object) -> OrderState:
        return self._apply(transition(self.state, to, actor=actor, now=self.tick(), **kwargs))

    def check_in(self) -> Flow:
        self.move(Stage.CHECKED_IN, ADVISOR)
        return self

    def dispatch(self, *, keep_stage: bool = False) -> Flow:
        """Assign bay and technician. A checked-in order becomes dispatched; with
        ``keep_stage`` only the Assigned event is folded (checked in, assigned)."""
        events = assign(self.state, bay="B3", technicians=[TECH_ID], actor=FOREMAN, now=self.tick())
        if keep_stage:
            events = [e for e in events if isinstance(e, Assigned)]
        self._apply(events)
        return self

    def start(self) -> Flow:
        self.move(Stage.IN_PROGRESS, TECH)
        return self

    def pause(self, reason: PauseReason = PauseReason.OTHER) -> Flow:
        self.move(Stage.PAUSED, TECH, reason="waiting", pause_reason=reason)
        return self

    def quote(self) -> Flow:
        self._apply(
            quote_extra_work(
                self.state,
                description="Worn wiper blades",
                labour_hours=0.2,
                price_cents=12_000,
                actor=TECH,
                now=self.tick(),
            )
        )
        return self

    def self_check(self) -> Flow:
        self.move(Stage.QUALITY_CHECK, TECH)
        return self

    def pass_checks(self, *, keep_stage: bool = False) -> Flow:
        """Pass every level. With ``keep_stage`` only the CheckPassed events are
        folded, leaving the order in quality_check with the chain complete."""
        for _ in CHECK_CHAIN:
            events = pass_check(self.state, actor=SYSTEM, now=self.tick())
            if keep_stage:
                events = [e for e in events if isinstance(e, CheckPassed)]
            self._apply(events)
        return self

    def deliver(self) -> Flow:
        self.move(Stage.DELIVERED, ADVISOR)
        return self

    def cancel(self) -> Flow:
        self.move(Stage.CANCELLED, ADVISOR, reason="customer took the car away")
        return self


def state_in(
    stage: Stage, *, wash: bool = False, checks_passed: bool = False, assigned: bool = False
) -> OrderState:
    """A realistic order in ``stage``, reached through the rules."""
    if stage == Stage.BOOKED:
        return Flow(wash=wash, booked=True).state
    flow = Flow(wash=wash)
    if stage == Stage.CHECKED_IN:
        return flow.dispatch(keep_stage=True).state if assigned else flow.state
    if stage == Stage.CANCELLED:
        return flow.cancel().state
    flow.dispatch()
    if stage == Stage.DISPATCHED:
        return flow.state
    flow.start()
    if stage == Stage.IN_PROGRESS:
        return flow.state
    if stage == Stage.PAUSED:
        return flow.pause().state
    flow.self_check()
    if stage == Stage.QUALITY_CHECK:
        return flow.pass_checks(keep_stage=True).state if checks_passed else flow.state
    flow.pass_checks()
    if stage == Stage.WASHING:
        assert wash, "only an order with a wash goes to washing"
        return flow.state
    if not wash:
        assert flow.state.stage == Stage.READY
    else:
        flow.move(Stage.READY, TECH)
    if stage == Stage.READY:
        return flow.state
    assert stage == Stage.DELIVERED
    return flow.deliver().state


def state_for_row(frm: Stage, to: Stage) -> OrderState:
    wash = Stage.WASHING in (frm, to)
    checks_passed = frm == Stage.QUALITY_CHECK and to in (Stage.WASHING, Stage.READY)
    assigned = (frm, to) == (Stage.CHECKED_IN, Stage.DISPATCHED)
    state = state_in(frm, wash=wash, checks_passed=checks_passed, assigned=assigned)
    assert state.stage == frm
    return state


def move_kwargs(to: Stage) -> dict[str, object]:
    kwargs: dict[str, object] = {"reason": "reason given"}
    if to == Stage.PAUSED:
        kwargs["pause_reason"] = PauseReason.OTHER
    return kwargs


def actor_with(*roles: Role) -> Actor:
    # Every actor is one of the order's technicians, so that only the role
    # decides (assignment is tested in test_rules.py).
    return Actor("someone", frozenset(roles), user_id=TECH_ID)


ROWS = sorted(TRANSITIONS, key=lambda row: (list(Stage).index(row[0]), list(Stage).index(row[1])))
ALLOWED_CASES = [
    (frm, to, role) for (frm, to) in ROWS for role in Role if role in TRANSITIONS[frm, to]
]
FORBIDDEN_CASES = [
    (frm, to, role) for (frm, to) in ROWS for role in Role if role not in TRANSITIONS[frm, to]
]
NOT_IN_TABLE = [(frm, to) for frm in Stage for to in Stage if (frm, to) not in TRANSITIONS]


def _ids(cases: list[tuple[object, ...]]) -> list[str]:
    return ["->".join(str(part) for part in case) for case in cases]


# ---------------------------------------------------------------- the table itself


_ALWAYS = "admin system"
_OFFICE = f"advisor manager {_ALWAYS}"
_DISPATCHERS = f"foreman manager {_ALWAYS}"
_FLOOR = f"technician team_lead foreman {_ALWAYS}"
_INSPECTORS = f"team_lead qc_inspector foreman manager {_ALWAYS}"
_SUPERVISORS = f"manager {_ALWAYS}"

# The permissions, written out by hand: changing who may move an order is a
# product decision, so it must show up here as a deliberate edit.
PINNED: dict[tuple[str, str], str] = {
    ("booked", "checked_in"): _OFFICE,
    ("booked", "cancelled"): _OFFICE,
    ("checked_in", "dispatched"): _DISPATCHERS,
    ("checked_in", "cancelled"): _OFFICE,
    ("dispatched", "in_progress"): _FLOOR,
    ("dispatched", "checked_in"): _DISPATCHERS,
    ("dispatched", "cancelled"): _OFFICE,
    ("in_progress", "paused"): f"{_FLOOR} {_OFFICE}",
    ("in_progress", "quality_check"): _FLOOR,
    ("in_progress", "cancelled"): _SUPERVISORS,
    ("paused", "in_progress"): _FLOOR,
    ("paused", "cancelled"): _OFFICE,
    ("quality_check", "in_progress"): _INSPECTORS,
    ("quality_check", "washing"): _INSPECTORS,
    ("quality_check", "ready"): _INSPECTORS,
    ("quality_check", "cancelled"): _SUPERVISORS,
    ("washing", "ready"): f"{_FLOOR} {_OFFICE}",
    ("washing", "cancelled"): _SUPERVISORS,
    ("ready", "delivered"): _OFFICE,
    ("ready", "in_progress"): f"{_OFFICE} foreman",
    ("ready", "cancelled"): _SUPERVISORS,
}


def test_table_is_pinned() -> None:
    actual = {
        (frm.value, to.value): sorted(r.value for r in roles)
        for (frm, to), roles in TRANSITIONS.items()
    }
    expected = {row: sorted(set(roles.split())) for row, roles in PINNED.items()}
    assert actual == expected


def test_table_shape() -> None:
    assert len(ROWS) == 21
    for (frm, to), roles in TRANSITIONS.items():
        assert frm != to
        assert frm not in TERMINAL_STAGES, "nothing leaves a closed order"
        assert roles, f"{frm}->{to} has nobody allowed"
        assert not roles & {Role.CUSTOMER, Role.DISPLAY_BOARD, Role.DISPLAY_LOUNGE}
        assert Role.SYSTEM in roles and Role.ADMIN in roles
    # Every active order can be cancelled and every stage can be reached.
    for stage in ACTIVE_STAGES:
        assert (stage, Stage.CANCELLED) in TRANSITIONS
    reachable = {Stage.BOOKED, Stage.CHECKED_IN}
    frontier = list(reachable)
    while frontier:
        for nxt in next_stages(frontier.pop()):
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(Stage)


@pytest.mark.parametrize("stage", list(Stage), ids=str)
def test_next_stages_matches_table(stage: Stage) -> None:
    assert set(next_stages(stage)) == {to for (frm, to) in TRANSITIONS if frm == stage}
    assert len(next_stages(stage)) == len(set(next_stages(stage)))
    for role in Role:
        roles = frozenset({role})
        expected = {to for (frm, to), who in TRANSITIONS.items() if frm == stage and role in who}
        assert set(allowed_next_stages(stage, roles)) == expected


# ---------------------------------------------------------------- every row


@pytest.mark.parametrize(("frm", "to", "role"), ALLOWED_CASES, ids=_ids(ALLOWED_CASES))
def test_row_allowed_role_moves_the_order(frm: Stage, to: Stage, role: Role) -> None:
    state = state_for_row(frm, to)
    before = copy.deepcopy(state)
    actor = actor_with(role)
    assert to in allowed_moves(state)
    assert to in allowed_next_stages(frm, actor.roles)

    events = transition(
        state, to, actor=actor, now=state.updated_at + timedelta(minutes=5), **move_kwargs(to)
    )

    assert state == before, "rules must not mutate the state"
    moved = [e for e in events if isinstance(e, StageChanged)]
    assert len(moved) == 1
    last = moved[0]
    assert (last.from_stage, last.to_stage) == (frm, to)
    after = apply_events(state, events)
    assert after.stage == to
    assert after.version == state.version + len(events)
    assert after.stage_entered_at == last.at
    if to == Stage.PAUSED:
        assert after.pause_reason == PauseReason.OTHER
        assert [r.reason for r in after.pause_reasons] == [PauseReason.OTHER]
    else:
        assert after.pause_reason is None
        assert after.pause_reasons == ()


@pytest.mark.parametrize(("frm", "to", "role"), FORBIDDEN_CASES, ids=_ids(FORBIDDEN_CASES))
def test_row_other_roles_are_forbidden(frm: Stage, to: Stage, role: Role) -> None:
    state = state_for_row(frm, to)
    before = copy.deepcopy(state)
    with pytest.raises(errors.Forbidden) as caught:
        transition(state, to, actor=actor_with(role), now=state.updated_at, **move_kwargs(to))
    assert caught.value.code == "forbidden"
    assert caught.value.status == 403
    assert state == before


@pytest.mark.parametrize(("frm", "to"), ROWS, ids=_ids(ROWS))
def test_row_all_disallowed_roles_together_are_forbidden(frm: Stage, to: Stage) -> None:
    others = frozenset(Role) - TRANSITIONS[frm, to]
    assert others, "the table always leaves someone out"
    state = state_for_row(frm, to)
    with pytest.raises(errors.Forbidden):
        transition(state, to, actor=actor_with(*others), now=state.updated_at, **move_kwargs(to))


# ---------------------------------------------------------------- every pair that is not a row

# One or more reachable states per stage; the allowed list depends on the
# order's own facts (wash, checks, pending approval), so cover the variants.
VARIANTS: dict[str, Callable[[], OrderState]] = {
    "booked": lambda: state_in(Stage.BOOKED),
    "checked_in": lambda: state_in(Stage.CHECKED_IN),
    "checked_in/assigned": lambda: state_in(Stage.CHECKED_IN, assigned=True),
    "dispatched": lambda: state_in(Stage.DISPATCHED),
    "in_progress": lambda: state_in(Stage.IN_PROGRESS),
    "paused/other": lambda: state_in(Stage.PAUSED),
    "paused/parts": lambda: Flow().dispatch().start().pause(PauseReason.PARTS).state,
    "paused/approval": lambda: Flow().dispatch().start().quote().state,
    "quality_check/pending": lambda: state_in(Stage.QUALITY_CHECK),
    "quality_check/passed": lambda: state_in(Stage.QUALITY_CHECK, checks_passed=True),
    "quality_check/passed+wash": lambda: state_in(
        Stage.QUALITY_CHECK, wash=True, checks_passed=True
    ),
    "washing": lambda: state_in(Stage.WASHING, wash=True),
    "ready": lambda: state_in(Stage.READY),
    "delivered": lambda: state_in(Stage.DELIVERED),
    "cancelled": lambda: state_in(Stage.CANCELLED),
}


VARIANT_STAGES = {name: build().stage for name, build in VARIANTS.items()}
ILLEGAL_CASES = [
    (name, to)
    for name, frm in VARIANT_STAGES.items()
    for to in Stage
    if (frm, to) not in TRANSITIONS
]


def test_every_illegal_pair_is_covered() -> None:
    covered = {(VARIANT_STAGES[name], to) for name, to in ILLEGAL_CASES}
    assert covered == set(NOT_IN_TABLE)
    assert len(NOT_IN_TABLE) == len(Stage) ** 2 - len(TRANSITIONS)


@pytest.mark.parametrize(("variant", "to"), ILLEGAL_CASES, ids=_ids(ILLEGAL_CASES))
def test_pair_not_in_table_is_illegal(variant: str, to: Stage) -> None:
    state = VARIANTS[variant]()
    before = copy.deepcopy(state)
    expected_allowed = [s.value for s in allowed_moves(state)]

    with pytest.raises(errors.IllegalTransition) as caught:
        transition(
            state,
            to,
            actor=EVERYONE,
            now=state.updated_at + timedelta(minutes=1),
            reason="because",
            pause_reason=PauseReason.OTHER,
        )

    refused = caught.value
    assert refused.code == "illegal_transition"
    assert refused.status == 409
    assert refused.extra["allowed"] == expected_allowed
    assert all(isinstance(s, str) for s in refused.extra["allowed"])
    assert state == before, "a refused command changes nothing"
    assert allowed_moves(state) == allowed_moves(before)


@pytest.mark.parametrize("variant", list(VARIANTS), ids=str)
def test_allowed_moves_agree_with_transition(variant: str) -> None:
    """allowed_moves is exactly what someone holding every role may do now."""
    state = VARIANTS[variant]()
    moves = allowed_moves(state)
    assert set(moves) <= set(next_stages(state.stage))
    assert moves == [s for s in next_stages(state.stage) if s in moves], "flow order kept"
    for to in next_stages(state.stage):
        if to in moves:
            events = transition(state, to, actor=EVERYONE, now=state.updated_at, **move_kwargs(to))
            assert apply_events(state, events).stage == to
        else:
            with pytest.raises(errors.DomainError):
                transition(state, to, actor=EVERYONE, now=state.updated_at, **move_kwargs(to))


@pytest.mark.parametrize(
    ("wash", "to"), [(False, Stage.WASHING), (True, Stage.READY)], ids=["no-wash", "wash"]
)
def test_row_refused_by_the_order_facts_is_illegal_with_allowed(wash: bool, to: Stage) -> None:
    """A row of the table can still be illegal for this order (no wash asked
    for, or a wash still owed); the refusal carries the allowed list too."""
    state = state_in(Stage.QUALITY_CHECK, wash=wash, checks_passed=True)
    before = copy.deepcopy(state)
    with pytest.raises(errors.IllegalTransition) as caught:
        transition(state, to, actor=EVERYONE, now=state.updated_at)
    assert caught.value.code == "illegal_transition"
    assert caught.value.extra["allowed"] == [s.value for s in allowed_moves(state)]
    assert caught.value.extra["allowed"] == [
        "in_progress",
        "washing" if wash else "ready",
        "cancelled",
    ]
    assert state == before


def test_known_allowed_lists() -> None:
    """Spot checks of the list the API sends back with illegal_transition."""
    expected = {
        "booked": ["checked_in", "cancelled"],
        "checked_in": ["cancelled"],  # dispatch needs an assignment first
        "checked_in/assigned": ["dispatched", "cancelled"],
        "dispatched": ["in_progress", "checked_in", "cancelled"],
        "in_progress": ["paused", "quality_check", "cancelled"],
        "paused/other": ["in_progress", "cancelled"],
        "paused/parts": ["cancelled"],
        "paused/approval": ["cancelled"],
        "quality_check/pending": ["in_progress", "cancelled"],
        "quality_check/passed": ["in_progress", "ready", "cancelled"],
        "quality_check/passed+wash": ["in_progress", "washing", "cancelled"],
        "washing": ["ready", "cancelled"],
        "ready": ["delivered", "in_progress", "cancelled"],
        "delivered": [],
        "cancelled": [],
    }
    for variant, allowed in expected.items():
        assert [s.value for s in allowed_moves(VARIANTS[variant]())] == allowed, variant
