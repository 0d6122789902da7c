"""Scale-out: two real worker processes on one
PostgreSQL database with the Socket.IO message queue on Redis.

A change committed through one worker reaches clients of the other; a
process that serves no sockets (the CLI) reaches them through the queue.
Then the faults: Redis restarted while changes stream (screens end with
every change through their seq check and resync, nothing duplicated),
PostgreSQL restarted under commands (a clear error or success on retry with
the same Idempotency-Key, never lost, never applied twice), and a worker
killed with SIGKILL (its screens reconnect to the other one and resync).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests

from shared.domain.stages import PauseReason, Stage
from shared.realtime.external import queue_emitter
from shared.services import orders, queries
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from tests.conftest import LANE, offline_core, parking_lane, seed_shop
from tests.e2e.sockets import Api, Recorder, connected

from .cluster import (
    Cluster,
    Screen,
    fresh_queue_url,
    live_stream_duplicates,
    redis_down,
    restart_postgres,
    start_cluster,
    start_redis,
    versions,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, scale_database: str) -> Iterator[Cluster]:
    """Two workers for the whole module (each start costs seconds)."""
    tmp = tmp_path_factory.mktemp("cluster")
    queue = fresh_queue_url()
    core = offline_core(scale_database, tmp)
    shop = seed_shop(core)
    parking_lane(core, shop.shop_id)
    cluster = start_cluster(tmp, scale_database, queue, shop)
    try:
        yield cluster
    finally:
        cluster.stop()
        core.db.dispose()
        start_redis()


@pytest.fixture
def cluster(running: Cluster) -> Iterator[Cluster]:
    """The module's cluster with both workers up and Redis running, even
    after a test that killed one or stopped Redis."""
    start_redis()
    for worker in running.workers:
        if worker.process is None or worker.process.poll() is not None:
            worker.start()
    yield running
    start_redis()


def board(url: str, cluster: Cluster, since: int | None = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"token": cluster.shop.tokens["display-board"]}
    if since is not None:
        auth["since"] = since
    return auth


def started_order(api: Api, cluster: Cluster, plate: str) -> dict[str, Any]:
    """An order dispatched (onto the parking lane: several run at once) and
    in progress. The foreman moves it: a technician's labour clock runs on
    one order at a time."""
    order = api.create(plate=plate)
    order = api.assign(order, LANE, [cluster.shop.technicians[0]])
    return api.move(order, "in_progress", role="foreman")


def toggle(api: Api, order: dict[str, Any]) -> dict[str, Any]:
    """One status change: pause a running job, or resume a paused one."""
    if order["stage"] == "in_progress":
        return api.move(order, "paused", role="foreman", pause_reason="other", reason="等专用工具")
    return api.move(order, "in_progress", role="foreman")


def database_view(api: Api) -> dict[int, tuple[str, int]]:
    orders_now = api.call("GET", "/orders?active=true", expect=200).json()["orders"]
    return {int(o["id"]): (o["stage"], int(o["version"])) for o in orders_now}


def test_change_through_worker_a_reaches_a_client_of_worker_b(cluster: Cluster) -> None:
    first, second = cluster.workers
    api = Api(first.url, cluster.shop.tokens)
    try:
        with connected(second.url, board(second.url, cluster)) as on_b:
            on_b.wait_for_snapshot()
            order = started_order(api, cluster, "粤B20001")
            on_b.wait_for_seq(api.last_seq())
            received = on_b.of("order")[-1].order
            assert (received["id"], received["stage"]) == (order["id"], "in_progress")
            assert received["version"] == order["version"]
    finally:
        api.close()


def test_a_process_without_sockets_emits_through_the_queue(
    cluster: Cluster, tmp_path: Path
) -> None:
    """What the CLI and background jobs do: their own core, no server, a
    write-only emitter on the queue; both workers' clients receive it."""
    first, second = cluster.workers
    api = Api(first.url, cluster.shop.tokens)
    outside = offline_core(cluster.database_url, tmp_path / "cli")
    outside.publisher.emitter = queue_emitter(cluster.queue_url)
    try:
        order = started_order(api, cluster, "粤B20002")
        with (
            connected(first.url, board(first.url, cluster)) as on_a,
            connected(second.url, board(second.url, cluster)) as on_b,
        ):
            on_a.wait_for_snapshot()
            on_b.wait_for_snapshot()
            principal = resolve_bearer(outside, cluster.shop.tokens["foreman"])
            assert principal is not None
            request = CommandRequest(actor=principal.actor(), shop_id=principal.shop_id)
            outcome = orders.transition_order(
                outside, request, order["id"], to=Stage.PAUSED, version=order["version"],
                reason="客户要求", pause_reason=PauseReason.OTHER,
            )  # fmt: skip
            seq = queries.current_seq(outside, principal.shop_id)
            for screen in (on_a, on_b):
                screen.wait_for_seq(seq)
                assert screen.of("order")[-1].order["stage"] == "paused"
            assert outcome.body["stage"] == "paused"
    finally:
        api.close()
        outside.db.dispose()


