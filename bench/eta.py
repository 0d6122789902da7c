"""How honest the shown times are (issue 13): ``make bench-eta``.

``python -m bench.eta [--days N] [--seed S] [--markdown]`` replays N
simulated shop-days (``bench/eta_sim.py``: 20 technicians, about 150 cars a
day with a morning peak, rework, parts waits, extra work, a third of the
customers in the lounge) and holds every time the product would have shown
against what then really happened, for the shop-load engine
(``shared/domain/planner.py``) and for today's single-order rule
(``shared/domain/eta.py``) on the same cars in the same run:

* the ETA at check-in, at dispatch and when half the car's true work is
  done: median and p90 of the absolute error against the moment the car was
  really ready (and the median signed error: + is an ETA too early);
* the promise at reception (``planner.promise`` vs ``suggest_promised_at``):
  the share of cars ready by it, and how far ahead it was;
* the lounge's range at check-in against the real wait until work started;
* the engine's cost: re-planning a shop of 80 active orders and 40
  technicians, median of alternating rounds (engine, then the old rule over
  the same orders), every round kept (the method of ``bench/method.py``).

Results go to bench/results/eta-<timestamp>.json; ``--markdown`` also prints
the tables docs/PERFORMANCE.md shows. The goals are the issue's; the load
was fixed before any result was seen (``eta_sim.Load``). ``--no-cost``
leaves the cost section out (the accuracy figures do not depend on the
machine's load; the cost figure does).

``--seeds 13,14,15 [--jobs 2]`` runs each seed (no cost section), prints
each seed's three accuracy figures and those of all their cars pooled, and
writes bench/results/eta-seeds-<timestamp>.json (each seed's full report,
and the pooled figures and goals): a result that holds on one seed only is
not a result.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bench import eta_sim
from bench.eta_sim import Estimate, OrderRecord
from shared.domain import planner
from shared.domain.eta import estimate_eta
from shared.domain.shop_calendar import ShopCalendar

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DAYS = 20
DEFAULT_SEED = 13
POINTS = ("checkin", "dispatch", "half")
POINT_LABELS = {"checkin": "at check-in", "dispatch": "at dispatch", "half": "at 50 % of the work"}
# The issue's goals.
GOAL_CHECKIN_MEDIAN = 30.0
GOAL_HALF_MEDIAN = 10.0
GOAL_LOUNGE_SHARE = 0.80
GOAL_REPLAN_MS = 20.0
# Engine cost: the shop, the calls per round, the rounds per side.
COST_ORDERS = 80
COST_TECHNICIANS = 40
COST_CALLS = 30
COST_ROUNDS = 7
# The cost shop is stopped on this day: the days before are its past.
COST_DAYS = planner.OUTLOOK_HISTORY_DAYS + 1


# ---------------------------------------------------------------- figures


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of them at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60


def error_figures(
    pairs: Iterable[tuple[datetime, datetime]], calendar: ShopCalendar | None = None
) -> dict[str, Any]:
    """(estimate, truth) pairs: count, median and p90 of the absolute error
    in wall minutes (what the customer lives), and the median signed error
    (truth − estimate: + means the car was ready later than said). With a
    calendar, the same in working minutes too (an ETA of 17:55 for a car
    ready at 08:40 the next morning is 15 working minutes off, 885 wall)."""
    pairs = list(pairs)
    signed = [minutes(truth, estimate) for estimate, truth in pairs]
    if not signed:
        empty: dict[str, Any] = {"n": 0, "median_abs": None, "p90_abs": None}
        empty["median_signed"] = None
        if calendar is not None:
            empty["median_abs_working"] = empty["p90_abs_working"] = None
        return empty
    absolute = [abs(v) for v in signed]
    out: dict[str, Any] = {
        "n": len(signed),
        "median_abs": round(statistics.median(absolute), 1),
        "p90_abs": round(quantile(absolute, 0.9), 1),
        "median_signed": round(statistics.median(signed), 1),
    }
    if calendar is not None:
        working = [
            calendar.working_minutes(min(estimate, truth), max(estimate, truth))
            for estimate, truth in pairs
        ]
        out["median_abs_working"] = round(statistics.median(working), 1)
        out["p90_abs_working"] = round(quantile(working, 0.9), 1)
    return out


def _estimate(record: OrderRecord, point: str) -> Estimate | None:
    found: Estimate | None = getattr(record, f"at_{point}")
    return found


def eta_figures(
    records: Sequence[OrderRecord], calendar: ShopCalendar | None = None
) -> dict[str, Any]:
    """Per point, the engine's and the old rule's errors against the ready time."""
    out: dict[str, Any] = {}
    for point in POINTS:
        engine: list[tuple[datetime, datetime]] = []
        old: list[tuple[datetime, datetime]] = []
        for record in records:
            estimate = _estimate(record, point)
            if estimate is None or record.ready_at is None:
                continue
            engine.append((estimate.engine, record.ready_at))
            if estimate.old is not None:
                old.append((estimate.old, record.ready_at))
        out[point] = {
            "engine": error_figures(engine, calendar),
            "old": error_figures(old, calendar),
        }
    return out


def promise_figures(
    records: Sequence[OrderRecord], calendar: ShopCalendar | None = None
) -> dict[str, Any]:
    """The share of cars ready by their promise (lounge and drop-off apart),
    and the promise's lead (minutes from check-in: a far promise is easy to
    keep). With a calendar: how many working minutes later every promise
    would have had to be for 80 % of them to be kept."""
    out: dict[str, Any] = {}
    for side in ("engine", "old"):
        kept: list[bool] = []
        kept_by: dict[bool, list[bool]] = {True: [], False: []}
        lead: list[float] = []
        late: list[float] = []
        short: list[float] = []
        for record in records:
            promised: datetime | None = getattr(record, f"promise_{side}")
            if promised is None or record.ready_at is None:
                continue
            on_time = record.ready_at <= promised
            kept.append(on_time)
            kept_by[record.waiting].append(on_time)
            lead.append(minutes(promised, record.checked_in))
            if not on_time:
                late.append(minutes(record.ready_at, promised))
            if calendar is not None:
                short.append(calendar.working_minutes(promised, record.ready_at))
        figures: dict[str, Any] = {
            "n": len(kept),
            "share_kept": _ratio(kept),
            "share_kept_lounge": _ratio(kept_by[True]),
            "share_kept_drop_off": _ratio(kept_by[False]),
            "median_lead_minutes": round(statistics.median(lead), 1) if lead else None,
            "median_minutes_late_when_missed": round(statistics.median(late), 1) if late else None,
        }
        if calendar is not None:
            figures["working_minutes_later_to_keep_80"] = (
                round(quantile(short, 0.8), 1) if short else None
            )
        out[side] = figures
    return out


def _ratio(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def lounge_figures(records: Sequence[OrderRecord]) -> dict[str, Any]:
    """Lounge customers: was the real wait until work started inside the
    range shown at check-in? A range past the cap shows "after HH:MM" (the
    range is still the engine's, and is judged the same)."""
    inside = early = late = capped = 0
    engine_error: list[float] = []
    old_error: list[float] = []
    for record in records:
        waited = record.waited_minutes()
        if record.lounge_low is None or record.lounge_high is None or waited is None:
            continue
        if record.lounge_after is not None:
            capped += 1
        if waited < record.lounge_low:
            early += 1
        elif waited > record.lounge_high:
            late += 1
        else:
            inside += 1
        engine_error.append(abs(waited - (record.lounge_low + record.lounge_high) / 2))
        if record.lounge_old_minutes is not None:
            old_error.append(abs(waited - record.lounge_old_minutes))
    n = inside + early + late
    return {
        "n": n,
        "share_within": round(inside / n, 3) if n else None,
        "share_started_earlier": round(early / n, 3) if n else None,
        "share_started_later": round(late / n, 3) if n else None,
        "capped": capped,
        "engine_median_abs_error_of_range_middle": (
            round(statistics.median(engine_error), 1) if engine_error else None
        ),
        "old_median_abs_error": round(statistics.median(old_error), 1) if old_error else None,
        "old_share_within_15_minutes": (
            round(sum(e <= 15 for e in old_error) / len(old_error), 3) if old_error else None
        ),
    }


def breakdown(
    records: Sequence[OrderRecord], calendar: ShopCalendar | None = None
) -> dict[str, Any]:
    """The engine's and old rule's errors on slices that say where an error
    comes from (for whoever improves the engine)."""
    slices: dict[str, Callable[[OrderRecord], bool]] = {
        "lounge": lambda r: r.waiting,
        "drop_off": lambda r: not r.waiting,
        "parts_wait": lambda r: r.had_parts,
        "extra_work": lambda r: r.had_extra,
        "rework": lambda r: r.had_rework,
        "plain": lambda r: not (r.had_parts or r.had_extra or r.had_rework),
        "half_worked_counts_a_break": lambda r: r.half_overcount_minutes > 0.5,
        "half_worked_counted_right": lambda r: r.half_overcount_minutes <= 0.5,
        "dispatched_with_own_car_waiting": lambda r: r.dispatched_with_own_car_waiting,
    }
    return {
        name: eta_figures([r for r in records if keep(r)], calendar)
        for name, keep in slices.items()
    }


def load_figures(
    records: Sequence[OrderRecord], days: int, technicians: int, day_minutes: float
) -> dict[str, Any]:
    """What the shop really carried: cars a day, true labour against the
    technicians' hours, the cars left at each day's end."""
    per_day: dict[str, dict[str, Any]] = {}
    for record in records:
        day = per_day.setdefault(
            record.day.isoformat(), {"arrived": 0, "true_labour_hours": 0.0, "carried_over": 0}
        )
        day["arrived"] += 1
        day["true_labour_hours"] += record.true_minutes / 60
        if record.ready_at is not None and record.ready_at.date() > record.day:
            day["carried_over"] += 1
    for day in per_day.values():
        day["true_labour_hours"] = round(day["true_labour_hours"], 1)
    labour = sum(r.true_minutes for r in records) / 60
    capacity = days * technicians * day_minutes / 60
    return {
        "cars": len(records),
        "cars_per_day": round(len(records) / days, 1) if days else None,
        "true_labour_hours": round(labour, 1),
        "technician_hours": round(capacity, 1),
        "utilisation": round(labour / capacity, 3) if capacity else None,
        "ready_after_their_day": sum(d["carried_over"] for d in per_day.values()),
        "shares": {
            "lounge": _share(records, lambda r: r.waiting),
            "parts_wait": _share(records, lambda r: r.had_parts),
            "parts_late": _share(records, lambda r: r.parts_late),
            "extra_work": _share(records, lambda r: r.had_extra),
            "rework": _share(records, lambda r: r.had_rework),
        },
        "per_day": per_day,
    }


def _share(records: Sequence[OrderRecord], keep: Callable[[OrderRecord], bool]) -> float | None:
    return round(sum(1 for r in records if keep(r)) / len(records), 3) if records else None


def goals(figures: Mapping[str, Any], cost: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's goals against the engine's figures: met or missed, and by how much."""

    def row(label: str, value: float | None, op: str, want: float, unit: str) -> dict[str, Any]:
        if value is None:
            return {"goal": label, "want": f"{op} {want}", "engine": None, "status": "not measured"}
        met = value <= want if op == "<=" else value >= want
        gap = value - want if op == "<=" else want - value
        status = "met" if met else f"missed by {round(gap, 3)} {unit}".strip()
        return {
            "goal": label,
            "want": f"{op} {want} {unit}".strip(),
            "engine": value,
            "status": status,
        }

    eta = figures["eta"]
    rows = [
        row(
            "median ETA error at check-in",
            eta["checkin"]["engine"]["median_abs"],
            "<=",
            GOAL_CHECKIN_MEDIAN,
            "min",
        ),
        row(
            "median ETA error at 50 % of the work",
            eta["half"]["engine"]["median_abs"],
            "<=",
            GOAL_HALF_MEDIAN,
            "min",
        ),
        row(
            "lounge wait within the shown range",
            figures["lounge"]["share_within"],
            ">=",
            GOAL_LOUNGE_SHARE,
            "",
        ),
    ]
    if cost is not None:
        rows.append(
            row(
                f"re-plan {COST_ORDERS} orders, {COST_TECHNICIANS} technicians (median of rounds)",
                cost["engine"]["median_ms"],
                "<=",
                GOAL_REPLAN_MS,
                "ms",
            )
        )
    return rows


def figures_of(
    records: Sequence[OrderRecord],
    days: int,
    technicians: int,
    calendar: ShopCalendar,
) -> dict[str, Any]:
    """Every figure of one run's records."""
    first = min((r.day for r in records), default=eta_sim.FIRST_DAY)
    return {
        "eta": eta_figures(records, calendar),
        "promise": promise_figures(records, calendar),
        "lounge": lounge_figures(records),
        "load": load_figures(records, days, technicians, working_minutes_a_day(calendar, first)),
        "breakdown": breakdown(records, calendar),
    }


# ---------------------------------------------------------------- engine cost


def cost_shop(
    orders: int = COST_ORDERS,
    technicians: int = COST_TECHNICIANS,
    seed: int = DEFAULT_SEED,
    days: int = COST_DAYS,
) -> eta_sim.Simulation:
    """A shop of ``technicians`` at the first moment of a busy morning when
    ``orders`` cars are active: the simulation's floor with twice the
    technicians and twice the arrivals, stopped there on its ``days``-th
    day, so that the days before are its past (the labour factors and the
    days today may be, as the product reads them)."""
    calendar = eta_sim.shop_calendar()
    load = eta_sim.Load(technicians=technicians, orders_per_day=(300, 300))
    cars = eta_sim.draw_cars(seed, days, calendar, load)
    last = eta_sim.shop_days(calendar, days)[-1]
    simulation = eta_sim.Simulation(calendar, cars, technicians, measure=False)
    simulation.run(
        stop=lambda s: s.now.astimezone(calendar.zone).date() == last and len(s.live) >= orders
    )
    return simulation


def cost_rounds(
    simulation: eta_sim.Simulation, rounds: int = COST_ROUNDS, calls: int = COST_CALLS
) -> dict[str, Any]:
    """Alternating rounds, engine first: an engine round re-plans the shop
    ``calls`` times as the product does (``plan_order`` of every order with
    the shop's calendar and its earlier stretches in progress, then
    ``plan`` with what its past says: the factors and a plan for each of
    the days today may be) and keeps the median call, and the same without
    the past (one plan, the last-hour outlook); an old round runs
    ``estimate_eta`` over the same orders ``calls`` times. Each side's
    figure is the median of its rounds."""
    states = [
        (i, live.state, live.past, simulation.idle(live))
        for i, live in sorted(simulation.live.items())
    ]
    now, calendar = simulation.now, simulation.calendar
    technicians = simulation.plan_technicians
    past = simulation.what_the_past_says()
    factor, job_factor, outlooks = past.labour_factor, past.job_factor, past.outlooks
    clock = time.perf_counter
    engine_rounds: list[dict[str, float]] = []
    old_rounds: list[float] = []
    for _ in range(rounds):
        replan: list[float] = []
        plan_only: list[float] = []
        bare: list[float] = []
        for _ in range(calls):
            started = clock()
            orders = [
                planner.plan_order(
                    i, s, now, calendar=calendar, stretches=done, idle=idle, ratios=past.ratios
                )
                for i, s, done, idle in states
            ]
            middle = clock()
            planner.plan(
                now,
                calendar,
                orders,
                technicians,
                labour_factor=factor,
                job_factor=job_factor,
                outlooks=outlooks,
            )
            ended = clock()
            replan.append(ended - started)
            plan_only.append(ended - middle)
            started = clock()
            orders = [
                planner.plan_order(i, s, now, calendar=calendar, stretches=done, idle=idle)
                for i, s, done, idle in states
            ]
            planner.plan(now, calendar, orders, technicians)
            bare.append(clock() - started)
        engine_rounds.append(
            {
                "replan_ms": round(statistics.median(replan) * 1000, 3),
                "plan_ms": round(statistics.median(plan_only) * 1000, 3),
                "without_history_ms": round(statistics.median(bare) * 1000, 3),
            }
        )
        old: list[float] = []
        for _ in range(calls):
            started = clock()
            for _, state, _, _ in states:
                estimate_eta(state, now)
            old.append(clock() - started)
        old_rounds.append(round(statistics.median(old) * 1000, 3))
    stages: dict[str, int] = {}
    for _, state, _, _ in states:
        stages[state.stage.value] = stages.get(state.stage.value, 0) + 1
    return {
        "shop": {
            "orders": len(states),
            "technicians": len(technicians),
            "at": now.isoformat(),
            "stages": stages,
            "labour_factor": round(factor, 3),
            "job_factor": None if job_factor is None else round(job_factor, 3),
            "days_today_may_be": 0 if outlooks is None else len(outlooks),
            "cars_expected_later": sum(
                1 for day in outlooks or () for car in day if car.created_at > now
            ),
        },
        "calls_per_round": calls,
        "engine": {
            "median_ms": round(statistics.median(r["replan_ms"] for r in engine_rounds), 3),
            "plan_only_median_ms": round(statistics.median(r["plan_ms"] for r in engine_rounds), 3),
            "without_history_median_ms": round(
                statistics.median(r["without_history_ms"] for r in engine_rounds), 3
            ),
            "rounds": engine_rounds,
        },
        "old": {"median_ms": round(statistics.median(old_rounds), 3), "rounds": old_rounds},
    }


# ---------------------------------------------------------------- the run


def working_minutes_a_day(calendar: ShopCalendar, day: date) -> float:
    return sum(minutes(end, start) for start, end in calendar.intervals(day))


def run(
    days: int, seed: int, *, cost: bool = True, history: bool = True, oracle: bool = False
) -> dict[str, Any]:
    """Simulate, measure, and (with ``cost``) time the engine. ``history``
    off: the engine without what the shop's past says (labour factor 1, the
    last-hour lounge outlook), to see what the history is worth. ``oracle``:
    the one day expected is today's real arrivals (lounge and drop-off), to
    see what the day-to-day variance of the arrivals costs (no shop can
    know them)."""
    report, _ = run_with_records(days, seed, cost=cost, history=history, oracle=oracle)
    return report


def run_with_records(
    days: int, seed: int, *, cost: bool = True, history: bool = True, oracle: bool = False
) -> tuple[dict[str, Any], list[OrderRecord]]:
    """``run``, and the run's records (to pool several seeds' figures)."""
    calendar = eta_sim.shop_calendar()
    load = eta_sim.Load()
    cars = eta_sim.draw_cars(seed, days, calendar, load)
    started = time.perf_counter()
    simulation = eta_sim.Simulation(
        calendar, cars, load.technicians, history=history, oracle_arrivals=oracle
    )
    records = simulation.run()
    simulated_s = time.perf_counter() - started
    first_day = eta_sim.shop_days(calendar, 1)[0]
    figures = figures_of(records, days, load.technicians, calendar)
    timing = cost_rounds(cost_shop(seed=seed)) if cost else None
    report = {
        "command": " ".join(["python -m bench.eta", *sys.argv[1:]]),
        "days": days,
        "seed": seed,
        "history": history,
        "oracle_arrivals": oracle,
        "first_day": first_day.isoformat(),
        "load": {k: v for k, v in vars(load).items()},
        "simulation_s": round(simulated_s, 1),
        "plans": simulation.plans,
        "figures": figures,
        "cost": timing,
        "goals": goals(figures, timing),
    }
    return report, records


def _seed_run(args: tuple[int, int, bool, bool]) -> tuple[dict[str, Any], list[OrderRecord]]:
    days, seed, history, oracle = args
    return run_with_records(days, seed, cost=False, history=history, oracle=oracle)


def run_seeds(
    days: int, seeds: Sequence[int], *, jobs: int = 1, history: bool = True, oracle: bool = False
) -> dict[str, Any]:
    """Several seeds' runs (no cost section: that is one shop's, ``run``'s)
    and the accuracy figures of all their cars pooled: each seed's goals,
    and the pooled goals. ``jobs``: seeds simulated at once (processes)."""
    work = [(days, seed, history, oracle) for seed in seeds]
    if jobs > 1 and len(work) > 1:
        from multiprocessing import Pool

        with Pool(min(jobs, len(work))) as pool:
            done = pool.map(_seed_run, work)
    else:
        done = [_seed_run(one) for one in work]
    calendar = eta_sim.shop_calendar()
    pooled = [record for _, records in done for record in records]
    figures = {
        "eta": eta_figures(pooled, calendar),
        "promise": promise_figures(pooled, calendar),
        "lounge": lounge_figures(pooled),
        "breakdown": breakdown(pooled, calendar),
    }
    return {
        "command": " ".join(["python -m bench.eta", *sys.argv[1:]]),
        "days": days,
        "seeds": list(seeds),
        "history": history,
        "oracle_arrivals": oracle,
        "runs": [report for report, _ in done],
        "pooled": {"cars": len(pooled), "figures": figures, "goals": goals(figures, None)},
    }


def seeds_table(report: Mapping[str, Any]) -> str:
    """Each seed's three accuracy goals and the pooled ones, one line each."""
    lines = [
        "| seed | check-in median | 50 % median | lounge within range | cars |",
        "|---|---|---|---|---|",
    ]
    rows = [
        (str(run["seed"]), run["figures"], run["figures"]["load"]["cars"]) for run in report["runs"]
    ]
    pooled = report["pooled"]
    rows.append(("pooled", pooled["figures"], pooled["cars"]))
    for label, figures, cars in rows:
        eta = figures["eta"]
        lines.append(
            f"| {label} | {_fmt(eta['checkin']['engine']['median_abs'])} "
            f"| {_fmt(eta['half']['engine']['median_abs'])} "
            f"| {_pct(figures['lounge']['share_within'])} | {cars} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


# ---------------------------------------------------------------- markdown


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def markdown(report: Mapping[str, Any]) -> str:
    """The run as the tables docs/PERFORMANCE.md shows."""
    figures = report["figures"]
    eta = figures["eta"]
    lines = [
        f"{report['days']} shop-days, seed {report['seed']}, from {report['first_day']}; "
        f"{figures['load']['cars']} cars ({figures['load']['cars_per_day']}/day), "
        f"utilisation {_pct(figures['load']['utilisation'])} of 20 technicians' hours.",
        "",
        "| goal (issue 13) | want | engine | status |",
        "|---|---|---|---|",
    ]
    for goal in report["goals"]:
        lines.append(
            f"| {goal['goal']} | {goal['want']} | {_fmt(goal['engine'])} | {goal['status']} |"
        )
    n = eta["checkin"]["engine"]["n"]
    lines += [
        "",
        f"ETA error against the moment the car was really ready ({n} cars), minutes of the "
        "clock (what the customer lives) and working minutes (a night or lunch between "
        "the two not counted); signed: + = ready later than said.",
        "",
        "| when | rule | median | p90 | median signed | median, working | p90, working |",
        "|---|---|---|---|---|---|---|",
    ]
    for point in POINTS:
        for side, label in (("engine", "engine"), ("old", "old formula")):
            e = eta[point][side]
            lines.append(
                f"| {POINT_LABELS[point]} | {label} | {_fmt(e['median_abs'])} "
                f"| {_fmt(e['p90_abs'])} | {_fmt(e['median_signed'])} "
                f"| {_fmt(e.get('median_abs_working'))} | {_fmt(e.get('p90_abs_working'))} |"
            )
    promise, lounge = figures["promise"], figures["lounge"]
    lines += [
        "",
        "| promise at reception | ready by it | lounge | drop-off | median promise after "
        "check-in | median late when missed | later needed to keep 80 % |",
        "|---|---|---|---|---|---|---|",
    ]
    sides = (("engine", "engine (`planner.promise`)"), ("old", "old (`suggest_promised_at`)"))
    for side, label in sides:
        p = promise[side]
        lines.append(
            f"| {label} | {_pct(p['share_kept'])} | {_pct(p['share_kept_lounge'])} "
            f"| {_pct(p['share_kept_drop_off'])} | {_fmt(p['median_lead_minutes'])} min "
            f"| {_fmt(p['median_minutes_late_when_missed'])} min "
            f"| {_fmt(p.get('working_minutes_later_to_keep_80'))} working min |"
        )
    lines += [
        "",
        f"Lounge ({lounge['n']} customers): real wait until work started within the range "
        f"shown at check-in {_pct(lounge['share_within'])} (started earlier "
        f"{_pct(lounge['share_started_earlier'])}, later {_pct(lounge['share_started_later'])}; "
        f"{lounge['capped']} past the cap); median error of the range's middle "
        f"{_fmt(lounge['engine_median_abs_error_of_range_middle'])} min, of the old single "
        f"number {_fmt(lounge['old_median_abs_error'])} min.",
    ]
    cost = report.get("cost")
    if cost:
        engine = cost["engine"]
        rounds = " / ".join(_fmt(r["replan_ms"]) for r in engine["rounds"])
        lines += [
            "",
            f"Engine cost ({cost['shop']['orders']} active orders, "
            f"{cost['shop']['technicians']} technicians; {len(engine['rounds'])} rounds "
            f"alternating with the old rule, median of {cost['calls_per_round']} calls each): "
            f"re-plan with the shop's past ({cost['shop']['days_today_may_be']} days today "
            f"may be, {cost['shop']['cars_expected_later']} cars expected later in all) "
            f"{_fmt(engine['median_ms'])} ms ({rounds}), of which `plan` "
            f"{_fmt(engine['plan_only_median_ms'])} ms; without the past "
            f"{_fmt(engine.get('without_history_median_ms'))} ms; "
            "the old rule over the same orders "
            f"{_fmt(cost['old']['median_ms'])} ms "
            f"({' / '.join(_fmt(v) for v in cost['old']['rounds'])}).",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.eta",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="shop-days (default 20)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 13)")
    parser.add_argument("--markdown", action="store_true", help="print the tables for the docs")
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="plan without the shop's past (labour factor 1, last-hour lounge outlook)",
    )
    parser.add_argument(
        "--oracle-arrivals",
        action="store_true",
        help="tell the engine the day's real arrivals (a bound, not a product figure)",
    )
    parser.add_argument(
        "--seeds",
        type=lambda text: [int(part) for part in text.split(",") if part.strip()],
        help="several seeds, comma-separated (e.g. 13,14,15): each seed's figures and "
        "the pooled ones, no cost section",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="with --seeds: seeds simulated at once (default 1)"
    )
    parser.add_argument(
        "--no-cost", action="store_true", help="skip the engine's cost section (one seed)"
    )
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    started = time.monotonic()
    info = machine()
    if args.seeds:
        many = run_seeds(
            args.days,
            args.seeds,
            jobs=args.jobs,
            history=not args.no_history,
            oracle=args.oracle_arrivals,
        )
        many["machine"] = info
        many["elapsed_s"] = round(time.monotonic() - started, 1)
        many["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"eta-seeds-{time.strftime('%Y%m%dT%H%M%S')}.json"
        path.write_text(json.dumps(many, indent=2, default=str, ensure_ascii=False))
        print(seeds_table(many))
        for goal in many["pooled"]["goals"]:
            print(
                f"pooled {goal['goal']}: {_fmt(goal['engine'])} "
                f"(want {goal['want']}): {goal['status']}"
            )
        print(f"\nelapsed {many['elapsed_s']} s; results in {path.relative_to(ROOT)}")
        return
    report = run(
        args.days,
        args.seed,
        cost=not args.no_cost,
        history=not args.no_history,
        oracle=args.oracle_arrivals,
    )
    report["machine"] = info
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"eta-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str, ensure_ascii=False))
    if args.markdown:
        print(markdown(report))
    else:
        for goal in report["goals"]:
            print(f"{goal['goal']}: {_fmt(goal['engine'])} (want {goal['want']}): {goal['status']}")
    print(f"\nelapsed {report['elapsed_s']} s; results in {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
