"""A write-only emitter for processes that serve no sockets (the CLI, a
cron job, a DMS import): it publishes on the same Redis channel the workers
listen to, so their emits reach every worker's clients.

Workers and emitters agree on the channel through ``channel_for``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import socketio

from shared.realtime.publisher import Emitter


def channel_for(url: str) -> str:
    """The pub/sub channel of one installation. Redis pub/sub ignores the
    database index, so the index names the channel: two installations (or
    test runs) sharing one Redis on different indexes never hear each other."""
    index = urlsplit(url).path.strip("/") or "0"
    return f"baylight-{index}"


def queue_emitter(url: str) -> Emitter:
    """An emitter that only publishes to the message queue at ``url``."""
    manager: Emitter = socketio.RedisManager(url, channel=channel_for(url), write_only=True)
    return manager
