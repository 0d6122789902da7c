"""kill -9 in the middle of group commits loses no acknowledged command and
applies no unacknowledged one twice: the real server, real clients.

Eight clients open orders as fast as the server answers, each request with
its own Idempotency-Key and plate, so commands pile up behind the writer and
are committed in groups. The server is killed (SIGKILL, no shutdown) while
they send. Afterwards, on a restarted server:

- every request that was answered 201 is in the database as answered (same
  order id), exactly once;
- every request that had no answer is sent again with the same key, as a
  client retries, and then exists exactly once;
- the shop's event log is gap-free (seq 1..n) and every order row is there.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import func, select

from shared.persistence.models import OrderEvent, RepairOrder
from shared.services.auth import create_api_token
from tests.conftest import (
    LiveServer,
    Shop,
)

CLIENTS = 8
# Answered creations before the kill: enough for many group commits.
ACKNOWLEDGED_BEFORE_KILL = 120


@dataclass
class Sent:
    key: str
    plate: str
    headers: dict[str, str]
    answered_id: int | None = None


@dataclass
class Traffic:
    sent: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def acknowledged(self) -> int:
        with self.lock:
            return sum(1 for s in self.sent if s.answered_id is not None)


def body(plate: str) -> dict[str, Any]:
    return {"plate": plate, "items": [{"title": "更换机油", "labour_hours": 0.5}]}


def create(url: str, sent: Sent, timeout: float) -> requests.Response:
    headers = {**sent.headers, "Idempotency-Key": sent.key}
    return requests.post(
        f"{url}/api/v1/orders", json=body(sent.plate), headers=headers, timeout=timeout
    )


def client(url: str, number: int, token: str, traffic: Traffic) -> None:
    """Open orders until told to stop or the server is gone."""
    headers = {"Authorization": f"Bearer {token}"}
    for n in range(10_000):
        if traffic.stop.is_set():
            return
        sent = Sent(f"durable-{number}-{n}", f"粤K{number}{n:04d}", headers)
        with traffic.lock:
            traffic.sent.append(sent)
        try:
            reply = create(url, sent, timeout=10)
        except requests.RequestException:
            return  # the server died under this request: unanswered
        assert reply.status_code == 201, reply.text
        sent.answered_id = int(reply.json()["id"])


def test_kill_during_group_commits_loses_nothing_answered_and_doubles_nothing(
    live: tuple[LiveServer, Shop],
) -> None:
    server, shop = live
    tokens = [
        create_api_token(shop.core, shop_id=shop.shop_id, role="advisor", name=f"desk {i}")
        for i in range(CLIENTS)
    ]
    traffic = Traffic()
    threads = [
        threading.Thread(target=client, args=(server.url, i, tokens[i], traffic), daemon=True)
        for i in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while traffic.acknowledged() < ACKNOWLEDGED_BEFORE_KILL:
        assert time.monotonic() < deadline, "the server never got that far"
        time.sleep(0.01)
    metrics = requests.get(f"{server.url}/metrics", timeout=5).text
    server.kill()
    traffic.stop.set()
    for thread in threads:
        thread.join(20)
        assert not thread.is_alive()

    # Commands really were committed in groups before the kill.
    commits = _metric(metrics, "baylight_command_commits_total")
    carried = _metric(metrics, "baylight_committed_commands_total")
    assert carried > commits > 0, (carried, commits)

    server.start()
    unanswered = [s for s in traffic.sent if s.answered_id is None]
    assert unanswered, "no request was in flight at the kill"
    for sent in unanswered:
        reply = create(server.url, sent, timeout=10)
        assert reply.status_code == 201, reply.text
        sent.answered_id = int(reply.json()["id"])

    with shop.core.db.read() as session:
        rows = dict(
            session.execute(
                select(RepairOrder.plate, RepairOrder.id).where(RepairOrder.shop_id == shop.shop_id)
            ).all()
        )
        per_plate = dict(
            session.execute(
                select(RepairOrder.plate, func.count())
                .where(RepairOrder.shop_id == shop.shop_id)
                .group_by(RepairOrder.plate)
            ).all()
        )
        seqs = list(
            session.execute(
                select(OrderEvent.seq)
                .where(OrderEvent.shop_id == shop.shop_id)
                .order_by(OrderEvent.seq)
            ).scalars()
        )
    for sent in traffic.sent:
        assert per_plate.get(sent.plate) == 1, sent
        assert rows[sent.plate] == sent.answered_id, sent
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(traffic.sent) >= ACKNOWLEDGED_BEFORE_KILL


def _metric(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError(f"{name} not in /metrics")
