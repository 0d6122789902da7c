"""The ``baylight`` console script, run for real.

Every command runs as an operator runs it: a subprocess with only the
environment the docs name. What a command claims to have done is checked
independently, through the services and the app on the same database file.
Refusals must exit 2 with a message on stderr and change nothing.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.config import Settings
from shared.domain.events import event_from_record
from shared.domain.order import apply_events
from shared.domain.stages import PauseReason, Stage
from shared.persistence.database import Database
from shared.persistence.models import (
    AdminEvent,
    ApiToken,
    Device,
    OrderEvent,
    RepairOrder,
    StaffUser,
)
from shared.services import devices, orders, setup
from shared.services.auth import resolve_bearer, verify_pin
from shared.services.commands import CommandRequest
from shared.services.core import Core
from shared.services.rows import state_from_row
from shared.web.app import create_app
from tests.conftest import ROOT, migrated_copy, offline_core, seed_shop

REFUSED = 2
TIMEOUT = 60
# Transitions the background writer makes before, and again after, the backup.
WRITES_AROUND_BACKUP = 20


@dataclass
class Install:
    """One installation: its database file and the environment the CLI gets."""

    tmp: Path
    database: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.database}"

    def env(self, database_url: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAYLIGHT_")}
        env.update(
            BAYLIGHT_DATABASE_URL=database_url or self.url,
            BAYLIGHT_INSTANCE_PATH=str(self.tmp),
        )
        return env

    def run(
        self, *args: str, stdin: str | None = None, database_url: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.entrypoint", *args],
            cwd=ROOT,
            env=self.env(database_url),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )


@pytest.fixture
def install(tmp_path: Path) -> Install:
    return Install(tmp_path, tmp_path / "baylight.db")


@pytest.fixture
def core(install: Install, migrated_template: Path) -> Iterator[Core]:
    """The services on the installation's database, as a second process would.
    The database is set up in-process, as ``init-db`` does, because a
    subprocess costs a second and only ``test_init_db_is_repeatable`` is
    about ``init-db`` itself: a copy of the session's migrated template (the
    Alembic chain costs most of a second a run), then the shop."""
    migrated_copy(migrated_template, install.database)
    opened = offline_core(install.url, install.tmp)
    setup.ensure_shop(opened)
    yield opened
    opened.db.dispose()


def _refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == REFUSED, (result.stdout, result.stderr)
    assert message in result.stderr, result.stderr


def _count(core: Core, model: Any) -> int:
    with core.db.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


# ------------------------------------------------------------ init-db, tokens


def test_init_db_is_repeatable(install: Install) -> None:
    for _ in range(2):
        done = install.run("init-db")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"database ready: {install.url}"
    with sqlite3.connect(install.database) as connection:
        assert connection.execute("SELECT count(*) FROM shop").fetchone() == (1,)
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone()


def test_create_token_prints_a_working_bearer_last(
    install: Install, core: Core, tmp_path: Path
) -> None:
    result = install.run("create-token", "--role", "admin", "--name", "x")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]

    settings = Settings.from_env(
        {}, database_url=install.url, instance_path=tmp_path, async_mode="threading", testing=True
    )
    app, _socketio = create_app(settings)
    try:
        client = app.test_client()
        whoami = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        me = whoami.get_json()
        assert (me["authenticated"], me["kind"], me["role"], me["name"]) == (
            True,
            "token",
            "admin",
            "x",
        )
        listed = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200
        forged = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}x"})
        assert forged.status_code == 401
    finally:
        app.extensions["baylight"].db.dispose()


def test_create_token_refuses_an_unknown_role_or_shop(install: Install, core: Core) -> None:
    bad_role = install.run("create-token", "--role", "superuser", "--name", "x")
    _refused(bad_role, "invalid choice: 'superuser'")
    assert "display-board" in bad_role.stderr  # the message lists the valid roles
    _refused(
        install.run("create-token", "--role", "admin", "--name", "x", "--shop", "nope"), "nope"
    )
    assert _count(core, ApiToken) == 0


# ----------------------------------------------------------------- create-user


def _user(core: Core, user_id: int) -> StaffUser:
    with core.db.read() as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        session.expunge(user)
        return user


def _created_id(result: subprocess.CompletedProcess[str]) -> int:
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words[0] == "user" and words[2] == "created", result.stdout
    return int(words[1])


def test_create_user_with_badge_and_pin(install: Install, core: Core) -> None:
    result = install.run(
        "create-user",
        "--role",
        "technician",
        "--name",
        "赵师傅",
        "--badge",
        "2001",
        "--pin",
        "4321",
    )
    user = _user(core, _created_id(result))
    assert (user.name, user.role, user.badge, user.active) == ("赵师傅", "technician", "2001", True)
    assert verify_pin(user.pin_hash, "4321") and not verify_pin(user.pin_hash, "1234")
    assert "4321" not in (user.pin_hash or "")
    # The CLI is a production process: it hashes with scrypt, whatever cheap
    # method this test process uses for the PINs it seeds.
    assert (user.pin_hash or "").startswith("scrypt:")


def test_create_user_reads_the_password_from_stdin(install: Install, core: Core) -> None:
    secret = "correct horse battery"
    result = install.run(
        "create-user",
        "--role",
        "advisor",
        "--name",
        "钱顾问",
        "--password-stdin",
        stdin=secret + "\n",
    )
    user = _user(core, _created_id(result))
    assert user.role == "advisor" and user.badge is None
    assert verify_pin(user.password_hash, secret)
    assert (user.password_hash or "").startswith("scrypt:")
    assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--role", "technician", "--badge", "2002", "--pin", "12"], None, "4 to 8 digits"),
        (["--role", "technician", "--badge", "1001", "--pin", "9999"], None, "1001 is taken"),
        (["--role", "advisor", "--password-stdin"], "short\n", "at least 8 characters"),
    ],
    ids=["short-pin", "duplicate-badge", "short-password"],
)
def test_create_user_refusals_change_nothing(
    install: Install, core: Core, args: list[str], stdin: str | None, message: str
) -> None:
    setup.create_user(
        core,
        setup.default_shop_id(core),
        role="technician",
        name="孙师傅",
        badge="1001",
        pin="1234",
    )
    users = _count(core, StaffUser)
    _refused(install.run("create-user", "--name", "周师傅", *args, stdin=stdin), message)
    assert _count(core, StaffUser) == users


# ------------------------------------------------------------------------ pair


def test_pair_approves_the_code_a_board_shows(install: Install, core: Core) -> None:
    started = devices.start_pairing(core, "board")
    # Typed as an operator reads it off the screen: lower case, grouped.
    typed = f"{started.user_code[:4]}-{started.user_code[4:]}".lower()
    result = install.run("pair", typed, "--kind", "board", "--name", "车间大屏")
    assert result.returncode == 0, result.stderr
    assert "车间大屏" in result.stdout

    polled = devices.poll_pairing(core, started.device_code)
    assert polled["status"] == "approved" and polled["name"] == "车间大屏"
    principal = resolve_bearer(core, str(polled["device_token"]))
    assert principal is not None
    assert (principal.kind, principal.role, principal.name) == (
        "device",
        "display-board",
        "车间大屏",
    )
    assert principal.audience == "staff"
    again = install.run("pair", started.user_code, "--kind", "board", "--name", "第二块")
    _refused(again, "No screen is waiting with that code")


def test_pair_refuses_the_wrong_kind_and_unknown_codes(install: Install, core: Core) -> None:
    started = devices.start_pairing(core, "lounge")
    wrong = install.run("pair", started.user_code, "--kind", "board", "--name", "休息区")
    _refused(wrong, "asked to be a lounge, not a board")
    _refused(install.run("pair", "BCDFGHJK", "--kind", "lounge", "--name", "x"), "No screen")
    assert devices.poll_pairing(core, started.device_code)["status"] == "pending"
    with core.db.read() as session:
        assert session.execute(select(Device.shop_id)).scalars().all() == [None]


# ------------------------------------------------------------ backup, restore


class Writer:
    """Moves orders back and forth through the services, on the live file,
    until told to stop: the load a running workshop puts on the database."""

    def __init__(self, core: Core, request: CommandRequest, order_ids: list[int]) -> None:
        self.core = core
        self.request = request
        self.order_ids = order_ids
        self.done = 0
        self.failure: BaseException | None = None
        self.progress = threading.Condition()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        versions = {order_id: 0 for order_id in self.order_ids}
        stages = {order_id: "" for order_id in self.order_ids}
        with self.core.db.read() as session:
            for row in session.execute(select(RepairOrder)).scalars():
                versions[row.id], stages[row.id] = row.version, row.stage
        try:
            while not self.stopping.is_set():
                order_id = self.order_ids[self.done % len(self.order_ids)]
                outcome = self._toggle(order_id, stages[order_id], versions[order_id])
                stages[order_id] = outcome.body["stage"]
                versions[order_id] = outcome.body["version"]
                with self.progress:
                    self.done += 1
                    self.progress.notify_all()
        except BaseException as failure:  # reported by the test
            self.failure = failure
            with self.progress:
                self.progress.notify_all()

    def _toggle(self, order_id: int, stage: str, version: int) -> Any:
        if stage == Stage.IN_PROGRESS:
            return orders.transition_order(
                self.core,
                self.request,
                order_id,
                to=Stage.PAUSED,
                version=version,
                pause_reason=PauseReason.OTHER,
            )
        return orders.transition_order(
            self.core, self.request, order_id, to=Stage.IN_PROGRESS, version=version
        )

    def wait_for(self, count: int) -> None:
        with self.progress:
            reached = self.progress.wait_for(
                lambda: self.done >= count or self.failure is not None, timeout=TIMEOUT
            )
        assert reached and self.failure is None, self.failure

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(TIMEOUT)
        assert self.failure is None, self.failure


def _orders_in_progress(core: Core, count: int) -> tuple[CommandRequest, list[int]]:
    shop = seed_shop(core)
    principal = resolve_bearer(core, shop.tokens["foreman"])
    advisor = resolve_bearer(core, shop.tokens["advisor"])
    assert principal is not None and advisor is not None
    request = CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)
    opened = CommandRequest(actor=advisor.actor(), shop_id=shop.shop_id)
    ids = []
    for index in range(count):
        created = orders.create_order(core, opened, plate=f"皖A{index:05d}").body
        assigned = orders.assign_order(
            core,
            request,
            created["id"],
            bay=shop.bays[index % len(shop.bays)],
            technicians=[shop.technicians[0]],
            version=created["version"],
        ).body
        orders.transition_order(
            core, request, created["id"], to=Stage.IN_PROGRESS, version=assigned["version"]
        )
        ids.append(int(created["id"]))
    return request, ids


def _event_log(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        return connection.execute(
            "SELECT shop_id, seq, order_id, type, at, actor, data FROM order_event ORDER BY id"
        ).fetchall()


def _event_count(path: Path) -> int:
    return len(_event_log(path))


def _check_consistent_copy(path: Path) -> int:
    """A copy is sound when SQLite says so, each shop's seq counter matches a
    gap-free log, and every order row is exactly the fold of its events.
    Returns the copy's newest seq."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        shops = connection.execute("SELECT id, last_seq FROM shop").fetchall()
        for shop_id, last_seq in shops:
            seqs = [
                row[0]
                for row in connection.execute(
                    "SELECT seq FROM order_event WHERE shop_id = ? ORDER BY seq", (shop_id,)
                )
            ]
            assert seqs == list(range(1, last_seq + 1)), shop_id
    database = Database(f"sqlite:///{path}")
    try:
        with database.read() as session:
            rows = session.execute(select(RepairOrder)).scalars().all()
            assert rows
            for row in rows:
                stored = session.execute(
                    select(OrderEvent).where(OrderEvent.order_id == row.id).order_by(OrderEvent.seq)
                ).scalars()
                replayed = apply_events(
                    None, [event_from_record(e.type, e.at, e.data) for e in stored]
                )
                assert replayed == state_from_row(row), row.id
    finally:
        database.dispose()
    return int(max(last_seq for _shop, last_seq in shops))


