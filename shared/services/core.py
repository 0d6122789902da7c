"""The process-wide things every service needs, in one object passed explicitly
(no globals): the database, the publisher, the clock and the metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.config import Settings
from shared.metrics import Metrics
from shared.persistence.database import Database

if TYPE_CHECKING:
    from shared.realtime.publisher import Publisher


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Core:
    settings: Settings
    db: Database
    publisher: Publisher
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = _utcnow

    def now(self) -> datetime:
        return self.clock()
