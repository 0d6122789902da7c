"""A write-only emitter for processes that serve no sockets (the CLI, a
cron job, a DMS import): it publishes on the same Redis channel the workers
listen to, so their emits reach every worker's clients.

Flask-SocketIO's server listens on the channel ``flask-socketio``; a bare
python-socketio manager would default to ``socketio`` and reach nobody.
"""

from __future__ import annotations

import socketio

from shared.realtime.publisher import Emitter

# Flask-SocketIO's default channel, which create_app does not override.
CHANNEL = "flask-socketio"


def queue_emitter(url: str) -> Emitter:
    """An emitter that only publishes to the message queue at ``url``."""
    manager: Emitter = socketio.RedisManager(url, channel=CHANNEL, write_only=True)
    return manager
