"""The rules beyond the table: the inspection chain, pauses and customer
approval, assignment, cancelling and the validation of a new order.

Every refusal is checked for its error class, its stable ``code`` and, for
validation errors, the ``field``; and a refused command must change nothing.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.domain import errors
from shared.domain.events import (
    Assigned,
    CheckFailed,
    CheckPassed,
    Event,
    ExtraWorkDecided,
    ExtraWorkQuoted,
    OrderCreated,
    PauseReasonAdded,
    PauseReasonCleared,
    StageChanged,
    WorkItem,
)
from shared.domain.extra_work import decide_extra_work, quote_extra_work
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
    CHECKERS,
    TRANSITIONS,
    CheckLevel,
    PauseReason,
    Role,
    Stage,
)
from tests.domain.immutability import assert_deeply_frozen, frozen_problems

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
TECH_ID = 7
OTHER_TECH_ID = 8

SYSTEM = Actor("simulator", frozenset({Role.SYSTEM}))
ADVISOR = Actor("advisor", frozenset({Role.ADVISOR}), user_id=1)
FOREMAN = Actor("foreman", frozenset({Role.FOREMAN}), user_id=2)
QC = Actor("inspector", frozenset({Role.QC_INSPECTOR}), user_id=3)
CUSTOMER = Actor("customer", frozenset({Role.CUSTOMER}), ref="track:abc")
TECH = Actor("tech", frozenset({Role.TECHNICIAN}), user_id=TECH_ID)
OTHER_TECH = Actor("other tech", frozenset({Role.TECHNICIAN}), user_id=OTHER_TECH_ID)


def role(r: Role, user_id: int | None = TECH_ID) -> Actor:
    return Actor(f"a {r.value}", frozenset({r}), user_id=user_id)


class Order:
    """A tiny driver: runs a rule on the current state and folds its events."""

    def __init__(self, *, wash: bool = False, items: tuple[WorkItem, ...] = ()) -> None:
        self.now = T0
        self.events: list[Event] = list(
            create(
                number=3,
                plate="沪A·8K123",
                now=T0,
                actor=ADVISOR,
                items=items or (WorkItem("Oil change", 1.0),),
                wash=wash,
            )
        )
        self.state: OrderState = apply_events(None, self.events)
        assert_deeply_frozen(self.state)

    def tick(self) -> datetime:
        self.now += timedelta(minutes=3)
        return self.now

    def run(self, rule: Callable[..., list[Event]], *args: Any, **kwargs: Any) -> list[Event]:
        events = rule(self.state, *args, now=self.tick(), **kwargs)
        self.events.extend(events)
        self.state = apply_events(self.state, events)
        assert_deeply_frozen(self.state)
        return events

    def refused(
        self,
        error: type[errors.DomainError],
        rule: Callable[..., list[Event]],
        *args: Any,
        **kwargs: Any,
    ) -> errors.DomainError:
        with pytest.raises(error) as caught:
            rule(self.state, *args, now=self.tick(), **kwargs)
        assert type(caught.value) is error
        assert caught.value.code == error.code
        return caught.value

    # the usual flow
    def dispatch(self) -> Order:
        self.run(assign, bay="B1", technicians=[TECH_ID], actor=FOREMAN)
        return self

    def start(self) -> Order:
        self.dispatch()
        self.run(transition, Stage.IN_PROGRESS, actor=TECH)
        return self

    def to_qc(self) -> Order:
        self.start()
        self.run(transition, Stage.QUALITY_CHECK, actor=TECH)
        return self

    def at_level(self, level: CheckLevel) -> Order:
        self.to_qc()
        for _ in range(CHECK_CHAIN.index(level)):
            self.run(pass_check, actor=SYSTEM)
        assert self.state.check_level == level
        return self

    def quote(self, hours: float = 0.5, actor: Actor = TECH) -> int:
        events = self.run(
            quote_extra_work,
            description="Cracked wiper",
            labour_hours=hours,
            price_cents=8_800,
            actor=actor,
        )
        quoted = events[0]
        assert isinstance(quoted, ExtraWorkQuoted)
        return quoted.quote_id


def validation(err: errors.DomainError, field: str) -> None:
    assert isinstance(err, errors.ValidationFailed)
    assert err.code == "validation_error"
    assert err.status == 422
    assert err.field == field
    assert err.extra["field"] == field


# ---------------------------------------------------------------- inspection chain


def test_self_check_enters_quality_check_at_team_lead() -> None:
    order = Order().start()
    events = order.run(transition, Stage.QUALITY_CHECK, actor=TECH)
    assert [type(e) for e in events] == [StageChanged]
    assert order.state.stage == Stage.QUALITY_CHECK
    assert order.state.check_level == CheckLevel.TEAM_LEAD
    assert CHECK_CHAIN == (CheckLevel.TEAM_LEAD, CheckLevel.QC, CheckLevel.FINAL)


@pytest.mark.parametrize("wash", [False, True])
def test_chain_passes_team_lead_then_qc_then_final(wash: bool) -> None:
    order = Order(wash=wash).to_qc()
    seen: list[str] = []
    for level in CHECK_CHAIN:
        assert order.state.stage == Stage.QUALITY_CHECK
        assert order.state.check_level == level
        assert allowed_moves(order.state) == [Stage.IN_PROGRESS, Stage.CANCELLED]
        events = order.run(pass_check, actor=SYSTEM)
        assert isinstance(events[0], CheckPassed)
        seen.append(events[0].level)
        if level != CHECK_CHAIN[-1]:
            assert len(events) == 1
    assert seen == ["team_lead", "qc", "final"]
    final = events[-1]
    assert isinstance(final, StageChanged)
    expected = Stage.WASHING if wash else Stage.READY
    assert (final.from_stage, final.to_stage) == (Stage.QUALITY_CHECK, expected)
    assert order.state.stage == expected
    assert order.state.check_level is None
    assert order.state.rework_count == 0
    if not wash:
        assert order.state.ready_at == final.at


CHECK_CASES = [(level, r) for level in CHECK_CHAIN for r in Role]


@pytest.mark.parametrize(("level", "who"), CHECK_CASES, ids=[f"{lv}-{r}" for lv, r in CHECK_CASES])
def test_each_level_is_signed_only_by_its_checkers(level: CheckLevel, who: Role) -> None:
    order = Order().at_level(level)
    if who in CHECKERS[level]:
        events = order.run(pass_check, actor=role(who))
        assert events[0] == CheckPassed(at=order.now, level=level.value)
    else:
        order.refused(errors.Forbidden, pass_check, actor=role(who))


def test_checkers_table() -> None:
    assert set(CHECKERS) == set(CHECK_CHAIN)
    assert Role.TECHNICIAN not in set().union(*CHECKERS.values()), "no one checks their own work"
    assert Role.TEAM_LEAD in CHECKERS[CheckLevel.TEAM_LEAD]
    assert Role.TEAM_LEAD not in CHECKERS[CheckLevel.QC]
    assert Role.QC_INSPECTOR in CHECKERS[CheckLevel.QC]
    for level in CHECK_CHAIN:
        # whoever signs a level may also send the car back from it
        assert CHECKERS[level] <= TRANSITIONS[Stage.QUALITY_CHECK, Stage.IN_PROGRESS]


@pytest.mark.parametrize("level", CHECK_CHAIN, ids=str)
def test_fail_at_each_level_returns_to_repair(level: CheckLevel) -> None:
    order = Order().at_level(level)
    before = order.state
    events = order.run(transition, Stage.IN_PROGRESS, actor=QC, reason="  Scratch on door  ")
    assert [type(e) for e in events] == [CheckFailed, StageChanged]
    failed = events[0]
    assert isinstance(failed, CheckFailed)
    assert failed.level == level.value
    assert failed.reason == "Scratch on door"
    assert order.state.stage == Stage.IN_PROGRESS
    assert order.state.rework_count == before.rework_count + 1
    assert order.state.check_level is None
    # the technician fixes it and the whole chain starts again
    order.run(transition, Stage.QUALITY_CHECK, actor=TECH)
    assert order.state.check_level == CheckLevel.TEAM_LEAD
    order.run(transition, Stage.IN_PROGRESS, actor=QC, reason="again")
    assert order.state.rework_count == before.rework_count + 2


@pytest.mark.parametrize("level", CHECK_CHAIN, ids=str)
@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_fail_needs_a_reason(level: CheckLevel, reason: str) -> None:
    order = Order().at_level(level)
    err = order.refused(
        errors.ValidationFailed, transition, Stage.IN_PROGRESS, actor=QC, reason=reason
    )
    validation(err, "reason")
    assert order.state.rework_count == 0


FAIL_CASES = [
    (level, r)
    for level in CHECK_CHAIN
    for r in sorted(TRANSITIONS[Stage.QUALITY_CHECK, Stage.IN_PROGRESS])
]


@pytest.mark.parametrize(("level", "who"), FAIL_CASES, ids=[f"{lv}-{r}" for lv, r in FAIL_CASES])
def test_each_level_is_failed_only_by_its_checkers(level: CheckLevel, who: Role) -> None:
    """CHECKERS is documented as "who may pass or fail each level": someone
    who may not sign a level may not fail it either."""
    order = Order().at_level(level)
    if who in CHECKERS[level]:
        order.run(transition, Stage.IN_PROGRESS, actor=role(who), reason="noise from axle")
        assert order.state.rework_count == 1
    else:
        order.refused(
            errors.Forbidden,
            transition,
            Stage.IN_PROGRESS,
            actor=role(who),
            reason="noise from axle",
        )


def test_technician_cannot_fail_or_pass_a_check() -> None:
    order = Order().to_qc()
    order.refused(errors.Forbidden, pass_check, actor=TECH)
    order.refused(errors.Forbidden, transition, Stage.IN_PROGRESS, actor=TECH, reason="x")


def test_handover_fail_from_ready_counts_as_rework() -> None:
    order = Order().to_qc()
    for _ in CHECK_CHAIN:
        order.run(pass_check, actor=SYSTEM)
    assert order.state.stage == Stage.READY
    validation(
        order.refused(errors.ValidationFailed, transition, Stage.IN_PROGRESS, actor=ADVISOR),
        "reason",
    )
    events = order.run(transition, Stage.IN_PROGRESS, actor=ADVISOR, reason="clock not reset")
    assert isinstance(events[0], CheckFailed)
    assert events[0].level == "handover"
    assert order.state.rework_count == 1
    assert order.state.ready_at is None


@pytest.mark.parametrize("stage", [Stage.CHECKED_IN, Stage.IN_PROGRESS, Stage.READY], ids=str)
def test_pass_check_outside_quality_check_is_illegal(stage: Stage) -> None:
    order = Order()
    if stage == Stage.IN_PROGRESS:
        order.start()
    elif stage == Stage.READY:
        order.to_qc()
        for _ in CHECK_CHAIN:
            order.run(pass_check, actor=SYSTEM)
    assert order.state.stage == stage
    err = order.refused(errors.IllegalTransition, pass_check, actor=SYSTEM)
    assert err.extra["allowed"] == [s.value for s in allowed_moves(order.state)]


@pytest.mark.parametrize("wash", [False, True])
def test_ready_or_washing_needs_every_check(wash: bool) -> None:
    order = Order(wash=wash).to_qc()
    target = Stage.WASHING if wash else Stage.READY
    for _ in CHECK_CHAIN:
        order.refused(errors.ChecksPending, transition, target, actor=SYSTEM)
        order.run(pass_check, actor=SYSTEM)
    assert order.state.stage == target


# ---------------------------------------------------------------- pause and approval


@pytest.mark.parametrize("actor", [TECH, ADVISOR, SYSTEM], ids=lambda a: a.name)
def test_pause_requires_a_pause_reason(actor: Actor) -> None:
    order = Order().start()
    err = order.refused(
        errors.ValidationFailed, transition, Stage.PAUSED, actor=actor, reason="no parts"
    )
    validation(err, "pause_reason")


def test_pause_and_resume() -> None:
    order = Order().start()
    order.run(
        transition, Stage.PAUSED, actor=TECH, pause_reason=PauseReason.OTHER, reason=" brake disc "
    )
    assert order.state.stage == Stage.PAUSED
    assert order.state.pause_reason == PauseReason.OTHER
    assert order.state.pause_note == "brake disc"
    events = order.run(transition, Stage.IN_PROGRESS, actor=TECH)
    assert [type(e) for e in events] == [PauseReasonCleared, StageChanged]
    assert order.state.stage == Stage.IN_PROGRESS
    assert order.state.pause_reason is None
    assert order.state.pause_note == ""
    assert order.state.pause_reasons == ()


def test_a_parts_pause_is_a_parts_request_that_must_arrive() -> None:
    order = Order().start()
    order.run(
        transition, Stage.PAUSED, actor=TECH, pause_reason=PauseReason.PARTS, reason=" 刹车片 "
    )
    assert order.state.pause_reason == PauseReason.PARTS
    assert [(p.id, p.description, p.status) for p in order.state.parts] == [
        (1, "刹车片", "requested")
    ]
    order.refused(errors.PartsPending, transition, Stage.IN_PROGRESS, actor=TECH)


def test_an_approval_pause_needs_a_quote() -> None:
    order = Order().start()
    err = order.refused(
        errors.ValidationFailed,
        transition,
        Stage.PAUSED,
        actor=TECH,
        pause_reason=PauseReason.APPROVAL,
        reason="ask the customer",
    )
    validation(err, "pause_reason")


def test_quote_pauses_work_for_approval() -> None:
    order = Order().start()
    events = order.run(
        quote_extra_work,
        description=" Front pads at 2 mm ",
        labour_hours=1.2,
        price_cents=45_000,
        actor=TECH,
    )
    assert [type(e) for e in events] == [ExtraWorkQuoted, StageChanged, PauseReasonAdded]
    quoted, paused, added = events
    assert isinstance(quoted, ExtraWorkQuoted) and isinstance(paused, StageChanged)
    assert (quoted.quote_id, quoted.description) == (1, "Front pads at 2 mm")
    assert paused.pause_reason == PauseReason.APPROVAL
    assert isinstance(added, PauseReasonAdded) and added.key == "approval:1"
    assert order.state.stage == Stage.PAUSED
    assert order.state.pause_reason == PauseReason.APPROVAL
    assert [q.id for q in order.state.pending_quotes] == [1]
    assert order.state.quote(1).status == "pending"
    assert order.state.total_labour_hours == pytest.approx(1.0), "not sold until approved"


@pytest.mark.parametrize(
    "actor", [TECH, role(Role.TEAM_LEAD), FOREMAN, SYSTEM, role(Role.ADMIN)], ids=lambda a: a.name
)
def test_resume_refused_while_approval_pending(actor: Actor) -> None:
    order = Order().start()
    order.quote()
    err = order.refused(errors.ApprovalPending, transition, Stage.IN_PROGRESS, actor=actor)
    assert err.code == "approval_pending"
    assert Stage.IN_PROGRESS not in allowed_moves(order.state)


def test_quote_while_paused_for_parts_adds_approval_and_keeps_the_parts() -> None:
    order = Order().start()
    order.run(
        transition, Stage.PAUSED, actor=TECH, pause_reason=PauseReason.PARTS, reason="等刹车片"
    )
    events = order.run(
        quote_extra_work,
        description="Coolant leak",
        labour_hours=0.5,
        price_cents=1,
        actor=FOREMAN,
    )
    assert [type(e) for e in events] == [ExtraWorkQuoted, PauseReasonAdded]
    assert [(r.reason, r.note) for r in order.state.pause_reasons] == [
        (PauseReason.PARTS, "等刹车片"),
        (PauseReason.APPROVAL, "Coolant leak"),
    ]
    assert order.state.pause_reason == PauseReason.PARTS, "the first reason stays first"
    order.refused(errors.ApprovalPending, transition, Stage.IN_PROGRESS, actor=TECH)


@pytest.mark.parametrize("approved", [True, False])
def test_a_decision_clears_its_reason_and_the_technician_resumes(approved: bool) -> None:
    order = Order().start()
    quote_id = order.quote(hours=0.5)
    events = order.run(
        decide_extra_work,
        quote_id=quote_id,
        approved=approved,
        quote_version=1,
        channel="customer_page",
        actor=CUSTOMER,
    )
    assert [type(e) for e in events] == [ExtraWorkDecided, PauseReasonCleared]
    assert order.state.stage == Stage.PAUSED, "a decision never restarts the work"
    assert order.state.pause_reasons == ()
    quote = order.state.quote(quote_id)
    assert quote.status == ("approved" if approved else "declined")
    assert quote.channel == "customer_page"
    assert quote.decided_at == events[0].at
    assert quote.decided_version == 1
    assert quote.taken_by == "", "the customer's own page names no member of staff"
    assert order.state.total_labour_hours == pytest.approx(1.5 if approved else 1.0)
    order.run(transition, Stage.IN_PROGRESS, actor=TECH)
    assert order.state.stage == Stage.IN_PROGRESS


def test_decision_waits_for_every_pending_quote() -> None:
    order = Order().start()
    first = order.quote()
    second = order.quote()
    assert (first, second) == (1, 2)
    events = order.run(
        decide_extra_work,
        quote_id=second,
        approved=True,
        quote_version=1,
        channel="phone",
        actor=ADVISOR,
    )
    assert [type(e) for e in events] == [ExtraWorkDecided, PauseReasonCleared]
    assert order.state.quote(second).taken_by == ADVISOR.name
    assert order.state.stage == Stage.PAUSED
    order.refused(errors.ApprovalPending, transition, Stage.IN_PROGRESS, actor=TECH)
    events = order.run(
        decide_extra_work,
        quote_id=first,
        approved=False,
        quote_version=1,
        channel="in_person",
        actor=ADVISOR,
    )
    assert [type(e) for e in events] == [ExtraWorkDecided, PauseReasonCleared]
    assert order.state.stage == Stage.PAUSED
    order.run(transition, Stage.IN_PROGRESS, actor=TECH)
    assert order.state.stage == Stage.IN_PROGRESS


def test_a_decision_during_a_parts_wait_leaves_the_car_waiting_for_parts() -> None:
    order = Order().start()
    order.run(transition, Stage.PAUSED, actor=TECH, pause_reason=PauseReason.PARTS, reason="pads")
    quote_id = order.quote()
    order.run(
        decide_extra_work,
        quote_id=quote_id,
        approved=True,
        quote_version=1,
        channel="phone",
        actor=ADVISOR,
    )
    assert order.state.stage == Stage.PAUSED
    assert [r.key for r in order.state.pause_reasons] == ["parts:1"]
    order.refused(errors.PartsPending, transition, Stage.IN_PROGRESS, actor=TECH)


def test_stale_quote_version() -> None:
    order = Order().start()
    quote_id = order.quote()
    err = order.refused(
        errors.StaleVersion,
        decide_extra_work,
        quote_id=quote_id,
        approved=True,
        quote_version=2,
        channel="phone",
        actor=ADVISOR,
    )
    assert err.code == "stale_version"
    assert order.state.quote(quote_id).status == "pending"


def test_second_decision_is_refused() -> None:
    order = Order().start()
    quote_id = order.quote()
    order.run(
        decide_extra_work,
        quote_id=quote_id,
        approved=True,
        quote_version=1,
        channel="customer_page",
        actor=CUSTOMER,
    )
    for approved in (True, False):
        err = order.refused(
            errors.AlreadyDecided,
            decide_extra_work,
            quote_id=quote_id,
            approved=approved,
            quote_version=1,
            channel="phone",
            actor=ADVISOR,
        )
        assert err.code == "already_decided"
    assert order.state.quote(quote_id).status == "approved"


def test_decision_refusals() -> None:
    order = Order().start()
    quote_id = order.quote()
    err = order.refused(
        errors.NotFound,
        decide_extra_work,
        quote_id=99,
        approved=True,
        quote_version=1,
        channel="phone",
        actor=ADVISOR,
    )
    assert err.code == "not_found"
    validation(
        order.refused(
            errors.ValidationFailed,
            decide_extra_work,
            quote_id=quote_id,
            approved=True,
            quote_version=1,
            channel="email",
            actor=ADVISOR,
        ),
        "channel",
    )
    for who in (TECH, FOREMAN, QC, role(Role.DISPLAY_LOUNGE)):
        order.refused(
            errors.Forbidden,
            decide_extra_work,
            quote_id=quote_id,
            approved=True,
            quote_version=1,
            channel="phone",
            actor=who,
        )


def test_decision_on_a_closed_order_is_illegal() -> None:
    order = Order().start()
    quote_id = order.quote()
    order.run(transition, Stage.CANCELLED, actor=ADVISOR, reason="customer left")
    err = order.refused(
        errors.IllegalTransition,
        decide_extra_work,
        quote_id=quote_id,
        approved=True,
        quote_version=1,
        channel="phone",
        actor=ADVISOR,
    )
    assert err.extra["allowed"] == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"description": "   "}, "description"),
        ({"description": "a\x00b"}, "description"),
        ({"labour_hours": 0}, "labour_hours"),
        ({"labour_hours": -1}, "labour_hours"),
        ({"labour_hours": 200.5}, "labour_hours"),
        ({"labour_hours": float("nan")}, "labour_hours"),
        ({"price_cents": -1}, "price_cents"),
        ({"price_cents": 100_000_001}, "price_cents"),
    ],
)
def test_quote_validation(kwargs: dict[str, Any], field: str) -> None:
    order = Order().start()
    args: dict[str, Any] = {"description": "Wipers", "labour_hours": 0.3, "price_cents": 100}
    args.update(kwargs)
    validation(order.refused(errors.ValidationFailed, quote_extra_work, actor=TECH, **args), field)


@pytest.mark.parametrize(
    "stage", [Stage.CHECKED_IN, Stage.DISPATCHED, Stage.QUALITY_CHECK], ids=str
)
def test_quote_only_while_in_repair(stage: Stage) -> None:
    order = Order()
    if stage == Stage.DISPATCHED:
        order.dispatch()
    elif stage == Stage.QUALITY_CHECK:
        order.to_qc()
    err = order.refused(
        errors.IllegalTransition,
        quote_extra_work,
        description="x",
        labour_hours=1,
        price_cents=1,
        actor=SYSTEM,
    )
    assert err.extra["allowed"] == [s.value for s in allowed_moves(order.state)]


def test_quote_by_unassigned_technician_or_display_is_forbidden() -> None:
    order = Order().start()
    for who in (OTHER_TECH, role(Role.TECHNICIAN, user_id=None), CUSTOMER, QC):
        order.refused(
            errors.Forbidden,
            quote_extra_work,
            description="x",
            labour_hours=1,
            price_cents=1,
            actor=who,
        )


# ---------------------------------------------------------------- assignment


UNASSIGNED_MOVES = [
    ("dispatched", Stage.IN_PROGRESS, {}),
    ("in_progress", Stage.PAUSED, {"pause_reason": PauseReason.OTHER}),
    ("in_progress", Stage.QUALITY_CHECK, {}),
    ("paused", Stage.IN_PROGRESS, {}),
]


@pytest.mark.parametrize(
    ("start", "to", "extra"), UNASSIGNED_MOVES, ids=[f"{s}->{t}" for s, t, _ in UNASSIGNED_MOVES]
)
@pytest.mark.parametrize(
    "who",
    [OTHER_TECH, role(Role.TECHNICIAN, user_id=None), role(Role.TEAM_LEAD, user_id=OTHER_TECH_ID)],
    ids=["other-technician", "no-user-id", "other-team-lead"],
)
def test_technician_not_assigned_is_forbidden(
    start: str, to: Stage, extra: dict[str, Any], who: Actor
) -> None:
    order = Order().dispatch()
    if start != "dispatched":
        order.run(transition, Stage.IN_PROGRESS, actor=TECH)
    if start == "paused":
        order.run(transition, Stage.PAUSED, actor=TECH, pause_reason=PauseReason.OTHER)
    err = order.refused(errors.Forbidden, transition, to, actor=who, **extra)
    assert err.code == "forbidden"
    assert err.status == 403
    # the assigned technician, and the foreman, may
    order.run(transition, to, actor=TECH, **extra)
    assert order.state.stage == to


def test_foreman_may_act_on_any_order() -> None:
    order = Order().dispatch()
    order.run(transition, Stage.IN_PROGRESS, actor=FOREMAN)
    assert order.state.stage == Stage.IN_PROGRESS


def test_assign_dispatches_a_checked_in_order() -> None:
    order = Order()
    events = order.run(assign, bay=" B7 ", technicians=[TECH_ID, OTHER_TECH_ID], actor=FOREMAN)
    assert [type(e) for e in events] == [Assigned, StageChanged]
    assert order.state.stage == Stage.DISPATCHED
    assert order.state.bay == "B7"
    assert order.state.technicians == (TECH_ID, OTHER_TECH_ID)
    # rebalancing while at work keeps the stage
    order.run(transition, Stage.IN_PROGRESS, actor=OTHER_TECH)
    events = order.run(assign, bay="B2", technicians=[OTHER_TECH_ID], actor=FOREMAN)
    assert [type(e) for e in events] == [Assigned]
    assert (order.state.stage, order.state.bay) == (Stage.IN_PROGRESS, "B2")
    order.refused(
        errors.Forbidden, transition, Stage.PAUSED, actor=TECH, pause_reason=PauseReason.OTHER
    )


def test_back_to_checked_in_clears_the_assignment() -> None:
    order = Order().dispatch()
    order.run(transition, Stage.CHECKED_IN, actor=FOREMAN)
    assert (order.state.bay, order.state.technicians) == (None, ())


@pytest.mark.parametrize(
    ("bay", "technicians", "field"),
    [
        ("B1", [], "technicians"),
        ("B1", [TECH_ID, OTHER_TECH_ID, TECH_ID], "technicians"),
        ("B1", [TECH_ID, TECH_ID], "technicians"),
        ("", [TECH_ID], "bay"),
        ("   ", [TECH_ID], "bay"),
        ("B\x1b1", [TECH_ID], "bay"),
        ("B" * 41, [TECH_ID], "bay"),
    ],
)
def test_assignment_validation(bay: str, technicians: list[int], field: str) -> None:
    order = Order()
    err = order.refused(
        errors.ValidationFailed, assign, bay=bay, technicians=technicians, actor=FOREMAN
    )
    validation(err, field)
    assert order.state.stage == Stage.CHECKED_IN


@pytest.mark.parametrize(
    "who", [Role.ADVISOR, Role.TECHNICIAN, Role.TEAM_LEAD, Role.CUSTOMER], ids=str
)
def test_only_dispatchers_assign(who: Role) -> None:
    Order().refused(errors.Forbidden, assign, bay="B1", technicians=[1], actor=role(who))


def test_assign_refused_after_repair() -> None:
    order = Order().to_qc()
    err = order.refused(errors.IllegalTransition, assign, bay="B1", technicians=[1], actor=FOREMAN)
    assert err.extra["allowed"] == [s.value for s in allowed_moves(order.state)]


@pytest.mark.parametrize("who", [FOREMAN, SYSTEM, role(Role.MANAGER)], ids=lambda a: a.name)
def test_dispatch_without_assignment_is_refused(who: Actor) -> None:
    order = Order()
    err = order.refused(errors.ValidationFailed, transition, Stage.DISPATCHED, actor=who)
    validation(err, "bay")
    assert Stage.DISPATCHED not in allowed_moves(order.state)


# ---------------------------------------------------------------- cancelling


def _order_in(stage: Stage) -> Order:
    if stage == Stage.BOOKED:
        order = Order()
        order.events = list(create(number=4, plate="京N·1", now=T0, actor=ADVISOR, booked=True))
        order.state = apply_events(None, order.events)
        return order
    order = Order(wash=stage == Stage.WASHING)
    if stage == Stage.CHECKED_IN:
        return order
    if stage == Stage.DISPATCHED:
        return order.dispatch()
    if stage == Stage.IN_PROGRESS:
        return order.start()
    if stage == Stage.PAUSED:
        order.start().quote()
        return order
    order.to_qc()
    if stage == Stage.QUALITY_CHECK:
        return order
    for _ in CHECK_CHAIN:
        order.run(pass_check, actor=SYSTEM)
    assert order.state.stage == stage
    return order


@pytest.mark.parametrize("stage", ACTIVE_STAGES, ids=str)
@pytest.mark.parametrize("reason", ["", "  ", "\t"])
def test_cancel_requires_a_reason(stage: Stage, reason: str) -> None:
    order = _order_in(stage)
    assert order.state.stage == stage
    err = order.refused(
        errors.ValidationFailed, transition, Stage.CANCELLED, actor=SYSTEM, reason=reason
    )
    validation(err, "reason")


@pytest.mark.parametrize("stage", ACTIVE_STAGES, ids=str)
def test_cancel_with_reason_closes_the_order(stage: Stage) -> None:
    order = _order_in(stage)
    order.run(transition, Stage.CANCELLED, actor=SYSTEM, reason="customer withdrew")
    assert order.state.stage == Stage.CANCELLED
    assert not order.state.active
    assert allowed_moves(order.state) == []
    assert order.state.eta is None


def test_reason_too_long_is_refused() -> None:
    order = Order()
    err = order.refused(
        errors.ValidationFailed, transition, Stage.CANCELLED, actor=SYSTEM, reason="x" * 501
    )
    validation(err, "reason")


# ---------------------------------------------------------------- creating an order


def _create(**overrides: Any) -> list[Event]:
    kwargs: dict[str, Any] = {
        "number": 1,
        "plate": "粤B·D1234",
        "now": T0,
        "actor": ADVISOR,
        "customer_name": "王先生",
        "customer_phone": "+86 138 0000 0000",
        "vehicle_model": "Camry",
        "vehicle_vin": "LVGBV1234AB123456",
        "vehicle_mileage": 42_000,
        "complaint": "Noise when braking.\nCustomer waits.",
        "items": [WorkItem("Brake pads", 1.2)],
        "promised_at": T0 + timedelta(hours=3),
    }
    kwargs.update(overrides)
    return create(**kwargs)


def test_create_cleans_and_records_the_order() -> None:
    events = _create(
        plate="  粤B·D1234 ",
        items=[WorkItem(" Pads ", 2)],
        booked=False,
        wash=True,
        waiting=True,
        priority="vip",
    )
    assert len(events) == 1
    created = events[0]
    assert isinstance(created, OrderCreated)
    assert created.plate == "粤B·D1234"
    assert created.items == (WorkItem("Pads", 2.0),)
    assert isinstance(created.items[0].labour_hours, float)
    state = apply_events(None, events)
    assert (state.stage, state.version, state.wash, state.waiting, state.priority) == (
        Stage.CHECKED_IN,
        1,
        True,
        True,
        "vip",
    )
    assert apply_events(None, _create(booked=True)).stage == Stage.BOOKED
    assert state.eta is not None and state.eta > T0


def _create_error(field: str, **overrides: Any) -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        _create(**overrides)
    validation(caught.value, field)


@pytest.mark.parametrize("plate", ["", "   ", "\t\n", "X" * 21])
def test_create_plate_required_and_short(plate: str) -> None:
    _create_error("plate", plate=plate)


C0_CONTROLS = [chr(c) for c in range(0x20) if chr(c) not in "\t\n"]
# DEL and the C1 block: Unicode category Cc like the C0 block (U+009B is the
# 8-bit terminal escape CSI, U+0085 NEL breaks lines on some printers).
OTHER_CONTROLS = [chr(0x7F)] + [chr(c) for c in range(0x80, 0xA0)]


def test_control_character_sets() -> None:
    every_cc = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc"]
    assert sorted(C0_CONTROLS + OTHER_CONTROLS + ["\t", "\n"]) == every_cc


@pytest.mark.parametrize("char", C0_CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_create_refuses_control_characters(char: str) -> None:
    """Control characters (but tab and newline), inside a value where trimming
    cannot remove them."""
    _create_error("plate", plate=f"AB{char}123")
    _create_error("customer.name", customer_name=f"Wang{char}Wei")
    _create_error("complaint", complaint=f"noise{char}brakes")


def test_create_refuses_del_and_c1_control_characters() -> None:
    """DEL (U+007F) and U+0080..U+009F are control characters too (category Cc)."""
    accepted = []
    for char in OTHER_CONTROLS:
        try:
            _create(plate=f"AB{char}123")
        except errors.ValidationFailed as refused:
            assert refused.field == "plate"
        else:
            accepted.append(f"U+{ord(char):04X}")
    assert accepted == [], f"control characters accepted in plate: {accepted}"


@pytest.mark.parametrize("priority", ["urgent", "VIP", "", "Normal"])
def test_create_bad_priority(priority: str) -> None:
    _create_error("priority", priority=priority)


def test_create_naive_promised_at() -> None:
    _create_error("promised_at", promised_at=datetime(2025, 3, 3, 17, 0))
    # any offset is fine
    _create(promised_at=datetime(2025, 3, 3, 17, 0, tzinfo=timezone(timedelta(hours=8))))


@pytest.mark.parametrize("mileage", [-1, 5_000_001, 10**12])
def test_create_mileage_out_of_range(mileage: int) -> None:
    _create_error("vehicle.mileage", vehicle_mileage=mileage)


@pytest.mark.parametrize("mileage", [0, 5_000_000, None])
def test_create_mileage_bounds_accepted(mileage: int | None) -> None:
    assert apply_events(None, _create(vehicle_mileage=mileage)).vehicle_mileage == mileage


@pytest.mark.parametrize("hours", [-0.1, 200.01, 1e9, float("nan"), float("inf")])
def test_create_item_hours_out_of_range(hours: float) -> None:
    _create_error("items[1].labour_hours", items=[WorkItem("ok", 1), WorkItem("bad", hours)])


@pytest.mark.parametrize("hours", [0, 200])
def test_create_item_hours_bounds_accepted(hours: float) -> None:
    assert apply_events(None, _create(items=[WorkItem("x", hours)])).total_labour_hours == hours


def test_create_other_validation() -> None:
    _create_error("items[0].title", items=[WorkItem("  ", 1)])
    _create_error("items", items=[WorkItem("x", 0.1)] * 101)
    _create_error("vehicle.vin", vehicle_vin="L" * 18)
    _create_error("customer.phone", customer_phone="1" * 41)


@pytest.mark.parametrize(
    "who", [Role.TECHNICIAN, Role.FOREMAN, Role.CUSTOMER, Role.DISPLAY_BOARD], ids=str
)
def test_only_reception_creates(who: Role) -> None:
    with pytest.raises(errors.Forbidden) as caught:
        _create(actor=role(who))
    assert caught.value.code == "forbidden"


def test_the_frozen_check_finds_what_a_rule_could_change() -> None:
    """The check the rule tests run on every state fails where it must."""
    state = Order().start().state
    assert frozen_problems(state) == []
    listed = dataclasses.replace(state, technicians=[TECH_ID])  # type: ignore[arg-type]
    assert frozen_problems(listed) == ["state.technicians: a list can be changed in place"]

    @dataclasses.dataclass
    class Loose:
        stage: Stage

    assert frozen_problems((Loose(Stage.BOOKED),)) == ["state[0]: Loose is not a frozen dataclass"]
