"""Issue 17's benchmark: what customers' notifications cost (docs/PERFORMANCE.md).

Two measurements, both against local provider stand-ins that speak the
providers' formats (tests/notify/providers.py: Alibaba Cloud SMS with its
signature check, and a real aiosmtpd SMTP server), so the real SDKs and the
real SMTP client run. The stand-ins run in a process of their own on the
load core (``python -m bench.notify --providers``), never in the process
that stamps the driver's send times.

* ``notify`` scenario of bench/run.py (``python -m bench.run --scenarios
  notify``): the busy dealer (500 screens in 50 shops, 100 changes/s). The
  product: every order's customer consented to SMS and e-mail, the shops'
  quiet hours off, the sender running in ``serve``, and one change in five
  (``PROMISE_EVERY``) a new promised time with its reason, which queues a
  ``promise_changed`` message on each channel (40 messages/s offered; the
  channels paced at ``MESSAGE_RATE`` each). The floor: the same changes,
  customers without consent and ``BAYLIGHT_NOTIFY_SENDER=off``. Target: the
  product's median p99 within 10 % of the floor's median.

* ``python -m bench.notify``, the drain: ``--messages`` (1,000) orders
  opened through the REST API with SMS consent queue one message each;
  a real ``baylight notify-worker`` drains them against an SMS stand-in
  that answers ``Throttling.User`` beyond ``--rate`` (20) messages in any
  second, the channel's ``rate_per_second`` set to the same. Drain time
  against the ideal (messages / rate), messages taken exactly once (counted
  at the stand-in), and the worker's RSS every 0.5 s (first, peak, last and
  the slope over the sending). ``--rounds`` (3), medians; results to
  bench/results/notify-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from bench import method, probes
from bench.driver import Job, change
from bench.servers import LOAD_CORE, ROOT, SERVER_CORE, pin, rss_kib, start_product
from bench.shops import Seeded, busy_dealer, first_estimates, open_orders, seed

if TYPE_CHECKING:
    from bench.run import Bench

RESULTS = ROOT / "bench" / "results"
# The busy dealer's change mix: every PROMISE_EVERY-th change of an order
# is a new promised time (the others pause and resume, as in ``rooms``).
PROMISE_EVERY = 5
# Diagnostic knobs (the environment of the bench process, not the server's):
# BENCH_NOTIFY_PROMISE_EVERY=0 drives no promise changes (pauses and resumes
# only: the sender idle, the consent checked on every change);
# BENCH_NOTIFY_PRODUCT_SENDER=off keeps the product's consent and messages
# queued but sends nothing during the round (what queueing costs alone).
PROMISE_EVERY_ENV = "BENCH_NOTIFY_PROMISE_EVERY"
PRODUCT_SENDER_ENV = "BENCH_NOTIFY_PRODUCT_SENDER"
WORKER_NICE_ENV = "BENCH_NOTIFY_WORKER_NICE"
# Each channel's pace in the rooms scenario (BAYLIGHT_SMS_RATE and
# BAYLIGHT_MAIL_RATE): what 100 changes/s with one in five a promise offer.
MESSAGE_RATE = 20.0
SHOPS = 50
# Quiet hours off (start = end), so messages go out whatever the hour of
# the run; the daily cap raised to its limit, so a round's promise changes
# (about 4 per order) are all sent, not suppressed as ``rate_cap``.
SHOP_SETTINGS: dict[str, Any] = {
    "notify": {"quiet_hours": {"start": "00:00", "end": "00:00"}, "max_per_order_per_day": 50}
}
# The channels' request timeout (the stand-ins' own default is 0.5 s, for tests).
NOTIFY_TIMEOUT = "5"
# The drain.
DRAIN_MESSAGES = 1000
DRAIN_RATE = 20.0
RSS_EVERY_S = 0.5
# Threads (and admin tokens) opening the drain's orders: 1,000 orders in
# under a minute stay within each token's 600 requests a minute.
CREATE_THREADS = 4
CREATE_PER_TOKEN = 250
# Target: the product's p99 at most this much above the floor's.
WITHIN = 0.10
# Flat memory: the worker's RSS grows less than this share over the sending.
FLAT_SHARE = 0.05
Round = dict[str, Any]


# ------------------------------------------------------------- stand-ins


def _quiet_reset(request: Any, client_address: Any) -> None:
    """A client that closed its kept-alive connection (a server stopped at a
    round's end) is no error worth a traceback; anything else is printed."""
    if not isinstance(sys.exc_info()[1], ConnectionError):
        traceback.print_exc()


def _limited_aliyun(limit: float) -> Any:
    """An Alibaba Cloud SMS stand-in that takes at most ``limit`` SendSms in
    any second (a sliding window) and answers the rest as Alibaba Cloud's
    flow control does (HTTP 400, ``Throttling.User``), recording nothing."""
    from tests.notify.providers import AliyunSmsServer, Scripted

    class Limited(AliyunSmsServer):
        def __init__(self) -> None:
            self.limit = int(limit)
            self.throttled = 0
            self._taken: collections.deque[float] = collections.deque()
            self._window = threading.Lock()
            super().__init__()

        def _bind(self) -> None:
            super()._bind()
            if self._server is not None:
                self._server.handle_error = _quiet_reset  # type: ignore[method-assign]
                # http.server writes a reply's head and body in two writes:
                # with Nagle's algorithm on, the body waits for the client's
                # delayed ACK (40 ms), which capped a sender at ~20 sends/s.
                # A provider's real front end does not stall like that.
                handler: Any = self._server.RequestHandlerClass
                handler.disable_nagle_algorithm = True

        def _send(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
            if self.limit > 0:
                with self._window:
                    now = time.monotonic()
                    while self._taken and now - self._taken[0] >= 1.0:
                        self._taken.popleft()
                    if len(self._taken) >= self.limit:
                        self.throttled += 1
                        return self._error(
                            Scripted(
                                "Throttling.User",
                                "Request was denied due to user flow control.",
                                400,
                            )
                        )
                    self._taken.append(now)
            return super()._send(params)

    return Limited()


def providers_main() -> None:
    """``python -m bench.notify --providers``: the stand-ins in this process.
    Reads a spec line ({"sms_limit": n, "smtp": bool}), prints {"environ"},
    then answers {"report": true} lines until {"done": true} or EOF."""
    from tests.notify.providers import SmtpServer

    spec = json.loads(sys.stdin.readline())
    sms = _limited_aliyun(float(spec.get("sms_limit") or 0))
    mail = SmtpServer() if spec.get("smtp") else None
    environ = sms.environ(BAYLIGHT_NOTIFY_TIMEOUT=NOTIFY_TIMEOUT)
    if mail is not None:
        environ.update(mail.environ(BAYLIGHT_NOTIFY_TIMEOUT=NOTIFY_TIMEOUT))
    print(json.dumps({"environ": environ}), flush=True)
    try:
        for line in sys.stdin:
            message = json.loads(line) if line.strip() else {}
            if message.get("done"):
                break
            if message.get("report"):
                texts = sms.received
                out_ids = [m.out_id for m in texts]
                taken = sorted(m.at.timestamp() for m in texts)
                report = {
                    # Seconds from the first message taken to the p-th share.
                    "sms_taken_at_s": {
                        str(share): round(taken[max(0, int(share * len(taken)) - 1)] - taken[0], 2)
                        for share in (0.5, 0.9, 0.99, 1.0)
                    }
                    if taken
                    else {},
                    "sms": len(texts),
                    "sms_distinct": len(set(out_ids)),
                    "sms_first_at": min((m.at.timestamp() for m in texts), default=None),
                    "sms_last_at": max((m.at.timestamp() for m in texts), default=None),
                    "throttled": sms.throttled,
                    "mail": len(mail.received) if mail is not None else 0,
                    "mail_distinct": len({m.message_id for m in mail.received}) if mail else 0,
                }
                print(json.dumps({"report": report}), flush=True)
    finally:
        sms.close()
        if mail is not None:
            mail.close()


class Providers:
    """The stand-ins' process, pinned to the load core."""

    def __init__(self, sms_limit: float = 0, smtp: bool = True) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.notify", "--providers"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        pin(self.process.pid, LOAD_CORE)
        self._send({"sms_limit": sms_limit, "smtp": smtp})
        self.environ: dict[str, str] = self._answer("environ")

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def _answer(self, key: str) -> dict[str, Any]:
        assert self.process.stdout
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the provider stand-ins ended without an answer")
        return dict(json.loads(line)[key])

    def report(self) -> dict[str, Any]:
        self._send({"report": True})
        return self._answer("report")

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self._send({"done": True})
                self.process.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


def outbox(database: Path) -> dict[str, int]:
    """The outbox by status, read beside the server (WAL: no writer waits)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute("SELECT status, count(*) FROM notification GROUP BY status").fetchall()
    return {str(status): int(n) for status, n in rows}


def _wait_for(test: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return True
        time.sleep(every)
    return test()


# ------------------------------------------------------- the busy dealer


def customer(shop: int, consent: bool) -> Callable[[int], dict[str, Any]]:
    """The n-th order's customer of shop number ``shop``: name, mobile and
    e-mail always; consent to SMS and e-mail only in the product."""

    def make(n: int) -> dict[str, Any]:
        found: dict[str, Any] = {
            "name": "王先生",
            "phone": f"138{shop:04d}{n:04d}",
            "email": f"customer-{shop}-{n}@example.com",
        }
        if consent:
            found["notify"] = ["sms", "email"]
        return found

    return make


class Changes:
    """The driver's changes: every ``every``-th change of an order a new
    promised time with its reason (``PUT /orders/{id}/promise``, a message
    on each consented channel), the others a pause or a resume."""

    def __init__(self, every: int | None = None) -> None:
        if every is None:
            every = int(os.environ.get(PROMISE_EVERY_ENV) or PROMISE_EVERY)
        self.every = every
        self.counts: dict[int, int] = {}
        self.promises = 0
        self.base = datetime.now(UTC) + timedelta(hours=3)

    def __call__(self, http: requests.Session, job: Job) -> bool:
        n = self.counts.get(job.order_id, 0) + 1
        self.counts[job.order_id] = n
        if self.every <= 0 or n % self.every:
            return change(http, job)
        try:
            response = http.put(
                f"{job.url}/api/v1/orders/{job.order_id}/promise",
                json={
                    "promised_at": (self.base + timedelta(minutes=n)).isoformat(),
                    "reason": "parts arrive later",
                    "version": job.version,
                },
                headers={"Authorization": f"Bearer {job.token}"},
                timeout=30,
            )
        except requests.RequestException:
            return False
        if response.status_code != 200:
            return False
        job.version = int(response.json()["version"])
        self.promises += 1
        return True


def rooms(
    bench: Bench,
    mode: str,
    *,
    consent: bool,
    shops_count: int = SHOPS,
    separate_worker: bool = False,
) -> Round:
    """One round of the ``notify`` scenario (product with ``consent``);
    ``shops_count`` smaller only in the test that keeps this code running.

    ``separate_worker``: the deployed shape (deploy/compose.yaml and the
    systemd units): ``serve`` with ``BAYLIGHT_NOTIFY_SENDER=off`` and a real
    ``baylight notify-worker`` process beside it, pinned to the other core,
    whose CPU is reported on its own (``worker_cpu_percent``)."""
    name = "notify" if consent else "notify-off"
    database = bench.file(f"{name}-{mode}")
    url_db = f"sqlite:///{database}"
    shops = seed(url_db, bench.work, shops_count, 1, name, role="admin", settings=SHOP_SETTINGS)
    providers = Providers(smtp=True)
    worker: subprocess.Popen[bytes] | None = None
    worker_cpu: float | None = None
    try:
        env = bench.env(url_db, mode)
        sender = os.environ.get(PRODUCT_SENDER_ENV, "on") if consent else "off"
        env.update(
            providers.environ,
            BAYLIGHT_NOTIFY_SENDER="off" if separate_worker else sender,
            BAYLIGHT_SMS_RATE=str(MESSAGE_RATE),
            BAYLIGHT_MAIL_RATE=str(MESSAGE_RATE),
        )
        server = start_product(env, SERVER_CORE)
        try:
            if separate_worker and sender == "on":
                # BENCH_NOTIFY_WORKER_NICE: the worker at that niceness
                # (a diagnostic: how much its CPU on the load's core matters).
                niceness = int(os.environ.get(WORKER_NICE_ENV) or 0)
                worker = subprocess.Popen(  # noqa: S603 - our interpreter, nice's number
                    [
                        *(["nice", "-n", str(niceness)] if niceness else []),
                        sys.executable,
                        "-m",
                        "shared.entrypoint",
                        "notify-worker",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                pin(worker.pid, LOAD_CORE)
            for n, shop in enumerate(shops):
                open_orders(server.url, shop, 1, customer(n, consent))
            first_estimates(server.url, shops)
            # The orders' "received" messages go out before the round.
            received = len(shops) if consent and sender == "on" else 0
            settled = _wait_for(
                lambda: min(providers.report()[k] for k in ("sms", "mail")) >= received, 60
            )
            before = providers.report()
            changes = Changes()
            meter = probes.CpuMeter([worker.pid]) if worker else None
            screens = busy_dealer(shops, server.port, server.url)
            outcome = bench._rooms_round(server, *screens, changes)
            if meter is not None:
                cpu, wall = meter.stop()
                worker_cpu = round(100 * cpu / wall, 1)
            after = providers.report()
            left = outbox(database)
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(10)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
            server.stop()
    finally:
        providers.close()
    seconds = bench.seconds(8, 5)
    sent_sms = after["sms"] - before["sms"]
    sent_mail = after["mail"] - before["mail"]
    outcome["metrics"].update(
        promise_changes=changes.promises,
        messages_sent=sent_sms + sent_mail,
        messages_per_s=round((sent_sms + sent_mail) / seconds, 1),
        outbox_waiting_at_end=left.get("queued", 0) + left.get("sending", 0),
    )
    if worker_cpu is not None:
        outcome["metrics"]["worker_cpu_percent"] = worker_cpu
    outcome["detail"]["notifications"] = {
        "consent": consent,
        "sender_in_serve": "off" if separate_worker else sender,
        "separate_worker": worker is not None,
        "promise_every": changes.every,
        "received_before_round_settled": settled,
        "stand_ins_before": before,
        "stand_ins_after": after,
        "outbox_at_end": left,
    }
    return outcome


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The notify rows of the targets table (only for the modes run): p99
    and server CPU within 10 % of the floor's, by the medians."""
    rows = []
    for name, scenario in results.items():
        if not name.startswith(("notify/", "notify_worker/")):
            continue
        product, floor = scenario["product"], scenario["floor"]
        for metric, label, unit in (
            ("p99_ms", "busy dealer p99, notifications on vs off", "ms"),
            ("cpu_percent", "busy dealer server CPU, notifications on vs off", "%"),
        ):
            off = floor["median"].get(metric)
            limit = round(off * (1 + WITHIN), 3) if off is not None else None
            rows.append(
                {
                    "target": label,
                    "scenario": name,
                    "metric": metric,
                    "want": f"<= floor + 10 % ({method.fmt(limit)})",
                    "unit": unit,
                    "product": product["median"].get(metric),
                    "rounds": [r.get(metric) for r in product["rounds"]],
                    "floor": off,
                    "floor_rounds": [r.get(metric) for r in floor["rounds"]],
                    "status": method.status(
                        product["median"].get(metric), "<=", limit, len(product["rounds"])
                    ),
                }
            )
    return rows


# ------------------------------------------------------------------ drain


def create_orders(url: str, shop: Seeded, count: int) -> int:
    """``count`` orders through the REST API, each with SMS consent (its
    "received" message queued with it), by one thread per driver token (the
    API's limit is per credential: 600 a minute); how many were refused."""
    failed = [0]
    lock = threading.Lock()
    threads = len(shop.drivers)

    def work(first: int) -> None:
        http = requests.Session()
        headers = {"Authorization": f"Bearer {shop.drivers[first]}"}
        for n in range(first, count, threads):
            body: dict[str, Any] = {
                "plate": f"粤D{n:05d}",
                "customer": {"name": "李女士", "phone": f"139{n:08d}", "notify": ["sms"]},
            }
            response = http.post(f"{url}/api/v1/orders", json=body, headers=headers, timeout=30)
            if response.status_code != 201:
                with lock:
                    failed[0] += 1
        http.close()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return failed[0]


class RssSampler(threading.Thread):
    """A process's RSS every ``every`` seconds: (epoch seconds, KiB)."""

    def __init__(self, pid: int, every: float = RSS_EVERY_S) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.samples.append((time.time(), rss_kib([self.pid])))
            except (OSError, ValueError):
                return
            self._halt.wait(self.every)

    def stop(self) -> list[tuple[float, int]]:
        self._halt.set()
        self.join()
        return self.samples


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, KiB) points, KiB per second."""
    if len(points) < 2:
        return 0.0
    xs = [p[0] for p in points]
    ys = [float(p[1]) for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def memory(samples: list[tuple[float, int]], first_at: float, last_at: float) -> dict[str, Any]:
    """The worker's RSS over the sending (first accepted send to the last):
    first, peak and last sample, the slope, and whether it stayed flat."""
    sending = [s for s in samples if first_at <= s[0] <= last_at] or samples
    if not sending:
        return {"rss_samples": 0}
    kib_per_s = slope(sending)
    span = sending[-1][0] - sending[0][0]
    first = sending[0][1]
    growth = kib_per_s * span
    return {
        "rss_samples": len(sending),
        "rss_first_kib": first,
        "rss_peak_kib": max(k for _t, k in sending),
        "rss_last_kib": sending[-1][1],
        "rss_slope_kib_per_min": round(kib_per_s * 60, 1),
        "rss_growth_kib": round(growth, 1),
        "rss_flat": int(growth <= FLAT_SHARE * first),
        "rss_at_start_kib": samples[0][1] if samples else None,
    }


def worker_env(
    bench: Bench, database_url: str, providers: Providers, rate: float
) -> dict[str, str]:
    env = bench.env(database_url, "eventlet")
    env.update(providers.environ, BAYLIGHT_NOTIFY_SENDER="off", BAYLIGHT_SMS_RATE=str(rate))
    return env


def drain_round(bench: Bench, messages: int, rate: float) -> Round:
    """One drain: ``messages`` queued through the API, then a real
    ``baylight notify-worker`` sends them at the stand-in's limit ``rate``."""
    database = bench.file("drain")
    url_db = f"sqlite:///{database}"
    # One admin token per creating thread: the REST API allows each
    # credential 600 requests a minute.
    threads = max(CREATE_THREADS, -(-messages // CREATE_PER_TOKEN))
    (shop,) = seed(url_db, bench.work, 1, threads, "drain", role="admin", settings=SHOP_SETTINGS)
    providers = Providers(sms_limit=rate, smtp=False)
    try:
        env = worker_env(bench, url_db, providers, rate)
        server = start_product(env, SERVER_CORE)
        try:
            refused = create_orders(server.url, shop, messages)
        finally:
            server.stop()
        queued = outbox(database)
        log = bench.work / f"worker-{bench.files}.log"
        with log.open("w") as stderr:
            started = time.monotonic()
            worker = subprocess.Popen(
                [sys.executable, "-m", "shared.entrypoint", "notify-worker"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            pin(worker.pid, SERVER_CORE)
            sampler = RssSampler(worker.pid)
            sampler.start()
            try:
                meter = probes.CpuMeter([worker.pid])
                timeout = messages / rate * 3 + 120
                drained = _wait_for(
                    lambda: _waiting(outbox(database)) == 0 or worker.poll() is not None,
                    timeout,
                    0.5,
                )
                drain_s = time.monotonic() - started
                cpu_s, _wall = meter.stop()
            finally:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
                samples = sampler.stop()
        report = providers.report()
        final = outbox(database)
    finally:
        providers.close()
    said = log.read_text(errors="replace")
    first_at = report["sms_first_at"] or 0.0
    last_at = report["sms_last_at"] or 0.0
    span = last_at - first_at
    ideal = messages / rate
    metrics: dict[str, Any] = {
        "messages": messages,
        "rate_limit_per_s": rate,
        "drained": int(drained and _waiting(final) == 0),
        "drain_s": round(drain_s, 2),
        "send_span_s": round(span, 2),
        "ideal_s": round(ideal, 2),
        "drain_vs_ideal": round(drain_s / ideal, 3),
        "send_rate_per_s": round((report["sms"] - 1) / span, 2) if span > 0 else None,
        "taken_by_provider": report["sms"],
        "taken_distinct": report["sms_distinct"],
        "duplicates": report["sms"] - report["sms_distinct"],
        # Not taken by the provider when the round ended (drained or timed out).
        "not_taken": messages - report["sms_distinct"],
        "throttled": report["throttled"],
        "sent_in_outbox": final.get("sent", 0) + final.get("delivered", 0),
        "orders_refused": refused,
        "failed": refused + final.get("failed", 0),
        **{f"taken_{share}_at_s": at for share, at in report["sms_taken_at_s"].items()},
        "worker_cpu_s": round(cpu_s, 2),
        "worker_cpu_ms_per_message": round(1000 * cpu_s / max(report["sms"], 1), 2),
        **memory(samples, first_at, last_at),
    }
    detail = {
        "queued_before": queued,
        "outbox_after": final,
        "stand_in": report,
        "worker_said": [line for line in said.splitlines() if "notify-worker" in line][-3:],
        "rss_samples": [[round(t - samples[0][0], 2), k] for t, k in samples] if samples else [],
    }
    return {"metrics": metrics, "detail": detail}


def _waiting(counts: dict[str, int]) -> int:
    return counts.get("queued", 0) + counts.get("sending", 0)


def drain_targets(side: dict[str, Any], rounds: int) -> list[dict[str, Any]]:
    """The drain's rows: the send rate at the provider's limit (at least 95 %
    of it), drain time against the ideal, exactly once, flat memory."""
    median = side["median"]
    rate = median.get("rate_limit_per_s") or 0.0

    def row(label: str, metric: str, op: str, threshold: float | None, unit: str) -> dict[str, Any]:
        return {
            "target": label,
            "scenario": "drain",
            "metric": metric,
            "want": f"{op} {method.fmt(threshold)}",
            "unit": unit,
            "product": median.get(metric),
            "rounds": [r.get(metric) for r in side["rounds"]],
            "floor": None,
            "floor_rounds": [],
            "status": method.status(median.get(metric), op, threshold, rounds),
        }

    def every_round(label: str, metric: str, unit: str) -> dict[str, Any]:
        values = [r.get(metric) for r in side["rounds"]]
        total = sum(int(v or 0) for v in values)
        verdict = (
            ("met" if total == 0 else "missed")
            if rounds >= method.JUDGED_ROUNDS
            else (f"not judged ({rounds} round{'s' if rounds != 1 else ''}; total {total})")
        )
        return {
            "target": label,
            "scenario": "drain",
            "metric": metric,
            "want": "== 0 in every round",
            "unit": unit,
            "product": total,
            "rounds": values,
            "floor": None,
            "floor_rounds": [],
            "status": verdict,
        }

    return [
        row(
            "send rate at the provider's limit (>= 95 %)",
            "send_rate_per_s",
            ">=",
            round(0.95 * rate, 2),
            "/s",
        ),
        row("drain time vs ideal (messages / rate), <= 1.10", "drain_vs_ideal", "<=", 1.10, "x"),
        every_round("messages not taken by the provider at the round's end", "not_taken", ""),
        every_round("messages taken twice", "duplicates", ""),
        row(
            "worker memory flat over the sending (growth <= 5 % of first)", "rss_flat", ">=", 1, ""
        ),
    ]


def drain_markdown(report: dict[str, Any]) -> str:
    side = report["drain"]
    lines = [
        f"Command: `{report['command']}`; {report['elapsed_s']} s.",
        "",
        "| target | want | median | rounds | status |",
        "|---|---|---|---|---|",
    ]
    for row in report["targets"]:
        rounds = " / ".join(method.fmt(v) for v in row["rounds"])
        lines.append(
            f"| {row['target']} | {row['want']} {row['unit']} | {method.fmt(row['product'])} "
            f"| {rounds} | {row['status']} |"
        )
    lines += ["", "| metric | median | rounds |", "|---|---|---|"]
    for key, value in side["median"].items():
        rounds = " / ".join(method.fmt(r.get(key)) for r in side["rounds"])
        lines.append(f"| {key} | {method.fmt(value)} | {rounds} |")
    for error in side["errors"]:
        lines.append(f"\nround failed: {error}")
    lines += ["", "## CPU steadiness", "", method.probes_markdown(report["machine"])]
    return "\n".join(lines)


def drain_main(args: argparse.Namespace) -> Path:
    from bench.run import Bench, Side, machine

    pin(os.getpid(), LOAD_CORE)
    started = time.monotonic()
    info = machine()
    print("CPU-steadiness probe (start)", flush=True)
    info["probe_at_start"] = probes.probe([SERVER_CORE, LOAD_CORE], 2.0 if args.quick else 4.0)
    side = Side()
    with tempfile.TemporaryDirectory(prefix="baylight-bench-notify-") as work:
        bench = Bench(args.quick, Path(work))
        print(f"[drain] {args.messages} messages at {args.rate:g}/s: {args.rounds} round(s)")
        for n in range(1, args.rounds + 1):
            side.run(f"round {n}", lambda: drain_round(bench, args.messages, args.rate))
    print("CPU-steadiness probe (end)", flush=True)
    info["probe_at_end"] = probes.probe([SERVER_CORE, LOAD_CORE], 2.0 if args.quick else 4.0)
    result = side.report()
    report = {
        "machine": info,
        "command": " ".join(["python -m bench.notify", *sys.argv[1:]]),
        "rounds": args.rounds,
        "elapsed_s": round(time.monotonic() - started, 1),
        "targets": drain_targets(result, len(result["rounds"])),
        "drain": result,
    }
    out = Path(args.out) if args.out else RESULTS / f"notify-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(drain_markdown(report))
    print(f"\nresults in {out}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.notify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--providers", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, default=DRAIN_MESSAGES)
    parser.add_argument("--rate", type=float, default=DRAIN_RATE, help="the provider's limit /s")
    parser.add_argument("--rounds", type=int, default=method.JUDGED_ROUNDS)
    parser.add_argument("--quick", action="store_true", help="shorter CPU probes")
    parser.add_argument("--out", default="", help="results file (default bench/results/...)")
    parser.add_argument("--markdown", metavar="RESULTS", help="print a results file as tables")
    args = parser.parse_args()
    if args.providers:
        providers_main()
        return
    if args.markdown:
        print(drain_markdown(json.loads(Path(args.markdown).read_text())))
        return
    drain_main(args)


if __name__ == "__main__":
    main()
