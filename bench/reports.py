"""The reports section of ``make bench`` (issue 16): a busy shop's year
(bench/reports_data.py; about 300 orders a day, cached under bench/.cache/)
on SQLite and on PostgreSQL, and what the manager's figures cost on it.

Scenarios (``python -m bench.reports``, or inside ``python -m bench.run``):

* ``reports-sqlite`` / ``reports-postgresql``: today's live summary, the
  last 30 days, the last 365 days, and the CSV of every order of the last
  30 and 365 days, each asked of a freshly started process: its first
  request (cold; asked once the report worker ``serve`` starts with itself
  is up, the seconds that took given as ``<what>_worker_ready_s``) and then
  ``WARM_REPEATS`` more (warm, the median). Through
  the real REST API of a real ``baylight serve`` when the reports API
  answers; otherwise the service functions in a fresh process (the report
  says which). The CSV is read to its last byte; its memory is the serving
  process's peak RSS above its RSS before the request (sampled every 20
  ms), one month against twelve: flat means the year's peak is not more
  than twice the month's. The **floor** round asks the same database the
  least any report of those days must do: ``count(*)`` of the events of the
  orders in range (the rows every figure is folded from), and for the CSV
  the plain ``SELECT`` of those orders' rows written with ``csv.writer``.
* ``reports-rooms``: the busy dealer (bench/run.py's rooms: 500 screens in
  50 shops, 100 changes/s) on a database that also holds the busy shop's
  year, with a year summary asked every second through the API (product)
  and without (floor), alternating: the p99 tap-to-screen both ways says
  whether a report holds the write lock or delays a change's publish. The
  server's report worker inherits the server's pin to one core there (a
  one-core machine); ``reports-rooms-spread`` moves it to the other core,
  where the kernel would run it on a machine of two cores or more.
* Two diagnostics of ``reports-rooms`` (not judged; they tell where its
  p99 comes from): ``reports-rooms-today`` asks today's summary every
  second instead of the year's (the server's side of a report request, the
  worker barely working), and ``reports-rooms-hog`` asks nothing but runs
  a plain busy loop at the worker's priority (nice 19, the idle scheduling
  class) on the server's core, busy ``HOG_BUSY_S`` of every second as the
  year summary keeps the worker (the kernel's and the core's side of a
  worker computing beside the server, without a request);
  ``reports-rooms-reader`` holds a read transaction open on the database
  (one row read, then idle) ``HOG_BUSY_S`` of every second, as the worker's
  year summary does, with next to no CPU (SQLite's side: a reader's
  snapshot keeps the writer's WAL checkpoints from finishing);
  ``reports-rooms-compute`` computes the same year summary every second in
  a process of its own beside the server (its core, the worker's priority,
  a read-only engine as the worker's) but asks the server nothing: the
  computation's own cost to the server, without the request, the worker's
  pipe or its turn; ``reports-rooms-noplan`` is ``reports-rooms`` with the
  re-planning off on both sides (the plans share the worker's turn with the
  reports), and ``reports-rooms-compute-noplan`` / ``-reader-noplan`` are
  those two with it off (the worker otherwise idle on both sides).

Rounds alternate product and floor, three each in a full run; every figure
is the median with each round beside it (bench/method.py).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from bench import method, probes
from bench import reports_data as rd
from bench.beside import HOG_BUSY_S, beside, busy_core
from bench.servers import LOAD_CORE, ROOT, SERVER_CORE, Server, pin, rss_kib, start_product

RESULTS = ROOT / "bench" / "results"
WARM_REPEATS = 3
CSV_WARM_REPEATS = 1
# A first (cold) answer slower than this is not repeated warm: the round
# reports it alone (warm = cold), and no traced memory run is made.
REPEAT_BELOW_S = 30.0
REPORT_EVERY_S = 1.0
PG_ADMIN_URL = os.environ.get(
    "BAYLIGHT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
TERMINAL = ("delivered", "cancelled")
# (name, days back from today, inclusive)
SUMMARIES = (("today", 1), ("month", 30), ("year", 365))
CSVS = (("csv_month", 30), ("csv_year", 365))

Round = dict[str, Any]


def _targets(backend: str) -> list[method.Target]:
    scenario = f"reports-{backend}/eventlet"
    return [
        method.Target(
            f"{backend}: month summary (warm)", scenario, "month_warm_ms", "<=", 300, "ms"
        ),
        method.Target(
            f"{backend}: month summary (cold)", scenario, "month_cold_ms", "<=", 300, "ms"
        ),
        method.Target(
            f"{backend}: year summary (warm)", scenario, "year_warm_ms", "<=", 1000, "ms"
        ),
        method.Target(
            f"{backend}: year summary (cold)", scenario, "year_cold_ms", "<=", 1000, "ms"
        ),
        method.Target(f"{backend}: CSV of the year streamed", scenario, "csv_year_s", "<=", 5, "s"),
        method.Target(
            f"{backend}: CSV memory flat (year peak / month peak)",
            scenario,
            "csv_peak_ratio",
            "<=",
            2,
            "x",
        ),
    ]


TARGETS = [
    *_targets("sqlite"),
    *_targets("postgresql"),
    method.Target(
        "busy dealer p99 with a year summary every second (<= without)",
        "reports-rooms/eventlet",
        "p99_ms",
        "<=",
        None,
        "ms",
    ),
    method.Target(
        "the same, the report worker on the other core (<= without)",
        "reports-rooms-spread/eventlet",
        "p99_ms",
        "<=",
        None,
        "ms",
    ),
]

TITLES = {
    "reports-sqlite": "reports on a busy shop's year, SQLite: today, month, year, CSV",
    "reports-postgresql": "reports on a busy shop's year, PostgreSQL: today, month, year, CSV",
    "reports-rooms": "busy dealer with a year summary every second (product) and without (floor)",
    "reports-rooms-spread": "the same, the report worker on the other core (as the kernel places "
    "it on a machine of two cores or more; in reports-rooms it inherits the server's pin)",
    "reports-rooms-today": "diagnostic: busy dealer with today's summary every second (the "
    "server's side of a request) and without",
    "reports-rooms-hog": "diagnostic: busy dealer beside an idle-class busy loop on the server's "
    "core (the worker's duty, no request) and without",
    "reports-rooms-noplan": "diagnostic: reports-rooms with the re-planning off on both sides "
    "(the plans share the worker with the reports)",
    "reports-rooms-compute": "diagnostic: busy dealer beside the year summary computed every "
    "second in a process of its own (no request) and without",
    "reports-rooms-reader": "diagnostic: busy dealer beside a read transaction held open (the "
    "worker's duty, no CPU) and without",
    "reports-rooms-compute-noplan": "diagnostic: reports-rooms-compute with the re-planning off "
    "on both sides (the year's computation beside an otherwise idle worker)",
    "reports-rooms-reader-noplan": "diagnostic: reports-rooms-reader with the re-planning off on "
    "both sides",
    "reports-rooms-hogfloor": "diagnostic: reports-rooms-noplan against a floor that runs the "
    "idle-class busy loop on the server's core instead of reports (both sides' core kept busy)",
    "reports-rooms-compute-hogfloor": "diagnostic: reports-rooms-compute-noplan against the same "
    "busy-loop floor (the year's computation without a request, both sides' core kept busy)",
    "reports-rooms-today-hogfloor": "diagnostic: today's summary every second (the server's side "
    "of a request, the worker barely working), re-planning off, against the same busy-loop floor",
}
# Scenarios that explain a figure rather than judge one: asked by name only.
DIAGNOSTICS = (
    "reports-rooms-today",
    "reports-rooms-hog",
    "reports-rooms-reader",
    "reports-rooms-compute",
    "reports-rooms-noplan",
    "reports-rooms-compute-noplan",
    "reports-rooms-reader-noplan",
    "reports-rooms-hogfloor",
    "reports-rooms-compute-hogfloor",
    "reports-rooms-today-hogfloor",
)
# The busy dealer's comparisons: ``ReportsBench.rooms``'s options for the
# product's side and for the floor's. The floors: no reports (``PLAIN``),
# that with the re-planning off (``NOPLAN``), and that with an idle-class
# busy loop keeping the server's core as busy as the report worker does
# (``HOG_FLOOR``: this host's idle virtual CPU makes every change pay a
# wake-up, which a busy core does not).
PLAIN: dict[str, Any] = {"reporting": False}
NOPLAN: dict[str, Any] = {"reporting": False, "planning": False}
HOG_FLOOR: dict[str, Any] = {"reporting": False, "planning": False, "hog": True}
ROOMS_SIDES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "reports-rooms": ({}, PLAIN),
    "reports-rooms-spread": ({"worker_core": LOAD_CORE}, PLAIN),
    "reports-rooms-today": ({"span_days": 1}, PLAIN),
    "reports-rooms-hog": ({"reporting": False, "hog": True}, PLAIN),
    "reports-rooms-noplan": ({"planning": False}, NOPLAN),
    "reports-rooms-compute": ({"reporting": False, "compute": True}, PLAIN),
    "reports-rooms-compute-noplan": (
        {"reporting": False, "compute": True, "planning": False},
        NOPLAN,
    ),
    "reports-rooms-reader": ({"reporting": False, "reader": True}, PLAIN),
    "reports-rooms-reader-noplan": (
        {"reporting": False, "reader": True, "planning": False},
        NOPLAN,
    ),
    "reports-rooms-hogfloor": ({"planning": False}, HOG_FLOOR),
    "reports-rooms-today-hogfloor": ({"span_days": 1, "planning": False}, HOG_FLOOR),
    "reports-rooms-compute-hogfloor": (
        {"reporting": False, "compute": True, "planning": False},
        HOG_FLOOR,
    ),
}
COMPUTE_CODE = """
import os, sys, time
from datetime import date
os.sched_setaffinity(0, {int(sys.argv[1])})
from shared.config import Settings
from shared.services import report_process, reports
settings = Settings.from_env({}, database_url=sys.argv[2], instance_path=sys.argv[3])
report_process._lowered()
core = report_process.reader_core(settings)
shop = int(sys.argv[4])
start, end = date.fromisoformat(sys.argv[5]), date.fromisoformat(sys.argv[6])
while True:
    asked = time.monotonic()
    reports.summary(core, shop, start, end)
    time.sleep(max(0.0, 1.0 - (time.monotonic() - asked)))
