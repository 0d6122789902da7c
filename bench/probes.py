"""What the machine and the server were doing: CPU-steadiness probes taken
before and after a run, and a process's CPU time (to turn into CPU per change
and CPU %).

The host this runs on slows a core in bursts (a plain loop's 100 ms windows
run 1.3 to 5.4 times slower about every 1.5 s). A server that needs most of a
core has no headroom for them, so the report says what kind of minute its
figures come from, on the server's core and on the load's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench.method import burst_summary

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time so far of these processes (all their threads),
    from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


class CpuMeter:
    """CPU seconds and wall seconds of some processes between ``start`` and
    ``stop``."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.cpu = cpu_seconds(pids)
        self.wall = time.monotonic()

    def stop(self) -> tuple[float, float]:
        return cpu_seconds(self.pids) - self.cpu, time.monotonic() - self.wall


def listen_overflows() -> int:
    """The kernel's count of connections dropped from a full accept queue
    (machine-wide: a storm's figure is only this run's if nothing else ran)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("TcpExt:"):
            return int(dict(zip(head.split(), values.split(), strict=True))["ListenOverflows"])
    return -1


def cpu_probe_ms() -> float:
    """Milliseconds for 5 million integer additions in this interpreter."""
    started = time.perf_counter()
    total = 0
    for n in range(5_000_000):
        total += n
    return round((time.perf_counter() - started) * 1000, 1)


def burst_counts(seconds: float, window_s: float = 0.1) -> list[int]:
    """Iterations of a fixed small loop done in each ``window_s`` window."""
    counts: list[int] = []
    clock = time.perf_counter
    end = clock() + seconds
    now = clock()
    while now < end:
        window_end = now + window_s
        n = 0
        while now < window_end:
            for _ in range(200):
                pass
            n += 1
            now = clock()
        counts.append(n)
    return counts


def probe(cores: list[int], burst_s: float) -> dict[str, Any]:
    """The 5M-additions probe, then a burst probe on each core (this process
    moved there for the duration, then back)."""
    result: dict[str, Any] = {"cpu_probe_ms": cpu_probe_ms(), "load_average": os.getloadavg()}
    before = os.sched_getaffinity(0)
    bursts: dict[str, Any] = {}
    try:
        for core in cores:
            if core < (os.cpu_count() or 1):
                os.sched_setaffinity(0, {core})
            bursts[str(core)] = burst_summary(burst_counts(burst_s), 0.1)
    finally:
        os.sched_setaffinity(0, before)
    result["bursts"] = bursts
    return result
