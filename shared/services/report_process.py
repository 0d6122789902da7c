"""The manager reports' figures computed in a process of their own.

A year summary is seconds of Python. Computed inside ``baylight serve``,
even on a real thread, it shares the server's GIL (and, where the server
is pinned, its core), so every status change's publish waits behind it.
Here it runs in one worker process per server process instead:

- started lazily, on the first report, with the ``spawn`` method (a fresh
  interpreter: the server is monkey-patched by eventlet or gevent, and a
  forked copy of a patched hub is not safe); restarted when it has died;
- at a low CPU priority (``os.nice(NICENESS)``, and Linux's ``SCHED_IDLE``
  policy where there is one): on a shared core the kernel lets the server
  preempt it whenever the server has work;
- on an engine of its own, made from the server's settings, that cannot
  write: SQLite connections are ``PRAGMA query_only``, PostgreSQL sessions
  read-only transactions. It never takes the server's write lock (it is in
  another process) and never begins a write transaction;
- gone with the server: a daemon child (ended at the server's exit), and
  it leaves by itself when its requests' pipe closes or its parent changes.

A job is a module-level function taking the core first (``reports.summary``,
``technicians``, ``advisors``, ``orders_page``, ``orders_listing`` below),
its arguments and the server's "now"; the answer is pickled back (plain
dicts, lists, numbers and text). The caller (``ReportWorker.run``) waits on
a real thread (``shared.persistence.off_hub``) so the hub goes on; one job
at a time per server process, the others waiting their turn on a green lock.
A job that outlives ``TIMEOUT_S`` kills the worker and is refused
(``ReportUnavailable``); a worker that died under a job is restarted and the
job asked once more.

Downloads (``csv_lines``, ``xlsx_blocks``) are made there too
(``ReportWorker.stream``): opened as a job (a refused range is refused
before the first byte), then ``STREAM_BATCH`` chunks per job, so a summary
asked meanwhile goes between two batches; the server holds one batch at a
time. A download is never asked twice: its worker gone, it ends with
``ReportUnavailable``. A download its reader left is closed when the server
closes it, or by the worker after ``STREAM_IDLE_S`` without a pull.

On a machine whose every core is busy the worker gets little or no CPU
(that is the point): a report then waits, up to ``TIMEOUT_S``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from flask.json.provider import DefaultJSONProvider
from sqlalchemy import event

from shared.config import Settings
from shared.domain import errors
from shared.persistence.database import Database
from shared.persistence.off_hub import run_off_hub
from shared.services import report_export, reports
from shared.services.core import Core

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Niceness of the worker (0 normal .. 19 lowest): CFS gives a runnable
# nice-19 process about 1.5 % of a core against a nice-0 one, so the server
# is back on its core almost as soon as it wakes.
NICENESS = 19
# And Linux's idle policy where the platform has it: a waking normal task
# always preempts an idle-policy one, where between two nice levels the
# kernel only weighs their run times.
IDLE_POLICY = getattr(os, "SCHED_IDLE", None)
# The longest a report may take, waiting for its turn included; then the
# worker is killed (restarted by the next report) and the request refused.
TIMEOUT_S = 60.0
# How often the worker checks that its server is still there.
PARENT_CHECK_S = 1.0


class ReportUnavailable(Exception):
    """The report could not be computed in time (or its worker kept dying)."""


@dataclass(frozen=True)
class Job:
    """What the worker is asked: ``call(core, *args, **kwargs)``'s answer
    (``CALL``), or a download: ``OPEN`` it (the iterator ``call`` returns,
    kept in the worker), ``PULL`` its next ``count`` items, ``CLOSE`` it."""

    call: Callable[..., Any] | None
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    now: datetime
    op: str = "call"
    stream: int = 0
    count: int = 0


CALL, OPEN, PULL, CLOSE = "call", "open", "pull", "close"
# Downloads a worker keeps open at most; opening one more closes the oldest
# (a server that lost track of one cannot make the worker hold it for ever).
OPEN_STREAMS = 16
# A download's items per trip: CSV chunks of a hundred rows
# (report_export.CSV_ROWS_PER_CHUNK) or XLSX blocks of 64 KiB, so the server
# holds about a megabyte of CSV at a time whatever the range (8 per trip made
# a year's CSV about 130 trips, each a hand-over to a real thread and a turn
# of the worker).
STREAM_BATCH = 64
# A download not pulled for this long is closed by the worker (its reader
# gone without a word): its read transaction must not stay open.
STREAM_IDLE_S = 60.0


# ------------------------------------------------------------- the jobs


def orders_page(
    core: Core,
    shop_id: int,
    start: date,
    end: date,
    *,
    only: str | None,
    workshop_only: bool,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], bool]:
    """A page of the orders behind a figure (the REST API's): ``limit``
    rows from ``offset``, and whether more follow."""
    rows: list[dict[str, Any]] = []
    found = reports.order_rows(core, shop_id, start, end, only=only, workshop_only=workshop_only)
    for index, row in enumerate(found):
        if index < offset:
            continue
        if len(rows) == limit:
            return rows, True
        rows.append(row)
    return rows, False


def orders_listing(
    core: Core,
    shop_id: int,
    start: date,
    end: date,
    *,
    only: str | None,
    workshop_only: bool,
    keys: list[str],
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """The /reports page's table of orders: the first ``limit`` rows with
    only ``keys``, and how many rows there are in all."""
    listed: list[dict[str, Any]] = []
    count = 0
    for row in reports.order_rows(
        core, shop_id, start, end, only=only, workshop_only=workshop_only
    ):
        count += 1
        if len(listed) < limit:
            listed.append({key: row.get(key) for key in keys})
    return listed, count


def encoded(core: Core, call: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bytes:
    """``call(core, *args, **kwargs)``'s answer as the JSON body the server
    sends, encoded where it was computed, as the app's ``jsonify`` would
    (shared/web/app.py: UTF-8 text, keys in their order, compact; Flask's
    own conversions of dates and the like): the server passes the bytes on,
    and a year's figures (17 KB, a millisecond of encoding) no longer take
    the hub at every request."""
    text = json.dumps(
        call(core, *args, **kwargs),
        default=DefaultJSONProvider.default,
        ensure_ascii=False,
        sort_keys=False,
        separators=(",", ":"),
    )
    return f"{text}\n".encode()


def labelled(columns: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """The columns with their labels rendered now, in the request's
    language (the worker has no request)."""
    return [(key, str(label)) for key, label in columns]


def csv_lines(
    core: Core,
    shop_id: int,
    start: date,
    end: date,
    *,
    only: str | None,
    workshop_only: bool,
    columns: list[tuple[str, str]],
) -> Iterator[str]:
    """The orders' CSV (``report_export.csv_stream``); the range and list
    are checked now, the rows read as the lines are taken."""
    rows = reports.order_rows(core, shop_id, start, end, only=only, workshop_only=workshop_only)
    return report_export.csv_stream(columns, rows)


def xlsx_blocks(
    core: Core,
    shop_id: int,
    start: date,
    end: date,
    *,
    only: str | None,
    workshop_only: bool,
    columns: list[tuple[str, str]],
) -> Iterator[bytes]:
    """The orders' workbook (``report_export.xlsx_stream``), as ``csv_lines``."""
    rows = reports.order_rows(core, shop_id, start, end, only=only, workshop_only=workshop_only)
    return report_export.xlsx_stream(columns, rows)


# ------------------------------------------------------------- the worker's side


def _read_only(database: Database) -> None:
    """Every connection of ``database`` refuses writes."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if database.is_sqlite:
            cursor.execute("PRAGMA query_only=ON")
            cursor.close()
            return
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cursor.close()
        dbapi_connection.commit()

    event.listen(database.engine, "connect", on_connect)


def reader_core(settings: Settings) -> Core:
    """The worker's core: the server's database, read-only, no sockets."""
    from shared.metrics import Metrics
    from shared.realtime.publisher import Publisher

    database = Database(settings.database_url)
    _read_only(database)
    metrics = Metrics()
    return Core(settings=settings, db=database, publisher=Publisher(metrics), metrics=metrics)


def _lowered() -> None:
    """This process at the lowest CPU priority."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, NICENESS)
    if IDLE_POLICY is not None:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, IDLE_POLICY, os.sched_param(0))