"""
READER_CODE = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
busy = float(sys.argv[2])
while True:
    connection.execute("BEGIN")
    connection.execute("SELECT id FROM orders LIMIT 1").fetchall()
    time.sleep(busy)
    connection.execute("COMMIT")
    time.sleep(max(0.0, 1.0 - busy))
"""


def ranges(today: date, days: int) -> tuple[date, date]:
    return today - timedelta(days=days - 1), today


# ------------------------------------------------------------ the worker
# ``python -m bench.reports worker ...``: one fresh process, one measure.


def _day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=rd.ZONE)


def _floor_measure(url: str, shop_id: int, start: date, end: date, what: str) -> dict[str, Any]:
    """The bare database's least work for a report of [start, end]."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    low, high = _day_start(start), _day_start(end + timedelta(days=1))
    params: dict[str, Any] = {"shop": shop_id, "low": low, "high": high}
    if engine.dialect.name == "sqlite":
        # As the column type stores them there: naive UTC.
        params.update(low=_utc_naive(low), high=_utc_naive(high))
    where = (
        "o.shop_id = :shop AND o.created_at < :high "
        "AND (o.updated_at >= :low OR o.stage NOT IN ('delivered', 'cancelled'))"
    )
    try:
        with engine.connect() as connection:
            started = time.perf_counter()
            if what.startswith("csv"):
                sink = _Sink()
                writer = csv.writer(sink)
                result = connection.execution_options(stream_results=True, yield_per=2000).execute(
                    text(f"SELECT o.* FROM repair_order o WHERE {where} ORDER BY o.id"),  # noqa: S608
                    params,
                )
                writer.writerow(result.keys())
                rows = 0
                for row in result:
                    writer.writerow(row)
                    rows += 1
                return {"seconds": time.perf_counter() - started, "rows": rows, "bytes": sink.size}
            count = connection.execute(
                text(
                    "SELECT count(*) FROM order_event e JOIN repair_order o ON o.id = e.order_id "  # noqa: S608
                    f"WHERE {where}"
                ),
                params,
            ).scalar()
            return {"seconds": time.perf_counter() - started, "rows": int(count or 0)}
    finally:
        engine.dispose()


def _utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


class _Sink(io.TextIOBase):
    """Counts what is written and keeps none of it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text.encode())
        return len(text)


