"""The policy against the rules it summarises: for every role and every stage
a technician's job or an inspection can be in, the actions the policy offers
are exactly the ones the domain's commands accept, and ``may`` answers from
the transition table for every tap that moves an order."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.domain import errors
from shared.domain.extra_work import quote_extra_work
from shared.domain.holds import blocking
from shared.domain.order import Actor, OrderState, clear_pause_reason, pass_check, transition
from shared.domain.parts import request_parts
from shared.domain.policy import (
    CHECK_ACTIONS,
    JOB_ACTIONS,
    MOVES,
    ROLES,
    Command,
    check_actions,
    job_actions,
    job_actions_by_stage,
    may,
)
from shared.domain.stages import (
    ACTIVE_STAGES,
    CHECKERS,
    TRANSITIONS,
    CheckLevel,
    PauseReason,
    Role,
    Stage,
    stage_groups,
)
from tests.domain.test_transition_table import TECH_ID, Flow

# Each role alone, and a technician with each qualification.
ACTORS = [Actor(role.value, frozenset({role}), user_id=TECH_ID) for role in Role] + [
    Actor("tech+" + q.value, frozenset({Role.TECHNICIAN, q}), user_id=TECH_ID)
    for q in (Role.TEAM_LEAD, Role.QC_INSPECTOR)
]


def _in_progress() -> Flow:
    return Flow().dispatch().start()


# Orders in each stage a job or an inspection offers something, the job
# assigned to TECH_ID; the paused ones with and without a decision pending.
ORDERS: dict[str, Callable[[], Flow]] = {
    "dispatched": lambda: Flow().dispatch(),
    "in_progress": _in_progress,
    "paused_parts": lambda: _in_progress().pause(PauseReason.PARTS),
    "paused_approval": lambda: _in_progress().quote(),
    "paused_other": lambda: _in_progress().pause(PauseReason.OTHER),
    "quality_check": lambda: _in_progress().self_check(),
}


def _accepted(state: OrderState, actor: Actor, command: Command) -> bool:
    """Whether the domain's command takes this tap (with valid fields)."""
    now = state.updated_at
    try:
        if command == Command.PASS_CHECK:
            pass_check(state, actor=actor, now=now)
        elif command == Command.QUOTE_EXTRA_WORK:
            quote_extra_work(
                state, description="Wipers", labour_hours=0.2, price_cents=100, actor=actor, now=now
            )
        elif command == Command.PARTS:
            request_parts(state, description="Brake pads", actor=actor, now=now)
        elif command == Command.CLEAR_REASON:
            others = [r.key for r in state.pause_reasons if r.reason == PauseReason.OTHER]
            if not others:
                return False
            clear_pause_reason(state, others[0], actor=actor, now=now)
        elif command == Command.CLOCK_ON:
            # Joining the clock is a labour rule: an assigned technician on a
            # car in progress. The table says who works on the floor.
            if state.stage != Stage.IN_PROGRESS:
                return False
            return may(actor, command)
        else:
            frm, to = MOVES[command]
            if state.stage != frm:
                return False
            pause = PauseReason.OTHER
            transition(
                state,
                to,
                actor=actor,
                now=now,
                reason="because",
                pause_reason=pause if to == Stage.PAUSED else None,
            )
    except (
        errors.Forbidden,
        errors.IllegalTransition,
        errors.ApprovalPending,
        errors.PartsPending,
    ):
        return False
    return True


@pytest.mark.parametrize("name", list(ORDERS))
@pytest.mark.parametrize("actor", ACTORS, ids=lambda a: a.name)
def test_job_actions_are_what_the_commands_accept(name: str, actor: Actor) -> None:
    state = ORDERS[name]().state
    offered = job_actions(
        actor,
        stage=state.stage,
        assigned=True,
        waiting=bool(blocking(state.pause_reasons)),
        other_open=any(r.reason == PauseReason.OTHER for r in state.pause_reasons),
    )
    candidates = JOB_ACTIONS.get(state.stage, ())
    assert offered == [c for c in candidates if _accepted(state, actor, c)]


@pytest.mark.parametrize("actor", ACTORS, ids=lambda a: a.name)
def test_check_actions_are_what_the_commands_accept(actor: Actor) -> None:
    state = ORDERS["quality_check"]().state
    offered = check_actions(actor, stage=state.stage, level=state.check_level)
    assert offered == [c for c in CHECK_ACTIONS if _accepted(state, actor, c)]


@pytest.mark.parametrize("stage", ACTIVE_STAGES, ids=str)
@pytest.mark.parametrize("actor", ACTORS, ids=lambda a: a.name)
def test_nothing_is_offered_where_no_command_applies(stage: Stage, actor: Actor) -> None:
    if stage not in JOB_ACTIONS:
        assert job_actions(actor, stage=stage, assigned=True) == []
    if stage != Stage.QUALITY_CHECK:
        assert check_actions(actor, stage=stage, level=CheckLevel.TEAM_LEAD) == []


@pytest.mark.parametrize("actor", ACTORS, ids=lambda a: a.name)
def test_unassigned_jobs_offer_nothing(actor: Actor) -> None:
    for stage in JOB_ACTIONS:
        assert job_actions(actor, stage=stage, assigned=False) == []


def test_a_running_clock_is_not_offered_again() -> None:
    tech = Actor("tech", frozenset({Role.TECHNICIAN}), user_id=TECH_ID)
    assert Command.CLOCK_ON in job_actions(tech, stage=Stage.IN_PROGRESS, assigned=True)
    here = job_actions(tech, stage=Stage.IN_PROGRESS, assigned=True, clock_here=True)
    assert Command.CLOCK_ON not in here


@pytest.mark.parametrize("command", list(MOVES), ids=str)
@pytest.mark.parametrize("role", list(Role), ids=str)
def test_may_reads_the_transition_table(command: Command, role: Role) -> None:
    actor = Actor(role.value, frozenset({role}))
    assert may(actor, command) == (role in TRANSITIONS[MOVES[command]])


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_passing_a_check_is_for_some_level_s_checkers(role: Role) -> None:
    actor = Actor(role.value, frozenset({role}))
    assert may(actor, Command.PASS_CHECK) == any(role in who for who in CHECKERS.values())


def test_every_command_names_its_roles() -> None:
    assert set(ROLES) == set(Command)


def test_queued_taps_offer_the_stage_s_actions_without_clocking_on() -> None:
    tech = Actor("tech", frozenset({Role.TECHNICIAN}), user_id=TECH_ID)
    table = job_actions_by_stage(tech)
    assert table == {
        "dispatched": ["start"],
        "in_progress": ["pause", "finish", "parts", "extra-work"],
        "paused": ["resume", "parts", "extra-work"],
    }


def test_stage_groups_are_stage_codes() -> None:
    codes = {s.value for s in Stage}
    for name, group in stage_groups().items():
        assert group, name
        assert set(group) <= codes, name