def _leave_with_parent(parent: int) -> None:
    """End this process once its server is gone (a killed server runs no
    exit handlers, and this process may be inside a long job)."""

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="report-worker-parent", daemon=True).start()


def _fixed(moment: datetime) -> datetime:
    return moment


def _portable(error: BaseException) -> tuple[type[BaseException], tuple[Any, ...], dict[str, Any]]:
    return type(error), error.args, dict(vars(error))


def _rebuilt(
    kind: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]
) -> BaseException:
    """The worker's exception as raised there (a ``DomainError`` keeps its
    field, template and parameters, so the web layer answers as it would
    have), whatever its constructor's signature."""
    error = kind.__new__(kind)
    BaseException.__init__(error, *args)
    error.__dict__.update(state)
    return error


def serve_jobs(
    requests: Connection,
    replies: Connection,
    settings: Settings,
    parent: int,
    lowered: bool = True,
) -> None:
    """The worker process's loop: a job in, its answer (or its error) out,
    until the server closes the pipe or goes away. At the lowest CPU
    priority unless ``lowered`` is False (``ReportWorker.lowered``)."""
    if lowered:
        _lowered()
        os.nice(NICENESS)
    # Ctrl-C at the server's terminal reaches its whole process group: the
    # server ends, and this process with it (below), without a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _leave_with_parent(parent)
    core = reader_core(settings)
    streams = _Streams()
    while True:
        try:
            if streams.open and not requests.poll(STREAM_IDLE_S / 4):
                streams.close_idle()
                continue
            job: Job = requests.recv()
        except (EOFError, OSError):
            break
        core.clock = functools.partial(_fixed, job.now)
        try:
            answer: tuple[str, Any] = ("ok", streams.answer(core, job))
        except Exception as error:
            if not isinstance(error, errors.DomainError):
                # The server's log gets the worker's own traceback too.
                log.exception("a report failed in the report worker")
            answer = ("error", _portable(error))
        try:
            replies.send(answer)
        except (BrokenPipeError, OSError):
            break
        except Exception as error:  # an answer or error that does not pickle
            log.exception("a report's answer could not be sent")
            replies.send(("error", (RuntimeError, (f"unpicklable answer: {error!r}",), {})))
    streams.close_all()
    core.db.dispose()


