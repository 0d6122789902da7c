"""The reports' worker process (shared/services/report_process.py): a real
``baylight serve`` computes its reports in a niced child of its own, in
every async mode, restarts it when it dies, and takes it along when it
ends; the worker's engine cannot write; a job that takes too long is
refused and the next one still answers."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import io
import os
import signal
import struct
import subprocess
import sys
import termios
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import requests
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.config import Settings
from shared.domain.errors import ValidationFailed
from shared.persistence.database import Database, upgrade_schema
from shared.services import queries, report_export, report_process, reports
from shared.services.core import Core
from shared.web import report_params
from tests.conftest import (
    HandClock,
    LiveServer,
    Shop,
    free_port,
    migrated_copy,
    offline_core,
    seed_shop,
    server_env,
)
from tests.report_jobs import clock_job, count_to, die_always, die_once, slow_job

# Past the server's own limit for a report (report_process.TIMEOUT_S, 60 s):
# the worker runs in the idle class, and beside a loaded suite on two cores
# its first report waited more than 30 s for the CPU (a fresh clone's run of
# 30 November); the server's answer, not the client's patience, decides.
WAIT = 90.0
MODES = ("eventlet", "gevent", "threading")


# ------------------------------------------------------------- helpers


def _today(shop: Shop) -> date:
    zone = ZoneInfo(queries.shop_timezone(shop.core, shop.shop_id))
    return datetime.now(zone).date()


def _open_orders(server: LiveServer, shop: Shop, plates: list[str]) -> None:
    for plate in plates:
        created = requests.post(
            f"{server.url}/api/v1/orders",
            json={"plate": plate, "booked": True, "customer": {"name": "张先生"}},
            headers=shop.headers("advisor"),
            timeout=WAIT,
        )
        assert created.status_code == 201, created.text
        order = created.json()
        moved = requests.post(
            f"{server.url}/api/v1/orders/{order['id']}/transitions",
            json={"to": "checked_in", "version": order["version"]},
            headers=shop.headers("advisor"),
            timeout=WAIT,
        )
        assert moved.status_code == 200, moved.text


def _summary(server: LiveServer, shop: Shop, day: date) -> requests.Response:
    return requests.get(
        f"{server.url}/api/v1/reports/summary",
        params={"from": day.isoformat(), "to": day.isoformat()},
        headers=shop.headers("manager"),
        timeout=WAIT,
    )


def _children(pid: int) -> list[tuple[int, str, str]]:
    """(pid, scheduling class, command line) of ``pid``'s children, as ps
    sees them (its NI column says "-" for a task of the idle class)."""
    found = subprocess.run(
        ["ps", "-ww", "-o", "pid=,cls=,args=", "--ppid", str(pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rows = []
    for line in found.splitlines():
        child, policy, args = line.strip().split(None, 2)
        rows.append((int(child), policy, args))
    return rows


def _niced(pid: int) -> bool:
    """At the worker's priority: nice 19 and Linux's idle class."""
    return (
        os.getpriority(os.PRIO_PROCESS, pid) == report_process.NICENESS
        and os.sched_getscheduler(pid) == os.SCHED_IDLE
    )


def _workers(server: LiveServer) -> list[tuple[int, str, str]]:
    assert server.process is not None
    return [row for row in _children(server.process.pid) if "spawn_main" in row[2]]


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A killed child the server has not reaped yet is a zombie: gone too.
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def _same_counts(answer: dict[str, Any], expected: dict[str, Any]) -> None:
    assert answer["figures"]["orders"] == expected["figures"]["orders"]
    assert answer["from"] == expected["from"] and answer["to"] == expected["to"]
    assert set(answer["figures"]) == set(expected["figures"])


# ------------------------------------------------------------- a real server


@pytest.mark.slow
def test_a_real_server_computes_reports_in_a_niced_worker_it_restarts_and_takes_along(
    live: tuple[LiveServer, Shop],
) -> None:
    server, shop = live
    assert _workers(server) == []  # started on the first report, not before
    _open_orders(server, shop, ["粤B10001", "粤B10002"])
    day = _today(shop)

    answer = _summary(server, shop, day)
    assert answer.status_code == 200, answer.text
    expected = reports.summary(shop.core, shop.shop_id, day, day)
    assert answer.json()["figures"]["orders"]["checked_in"] == 2
    _same_counts(answer.json(), expected)

    workers = _workers(server)
    assert len(workers) == 1, _children(server.process.pid if server.process else 0)
    first, policy, _args = workers[0]
    assert policy == "IDL" and _niced(first)

    # The other reports go to the same worker.
    for path in ("technicians", "advisors", "orders"):
        got = requests.get(
            f"{server.url}/api/v1/reports/{path}",
            params={"from": day.isoformat(), "to": day.isoformat()},
            headers=shop.headers("manager"),
            timeout=WAIT,
        )
        assert got.status_code == 200, (path, got.text)
    orders = requests.get(
        f"{server.url}/api/v1/reports/orders",
        params={"from": day.isoformat(), "to": day.isoformat(), "limit": 1},
        headers=shop.headers("manager"),
        timeout=WAIT,
    ).json()
    assert len(orders["orders"]) == 1 and orders["next_offset"] == 1
    assert [row[0] for row in _workers(server)] == [first]

    # Killed, it is replaced by the next report, which still answers. An
    # idle-class process dies only when the CPU gives it a turn: beside a
    # loaded suite that took over 5 s, so the wait is the suite's long one.
    os.kill(first, signal.SIGKILL)
    assert _gone(first, WAIT)
    again = _summary(server, shop, day)
    assert again.status_code == 200, again.text
    _same_counts(again.json(), expected)
    [(second, policy, _args)] = _workers(server)
    assert second != first and policy == "IDL" and _niced(second)

    # A change made meanwhile is in the next answer (the worker reads the
    # server's database, not a copy).
    _open_orders(server, shop, ["粤B10003"])
    latest = _summary(server, shop, day).json()
    assert latest["figures"]["orders"]["checked_in"] == 3

    # The worker ends with its server, even one killed outright.
    assert server.process is not None
    server.process.kill()
    server.process.wait(5)
    server.process = None
    # By itself, once the CPU lets it (docs/OPERATIONS.md): no SIGTERM here
    # took it out of the idle class.
    assert _gone(second, WAIT)


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode", [pytest.param(mode, marks=pytest.mark.async_mode(mode)) for mode in MODES]
)
def test_every_async_mode_answers_reports_from_the_worker(
    mode: str, live: tuple[LiveServer, Shop]
) -> None:
    server, shop = live
    _open_orders(server, shop, ["粤B20001"])
    day = _today(shop)
    pages = [
        requests.get(
            f"{server.url}/api/v1/reports/{path}",
            params={"from": day.isoformat(), "to": day.isoformat()},
            headers=shop.headers("manager"),
            timeout=WAIT,
        )
        for path in ("summary", "technicians", "advisors", "orders")
    ]
    assert [page.status_code for page in pages] == [200] * 4, [p.text for p in pages]
    assert pages[0].json()["figures"]["orders"]["checked_in"] == 1
    assert pages[3].json()["orders"][0]["plate"] == "粤B20001"
    # The downloads come from the worker too, read back whole.
    asked = {"from": day.isoformat(), "to": day.isoformat()}
    sheet = requests.get(
        f"{server.url}/api/v1/reports/orders.csv",
        params=asked,
        headers={**shop.headers("manager"), "Accept-Language": "en"},
        timeout=WAIT,
    )
    assert sheet.status_code == 200, sheet.text
    assert sheet.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
    header = [str(label) for _key, label in reports.order_columns()]
    assert rows[0] == header and len(rows) == 2 and "粤B20001" in rows[1]
    workbook = requests.get(
        f"{server.url}/api/v1/reports/orders.xlsx",
        params=asked,
        headers=shop.headers("foreman"),
        timeout=WAIT,
    )
    assert workbook.status_code == 200, workbook.text
    cells = list(openpyxl.load_workbook(io.BytesIO(workbook.content)).active.values)
    assert len(cells) == 2 and "粤B20001" in cells[1]
    # The headers in the reader's language (rendered in the request).
    assert cells[0][0] == "工单"
    assert len(cells[0]) == len(reports.order_columns(workshop_only=True))
    # A refused list is refused before the first byte.
    refused = requests.get(
        f"{server.url}/api/v1/reports/orders.csv",
        params={**asked, "only": "nonsense"},
        headers=shop.headers("manager"),
        timeout=WAIT,
    )
    assert refused.status_code == 422 and refused.json()["field"] == "only"
    [(pid, policy, _args)] = _workers(server)
    assert policy == "IDL" and _niced(pid)
    # While a report is computed the board still answers (the hub waits on
    # a real thread, not on the worker).
    assert requests.get(f"{server.url}/healthz", timeout=WAIT).json()["async_mode"] == mode
    server.stop()  # SIGTERM: the worker goes with it
    assert _gone(pid, 5)
    assert "Traceback" not in server.log.read_text(errors="replace")


def _started_with_its_worker(database_url: str, tmp_path: Path) -> tuple[LiveServer, int]:
    """A real server as a shop runs it (BAYLIGHT_REPORT_WORKER_AT_START on),
    started, and its worker's pid once the worker is there."""
    port = free_port()
    server = LiveServer(
        server_env(database_url, port, tmp_path, "eventlet", BAYLIGHT_REPORT_WORKER_AT_START="on"),
        port,
        tmp_path / "server.log",
    )
    server.start()
    deadline = time.monotonic() + WAIT
    while not _workers(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    found = _workers(server)
    if len(found) != 1:
        server.stop()
    assert len(found) == 1, found
    return server, found[0][0]


@pytest.mark.slow
@pytest.mark.postgres
def test_a_real_server_on_postgresql_reports_from_the_worker_it_started_with(
    migrated_postgres_url: str, tmp_path: Path
) -> None:
    """As a shop runs it (BAYLIGHT_REPORT_WORKER_AT_START unset or on): the
    worker is there before the first report, and that report uses it."""
    shop = seed_shop(offline_core(migrated_postgres_url, tmp_path))
    server, started = _started_with_its_worker(migrated_postgres_url, tmp_path)
    try:
        _open_orders(server, shop, ["粤B30001", "粤B30002"])
        day = _today(shop)
        answer = _summary(server, shop, day)
        assert answer.status_code == 200, answer.text
        assert answer.json()["figures"]["orders"]["checked_in"] == 2
        _same_counts(answer.json(), reports.summary(shop.core, shop.shop_id, day, day))
        [(pid, policy, _args)] = _workers(server)
        assert pid == started and policy == "IDL" and _niced(pid)
    finally:
        server.stop()
        shop.core.db.dispose()
    assert _gone(pid, 5)


def _unread(pid: int) -> int:
    """Bytes sent to ``pid`` that it has not read yet, in the pipes it
    reads from (its standard input aside), as FIONREAD counts them."""
    waiting = 0
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        if int(entry.name) <= 2:
            continue
        try:
            if not os.readlink(entry).startswith("pipe:"):
                continue
            info = Path(f"/proc/{pid}/fdinfo/{entry.name}").read_text()
            flags = int(info.split("flags:", 1)[1].split()[0], 8)
            if flags & os.O_ACCMODE != os.O_RDONLY:
                continue
            handle = os.open(entry, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            continue
        try:
            counted = fcntl.ioctl(handle, termios.FIONREAD, struct.pack("i", 0))
            waiting += struct.unpack("i", counted)[0]
        finally:
            os.close(handle)
    return waiting


def _revisions(shop: Shop, order_id: int) -> int:
    with shop.core.db.read() as session:
        found = session.execute(
            text("SELECT count(*) FROM order_event WHERE order_id = :o AND type = 'eta_revised'"),
            {"o": order_id},
        ).scalar_one()
    return int(found)


# A nice-0 busy loop on one core, the CPU a loaded machine leaves an
# idle-class process there.
BUSY_LOOP = """
import os, sys
os.sched_setaffinity(0, {int(sys.argv[1])})
while True:
    pass
"""


def test_a_stopped_server_takes_its_worker_along_on_a_busy_cpu(
    tmp_path: Path, migrated_template: Path
) -> None:
    """SIGTERM (systemd's stop): the server kills its worker before it dies,
    out of the idle class first, so the worker does not wait for a turn on
    a busy CPU to notice its parent gone (it outlived a server by minutes
    on a loaded machine)."""
    url = migrated_copy(migrated_template, tmp_path / "c.db")
    seed_shop(offline_core(url, tmp_path))
    server, worker = _started_with_its_worker(url, tmp_path)
    core = min(os.sched_getaffinity(worker))
    os.sched_setaffinity(worker, {core})
    hog = subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(core)])
    try:
        time.sleep(0.5)  # the loop holds the worker's core
        server.stop()
        assert _gone(worker, 2)
    finally:
        hog.kill()
        hog.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)


