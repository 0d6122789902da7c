"""``baylight create-shop SLUG --name NAME [--timezone TZ]`` (issue 14,
item 5), and the operator's group commands, run as an operator runs them.

The good path runs the console script for real (a subprocess with only the
environment the docs name), then what it printed: the create-user line for
the shop's first admin, who then signs in at the printed link. Refusals run
the same ``cli.run`` in this process (the subprocess costs a second each):
exit 2, a message naming what was wrong on stderr, and nothing written.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from shared import cli
from shared.config import Settings
from shared.persistence.database import Database
from shared.persistence.models import Shop, StaffUser
from shared.web.app import create_app
from tests.conftest import ROOT, migrated_copy

REFUSED = 2


@pytest.fixture
def install(tmp_path: Path, migrated_template: Path) -> dict[str, str]:
    """An installation: its database (with the first shop, as init-db
    leaves it) and the environment the CLI gets."""
    url = migrated_copy(migrated_template, tmp_path / "baylight.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAYLIGHT_")}
    env.update(BAYLIGHT_DATABASE_URL=url, BAYLIGHT_INSTANCE_PATH=str(tmp_path))
    return env


@pytest.fixture
def here(install: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """``cli.run`` in this process reads the installation's environment."""
    for name in [n for n in os.environ if n.startswith("BAYLIGHT_")]:
        monkeypatch.delenv(name)
    for name in ("BAYLIGHT_DATABASE_URL", "BAYLIGHT_INSTANCE_PATH"):
        monkeypatch.setenv(name, install[name])
    assert cli.run(["init-db"]) == 0
    yield install


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "shared.entrypoint", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def shops(env: dict[str, str]) -> dict[str, tuple[int, str, str]]:
    database = Database(env["BAYLIGHT_DATABASE_URL"])
    try:
        with database.read() as session:
            return {
                s.slug: (s.id, s.name, s.timezone) for s in session.execute(select(Shop)).scalars()
            }
    finally:
        database.dispose()


def test_create_shop_prints_its_id_link_and_first_admin_who_then_signs_in(
    install: dict[str, str], tmp_path: Path
) -> None:
    made = run(install, "create-shop", "south-2", "--name", "华南二店", "--timezone", "Asia/Urumqi")
    assert made.returncode == 0, made.stderr
    created = shops(install)["south-2"]
    assert created[1:] == ("华南二店", "Asia/Urumqi")
    lines = made.stdout.splitlines()
    assert lines[0] == f"shop {created[0]} created: 华南二店 (south-2, Asia/Urumqi)"
    assert lines[1] == "sign-in link: http://127.0.0.1:5000/login?shop=south-2"
    hint = lines[-1].strip()
    assert hint.startswith("baylight create-user --shop south-2 --role admin --name NAME")

    # The printed line, as printed (the name filled in), adds the first admin.
    words = shlex.split(hint.replace("NAME", "周店长"))[1:]
    admin = run(install, *words, stdin="first password 1\n")
    assert admin.returncode == 0, admin.stderr
    database = Database(install["BAYLIGHT_DATABASE_URL"])
    with database.read() as session:
        user = session.execute(select(StaffUser).where(StaffUser.name == "周店长")).scalar_one()
        assert (user.shop_id, user.role) == (created[0], "admin")
    database.dispose()

    # They sign in at the shop's own link and are in their shop.
    settings = Settings.from_env(
        {},
        database_url=install["BAYLIGHT_DATABASE_URL"],
        instance_path=tmp_path,
        async_mode="threading",
        testing=True,
    )
    app, _socketio = create_app(settings)
    browser = app.test_client()
    page = browser.get("/login?shop=south-2").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None and "华南二店" in page
    signed = browser.post(
        "/login?shop=south-2",
        data={"name": "周店长", "password": "first password 1", "csrf_token": token.group(1)},
    )
    assert signed.status_code == 302, signed.get_data(as_text=True)
    assert browser.get("/api/v1/whoami").get_json()["shop_id"] == created[0]
    app.extensions["baylight"].db.dispose()


def test_a_taken_slug_is_refused_by_name_and_nothing_changes(
    here: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run(["create-shop", "north", "--name", "华北店"]) == 0
    capsys.readouterr()
    before = shops(here)
    assert cli.run(["create-shop", "north", "--name", "另一个店"]) == REFUSED
    err = capsys.readouterr().err
    assert "north" in err and "another shop" in err
    assert shops(here) == before
    assert before["north"][1:] == ("华北店", "Asia/Shanghai")  # the default zone


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["west", "--name", "西店", "--timezone", "Mars/Olympus"],
            "Unknown time zone Mars/Olympus",
        ),
        (["west", "--name", "西店", "--timezone", "+08:00"], "Unknown time zone"),
        (["West", "--name", "西店"], "'West' is no slug"),
        (["we_st", "--name", "西店"], "is no slug"),
        (["west-", "--name", "西店"], "is no slug"),
        (["w" * 41, "--name", "西店"], "at most 40 characters"),
        (["west", "--name", "  "], "needs a name"),
    ],
)
def test_a_bad_zone_slug_or_name_is_refused(
    here: dict[str, str], capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    before = shops(here)
    assert cli.run(["create-shop", *args]) == REFUSED
    assert says in capsys.readouterr().err
    assert shops(here) == before


def test_the_operator_grants_and_takes_back_group(
    here: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run(["create-shop", "north", "--name", "华北店"]) == 0
    from shared.services import setup
    from tests.conftest import offline_core

    core = offline_core(here["BAYLIGHT_DATABASE_URL"], Path(here["BAYLIGHT_INSTANCE_PATH"]))
    north = shops(here)["north"][0]
    boss = setup.create_user(core, north, role="manager", name="集团经理", password="a password 1")
    clerk = setup.create_user(core, north, role="advisor", name="陈顾问", password="a password 1")
    capsys.readouterr()

    def qualifications(user_id: int) -> list[str]:
        with core.db.read() as session:
            user = session.get(StaffUser, user_id)
            assert user is not None
            return list(user.qualifications)

    assert cli.run(["grant-group", str(boss)]) == 0
    assert "集团经理, manager) is a group member" in capsys.readouterr().out
    assert qualifications(boss) == ["group"]
    assert cli.run(["grant-group", str(clerk)]) == REFUSED
    assert "admin or manager" in capsys.readouterr().err
    assert qualifications(clerk) == []
    assert cli.run(["revoke-group", str(boss)]) == 0
    assert "is no group member" in capsys.readouterr().out
    assert qualifications(boss) == []
    assert cli.run(["grant-group", "999999"]) == REFUSED
    core.db.dispose()


def test_create_user_with_the_group_qualification(
    here: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("a password 1\n"))
    argv = ["create-user", "--role", "admin", "--name", "集团总监", "--password-stdin"]
    assert cli.run([*argv, "--qualification", "group"]) == 0, capsys.readouterr().err
    # Only an admin or a manager joins the group.
    technician = ["create-user", "--role", "technician", "--name", "钱师傅"]
    assert (
        cli.run([*technician, "--badge", "7001", "--pin", "1234", "--qualification", "group"]) == 2
    )
    assert "admin or manager" in capsys.readouterr().err
