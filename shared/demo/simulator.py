"""The demo simulator: a busy shop floor that keeps moving while people watch.

Every few seconds it makes ONE move a real workshop would make next — a car
arrives, the foreman dispatches, a technician starts, pauses, finds extra
work, finishes, an inspector passes or fails, the wash ends, a customer
collects — always through the same services people use. It waits only with
the injected ``sleep`` (``socketio.sleep``), so it cooperates under eventlet,
gevent and threading alike. A move refused because a person changed the same
order a moment earlier is simply skipped: the next step reads fresh state.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from shared.demo.seed import (
    CANCEL_REASONS,
    CHECK_FAILURES,
    DEMO_SLUG,
    EXTRA_WORK,
    OTHER_PAUSES,
    PARTS_WAITS,
    QUICK_JOB_HOURS,
    WORK_BAY_KINDS,
    NewCar,
    demo_request,
    open_order,
    random_car,
    technician_ids,
    work_tap,
)
from shared.domain import errors, stages
from shared.domain.bays import holds_bay
from shared.domain.eta import suggest_promised_at
from shared.domain.extra_work import QuoteTerms
from shared.domain.order import OrderState
from shared.domain.stages import CheckLevel, PauseReason, Stage
from shared.persistence.models import Bay, RepairOrder, Shop
from shared.services import orders, shop_load
from shared.services.commands import CommandRequest
from shared.services.core import Core
from shared.services.queries import ACTIVE
from shared.services.rows import state_from_row

logger = logging.getLogger(__name__)

# The shop stays busy but not absurd: arrivals stop at the top, handovers and
# cancellations at the bottom.
MIN_ACTIVE = 25
MAX_ACTIVE = 45
TARGET_ACTIVE = 35
# An order that has sat in its stage for a while is likelier to move next, up
# to this many minutes; a fresh change gets weight 1, a stale one up to 3.
AGE_CAP_MINUTES = 20.0
# After an unexpected failure (database gone away…) wait longer before retrying.
FAILURE_BACKOFF = 5.0

# Technicians are on a job until it goes to inspection; the car stands on its
# bay until it has passed (the domain's holding stages).
_OCCUPYING = stages.WORKING_STAGES


@dataclass(frozen=True)
class _Order:
    id: int
    state: OrderState


@dataclass(frozen=True)
class _Floor:
    """What the simulator sees before one move: the active orders, the bays
    that take repair work, the technicians, the shop's time zone."""

    shop_id: int
    now: datetime
    timezone: ZoneInfo
    orders: tuple[_Order, ...]
    bays: tuple[tuple[str, str, int], ...]  # (code, kind, capacity)
    technicians: tuple[int, ...]

    def free_bays(self) -> list[tuple[str, str]]:
        """Bays with room for one more car, as the services count it: the
        simulator never tries a dispatch that would be refused as a double
        booking."""
        standing = Counter(o.state.bay for o in self.orders if holds_bay(o.state))
        return [(code, kind) for code, kind, capacity in self.bays if standing[code] < capacity]

    def free_technicians(self) -> list[int]:
        """Nobody on a job that is still theirs: a paused job keeps its people,
        since they resume it (and the labour clock allows one job each)."""
        busy = {t for o in self.orders if o.state.stage in _OCCUPYING for t in o.state.technicians}
        return [t for t in self.technicians if t not in busy]

    def age_weight(self, state: OrderState) -> float:
        entered = state.stage_entered_at or state.updated_at
        minutes = max((self.now - entered).total_seconds() / 60, 0.0)
        return 1.0 + 2.0 * min(minutes, AGE_CAP_MINUTES) / AGE_CAP_MINUTES


@dataclass(frozen=True)
class _Move:
    weight: float
    description: str
    perform: Callable[[], object]