class _Streams:
    """The worker's open downloads, by number."""

    def __init__(self) -> None:
        self.open: dict[int, Iterator[Any]] = {}
        self.used: dict[int, float] = {}
        self.last = 0

    def answer(self, core: Core, job: Job) -> Any:
        if job.op == CALL:
            assert job.call is not None
            return job.call(core, *job.args, **job.kwargs)
        if job.op == OPEN:
            assert job.call is not None
            items = iter(job.call(core, *job.args, **job.kwargs))
            while len(self.open) >= OPEN_STREAMS:
                self.close(min(self.open))
            self.last += 1
            self.open[self.last] = items
            self.used[self.last] = time.monotonic()
            return self.last
        if job.op == PULL:
            found = self.open.get(job.stream)
            if found is None:
                raise LookupError(f"no open download {job.stream}")
            self.used[job.stream] = time.monotonic()
            batch = list(itertools.islice(found, job.count))
            if len(batch) < job.count:
                self.close(job.stream)
            return batch
        self.close(job.stream)
        return None

    def close(self, number: int) -> None:
        self.used.pop(number, None)
        items = self.open.pop(number, None)
        close = getattr(items, "close", None)
        if close is not None:
            close()

    def close_idle(self) -> None:
        since = time.monotonic() - STREAM_IDLE_S
        for number, used in list(self.used.items()):
            if used < since:
                self.close(number)

    def close_all(self) -> None:
        for number in list(self.open):
            self.close(number)


# ------------------------------------------------------------- the server's side


class _WorkerDied(Exception):
    """The worker's pipe closed under a job."""