def test_a_real_server_plans_its_shops_in_the_worker_it_started_with(
    tmp_path: Path, migrated_template: Path
) -> None:
    """As a shop runs it (BAYLIGHT_REPORT_WORKER_AT_START unset or on), the
    shop's plans are computed in the worker process and recorded by the
    server: with the worker stopped (SIGSTOP) no revision comes, however
    long the server waits; let go, the waiting plan is recorded."""
    url = migrated_copy(migrated_template, tmp_path / "b.db")
    shop = seed_shop(offline_core(url, tmp_path))
    server, worker = _started_with_its_worker(url, tmp_path)
    try:
        os.kill(worker, signal.SIGSTOP)
        # Three hours of work promised in half an hour: the plan has news.
        promised = datetime.now(ZoneInfo("UTC")) + timedelta(minutes=30)
        created = requests.post(
            f"{server.url}/api/v1/orders",
            json={
                "plate": "粤B40001",
                "items": [{"title": "大修", "labour_hours": 3}],
                "promised_at": promised.isoformat(),
            },
            headers=shop.headers("advisor"),
            timeout=WAIT,
        )
        assert created.status_code == 201, created.text
        order_id = created.json()["id"]
        # The re-planner's round comes after 0.2 s: its job waits, unread,
        # at the stopped worker, and the server records nothing meanwhile.
        deadline = time.monotonic() + WAIT
        while _unread(worker) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _unread(worker) > 0, "no job reached the worker"
        assert _revisions(shop, order_id) == 0
        time.sleep(1.0)  # five of the re-planner's rounds
        assert _revisions(shop, order_id) == 0
        os.kill(worker, signal.SIGCONT)
        deadline = time.monotonic() + WAIT
        while _revisions(shop, order_id) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _revisions(shop, order_id) == 1
        assert [row[0] for row in _workers(server)] == [worker]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGCONT)
        server.stop()
        shop.core.db.dispose()
    assert "Traceback" not in server.log.read_text(errors="replace")


