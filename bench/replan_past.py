"""The busy dealer beside a shop with a past: what re-planning costs a
change's publish when the engine plans as it does in a real shop.

bench/run.py's ``replan`` scenario seeds fifty fresh shops with one order
each: they have no earlier days, so the engine plans them with the
last-hour rule and never runs the five-day outlooks, the labour and job
factors of the shop's past, or a plan of many active orders. This scenario
(``replan_past``) adds one shop that has all of that: bench/reports_data.py's
busy shop (96 technicians, about 300 cars a day) over its last
``PAST_DAYS`` days, made through the real commands and copied (its orders
still open today keep their running clocks), so each re-plan of it reads
its history and plans its active orders. The driver changes
``BUSY_ORDERS`` of its in-progress orders beside the fifty shops' orders
(100 changes/s in all), so the busy shop is re-planned after every burst.
Latency is measured on the fifty shops' screens only: the engine's own
revisions of the busy shop's estimates are order messages too, and would
be taken for the driver's changes by the load client's matching.

Product: the re-planning as shipped; floor: ``BAYLIGHT_REPLANNING=off``,
on a copy of the same database. The difference in a change's publish p99
(and in the server's CPU) is what the engine adds.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bench import reports_data as rd
from bench.beside import busy_core
from bench.driver import Job
from bench.servers import SERVER_CORE, start_product
from bench.shops import busy_dealer, first_estimates, open_orders, seed

if TYPE_CHECKING:
    from bench.run import Bench

Round = dict[str, Any]
PAST_DAYS = 7
BUSY_ORDERS = 10
SPEC = rd.Spec(days=PAST_DAYS, per_day=300, templates=160, seed=16)


def busy_shop(database_url: str, bench: Bench, shop_id: int) -> tuple[list[Job], int]:
    """Up to ``BUSY_ORDERS`` of the busy shop's in-progress orders as driver
    jobs (a foreman's token; the server's URL filled in later) and how many
    orders it has open."""
    from sqlalchemy import func, select

    from shared.persistence.models import RepairOrder
    from shared.services.auth import create_api_token

    core = rd.offline_core(database_url, bench.work)
    try:
        with core.db.read() as session:
            rows = session.execute(
                select(RepairOrder.id, RepairOrder.version)
                .where(RepairOrder.shop_id == shop_id, RepairOrder.stage == "in_progress")
                .order_by(RepairOrder.id)
                .limit(BUSY_ORDERS)
            ).all()
            open_count = session.execute(
                select(func.count())
                .select_from(RepairOrder)
                .where(
                    RepairOrder.shop_id == shop_id,
                    RepairOrder.stage.not_in(("delivered", "cancelled", "booked")),
                )
            ).scalar_one()
        driver = create_api_token(core, shop_id=shop_id, role="foreman", name="bench driver")
    finally:
        core.db.dispose()
    jobs = [Job("", driver, int(row.id), int(row.version)) for row in rows]
    return jobs, int(open_count)


def rooms(
    bench: Bench,
    mode: str,
    *,
    replanning: str,
    spec: rd.Spec = SPEC,
    shops_count: int = 50,
    now: datetime | None = None,
    hog: tuple[float, float] | None = None,
) -> Round:
    """One round: the fifty shops and the busy shop with its past, the
    engine ``replanning`` on or off (``spec``, ``shops_count`` and the
    generation's ``now`` other only in the test that keeps this running;
    ``hog``: ``bench.beside.busy_core`` beside it)."""

    source, info = rd.cached_sqlite(spec, bench.work, now=now)
    target = bench.file(f"replan-past-{replanning}-{mode}")
    shutil.copyfile(source, target)
    url_db = f"sqlite:///{target}"
    shops = seed(url_db, bench.work, shops_count, 1, "rooms")
    busy_jobs, open_count = busy_shop(url_db, bench, int(info["shop_id"]))
    if not busy_jobs:
        raise RuntimeError("the busy shop has no order in progress to change")
    server = start_product(bench.env(url_db, mode, replanning=replanning), SERVER_CORE)
    try:
        for shop in shops:
            open_orders(server.url, shop, 1)
        if replanning == "on":
            first_estimates(server.url, shops)
        for job in busy_jobs:
            job.url = server.url
        groups, jobs = busy_dealer(shops, server.port, server.url)
        with busy_core(hog):
            outcome: Round = bench._rooms_round(server, groups, jobs + busy_jobs)
    finally:
        server.stop()
    outcome["detail"]["busy_shop"] = {
        "past_days": spec.days,
        "per_day": spec.per_day,
        "open_orders": open_count,
        "driven_orders": len(busy_jobs),
        "replanning": replanning,
    }
    return outcome
