"""The manager reports' query, read once for every surface that asks for a
report: the REST API (shared/web/api_reports.py), the /reports page's own
routes (board/reports.py) and the dealer group's side by side
(kiosk/group.py).

- ``from`` and ``to``: the shop's days, inclusive (``reports.check_range``:
  in order, at most about three years). The REST API requires both; the
  page takes the shop's today for a missing one.
- ``group``: day, week or month, or none.
- ``only``: a drill-down key (``reports.DRILL_DOWNS``), or every order of
  the range (absent, empty or ``all``).
- ``limit`` and ``offset``: a page of rows.

Refusals are ``validation_error`` with ``field`` the parameter's own name
(``to``, ``group``), said in the reader's words. Their templates name the
report's day and the grouping directly, because the request fields' labels
are the board's: ``to`` is a move's new stage there, ``group`` the dealer
group.

Who reads which half (``workshop_only``) is decided here too: a service
manager or admin reads everything, a foreman the workshop's half
(``reports.WORKSHOP_FIGURES``, ``WORKSHOP_DRILL_DOWNS``, ``order_columns``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from typing import Any, Concatenate, ParamSpec, TypeVar

from flask import Response
from werkzeug.exceptions import ServiceUnavailable

from shared.domain import errors
from shared.domain.policy import Command, may
from shared.persistence.off_hub import iterate_off_hub, run_off_hub_in_context
from shared.services import report_process, reports
from shared.services.auth import Principal
from shared.services.core import Core
from shared.web.access import core
from shared.web.parsing import query_text

P = ParamSpec("P")
T = TypeVar("T")

# "Every order of the range": the page's word for no drill-down.
ALL = "all"


def workshop_only(principal: Principal) -> bool:
    """Whether ``principal`` reads the workshop's half only: everyone who
    may read reports but not administer the shop (the foreman)."""
    return not may(principal, Command.ADMINISTER)


def _day_refused(name: str, *, missing: bool) -> errors.ValidationFailed:
    """A day's refusal, naming the report's first or last day in so many
    words (the field labels say "new stage" for ``to``)."""
    if name == "to":
        if missing:
            return errors.ValidationFailed(
                "to", errors.Message("The report's last day is required.")
            )
        return errors.ValidationFailed(
            "to", errors.Message("The report's last day is a date like 2026-05-01.")
        )
    if missing:
        return errors.ValidationFailed(
            "from", errors.Message("The report's first day is required.")
        )
    return errors.ValidationFailed(
        "from", errors.Message("The report's first day is a date like 2026-05-01.")
    )


def report_day(name: str, default: date | None = None) -> date:
    """The day ``from`` or ``to``; ``default`` when absent (None: required)."""
    raw = query_text(name)
    if raw is None or not raw.strip():
        if default is not None:
            return default
        raise _day_refused(name, missing=True)
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise _day_refused(name, missing=False) from None


def report_range(default: date | None = None) -> tuple[date, date]:
    """``from`` and ``to``, checked as the reports service checks a range."""
    start, end = report_day("from", default), report_day("to", default)
    reports.check_range(start, end)
    return start, end


def report_group() -> str | None:
    """``group``: day, week or month; None when absent or empty."""
    raw = query_text("group") or None
    reports.check_group(raw)
    return raw


def report_only(*, workshop_only: bool = False) -> str | None:
    """``only``: a drill-down key, or None for every order of the range; a
    front-office list refused (403) to a reader of the workshop's half."""
    raw = query_text("only") or None
    only = None if raw == ALL else raw
    if only is not None and only not in reports.DRILL_DOWNS:
        raise reports.one_of("only", (ALL, *reports.DRILL_DOWNS))
    reports.check_only(only, workshop_only=workshop_only)
    return only


