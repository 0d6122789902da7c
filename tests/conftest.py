"""Shared fixtures: a real app on a real SQLite file, a real server process on
a free port, and a real PostgreSQL database when the machine has one.

Nothing here mocks the database or the Socket.IO hub. Services that CI has
(PostgreSQL, Redis, Chromium) make a test *fail* when missing under CI=true;
on a laptop without them the test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.routing import Rule

from shared.config import Settings
from shared.domain.errors import ValidationFailed
from shared.persistence.database import Database, upgrade_schema
from shared.services import auth, setup
from shared.services.auth import create_api_token
from shared.services.core import Core
from tests.hypothesis_printer import restore_example_printer

# Browser fixtures (one Playwright for the whole run) for every folder, and
# the booking tests' shared server (tests/booking_pages.py).
pytest_plugins = ["tests.browser_support", "tests.booking_pages"]

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get("BAYLIGHT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BAYLIGHT_TEST_REDIS", "redis://127.0.0.1:6379/0")


def need(available: bool, what: str) -> None:
    """Skip on a laptop without ``what``; fail in CI, where it must exist."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but not available")
    pytest.skip(f"{what} not available on this machine")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HandClock:
    """A clock the test moves by hand, for ``core.clock`` (the services' only
    time source): views that depend on "now" then read the same when the test
    recomputes them."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# The lounge view's allow-list: everything the public TV may receive of an
# order (shared.services.views.lounge_view), held by the tests in one place.
LOUNGE_KEYS = frozenset(
    {
        "id",
        "number",
        "business_day",
        "plate_masked",
        "plate_masked_more",
        "stage",
        "pause_reasons",
        "eta",
        "ready",
    }
)


@dataclass
class Shop:
    """A seeded shop: ids and plain tokens the tests act with."""

    core: Core
    shop_id: int
    bays: list[str]
    technicians: list[int]
    tokens: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)
    slug: str = "test"

    def headers(self, role: str = "admin", key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers


LANE = "P01"


def parking_lane(core: Core, shop_id: int) -> str:
    """A parking lane that holds many cars, for tests that dispatch several
    orders at once and are about something other than bay occupancy (a
    repair bay holds one car)."""
    with contextlib.suppress(ValidationFailed):  # added by an earlier call
        setup.add_bay(core, shop_id, LANE, "停车道", kind="parking_lane", capacity=99)
    return LANE


def seed_shop(core: Core, slug: str = "test", timezone: str = "Asia/Shanghai") -> Shop:
    shop_id = setup.ensure_shop(core, slug=slug, name="测试店", timezone=timezone)
    bays = ["B01", "B02", "B03"]
    for code in bays:
        setup.add_bay(core, shop_id, code, f"工位 {code}")
    techs = [
        setup.create_user(
            core, shop_id, role="technician", name="王师傅", badge="1001", pin="1234"
        ),
        setup.create_user(
            core,
            shop_id,
            role="technician",
            name="李师傅",
            badge="1002",
            pin="5678",
            qualifications=("team_lead", "qc_inspector"),
        ),
    ]
    tokens = {
        role: create_api_token(core, shop_id=shop_id, role=role, name=f"test {role}")
        for role in ("admin", "manager", "advisor", "foreman", "display-board", "display-lounge")
    }
    tokens["technician"] = create_api_token(
        core, shop_id=shop_id, role="technician", name="王师傅", user_id=techs[0]
    )
    tokens["technician2"] = create_api_token(
        core, shop_id=shop_id, role="technician", name="李师傅", user_id=techs[1]
    )
    return Shop(core, shop_id, bays, techs, tokens, slug=slug)


# Werkzeug's scrypt spends a fifth of a second on every PIN a test seeds; the
# suite hashes with one cheap round instead. Processes the tests start (the
# server, the CLI) keep the production hasher, and test_cli checks that what
# they store is scrypt.
auth.PIN_HASH_METHOD = "pbkdf2:sha256:1"


def _share_url_builders() -> None:
    """Werkzeug compiles two URL-builder functions (an AST, then
    ``compile()``) for each of an app's ~120 rules whenever a Flask app is
    made: two thirds of ``create_app``'s time, and the suite makes an app
    for each of ~1,600 tests. The code it generates depends only on the
    rule's text, its parsed parts and its defaults, and takes the rule as an
    argument (bound per rule by werkzeug), so one compile per distinct rule
    serves every app of the session. Processes the tests start (servers,
    the CLI) compile as usual."""
    original = Rule._compile_builder
    compiled: dict[tuple[Any, ...], Any] = {}

    def compile_builder(self: Rule, append_unknown: bool = True) -> Any:
        defaults = tuple(sorted((k, repr(v)) for k, v in (self.defaults or {}).items()))
        key = (self.rule, tuple(self._trace), defaults, append_unknown)
        if key not in compiled:
            compiled[key] = original(self, append_unknown)
        return compiled[key]

    Rule._compile_builder = compile_builder  # type: ignore[method-assign]


_share_url_builders()


def _share_entry_points() -> None:
    """``create_app`` finds its screens (``register_screens``) among the
    installed distributions' entry points: reading every distribution's
    metadata, 20 ms a call, half of an app's making. The distributions do
    not change during a run, so the test process reads each group once.
    Processes the tests start read theirs as usual."""
    from importlib.metadata import EntryPoints
    from importlib.metadata import entry_points as read

    from shared.web import app as web_app

    found: dict[str, EntryPoints] = {}

    def entry_points(*, group: str) -> EntryPoints:
        if group not in found:
            found[group] = read(group=group)
        return found[group]

    web_app.entry_points = entry_points  # type: ignore[assignment]


_share_entry_points()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest migration, made once per session: running
    the whole Alembic chain costs a third of a second, copying the file a
    millisecond. tests/test_migrations.py runs the real chain."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    database = Database(f"sqlite:///{path}")
    upgrade_schema(database)
    # Closing the last connection folds the write-ahead log into the file.
    database.dispose()
    return path


def migrated_copy(template: Path, target: Path) -> str:
    """A fresh database at ``target`` with the template's schema; its URL."""
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@dataclass(frozen=True)
class SeededTemplate:
    """A SQLite file at the newest migration with the ``shop`` fixture's
    shop already seeded, and what the seeding returned. Seeding is a dozen
    committed writes; a test that asks for ``shop`` copies the file instead
    (each test still has a database of its own)."""

    path: Path
    shop_id: int
    bays: tuple[str, ...]
    technicians: tuple[int, ...]
    tokens: tuple[tuple[str, str], ...]


