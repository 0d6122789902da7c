"""A second ``baylight serve`` on a port that is already served refuses to
start: with eventlet's SO_REUSEPORT it used to start silently and the kernel
split the screens between two servers."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.conftest import ROOT


def test_a_second_server_on_a_taken_port_refuses_to_start(live: Any) -> None:
    server, _shop = live
    second = subprocess.run(
        [sys.executable, "-m", "shared.entrypoint", "serve", "--port", str(server.port)],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2, second.stderr[-2000:]
    assert f"127.0.0.1:{server.port} is in use" in second.stderr
    assert server.process is not None and server.process.poll() is None
