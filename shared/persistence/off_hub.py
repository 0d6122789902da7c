"""Run a blocking call on a real OS thread when green threads are in use.

Under eventlet or gevent every green thread shares one OS thread, so a call
that blocks in C (SQLite's commit waiting for ``fsync``) stops the whole
process: no socket is served, no other request runs. Handing that call to the
library's own thread pool (``eventlet.tpool``, gevent's hub threadpool) lets
the hub go on while the disk syncs, which is also what lets commands pile up
for the next group commit. Under plain threads the call already releases the
GIL, so it runs in place.

What a call may do there: C work that needs no Python lock (a raw driver
connection's commit, a pipe's read, a pure computation). Not a session from
the database pool, nor anything else that takes a ``threading`` lock made
after the monkey-patching: those are green locks, and a green lock waited on
from a real thread is never woken ("Cannot switch to a different thread" in
the hub, and the server stalls). Reads stay in their green thread.
"""

from __future__ import annotations

import contextvars
import itertools
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
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


# The GIL's turn while a long computation runs on a real thread (CPython's
# default is 5 ms): the hub asks for the GIL back after every socket call and
# waits out the other thread's turn each time; shorter turns, shorter waits.
SHORT_SWITCH_INTERVAL_S = 0.0005


def run_off_hub_briefly(call: Callable[[], T]) -> T:
    """``run_off_hub(call)`` for a pure computation of some milliseconds (a
    shop's plan), with short GIL turns while it runs, so the hub publishing
    the screens' changes waits at most about half a millisecond for the GIL
    instead of holding still for the whole computation."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SHORT_SWITCH_INTERVAL_S))
    try:
        return run_off_hub(call)
    finally:
        sys.setswitchinterval(before)


def run_off_hub_in_context(call: Callable[[], T]) -> T:
    """``run_off_hub(call)`` with the caller's context variables (Flask's
    request and app context, the reader's language) visible to ``call``: a
    real thread of the pool does not inherit them by itself."""
    context = contextvars.copy_context()
    return run_off_hub(lambda: context.run(call))


def iterate_off_hub(
    items: Iterator[T], batch: int, gate: Callable[[], AbstractContextManager[object]] | None = None
) -> Iterator[T]:
    """``items``, each ``batch`` of them produced on a real thread (with the
    caller's context, inside ``gate()`` when given): a long stream (a year's
    CSV) made item by item on the hub would hold every other green thread
    for its whole making. Closing this closes ``items``."""
    try:
        while True:

            def pull() -> list[T]:
                return list(itertools.islice(items, batch))

            if gate is None:
                chunk = run_off_hub_in_context(pull)
            else:
                with gate():
                    chunk = run_off_hub_in_context(pull)
            yield from chunk
            if len(chunk) < batch:
                return
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