def _product_measure(core: Any, shop_id: int, start: date, end: date, what: str) -> dict[str, Any]:
    """The reports service on [start, end], in this process."""
    from shared.services import report_export, reports

    started = time.perf_counter()
    if what.startswith("csv"):
        size = rows = 0
        for chunk in report_export.csv_stream(
            reports.ORDER_COLUMNS, reports.order_rows(core, shop_id, start, end)
        ):
            size += len(chunk.encode())
            rows += chunk.count("\n")
        return {"seconds": time.perf_counter() - started, "rows": rows - 1, "bytes": size}
    reports.summary(core, shop_id, start, end)
    return {"seconds": time.perf_counter() - started}


def worker(args: argparse.Namespace) -> None:
    """Cold first, then warm repeats, then (CSV) a traced run for memory."""
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    repeats = CSV_WARM_REPEATS if args.what.startswith("csv") else WARM_REPEATS
    out: dict[str, Any] = {}
    if args.side == "floor":
        measure: Callable[[], dict[str, Any]] = lambda: _floor_measure(  # noqa: E731
            args.url, args.shop, start, end, args.what
        )
    else:
        core = rd.offline_core(args.url, Path(args.work))
        measure = lambda: _product_measure(core, args.shop, start, end, args.what)  # noqa: E731
    first = measure()
    out["cold_s"] = first["seconds"]
    out["rows"] = first.get("rows")
    out["bytes"] = first.get("bytes")
    # Far beyond its goal, one more run says nothing new and costs minutes.
    repeats = repeats if first["seconds"] < REPEAT_BELOW_S else 0
    out["warm_s"] = [measure()["seconds"] for _ in range(repeats)]
    if args.what.startswith("csv") and first["seconds"] < REPEAT_BELOW_S:
        import tracemalloc

        tracemalloc.start()
        measure()
        out["peak_kib"] = round(tracemalloc.get_traced_memory()[1] / 1024)
        tracemalloc.stop()
    print(json.dumps(out), flush=True)