def test_a_report_its_worker_cannot_answer_in_time_is_a_503_and_the_next_one_answers(
    settings: Settings, shop: Shop
) -> None:
    """A server's app (not a testing one) through Flask's test client: the
    worker stopped (SIGSTOP), the request is refused in time (503 with a
    Retry-After); the stopped worker is killed and the next report answers."""
    from shared.realtime.hub import hub_of
    from shared.web.app import create_app

    app, socketio = create_app(dataclasses.replace(settings, testing=False))
    core = app.extensions["baylight"]
    client = app.test_client()
    asked = {"from": "2026-06-08", "to": "2026-06-08"}
    worker = report_process.worker_for(core)
    # Its protocol, not its priority (see "the worker itself" below).
    worker.lowered = False
    try:
        first = client.get(
            "/api/v1/reports/summary", query_string=asked, headers=shop.headers("manager")
        )
        assert first.status_code == 200, first.get_data(as_text=True)
        stopped = worker.pid()
        assert stopped is not None
        os.kill(stopped, signal.SIGSTOP)
        worker.timeout_s = 1.0
        refused = client.get(
            "/api/v1/reports/summary", query_string=asked, headers=shop.headers("manager")
        )
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == str(report_params.RETRY_AFTER_S)
        assert refused.get_json()["status"] == 503
        assert _gone(stopped, 5)
        worker.timeout_s = 60.0
        again = client.get(
            "/api/v1/reports/summary", query_string=asked, headers=shop.headers("manager")
        )
        assert again.status_code == 200 and again.get_json() == first.get_json()
    finally:
        worker.close()
        hub = hub_of(socketio)
        if hub is not None:
            hub.stop()
        core.db.dispose()


