"""Queue a customer's messages in the transaction of the event that causes
them (issue 17; docs/NOTIFICATIONS.md).

``Transaction.record`` calls ``enqueue`` after it wrote an order's events:
when the order's customer consented to a channel, each message the events
cause (``notifications.plan``) becomes a ``notification`` row in the same
savepoint. A refused command leaves none; a committed one always has its
messages. The cost for an order whose customer consented to nothing is one
truth test, so a status change pays nothing for notifications it does not
send. Sending is the sender's (``shared.notify.sender``), off the request.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert

from shared.domain import notifications as rules
from shared.domain.events import Event
from shared.persistence.models import RepairOrder
from shared.persistence.notification_models import Notification

if TYPE_CHECKING:
    from shared.services.commands import Transaction

_INSERT = insert(cast(Table, Notification.__table__))


def wants_messages(row: RepairOrder) -> bool:
    """The customer consented to a channel and has not opted out."""
    return bool(row.customer_notify) and row.notify_opted_out_at is None


def reachable_channels(row: RepairOrder) -> tuple[str, ...]:
    """Consented channels with an address: WeChat only once its openid is
    bound (the customer opened the page inside WeChat and agreed)."""
    address = {
        rules.SMS: row.customer_phone,
        rules.EMAIL: row.customer_email,
        rules.WECHAT: row.wechat_openid,
    }
    return tuple(c for c in rules.CHANNELS if c in row.customer_notify and address[c])


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def enqueue(tx: Transaction, row: RepairOrder, events: Sequence[tuple[int, Event]]) -> int:
    """Write the messages ``events`` (with their seqs) cause for ``row``;
    how many were queued."""
    if not wants_messages(row):
        return 0
    settings = rules.NotifySettings.from_settings(tx.locked.settings)
    planned = rules.plan(events, channels=reachable_channels(row), settings=settings)
    if not planned:
        return 0
    zone = _zone(tx.locked.timezone)
    rows: list[dict[str, Any]] = [
        {
            "shop_id": tx.locked.id,
            "order_id": row.id,
            "kind": message.kind,
            "channel": message.channel,
            "dedupe_key": message.dedupe_key(tx.locked.id, row.id),
            "seq": message.seq,
            "facts": dict(message.facts),
            "recipient": "",
            "locale": row.customer_language or "",
            "text": "",
            "status": rules.QUEUED,
            "reason": "",
            "attempts": 0,
            "not_before": rules.quiet_until(message.kind, tx.now, zone, settings),
            "claimed_by": "",
            "claimed_until": None,
            "provider_id": "",
            "created_at": tx.now,
            "updated_at": tx.now,
            "sent_at": None,
            "by": "",
        }
        for message in planned
    ]
    tx.session.connection().execute(_INSERT, rows)
    return len(rows)
