"""deploy/ exercised: Debian's nginx, run with a
config generated from deploy/nginx/baylight.conf (loopback ports instead of
80/443, no certificate), in front of two real workers on PostgreSQL and
Redis. A Socket.IO websocket through nginx receives a change made over REST
through nginx, static files come from nginx itself, plain HTTP redirects to
HTTPS, and a worker killed behind nginx hands its screens to the other one.
The compose file and the systemd units are checked for shape.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, free_port, need, offline_core, seed_shop
from tests.e2e.sockets import Api, Recorder, connected

from .cluster import (
    Cluster,
    Screen,
    fresh_queue_url,
    start_cluster,
    versions,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

NGINX = "/usr/sbin/nginx"
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "baylight.conf"
WAIT = 15.0


def server_blocks(config: str) -> list[str]:
    """The top-level ``server { … }`` blocks of the site file."""
    return re.findall(r"^server \{\n.*?^\}\n", config, flags=re.M | re.S)


def for_test(site: str, workers: list[int], https_port: int, http_port: int, static: Path) -> str:
    """The site with loopback ports, the test's workers and no TLS. Every
    rewrite must find its target, so a reshaped deploy file fails here
    instead of silently testing something else."""
    upstreams = re.findall(r"^    server 127\.0\.0\.1:\d+ ([^\n]*)\n", site, flags=re.M)
    assert len(upstreams) >= 2, "the upstream lists the workers"
    servers = "".join(f"    server 127.0.0.1:{port} {upstreams[0]}\n" for port in workers)
    text = re.sub(r"(^    server 127\.0\.0\.1:\d+ [^\n]*\n)+", servers, site, flags=re.M)
    rewrites = [
        ("    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n"),
        ("    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https_port};\n"),
        ("/srv/baylight/static/", f"{static}/"),
    ]
    for old, new in rewrites:
        assert old in text, f"{old!r} not in {SITE}"
        text = text.replace(old, new)
    dropped = r"^    (listen \[::\]:\d+[^\n]*|ssl_[a-z_]+ [^\n]*)\n"
    assert re.search(r"^    ssl_certificate ", text, flags=re.M), "the TLS server has a certificate"
    return re.sub(dropped, "", text, flags=re.M)


def main_config(site: str, prefix: Path) -> str:
    """A whole nginx.conf around the site: foreground, files under prefix."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(
        f"    {kind}_temp_path {prefix}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n    include /etc/nginx/mime.types;\n"
        f"    access_log {prefix}/access.log;\n{temp}{site}}}\n"
    )


@dataclass
class Proxy:
    """nginx in front of the cluster."""

    cluster: Cluster
    url: str
    http_url: str
    port: int
    config: Path
    process: subprocess.Popen[bytes]


def start_nginx(config: Path, port: int, prefix: Path) -> subprocess.Popen[bytes]:
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=(prefix / "stderr.log").open("wb"),
    )
    deadline = time.monotonic() + WAIT
    while True:
        assert process.poll() is None, (prefix / "stderr.log").read_text()
        try:
            requests.get(f"http://127.0.0.1:{port}/static/js/live.js", timeout=1)
            return process
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, scale_database: str) -> Iterator[Proxy]:
    need(Path(NGINX).exists(), "nginx (apt-get install nginx)")
    tmp = tmp_path_factory.mktemp("nginx")
    port, http_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    core = offline_core(scale_database, tmp)
    shop = seed_shop(core)
    cluster = start_cluster(tmp, scale_database, fresh_queue_url(), shop, BAYLIGHT_PUBLIC_URL=url)
    prefix = tmp / "prefix"
    prefix.mkdir()
    config = prefix / "nginx.conf"
    site = for_test(
        SITE.read_text(), [w.port for w in cluster.workers], port, http_port, ROOT / "static"
    )
    config.write_text(main_config(site, prefix))
    process: subprocess.Popen[bytes] | None = None
    try:
        process = start_nginx(config, port, prefix)
        yield Proxy(cluster, url, f"http://127.0.0.1:{http_port}", port, config, process)
    finally:
        if process is not None:
            process.terminate()
            process.wait(10)
        cluster.stop()
        core.db.dispose()


def board_auth(proxy: Proxy, since: int | None = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"token": proxy.cluster.shop.tokens["display-board"]}
    if since is not None:
        auth["since"] = since
    return auth


def active(api: Api) -> dict[int, tuple[str, int]]:
    found = api.call("GET", "/orders?active=true", expect=200).json()["orders"]
    return {int(o["id"]): (o["stage"], int(o["version"])) for o in found}


def test_plain_http_redirects_to_https(proxy: Proxy) -> None:
    response = requests.get(f"{proxy.http_url}/board?x=1", allow_redirects=False, timeout=5)
    assert response.status_code == 301
    assert response.headers["Location"] == "https://127.0.0.1/board?x=1"


