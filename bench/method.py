"""How the benchmark judges what it measured (issue 19): pure functions only.

One round on this shared host can land in a slow minute (a core slows in
bursts about every 1.5 s), so a figure is the **median** of several rounds,
product and floor alternating, with every round kept beside it; a target is
met only when the product's median meets it, and only when the scenario ran
at least ``JUDGED_ROUNDS`` rounds. Losses are judged stricter: "0 lost
everywhere" means no round of any scenario lost anything.
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Fewer rounds than this (``--quick``) are reported but never judged.
JUDGED_ROUNDS = 3

# Every round's metrics that count something lost or failed; the "0 lost
# everywhere" row sums them over every round of every scenario.
LOSS_METRICS = ("lost", "failed", "lost_boards")


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds of ``values`` in seconds (nearest rank)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1] * 1000, 2)}


def median_metrics(rounds: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Per metric, the median over the rounds that measured it (numbers only;
    an even count gives the mean of the middle two)."""
    keys: list[str] = []
    for metrics in rounds:
        keys += [k for k in metrics if k not in keys]
    medians: dict[str, float] = {}
    for key in keys:
        values = [
            float(m[key])
            for m in rounds
            if isinstance(m.get(key), int | float) and not isinstance(m.get(key), bool)
        ]
        if values:
            medians[key] = round(statistics.median(values), 3)
    return medians


@dataclass(frozen=True)
class Target:
    """One row of the targets table: ``metric`` of ``scenario``'s product
    median compared with ``threshold`` (None: the floor's median)."""

    label: str
    scenario: str
    metric: str
    op: str  # "<=" or ">="
    threshold: float | None
    unit: str = ""


OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}


def judge(target: Target, results: Mapping[str, Any]) -> dict[str, Any]:
    """A targets-table row: product median, its rounds, floor median, status."""
    row: dict[str, Any] = {
        "target": target.label,
        "scenario": target.scenario,
        "metric": target.metric,
        "want": f"{target.op} {target.threshold if target.threshold is not None else 'floor'}",
        "unit": target.unit,
        "product": None,
        "rounds": [],
        "floor": None,
        "floor_rounds": [],
    }
    scenario = results.get(target.scenario)
    if not scenario:
        row["status"] = "not run"
        return row
    product, floor = scenario["product"], scenario["floor"]
    row["product"] = product["median"].get(target.metric)
    row["rounds"] = [r.get(target.metric) for r in product["rounds"]]
    row["floor"] = floor["median"].get(target.metric)
    row["floor_rounds"] = [r.get(target.metric) for r in floor["rounds"]]
    threshold = target.threshold if target.threshold is not None else row["floor"]
    if target.threshold is None:
        row["want"] = f"{target.op} floor ({threshold})"
    row["status"] = status(row["product"], target.op, threshold, len(product["rounds"]))
    return row


def status(value: float | None, op: str, threshold: float | None, rounds: int) -> str:
    """``met`` or ``missed`` from a median of at least ``JUDGED_ROUNDS``
    rounds; otherwise the row says why it is not judged."""
    if value is None or threshold is None:
        return "not measured"
    if rounds < JUDGED_ROUNDS:
        verdict = "would meet" if OPS[op](value, threshold) else "would miss"
        return f"not judged ({rounds} round{'s' if rounds != 1 else ''}; {verdict})"
    return "met" if OPS[op](value, threshold) else "missed"


def losses(results: Mapping[str, Any]) -> dict[str, Any]:
    """The "0 lost everywhere" row: lost deliveries, lost boards and failed
    changes summed over every round of every scenario (never a median: one
    round that lost a message is a loss)."""

    def total(rounds: Sequence[Mapping[str, Any]]) -> int:
        return sum(int(r.get(k, 0) or 0) for r in rounds for k in LOSS_METRICS)

    per_product = {name: total(s["product"]["rounds"]) for name, s in results.items()}
    per_floor = {name: total(s["floor"]["rounds"]) for name, s in results.items()}
    judged = bool(results) and all(
        len(s["product"]["rounds"]) >= JUDGED_ROUNDS for s in results.values()
    )
    product = sum(per_product.values())
    if not results:
        verdict = "not run"
    elif judged:
        verdict = "met" if product == 0 else "missed"
    else:
        verdict = f"not judged (fewer than {JUDGED_ROUNDS} rounds; " + (
            "none lost)" if product == 0 else "some lost)"
        )
    return {
        "target": "0 lost everywhere (lost deliveries + lost boards + failed changes)",
        "scenario": "all",
        "metric": "+".join(LOSS_METRICS),
        "want": "== 0 in every round",
        "unit": "",
        "product": product,
        "rounds": [f"{name}: {n}" for name, n in per_product.items()],
        "floor": sum(per_floor.values()),
        "floor_rounds": [f"{name}: {n}" for name, n in per_floor.items()],
        "status": verdict,
    }


