"""The Socket.IO server with reserved event names closed to clients, and
unreadable packets ending only their own connection.

python-socketio dispatches a client's EVENT packet by its name alone, so a
client that sends an ordinary event named ``disconnect`` runs the server's
disconnect handler while its socket stays open (and one named ``connect``
runs the connect handler again). Those names belong to the server's own
life-cycle: here every client event with such a name, or with no usable
name at all, is dropped before any handler sees it, whatever handlers are
registered now or later.

A packet the decoder cannot read (broken JSON, nesting past its recursion
limit, an integer past its size limit, an unknown packet type) raises inside
python-socketio, which logs a traceback and leaves the connection half-open;
here such a packet closes that one connection instead.
"""

from __future__ import annotations

from typing import Any

import socketio
from flask_socketio import SocketIO
from socketio import packet

# The life-cycle names of the Socket.IO protocol (the reference server's
# RESERVED_EVENTS), together with the ones python-socketio itself reserves.
PROTOCOL_RESERVED = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


# What a client may send; the server's own CONNECT_ERROR is not among them.
CLIENT_PACKETS = frozenset(
    {
        packet.CONNECT,
        packet.DISCONNECT,
        packet.EVENT,
        packet.ACK,
        packet.BINARY_EVENT,
        packet.BINARY_ACK,
    }
)


class ReservedEventGuard(socketio.Server):
    """``socketio.Server`` that ignores client events with a reserved name
    and closes a connection that sends a packet it cannot read."""

    reserved_events = sorted(PROTOCOL_RESERVED | set(socketio.Server.reserved_events))

    def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        # An attachment of a binary packet is raw bytes, read by the packet
        # it belongs to; everything else is a packet of its own.
        if eio_sid not in self._binary_packet and not self._readable(eio_sid, data):
            self.eio.disconnect(eio_sid)
            return
        super()._handle_eio_message(eio_sid, data)

    def _readable(self, eio_sid: str, data: Any) -> bool:
        """Whether the packet decodes into one a client may send. Decoded
        once more here: clients send a packet every few seconds at most."""
        try:
            pkt = self.packet_class(encoded_packet=data)
        except Exception:  # whatever the decoder raises on garbage
            return False
        if pkt.packet_type not in CLIENT_PACKETS:
            return False
        if pkt.packet_type in (packet.BINARY_EVENT, packet.BINARY_ACK):
            return self.manager.sid_from_eio_sid(eio_sid, pkt.namespace or "/") is not None
        return True

    def _handle_event(self, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None:
        # Plain EVENT and BINARY_EVENT packets both arrive here; connect and
        # disconnect *packets* take other paths and are unaffected.
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return
        if data[0] in self.reserved_events:
            return
        super()._handle_event(eio_sid, namespace, id, data)


class GuardedSocketIO(SocketIO):
    """Flask-SocketIO whose server is a ``ReservedEventGuard``.

    Flask-SocketIO builds a plain ``socketio.Server`` inside ``init_app``
    and offers no way to name another class; the guard adds behaviour only,
    so the server built there becomes one in place, before any client can
    connect.
    """

    def init_app(self, app: Any, **kwargs: Any) -> None:
        super().init_app(app, **kwargs)
        if not isinstance(self.server, ReservedEventGuard):
            self.server.__class__ = ReservedEventGuard
            # The Engine.IO server holds the message handler bound when the
            # server was built; bind it again so it is the guard's.
            self.server.eio.on("message", self.server._handle_eio_message)
