"""``baylight notify-worker`` and the sender inside ``baylight serve`` as real
processes (issue 17): killed with -9 between the provider taking a message
and the outbox recording it, two workers draining one PostgreSQL outbox,
SIGTERM, and the background task of ``serve`` in every async mode. The
providers are the local servers of tests/notify/providers.py; the clock is
the real one (the shop's quiet hours are switched off: the tests run at any
hour)."""

from __future__ import annotations

import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from shared import cli_notify
from shared.config import Settings
from shared.notify import registry
from shared.notify.sender import Sender, sender_in_serve
from shared.services.core import Core
from tests.conftest import (
    ROOT,
    HandClock,
    LiveServer,
    Shop,
    free_port,
    seed_shop,
    server_env,
)
from tests.notify import providers
from tests.notify.providers import AliyunSmsServer
from tests.notify.sender_flow import consenting, no_quiet_hours, rows
from tests.reception.flow import Workshop, flask_call, http_call

WAIT_SECONDS = 30.0
aliyun_sms_server = providers.aliyun_sms_server


def worker_env(database_url: str, tmp: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAYLIGHT_")}
    env.update(
        BAYLIGHT_DATABASE_URL=database_url,
        BAYLIGHT_INSTANCE_PATH=str(tmp),
        BAYLIGHT_SECRET_KEY=secrets.token_hex(16),
        BAYLIGHT_PUBLIC_URL="https://service.example.com",
        PYTHONUNBUFFERED="1",
    )
    env.update(more)
    return env


def start_worker(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "shared.entrypoint", "notify-worker", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def wait_until(done: Any, what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(15)


@pytest.fixture
def workshop(client: Any, shop: Shop, core: Core) -> Workshop:
    no_quiet_hours(core, shop.shop_id)
    return Workshop(flask_call(client), shop)


def test_a_worker_killed_after_the_provider_took_a_message_does_not_cause_a_second(
    workshop: Workshop,
    core: Core,
    settings: Settings,
    tmp_path: Path,
    aliyun_sms_server: AliyunSmsServer,
) -> None:
    workshop.create(**consenting(("sms",)))
    # The provider takes the message and its answer is held back: the worker
    # sits in the send (a long timeout) when it is killed.
    aliyun_sms_server.set_mode("drop_reply")
    env = worker_env(
        settings.database_url,
        tmp_path,
        **aliyun_sms_server.environ(BAYLIGHT_NOTIFY_TIMEOUT="60"),
    )
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        wait_until(lambda: len(aliyun_sms_server.received) == 1, "the provider taking the SMS")
        left = rows(core)[0]
        # Claimed and its attempt recorded before the provider was called.
        assert (left.status, left.attempts, left.recipient) == ("sending", 1, "13800000000")
        worker.kill()
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    aliyun_sms_server.set_mode("ok")
    assert left.claimed_until is not None
    # The next sender finds it once the dead worker's lease has run out.
    core.clock = HandClock(left.claimed_until + timedelta(seconds=1))
    environ = aliyun_sms_server.environ()
    Sender(
        core,
        channels_for=lambda s, shop_settings: registry.channels_for(
            s, shop_settings, environ=environ
        ),
        rng=random.Random(1),
    ).drain_once()
    assert [(m.status, m.attempts) for m in rows(core)] == [("sent", 1)]
    assert len(aliyun_sms_server.received) == 1


def test_sigterm_ends_the_worker_and_once_drains_what_is_due(
    workshop: Workshop,
    core: Core,
    settings: Settings,
    tmp_path: Path,
    aliyun_sms_server: AliyunSmsServer,
) -> None:
    env = worker_env(settings.database_url, tmp_path, **aliyun_sms_server.environ())
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        workshop.create(**consenting(("sms",)))
        wait_until(lambda: [m.status for m in rows(core)] == ["sent"], "the worker sending")
        # It runs at a low priority, so a shared box's serve comes first.
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == cli_notify.NICENESS
    finally:
        code = stop(worker)
    assert code == 0, (tmp_path / "worker.log").read_text()
    log = (tmp_path / "worker.log").read_text()
    assert "notify-worker: stopped; messages handled: 1" in log
    # No credential in what it printed.
    assert "aliyun-secret" not in log
    # The tracking link is the public address, not the listening one.
    assert aliyun_sms_server.received[0].params["link"].startswith("https://service.example.com/t/")
    workshop.create(**consenting(("sms",)))
    once = subprocess.run(
        [sys.executable, "-m", "shared.entrypoint", "notify-worker", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert once.returncode == 0, once.stderr
    assert "messages handled: 1 " in once.stdout
    assert len(aliyun_sms_server.received) == 2


@pytest.mark.postgres
def test_two_workers_on_postgresql_send_each_message_once(
    migrated_postgres_url: str, tmp_path: Path, aliyun_sms_server: AliyunSmsServer
) -> None:
    from shared.web.app import create_app

    app, _socketio = create_app(
        Settings.from_env(
            {},
            database_url=migrated_postgres_url,
            instance_path=tmp_path,
            async_mode="threading",
            testing=True,
        )
    )
    core: Core = app.extensions["baylight"]
    workers: list[subprocess.Popen[bytes]] = []
    try:
        shop = seed_shop(core)
        no_quiet_hours(core, shop.shop_id)
        workshop = Workshop(flask_call(app.test_client()), shop)
        count = 40
        for index in range(count):
            workshop.create(plate=f"粤B{10000 + index}", **consenting(("sms",)))
        # Paced so that one worker alone would need two seconds: both take part.
        env = worker_env(
            migrated_postgres_url, tmp_path, **aliyun_sms_server.environ(BAYLIGHT_SMS_RATE="20")
        )
        logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
        workers = [start_worker(env, log) for log in logs]
        wait_until(
            lambda: [m.status for m in rows(core)] == ["sent"] * count, "both workers draining"
        )
        codes = [stop(worker) for worker in workers]
        assert codes == [0, 0]
        keys = sorted(m.dedupe_key for m in rows(core))
        taken = sorted(item.out_id for item in aliyun_sms_server.received)
        # Every message once: none lost, none taken twice.
        assert taken == keys and len(set(taken)) == count
        assert all(m.attempts == 1 for m in rows(core))
        handled = [
            int(re.findall(r"stopped; messages handled: (\d+)", log.read_text())[0]) for log in logs
        ]
        assert sum(handled) == count and min(handled) > 0, handled
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        core.db.dispose()


@pytest.fixture
def served(
    tmp_path: Path,
    migrated_template: Path,
    aliyun_sms_server: AliyunSmsServer,
    request: pytest.FixtureRequest,
) -> Iterator[tuple[LiveServer, Shop]]:
    from tests.conftest import migrated_copy, offline_core

    mode, sender = request.param
    database_url = migrated_copy(migrated_template, tmp_path / "live.db")
    seeded = seed_shop(offline_core(database_url, tmp_path))
    no_quiet_hours(seeded.core, seeded.shop_id)
    port = free_port()
    env = server_env(
        database_url,
        port,
        tmp_path,
        mode,
        BAYLIGHT_NOTIFY_SENDER=sender,
        **aliyun_sms_server.environ(),
    )
    server = LiveServer(env, port, tmp_path / "server.log")
    server.start()
    yield server, seeded
    server.stop()
    seeded.core.db.dispose()


@pytest.mark.parametrize(
    "served",
    [("eventlet", "on"), ("gevent", "on"), ("threading", "on")],
    indirect=True,
    ids=["eventlet", "gevent", "threading"],
)
def test_serve_sends_in_the_background_in_every_async_mode(
    served: tuple[LiveServer, Shop], aliyun_sms_server: AliyunSmsServer
) -> None:
    server, shop = served
    workshop = Workshop(http_call(server.url), shop)
    order = workshop.create(**consenting(("sms",)))
    wait_until(lambda: len(aliyun_sms_server.received) == 1, "serve sending the SMS")
    wait_until(lambda: [m.status for m in rows(shop.core, order["id"])] == ["sent"], "the outcome")
    # The server kept answering while it sent.
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("served", [("eventlet", "off")], indirect=True, ids=["off"])
def test_serve_leaves_sending_to_a_worker_when_told(
    served: tuple[LiveServer, Shop], aliyun_sms_server: AliyunSmsServer
) -> None:
    server, shop = served
    workshop = Workshop(http_call(server.url), shop)
    workshop.create(**consenting(("sms",)))
    # /metrics counts the outbox all the same (read in the background).
    wait_until(
        lambda: (
            'baylight_notifications{channel="sms",status="queued"} 1'
            in requests.get(f"{server.url}/metrics", timeout=5).text
        ),
        "the outbox counted",
    )
    assert aliyun_sms_server.received == []
    assert [m.status for m in rows(shop.core)] == ["queued"]


def test_the_switch_reads_on_and_off_only() -> None:
    assert sender_in_serve({}) is True
    assert sender_in_serve({"BAYLIGHT_NOTIFY_SENDER": "on"}) is True
    assert sender_in_serve({"BAYLIGHT_NOTIFY_SENDER": "OFF"}) is False
    from shared.config import ConfigError

    with pytest.raises(ConfigError, match="BAYLIGHT_NOTIFY_SENDER"):
        sender_in_serve({"BAYLIGHT_NOTIFY_SENDER": "no"})
