"""The processes a benchmark round starts: a real ``baylight serve``, the
bare floor (bench/floor_app.py), and the load process (bench/load.py), each
pinned to its core so server and load never share one."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.load import Group

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE = 0
LOAD_CORE = 1


def pin(pid: int, core: int) -> None:
    """Keep server and load apart on a multi-core machine."""
    if (os.cpu_count() or 1) > core:
        os.sched_setaffinity(pid, {core})


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, path: str = "/healthz", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server on {self.port} exited")
            try:
                if requests.get(self.url + path, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server on {self.port} did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_product(env: dict[str, str], core: int, checkout: Path = ROOT) -> Server:
    """``baylight serve`` of ``checkout`` (this one unless told: ``bench.twin``
    runs another's, its code first on the path)."""
    port = free_port()
    if checkout != ROOT:
        env = {**env, "PYTHONPATH": str(checkout)}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "shared.entrypoint", "serve", "--port", str(port)],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pin(process.pid, core)
    server = Server(process, port)
    server.wait()
    return server


def start_floor(
    mode: str, core: int, queue: str = "", database: str = "", snapshot_bytes: int = 0
) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "bench.floor_app", "--port", str(port), "--mode", mode]
    if queue:
        command += ["--queue", queue]
    if database:
        command += ["--database", database]
    if snapshot_bytes:
        command += ["--snapshot-bytes", str(snapshot_bytes)]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    pin(process.pid, core)
    server = Server(process, port)
    server.wait()
    return server


class LoadProcess:
    """``python -m bench.load`` on the load core, spoken to in JSON lines."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.load"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        pin(self.process.pid, LOAD_CORE)
        self.send(spec)

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def answer(self, key: str) -> dict[str, Any]:
        assert self.process.stdout
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the load process ended without an answer")
        return dict(json.loads(line)[key])

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send({"done": True})
                self.process.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


class Load(LoadProcess):
    """Subscribers that connect on construction; each ``phase`` is one
    batch of the driver's sends, counted on its own."""

    def __init__(self, groups: list[Group], drain_s: float = 5.0) -> None:
        super().__init__({"groups": [g.__dict__ for g in groups], "drain_s": drain_s})
        self.connected = self.answer("connected")

    def phase(self, sends: list[list[float]]) -> dict[str, Any]:
        self.send({"sends": sends})
        return self.answer("result")

    def finish(self, sends: list[list[float]]) -> dict[str, Any]:
        try:
            return self.phase(sends)
        finally:
            self.close()


class Storm(LoadProcess):
    """Boards that all connect at once; ``result`` once every board holds
    its snapshot or ``deadline_s`` passed. They stay connected until
    ``close``."""

    def __init__(self, port: int, tokens: list[str], deadline_s: float) -> None:
        super().__init__({"port": port, "tokens": tokens, "deadline_s": deadline_s})

    def result(self) -> dict[str, Any]:
        return self.answer("storm")
