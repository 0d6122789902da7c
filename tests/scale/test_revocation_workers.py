"""Revocation across workers: two real ``baylight serve`` workers on one
PostgreSQL database with the Socket.IO queue on Redis. A screen revoked on
the admin page of worker A loses its socket on worker B within the limit,
although B was never told: B's own re-check finds it in the database."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shared.services import devices, setup
from tests.conftest import offline_core, seed_shop
from tests.e2e.sockets import Recorder

from .cluster import (
    Cluster,
    fresh_queue_url,
    start_cluster,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

LIMIT = 5.0
PASSWORD = "lange-genug-42"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def cluster(tmp_path: Path, scale_database: str) -> Iterator[Cluster]:
    queue = fresh_queue_url()
    core = offline_core(scale_database, tmp_path)
    shop = seed_shop(core)
    setup.create_user(core, shop.shop_id, role="admin", name="店长", password=PASSWORD)
    running = start_cluster(tmp_path, scale_database, queue, shop)
    try:
        yield running
    finally:
        running.stop()
        core.db.dispose()


def metrics_gauge(url: str) -> int:
    found = re.search(
        r"^baylight_socket_connections (\d+)$",
        requests.get(f"{url}/metrics", timeout=5).text,
        re.MULTILINE,
    )
    assert found
    return int(found.group(1))


def test_a_screen_revoked_through_worker_a_is_cut_on_worker_b(cluster: Cluster) -> None:
    first, second = cluster.workers
    core = cluster.shop.core
    started = devices.start_pairing(core, "board")
    device_id = devices.approve_pairing(
        core, started.user_code, kind="board", name="车间看板", shop_id=cluster.shop.shop_id
    )
    token = devices.poll_pairing(core, started.device_code)["device_token"]

    admin = requests.Session()
    login = CSRF.search(admin.get(f"{first.url}/login", timeout=5).text)
    assert login
    signed = admin.post(
        f"{first.url}/login",
        data={"name": "店长", "password": PASSWORD, "csrf_token": login.group(1)},
        allow_redirects=False,
        timeout=5,
    )
    assert signed.status_code in (302, 303), signed.text

    screen = Recorder(second.url, {"token": token}).connect()
    try:
        screen.wait_for_snapshot()
        assert metrics_gauge(second.url) == 1
        page = CSRF.search(admin.get(f"{first.url}/admin", timeout=5).text)
        assert page
        revoked_at = time.monotonic()
        answer = admin.post(
            f"{first.url}/admin/devices/{device_id}/revoke",
            data={"csrf_token": page.group(1)},
            allow_redirects=False,
            timeout=5,
        )
        assert answer.status_code == 303, answer.text
        assert screen.disconnected.wait(LIMIT + 1), "worker B never cut the socket"
        elapsed = time.monotonic() - revoked_at
        assert elapsed <= LIMIT, f"cut after {elapsed:.2f} s"
        deadline = time.monotonic() + LIMIT
        while metrics_gauge(second.url) != 0:
            assert time.monotonic() < deadline, "worker B still counts the socket"
            time.sleep(0.05)
    finally:
        screen.close()
        admin.close()
