"""The reports' facts refresher with the server's worker process (as ``serve``
runs it): the worker reads each shop's due facts, exactly what the server
would read, the server stores them, and a worker that cannot answer costs a
round, never a wrong or half-stored fact."""

from __future__ import annotations

import os
import signal
from typing import Any

from shared.services import report_cache, report_process, reports
from shared.services.core import Core
from tests.conftest import HandClock
from tests.services.report_flows import Flow, Shopfloor
from tests.services.test_reports import (
    DAY,
    another_shop_beside,
    clock,
    floor,
    same_everywhere,
    stored,
)

__all__ = ["clock", "floor"]  # the fixtures, used by name


def test_the_worker_reads_the_facts_and_the_server_stores_them(
    core: Core, shop: Any, floor: Shopfloor, client: Any, clock: HandClock
) -> None:
    other = another_shop_beside(core, client, floor, clock)
    shops = [shop.shop_id, other.shop_id]
    worker = report_process.ReportWorker(core.settings, lowered=False)
    slept: list[float] = []
    refresher = reports.FactsRefresher(core, slept.append, worker=worker)
    try:
        # What the worker reads is what this process would read.
        there = worker.run(report_cache.pending_of, core.now(), shops, report_cache.REFRESH_BATCH)
        here = report_cache.pending_of(core, shops, report_cache.REFRESH_BATCH)
        assert there == here and len(here) == 2
        assert worker.pid() not in (None, os.getpid())

        # A round: read there (no pacing of reads here), stored here.
        assert refresher.round(spread=1.0) == 2
        assert slept == []
        assert stored(core) == 2
        for shop_id in shops:
            same_everywhere(core, shop_id, DAY, DAY, None)
        assert refresher.round() == 0

        # The worker cannot answer in time: the round stores nothing and
        # moves no mark; the next round's worker (a new one) stores the car.
        floor.run(Flow())
        pid = worker.pid()
        assert pid is not None
        patience, worker.timeout_s = worker.timeout_s, 1.0
        os.kill(pid, signal.SIGSTOP)
        assert refresher.round() == 0
        assert stored(core) == 2
        worker.timeout_s = patience
        assert refresher.round() == 1
        assert worker.starts == 2
        assert stored(core) == 3
        same_everywhere(core, shop.shop_id, DAY, DAY, None)
    finally:
        worker.close()