def _run_worker(
    side: str, url: str, shop_id: int, start: date, end: date, what: str, work: Path
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.reports",
        "worker",
        "--side",
        side,
        "--url",
        url,
        "--shop",
        str(shop_id),
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--what",
        what,
        "--work",
        str(work),
    ]
    process = subprocess.run(  # noqa: S603 - our own module
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        preexec_fn=lambda: (
            os.sched_setaffinity(0, {SERVER_CORE}) if (os.cpu_count() or 1) > 1 else None
        ),
    )
    if process.returncode != 0:
        raise RuntimeError(f"worker {side} {what} failed: {process.stderr[-2000:]}")
    return dict(json.loads(process.stdout.strip().splitlines()[-1]))


# -------------------------------------------------------------- over HTTP


class RssPeak:
    """Some processes' peak RSS (summed) while something runs, sampled every
    20 ms."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.base = rss_kib(pids)
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_kib(self.pids))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kib(self.pids))
        return self.peak - self.base


PASSWORD = "bench-reports-1"  # the bench manager's, on its own copy of the year
# Where a manager's figures are asked: the REST API (bearer token), or the
# /reports page's own JSON and download routes (a signed-in session).
ROUTES = {
    "api": {"summary": "/api/v1/reports/summary", "csv": "/api/v1/reports/orders.csv"},
    "page": {"summary": "/reports/api/summary", "csv": "/reports/orders.csv"},
}


@dataclass(frozen=True)
class Access:
    token: str
    name: str
    password: str
    slug: str


class Client:
    """A manager asking one server for reports, the way ``way`` says."""

    def __init__(self, server: Server, access: Access, way: str) -> None:
        self.url = server.url
        self.way = way
        self.http = requests.Session()
        if way == "api":
            self.http.headers["Authorization"] = f"Bearer {access.token}"
        else:
            self._sign_in(access)

    def _sign_in(self, access: Access) -> None:
        login = f"{self.url}/login?shop={access.slug}"
        page = self.http.get(login, timeout=60)
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        if found is None:
            raise RuntimeError("no CSRF token on the sign-in page")
        answer = self.http.post(
            login,
            data={"csrf_token": found.group(1), "name": access.name, "password": access.password},
            allow_redirects=False,
            timeout=60,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"sign-in refused ({answer.status_code})")

    def get(self, kind: str, start: date, end: date, **options: Any) -> requests.Response:
        query = {"from": start.isoformat(), "to": end.isoformat()}
        return self.http.get(
            self.url + ROUTES[self.way][kind], params=query, timeout=1800, **options
        )

    def close(self) -> None:
        self.http.close()


def _http_measure(
    server: Server, client: Client, start: date, end: date, what: str
) -> dict[str, Any]:
    if not what.startswith("csv"):
        started = time.perf_counter()
        response = client.get("summary", start, end)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        return {"seconds": elapsed}
    # The rows are made in the server's report worker: its memory counts.
    worker = report_worker(server.pid)
    peak = RssPeak([server.pid, *([worker["pid"]] if worker else [])])
    started = time.perf_counter()
    size = lines = 0
    with client.get("csv", start, end, stream=True) as response:
        response.raise_for_status()
        for chunk in response.iter_content(65536):
            size += len(chunk)
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "rows": lines - 1, "bytes": size, "peak_kib": peak.stop()}


# ------------------------------------------------------------- the bench


@dataclass
class Prepared:
    url: str
    shop_id: int
    today: date
    access: Access
    info: dict[str, Any]
    cleanup: Callable[[], None] = lambda: None


@dataclass
class ReportsBench:
    """The reports scenarios; ``bench`` is bench/run.py's ``Bench`` (work
    directory, quick, server environment, the rooms round)."""

    bench: Any
    spec: rd.Spec = field(default_factory=rd.Spec)
    via: str = "auto"  # api | page | function | auto
    prepared: dict[str, Prepared] = field(default_factory=dict)
    year: tuple[Path, dict[str, Any]] | None = None

    # ------------------------------------------------------------ data

    def year_file(self) -> tuple[Path, dict[str, Any]]:
        if self.year is None:
            started = time.monotonic()
            print(f"[reports] the busy shop's year ({self.spec})", flush=True)
            self.year = rd.with_facts(self.spec, self.bench.work)
            print(
                f"[reports] {self.year[1]['orders']:,} orders, {self.year[1]['events']:,} events, "
                f"{self.year[1]['segments']:,} clock segments "
                f"({time.monotonic() - started:.0f} s here; made in {self.year[1]['seconds']} s, "
                f"facts cache rebuilt in {self.year[1].get('facts_rebuild_s')} s)",
                flush=True,
            )
        return self.year

    def _fresh_sqlite(self, name: str) -> str:
        source, _info = self.year_file()
        target = self.bench.file(name)
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"

    def prepare(self, backend: str) -> Prepared:
        if backend in self.prepared:
            return self.prepared[backend]
        source, info = self.year_file()
        cleanup: Callable[[], None] = lambda: None  # noqa: E731
        if backend == "sqlite":
            url = self._fresh_sqlite("reports-year")
        else:
            url, cleanup = _postgres_database()
            seconds = rd.copy_database(f"sqlite:///{source}", url, self.bench.work)
            info = {**info, "copied_to_postgresql_s": seconds}
            print(f"[reports] copied into PostgreSQL in {seconds} s", flush=True)
        access = _manager_access(url, self.bench.work, info["shop_id"])
        today = datetime.fromisoformat(info["now"]).astimezone(rd.ZONE).date()
        prepared = Prepared(url, int(info["shop_id"]), today, access, info, cleanup)
        self.prepared[backend] = prepared
        return prepared

    def close(self) -> None:
        for prepared in self.prepared.values():
            prepared.cleanup()
        self.prepared.clear()

    def _via(self, prepared: Prepared) -> str:
        """The REST API when it answers, else the page's routes, else the
        service functions in a fresh process."""
        if self.via != "auto":
            return self.via
        server = start_product(self._env(prepared.url), SERVER_CORE)
        tried = []
        try:
            for way in ("api", "page"):
                try:
                    client = Client(server, prepared.access, way)
                    answer = client.get("summary", prepared.today, prepared.today)
                    client.close()
                    tried.append(f"{way}: {answer.status_code}")
                    if answer.status_code == 200:
                        self.via = way
                        break
                except (RuntimeError, requests.RequestException) as error:
                    tried.append(f"{way}: {error}")
            else:
                self.via = "function"
        finally:
            server.stop()
        print(f"[reports] measuring via {self.via} ({'; '.join(tried)})", flush=True)
        return self.via

    def _env(self, url: str) -> dict[str, str]:
        # The year's open orders would be re-planned by the engine (and the
        # cached copy changed); reports are measured without it. The rooms
        # scenario runs with it on, as shipped.
        return self.bench.env(url, "eventlet", replanning="off")

    # ----------------------------------------------------------- rounds

    def measure(self, backend: str) -> Round:
        """Product: each figure from a fresh server (or process)."""
        prepared = self.prepare(backend)
        via = self._via(prepared)
        metrics: dict[str, Any] = {}
        detail: dict[str, Any] = {"via": via, "today": prepared.today.isoformat()}
        for what, days in (*SUMMARIES, *CSVS):
            start, end = ranges(prepared.today, days)
            if via in ROUTES:
                result = self._http_round(prepared, start, end, what, via)
            else:
                result = _run_worker(
                    "product", prepared.url, prepared.shop_id, start, end, what, self.bench.work
                )
            self._fold(metrics, what, result)
            detail[what] = result
        _ratio(metrics)
        return {"metrics": metrics, "detail": detail}

    def floor(self, backend: str, _product: Round | None) -> Round:
        prepared = self.prepare(backend)
        metrics: dict[str, Any] = {}
        detail: dict[str, Any] = {"via": "sql"}
        for what, days in (*SUMMARIES, *CSVS):
            start, end = ranges(prepared.today, days)
            result = _run_worker(
                "floor", prepared.url, prepared.shop_id, start, end, what, self.bench.work
            )
            self._fold(metrics, what, result)
            detail[what] = result
        _ratio(metrics)
        return {"metrics": metrics, "detail": detail}

    def _http_round(
        self, prepared: Prepared, start: date, end: date, what: str, way: str
    ) -> dict[str, Any]:
        server = start_product(self._env(prepared.url), SERVER_CORE)
        client = Client(server, prepared.access, way)
        try:
            worker_ready_s = _worker_ready(server.pid)
            first = _http_measure(server, client, start, end, what)
            repeats = CSV_WARM_REPEATS if what.startswith("csv") else WARM_REPEATS
            repeats = repeats if first["seconds"] < REPEAT_BELOW_S else 0
            warm = [_http_measure(server, client, start, end, what) for _ in range(repeats)]
        finally:
            client.close()
            server.stop()
        out = {
            "cold_s": first["seconds"],
            "worker_ready_s": worker_ready_s,
            "warm_s": [w["seconds"] for w in warm],
            "rows": first.get("rows"),
            "bytes": first.get("bytes"),
        }
        if "peak_kib" in first:
            out["peak_kib"] = max([first["peak_kib"], *(w["peak_kib"] for w in warm)])
        return out

    @staticmethod
    def _fold(metrics: dict[str, Any], what: str, result: dict[str, Any]) -> None:
        warm = statistics.median(result["warm_s"]) if result["warm_s"] else result["cold_s"]
        if result.get("worker_ready_s") is not None:
            metrics[f"{what}_worker_ready_s"] = result["worker_ready_s"]
        if what.startswith("csv"):
            metrics[f"{what}_s"] = round(result["cold_s"], 3)
            metrics[f"{what}_warm_s"] = round(warm, 3)
            metrics[f"{what}_rows"] = result.get("rows")
            metrics[f"{what}_peak_kib"] = result.get("peak_kib")
        else:
            metrics[f"{what}_cold_ms"] = round(result["cold_s"] * 1000, 1)
            metrics[f"{what}_warm_ms"] = round(warm * 1000, 1)
            if result.get("rows") is not None:
                metrics[f"{what}_rows"] = result["rows"]

    # ------------------------------------------------------------ rooms

    def rooms(
        self,
        mode: str,
        *,
        reporting: bool = True,
        worker_core: int | None = None,
        span_days: int = 365,
        hog: bool = False,
        reader: bool = False,
        compute: bool = False,
        planning: bool = True,
    ) -> Round:
        """The busy dealer on a copy of the year, with a summary of the last
        ``span_days`` every second (or not); ``worker_core``: the report
        worker moved to that core (else it keeps the server's pin, as on a
        one-core machine); ``hog``: an idle-class busy loop on the server's
        core all along (``HOG_CODE``); ``reader``: a read transaction held
        open beside it (``READER_CODE``); ``planning`` False: the server's
        re-planning off (``BAYLIGHT_REPLANNING=off``)."""
        from bench.shops import busy_dealer, first_estimates, open_orders, seed

        _source, info = self.year_file()
        url_db = self._fresh_sqlite(f"reports-rooms-{mode}")
        shops = seed(url_db, self.bench.work, 50, 1, "rooms")
        access = _manager_access(url_db, self.bench.work, info["shop_id"])
        today = datetime.fromisoformat(info["now"]).astimezone(rd.ZONE).date()
        server = start_product(
            self.bench.env(url_db, mode, replanning="on" if planning else "off"), SERVER_CORE
        )
        reporter: Reporter | None = None
        beside_it = contextlib.ExitStack()
        try:
            if hog:
                beside_it.enter_context(busy_core((HOG_BUSY_S, 1.0)))
            if compute:
                start, end = ranges(today, span_days)
                beside_it.enter_context(
                    beside(
                        COMPUTE_CODE,
                        str(SERVER_CORE),
                        url_db,
                        str(self.bench.work),
                        str(info["shop_id"]),
                        start.isoformat(),
                        end.isoformat(),
                        cwd=ROOT,
                    )
                )
            if reader:
                path = url_db.removeprefix("sqlite:///")
                beside_it.enter_context(beside(READER_CODE, path, str(HOG_BUSY_S)))
            if reporting and worker_core is not None:
                _worker_ready(server.pid)
                found = report_worker(server.pid)
                if found is None:
                    raise RuntimeError("no report worker to move")
                pin(found["pid"], worker_core)
            for shop in shops:
                open_orders(server.url, shop, 1)
            if planning:
                first_estimates(server.url, shops)
            groups, jobs = busy_dealer(shops, server.port, server.url)
            if reporting:
                way = self.via if self.via in ROUTES else "api"
                reporter = Reporter(Client(server, access, way), *ranges(today, span_days))
            outcome: Round = self.bench._rooms_round(server, groups, jobs)
            worker = report_worker(server.pid) if reporter is not None else None
        finally:
            if reporter is not None:
                reporter.stop()
            beside_it.close()
            server.stop()
        if reporter is not None:
            outcome["metrics"].update(reporter.metrics())
            outcome["detail"]["reports"] = reporter.metrics()
            outcome["detail"]["report_windows"] = reporter.windows
            if worker is not None:
                outcome["metrics"]["report_worker_cpu_s"] = worker["cpu_s"]
                outcome["detail"]["report_worker"] = worker
        return outcome

    def rooms_side(self, mode: str, options: dict[str, Any], _product: Round | None) -> Round:
        """A floor round: ``rooms`` with ``options`` (``ROOMS_SIDES``); the
        product's round just before is not needed."""
        return self.rooms(mode, **options)