def test_backup_while_writing_then_restore_into_a_fresh_database(
    tmp_path: Path, migrated_template: Path
) -> None:
    live = Install(tmp_path, tmp_path / "live.db")
    core = offline_core(migrated_copy(migrated_template, live.database), tmp_path)
    request, order_ids = _orders_in_progress(core, 3)
    setup_events = _event_count(live.database)
    writer = Writer(core, request, order_ids)
    writer.thread.start()
    try:
        writer.wait_for(WRITES_AROUND_BACKUP)
        written_before = writer.done
        copy = tmp_path / "backups" / "copy.db"
        taken = live.run("backup", str(copy))
        writer.wait_for(writer.done + WRITES_AROUND_BACKUP)
    finally:
        writer.stop()
        core.db.dispose()
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout.strip() == f"backup written: {copy} ({copy.stat().st_size} bytes)"
    assert not copy.with_name("copy.db.partial").exists()

    fresh = tmp_path / "restored" / "fresh.db"
    restored = live.run("restore", str(copy), database_url=f"sqlite:///{fresh}")
    assert restored.returncode == 0, restored.stderr

    backup_point = _check_consistent_copy(copy)
    live_log = _event_log(live.database)
    copied_log = _event_log(copy)
    # The copy is the live log up to one instant, which fell among the writes.
    assert copied_log == live_log[: len(copied_log)]
    assert copied_log[-1][1] == backup_point
    assert setup_events + written_before <= backup_point
    assert backup_point < len(live_log), "the writer went on after the backup"
    assert _check_consistent_copy(fresh) == backup_point
    assert _event_log(fresh) == copied_log


