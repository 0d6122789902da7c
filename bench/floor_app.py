"""The bare Flask-SocketIO broadcast floor: the least any Flask-SocketIO app
can do per change (join the room named in ``auth.token``, emit to a room on
an HTTP POST), in the same async mode and with the same transport settings
as Baylight. The benchmark divides Baylight's figures by these.

``/commit`` is the floor of a committed change: with ``--database`` it runs
the least an event-sourced change needs through the SQLAlchemy ORM on SQLite
with Baylight's durability settings (WAL, ``synchronous=FULL``, ``BEGIN
IMMEDIATE``): lock the counter row, read the entity, write it, append one
event row, commit, then emit.

With ``--snapshot-bytes N`` every connection is sent a ``snapshot`` message
of about N bytes as it connects: the floor of a reconnect storm, where the
product sends each board its snapshot (the benchmark passes the size the
product's own snapshot had).

Run: python -m bench.floor_app --port P --mode eventlet|gevent|threading
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

# The payload the floor emits is padded to the size of Baylight's staff view,
# so the ratio measures the product's work, not message size.
PADDING = 900
PADDING_TEXT = "x" * PADDING


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", default="eventlet")
    parser.add_argument("--queue", default="")
    parser.add_argument("--database", default="", help="SQLite file for /commit")
    parser.add_argument("--snapshot-bytes", type=int, default=0, help="snapshot sent on connect")
    args = parser.parse_args()
    from shared.entrypoint import patch_for

    patch_for(args.mode)
    serve(args.port, args.mode, args.queue, args.database, args.snapshot_bytes)


# The Socket.IO text of a snapshot with an empty padding: 42["snapshot",{...}]
SNAPSHOT_OVERHEAD = len('42["snapshot",{"seq":1,"padding":""}]')


def serve(port: int, mode: str, queue: str, database: str = "", snapshot_bytes: int = 0) -> None:
    from flask import Flask, request
    from flask_socketio import SocketIO, join_room
    from flask_socketio import emit as reply

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
    snapshot = {"seq": 1, "padding": "x" * max(0, snapshot_bytes - SNAPSHOT_OVERHEAD)}

    @socketio.on("connect")
    def connect(auth: dict[str, str] | None = None) -> bool:
        if not auth or "token" not in auth:
            return False
        join_room(auth["token"])
        if snapshot_bytes:
            reply("snapshot", snapshot)
        return True

    @app.post("/emit")
    def emit() -> tuple[str, int]:
        body = request.get_json()
        order = {"id": body["id"], "version": body["version"], "padding": padding}
        socketio.emit("order", {"seq": body["version"], "order": order}, to=body["room"])
        return "", 204

    if database:
        commit = commit_route(database, socketio)
        app.post("/commit/<int:entity_id>")(commit)

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    _raise_file_limit()
    raise_gc_threshold()
    print(f"floor on {port} ({mode})", file=sys.stderr, flush=True)
    socketio.run(app, host="127.0.0.1", port=port, **run_kwargs(mode))


def commit_route(database: str, socketio: Any) -> Any:
    """The committed-change floor, on its own three tables."""
    import threading

    from flask import jsonify, request
    from sqlalchemy import JSON, Column, ForeignKey, Integer, String, create_engine, event, select
    from sqlalchemy.orm import DeclarativeBase, sessionmaker

    from shared.persistence.database import sqlite_pragmas

    class Base(DeclarativeBase):
        pass

    class Counter(Base):
        __tablename__ = "counter"
        id = Column(Integer, primary_key=True)
        last_seq = Column(Integer, default=0)

    class Entity(Base):
        __tablename__ = "entity"
        id = Column(Integer, primary_key=True)
        stage = Column(String(20), default="in_progress")
        version = Column(Integer, default=1)

    class Change(Base):
        __tablename__ = "change"
        id = Column(Integer, primary_key=True)
        seq = Column(Integer)
        entity_id = Column(ForeignKey("entity.id"))
        data = Column(JSON)

    engine = create_engine(
        f"sqlite:///{database}", connect_args={"check_same_thread": False}, pool_size=8
    )

    # Baylight's own connection settings (WAL, synchronous=FULL), not a copy.
    event.listen(engine, "connect", sqlite_pragmas)

    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as session:
        session.add(Counter(id=1))
        session.add_all(Entity(id=n) for n in range(1, 101))
    lock = threading.Lock()

    def commit(entity_id: int) -> Any:
        body = request.get_json()
        with lock, sessions() as session, session.begin():
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            counter = session.execute(select(Counter).where(Counter.id == 1)).scalar_one()
            entity = session.get(Entity, entity_id)
            if entity is None or entity.version != body["version"]:
                return jsonify(error="stale"), 409
            counter.last_seq += 1
            entity.stage, entity.version = body["to"], entity.version + 1
            session.add(Change(seq=counter.last_seq, entity_id=entity_id, data={"to": body["to"]}))
            view = {"id": entity_id, "stage": entity.stage, "version": entity.version}
        view["padding"] = PADDING_TEXT
        room = body.get("room", "room")
        socketio.emit("order", {"seq": counter.last_seq, "order": view}, to=room)
        del view["padding"]
        return jsonify(view)

    return commit


if __name__ == "__main__":
    main()
