"""Run a blocking call on a real OS thread when green threads are in use.

Under eventlet or gevent every green thread shares one OS thread, so a call
that blocks in C (SQLite's commit waiting for ``fsync``) stops the whole
process: no socket is served, no other request runs. Handing that call to the
library's own thread pool (``eventlet.tpool``, gevent's hub threadpool) lets
the hub go on while the disk syncs, which is also what lets commands pile up
for the next group commit. Under plain threads the call already releases the
GIL, so it runs in place.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar, cast

T = TypeVar("T")


def _eventlet_patched() -> bool:
    patcher = sys.modules.get("eventlet.patcher")
    return bool(patcher is not None and patcher.is_monkey_patched("thread"))


def _gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey is not None and monkey.is_module_patched("threading"))


def run_off_hub(call: Callable[[], T]) -> T:
    """``call()``, on a real thread if this process runs green threads."""
    if _eventlet_patched():
        from eventlet import tpool

        return cast(T, tpool.execute(call))
    if _gevent_patched():
        import gevent

        return cast(T, gevent.get_hub().threadpool.apply(call))
    return call()