@dataclass
class _Running:
    process: BaseProcess
    requests: Connection
    replies: Connection
    timed_out: bool = False

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        # A late timer may find the process already closed (ValueError).
        with contextlib.suppress(ValueError, OSError):
            if self.process.is_alive():
                self.process.kill()

    def close(self) -> None:
        self.kill()
        self.process.join(5)
        self.requests.close()
        self.replies.close()
        with contextlib.suppress(ValueError):  # still running after the join
            self.process.close()


@dataclass
class ReportWorker:
    """The server's one report worker (``worker_for``): ``run`` a job there.

    ``lowered``: the worker runs at the lowest CPU priority (``NICENESS``
    and the idle class), as it always does in a server. False is for tests
    of the worker's protocol only (its jobs, downloads, timeouts, restarts),
    which run beside a loaded test suite where an idle-class process waits
    its turn for tens of seconds; the priority itself is tested on real
    servers (tests/test_report_process.py)."""

    settings: Settings
    timeout_s: float = TIMEOUT_S
    lowered: bool = True
    starts: int = 0
    _running: _Running | None = field(default=None, repr=False)
    _lock: Any = field(default=None, repr=False)
    _lock_made: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def pid(self) -> int | None:
        """The worker's process id while one runs (for operators and tests)."""
        running = self._running
        return running.process.pid if running is not None and running.alive() else None

    def _turn(self) -> Any:
        # Made at first use, after the server has patched ``threading``: a
        # report waiting its turn then waits on its own green thread.
        with self._lock_made:
            if self._lock is None:
                self._lock = threading.Lock()
            return self._lock

    def _start(self) -> _Running:
        context = multiprocessing.get_context("spawn")
        # Two one-way pipes of plain blocking file descriptors (a duplex
        # pipe is a socket pair, which eventlet would make non-blocking).
        job_reader, job_writer = context.Pipe(duplex=False)
        answer_reader, answer_writer = context.Pipe(duplex=False)
        for end in (job_reader, job_writer, answer_reader, answer_writer):
            os.set_blocking(end.fileno(), True)
        process = context.Process(
            target=serve_jobs,
            args=(job_reader, answer_writer, self.settings, os.getpid(), self.lowered),
            name="baylight-reports",
            daemon=True,
        )
        process.start()
        # Niced from its first import on (it nices itself too, in case this
        # comes too late): its start must not take the server's core either.
        if process.pid is not None and self.lowered:
            # Its imports at nice 19 already; the idle class once it serves
            # (an idle-class start could wait for minutes on a busy machine).
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, process.pid, NICENESS)
        # The child has its own copies; the server keeps only its ends, so
        # a dead worker is an end of file here.
        job_reader.close()
        answer_writer.close()
        self.starts += 1
        log.info("report worker started (pid %s)", process.pid)
        return _Running(process, job_writer, answer_reader)

    def _ready(self) -> _Running:
        running = self._running
        if running is not None and not running.alive():
            running.close()
            running = self._running = None
        if running is None:
            running = self._running = self._start()
        return running

    def warm(self) -> None:
        """Start the worker now (``serve`` does, right after its start), so
        the first report does not wait for a process to start and import."""
        with self._turn():
            self._ready()

    def _retire(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None

    @staticmethod
    def _exchange(running: _Running, job: Job) -> Any:
        """Send ``job`` and wait for its answer (on a real thread)."""
        try:
            running.requests.send(job)
            kind, value = running.replies.recv()
        except (EOFError, OSError) as closed:
            raise _WorkerDied from closed
        if kind == "ok":
            return value
        raise _rebuilt(*value)

    def run(
        self,
        call: Callable[Concatenate[Core, P], T],
        now: datetime,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``call(core, *args, **kwargs)`` in the worker, the core's clock at
        ``now``; its answer, or its exception raised here. The caller's
        green thread waits; the hub does not."""
        return cast(T, self._ask(Job(call, args, dict(kwargs), now))[0])

    def stream(
        self,
        call: Callable[Concatenate[Core, P], Iterator[T]],
        now: datetime,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Iterator[T]:
        """The items of the iterator ``call(core, *args, **kwargs)`` returns
        in the worker (a download), ``STREAM_BATCH`` per trip, each trip a
        job of its own (a summary asked meanwhile goes between two). Opened
        now: ``call``'s refusal is raised here, before the first item. A
        worker that dies or is restarted meanwhile ends the items with
        ``ReportUnavailable``; closing the iterator closes the worker's."""
        number, born = self._ask(Job(call, args, dict(kwargs), now, op=OPEN))
        return self._pulled(number, born, now)

    def _pulled(self, number: int, born: int, now: datetime) -> Iterator[Any]:
        finished = False
        try:
            while True:
                pull = Job(None, (), {}, now, op=PULL, stream=number, count=STREAM_BATCH)
                batch, _born = self._ask(pull, born=born)
                yield from batch
                if len(batch) < STREAM_BATCH:
                    finished = True
                    return
        finally:
            if not finished and self.starts == born:
                with contextlib.suppress(Exception):
                    self._ask(Job(None, (), {}, now, op=CLOSE, stream=number), born=born)

    def _ask(self, job: Job, born: int | None = None) -> tuple[Any, int]:
        """``job``'s answer and the worker's start number that gave it. A
        job of a download (``born``: the start that opened it) goes only to
        that same worker and is never asked twice; any other is asked once
        more of a fresh worker when the first dies under it."""
        deadline = time.monotonic() + self.timeout_s
        turn = self._turn()
        if not turn.acquire(timeout=self.timeout_s):
            raise ReportUnavailable("reports are busy: no turn in time")
        try:
            for attempt in (1, 2):
                if born is not None and (self.starts != born or self.pid() is None):
                    raise ReportUnavailable("the report worker was restarted under a download")
                running = self._ready()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ReportUnavailable("the report took too long")
                # The timer is a green thread under eventlet and gevent (a
                # real one under threading): it kills the worker, which ends
                # the wait on the real thread with an end of file.
                timer = threading.Timer(left, self._time_out, args=(running,))
                timer.daemon = True
                timer.start()
                try:
                    answer = run_off_hub(functools.partial(self._exchange, running, job))
                    return answer, self.starts
                except _WorkerDied:
                    pass
                finally:
                    timer.cancel()
                self._retire()
                if running.timed_out:
                    raise ReportUnavailable("the report took too long")
                log.warning("the report worker died under a job (attempt %s)", attempt)
            raise ReportUnavailable("the report worker died twice")
        finally:
            turn.release()

    @staticmethod
    def _time_out(running: _Running) -> None:
        running.timed_out = True
        running.kill()

    def close(self) -> None:
        """End the worker (the server's exit does it too: a daemon child)."""
        self._retire()

    def end_now(self) -> None:
        """Kill the worker at once, from a server that is stopping (no wait,
        no lock: called from a signal handler). Out of the idle class first:
        on a busy machine an idle-class process, even killed, waits for a
        turn on the CPU to exit, and an orphaned one lingered for minutes
        (its parent watch needs the CPU too)."""
        pid = self.pid()
        if pid is None:
            return
        if IDLE_POLICY is not None:
            with contextlib.suppress(OSError):
                os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


_workers: dict[int, ReportWorker] = {}
_workers_lock = threading.Lock()
# ``ReportWorker.lowered`` of a server's worker: always True in a server. A
# module constant so that a test's own server process may set it False
# (tests/patched_entrypoint.py) where the test is about report pages, not
# the worker's priority; not a setting.
WORKER_LOWERED = True


def end_workers_now() -> None:
    """Kill this process's report workers at once (``ReportWorker.end_now``)."""
    for worker in list(_workers.values()):
        worker.end_now()


def worker_for(core: Core) -> ReportWorker:
    """The report worker of ``core``'s server process, made on first use."""
    with _workers_lock:
        worker = _workers.get(id(core))
        if worker is None or worker.settings is not core.settings:
            worker = _workers[id(core)] = ReportWorker(core.settings, lowered=WORKER_LOWERED)
        return worker
