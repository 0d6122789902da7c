"""The /metrics count of the outbox (shared.notify.sender.count_outbox) on
SQLite: from the index of migration 0026 alone, over a connection of its own
(so it can run off the hub: tests/notify/test_notify_worker.py reads it from
a live eventlet server's /metrics), and equal to the count through the pool."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from shared.notify import sender
from shared.persistence.notification_models import Notification
from shared.services.core import Core
from tests.conftest import Shop


def test_the_count_reads_only_its_index(core: Core) -> None:
    path = core.db.engine.url.database
    assert path
    connection = sqlite3.connect(path)
    try:
        plan = " ".join(
            str(row[-1]) for row in connection.execute("EXPLAIN QUERY PLAN " + sender._COUNT_SQL)
        )
    finally:
        connection.close()
    assert "COVERING INDEX ix_notification_counts" in plan, plan


def test_its_own_connection_counts_what_the_pool_counts(core: Core, shop: Shop) -> None:
    assert sender.count_outbox(core) == {}
    now = datetime(2026, 11, 29, 2, tzinfo=UTC)
    made = [("sms", "sent")] * 3 + [("sms", "queued"), ("email", "failed"), ("wechat", "sent")]
    with core.db.write() as session:
        for n, (channel, status) in enumerate(made):
            session.add(
                Notification(
                    shop_id=shop.shop_id,
                    kind="received",
                    channel=channel,
                    dedupe_key=f"count-{n}",
                    status=status,
                    not_before=now,
                    created_at=now,
                    updated_at=now,
                )
            )
    want = {("sms", "sent"): 3, ("sms", "queued"): 1, ("email", "failed"): 1, ("wechat", "sent"): 1}
    with core.db.read() as session:
        assert sender._counts(session) == want
    assert sender.count_outbox(core) == want
    assert core.metrics.render().count("baylight_notifications{") >= len(want)
