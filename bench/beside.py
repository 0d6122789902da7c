"""Processes a benchmark round runs beside the server: a busy loop on its
core, a report computed apart, a read transaction held open. Each is a
context manager, so a round that fails still ends them (a loop left
running would slow every round after it)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench.servers import SERVER_CORE

# The year summary keeps the report worker busy about this much of every
# second in reports-rooms (its CPU seconds over the round); the hog copies
# that. ``HOG_CODE``'s arguments: the core, the busy seconds of each period,
# and the period (1 s unless given; the re-planning's floor gives a short one).
HOG_BUSY_S = 0.45
HOG_CODE = """
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
os.setpriority(os.PRIO_PROCESS, 0, 19)
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
busy = float(sys.argv[2])
period = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
memory = bytearray(64 << 20)
while True:
    started = time.monotonic()
    step = 0
    while time.monotonic() - started < busy:
        memory[step % len(memory)] = step & 255  # touch memory, as a report reads pages
        step += 4099
    time.sleep(max(0.0, period - busy))
"""


@contextlib.contextmanager
def beside(code: str, *arguments: str, cwd: Path | None = None) -> Iterator[None]:
    """``python -c code arguments…`` running while the block runs, killed
    after it."""
    command = [sys.executable, "-c", code, *arguments]
    running = subprocess.Popen(command, cwd=cwd)  # noqa: S603 (our own code)
    try:
        yield
    finally:
        running.kill()
        running.wait()


@contextlib.contextmanager
def busy_core(hog: tuple[float, float] | None) -> Iterator[None]:
    """With ``hog`` (busy seconds, period): an idle-class loop on the
    server's core (``HOG_CODE``) while the block runs, as busy as the
    server's worker keeps that core; this host's idle virtual CPU makes every
    change pay a wake-up that a busy core does not (docs/PERFORMANCE.md), so
    a floor without the worker needs one."""
    if hog is None:
        yield
        return
    busy, period = (f"{seconds:.6f}" for seconds in hog)
    with beside(HOG_CODE, str(SERVER_CORE), busy, period):
        yield
