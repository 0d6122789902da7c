"""Order commands: one function per command, each through ``commands.execute``.

Every command on an existing order has one shape (``_order_command``): load
the order, check the version the caller saw, apply the domain rule (a refusal
carries the current order), plan the labour clocks when the car changes
stage, record the events through the bay rule (``_record``), answer with the
order's view; ``execute`` commits and then publishes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.config import LOCALES
from shared.domain import bays, errors, extra_work, notifications, parts
from shared.domain import order as rules
from shared.domain import promise as promises
from shared.domain.events import Event
from shared.domain.extra_work import QuoteTerms
from shared.domain.new_order import NewOrder
from shared.domain.order import Actor, OrderState
from shared.domain.plates import normalise_plate
from shared.domain.stages import PauseReason, Role, Stage
from shared.persistence.models import ApiToken, Bay, OrderEvent, RepairOrder, Shop, StaffUser
from shared.services import bay_room, labour, shop_settings
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core
from shared.services.rows import part_to_json, quote_to_json, state_from_row


def new_customer_token() -> str:
    """The customer's capability token: 256 bits from ``secrets``."""
    return secrets.token_urlsafe(32)


def _next_number(tx: Transaction, business_day: Any) -> int:
    highest = tx.session.execute(
        select(func.max(RepairOrder.number)).where(
            RepairOrder.shop_id == tx.locked.id, RepairOrder.business_day == business_day
        )
    ).scalar_one()
    return int(highest or 0) + 1


def _record(
    tx: Transaction,
    row: RepairOrder,
    state: OrderState | None,
    events: Sequence[Event],
    after: OrderState | None = None,
) -> OrderState:
    """Every order command's write: refuse first when the events would put the
    car on a bay that has no room, then record them.

    The holders are read inside the command's transaction, after the shop row
    was locked, so two dispatches to the same bay cannot both see it free."""
    bay = bays.claimed_bay(state, events)
    if bay is not None:
        # Who stands there by the standing rule the wall board draws too: a
        # car being washed on the wash bay, not on the bay it was repaired on.
        capacity, holders = bay_room.on_bay(tx.session, tx.locked.id, bay, order_id=row.id)
        try:
            bays.check_room(bay, capacity, holders, order_id=row.id)
        except errors.DomainError as refused:
            raise tx.refuse(refused, row) from None
    return tx.record(row, state, events, after)


def open_in(tx: Transaction, command: NewOrder) -> RepairOrder:
    """Open a repair order inside the running command: the plate and VIN in
    their one spelling, the day's queue number, the customer's contact and
    consent. Reception's own command and an appointment's check-in (which
    opens the order and marks the booking in one command) both use it."""
    canonical = replace(
        command,
        plate=normalise_plate(command.plate),
        vehicle=replace(command.vehicle, vin=command.vehicle.vin.upper()),
    )
    business_day = tx.now.astimezone(ZoneInfo(tx.locked.timezone)).date()
    events = rules.open_order(
        canonical, number=_next_number(tx, business_day), now=tx.now, actor=tx.actor
    )
    email, channels, language = notifications.check_contact(
        email=command.customer.email,
        notify=command.customer.notify,
        phone=command.customer.phone,
        language=command.customer.language,
        locales=LOCALES,
    )
    row = RepairOrder(
        shop_id=tx.locked.id,
        business_day=business_day,
        customer_token=new_customer_token(),
        customer_email=email,
        customer_notify=list(channels),
        customer_language=language,
        notify_consented_at=tx.now if channels else None,
    )
    _record(tx, row, None, events)
    return row


