"""Snapshots shared between the screens that ask for the same one.

After a restart every screen reconnects at once, and each used to build its
own snapshot (several queries and a view per order) although a shop's boards
all receive the same thing. Here a snapshot is built once per key (a shop and
an audience, and for a customer the order) and handed to every screen that
asks while it is current:

- current means stamped with a seq at least the asker's, where the asker read
  its seq after joining its room: whatever it misses from the snapshot
  reaches it live;
- and younger than ``MAX_AGE`` by both the wall clock and the clock the views
  read (``Core.now``): views flag late and at-risk orders from the time, and
  what changes without a seq (staff, a shop profile or bays changed in
  another server process) is shown within that age. A clock set back or
  ahead (as tests do) is a new age too. A bay or shop profile changed in
  this process drops the shared snapshots at once (``forget``).

A build in progress is shared: whoever asks for the same key meanwhile waits
for it instead of building again (with green threads as with real ones: the
locks and events are ``threading``'s, patched under eventlet and gevent). The
cache is bounded; what falls out is built again on the next ask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from shared.services.core import Core

T = TypeVar("T")

# How long a snapshot is handed out: long enough that a storm of 2,000
# reconnects builds a handful, short enough that late flags stay right.
MAX_AGE = timedelta(seconds=1)
# Keys kept: every shop's staff and lounge snapshots, and the customers'.
LIMIT = 256


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One built snapshot: the seq it is consistent with and when it was built."""

    seq: int
    value: T
    built_at: datetime
    built_tick: float


@dataclass(eq=False)
class _Build(Generic[T]):
    """A build in progress, which those asking meanwhile wait for."""

    done: threading.Event = field(default_factory=threading.Event)
    entry: Entry[T] | None = None
    error: BaseException | None = None
    waiting: int = 0


class SnapshotCache(Generic[T]):
    """Built values by key, each handed out while current (module docstring)."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        max_age: timedelta = MAX_AGE,
        limit: int = LIMIT,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.max_age = max_age
        self.limit = limit
        self.ticks = ticks
        self.builds = 0
        self._entries: dict[Hashable, Entry[T]] = {}
        self._building: dict[Hashable, _Build[T]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, seq: int, build: Callable[[], tuple[int, T]]) -> T:
        """The value for ``key`` current for an asker at ``seq``; ``build``
        returns a new one with the seq it read."""
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and self._current(entry, seq):
                    return entry.value
                pending = self._building.get(key)
                leading = pending is None
                if pending is None:
                    pending = self._building[key] = _Build()
                else:
                    pending.waiting += 1
            if leading:
                return self._build(key, pending, build)
            pending.done.wait()
            if pending.error is not None:
                raise pending.error
            # Just built, so young enough whatever the build took (a slow
            # database must not make every waiter build again in turn).
            if pending.entry is not None and pending.entry.seq >= seq:
                return pending.entry.value
            # That build read an older seq than ours: build (or wait) again.

    def _current(self, entry: Entry[T], seq: int) -> bool:
        age = self.max_age.total_seconds()
        return (
            entry.seq >= seq
            and abs(self.ticks() - entry.built_tick) <= age
            and abs(self.clock() - entry.built_at) <= self.max_age
        )

    def _build(self, key: Hashable, pending: _Build[T], build: Callable[[], tuple[int, T]]) -> T:
        try:
            built_at, built_tick = self.clock(), self.ticks()
            seq, value = build()
        except BaseException as error:
            # Those waiting fail as the builder did; an interrupted builder
            # (its green thread killed) leaves them a plain error to raise.
            pending.error = error if isinstance(error, Exception) else RuntimeError(repr(error))
            with self._lock:
                self._building.pop(key, None)
            pending.done.set()
            raise
        entry = Entry(seq, value, built_at, built_tick)
        with self._lock:
            self._building.pop(key, None)
            self._store(key, entry)
            self.builds += 1
        pending.entry = entry
        pending.done.set()
        return value

    def _store(self, key: Hashable, entry: Entry[T]) -> None:
        """Keep ``entry`` as the newest, drop what has aged out, and the
        oldest beyond ``limit``."""
        self._entries.pop(key, None)
        self._entries[key] = entry
        stale = [k for k, e in self._entries.items() if not self._current(e, 0)]
        for old in stale:
            del self._entries[old]
        while len(self._entries) > self.limit:
            del self._entries[next(iter(self._entries))]

    def waiting(self, key: Hashable) -> int:
        """How many askers wait for the build of ``key`` in progress."""
        with self._lock:
            pending = self._building.get(key)
            return pending.waiting if pending is not None else 0

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def forget(core: Core) -> None:
    """Drop the snapshots this process's socket hub shares, after a committed
    change that carries no seq (a bay, the shop profile): a screen that
    connects right after it gets a snapshot built after the change, never
    one built up to ``MAX_AGE`` before it and missing it. Screens already
    connected have the change's message (``bays``, ``shop``); one that gets
    an older snapshot afterwards keeps the newer data by its version
    (static/js/live.js). Without a hub (the CLI, jobs) there is nothing to drop."""
    from shared.realtime.hub import hub_of

    emitter: Any = core.publisher.emitter
    hub = hub_of(emitter) if emitter is not None else None
    if hub is not None:
        hub.snapshots.clear()
