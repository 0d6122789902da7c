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
    are qualifications a technician may hold; the display roles and kiosk are
    paired screens (a kiosk before anyone signs in on it); system is the
    simulator or a DMS."""

    ADMIN = "admin"
    MANAGER = "manager"
    ADVISOR = "advisor"
    FOREMAN = "foreman"
    TECHNICIAN = "technician"
    TEAM_LEAD = "team_lead"
    QC_INSPECTOR = "qc_inspector"
    DISPLAY_BOARD = "display-board"
    DISPLAY_LOUNGE = "display-lounge"
    KIOSK = "kiosk"
    SYSTEM = "system"
    CUSTOMER = "customer"


class CheckLevel(StrEnum):
    """The inspection chain after the technician's self-check (自检):
    team lead 班组长检验 → QC 质检 → final 总检."""

    TEAM_LEAD = "team_lead"
    QC = "qc"
    FINAL = "final"


CHECK_CHAIN: tuple[CheckLevel, ...] = (CheckLevel.TEAM_LEAD, CheckLevel.QC, CheckLevel.FINAL)

# Named role sets. Every "who may" in the code names one of these (the web's
# token checks too: a Role is its own string), so a role is added in one place.
STAFF: frozenset[Role] = frozenset(
    {Role.ADMIN, Role.MANAGER, Role.ADVISOR, Role.FOREMAN, Role.TECHNICIAN}
)
# Staff roles, in declaration order: the roles a staff user or a token may hold.
STAFF_ROLES: tuple[Role, ...] = tuple(r for r in Role if r in STAFF)
TOKEN_ROLES: tuple[Role, ...] = (*STAFF_ROLES, Role.DISPLAY_BOARD, Role.DISPLAY_LOUNGE)
QUALIFICATIONS: tuple[Role, ...] = (Role.TEAM_LEAD, Role.QC_INSPECTOR)
# Callers that may read every order: staff, the workshop board, a paired kiosk.
READERS: frozenset[Role] = STAFF | {Role.DISPLAY_BOARD, Role.KIOSK}
# Screens that see the lounge's redacted view.
LOUNGE_SCREENS: frozenset[Role] = frozenset({Role.DISPLAY_LOUNGE})
# Reception (前台): open, check in, hand over, cancel early, and the desk.
OFFICE: frozenset[Role] = frozenset({Role.ADVISOR, Role.MANAGER, Role.ADMIN, Role.SYSTEM})
# Dispatch (派工) and the foreman's console.
DISPATCHERS: frozenset[Role] = frozenset({Role.FOREMAN, Role.MANAGER, Role.ADMIN, Role.SYSTEM})
# Hands on the car.
FLOOR: frozenset[Role] = frozenset(
    {Role.TECHNICIAN, Role.TEAM_LEAD, Role.FOREMAN, Role.ADMIN, Role.SYSTEM}
)
# The first inspection level, and sending a car back from inspection.
INSPECTORS: frozenset[Role] = frozenset(
    {Role.TEAM_LEAD, Role.QC_INSPECTOR, Role.FOREMAN, Role.MANAGER, Role.ADMIN, Role.SYSTEM}
)
# The QC and final levels: the team lead signs only the first.
SENIOR_INSPECTORS: frozenset[Role] = frozenset(
    {Role.QC_INSPECTOR, Role.FOREMAN, Role.MANAGER, Role.ADMIN, Role.SYSTEM}
)
# Managers answer for everything: late cancellations, shop administration.
MANAGERS: frozenset[Role] = frozenset({Role.MANAGER, Role.ADMIN, Role.SYSTEM})
# Who may act on an order not dispatched to them (a technician may not; a QC
# inspector is a technician too: the qualification signs checks, it does not
# open other technicians' jobs).
UNASSIGNED_OK: frozenset[Role] = frozenset(
    {Role.FOREMAN, Role.ADVISOR, Role.MANAGER, Role.ADMIN, Role.SYSTEM}
)
# Who may quote additional work found, and attach its photo.
QUOTERS: frozenset[Role] = frozenset({Role.TECHNICIAN, Role.TEAM_LEAD}) | UNASSIGNED_OK
# The parts counter: who moves a parts request on (ordered, arrived).
PARTS_COUNTER: frozenset[Role] = OFFICE | DISPATCHERS
# Who may record the customer's decision on a quote.
DECIDERS: frozenset[Role] = OFFICE | {Role.CUSTOMER}
# Who may rate the service: the customer, or an advisor on the follow-up call.
RATERS: frozenset[Role] = frozenset({Role.CUSTOMER, Role.ADVISOR, Role.MANAGER, Role.ADMIN})

# Who may pass or fail each level of the chain.
# The service manager may sign any level (they answer for all of them).
CHECKERS: dict[CheckLevel, frozenset[Role]] = {
    CheckLevel.TEAM_LEAD: INSPECTORS,
    CheckLevel.QC: SENIOR_INSPECTORS,
    CheckLevel.FINAL: SENIOR_INSPECTORS,
}

# (from, to) -> roles that may make the move. Anything absent is illegal.
TRANSITIONS: dict[tuple[Stage, Stage], frozenset[Role]] = {
    (Stage.BOOKED, Stage.CHECKED_IN): OFFICE,
    (Stage.BOOKED, Stage.CANCELLED): OFFICE,
    (Stage.CHECKED_IN, Stage.DISPATCHED): DISPATCHERS,
    (Stage.CHECKED_IN, Stage.CANCELLED): OFFICE,
    (Stage.DISPATCHED, Stage.IN_PROGRESS): FLOOR,
    (Stage.DISPATCHED, Stage.CHECKED_IN): DISPATCHERS,
    (Stage.DISPATCHED, Stage.CANCELLED): OFFICE,
    (Stage.IN_PROGRESS, Stage.PAUSED): FLOOR | OFFICE,
    (Stage.IN_PROGRESS, Stage.QUALITY_CHECK): FLOOR,
    (Stage.IN_PROGRESS, Stage.CANCELLED): MANAGERS,
    (Stage.PAUSED, Stage.IN_PROGRESS): FLOOR,
    (Stage.PAUSED, Stage.CANCELLED): OFFICE,
    (Stage.QUALITY_CHECK, Stage.IN_PROGRESS): INSPECTORS,
    (Stage.QUALITY_CHECK, Stage.WASHING): INSPECTORS,
    (Stage.QUALITY_CHECK, Stage.READY): INSPECTORS,
    (Stage.QUALITY_CHECK, Stage.CANCELLED): MANAGERS,
    (Stage.WASHING, Stage.READY): FLOOR | OFFICE,
    (Stage.WASHING, Stage.CANCELLED): MANAGERS,
    (Stage.READY, Stage.DELIVERED): OFFICE,
    (Stage.READY, Stage.IN_PROGRESS): OFFICE | frozenset({Role.FOREMAN}),
    (Stage.READY, Stage.CANCELLED): MANAGERS,
}

# Named stage groups. Every list of stages in the code (and on the screens,
# which receive them with their snapshot: ``stage_groups``) is one of these.
TERMINAL_STAGES: frozenset[Stage] = frozenset({Stage.DELIVERED, Stage.CANCELLED})
# Orders still in the shop's hands: what the board and the staff lists show.
ACTIVE_STAGES: tuple[Stage, ...] = tuple(s for s in Stage if s not in TERMINAL_STAGES)
# Received cars: what the lounge TV shows (booked ones have not arrived yet).
IN_SHOP_STAGES: tuple[Stage, ...] = tuple(s for s in ACTIVE_STAGES if s != Stage.BOOKED)
# A technician's own jobs: dispatched to them and not yet handed to inspection.
WORKING_STAGES: tuple[Stage, ...] = (Stage.DISPATCHED, Stage.IN_PROGRESS, Stage.PAUSED)
# Orders the foreman may (re)assign: before and during the work.
ASSIGNABLE_STAGES: tuple[Stage, ...] = (Stage.CHECKED_IN, *WORKING_STAGES)
# Cars standing in a bay (the board's bay column).
IN_BAY_STAGES: tuple[Stage, ...] = (*WORKING_STAGES, Stage.QUALITY_CHECK, Stage.WASHING)
# Technicians still have work on these: the backlog a new order queues behind.
# Ready and washing cars need no technician any more.
BACKLOG_STAGES: tuple[Stage, ...] = (Stage.CHECKED_IN, *WORKING_STAGES, Stage.QUALITY_CHECK)
# A car stands on its bay from dispatch until it passes the inspections (a
# paused car stays on the lift); the bay's capacity counts these.
HOLDING_STAGES: tuple[Stage, ...] = (*WORKING_STAGES, Stage.QUALITY_CHECK)
# A technician on these is busy (a paused job leaves them free for another).
BUSY_STAGES: tuple[Stage, ...] = (Stage.DISPATCHED, Stage.IN_PROGRESS)
# Orders that may have labour on the clock (everything from dispatch on).
CLOCKED_STAGES: tuple[Stage, ...] = tuple(
    s for s in Stage if s not in (Stage.BOOKED, Stage.CHECKED_IN)
)
# The steps the lounge's progress bar walks through (the customer's timeline
# adds the handover); a pause is shown on the in-progress step.
PROGRESS_STEPS: tuple[Stage, ...] = (
    Stage.CHECKED_IN,
    Stage.DISPATCHED,
    Stage.IN_PROGRESS,
    Stage.QUALITY_CHECK,
    Stage.WASHING,
    Stage.READY,
)
# Stages in which a customer's page shows no promised time any more (or yet).
NO_PROMISE_STAGES: tuple[Stage, ...] = (
    Stage.READY,
    Stage.DELIVERED,
    Stage.CANCELLED,
    Stage.BOOKED,
)
# Stages in which the promise runs: the car is in the shop and not yet ready.
PROMISE_RUNNING_STAGES: tuple[Stage, ...] = tuple(s for s in Stage if s not in NO_PROMISE_STAGES)


def stage_groups() -> dict[str, list[str]]:
    """The groups the screens' scripts need, as plain stage codes."""
    return {
        "active": [s.value for s in ACTIVE_STAGES],
        "in_shop": [s.value for s in IN_SHOP_STAGES],
        "in_bay": [s.value for s in IN_BAY_STAGES],
        "progress": [s.value for s in PROGRESS_STEPS],
        "timeline": [s.value for s in (*PROGRESS_STEPS, Stage.DELIVERED)],
        "no_promise": [s.value for s in NO_PROMISE_STAGES],
        "promise_running": [s.value for s in PROMISE_RUNNING_STAGES],
        "working": [s.value for s in WORKING_STAGES],
        "clocked": [s.value for s in CLOCKED_STAGES],
    }


def next_stages(current: Stage) -> list[Stage]:
    """Every stage the table allows after ``current``, in flow order."""
    return [to for (frm, to) in TRANSITIONS if frm == current]


def allowed_next_stages(current: Stage, roles: frozenset[Role]) -> list[Stage]:
    """The next stages these roles may choose (used by screens to draw buttons)."""
    return [to for (frm, to), who in TRANSITIONS.items() if frm == current and roles & who]
