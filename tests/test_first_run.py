"""The first run without a terminal (issue 14, item 1), on real SQLite
databases: the set-up service, its page through the real app, and real
``baylight serve`` processes.

What is proved here: a set-up link makes the shop profile and the first
admin in one go, and works once (a second use, a second browser racing the
first, a link made before the admin existed: all refused) and for an hour
(on the app's clock); bad input names its field and writes nothing; the page
answers a link that does not work with a page of its own (404 or 410) that
tells nothing more; ``serve`` on an empty database prints a link at the
address it is reached by, a restart with a new secret key prints a new one
and the old one dies; ``serve --demo`` prints every demo login and each of
them signs in (office staff at /login, technicians on a paired kiosk)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from shared.config import reachable_url
from shared.domain import errors
from shared.persistence.models import Shop as ShopRow
from shared.persistence.models import StaffUser
from shared.server import set_up_lines
from shared.services import devices, first_run, setup, staff_login
from shared.services.core import Core
from shared.services.first_run import FirstRun, LinkGone, LinkInvalid
from tests.conftest import (
    ROOT,
    HandClock,
    free_port,
    migrated_copy,
    offline_core,
    server_env,
)

PASSWORD = "first run 2030"
NOON = datetime(2030, 1, 7, 4, 0, tzinfo=UTC)


def form(**changes: str) -> FirstRun:
    """A complete, valid set-up form, with ``changes``."""
    filled = FirstRun(
        shop_name="星河汽车服务中心",
        address="深圳市南山区科技园 1 号",
        hotline="400-800-8888",
        timezone="Asia/Shanghai",
        opens="08:00",
        closes="18:30",
        lunch_from="12:00",
        lunch_to="13:30",
        admin_name="王店长",
        display_name="王经理",
        password=PASSWORD,
        password_repeat=PASSWORD,
    )
    return replace(filled, **changes)


def count(core: Core, model: Any) -> int:
    with core.db.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def shops(core: Core) -> list[tuple[str, str, str, dict[str, Any]]]:
    with core.db.read() as session:
        rows = session.execute(select(ShopRow).order_by(ShopRow.id)).scalars()
        return [(s.slug, s.name, s.timezone, dict(s.settings or {})) for s in rows]


@pytest.fixture
def context(app: Any) -> Iterator[None]:
    """A request of the app around service calls (their words go through Babel)."""
    with app.test_request_context():
        yield


# ------------------------------------------------------------ the service


def test_a_link_makes_the_shop_profile_and_the_first_admin(core: Core, context: None) -> None:
    setup.ensure_shop(core)  # what `baylight init-db` leaves: a shop row, nobody in it
    assert first_run.is_empty(core)
    token = first_run.new_token(core)
    assert len(token.split(".")[0]) >= 22  # 16 random bytes, base64: 128 bits

    done = first_run.set_up(core, token, form())

    [(slug, name, zone, settings)] = shops(core)
    assert (slug, name, zone) == ("main", "星河汽车服务中心", "Asia/Shanghai")
    assert settings["address"] == "深圳市南山区科技园 1 号"
    assert settings["hotline"] == "400-800-8888"
    assert settings["opening_hours"] == {"open": "08:00", "close": "18:30"}
    assert settings["breaks"] == [{"start": "12:00", "end": "13:30"}]
    assert settings["profile_version"] == 1
    assert (done.shop_slug, done.admin_name, done.replayed) == ("main", "王店长", False)
    with core.db.read() as session:
        admin = session.get(StaffUser, done.admin_id)
        assert admin is not None
        assert (admin.role, admin.display_name, admin.active) == ("admin", "王经理", True)
        assert admin.qualifications == ["group"]
        # They chose it themselves: no change asked at the first sign-in.
        assert not admin.must_change_password
    signed_in = staff_login.sign_in(core, "王店长", PASSWORD, "main")
    assert signed_in.principal.role == "admin" and not signed_in.must_change_password
    assert not first_run.is_empty(core)


def test_a_fresh_database_gets_its_shop_row_at_set_up(core: Core, context: None) -> None:
    assert shops(core) == []
    first_run.set_up(core, first_run.new_token(core), form(lunch_from="", lunch_to=""))
    [(slug, _name, _zone, settings)] = shops(core)
    assert slug == "main" and "breaks" not in settings


def test_a_link_works_once(core: Core, context: None) -> None:
    token = first_run.new_token(core)
    before_use = first_run.new_token(core)
    first_run.set_up(core, token, form())

    for again in (token, before_use, first_run.new_token(core)):
        with pytest.raises(LinkGone) as refused:
            first_run.check_link(core, again)
        assert (refused.value.status, refused.value.reason) == (410, "used")
        with pytest.raises(LinkGone):
            first_run.set_up(core, again, form(admin_name="另一个人"))
    assert count(core, StaffUser) == 1
    assert shops(core)[0][1] == "星河汽车服务中心"


def test_two_browsers_with_one_link_set_up_once(core: Core, app: Any) -> None:
    setup.ensure_shop(core)
    token = first_run.new_token(core)
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def browser(name: str) -> None:
        with app.test_request_context():
            start.wait()
            try:
                first_run.set_up(core, token, form(admin_name=name))
                outcomes[name] = "set up"
            except LinkGone as refused:
                outcomes[name] = refused.reason

    threads = [threading.Thread(target=browser, args=(name,)) for name in ("甲", "乙")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes.values()) == ["set up", "used"], outcomes
    with core.db.read() as session:
        admins = session.execute(select(StaffUser.name)).scalars().all()
    assert admins == [name for name, outcome in outcomes.items() if outcome == "set up"]


def test_a_form_sent_twice_with_its_key_is_answered_from_the_first(
    core: Core, context: None
) -> None:
    token = first_run.new_token(core)
    first = first_run.set_up(core, token, form(), idempotency_key="k-1")
    second = first_run.set_up(core, token, form(), idempotency_key="k-1")
    assert second.replayed and (second.admin_id, second.shop_id) == (first.admin_id, first.shop_id)
    # Another form under the same link is no replay: the link is used.
    with pytest.raises(LinkGone):
        first_run.set_up(core, token, form(admin_name="别人"), idempotency_key="k-2")
    assert count(core, StaffUser) == 1


def test_a_link_works_for_an_hour_on_the_apps_clock(core: Core, context: None) -> None:
    clock = HandClock(NOON)
    core.clock = clock
    token = first_run.new_token(core)
    clock.advance(minutes=59, seconds=59)
    first_run.check_link(core, token)
    clock.advance(seconds=2)
    with pytest.raises(LinkGone) as refused:
        first_run.set_up(core, token, form())
    assert (refused.value.status, refused.value.reason) == (410, "expired")
    # A link dated ahead of the clock is no better.
    clock.advance(hours=-3)
    with pytest.raises(LinkGone):
        first_run.check_link(core, token)
    assert count(core, StaffUser) == 0 and shops(core) == []


def test_links_this_server_did_not_make_are_not_found(core: Core, context: None) -> None:
    token = first_run.new_token(core)
    nonce, stamp, signature = token.split(".")
    other_key = replace(core.settings, secret_key="another installation's key")
    stranger = Core(settings=other_key, db=core.db, publisher=core.publisher)
    for wrong in (
        "",
        "not-a-token",
        f"{nonce}x.{stamp}.{signature}",
        f"{nonce}.{stamp}.{signature[:-2]}",
        first_run.new_token(stranger),
        token + "." * 200,
    ):
        with pytest.raises(LinkInvalid) as refused:
            first_run.set_up(core, wrong, form())
        assert refused.value.status == 404
    assert count(core, StaffUser) == 0 and shops(core) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"shop_name": "  "}, "shop.name"),
        ({"shop_name": "店" * 101}, "shop.name"),
        ({"hotline": "4" * 41}, "hotline"),
        ({"address": "路" * 201}, "address"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"opens": ""}, "opening_hours.open"),
        ({"opens": "8:00"}, "opening_hours.open"),
        ({"closes": "25:00"}, "opening_hours.close"),
        ({"closes": "08:00"}, "opening_hours.close"),
        ({"lunch_to": "11:00"}, "opening_hours.breaks[0].end"),
        ({"lunch_to": ""}, "opening_hours.breaks[0].end"),
        ({"admin_name": ""}, "admin.name"),
        ({"display_name": "名" * 101}, "display_name"),
        ({"password": "short", "password_repeat": "short"}, "password"),
        ({"password_repeat": PASSWORD + "!"}, "password_repeat"),
    ],
)
def test_bad_input_names_its_field_and_writes_nothing(
    core: Core, context: None, changes: dict[str, str], field: str
) -> None:
    with pytest.raises(errors.ValidationFailed) as refused:
        first_run.set_up(core, first_run.new_token(core), form(**changes))
    assert refused.value.field == field
    assert count(core, StaffUser) == 0 and shops(core) == []
    assert first_run.is_empty(core)


def test_a_name_the_shop_has_already_is_refused_inside_and_nothing_is_written(
    core: Core, context: None
) -> None:
    shop_id = setup.ensure_shop(core)
    setup.create_user(core, shop_id, role="advisor", name="王店长", password="advisor pass 1")
    before = shops(core)
    with pytest.raises(errors.ValidationFailed) as refused:
        first_run.set_up(core, first_run.new_token(core), form(admin_name=" 王店长 "))
    assert (refused.value.field, refused.value.extra["reason"]) == ("admin.name", "taken")
    assert shops(core) == before and count(core, StaffUser) == 1
    # An advisor is no admin: the installation is still empty.
    assert first_run.is_empty(core)


def test_serve_prints_a_link_only_while_no_shop_has_an_admin(core: Core, context: None) -> None:
    settings = replace(core.settings, listen_url="http://192.0.2.7:5000", public_url="")
    [_intro, line] = set_up_lines(core, settings)
    link = line.split("set-up link: ", 1)[1]
    assert link.startswith("http://192.0.2.7:5000/setup/")
    first_run.check_link(core, link.rsplit("/", 1)[1])
    first_run.set_up(core, link.rsplit("/", 1)[1], form())
    assert set_up_lines(core, settings) == []


# ------------------------------------------------------------ the page


def hidden(page: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf_token|request_key)" type="hidden" value="([^"]*)"', page))


def page_form(page: str, **changes: str) -> dict[str, str]:
    """What a browser sends from the set-up page, filled as ``form()``."""
    filled = form(**changes)
    return {
        **hidden(page),
        "shop_name": filled.shop_name,
        "address": filled.address,
        "hotline": filled.hotline,
        "timezone": filled.timezone,
        "opens": filled.opens,
        "closes": filled.closes,
        "lunch_from": filled.lunch_from,
        "lunch_to": filled.lunch_to,
        "admin_name": filled.admin_name,
        "display_name": filled.display_name,
        "password": filled.password,
        "password_repeat": filled.password_repeat,
    }


def test_the_page_sets_up_and_lands_on_admin_signed_in(app: Any, core: Core) -> None:
    browser = app.test_client()
    path = f"/setup/{first_run.new_token(core)}"
    shown = browser.get(path + "?lang=en")
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert '<html lang="en">' in page and "Set up Baylight" in page
    assert set(hidden(page)) == {"csrf_token", "request_key"}

    done = browser.post(path, data=page_form(page))
    assert (done.status_code, done.location) == (303, "/admin")
    landed = browser.get("/admin")
    # Signed in as the new admin (who acts under the name customers see).
    assert landed.status_code == 200
    assert '<span class="who">王经理</span>' in landed.get_data(as_text=True)

    again = browser.get(path + "?lang=en")
    assert again.status_code == 410
    assert "set up already" in again.get_data(as_text=True)


def test_a_double_click_sets_up_once_and_sends_the_second_to_sign_in(app: Any, core: Core) -> None:
    browser = app.test_client()
    path = f"/setup/{first_run.new_token(core)}"
    sent = page_form(browser.get(path).get_data(as_text=True))
    # Both sends leave the browser before the first answer arrives: with
    # the cookie of the page.
    cookie = browser.get_cookie("session")
    assert cookie is not None
    assert browser.post(path, data=sent).status_code == 303
    browser.set_cookie("session", cookie.value, domain=cookie.domain)
    second = browser.post(path, data=sent)
    assert (second.status_code, second.location) == (303, "/login?shop=main&next=/admin")
    assert count(core, StaffUser) == 1


def test_the_page_names_a_wrong_field_in_the_readers_language_and_writes_nothing(
    app: Any, core: Core
) -> None:
    browser = app.test_client()
    path = f"/setup/{first_run.new_token(core)}"
    page = browser.get(path + "?lang=en").get_data(as_text=True)
    refused = browser.post(path, data=page_form(page, password_repeat="something else"))
    answer = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "The two passwords differ." in answer
    marked = re.search(r'<input[^>]*id="password_repeat"[^>]*>', answer)
    assert marked and 'aria-invalid="true"' in marked.group(0)
    # The typed shop name comes back, the passwords never do.
    assert "星河汽车服务中心" in answer and PASSWORD not in answer
    refused = browser.post(path, data=page_form(page, timezone="Mars/Olympus"))
    assert refused.status_code == 422
    assert "Unknown time zone" in refused.get_data(as_text=True)
    assert count(core, StaffUser) == 0 and shops(core) == []


def test_the_form_needs_its_csrf_token(app: Any, core: Core) -> None:
    browser = app.test_client()
    path = f"/setup/{first_run.new_token(core)}"
    page = browser.get(path).get_data(as_text=True)
    forged = {k: v for k, v in page_form(page).items() if k != "csrf_token"}
    assert browser.post(path, data=forged).status_code == 400
    assert count(core, StaffUser) == 0 and shops(core) == []


def test_a_link_that_does_not_work_gets_a_page_of_its_own(app: Any, core: Core) -> None:
    browser = app.test_client()
    clock = HandClock(NOON)
    core.clock = clock
    expired = first_run.new_token(core)
    clock.advance(hours=2)

    unknown = browser.get("/setup/abc.def.ghi?lang=en")
    text = unknown.get_data(as_text=True)
    assert unknown.status_code == 404 and "does not work" in text
    assert "abc.def.ghi" not in text and "Traceback" not in text

    gone = browser.get(f"/setup/{expired}?lang=en")
    assert gone.status_code == 410 and "has expired" in gone.get_data(as_text=True)
    assert expired not in gone.get_data(as_text=True)
    # Sent anyway (with this browser's CSRF token), an expired link's form
    # writes nothing.
    page = browser.get(f"/setup/{first_run.new_token(core)}").get_data(as_text=True)
    posted = browser.post(f"/setup/{expired}", data=page_form(page))
    assert posted.status_code == 410

    # In the reader's language: a browser that asks for Chinese.
    chinese = app.test_client().get("/setup/abc", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 404 and '<html lang="zh-Hans">' in chinese.get_data(as_text=True)
    assert count(core, StaffUser) == 0 and shops(core) == []


# ------------------------------------------------------------ real servers


SERVE = (sys.executable, "-m", "shared.entrypoint", "serve")


class Serve:
    """``baylight serve [--demo]`` as a subprocess, its console in a file."""

    def __init__(self, env: dict[str, str], port: int, log: Path, *options: str) -> None:
        self.env, self.port, self.log = env, port, log
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, host: str = "127.0.0.1") -> str:
        """Start, wait until it answers, return what it printed this time."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                [*SERVE, "--host", host, "--port", str(self.port), *self.options],
                cwd=ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text()[-3000:])
            try:
                requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                return self.log.read_text()[offset:]
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def printed_link(console: str) -> str:
    found = re.findall(r"set-up link: (\S+)", console)
    assert len(found) == 1, console
    return found[0]


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def test_serve_on_an_empty_database_prints_a_link_that_works_where_it_says(
    tmp_path: Path, migrated_template: Path
) -> None:
    database = migrated_copy(migrated_template, tmp_path / "empty.db")
    port = free_port()
    env = server_env(database, port, tmp_path, "eventlet", BAYLIGHT_PUBLIC_URL="")
    server = Serve(env, port, tmp_path / "console.log")
    try:
        # Bound to every interface, it prints the address a browser on the
        # shop's network would type, never 0.0.0.0.
        first = printed_link(server.start(host="0.0.0.0"))
        assert first.startswith(f"{reachable_url('0.0.0.0', port)}/setup/")
        assert "0.0.0.0" not in first
        assert requests.get(first, timeout=10).status_code == 200
        server.stop()

        # A new secret key at the restart: a new link, and the old one is dead.
        env["BAYLIGHT_SECRET_KEY"] = "a key of the second start"
        second = printed_link(server.start(host="0.0.0.0"))
        assert second != first
        assert requests.get(first, timeout=10).status_code == 404

        browser = requests.Session()
        page = browser.get(second + "?lang=en", timeout=10).text
        sent = page_form(page)
        sent["csrf_token"] = csrf_of(page)
        done = browser.post(second, data=sent, timeout=30)
        assert done.status_code == 200 and done.url.endswith("/admin"), done.url
        assert '<span class="who">王经理</span>' in done.text
        assert browser.get(second, timeout=10).status_code == 410
        assert requests.get(second, timeout=10).status_code == 410
    finally:
        server.stop()
    core = offline_core(database, tmp_path)
    try:
        assert [row[:2] for row in shops(core)] == [("main", "星河汽车服务中心")]
        assert not first_run.is_empty(core)
    finally:
        core.db.dispose()