@pytest.fixture
def busy(install: Install, core: Core) -> tuple[Install, Core]:
    """An installation with an order on it."""
    _orders_in_progress(core, 1)
    return install, core


def test_backup_refuses_to_overwrite(busy: tuple[Install, Core]) -> None:
    install, _core = busy
    earlier = install.tmp / "earlier.db"
    earlier.write_bytes(b"yesterday's backup")
    _refused(install.run("backup", str(earlier)), "exists")
    assert earlier.read_bytes() == b"yesterday's backup"
    assert not earlier.with_name("earlier.db.partial").exists()


@pytest.mark.parametrize("kind", ["text", "foreign-sqlite"])
def test_restore_refuses_what_is_not_a_baylight_backup(
    busy: tuple[Install, Core], kind: str
) -> None:
    install, core = busy
    bogus = install.tmp / "bogus.db"
    if kind == "text":
        bogus.write_text("这不是数据库 / not a database\n" * 200)
    else:
        with sqlite3.connect(bogus) as other:
            other.execute("CREATE TABLE notes (body TEXT)")
        other.close()
    log_before = _event_log(install.database)

    result = install.run("restore", str(bogus))

    _refused(result, str(bogus))
    assert _event_log(install.database) == log_before
    _check_consistent_copy(install.database)
    assert _count(core, RepairOrder) == 1


