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
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from sqlalchemy import event

from shared.config import Settings
from shared.persistence.database import Database
from shared.persistence.off_hub import run_off_hub
from shared.services import reports
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
    call: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    now: datetime


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


def _lowered(pid: int) -> None:
    """Process ``pid`` (0: this one) at the lowest CPU priority."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, NICENESS)
    if IDLE_POLICY is not None:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(pid, IDLE_POLICY, os.sched_param(0))


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


def serve_jobs(requests: Connection, replies: Connection, settings: Settings, parent: int) -> None:
    """The worker process's loop: a job in, its answer (or its error) out,
    until the server closes the pipe or goes away."""
    _lowered(0)
    os.nice(NICENESS)
    # Ctrl-C at the server's terminal reaches its whole process group: the
    # server ends, and this process with it (below), without a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _leave_with_parent(parent)
    core = reader_core(settings)
    while True:
        try:
            job: Job = requests.recv()
        except (EOFError, OSError):
            break
        core.clock = functools.partial(_fixed, job.now)
        try:
            answer: tuple[str, Any] = ("ok", job.call(core, *job.args, **job.kwargs))
        except Exception as error:
            answer = ("error", _portable(error))
        try:
            replies.send(answer)
        except (BrokenPipeError, OSError):
            break
        except Exception as error:  # an answer or error that does not pickle
            log.exception("a report's answer could not be sent")
            replies.send(("error", (RuntimeError, (f"unpicklable answer: {error!r}",), {})))
    core.db.dispose()


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
    """The server's one report worker (``worker_for``): ``run`` a job there."""

    settings: Settings
    timeout_s: float = TIMEOUT_S
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
            args=(job_reader, answer_writer, self.settings, os.getpid()),
            name="baylight-reports",
            daemon=True,
        )
        process.start()
        # Niced from its first import on (it nices itself too, in case this
        # comes too late): its start must not take the server's core either.
        if process.pid is not None:
            _lowered(process.pid)
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
        job = Job(call, args, dict(kwargs), now)
        deadline = time.monotonic() + self.timeout_s
        turn = self._turn()
        if not turn.acquire(timeout=self.timeout_s):
            raise ReportUnavailable("reports are busy: no turn in time")
        try:
            for attempt in (1, 2):
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
                    return cast(T, run_off_hub(functools.partial(self._exchange, running, job)))
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


_workers: dict[int, ReportWorker] = {}
_workers_lock = threading.Lock()


def worker_for(core: Core) -> ReportWorker:
    """The report worker of ``core``'s server process, made on first use."""
    with _workers_lock:
        worker = _workers.get(id(core))
        if worker is None or worker.settings is not core.settings:
            worker = _workers[id(core)] = ReportWorker(core.settings)
        return worker
