"""Two servers on one core at the same time: ``python -m bench.twin A B``.

A comparison of CPU per change that the host's speed cannot decide. This
host runs a core up to three times slower for minutes at a time, and two
busy-dealer rounds a few minutes apart differ by more than most changes
to the request path are worth (docs/PERFORMANCE.md). Here both servers
run at once, pinned to the same core, each with its own shops, screens
and database, and the driver interleaves their changes one for one: a
slow stretch of the host slows both alike, and what is compared is each
server's own CPU seconds over the same drive, per committed change.

``A`` and ``B`` are checkouts of Baylight (a directory; ``git worktree add
/tmp/old <commit>`` gives an older one) or ``floor`` (the bare stack's
committed-change server, ``bench/floor_app.py``, on its own rooms of ten
screens). Each round starts both afresh; the report gives every round and
the medians, and the result is written to ``bench/results/twin-*.json``.
Like ``bench.run``: loopback only, the servers on core 0, the load on core
1, eventlet, the shop-load engine on. It measures CPU per change only: the
two servers share the core, so neither's latency means anything here.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench import probes
from bench.driver import FLOOR_COMMIT, Job, change, drive
from bench.load import Group
from bench.servers import SERVER_CORE, Load, Server, start_floor, start_product
from bench.shops import Seeded, busy_dealer, first_estimates, open_orders, seed

RESULTS = Path(__file__).resolve().parent / "results"
FLOOR = "floor"


def _start_product(checkout: str, work: Path, database_url: str) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAYLIGHT_")}
    env.update(
        BAYLIGHT_REPLANNING="on",
        BAYLIGHT_DATABASE_URL=database_url,
        BAYLIGHT_ASYNC_MODE="eventlet",
        BAYLIGHT_INSTANCE_PATH=str(work),
        BAYLIGHT_SECRET_KEY="bench-" + secrets.token_hex(8),
        BAYLIGHT_PUBLIC_URL="http://127.0.0.1:5000",
    )
    return start_product(env, SERVER_CORE, Path(checkout).resolve())


class Side:
    """One of the two: its server, and its screens and driver jobs."""

    def __init__(self, name: str, checkout: str, shops: int) -> None:
        self.name = name
        work = Path(tempfile.mkdtemp(prefix=f"twin-{name}-"))
        self.groups: list[Group] = []
        self.jobs: list[Job] = []
        if checkout == FLOOR:
            self.server = start_floor("eventlet", SERVER_CORE, database=str(work / "floor.db"))
            ids = range(1, shops + 1)
            self.groups = [Group(10, f"r{n}", [n], self.server.port) for n in ids]
            self.jobs = [Job(self.server.url, f"r{n}", n, 1, room=FLOOR_COMMIT) for n in ids]
            self.seeded: list[Seeded] = []
            return
        url = f"sqlite:///{work / 'baylight.db'}"
        self.seeded = seed(url, work, shops, 1, "twin")
        self.server = _start_product(checkout, work, url)

    def open(self) -> None:
        """The product's orders opened and first planned, its screens listed."""
        if not self.seeded:
            return
        for shop in self.seeded:
            open_orders(self.server.url, shop, 1)
        first_estimates(self.server.url, self.seeded)
        self.groups, self.jobs = busy_dealer(self.seeded, self.server.port, self.server.url)


def one_round(a: str, b: str, rate: float, seconds: float, shops: int) -> dict[str, Any]:
    sides = [Side("a", a, shops), Side("b", b, shops)]
    try:
        for side in sides:
            side.open()
        load = Load([g for side in sides for g in side.groups])
        by_url = {side.server.url: side.name for side in sides}
        done = {side.name: 0 for side in sides}
        lock = threading.Lock()

        def act(http: requests.Session, job: Job) -> bool:
            ok = change(http, job)
            if ok:
                with lock:
                    done[by_url[job.url]] += 1
            return ok

        mixed = [job for pair in zip(sides[0].jobs, sides[1].jobs, strict=True) for job in pair]
        pids = {side.name: side.server.process.pid for side in sides}
        before = {name: probes.cpu_seconds([pid]) for name, pid in pids.items()}
        driven = drive(mixed, 2 * rate, seconds, list(pids.values()), act)
        after = {name: probes.cpu_seconds([pid]) for name, pid in pids.items()}
        load.finish([])
        result: dict[str, Any] = {"failures": driven.failures}
        for name in pids:
            cpu = after[name] - before[name]
            result[name] = {
                "changes": done[name],
                "cpu_s": round(cpu, 3),
                "cpu_ms_per_change": round(1000 * cpu / max(done[name], 1), 3),
            }
        return result
    finally:
        for side in sides:
            side.server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("a", help="a checkout's directory, or 'floor'")
    parser.add_argument("b", help="a checkout's directory, or 'floor'")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=30.0, help="changes/s for each side")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--shops", type=int, default=20, help="shops (of ten screens) each side")
    args = parser.parse_args()
    probe_before = probes.cpu_probe_ms()
    rounds = []
    for number in range(1, args.rounds + 1):
        found = one_round(args.a, args.b, args.rate, args.seconds, args.shops)
        rounds.append(found)
        a, b = found["a"]["cpu_ms_per_change"], found["b"]["cpu_ms_per_change"]
        print(f"round {number}: a {a} ms, b {b} ms per change (b/a {b / a:.3f})", flush=True)
    medians = {
        name: statistics.median(r[name]["cpu_ms_per_change"] for r in rounds) for name in "ab"
    }
    ratios = [r["b"]["cpu_ms_per_change"] / r["a"]["cpu_ms_per_change"] for r in rounds]
    summary = {
        "command": " ".join(sys.argv),
        "a": args.a,
        "b": args.b,
        "rate_per_side": args.rate,
        "seconds": args.seconds,
        "shops_per_side": args.shops,
        "probe_5m_additions_ms": [probe_before, probes.cpu_probe_ms()],
        "rounds": rounds,
        "median_cpu_ms_per_change": medians,
        "median_ratio_b_to_a": round(statistics.median(ratios), 3),
    }
    print(
        f"medians: a {medians['a']:.3f}, b {medians['b']:.3f} ms per change; "
        f"b/a {summary['median_ratio_b_to_a']} (rounds {', '.join(f'{x:.3f}' for x in ratios)})"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"twin-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(summary, indent=1))
    print(f"results in {path.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