OFFICE_LINE = re.compile(r"^  (admin|manager|foreman|advisor) login: (.+) / (\S+)$", re.M)
KIOSK_LINE = re.compile(r"^  technician login: badge (\S+) / PIN (\d+)  (.+)$", re.M)


def test_serve_demo_prints_every_demo_login_and_each_signs_in(
    tmp_path: Path, migrated_template: Path
) -> None:
    database = migrated_copy(migrated_template, tmp_path / "demo.db")
    port = free_port()
    server = Serve(
        server_env(database, port, tmp_path, "eventlet"), port, tmp_path / "console.log", "--demo"
    )
    base = f"http://127.0.0.1:{port}"
    try:
        console = server.start()
        # The lines printed before stay.
        assert f"  workshop board     {base}/board" in console
        assert "--kind board|lounge|kiosk --name NAME --shop demo" in console
        assert re.search(r"^  admin token: bl_\S+$", console, re.M)
        assert "set-up link" not in console  # the demo has its admin

        office = {role: (name, password) for role, name, password in OFFICE_LINE.findall(console)}
        assert set(office) == {"admin", "manager", "foreman", "advisor"}, console
        technicians = KIOSK_LINE.findall(console)
        assert len(technicians) == 10 and len({badge for badge, _pin, _name in technicians}) == 10

        # Every line is checked above; two of each kind sign in for real (a
        # password or PIN check is a deliberately slow hash on the server).
        for role, (name, password) in sorted(office.items())[:2]:
            browser = requests.Session()
            page = browser.get(f"{base}/login?shop=demo", timeout=10).text
            signed = browser.post(
                f"{base}/login?shop=demo",
                data={"csrf_token": csrf_of(page), "name": name, "password": password},
                allow_redirects=False,
                timeout=30,
            )
            assert signed.status_code == 302, (role, signed.status_code)
            whoami = browser.get(f"{base}/api/v1/whoami", timeout=10).json()
            assert (whoami["authenticated"], whoami["role"]) == (True, role), whoami

        core = offline_core(database, tmp_path)
        try:
            kiosk = kiosk_device(core)
        finally:
            core.db.dispose()
        for badge, pin, name in (technicians[0], technicians[-1]):
            answer = requests.post(
                f"{base}/kiosk/api/login",
                json={"badge": badge, "pin": pin},
                headers={"Authorization": f"Bearer {kiosk}"},
                timeout=30,
            )
            assert answer.status_code == 200, (badge, answer.text)
            assert answer.json()["user"]["name"] == name
    finally:
        server.stop()


def kiosk_device(core: Core) -> str:
    """A kiosk paired to the demo shop, as ``baylight pair`` approves one;
    its device token."""
    started = devices.start_pairing(core, "kiosk")
    devices.approve_pairing(
        core,
        started.user_code,
        kind="kiosk",
        name="工位平板",
        shop_id=setup.shop_id_for(core, "demo"),
    )
    return str(devices.poll_pairing(core, started.device_code)["device_token"])