def _whole(name: str, default: int, low: int, high: int) -> int:
    raw = query_text(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        template = "%(field)s must be a whole number from %(low)s to %(high)s."
        raise errors.ValidationFailed(
            name, errors.Message(template, field=name, low=low, high=high)
        )
    return int(raw)


def report_page(default_limit: int, max_limit: int) -> tuple[int, int]:
    """``limit`` (1..max_limit, ``default_limit`` when absent) and
    ``offset`` (from 0)."""
    limit = _whole("limit", default_limit, 1, max_limit)
    offset = _whole("offset", 0, 0, 10_000_000)
    return limit, offset


# ------------------------------------------------------------ computing off the hub

# A download's chunks made per trip to a real thread: a CSV chunk is a
# hundred rows (report_export.CSV_ROWS_PER_CHUNK), an XLSX block 64 KiB, so a
# batch stays a few hundred kilobytes whatever the range (memory flat).
STREAM_BATCH = 8
# A report refused for want of time (503) says when to ask again.
RETRY_AFTER_S = 5
_gate_lock = threading.Lock()
_gate: threading.BoundedSemaphore | None = None


def _one_report_at_a_time() -> AbstractContextManager[object]:
    """The process's one report computation at a time on its own threads
    (a testing app's: a server's go to its report worker): a second waits (on
    its own green thread, the hub going on), so two never take both the
    GIL's turns from the hub that publishes the board's changes. Made at
    first use, after the server has chosen its threads (eventlet's or
    gevent's patched semaphore, or a real one)."""
    global _gate
    with _gate_lock:
        if _gate is None:
            _gate = threading.BoundedSemaphore(1)
        return _short_turns(_gate)


# The GIL's turn while a report is computed in this process (a testing
# app's; CPython's default is 5 ms): the hub asks for the GIL back after
# every socket call, and each time waits out the report thread's turn;
# shorter turns make that wait shorter, at a small cost to the report.
REPORT_SWITCH_INTERVAL_S = 0.0005


@contextmanager
def _short_turns(gate: threading.BoundedSemaphore) -> Iterator[None]:
    with gate:
        before = sys.getswitchinterval()
        sys.setswitchinterval(min(before, REPORT_SWITCH_INTERVAL_S))
        try:
            yield
        finally:
            sys.setswitchinterval(before)


def computed(call: Callable[Concatenate[Core, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``call(core, *args, **kwargs)`` (a report's figures: ``reports.summary``,
    ``technicians``, ``advisors``, ``report_process.orders_page`` or
    ``orders_listing``) in the server's report worker, a niced process of
    its own on a read-only engine (``shared.services.report_process``): a
    report request must not delay a status change's publish, and its
    Python in this process would hold the GIL the publishing needs. This
    request's green thread waits on a real thread; the hub goes on. A
    report the worker cannot answer in time is a 503 with Retry-After.

    A testing app (``Settings.testing``) computes in this process instead,
    on a real thread, one at a time (tests/test_report_process.py runs the
    worker of a real server). Every surface that answers a report (the
    REST API, the /reports page, the group's side by side) asks through
    this."""
    the_core = core()
    if the_core.settings.testing:
        with _one_report_at_a_time():
            return run_off_hub_in_context(lambda: call(the_core, *args, **kwargs))
    try:
        return report_process.worker_for(the_core).run(call, the_core.now(), *args, **kwargs)
    except report_process.ReportUnavailable:
        raise ServiceUnavailable(retry_after=RETRY_AFTER_S) from None


def computed_json(call: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Response:
    """``computed(call, ...)``'s answer as a JSON response (``no-store``),
    encoded where it was computed (``report_process.encoded``): the server
    passes the worker's bytes on instead of encoding a year's figures on
    the hub at every request."""
    body = computed(report_process.encoded, call, *args, **kwargs)
    response = Response(body, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def streamed(
    call: Callable[Concatenate[Core, P], Iterator[T]], /, *args: P.args, **kwargs: P.kwargs
) -> Iterator[T]:
    """A download's chunks (CSV lines, XLSX blocks: ``report_process.csv_lines``
    or ``xlsx_blocks``) made in the report worker, a few at a time, as
    ``computed``: its refusal (a range, a list) is raised now, before the
    first byte. A testing app makes them in this process, on a real thread,
    ``STREAM_BATCH`` at a time, one download at a time, with short GIL turns
    (``_one_report_at_a_time``)."""
    the_core = core()
    if the_core.settings.testing:
        items = call(the_core, *args, **kwargs)
        return iterate_off_hub(items, STREAM_BATCH, _one_report_at_a_time)
    try:
        return report_process.worker_for(the_core).stream(call, the_core.now(), *args, **kwargs)
    except report_process.ReportUnavailable:
        raise ServiceUnavailable(retry_after=RETRY_AFTER_S) from None


def order_download(
    kind: str, shop_id: int, start: date, end: date, *, only: str | None, workshop_only: bool
) -> Iterator[Any]:
    """The orders' download of ``kind`` (``csv``: text lines, ``xlsx``: byte
    blocks) from the report worker, its columns labelled in the request's
    language: the one spelling of it for the REST API and the /reports page.
    A refusal (the range, the list) is raised now, before the first byte."""
    make = report_process.csv_lines if kind == "csv" else report_process.xlsx_blocks
    columns = report_process.labelled(reports.order_columns(workshop_only=workshop_only))
    items: Iterator[Any] = streamed(
        make, shop_id, start, end, only=only, workshop_only=workshop_only, columns=columns
    )
    return items