def open_order(core: Core, request: CommandRequest, command: NewOrder) -> Outcome:
    """Open a repair order (or book one); issues the day's queue number."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        # Inside the command, so a refused plate binds its Idempotency-Key
        # like every other refusal of the domain.
        return 201, tx.view(open_in(tx, command))

    return execute(core, request, "create_order", work)


def create_order(core: Core, request: CommandRequest, **spelled: Any) -> Outcome:
    """``open_order`` with the command's fields spelled out flat
    (``NewOrder.from_fields``), as scripts and tests write them."""
    return open_order(core, request, NewOrder.from_fields(**spelled))


class Rule(Protocol):
    """A domain rule of one order: the events the command causes, or a refusal."""

    def __call__(self, state: OrderState, *, actor: Actor, now: datetime) -> list[Event]: ...


Reply = Callable[[Transaction, RepairOrder, OrderState], dict[str, Any]]


def _order_view(tx: Transaction, row: RepairOrder, after: OrderState) -> dict[str, Any]:
    return tx.view(row)


def _load(tx: Transaction, order_id: int, version: int | None) -> tuple[RepairOrder, OrderState]:
    """The order and its state; ``version`` is the one the caller saw (the
    customer's own commands carry none: a quote's version guards a decision)."""
    row = tx.load_order(order_id)
    return row, state_from_row(row) if version is None else tx.check_version(row, version)


def _apply(
    tx: Transaction, row: RepairOrder, before: OrderState, rule: Rule, *, clocks: bool
) -> OrderState:
    """Apply a rule to the loaded order and record its events (through the
    bay rule). A refusal carries the current order, so the client can redraw.

    With ``clocks`` (commands that move the car between stages) the labour
    clocks are planned before anything is written, so a refused clock move (a
    second running clock) leaves the row as loaded; they move once the events
    are recorded."""
    try:
        events = rule(before, actor=tx.actor, now=tx.now)
    except errors.DomainError as refused:
        raise tx.refuse(refused, row) from None
    # Folded once: the clock plan and the record both need the new state.
    folded = rules.apply_events(before, events)
    planned = labour.plan_transition(tx, row, before, folded) if clocks else None
    after = _record(tx, row, before, events, folded)
    if planned is not None:
        labour.move_clocks(tx, planned)
    return after


def _order_command(
    core: Core,
    request: CommandRequest,
    command: str,
    order_id: int,
    rule: Rule,
    *,
    version: int | None,
    clocks: bool = False,
    status: int = 200,
    reply: Reply = _order_view,
) -> Outcome:
    """The shape of every command on one existing order: load, check the
    version, apply the rule, record, answer with the order's view."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row, before = _load(tx, order_id, version)
        after = _apply(tx, row, before, rule, clocks=clocks)
        return status, reply(tx, row, after)

    return execute(core, request, command, work)


def transition_order(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    to: Stage,
    version: int,
    reason: str = "",
    pause_reason: PauseReason | None = None,
) -> Outcome:
    """Move an order to another stage (start, pause, resume, finish, hand over…)."""
    rule = partial(rules.transition, to=to, reason=reason, pause_reason=pause_reason)
    return _order_command(core, request, "transition", order_id, rule, version=version, clocks=True)


