"""Stages of a repair order and who may move an order between them.

The table is data, not code, so that the tests can walk every row (and every
row that is *not* there) and so that screens can ask "what may this person do
next?" without duplicating rules.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """The public stage codes, in the order a car normally passes them."""

    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    QUALITY_CHECK = "quality_check"
    WASHING = "washing"
    READY = "ready"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class PauseReason(StrEnum):
    """Why work stopped: 待料 parts, 待客户确认 approval, or anything else."""

    PARTS = "parts"
    APPROVAL = "approval"
    OTHER = "other"


class Role(StrEnum):
    """Who acts. Staff roles are the public token roles; team lead and QC inspector
    are qualifications a technician may hold; system is the simulator or a DMS."""

    ADMIN = "admin"
    MANAGER = "manager"
    ADVISOR = "advisor"
    FOREMAN = "foreman"
    TECHNICIAN = "technician"
    TEAM_LEAD = "team_lead"
    QC_INSPECTOR = "qc_inspector"
    DISPLAY_BOARD = "display-board"
    DISPLAY_LOUNGE = "display-lounge"
    SYSTEM = "system"
    CUSTOMER = "customer"


class CheckLevel(StrEnum):
    """The inspection chain after the technician's self-check (自检):
    team lead 班组长检验 → QC 质检 → final 总检."""

    TEAM_LEAD = "team_lead"
    QC = "qc"
    FINAL = "final"


CHECK_CHAIN: tuple[CheckLevel, ...] = (CheckLevel.TEAM_LEAD, CheckLevel.QC, CheckLevel.FINAL)

# Who may pass or fail each level of the chain.
# The service manager may sign any level (they answer for all of them).
CHECKERS: dict[CheckLevel, frozenset[Role]] = {
    CheckLevel.TEAM_LEAD: frozenset(
        {Role.TEAM_LEAD, Role.FOREMAN, Role.QC_INSPECTOR, Role.MANAGER, Role.ADMIN, Role.SYSTEM}
    ),
    CheckLevel.QC: frozenset(
        {Role.QC_INSPECTOR, Role.FOREMAN, Role.MANAGER, Role.ADMIN, Role.SYSTEM}
    ),
    CheckLevel.FINAL: frozenset(
        {Role.QC_INSPECTOR, Role.FOREMAN, Role.MANAGER, Role.ADMIN, Role.SYSTEM}
    ),
}

TERMINAL_STAGES: frozenset[Stage] = frozenset({Stage.DELIVERED, Stage.CANCELLED})
ACTIVE_STAGES: tuple[Stage, ...] = tuple(s for s in Stage if s not in TERMINAL_STAGES)

_OFFICE = frozenset({Role.ADVISOR, Role.MANAGER, Role.ADMIN, Role.SYSTEM})
_DISPATCHERS = frozenset({Role.FOREMAN, Role.MANAGER, Role.ADMIN, Role.SYSTEM})
_FLOOR = frozenset({Role.TECHNICIAN, Role.TEAM_LEAD, Role.FOREMAN, Role.ADMIN, Role.SYSTEM})
_INSPECTORS = frozenset(
    {Role.TEAM_LEAD, Role.QC_INSPECTOR, Role.FOREMAN, Role.MANAGER, Role.ADMIN, Role.SYSTEM}
)
_SUPERVISORS = frozenset({Role.MANAGER, Role.ADMIN, Role.SYSTEM})

# (from, to) -> roles that may make the move. Anything absent is illegal.
TRANSITIONS: dict[tuple[Stage, Stage], frozenset[Role]] = {
    (Stage.BOOKED, Stage.CHECKED_IN): _OFFICE,
    (Stage.BOOKED, Stage.CANCELLED): _OFFICE,
    (Stage.CHECKED_IN, Stage.DISPATCHED): _DISPATCHERS,
    (Stage.CHECKED_IN, Stage.CANCELLED): _OFFICE,
    (Stage.DISPATCHED, Stage.IN_PROGRESS): _FLOOR,
    (Stage.DISPATCHED, Stage.CHECKED_IN): _DISPATCHERS,
    (Stage.DISPATCHED, Stage.CANCELLED): _OFFICE,
    (Stage.IN_PROGRESS, Stage.PAUSED): _FLOOR | _OFFICE,
    (Stage.IN_PROGRESS, Stage.QUALITY_CHECK): _FLOOR,
    (Stage.IN_PROGRESS, Stage.CANCELLED): _SUPERVISORS,
    (Stage.PAUSED, Stage.IN_PROGRESS): _FLOOR,
    (Stage.PAUSED, Stage.CANCELLED): _OFFICE,
    (Stage.QUALITY_CHECK, Stage.IN_PROGRESS): _INSPECTORS,
    (Stage.QUALITY_CHECK, Stage.WASHING): _INSPECTORS,
    (Stage.QUALITY_CHECK, Stage.READY): _INSPECTORS,
    (Stage.QUALITY_CHECK, Stage.CANCELLED): _SUPERVISORS,
    (Stage.WASHING, Stage.READY): _FLOOR | _OFFICE,
    (Stage.WASHING, Stage.CANCELLED): _SUPERVISORS,
    (Stage.READY, Stage.DELIVERED): _OFFICE,
    (Stage.READY, Stage.IN_PROGRESS): _OFFICE | frozenset({Role.FOREMAN}),
    (Stage.READY, Stage.CANCELLED): _SUPERVISORS,
}


def next_stages(current: Stage) -> list[Stage]:
    """Every stage the table allows after ``current``, in flow order."""
    return [to for (frm, to) in TRANSITIONS if frm == current]


def allowed_next_stages(current: Stage, roles: frozenset[Role]) -> list[Stage]:
    """The next stages these roles may choose (used by screens to draw buttons)."""
    return [to for (frm, to), who in TRANSITIONS.items() if frm == current and roles & who]