def test_redis_restarted_mid_stream_screens_end_with_every_change(cluster: Cluster) -> None:
    first, second = cluster.workers
    api_a = Api(first.url, cluster.shop.tokens)
    api_b = Api(second.url, cluster.shop.tokens)
    try:
        jobs = [started_order(api_a, cluster, f"粤B3000{n}") for n in range(3)]
        with (
            connected(first.url, board(first.url, cluster)) as on_a,
            connected(second.url, board(second.url, cluster)) as on_b,
        ):
            screens = [Screen(on_a), Screen(on_b)]
            for screen in screens:
                screen.recorder.wait_for_snapshot()
                screen.catch_up()
            jobs = [toggle(api_a, job) for job in jobs]
            with redis_down():
                # Commands still commit (Redis only carries the fan-out); what
                # they publish now is lost for the other worker's screens.
                jobs = [toggle(api_b, job) for job in jobs]
                jobs = [toggle(api_a, job) for job in jobs]
            # The workers' listeners reconnect on their own; changes after the
            # restart flow again, and the seq check closes the gap.
            jobs = [toggle(api_b, job) for job in jobs]
            expected = database_view(api_a)
            for screen in screens:
                screen.catch_up()
                assert versions(screen.orders) == expected
                assert live_stream_duplicates(screen.live()) == []
                assert screen.resent() == []
            # Each worker's own clients miss the other worker's changes only.
            assert sum(screen.gaps for screen in screens) >= 1
    finally:
        api_a.close()
        api_b.close()


def command_with_retries(
    url: str, headers: dict[str, str], body: dict[str, Any], deadline: float
) -> tuple[int, list[str]]:
    """POST an order until it succeeds, as a careful client does: the same
    Idempotency-Key every time. Returns the final status and what each failed
    attempt looked like (a problem+json 5xx or a connection error)."""
    failures: list[str] = []
    while time.monotonic() < deadline:
        try:
            response = requests.post(f"{url}/api/v1/orders", json=body, headers=headers, timeout=5)
        except requests.RequestException as error:
            failures.append(f"connection: {type(error).__name__}")
            time.sleep(0.1)
            continue
        if response.status_code < 500:
            return response.status_code, failures
        assert response.headers["Content-Type"].startswith("application/problem+json"), (
            response.status_code,
            response.text[:300],
        )
        failures.append(f"{response.status_code} {response.json().get('code')}")
        time.sleep(0.1)
    return 0, failures


def events_per_key(database_url: str, keys: list[str]) -> dict[str, int]:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT idempotency_key, count(*), count(DISTINCT order_id) FROM order_event "
            "WHERE idempotency_key = ANY(%s) GROUP BY idempotency_key",
            (keys,),
        )
        rows = cursor.fetchall()
    connection.close()
    assert all(distinct == 1 for _key, _count, distinct in rows), rows
    return {key: count for key, count, _distinct in rows}


def test_postgres_restarted_under_commands_none_lost_none_twice(cluster: Cluster) -> None:
    first, second = cluster.workers
    token = cluster.shop.tokens["advisor"]
    keys = [f"pg-restart-{n}-{secrets.token_hex(4)}" for n in range(16)]
    outcomes: list[tuple[int, list[str]]] = []
    deadline = time.monotonic() + 45
    for index, key in enumerate(keys):
        if index == len(keys) // 2:
            restart_postgres()
        worker = (first, second)[index % 2]
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        body = {"plate": f"粤C{40000 + index}"}
        outcomes.append(command_with_retries(worker.url, headers, body, deadline))
        # A replay through the other worker returns the first result.
        replay = requests.post(
            f"{(second, first)[index % 2].url}/api/v1/orders", json=body, headers=headers, timeout=5
        )
        assert replay.status_code == 201, replay.text
    assert [status for status, _failures in outcomes] == [201] * len(keys), outcomes
    counted = events_per_key(cluster.database_url, keys)
    created_once = {key: 1 for key in keys}
    assert counted == created_once


def test_worker_killed_its_screens_reconnect_to_the_other_and_resync(cluster: Cluster) -> None:
    survivor, victim = cluster.workers
    api = Api(survivor.url, cluster.shop.tokens)
    try:
        jobs = [started_order(api, cluster, f"粤B5000{n}") for n in range(2)]
        screen = Screen(Recorder(victim.url, board(victim.url, cluster)).connect())
        screen.recorder.wait_for_snapshot()
        screen.catch_up()
        jobs = [toggle(api, job) for job in jobs]
        screen.catch_up()
        victim.kill()
        assert screen.recorder.disconnected.wait(10)
        jobs = [toggle(api, job) for job in jobs]
        jobs.append(started_order(api, cluster, "粤B50009"))
        # What nginx does when an upstream is gone: the next connection goes
        # to a live worker; the screen resumes from its seq.
        screen.recorder.close()
        resumed = Screen(Recorder(survivor.url, board(survivor.url, cluster, screen.seq)))
        resumed.orders, resumed.seq = dict(screen.orders), screen.seq
        resumed.recorder.connect()
        try:
            resumed.catch_up()
            assert not resumed.recorder.of("snapshot"), "resumed with since, not a snapshot"
            assert versions(resumed.orders) == database_view(api)
            assert live_stream_duplicates(resumed.live()) == []
            assert resumed.resent() == []
        finally:
            resumed.recorder.close()
    finally:
        api.close()