def test_static_files_are_served_by_nginx_with_caching(proxy: Proxy) -> None:
    response = requests.get(f"{proxy.url}/static/js/live.js", timeout=5)
    assert response.status_code == 200
    assert response.content == (ROOT / "static" / "js" / "live.js").read_bytes()
    assert response.headers["Server"].startswith("nginx")
    assert "max-age=3600" in response.headers["Cache-Control"]
    # The app stamps a Content-Security-Policy on everything it serves.
    assert "Content-Security-Policy" not in response.headers
    proxied = requests.get(f"{proxy.url}/healthz", timeout=5)
    assert proxied.status_code == 200
    # The policy names the configured public URL (nginx's address here) as
    # a websocket origin, for browsers whose 'self' does not cover ws:.
    assert f"ws://127.0.0.1:{proxy.port}" in proxied.headers["Content-Security-Policy"]


def test_a_websocket_through_nginx_receives_a_change_made_through_nginx(proxy: Proxy) -> None:
    api = Api(proxy.url, proxy.cluster.shop.tokens)
    try:
        with connected(proxy.url, board_auth(proxy)) as board:
            board.wait_for_snapshot()
            assert board.client.transport() == "websocket"
            order = api.create(plate="粤D60001")
            order = api.assign(order, "B02", [proxy.cluster.shop.technicians[1]])
            seq = api.last_seq()
            board.wait_for_seq(seq)
            assert board.of("order")[-1].order["version"] == order["version"]
            # The upgraded connection carries traffic both ways, repeatedly.
            for _ in range(5):
                assert board.settle() == seq
            assert not board.disconnected.is_set()
    finally:
        api.close()


def serving_worker(proxy: Proxy) -> int:
    """Index of the worker holding the one open screen."""
    counts = []
    for worker in proxy.cluster.workers:
        text = requests.get(f"{worker.url}/metrics", timeout=5).text
        found = re.search(r"^baylight_socket_connections (\d+)$", text, flags=re.M)
        assert found, text
        counts.append(int(found.group(1)))
    assert sorted(counts) == [0, 1], counts
    return counts.index(1)


def test_worker_killed_behind_nginx_screens_resume_on_the_other(proxy: Proxy) -> None:
    api = Api(proxy.url, proxy.cluster.shop.tokens)
    screen = Screen(Recorder(proxy.url, board_auth(proxy)).connect())
    try:
        screen.recorder.wait_for_snapshot()
        screen.catch_up()
        victim = proxy.cluster.workers[serving_worker(proxy)]
        victim.kill()
        assert screen.recorder.disconnected.wait(WAIT)
        # nginx sends the next requests to the live worker.
        order = api.create(plate="粤D60002")
        api.assign(order, "B03", [proxy.cluster.shop.technicians[0]])
        screen.recorder.close()
        resumed = Screen(Recorder(proxy.url, board_auth(proxy, screen.seq)))
        resumed.orders, resumed.seq = dict(screen.orders), screen.seq
        resumed.recorder.connect()
        try:
            resumed.catch_up()
            assert not resumed.recorder.of("snapshot"), "resumed from its seq"
            assert versions(resumed.orders) == active(api)
            assert resumed.resent() == []
        finally:
            resumed.recorder.close()
    finally:
        screen.recorder.close()
        api.close()


def test_compose_file_describes_the_stack() -> None:
    try:
        import yaml
    except ImportError:
        need(False, "PyYAML (the test extra)")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "proxy"} <= set(services)
    workers = [name for name in services if name.startswith("worker-")]
    assert len(workers) >= 2
    site = SITE.read_text()
    for name in workers:
        port = name.removeprefix("worker-")
        assert services[name]["command"][-1] == port
        assert f"server 127.0.0.1:{port} " in site, f"{name} is not in the nginx upstream"
        assert services[name]["network_mode"] == "service:proxy"
        assert services[name]["environment"]["BAYLIGHT_MESSAGE_QUEUE"].startswith("redis://")
    assert services["migrate"]["command"] == ["init-db"]


def test_systemd_units_run_one_worker_per_port() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "systemd" / "baylight@.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("baylight serve --host 127.0.0.1 --port %i")
    assert service["EnvironmentFile"] == "/etc/baylight/env"
    assert service["NoNewPrivileges"] == "yes"
    assert unit["Install"]["WantedBy"] == "baylight.target"
    assert unit["Unit"]["PartOf"] == "baylight.target"
    target = configparser.ConfigParser(interpolation=None)
    target.read(DEPLOY / "systemd" / "baylight.target")
    assert target["Install"]["WantedBy"] == "multi-user.target"
