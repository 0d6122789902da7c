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
    instead of at their next round."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.listeners: list[Callable[[], None]] = []

    def clear(self) -> None:
        super().clear()
        for listener in list(self.listeners):
            listener()


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
