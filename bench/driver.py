"""The benchmark's change driver: status changes through the real REST API
(or the floor's ``/commit`` and ``/emit``), open loop at a rate or closed
loop as fast as the server commits, one thread per order."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.probes import CpuMeter

FLOOR_COMMIT = "@commit"
# Threads wait this long after starting before the first change is due.
LEAD_IN_S = 0.2


@dataclass
class Job:
    """One order changed again and again by its own driver thread."""

    url: str
    token: str
    order_id: int
    version: int
    stage: str = "in_progress"
    room: str = ""  # floor only


def change(http: requests.Session, job: Job) -> bool:
    """One status change through the API (or one floor emit); False when
    it failed or timed out (a saturated server)."""
    try:
        return _change(http, job)
    except requests.RequestException:
        return False


def _change(http: requests.Session, job: Job) -> bool:
    body: dict[str, Any]
    if job.room == FLOOR_COMMIT:
        to = "paused" if job.stage == "in_progress" else "in_progress"
        body = {"to": to, "version": job.version, "room": job.token or "room"}
        response = http.post(f"{job.url}/commit/{job.order_id}", json=body, timeout=30)
        if response.status_code != 200:
            return False
        job.version, job.stage = int(response.json()["version"]), to
        return True
    if job.room:
        job.version += 1
        body = {"room": job.room, "id": job.order_id, "version": job.version}
        return http.post(f"{job.url}/emit", json=body, timeout=30).status_code == 204
    to = "paused" if job.stage == "in_progress" else "in_progress"
    body = {"to": to, "version": job.version}
    if to == "paused":
        body.update(pause_reason="other", reason="bench")
    response = http.post(
        f"{job.url}/api/v1/orders/{job.order_id}/transitions",
        json=body,
        headers={"Authorization": f"Bearer {job.token}"},
        timeout=30,
    )
    if response.status_code != 200:
        return False
    order = response.json()
    job.version, job.stage = int(order["version"]), str(order["stage"])
    return True


@dataclass
class Driven:
    """What an open-loop drive did: [order id, n, time sent] per successful
    change, the failed ones, and the server's CPU seconds over the wall
    seconds from the first change due to the last answered."""

    sends: list[list[float]]
    failures: int
    cpu_s: float
    wall_s: float
    # This process's garbage collections of a millisecond or more during the
    # drive, [seconds after the first change was due, ms, generation]: a
    # collection between a send's time stamp and its request counts in that
    # change's latency (``GcLog``).
    collections: list[list[float]] = field(default_factory=list)

    @property
    def cpu_percent(self) -> float:
        return round(100 * self.cpu_s / max(self.wall_s, 1e-9), 1)


class GcLog:
    """The driver process's garbage collections while it is installed."""

    def __init__(self, origin: float) -> None:
        self.origin = origin
        self.found: list[list[float]] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._began = now
        elif now - self._began >= 0.001:
            at, took = round(self._began - self.origin, 3), round(1000 * (now - self._began), 1)
            self.found.append([at, took, info["generation"]])

    def __enter__(self) -> GcLog:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self)


def drive(
    jobs: list[Job],
    rate: float,
    seconds: float,
    server_pids: list[int],
    act: Callable[[requests.Session, Job], bool] | None = None,
) -> Driven:
    """Open loop: ``rate`` changes/s spread over the jobs for ``seconds``;
    each change is ``act`` (default: a status change, ``change``)."""
    act = act or change
    # What this process holds already (the product's modules, earlier
    # rounds' results) is set aside from the collector for the drive: a full
    # collection then walks only the drive's own objects. One walked them
    # all for 125 ms in a round of 29 November, between sends and their
    # requests, and that round's p99 was that pause.
    gc.collect()
    gc.freeze()
    sends: list[list[float]] = []
    failures = [0]
    lock = threading.Lock()
    period = len(jobs) / rate
    start = time.monotonic() + LEAD_IN_S

    def run(index: int, job: Job) -> None:
        http = requests.Session()
        due = start + index / rate
        while due < start + seconds:
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sent = time.monotonic()
            ok = act(http, job)
            with lock:
                if ok:
                    # The version the change gave the order: its messages carry it.
                    sends.append([job.order_id, job.version, sent])
                else:
                    failures[0] += 1
            due += period
        http.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    try:
        with GcLog(start) as collections:
            for thread in threads:
                thread.start()
            time.sleep(max(0.0, start - time.monotonic()))
            meter = CpuMeter(server_pids)
            for thread in threads:
                thread.join()
            cpu, wall = meter.stop()
    finally:
        gc.unfreeze()
    return Driven(sends, failures[0], cpu, wall, collections.found)


def closed_loop(jobs: list[Job], seconds: float, server_pids: list[int]) -> dict[str, Any]:
    """As fast as the server commits: each job's thread changes its order
    back to back. The server's CPU time over the loop, per committed change."""
    done = [0, 0]
    lock = threading.Lock()
    meter = CpuMeter(server_pids)
    deadline = time.monotonic() + seconds

    def run(job: Job) -> None:
        http = requests.Session()
        while time.monotonic() < deadline:
            ok = change(http, job)
            with lock:
                done[0 if ok else 1] += 1
        http.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu, wall = meter.stop()
    committed, failed = done
    return {
        "committed": committed,
        "failed": failed,
        "committed_per_s": round(committed / wall, 1),
        "cpu_ms_per_change": round(1000 * cpu / committed, 3) if committed else None,
        "cpu_percent": round(100 * cpu / wall, 1),
        "wall_s": round(wall, 2),
    }