@pytest.fixture(scope="session")
def seeded_template(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> SeededTemplate:
    tmp = tmp_path_factory.mktemp("seeded")
    database_url = migrated_copy(migrated_template, tmp / "seeded.db")
    core = offline_core(database_url, tmp)
    seeded = seed_shop(core)
    core.db.dispose()
    return SeededTemplate(
        tmp / "seeded.db",
        seeded.shop_id,
        tuple(seeded.bays),
        tuple(seeded.technicians),
        tuple(seeded.tokens.items()),
    )


@pytest.fixture
def settings(tmp_path: Path, migrated_template: Path, request: pytest.FixtureRequest) -> Settings:
    if "shop" in request.fixturenames:
        template: SeededTemplate = request.getfixturevalue("seeded_template")
        migrated_copy(template.path, tmp_path / "baylight.db")
    else:
        migrated_copy(migrated_template, tmp_path / "baylight.db")
    return Settings.from_env(
        {},
        database_url=f"sqlite:///{tmp_path / 'baylight.db'}",
        instance_path=tmp_path,
        async_mode="threading",
        testing=True,
        public_url="http://127.0.0.1:5000",
    )


@pytest.fixture
def app_parts(settings: Settings) -> Iterator[tuple[Any, Any, Core]]:
    from shared.realtime.hub import hub_of
    from shared.web.app import create_app

    app, socketio = create_app(settings)
    core = app.extensions["baylight"]
    yield app, socketio, core
    # Flask-SocketIO's test clients stay registered after a test, so the
    # hub's credential check would otherwise go on in a thread of its own.
    hub = hub_of(socketio)
    if hub is not None:
        hub.stop()
    core.db.dispose()


@pytest.fixture
def app(app_parts: tuple[Any, Any, Core]) -> Any:
    return app_parts[0]


@pytest.fixture
def socketio(app_parts: tuple[Any, Any, Core]) -> Any:
    return app_parts[1]


@pytest.fixture
def core(app_parts: tuple[Any, Any, Core]) -> Core:
    return app_parts[2]


@pytest.fixture
def shop(core: Core, seeded_template: SeededTemplate) -> Shop:
    """The seeded shop (``seed_shop``), copied with the database from
    ``seeded_template`` by ``settings``."""
    t = seeded_template
    return Shop(core, t.shop_id, list(t.bays), list(t.technicians), dict(t.tokens))


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


# ---------------------------------------------------------------- real server


class LiveServer:
    """``baylight serve`` as a subprocess, on a free port, on its own database."""

    def __init__(
        self,
        env: dict[str, str],
        port: int,
        log: Path,
        host: str = "127.0.0.1",
        patches: dict[str, float | bool] | None = None,
    ) -> None:
        """``patches``: module constants set in the server process before it
        starts (tests/patched_entrypoint.py), e.g. a shorter timeout for a
        test that would otherwise wait out the production one."""
        self.env = env
        self.patches = patches or {}
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        handle = self.log.open("ab")
        command = ["serve", "--host", self.host, "--port", str(self.port)]
        entry = ["-m", "shared.entrypoint"]
        if self.patches:
            entry = ["-m", "tests.patched_entrypoint", json.dumps(self.patches)]
        self.process = subprocess.Popen(
            [sys.executable, *entry, *command],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None


def server_env(database_url: str, port: int, tmp: Path, mode: str, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAYLIGHT_")}
    env.update(
        BAYLIGHT_DATABASE_URL=database_url,
        BAYLIGHT_ASYNC_MODE=mode,
        BAYLIGHT_PUBLIC_URL=f"http://127.0.0.1:{port}",
        BAYLIGHT_INSTANCE_PATH=str(tmp),
        BAYLIGHT_SECRET_KEY=secrets.token_hex(16),
        # Short-lived servers: a report worker only where a test asks a report.
        BAYLIGHT_REPORT_WORKER_AT_START="off",
        PYTHONUNBUFFERED="1",
    )
    env.update(more)
    return env


def offline_core(database_url: str, tmp: Path) -> Core:
    from shared.cli import _offline_core

    return _offline_core(
        Settings.from_env({}, database_url=database_url, instance_path=tmp, testing=True)
    )


def _async_mode(node: pytest.Item | pytest.Collector) -> str:
    marker = node.get_closest_marker("async_mode")
    return str(marker.args[0]) if marker else "eventlet"


def _server_patches(node: pytest.Item | pytest.Collector) -> dict[str, float | bool]:
    marker = node.get_closest_marker("server_patches")
    return dict(marker.args[0]) if marker else {}


# For the ``server_patches`` marker of browser tests of the report pages: the
# server's report worker at the normal priority. A niced, idle-class worker
# beside the rest of the suite waits its turn for seconds at each report;
# tests/test_report_process.py checks the priority on real servers.
REPORT_WORKER_NOT_LOWERED: dict[str, float | bool] = {
    "shared.services.report_process.WORKER_LOWERED": False
}


@dataclass
class SharedServer:
    """One real server for a whole module, and the core (on the same
    database) that seeds a new shop for each of its tests."""

    server: LiveServer
    core: Core
    shops: int = 0


@pytest.fixture(scope="module")
def shared_server(
    tmp_path_factory: pytest.TempPathFactory,
    migrated_template: Path,
    request: pytest.FixtureRequest,
) -> Iterator[SharedServer]:
    """The server behind ``live`` in a module marked ``server_per_module``."""
    tmp = tmp_path_factory.mktemp("live")
    database_url = migrated_copy(migrated_template, tmp / "live.db")
    core = offline_core(database_url, tmp)
    port = free_port()
    mode = _async_mode(request.node)
    server = LiveServer(
        server_env(database_url, port, tmp, mode),
        port,
        tmp / "server.log",
        patches=_server_patches(request.node),
    )
    server.start()
    try:
        yield SharedServer(server, core)
    finally:
        server.stop()
        core.db.dispose()


def retire_staff(core: Core, shop_id: int) -> None:
    """Deactivate a finished test's staff. Office staff sign in by name
    alone, over every shop of the database (staff_login.sign_in), so a later
    test's 陈顾问 must be the only active one of that name."""
    from sqlalchemy import update

    from shared.persistence.models import StaffUser

    with core.db.write() as session:
        session.execute(update(StaffUser).where(StaffUser.shop_id == shop_id).values(active=False))


@pytest.fixture
def live(
    tmp_path: Path, migrated_template: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[LiveServer, Shop]]:
    """A real server (async mode from the ``async_mode`` marker arg, default
    eventlet) on a seeded SQLite database.

    In a module marked ``server_per_module`` the tests share one server (one
    start instead of one a test, seconds each) and each gets a shop of its
    own on it: its own bays, staff, badges, tokens, orders and numbering, as
    on a server of its own. Pairing a screen names the shop (``--shop``).
    A test may stop the server; the next one finds it running again."""
    if request.node.get_closest_marker("server_per_module"):
        shared: SharedServer = request.getfixturevalue("shared_server")
        assert _async_mode(request.node) == _async_mode(request.node.getparent(pytest.Module)), (
            "a server_per_module module runs one async mode"
        )
        if shared.server.process is None or shared.server.process.poll() is not None:
            shared.server.start()
        shared.shops += 1
        shop = seed_shop(shared.core, slug=f"test-{shared.shops}")
        yield shared.server, shop
        retire_staff(shared.core, shop.shop_id)
        return
    mode = _async_mode(request.node)
    database_url = migrated_copy(migrated_template, tmp_path / "live.db")
    seeded = seed_shop(offline_core(database_url, tmp_path))
    port = free_port()
    server = LiveServer(
        server_env(database_url, port, tmp_path, mode),
        port,
        tmp_path / "server.log",
        patches=_server_patches(request.node),
    )
    server.start()
    yield server, seeded
    server.stop()
    seeded.core.db.dispose()


# ---------------------------------------------------------------- PostgreSQL


def _postgres_available() -> bool:
    try:
        import psycopg2

        psycopg2.connect(PG_ADMIN_URL, connect_timeout=2).close()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def _postgres_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (a copy of ``template`` when given), its URL;
    dropped afterwards."""
    need(_postgres_available(), "PostgreSQL at " + PG_ADMIN_URL)
    import psycopg2

    name = f"baylight_{secrets.token_hex(6)}"
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"{copy}')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with _postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """The name of a PostgreSQL database at the newest migration, made once
    per session: the Alembic chain on PostgreSQL costs a second or more,
    copying a database (CREATE DATABASE ... TEMPLATE) a fifth of that.
    ``postgres_url`` stays empty for the tests that run the chain."""
    with _postgres_database() as url:
        database = Database(url)
        upgrade_schema(database)
        # A template must have no other session while it is copied.
        database.dispose()
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def migrated_postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test with the newest schema (a
    copy of ``postgres_template``, no rows), dropped afterwards."""
    with _postgres_database(postgres_template) as url:
        yield url


def wait_for_lock_waiters(url: str, count: int, timeout: float = 10.0) -> None:
    """Block until ``count`` sessions of this PostgreSQL database wait on a
    lock, i.e. the commands under test are inside the database, queued."""
    import psycopg2

    watcher = psycopg2.connect(url)
    watcher.autocommit = True
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with watcher.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                row = cursor.fetchone()
            if row and row[0] >= count:
                return
            time.sleep(0.02)
        raise AssertionError(f"{count} session(s) never queued on a lock")
    finally:
        watcher.close()


def _name_each_case(items: list[pytest.Item]) -> None:
    """Give every case its own node id.

    Schemathesis names its items ``test[METHOD /path]`` but leaves all of a
    test function's operations one node id, the function's. pytest runs them
    all; pytest-xdist schedules by node id and runs one of them per id (a
    ``make test`` fuzzed one operation per file). Each item's id becomes its
    module's id and its own name, as for any parametrized test (pytest 9
    keeps an item's id in ``_id``; there is no public way to set it)."""
    from _pytest.nodeid import NodeId

    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.parent is not None:
            item._id = NodeId.parse(f"{item.parent.nodeid}::{item.name}")
    assert len({item.nodeid for item in items}) == len(items), "node ids that are not unique"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from tests.schedule import longest_first

    _name_each_case(items)
    longest_first(items)


# The packages the suite's server and CLI processes import.
PROJECT_PACKAGES = ("shared", "kiosk", "board", "bench")


def _compile_project_once(config: pytest.Config) -> None:
    """Compile the project's bytecode before any test, as ``make test`` does.

    With PYTHONDONTWRITEBYTECODE set (as on this machine) every server and
    CLI process the suite starts (hundreds) would otherwise compile the
    project from source: measured, a server's start 2.4 s of CPU instead of
    1.5 s. Only the run's main process compiles (xdist workers start after
    it), and an up-to-date file is left alone, so it costs a run that has
    the bytecode already a fraction of a second."""
    if hasattr(config, "workerinput") or not sys.flags.dont_write_bytecode:
        return
    import compileall

    for package in PROJECT_PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=1)


def _keep_rewritten_tests(config: pytest.Config) -> None:
    """Let pytest keep the test modules it rewrites (assert rewriting), and
    Hypothesis' and Schemathesis' (plugins, rewritten too), in __pycache__.

    With PYTHONDONTWRITEBYTECODE set, pytest rewrites and compiles them from
    source in every worker of every run: measured, collecting the suite costs
    20.4 s of CPU a process that way, 10.6 s with the rewritten modules kept,
    and ``make test`` collects in three workers at once. This run's
    processes write bytecode again: this one from here on, the xdist workers
    (started after this) and the processes they start from their start. The
    files are the ones ``make test`` writes with compileall, all under
    __pycache__ (ignored by git); a later run reads them even with
    PYTHONDONTWRITEBYTECODE set."""
    sys.dont_write_bytecode = False
    if not hasattr(config, "workerinput"):
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pytest_configure(config: pytest.Config) -> None:
    _compile_project_once(config)
    _keep_rewritten_tests(config)
    config.addinivalue_line("markers", "async_mode(mode): run the live server in this mode")
    config.addinivalue_line(
        "markers",
        "server_per_module: the module's tests share one live server, a new shop each",
    )
    config.addinivalue_line(
        "markers",
        "server_patches(patches): module constants set in the live server's process "
        "(tests/patched_entrypoint.py)",
    )
    # Schemathesis' plugin (loaded in every run) hides Hypothesis' falsifying
    # examples; any run, a partial one too, shows them again.
    restore_example_printer()