class Simulator:
    """Moves the demo shop's cars through the flow, one realistic move per step."""

    def __init__(
        self,
        core: Core,
        sleep: Callable[[float], object],
        *,
        rng_seed: int | None = None,
        pace_seconds: float = 4.0,
    ) -> None:
        self._core = core
        self._sleep = sleep
        self._rng = random.Random(rng_seed)
        self._pace = pace_seconds
        self._shop_id: int | None = None

    def run(self) -> None:
        """Step forever at a watchable pace (a background task). Only ``sleep``
        ends it, by raising; any other failure is logged and retried later."""
        logger.info("demo simulator: moving a car about every %.1f s", self._pace)
        while True:
            pause = self._pace * self._rng.uniform(0.5, 1.5)
            try:
                self.step()
            except Exception:
                logger.exception("demo simulator: step failed; retrying")
                pause += FAILURE_BACKOFF
            self._sleep(pause)

    def step(self) -> str | None:
        """Make one move; its description, or ``None`` when nothing moved."""
        floor = self._floor()
        if floor is None:
            return None
        moves = self._moves(floor)
        if not moves:
            return None
        move = self._rng.choices(moves, weights=[m.weight for m in moves])[0]
        try:
            move.perform()
        except errors.DomainError as refused:
            logger.debug("demo move skipped (%s): %s", refused.code, move.description)
            return None
        logger.debug("demo move: %s", move.description)
        return move.description

    # ------------------------------------------------------------ reading

    def _floor(self) -> _Floor | None:
        with self._core.db.read() as session:
            shop = session.execute(select(Shop).where(Shop.slug == DEMO_SLUG)).scalar()
            if shop is None:
                return None
            rows = session.execute(
                select(RepairOrder)
                .where(RepairOrder.shop_id == shop.id, RepairOrder.stage.in_(ACTIVE))
                .order_by(RepairOrder.id)
            ).scalars()
            active = tuple(_Order(row.id, state_from_row(row)) for row in rows)
            bays = session.execute(
                select(Bay.code, Bay.kind, Bay.capacity)
                .where(Bay.shop_id == shop.id, Bay.active, Bay.kind.in_(WORK_BAY_KINDS))
                .order_by(Bay.code)
            ).all()
            technicians = technician_ids(session, shop.id)
            shop_id, timezone = shop.id, ZoneInfo(shop.timezone)
        self._shop_id = shop_id
        return _Floor(
            shop_id=shop_id,
            now=self._core.now(),
            timezone=timezone,
            orders=active,
            bays=tuple((code, kind, capacity) for code, kind, capacity in bays),
            technicians=tuple(technicians),
        )

    # ------------------------------------------------------------ choosing

    def _moves(self, floor: _Floor) -> list[_Move]:
        moves: list[_Move] = []
        for order in floor.orders:
            moves.extend(self._order_moves(floor, order))
        arrival = self._arrival(floor, sum(m.weight for m in moves))
        if arrival is not None:
            moves.append(arrival)
        return moves

    def _order_moves(self, floor: _Floor, order: _Order) -> list[_Move]:
        state = order.state
        age = floor.age_weight(state)
        closing_allowed = len(floor.orders) > MIN_ACTIVE
        candidates: list[tuple[float, str, Callable[[], object]]] = []
        stage = state.stage
        if stage == Stage.BOOKED:
            candidates.append((0.6, "arrived for the booking", self._to(order, Stage.CHECKED_IN)))
            if closing_allowed:
                candidates.append((0.03, "booking cancelled", self._cancel(order)))
        elif stage == Stage.CHECKED_IN:
            dispatch = self._dispatch(floor, order)
            if dispatch is not None:
                weight = 3.0 if state.priority == "vip" else 1.5
                candidates.append((weight, dispatch[0], dispatch[1]))
            if closing_allowed:
                candidates.append((0.02, "cancelled at reception", self._cancel(order)))
        elif stage == Stage.DISPATCHED:
            candidates.append((1.5, "work started", self._to(order, Stage.IN_PROGRESS)))
        elif stage == Stage.IN_PROGRESS:
            candidates.extend(self._repair_moves(order))
        elif stage == Stage.PAUSED:
            candidates.extend(self._paused_moves(order))
        elif stage == Stage.QUALITY_CHECK:
            candidates.extend(self._check_moves(floor, order))
        elif stage == Stage.WASHING:
            candidates.append((1.2, "wash done", self._to(order, Stage.READY)))
        elif stage == Stage.READY and closing_allowed:
            candidates.append((0.8, "handed over", self._to(order, Stage.DELIVERED)))
        return [
            _Move(weight * age, f"{state.plate} #{state.number}: {text}", perform)
            for weight, text, perform in candidates
        ]

    def _repair_moves(self, order: _Order) -> list[tuple[float, str, Callable[[], object]]]:
        rng = self._rng
        moves: list[tuple[float, str, Callable[[], object]]] = [
            (1.0, "repair finished, to inspection", self._to(order, Stage.QUALITY_CHECK)),
            (
                0.08,
                "paused: waiting for parts",
                self._to(order, Stage.PAUSED, rng.choice(PARTS_WAITS), PauseReason.PARTS),
            ),
            (
                0.05,
                "paused",
                self._to(order, Stage.PAUSED, rng.choice(OTHER_PAUSES), PauseReason.OTHER),
            ),
        ]
        # One round of extra work per order is plenty for a demo.
        if not order.state.quotes:
            moves.append((0.15, "extra work found, customer asked", self._quote(order)))
        return moves

    def _paused_moves(self, order: _Order) -> list[tuple[float, str, Callable[[], object]]]:
        """What a paused car waits for settles one thing at a time (the
        customer's answer, the parts counter); when nothing is left, its
        technician resumes the work."""
        state = order.state
        if state.pending_quotes:
            approved = self._rng.random() < 0.8
            quote = state.pending_quotes[0]
            text = "customer approved the extra work" if approved else "customer declined"
            return [(0.8, text, self._decide(order, quote.id, quote.version, approved))]
        waiting = [p for p in state.parts if p.open]
        if waiting:
            part = waiting[0]
            if part.status == "requested":
                eta = self._core.now() + timedelta(minutes=self._rng.uniform(30, 120))
                return [(0.8, "parts ordered", self._parts(order, part.id, "ordered", eta))]
            return [(0.6, "parts arrived", self._parts(order, part.id, "arrived", None))]
        return [(0.8, "work resumed", self._to(order, Stage.IN_PROGRESS))]

    def _parts(
        self, order: _Order, part_id: int, status: str, eta: datetime | None
    ) -> Callable[[], object]:
        return lambda: orders.change_parts_status(
            self._core, self._request(), order.id, part_id=part_id, status=status, eta=eta
        )

    def _check_moves(
        self, floor: _Floor, order: _Order
    ) -> list[tuple[float, str, Callable[[], object]]]:
        state = order.state
        level = state.check_level or CheckLevel.TEAM_LEAD
        moves: list[tuple[float, str, Callable[[], object]]] = [
            (1.5, f"{level.value} check passed", self._pass(order))
        ]
        # A job fails inspection at most once, so every car gets out eventually,
        # and only while its technicians are free to take it back.
        free = set(floor.free_technicians())
        if state.rework_count == 0 and free.issuperset(state.technicians):
            reason = self._rng.choice(CHECK_FAILURES)
            moves.append(
                (0.12, f"{level.value} check failed", self._to(order, Stage.IN_PROGRESS, reason))
            )
        return moves

    def _arrival(self, floor: _Floor, others: float) -> _Move | None:
        """A new car, weighted against everything else so that arrivals balance
        handovers around the target size of the shop."""
        count = len(floor.orders)
        if count >= MAX_ACTIVE:
            return None
        if count < MIN_ACTIVE + 3:
            share = 0.3
        elif count < TARGET_ACTIVE:
            share = 0.14
        else:
            share = 0.07
        booked = self._rng.random() < 0.15
        car = random_car(self._rng, {o.state.plate for o in floor.orders})
        text = "booked an appointment" if booked else "new car at reception"
        return _Move(
            max(others, 1.0) * share,
            f"{car.plate}: {text} ({car.job.complaint})",
            lambda: self._open(floor, car, booked),
        )

    # ------------------------------------------------------------ commands

    def _shop(self) -> int:
        if self._shop_id is None:  # pragma: no cover - moves exist only after _floor
            raise RuntimeError("the demo shop was not read yet")
        return self._shop_id

    def _request(self) -> CommandRequest:
        return demo_request(self._shop())

    def _to(
        self,
        order: _Order,
        to: Stage,
        reason: str = "",
        pause_reason: PauseReason | None = None,
    ) -> Callable[[], object]:
        def perform() -> object:
            # Work starts and resumes by the technician's own tap (their
            # clock starts); a car sent back from inspection waits for them.
            working = to == Stage.IN_PROGRESS and not reason
            return (work_tap if working else orders.transition_order)(
                self._core,
                self._request(),
                order.id,
                to=to,
                version=order.state.version,
                reason=reason,
                pause_reason=pause_reason,
            )

        return perform

    def _cancel(self, order: _Order) -> Callable[[], object]:
        return self._to(order, Stage.CANCELLED, self._rng.choice(CANCEL_REASONS))

    def _pass(self, order: _Order) -> Callable[[], object]:
        return lambda: orders.pass_check(
            self._core, self._request(), order.id, version=order.state.version
        )

    def _quote(self, order: _Order) -> Callable[[], object]:
        extra = self._rng.choice(EXTRA_WORK)
        return lambda: orders.quote_extra_work(
            self._core,
            self._request(),
            order.id,
            QuoteTerms(extra.description, extra.labour_hours, extra.price_cents),
            version=order.state.version,
        )

    def _decide(
        self, order: _Order, quote_id: int, quote_version: int, approved: bool
    ) -> Callable[[], object]:
        channel = self._rng.choice(("phone", "customer_page"))
        return lambda: orders.decide_extra_work(
            self._core,
            self._request(),
            order.id,
            quote_id=quote_id,
            approved=approved,
            quote_version=quote_version,
            channel=channel,
        )

    def _dispatch(self, floor: _Floor, order: _Order) -> tuple[str, Callable[[], object]] | None:
        """Foreman's pick: a quick bay for a short job when one is free, two
        technicians on a long job when two are free."""
        bays = floor.free_bays()
        crew = floor.free_technicians()
        if not bays or not crew:
            return None
        hours = order.state.total_labour_hours
        preferred = "quick" if hours <= QUICK_JOB_HOURS else "general"
        fitting = [code for code, kind in bays if kind == preferred]
        bay = self._rng.choice(fitting or [code for code, _ in bays])
        wanted = 2 if hours >= 3 and len(crew) >= 2 else 1
        technicians = self._rng.sample(crew, wanted)

        def perform() -> object:
            return orders.assign_order(
                self._core,
                self._request(),
                order.id,
                bay=bay,
                technicians=technicians,
                version=order.state.version,
            )

        return f"dispatched to {bay}", perform

    def _open(self, floor: _Floor, car: NewCar, booked: bool) -> object:
        """Reception opens an order; the promised time follows the shop's load."""
        backlog = sum(
            o.state.total_labour_hours
            for o in floor.orders
            if o.state.stage in (Stage.CHECKED_IN, Stage.DISPATCHED)
        )
        if booked:
            start = floor.now + timedelta(hours=self._rng.uniform(1, 20))
            promised = suggest_promised_at(
                start, car.job.hours, backlog, max(len(floor.technicians), 1)
            )
        else:
            # What the desk offers: the shop-load engine's promise (its hours,
            # its queue, never inside closed time).
            offered = shop_load.suggest_promise(
                self._core,
                floor.shop_id,
                min(car.job.hours, shop_load.MAX_LABOUR_HOURS),
                waiting=car.waiting,
            )
            promised = datetime.fromisoformat(offered["promised_at"])
        return open_order(
            self._core,
            self._request(),
            car,
            promised_at=promised.astimezone(floor.timezone),
            booked=booked,
        )