def pass_check(core: Core, request: CommandRequest, order_id: int, *, version: int) -> Outcome:
    """Sign the next inspection level (team lead, QC, final). One person
    signs at most one level of a job (the people who passed the earlier
    levels are read from the log), unless the shop's setting
    ``checks_by_one_person_allowed`` lets them: then the event says so."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row, before = _load(tx, order_id, version)
        signed = _signatures(tx.session, [row.id]).get(row.id, [])
        rule = partial(
            rules.pass_check,
            signed_by=frozenset(s.person for s in signed if s.person is not None),
            one_person_allowed=shop_settings.checks_by_one_person_allowed(tx.locked.settings),
        )
        _apply(tx, row, before, rule, clocks=False)
        return 200, tx.view(row)

    return execute(core, request, "pass_check", work)


@dataclass(frozen=True)
class Signature:
    """One inspection level passed since the car last came into quality
    check: the level, who signed it as the log names them, and the person
    (staff user id) behind the credential, None for an actor that is no
    person (an integration's token, the demo)."""

    level: str
    name: str
    person: int | None
    by_one_person: bool = False


def _people(session: Session, refs: set[str]) -> dict[str, int | None]:
    """The staff user behind each actor ref of the log: ``user:N`` is N, a
    token bound to a user (``token:N``) is that user; anything else none."""
    people: dict[str, int | None] = {}
    tokens: dict[int, str] = {}
    for ref in refs:
        kind, _, number = ref.partition(":")
        people[ref] = None
        if number.isdigit() and kind == "user":
            people[ref] = int(number)
        elif number.isdigit() and kind == "token":
            tokens[int(number)] = ref
    if tokens:
        for token_id, user_id in session.execute(
            select(ApiToken.id, ApiToken.user_id).where(ApiToken.id.in_(list(tokens)))
        ):
            people[tokens[token_id]] = user_id
    return people


def _signatures(session: Session, order_ids: Sequence[int]) -> dict[int, list[Signature]]:
    """Per order, the levels passed since it last came into quality check
    (a failed check sends it back to repair, and the chain starts again)."""
    rows = session.execute(
        select(
            OrderEvent.order_id,
            OrderEvent.type,
            OrderEvent.actor,
            OrderEvent.actor_name,
            OrderEvent.data,
        )
        .where(
            OrderEvent.order_id.in_(list(order_ids)),
            OrderEvent.type.in_(("stage_changed", "check_passed")),
        )
        .order_by(OrderEvent.seq)
    ).all()
    people = _people(session, {row.actor for row in rows if row.type == "check_passed"})
    found: dict[int, list[Signature]] = {order_id: [] for order_id in order_ids}
    for row in rows:
        data = row.data or {}
        if row.type == "stage_changed" and data.get("to_stage") == Stage.QUALITY_CHECK.value:
            found[row.order_id] = []
        elif row.type == "check_passed":
            found[row.order_id].append(
                Signature(
                    level=str(data.get("level", "")),
                    name=row.actor_name or row.actor,
                    person=people.get(row.actor),
                    by_one_person=data.get("checks_by_one_person_allowed") is True,
                )
            )
    return found


def check_signatures(core: Core, order_ids: Sequence[int]) -> dict[int, list[Signature]]:
    """The levels already passed on orders in quality check, and by whom
    (the kiosk names them on the check's card, and offers no second pass to
    a person who signed one)."""
    if not order_ids:
        return {}
    with core.db.read() as session:
        return _signatures(session, order_ids)


def checks_by_one_person_allowed(core: Core, shop_id: int) -> bool:
    """The shop's setting: may one person sign more than one level of a job?"""
    with core.db.read() as session:
        shop = session.get(Shop, shop_id)
        return shop_settings.checks_by_one_person_allowed(
            (shop.settings if shop is not None else None) or {}
        )


def _check_dispatch(tx: Transaction, bay: str, technicians: Sequence[int]) -> None:
    """The bay and the technicians must be this shop's, active (the rule
    itself knows no rows), and the bay in service."""
    known_bay = tx.session.execute(
        select(Bay.id, Bay.out_of_service_reason).where(
            Bay.shop_id == tx.locked.id, Bay.code == bay, Bay.active
        )
    ).one_or_none()
    if known_bay is None:
        raise errors.ValidationFailed("bay", f"No active bay {bay!r} in this shop.")
    if known_bay.out_of_service_reason:
        raise errors.BayOutOfService(
            f"Bay {bay} is out of service: {known_bay.out_of_service_reason}",
            bay=bay,
            reason=known_bay.out_of_service_reason,
        )
    found = set(
        tx.session.execute(
            select(StaffUser.id).where(
                StaffUser.shop_id == tx.locked.id,
                StaffUser.id.in_(list(technicians)),
                StaffUser.role == Role.TECHNICIAN.value,
                StaffUser.active,
            )
        ).scalars()
    )
    missing = [t for t in technicians if t not in found]
    if missing:
        raise errors.ValidationFailed("technicians", f"Not technicians of this shop: {missing}")


def assign_order(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    bay: str,
    technicians: Sequence[int],
    version: int,
) -> Outcome:
    """Dispatch (派工): put the order on a bay with technicians of this shop."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row, before = _load(tx, order_id, version)
        _check_dispatch(tx, bay, technicians)
        rule = partial(rules.assign, bay=bay, technicians=technicians)
        after = _apply(tx, row, before, rule, clocks=False)
        # Technicians taken off the order stop their clocks.
        labour.clock_assignment(tx, row, before, after)
        return 200, tx.view(row)

    return execute(core, request, "assign", work)


def _quote_reply_for(quote_id: int | None) -> Reply:
    """The quote (the one named, else the newest) with its order's view."""

    def reply(tx: Transaction, row: RepairOrder, after: OrderState) -> dict[str, Any]:
        quote = after.quotes[-1] if quote_id is None else after.quote(quote_id)
        return {**quote_to_json(quote), "order": tx.view(row)}

    return reply


def quote_valid_for(tx: Transaction) -> timedelta:
    """How long a quote waits for the customer in this shop (its
    ``quote_valid_minutes`` setting, else the default)."""
    minutes = tx.locked.settings.get("quote_valid_minutes")
    if isinstance(minutes, int) and not isinstance(minutes, bool) and minutes > 0:
        return timedelta(minutes=minutes)
    return extra_work.DEFAULT_VALID_FOR


def _quote_command(
    core: Core,
    request: CommandRequest,
    order_id: int,
    rule: Callable[..., list[Event]],
    terms: dict[str, Any],
    *,
    version: int | None = None,
    quote_id: int | None = None,
) -> Outcome:
    """A quote's command: the rule with the shop's quote validity (read in
    the transaction), answered with the quote and its order. A new quote
    (no ``quote_id``) may pause a car at work, so its clocks are planned."""
    named = {} if quote_id is None else {"quote_id": quote_id}

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        bound = partial(rule, valid_for=quote_valid_for(tx), **named, **terms)
        row, before = _load(tx, order_id, version)
        after = _apply(tx, row, before, bound, clocks=quote_id is None)
        return (201 if quote_id is None else 200), _quote_reply_for(quote_id)(tx, row, after)

    return execute(core, request, rule.__name__, work)


def quote_extra_work(
    core: Core, request: CommandRequest, order_id: int, terms: QuoteTerms, *, version: int
) -> Outcome:
    """Flag additional work; the order also waits for the customer's OK on it."""
    rule = extra_work.quote_extra_work
    return _quote_command(core, request, order_id, rule, asdict(terms), version=version)


def revise_quote(
    core: Core,
    request: CommandRequest,
    order_id: int,
    terms: QuoteTerms,
    *,
    quote_id: int,
    quote_version: int,
) -> Outcome:
    """A new version of a pending quote; the customer's page shows it live.
    The quote's own version guards it, not the order's."""
    revised = {**asdict(terms), "quote_version": quote_version}
    return _quote_command(
        core, request, order_id, extra_work.revise_quote, revised, quote_id=quote_id
    )


def decide_extra_work(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    quote_id: int,
    approved: bool,
    quote_version: int,
    channel: str,
) -> Outcome:
    """Record the customer's yes or no to one quote (by page, phone or in person)."""
    decision = partial(
        extra_work.decide_extra_work,
        quote_id=quote_id,
        approved=approved,
        quote_version=quote_version,
        channel=channel,
    )
    # The quote's own version guards a decision: the customer's page acts
    # on the quote it shows, whatever else changed on the order since.
    return _order_command(core, request, "decide_extra_work", order_id, decision, version=None)


# Who expires quotes nobody answered: the shop's clock, not a person.
QUOTE_CLOCK = Actor(name="quote clock", roles=frozenset({Role.SYSTEM}), ref="system:quotes")


def expire_quotes(core: Core, request: CommandRequest, order_id: int) -> Outcome:
    """Expire the order's quotes whose time is up (the timer's command)."""
    return _order_command(
        core, request, "expire_quotes", order_id, extra_work.expire_quotes, version=None
    )


def request_parts(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    description: str,
    eta: datetime | None,
    version: int | None,
) -> Outcome:
    """A technician asks for parts: the car waits for them. 201 {id, status, order}."""
    rule = partial(parts.request_parts, description=description, eta=eta)
    return _order_command(
        core,
        request,
        "request_parts",
        order_id,
        rule,
        version=version,
        clocks=True,
        status=201,
        reply=_part_reply(None),
    )


def _part_reply(part_id: int | None) -> Reply:
    def reply(tx: Transaction, row: RepairOrder, after: OrderState) -> dict[str, Any]:
        part = after.parts[-1] if part_id is None else after.part(part_id)
        return {**part_to_json(part), "order": tx.view(row)}

    return reply


def change_parts_status(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    part_id: int,
    status: str,
    eta: datetime | None,
) -> Outcome:
    """The parts counter: ordered (expected arrival) or arrived (clears its reason)."""
    rule = partial(parts.change_parts_status, part_id=part_id, status=status, eta=eta)
    return _order_command(
        core,
        request,
        "parts_status",
        order_id,
        rule,
        version=None,
        reply=_part_reply(part_id),
    )


def clear_pause_reason(
    core: Core, request: CommandRequest, order_id: int, *, key: str, version: int | None
) -> Outcome:
    """A technician or the foreman ends an "other" reason of the pause."""
    rule = partial(rules.clear_pause_reason, key=key)
    return _order_command(core, request, "clear_pause_reason", order_id, rule, version=version)


def submit_survey(
    core: Core, request: CommandRequest, order_id: int, *, rating: int, comment: str
) -> Outcome:
    """Record the satisfaction survey of a delivered order (once)."""
    rule = partial(rules.submit_survey, rating=rating, comment=comment)
    return _order_command(core, request, "submit_survey", order_id, rule, version=None, status=201)


def change_promise(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    promised_at: datetime,
    reason: str,
    version: int,
) -> Outcome:
    """The advisor sets a new promised time, with the reason the customer reads."""
    rule = partial(promises.change_promise, new=promised_at, reason=reason)
    return _order_command(core, request, "change_promise", order_id, rule, version=version)
