"""Jobs for the report worker in tests/test_report_process.py.

A module of their own, importing next to nothing: the worker imports the
module of each job it is sent (pickled by name), and every fresh worker
would otherwise import the whole test module and tests/conftest.py, seconds
of each start."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.services.core import Core


def slow_job(core: Core, seconds: float) -> float:
    """A job that outlasts a short timeout."""
    time.sleep(seconds)
    return seconds


def die_once(core: Core, mark: str) -> int:
    """Kills the worker it runs in the first time (``mark`` not there yet)."""
    if not os.path.exists(mark):
        Path(mark).touch()
        os._exit(1)
    return os.getpid()


def die_always(core: Core) -> None:
    os._exit(1)


def count_to(core: Core, n: int) -> Iterator[int]:
    """A download of ``n`` items."""
    return iter(range(n))


def clock_job(core: Core) -> datetime:
    """The worker's "now": the server's, sent with the job."""
    return core.now()
