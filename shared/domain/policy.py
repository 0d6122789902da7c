"""Who may do what, asked one way everywhere.

Every view, service and screen asks ``may(who, command)``: the web's role
checks, the domain rules and the kiosk's buttons read the same named role
sets (``stages``), so a role or a rule changes in one place. What a viewer
may do next on one order (``allowed_actions``) is derived from the same
transition table and inspection chain the commands enforce, so a screen
draws its buttons from data and never copies the table.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from enum import StrEnum
from typing import Protocol

from shared.domain import stages
from shared.domain.stages import (
    CHECKERS,
    TRANSITIONS,
    CheckLevel,
    Role,
    Stage,
)


class HasRoles(Protocol):
    """An actor (domain) or a principal (a resolved credential)."""

    @property
    def roles(self) -> frozenset[Role]: ...


class Command(StrEnum):
    """What a caller asks to do. The kiosk's taps keep the names of the
    kiosk API's actions, so a screen sends back exactly what it was offered."""

    READ_ORDERS = "read_orders"
    STAFF_WORK = "staff_work"
    RECEPTION = "reception"
    DISPATCH = "dispatch"
    ADMINISTER = "administer"
    QUOTE_EXTRA_WORK = "extra-work"
    ATTACH_PHOTO = "attach_photo"
    DECIDE_QUOTE = "decide_quote"
    RATE_SERVICE = "rate_service"
    START = "start"
    PAUSE = "pause"
    PARTS = "parts"
    RESUME = "resume"
    FINISH = "finish"
    CLOCK_ON = "clock-on"
    PASS_CHECK = "pass"
    FAIL_CHECK = "fail"
    CLEAR_REASON = "clear-reason"
    HANDLE_PARTS = "handle_parts"


# The stage moves the kiosk's taps make: the roles come from the table.
MOVES: dict[Command, tuple[Stage, Stage]] = {
    Command.START: (Stage.DISPATCHED, Stage.IN_PROGRESS),
    Command.PAUSE: (Stage.IN_PROGRESS, Stage.PAUSED),
    Command.PARTS: (Stage.IN_PROGRESS, Stage.PAUSED),
    Command.RESUME: (Stage.PAUSED, Stage.IN_PROGRESS),
    Command.FINISH: (Stage.IN_PROGRESS, Stage.QUALITY_CHECK),
    Command.FAIL_CHECK: (Stage.QUALITY_CHECK, Stage.IN_PROGRESS),
}

_ANY_CHECKER: frozenset[Role] = frozenset().union(*CHECKERS.values())

# Command → the roles that may ask for it at all. The domain rule may still
# refuse one order (a stage, an assignment, a pending decision).
ROLES: dict[Command, frozenset[Role]] = {
    Command.READ_ORDERS: stages.READERS,
    Command.STAFF_WORK: stages.STAFF,
    Command.RECEPTION: stages.OFFICE,
    Command.DISPATCH: stages.DISPATCHERS,
    Command.ADMINISTER: stages.MANAGERS,
    Command.QUOTE_EXTRA_WORK: stages.QUOTERS,
    Command.ATTACH_PHOTO: stages.QUOTERS,
    Command.DECIDE_QUOTE: stages.DECIDERS,
    Command.RATE_SERVICE: stages.RATERS,
    Command.CLOCK_ON: stages.FLOOR,
    Command.PASS_CHECK: _ANY_CHECKER,
    Command.CLEAR_REASON: stages.FLOOR,
    Command.HANDLE_PARTS: stages.PARTS_COUNTER,
    **{command: TRANSITIONS[move] for command, move in MOVES.items()},
}

# A technician's own job: what each stage offers, in the order screens show it.
JOB_ACTIONS: dict[Stage, tuple[Command, ...]] = {
    Stage.DISPATCHED: (Command.START,),
    Stage.IN_PROGRESS: (
        Command.CLOCK_ON,
        Command.PAUSE,
        Command.FINISH,
        Command.PARTS,
        Command.QUOTE_EXTRA_WORK,
    ),
    Stage.PAUSED: (
        Command.RESUME,
        Command.CLEAR_REASON,
        Command.PARTS,
        Command.QUOTE_EXTRA_WORK,
    ),
}
# An inspection waiting for the viewer's signature.
CHECK_ACTIONS: tuple[Command, ...] = (Command.PASS_CHECK, Command.FAIL_CHECK)


def may(who: HasRoles, command: Command) -> bool:
    """Whether any of these roles may ask for the command at all."""
    return bool(who.roles & ROLES[command])


def may_act_unassigned(who: HasRoles) -> bool:
    """Whether these roles act on orders not dispatched to them."""
    return bool(who.roles & stages.UNASSIGNED_OK)


def is_assigned(who: HasRoles, user_id: int | None, technicians: Iterable[int]) -> bool:
    """A technician works only on orders dispatched to them; supervisors anywhere."""
    return may_act_unassigned(who) or (user_id is not None and user_id in set(technicians))


def may_sign(who: HasRoles, level: CheckLevel | str | None) -> bool:
    """Whether these roles may pass or fail the inspection waiting at ``level``."""
    return level is not None and bool(who.roles & CHECKERS[CheckLevel(level)])


def job_actions(
    who: HasRoles,
    *,
    stage: Stage | str,
    assigned: bool,
    waiting: bool = False,
    other_open: bool = False,
    clock_here: bool = False,
) -> list[Command]:
    """What the viewer may tap next on one of their jobs. A resume while the
    car still waits for parts or a decision (``waiting``) is not offered (the
    command refuses it), nor a clock-on where the viewer's clock already runs
    (it would change nothing), nor clearing a reason when no "other" reason
    is open (``other_open``: parts and approvals clear by their own events)."""
    if not assigned:
        return []
    offered = []
    for command in JOB_ACTIONS.get(Stage(stage), ()):
        if not may(who, command):
            continue
        if command == Command.CLOCK_ON and clock_here:
            continue
        if command == Command.RESUME and waiting:
            continue
        if command == Command.CLEAR_REASON and not other_open:
            continue
        offered.append(command)
    return offered


def signed_earlier(person: int | None, signed_by: Collection[int]) -> bool:
    """Whether this person (a staff user id; None for an actor that is no
    person: an integration's token, the demo) passed an earlier level of the
    same inspection chain. One person signs at most one level of a job,
    unless the shop lets one person sign more (a small shop)."""
    return person is not None and person in signed_by


def check_actions(
    who: HasRoles,
    *,
    stage: Stage | str,
    level: CheckLevel | str | None,
    signed_before: bool = False,
    one_person_allowed: bool = False,
) -> list[Command]:
    """What the viewer may do with an inspection waiting on an order. A
    viewer who passed an earlier level of it (``signed_before``) may not pass
    this one too unless the shop allows it (``one_person_allowed``); they may
    still fail it: sending the car back to repair signs nothing off."""
    if Stage(stage) != Stage.QUALITY_CHECK or not may_sign(who, level):
        return []
    barred = signed_before and not one_person_allowed
    return [
        command
        for command in CHECK_ACTIONS
        if may(who, command) and not (barred and command == Command.PASS_CHECK)
    ]


def job_actions_by_stage(who: HasRoles) -> dict[str, list[str]]:
    """What a viewer may tap on their own job in each stage, before the
    server has seen the tap: a screen that predicts the stage a queued tap
    leads to draws these. The clock follows the tap, so no clock-on."""
    return {
        stage.value: [
            c.value for c in job_actions(who, stage=stage, assigned=True, clock_here=True)
        ]
        for stage in JOB_ACTIONS
    }