def report_worker(server_pid: int) -> dict[str, Any] | None:
    """The server's report worker (shared/services/report_process.py) as
    /proc sees it: its pid, niceness and CPU seconds so far; None when the
    server has none."""
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != server_pid:
                continue
            if b"spawn_main" not in (entry / "cmdline").read_bytes():
                continue
        except (OSError, IndexError, ValueError):
            continue
        return {
            "pid": int(entry.name),
            "nice": int(fields[16]),
            "cpu_s": round((int(fields[11]) + int(fields[12])) / tick, 2),
        }
    return None


def _worker_ready(server_pid: int, timeout: float = 30.0) -> float | None:
    """Seconds until the report worker ``serve`` starts with itself is up:
    present and no longer using CPU (its imports done). The cold request is
    asked after it, so it measures a first report of a freshly started
    server (its caches empty), not the start of a process (docs/PERFORMANCE.md
    gives the worker's start on its own). None: no worker within ``timeout``
    (BAYLIGHT_REPORT_WORKER_AT_START=off, or an older server)."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        worker = report_worker(server_pid)
        if worker is not None:
            if last is not None and worker["cpu_s"] == last:
                return round(time.monotonic() - started, 2)
            last = worker["cpu_s"]
        time.sleep(0.2)
    return None


class Reporter:
    """A manager's year summary through the API every ``REPORT_EVERY_S``
    (the next one asked when the last has answered, at the earliest one
    period after the last was asked)."""

    def __init__(self, client: Client, start: date, end: date) -> None:
        self.client = client
        self.start, self.end = start, end
        self.times: list[float] = []
        # [asked, answered] by the monotonic clock the driver stamps its
        # sends with: whether the busy dealer's slowest deliveries fall
        # beside them.
        self.windows: list[list[float]] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            asked = time.monotonic()
            try:
                answer = self.client.get("summary", self.start, self.end)
                if answer.status_code == 200:
                    self.times.append(time.monotonic() - asked)
                    self.windows.append([round(asked, 4), round(time.monotonic(), 4)])
                else:
                    self.failures += 1
            except requests.RequestException:
                self.failures += 1
            self._stop.wait(max(0.0, REPORT_EVERY_S - (time.monotonic() - asked)))
        self.client.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(180)

    def metrics(self) -> dict[str, Any]:
        return {
            "reports_answered": len(self.times),
            "reports_failed": self.failures,
            "report_median_ms": round(statistics.median(self.times) * 1000, 1)
            if self.times
            else None,
            "report_max_ms": round(max(self.times) * 1000, 1) if self.times else None,
        }


def _ratio(metrics: dict[str, Any]) -> None:
    month, year = metrics.get("csv_month_peak_kib"), metrics.get("csv_year_peak_kib")
    if month and year is not None:
        metrics["csv_peak_ratio"] = round(year / max(month, 1), 2)


def _manager_access(url: str, work: Path, shop_id: int) -> Access:
    """A bearer token for the shop's manager, and a password to sign them
    in with (set on this copy of the year only)."""
    from sqlalchemy import select, update

    from shared.persistence.models import Shop, StaffUser
    from shared.services.auth import create_api_token, hash_pin

    core = rd.offline_core(url, work)
    try:
        with core.db.write() as session:
            manager = session.execute(
                select(StaffUser.id, StaffUser.name).where(
                    StaffUser.shop_id == shop_id, StaffUser.role == "manager"
                )
            ).one()
            session.execute(
                update(StaffUser)
                .where(StaffUser.id == manager.id)
                .values(password_hash=hash_pin(PASSWORD))
            )
            slug = session.execute(select(Shop.slug).where(Shop.id == shop_id)).scalar_one()
        token = create_api_token(
            core, shop_id=shop_id, role="manager", name="bench reports", user_id=manager.id
        )
        return Access(token, manager.name, PASSWORD, slug)
    finally:
        core.db.dispose()


def _postgres_database() -> tuple[str, Callable[[], None]]:
    """A database of our own on the local PostgreSQL, dropped by the
    returned function."""
    import psycopg2

    name = f"bench_reports_{secrets.token_hex(4)}"
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()

    def drop() -> None:
        connection = psycopg2.connect(PG_ADMIN_URL)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.close()

    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    return url.replace("postgresql://", "postgresql+psycopg2://", 1), drop


# ------------------------------------------------------------------ main


def for_bench(bench: Any) -> ReportsBench:
    """The reports scenarios of one bench/run.py run (the year made once)."""
    reports: ReportsBench | None = getattr(bench, "reports_bench", None)
    if reports is None:
        reports = ReportsBench(bench)
        bench.reports_bench = reports
    return reports


def close(bench: Any) -> None:
    reports: ReportsBench | None = getattr(bench, "reports_bench", None)
    if reports is not None:
        reports.close()


def scenarios(reports: ReportsBench, names: list[str], mode: str = "eventlet") -> list[Any]:
    """bench/run.py's scenarios for these names."""
    import functools

    from bench.run import Scenario

    made = []
    for name in names:
        if name in ROOMS_SIDES:
            ours, theirs = ROOMS_SIDES[name]
            product = functools.partial(reports.rooms, mode, **ours)
            floor = functools.partial(reports.rooms_side, mode, theirs)
        else:
            backend = name.split("-", 1)[1]
            product = functools.partial(reports.measure, backend)
            floor = functools.partial(reports.floor, backend)
        made.append(Scenario(f"{name}/{mode}", TITLES[name], product, floor))
    return made


