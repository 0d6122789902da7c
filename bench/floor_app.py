"""The bare Flask-SocketIO broadcast floor: the least any Flask-SocketIO app
can do per change (join the room named in ``auth.token``, emit to a room on
an HTTP POST), in the same async mode and with the same transport settings
as Baylight. The benchmark divides Baylight's figures by these.

Run: python -m bench.floor_app --port P --mode eventlet|gevent|threading
"""

from __future__ import annotations

import argparse
import sys

# The payload the floor emits is padded to the size of Baylight's staff view,
# so the ratio measures the product's work, not message size.
PADDING = 900


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", default="eventlet")
    parser.add_argument("--queue", default="")
    args = parser.parse_args()
    from shared.entrypoint import patch_for

    patch_for(args.mode)
    serve(args.port, args.mode, args.queue)


def serve(port: int, mode: str, queue: str) -> None:
    from flask import Flask, request
    from flask_socketio import SocketIO, join_room

    from shared.server import _raise_file_limit, run_kwargs
    from shared.web.app import raise_gc_threshold

    app = Flask("floor")
    socketio = SocketIO(
        app,
        async_mode=mode,
        message_queue=queue or None,
        ping_interval=20,
        ping_timeout=20,
        logger=False,
        engineio_logger=False,
    )
    padding = "x" * PADDING

    @socketio.on("connect")
    def connect(auth: dict[str, str] | None = None) -> bool:
        if not auth or "token" not in auth:
            return False
        join_room(auth["token"])
        return True

    @app.post("/emit")
    def emit() -> tuple[str, int]:
        body = request.get_json()
        order = {"id": body["id"], "version": body["version"], "padding": padding}
        socketio.emit("order", {"seq": body["version"], "order": order}, to=body["room"])
        return "", 204

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    _raise_file_limit()
    raise_gc_threshold()
    print(f"floor on {port} ({mode})", file=sys.stderr, flush=True)
    socketio.run(app, host="127.0.0.1", port=port, **run_kwargs(mode))


if __name__ == "__main__":
    main()
