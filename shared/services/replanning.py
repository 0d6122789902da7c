"""Re-planning a shop: the shop-load engine run off the request path.

After a committed change the shop is marked; a background task of the
server process plans each marked shop at most once a second, once the burst
of changes has settled, and every shop at least once a minute (the clock
alone makes a job overrun or a promise slip). Planning reads the shop; only
when an order's estimate moved past the threshold, or the verdict on its
promise changed, does it issue one command for those orders (the shop's plan
clock as the actor). So a quiet shop costs a read a minute and no screen is
sent anything, and a command's own transaction never waits for the planner.

Bad news at once, good news once it holds (``ImprovementHold``): a later
estimate, or any change of the verdict on the promise, is recorded at the
plan that finds it; an earlier estimate with the same verdict only when the
plans have kept finding it for ``HOLD_SECONDS``. A car paused for parts
frees its technician, and every car behind it looks earlier until it
resumes; without the hold each such pause and resume sent every screen two
revisions of every car queued behind it, and a customer saw the time jump
forward and back.

Where ``serve`` starts its worker process (the reports' one,
``shared.services.report_process``; ``BAYLIGHT_REPORT_WORKER_AT_START``, on
by default), the plans are computed there: the reads and the engine's
Python of every due shop in one job (``plans_of``), in another process at a
low priority, so none of it takes the GIL or the core from the server
publishing the screens' changes; the server only records what is news.
Without that worker (the tests' short-lived servers, a testing app) the
server plans itself, on a real thread with short GIL turns.

Two server processes may both plan a shop: the command re-checks each order
inside the locked transaction, so the second finds nothing to record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from shared.domain import errors, planner
from shared.domain import promise as rules
from shared.domain.order import Actor, OrderState
from shared.domain.stages import Role
from shared.persistence.models import Shop
from shared.persistence.off_hub import run_off_hub_briefly
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core
from shared.services.report_process import ReportUnavailable, ReportWorker
from shared.services.rows import state_from_row
from shared.services.shop_load import ShopLoad, load_in, load_of, plan_of

log = logging.getLogger(__name__)

# Who records the engine's revisions: the shop's plan clock, not a person.
PLAN_CLOCK = Actor(name="plan clock", roles=frozenset({Role.SYSTEM}), ref="system:plan")
# A marked shop is planned once no change came for SETTLE seconds, and at
# most once per MIN_INTERVAL; every shop at least once per EVERY.
SETTLE_SECONDS = 0.2
MIN_INTERVAL_SECONDS = 1.0
EVERY_SECONDS = 60.0
POLL_SECONDS = 0.1
# An earlier estimate (same verdict) is recorded once the plans have found
# it for this long (``ImprovementHold``).
HOLD_SECONDS = 30.0
# Orders revised per command (``replan_shop``).
REVISE_CHUNK = 4


@dataclass(frozen=True)
class Revision:
    """The engine's answer for one order, as the command records it."""

    order_id: int
    eta: datetime
    risk: str
    cause: str
    # Good news only: the engine's estimate recorded before, this one no
    # later, the verdict the same (``ImprovementHold`` waits for it).
    better: bool = False


def revisions(load: ShopLoad, plan: planner.Plan) -> list[Revision]:
    """The orders whose estimate or verdict is news (``promise.revise_eta``)."""
    found = []
    for order_id, forecast in sorted(plan.forecasts.items()):
        state = load.states.get(order_id)
        if state is None:
            continue
        revision = _revision(order_id, state, forecast, load.now)
        if rules.revise_eta(
            state, eta=revision.eta, risk=revision.risk, cause=revision.cause, now=load.now
        ):
            found.append(revision)
    return found


def _revision(
    order_id: int, state: OrderState, forecast: planner.Forecast, now: datetime
) -> Revision:
    risk = "late" if forecast.late else "at_risk" if forecast.at_risk else ""
    cause = rules.risk_cause(state, now) if risk else ""
    return Revision(order_id, forecast.eta, risk, cause, _better(state, forecast.eta, risk, cause))


def _better(state: OrderState, eta: datetime, risk: str, cause: str) -> bool:
    """Whether a revision only moves the engine's estimate earlier: one was
    shown already, the new one is no later, and the verdict on the promise
    is the same, cause and all. A verdict that changes is news at once
    either way: an advisor who has just set a new promised time sees the
    desk's alert go at the next plan."""
    if not state.eta_planned or state.eta is None or eta > state.eta:
        return False
    return risk == state.risk and (not risk or cause == state.risk_cause)