def burst_summary(counts: Sequence[int], window_s: float) -> dict[str, Any]:
    """A CPU-steadiness probe's windows (loop iterations done in each
    ``window_s`` window) as slowdowns against the median window: the host
    slows a core in bursts, which an average hides and the slowest windows
    show."""
    if not counts:
        return {"windows": 0}
    typical = statistics.median(counts)
    slowdowns = sorted((typical / max(c, 1) for c in counts), reverse=True)

    def share(limit: float) -> float:
        return round(sum(s >= limit for s in slowdowns) / len(slowdowns), 3)

    return {
        "windows": len(counts),
        "window_ms": round(window_s * 1000),
        "median_iterations": typical,
        "slowest_windows_x": [round(s, 2) for s in slowdowns[:5]],
        "p90_slowdown_x": round(slowdowns[len(slowdowns) // 10], 2),
        "share_1_3x_slower": share(1.3),
        "share_2x_slower": share(2.0),
    }


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def targets_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "| target | want | product median | product rounds | floor median | floor rounds "
        "| status |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rounds = " / ".join(fmt(v) for v in row["rounds"])
        floor_rounds = " / ".join(fmt(v) for v in row["floor_rounds"])
        lines.append(
            f"| {row['target']} | {row['want']} {row['unit']} | {fmt(row['product'])} "
            f"| {rounds} | {fmt(row['floor'])} | {floor_rounds} | {row['status']} |"
        )
    return "\n".join(lines)


def scenarios_markdown(results: Mapping[str, Any]) -> str:
    """Every scenario's medians, product beside floor, with each round."""
    lines: list[str] = []
    for name, scenario in results.items():
        if "product" not in scenario:
            continue  # a results file from before issue 19's method
        product, floor = scenario["product"], scenario["floor"]
        lines += [
            "",
            f"### {name}: {scenario['title']}",
            f"{len(product['rounds'])} product and {len(floor['rounds'])} floor rounds, "
            "alternating (product first); median, then each round.",
            "",
            "| metric | product median | product rounds | floor median | floor rounds |",
            "|---|---|---|---|---|",
        ]
        keys = list(product["median"]) + [k for k in floor["median"] if k not in product["median"]]
        for key in keys:
            lines.append(
                f"| {key} | {fmt(product['median'].get(key))} "
                f"| {' / '.join(fmt(r.get(key)) for r in product['rounds'])} "
                f"| {fmt(floor['median'].get(key))} "
                f"| {' / '.join(fmt(r.get(key)) for r in floor['rounds'])} |"
            )
        for side in ("product", "floor"):
            for error in scenario[side].get("errors", []):
                lines.append(f"\n{side} round failed: {error}")
    return "\n".join(lines)


def probes_markdown(machine: Mapping[str, Any]) -> str:
    lines = ["| probe | at start | at end |", "|---|---|---|"]
    start, end = machine.get("probe_at_start", {}), machine.get("probe_at_end", {})
    lines.append(
        f"| 5M additions (ms) | {fmt(start.get('cpu_probe_ms'))} | {fmt(end.get('cpu_probe_ms'))} |"
    )
    for core in sorted(set(start.get("bursts", {})) | set(end.get("bursts", {}))):
        for key in ("p90_slowdown_x", "slowest_windows_x", "share_1_3x_slower"):
            a = start.get("bursts", {}).get(core, {}).get(key)
            b = end.get("bursts", {}).get(core, {}).get(key)
            lines.append(f"| core {core}: {key} | {fmt(a)} | {fmt(b)} |")
    return "\n".join(lines)


def legacy_markdown(results: Mapping[str, Any]) -> str:
    """A results file from before the median method: one row per run."""
    rows = [
        "| run | subs | changes/s | deliveries/s | p50 ms | p95 ms | p99 ms | max ms "
        "| lost | KiB/conn | connect all (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "latency_ms" not in r:
            continue
        lat = r["latency_ms"]
        rows.append(
            f"| {name} | {r['connect']['subscribers']:,} | {r.get('rate', '')} "
            f"| {r['deliveries_per_s']:,} | {lat['p50']:,} | {lat['p95']:,} | {lat['p99']:,} "
            f"| {lat['max']:,} | {r['lost']:,} | {r.get('memory_per_connection_kib', '')} "
            f"| {r['connect']['total_s']} |"
        )
    return "\n".join(rows)


def markdown(report: Mapping[str, Any]) -> str:
    """A results file as Markdown: targets, CPU probes, then every scenario."""
    results = report.get("results", {})
    if results and not any("product" in r for r in results.values()):
        return "(single rounds, before issue 19's method)\n\n" + legacy_markdown(results)
    rounds = report.get("rounds")
    head = [f"Command: `{report.get('command', '')}`; {report.get('elapsed_s', '?')} s."]
    if rounds is not None and rounds < JUDGED_ROUNDS:
        head.append(
            f"**{rounds} round(s) per scenario: indicative only; no target is judged "
            f"from fewer than {JUDGED_ROUNDS}.**"
        )
    machine = report.get("machine", {})
    return "\n\n".join(
        [
            " ".join(head),
            "## Targets (product medians)",
            targets_markdown(report.get("targets", [])),
            "## CPU steadiness",
            probes_markdown(machine),
            "## Scenarios",
            scenarios_markdown(results),
        ]
    )