# ------------------------------------------------------------- the worker itself
#
# These test the worker's protocol (jobs, downloads, timeouts, restarts), not
# its priority (the real servers above check nice 19 and the idle class): the
# worker runs at the normal priority (``lowered=False``), where an idle-class
# one beside the rest of the suite waits its turn for tens of seconds.


def test_a_job_too_slow_is_refused_and_the_next_one_answers(settings: Settings, shop: Shop) -> None:
    worker = report_process.ReportWorker(settings, timeout_s=60.0, lowered=False)
    try:
        # A worker up and answering first: the short timeout below cuts the
        # slow job short, not the worker's start.
        assert worker.run(slow_job, datetime.now().astimezone(), 0.0) == 0.0
        worker.timeout_s = 1.0
        started = time.monotonic()
        with pytest.raises(report_process.ReportUnavailable):
            worker.run(slow_job, datetime.now().astimezone(), 30.0)
        assert time.monotonic() - started < 15
        assert worker.pid() is None  # killed
        # The worker's start counts in the time: a niced one on a busy machine
        # takes a while.
        worker.timeout_s = 60.0
        assert worker.run(slow_job, datetime.now().astimezone(), 0.0) == 0.0
        assert worker.starts == 2
        # The core's clock in the worker is the caller's moment.
        moment = datetime(2026, 6, 8, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert worker.run(clock_job, moment) == moment
        # A refusal comes back as the same error, field and all.
        with pytest.raises(ValidationFailed) as refused:
            worker.run(reports.summary, moment, shop.shop_id, date(2026, 6, 9), date(2026, 6, 8))
        assert refused.value.field == "to" and refused.value.status == 422
        # The figures are the ones computed here.
        day = date(2026, 6, 8)
        assert worker.run(reports.summary, moment, shop.shop_id, day, day) == reports.summary(
            shop.core, shop.shop_id, day, day
        )
    finally:
        worker.close()


def test_a_download_comes_from_the_worker_a_batch_at_a_time(settings: Settings, shop: Shop) -> None:
    worker = report_process.ReportWorker(settings, timeout_s=60.0, lowered=False)
    try:
        now = datetime.now().astimezone()
        assert list(worker.stream(count_to, now, 20)) == list(range(20))
        # The orders' CSV is the one made here, and a refusal comes before
        # the first line.
        day = date(2026, 6, 8)
        columns = report_process.labelled(reports.order_columns())
        made = worker.stream(
            report_process.csv_lines,
            now,
            shop.shop_id,
            day,
            day,
            only=None,
            workshop_only=False,
            columns=columns,
        )
        here = report_export.csv_stream(
            columns, reports.order_rows(shop.core, shop.shop_id, day, day)
        )
        assert list(made) == list(here)
        with pytest.raises(ValidationFailed):
            worker.stream(
                report_process.csv_lines,
                now,
                shop.shop_id,
                day,
                day - timedelta(days=1),
                only=None,
                workshop_only=False,
                columns=columns,
            )
        # A download left half-read is closed; the worker goes on.
        items = worker.stream(count_to, now, 100)
        assert [next(items) for _ in range(3)] == [0, 1, 2]
        items.close()  # type: ignore[attr-defined]
        # Its worker gone, a download ends with an error (never a hang, nor
        # items from a fresh worker's other download); the next one answers.
        items = worker.stream(count_to, now, 100)
        assert next(items) == 0
        pid = worker.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(report_process.ReportUnavailable):
            list(items)
        assert list(worker.stream(count_to, now, 3)) == [0, 1, 2]
    finally:
        worker.close()


def test_a_worker_that_dies_under_a_job_is_restarted_and_asked_once_more(
    settings: Settings, tmp_path: Path
) -> None:
    worker = report_process.ReportWorker(settings, timeout_s=30.0, lowered=False)
    try:
        now = datetime.now().astimezone()
        answered_by = worker.run(die_once, now, str(tmp_path / "died"))
        assert worker.starts == 2 and answered_by == worker.pid()
        # Dying every time is refused, not retried for ever.
        with pytest.raises(report_process.ReportUnavailable):
            worker.run(die_always, now)
        assert worker.starts == 3  # the running one, and one restart
    finally:
        worker.close()


def test_the_workers_sqlite_engine_cannot_write(settings: Settings, shop: Shop) -> None:
    reader = report_process.reader_core(settings)
    try:
        with reader.db.read() as session:
            assert session.execute(text("SELECT count(*) FROM shop")).scalar() == 1
            with pytest.raises(DBAPIError, match="readonly"):
                session.execute(text("UPDATE shop SET name = 'x'"))
    finally:
        reader.db.dispose()


def test_the_workers_postgresql_sessions_are_read_only(postgres_url: str, tmp_path: Path) -> None:
    database = Database(postgres_url)
    upgrade_schema(database)
    database.dispose()
    settings = Settings.from_env(
        {}, database_url=postgres_url, instance_path=tmp_path, testing=True
    )
    reader = report_process.reader_core(settings)
    try:
        with reader.db.read() as session:
            assert session.execute(text("SELECT count(*) FROM shop")).scalar() == 0
            with pytest.raises(DBAPIError, match="read-only transaction"):
                session.execute(text("UPDATE shop SET name = 'x'"))
    finally:
        reader.db.dispose()


def test_the_worker_encodes_a_summary_as_the_app_would(app: Any, core: Core, shop: Shop) -> None:
    """The summary's body comes encoded from where it was computed; it is
    byte for byte what the app's ``jsonify`` makes of the same figures."""
    from flask import jsonify

    core.clock = HandClock(datetime(2026, 6, 8, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    day = date(2026, 6, 8)
    requests_made = [
        ((shop.shop_id, day, day), {}),
        ((shop.shop_id, day - timedelta(days=30), day, "week"), {"workshop_only": True}),
    ]
    for args, kwargs in requests_made:
        body = report_process.encoded(core, reports.summary, *args, **kwargs)
        with app.app_context():
            expected = jsonify(reports.summary(core, *args, **kwargs)).get_data()
        assert body == expected