class ImprovementHold:
    """Which revisions to record now: every one but good news, and good
    news once the plans have kept finding it for ``HOLD_SECONDS`` (the
    module's docstring says why). Held per shop and order, in this process:
    a plan that no longer finds an order's good news forgets it, so an
    estimate that moves earlier and back within the hold is never shown."""

    def __init__(self, hold_seconds: float = HOLD_SECONDS) -> None:
        self.hold_seconds = hold_seconds
        self._since: dict[int, dict[int, float]] = {}  # shop → order → first found

    def now_due(self, shop_id: int, found: Sequence[Revision], now: float) -> list[Revision]:
        """The revisions of this plan of ``shop_id`` to record at ``now``."""
        held = self._since.get(shop_id, {})
        kept: dict[int, float] = {}
        due = []
        for revision in found:
            if not revision.better:
                due.append(revision)
                continue
            since = held.get(revision.order_id, now)
            if now - since >= self.hold_seconds:
                due.append(revision)
            else:
                kept[revision.order_id] = since
        if kept:
            self._since[shop_id] = kept
        else:
            self._since.pop(shop_id, None)
        return due

    def recheck_at(self, shop_id: int) -> float | None:
        """When this shop's first held good news will have held long enough."""
        held = self._since.get(shop_id)
        return min(held.values()) + self.hold_seconds if held else None


def record_revisions(core: Core, shop_id: int, found: Sequence[Revision]) -> Outcome:
    """One command for every order the engine revised; each is checked again
    under the shop's lock (a change since the plan may have made it moot)."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        recorded = []
        for revision in found:
            try:
                row = tx.load_order(revision.order_id)
            except errors.NotFound:
                continue
            before = state_from_row(row)
            events = rules.revise_eta(
                before,
                eta=revision.eta,
                risk=revision.risk,
                cause=revision.cause,
                now=tx.now,
            )
            if events:
                tx.record(row, before, events)
                recorded.append(revision.order_id)
        return 200, {"revised": recorded}

    return execute(core, CommandRequest(PLAN_CLOCK, shop_id), "revise_eta", work)


def planned_revisions(core: Core, shop_id: int) -> list[Revision]:
    """The shop's plan and the revisions it brings, computed in this process:
    the shop read here, then the planning (pure Python, tens of milliseconds
    for a busy shop, which on the hub would hold every screen's publish that
    long) on a real thread with short GIL turns. Only the pure part goes
    there: the reads take the database pool's locks, which under eventlet
    or gevent are green locks, and a green lock waited on from a real thread
    cannot be woken ("Cannot switch to a different thread"): the server
    stalled. Where ``serve`` started its worker process, ``Replanner`` asks
    the worker instead (``plans_of``)."""
    load = load_of(core, shop_id)
    return run_off_hub_briefly(lambda: revisions(load, plan_of(load)))


def plans_of(core: Core, shop_ids: Sequence[int]) -> dict[int, list[Revision] | None]:
    """Each shop's revisions, read and planned where this runs: the job the
    server's worker process is given (``Replanner`` with a worker), one for
    every shop due in a round. A shop whose plan fails is None (logged
    there) and spoils no other's."""
    found: dict[int, list[Revision] | None] = {}
    with core.db.read() as session:
        for shop_id in shop_ids:
            try:
                load = load_in(session, shop_id, core.now())
                found[shop_id] = revisions(load, plan_of(load))
            except Exception:
                log.warning("planning shop %s failed", shop_id, exc_info=True)
                found[shop_id] = None
                # A failed statement must not spoil the next shop's reads
                # (PostgreSQL refuses every statement after it until then).
                session.rollback()
    return found


def replan_shop(
    core: Core,
    shop_id: int,
    between: Callable[[], object] = lambda: None,
    found: Sequence[Revision] | None = None,
) -> list[int]:
    """Plan one shop now (or take ``found``, its plan made elsewhere); the
    orders whose revision was recorded. The
    revisions are recorded ``REVISE_CHUNK`` orders per command, ``between()``
    called between two (the background task lets the hub serve there): a
    plan that moves every estimate of a busy shop (after a restart, a
    technician gone home) is otherwise one command of a hundred orders and
    their emits, every screen's change waiting behind it."""
    if found is None:
        found = planned_revisions(core, shop_id)
    recorded: list[int] = []
    for start in range(0, len(found), REVISE_CHUNK):
        if start:
            between()
        outcome = record_revisions(core, shop_id, found[start : start + REVISE_CHUNK])
        recorded += outcome.body.get("revised", [])
    return recorded