HEADLINE = (
    "today_cold_ms",
    "today_warm_ms",
    "month_cold_ms",
    "month_warm_ms",
    "year_cold_ms",
    "year_warm_ms",
    "csv_year_s",
    "csv_peak_ratio",
    "p99_ms",
    "reports_answered",
)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reports",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command")
    work = sub.add_parser("worker", help="(internal) one measure in a fresh process")
    for flag in ("--side", "--url", "--start", "--end", "--what", "--work"):
        work.add_argument(flag, required=True)
    work.add_argument("--shop", type=int, required=True)
    parser.add_argument("--quick", action="store_true", help="one round each, nothing judged")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument(
        "--scenarios",
        default="reports-sqlite,reports-postgresql,reports-rooms,reports-rooms-spread",
    )
    parser.add_argument("--days", type=int, default=rd.Spec.days)
    parser.add_argument("--per-day", type=int, default=rd.Spec.per_day)
    parser.add_argument("--templates", type=int, default=rd.Spec.templates)
    parser.add_argument("--via", default="auto", choices=("auto", "api", "page", "function"))
    args = parser.parse_args()
    if args.command == "worker":
        worker(args)
        return
    pin(os.getpid(), 1)
    from bench import run

    run.HEADLINE = tuple(dict.fromkeys((*run.HEADLINE, *HEADLINE)))
    rounds = args.rounds or (1 if args.quick else method.JUDGED_ROUNDS)
    started = time.monotonic()
    info = run.machine()
    info["load_average_at_start"] = os.getloadavg()
    print("CPU-steadiness probe (start)", flush=True)
    info["probe_at_start"] = probes.probe([0, 1], 2.0 if args.quick else 4.0)
    results: dict[str, Any] = {}
    spec = rd.Spec(days=args.days, per_day=args.per_day, templates=args.templates)
    with tempfile.TemporaryDirectory(prefix="baylight-bench-reports-") as tmp:
        bench = run.Bench(args.quick, Path(tmp))
        reports = ReportsBench(bench, spec, args.via)
        try:
            names = [n for n in args.scenarios.split(",") if n]
            for scenario in scenarios(reports, names):
                results[scenario.name] = run.run_scenario(scenario, rounds)
        finally:
            reports.close()
        year = reports.year[1] if reports.year else {}
    print("CPU-steadiness probe (end)", flush=True)
    info["probe_at_end"] = probes.probe([0, 1], 2.0 if args.quick else 4.0)
    info["load_average_at_end"] = os.getloadavg()
    targets = [method.judge(t, results) for t in TARGETS if t.scenario in results]
    report = {
        "machine": info,
        "command": " ".join(["python -m bench.reports", *sys.argv[1:]]),
        "rounds": rounds,
        "elapsed_s": round(time.monotonic() - started, 1),
        "year": year,
        "via": reports.via,
        "targets": targets,
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"reports-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(method.markdown(report))
    print(f"\nelapsed {report['elapsed_s']} s; results in {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