# ------------------------------------------------------------------ bays


def test_add_bay_takes_a_kind_and_a_capacity(install: Install, core: Core) -> None:
    from shared.persistence.models import Bay

    added = install.run("add-bay", "P01", "--kind", "parking_lane", "--capacity", "6")
    assert added.returncode == 0, added.stderr
    with core.db.read() as session:
        bay = session.execute(select(Bay).where(Bay.code == "P01")).scalar_one()
        assert (bay.kind, bay.capacity) == ("parking_lane", 6)
    _refused(install.run("add-bay", "P02", "--capacity", "0"), "at least one car")
    assert install.run("add-bay", "P03", "--kind", "garage").returncode == REFUSED
    assert _count(core, Bay) == 1


def test_the_cli_s_administration_is_in_the_audit(install: Install, core: Core) -> None:
    """A token made, a screen paired and revoked from the terminal are
    administration commands like the browser's: each one record, by the CLI."""
    assert install.run("create-token", "--role", "advisor", "--name", "DMS").returncode == 0
    started = devices.start_pairing(core, "board")
    paired = install.run("pair", started.user_code, "--kind", "board", "--name", "大屏")
    assert paired.returncode == 0, paired.stderr
    device_id = int(paired.stdout.split("device ")[1].split()[0])
    assert install.run("revoke-device", str(device_id)).returncode == 0
    with core.db.read() as session:
        rows = session.execute(
            select(AdminEvent.kind, AdminEvent.actor, AdminEvent.target).order_by(AdminEvent.id)
        ).all()
    assert [(kind, actor) for kind, actor, _target in rows] == [
        ("token_created", "system:cli"),
        ("device_paired", "system:cli"),
        ("device_revoked", "system:cli"),
    ]
    assert rows[-1].target == f"device:{device_id}"
