"""The process-wide things every service needs, in one object passed explicitly
(no globals): the database, the publisher and its lock, the clock and the
metrics."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.config import Settings
from shared.metrics import Metrics
from shared.persistence.database import Database
from shared.services.batching import Batcher
from shared.services.group_commit import Job, group_committer

if TYPE_CHECKING:
    from shared.domain.order import Actor
    from shared.realtime.publisher import Publisher


PRINCIPAL_TTL_SECONDS = 5.0
STAFF_NAME_TTL_SECONDS = 60.0
LOUNGE_QUEUE_TTL_SECONDS = 1.0


class TtlCache:
    """A small time-limited map, bounded so a flood of bad tokens cannot grow it."""

    def __init__(self, seconds: float, limit: int = 10_000) -> None:
        self.seconds = seconds
        self.limit = limit
        self._items: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any:
        found = self._items.get(key)
        if found is None or time.monotonic() > found[0]:
            return None
        return found[1]

    def put(self, key: str, value: Any) -> None:
        if len(self._items) >= self.limit:
            self._items.clear()
        self._items[key] = (time.monotonic() + self.seconds, value)

    def discard(self, key: str) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


class PrincipalCache(TtlCache):
    """Valid credential lookups, remembered briefly. Every revocation clears
    it, so a clear is also this process's signal that some credential may
    have just died: listeners (the socket hub) re-check their sockets at once
    instead of at their next round.

    The credentials in use are checked again before they expire, all in
    one batch (``auth.refresh_principals``, a server's background task):
    every entry was still found valid in the database within ``seconds``,
    as before, but a busy integration's token no longer costs its own
    lookup on a request every few seconds (fifty tokens made ten lookups a
    second in the busy dealer of ``make bench``). ``generation`` moves with
    every clear and discard, so a batch checked before a revocation in this
    process never puts back what the revocation took out."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.listeners: list[Callable[[], None]] = []
        self.generation = 0
        self._used: set[str] = set()

    def get(self, key: str) -> Any:
        found = super().get(key)
        if found is not None:
            self._used.add(key)
        return found

    def put(self, key: str, value: Any) -> None:
        super().put(key, value)
        self._used.add(key)

    def discard(self, key: str) -> None:
        super().discard(key)
        self._used.discard(key)
        self.generation += 1

    def clear(self) -> None:
        super().clear()
        self._used.clear()
        self.generation += 1
        for listener in list(self.listeners):
            listener()

    def take_used(self) -> dict[str, Any]:
        """The live entries asked for since the last call (digest: value),
        and forget that they were: the next batch check is of these."""
        used, self._used = self._used, set()
        return {key: value for key in used if (value := TtlCache.get(self, key)) is not None}

    def renew(self, checked: list[str], valid: dict[str, Any], generation: int) -> None:
        """The batch check of ``checked`` found ``valid`` (digest: value):
        those live another ``seconds``, the rest of ``checked`` are dropped;
        nothing at all if anything was revoked here since the check began."""
        if generation != self.generation:
            return
        for key in checked:
            if key in valid:
                super().put(key, valid[key])
            else:
                super().discard(key)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Core:
    settings: Settings
    db: Database
    publisher: Publisher
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = _utcnow
    # Bearer-token lookups, remembered briefly: every API call resolves its
    # credential. Revocation clears it at once in this process; other
    # processes' API calls see it within PRINCIPAL_TTL_SECONDS. Open sockets
    # are re-checked without it (shared/realtime/hub.py).
    principals: PrincipalCache = field(
        default_factory=lambda: PrincipalCache(PRINCIPAL_TTL_SECONDS)
    )
    # Staff names by user id for the order views every command builds. Names
    # are set when a user is created and no command changes them; the TTL
    # bounds how long a name edited in the database directly stays old.
    staff_names: TtlCache = field(default_factory=lambda: TtlCache(STAFF_NAME_TTL_SECONDS))
    # The lounge's wait per shop, planned once a second at most however many
    # lounge TVs ask (``queries.lounge_queue``).
    lounge_queues: TtlCache = field(default_factory=lambda: TtlCache(LOUNGE_QUEUE_TTL_SECONDS))
    # Held from before a command's commit until its emits are out
    # (``commands.execute``), so this app's emits leave in commit order. A
    # green lock under eventlet and gevent: the core is built after patching.
    publish_lock: threading.Lock = field(default_factory=threading.Lock)
    # The commands waiting for the writer, committed in groups
    # (``shared/services/group_commit.py``).
    committer: Batcher[Job] = field(init=False, repr=False)
    # Told (shop, actor) after each committed change is published: the
    # re-planner marks the shop (``shared/services/replanning.py``).
    change_listeners: list[Callable[[int, Actor], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        from shared.services.commands import run_batch

        self.committer = group_committer(functools.partial(run_batch, self))

    def now(self) -> datetime:
        return self.clock()
