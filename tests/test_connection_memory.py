"""A board's connect leaves nothing for the garbage collector to free.

Flask-SocketIO runs the connect handler in a request context whose request
carries Flask's 404 for the Engine.IO path, and that exception's traceback
refers back to the context: a reference cycle. Connects that wait (batched
lookups, the database) hold it past a young collection, which moves it to
an older generation, freed much later in one go; the holes it leaves
between the connections' long-lived objects cost the server memory per
connection (issue 19). The hub drops the exception, so leaving the context
frees request and context at once.

In process: the real app, hub and SQLite database, Flask-SocketIO's test
client as the board. With the collector off, whatever the connect left in a
cycle is still alive afterwards and is counted.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from flask.ctx import RequestContext
from flask.wrappers import Request

from shared.realtime.hub import Hub, hub_of
from tests.conftest import Shop


def alive(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, kind))


@pytest.fixture
def hub(socketio: Any) -> Iterator[Hub]:
    found = hub_of(socketio)
    assert found is not None
    found.stop()  # no background rounds while objects are counted
    yield found


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_board_connect_frees_its_request_context_without_the_collector(
    app: Any, socketio: Any, shop: Shop, hub: Hub, collector_off: None
) -> None:
    # The first connect builds the snapshot and warms caches; count the next.
    socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    contexts, requests = alive(RequestContext), alive(Request)

    board = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})

    assert board.is_connected()
    assert [m["name"] for m in board.get_received()] == ["snapshot"]
    assert len(hub.connections) == 2
    assert alive(RequestContext) == contexts
    assert alive(Request) == requests


def test_a_resync_frees_its_request_context_without_the_collector(
    app: Any, socketio: Any, shop: Shop, hub: Hub, collector_off: None
) -> None:
    board = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    board.get_received()
    contexts, requests = alive(RequestContext), alive(Request)

    board.emit("resync", {})

    assert board.is_connected()
    assert [m["name"] for m in board.get_received()] == ["snapshot"]
    assert alive(RequestContext) == contexts
    assert alive(Request) == requests