def shop_ids(core: Core) -> list[int]:
    with core.db.read() as session:
        return list(session.execute(select(Shop.id).order_by(Shop.id)).scalars())


class Replanner:
    """The per-process background planner (``run``), fed by ``mark``;
    ``worker``: the process that computes the plans (else this one does)."""

    def __init__(
        self,
        core: Core,
        sleep: Callable[[float], object],
        monotonic: Callable[[], float] = time.monotonic,
        worker: ReportWorker | None = None,
    ) -> None:
        self.core = core
        self.sleep = sleep
        self.monotonic = monotonic
        self.worker = worker
        self._lock = threading.Lock()
        self._marked: dict[int, float] = {}  # shop → last mark
        self._planned: dict[int, float] = {}  # shop → last plan
        self._last_round = monotonic()
        self.hold = ImprovementHold()

    def mark(self, shop_id: int, actor: Actor) -> None:
        """A change was committed in this shop (the plan clock's own
        revisions do not ask for another plan)."""
        if actor.ref == PLAN_CLOCK.ref:
            return
        with self._lock:
            self._marked[shop_id] = self.monotonic()

    def due(self) -> list[int]:
        """The shops to plan now, taken off the marks (and counted as planned)."""
        now = self.monotonic()
        with self._lock:
            if now - self._last_round >= EVERY_SECONDS:
                self._last_round = now
                self._marked.clear()
                return shop_ids(self.core)
            ready = [
                shop
                for shop, marked in self._marked.items()
                if now - marked >= SETTLE_SECONDS
                and now - self._planned.get(shop, -MIN_INTERVAL_SECONDS) >= MIN_INTERVAL_SECONDS
            ]
            for shop in ready:
                del self._marked[shop]
                self._planned[shop] = now
            return sorted(ready)

    def _mark_at(self, shop_id: int, moment: float) -> None:
        """Plan ``shop_id`` again once ``moment`` has come (a mark that
        settles then), unless a change marks it sooner."""
        with self._lock:
            marked = self._marked.get(shop_id)
            at = moment - SETTLE_SECONDS
            if marked is None or marked > at:
                self._marked[shop_id] = at

    def _mark_again(self, shop_ids: Sequence[int]) -> None:
        """Shops whose plan did not come: planned at a later round."""
        with self._lock:
            for shop_id in shop_ids:
                self._marked.setdefault(shop_id, self.monotonic())

    def _planned_in_worker(self, worker: ReportWorker, shop_ids: Sequence[int]) -> dict[int, Any]:
        try:
            return worker.run(plans_of, self.core.now(), shop_ids)
        except ReportUnavailable:
            log.warning("the worker could not plan %s shop(s) in time", len(shop_ids))
            self._mark_again(shop_ids)
            return {}

    def plan(self, shop_ids: Sequence[int]) -> dict[int, list[int]]:
        """One round: plan these shops (in the worker when there is one) and
        record what is news, one shop at a time (between two, the hub serves
        whatever waits: a change's emits, a screen's resync), so fifty busy
        shops never hold it for fifty plans at once. The orders revised, per
        shop planned; a shop whose plan failed is left out (logged) and
        planned again at its next change or the minute's round; shops the
        worker could not plan in time are marked again."""
        planned = None if self.worker is None else self._planned_in_worker(self.worker, shop_ids)
        recorded: dict[int, list[int]] = {}
        for shop_id in shop_ids:
            try:
                if planned is None:
                    found = planned_revisions(self.core, shop_id)
                else:
                    answer = planned.get(shop_id)
                    if answer is None:  # failed there (logged there), or no answer
                        continue
                    found = answer
                due = self.hold.now_due(shop_id, found, self.monotonic())
                recheck = self.hold.recheck_at(shop_id)
                if recheck is not None:
                    self._mark_at(shop_id, recheck)
                recorded[shop_id] = replan_shop(
                    self.core, shop_id, between=lambda: self.sleep(0), found=due
                )
            except Exception:
                log.warning("re-planning shop %s failed", shop_id, exc_info=True)
            self.sleep(0)
        return recorded

    def run(self) -> None:
        """The background task (``socketio.sleep`` as ``sleep``, so it
        cooperates in every async mode). A failing plan is logged and the
        shop planned again at the next round. Off (``BAYLIGHT_REPLANNING=off``):
        returns at once, and ETAs move only with their own order's commands."""
        if not self.core.settings.replanning:
            log.info("re-planning is off (BAYLIGHT_REPLANNING=off)")
            return
        while True:
            self.sleep(POLL_SECONDS)
            due = self.due()
            if due:
                self.plan(due)
