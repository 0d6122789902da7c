"""Shop plans computed in the server's worker process (the reports' one,
shared/services/report_process.py), as ``serve`` does when it starts that
worker: the worker plans exactly what the server would, the server records
it, a worker killed between two rounds is replaced, and one shop whose plan
fails spoils no other's."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from typing import Any

from shared.services import replanning, report_process
from shared.services.core import Core
from tests.conftest import HandClock
from tests.services.test_honest_time import START, clock, open_order, revisions

__all__ = ["clock"]  # the fixture, used by name


def _dead(worker: report_process.ReportWorker, within: float = 10.0) -> bool:
    """The worker's process has ended (``pid()`` asks the process, which
    reaps a killed child; a signal probe would still find its zombie)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if worker.pid() is None:
            return True
        time.sleep(0.05)
    return False


def test_the_worker_plans_what_the_server_would_and_a_dead_one_is_replaced(
    core: Core, shop: Any, clock: HandClock
) -> None:
    """One worker for the whole story (each start is a new interpreter's
    imports): the worker's plan equals the server's own; the
    re-planner records it; a worker killed between two rounds is replaced."""
    # Three hours of work promised in one: the plan has news for this order.
    order = open_order(core, shop, hours=3, promised=START + timedelta(hours=1))
    here = replanning.planned_revisions(core, shop.shop_id)
    assert [revision.order_id for revision in here] == [order["id"]]
    # The plans, not the priority (tests/test_report_process.py checks that
    # on real servers): an idle-class worker waits its turn beside the suite.
    worker = report_process.ReportWorker(core.settings, lowered=False)
    replanner = replanning.Replanner(core, lambda _seconds: None, worker=worker)
    try:
        there = worker.run(replanning.plans_of, core.now(), [shop.shop_id])
        assert there == {shop.shop_id: here}
        assert worker.pid() not in (None, os.getpid())

        assert replanner.plan([shop.shop_id]) == {shop.shop_id: [order["id"]]}
        assert worker.starts == 1
        [alert] = revisions(core, order["id"])
        assert alert["risk"] in ("at_risk", "late")
        # Nothing is news a moment later: the worker's plan records nothing.
        assert replanner.plan([shop.shop_id]) == {shop.shop_id: []}

        # The worker dies between two rounds; the work moves on a lot (the
        # car is now hours late): the next round starts another worker.
        pid = worker.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert _dead(worker)
        clock.advance(hours=3)
        assert replanner.plan([shop.shop_id]) == {shop.shop_id: [order["id"]]}
        assert worker.starts == 2
        assert revisions(core, order["id"])[-1]["risk"] == "late"
    finally:
        worker.close()


def test_a_shop_whose_plan_fails_spoils_no_other(core: Core, shop: Any, clock: HandClock) -> None:
    order = open_order(core, shop, hours=3, promised=START + timedelta(hours=1))
    missing = shop.shop_id + 1000
    found = replanning.plans_of(core, [missing, shop.shop_id])
    assert found[missing] is None
    assert [revision.order_id for revision in found[shop.shop_id] or []] == [order["id"]]
    # The round records the shop that planned and leaves the other for later.
    replanner = replanning.Replanner(core, lambda _seconds: None)
    assert replanner.plan([missing, shop.shop_id]) == {shop.shop_id: [order["id"]]}
