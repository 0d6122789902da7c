"""Staff sign-in at /login through the real app, its SQLite database and
Flask-Limiter: the shop is named (picker, or a shop's own link), so two shops'
namesakes each sign in to their own account; the redirect after sign-in
stays on the site whatever ``next`` says; wrong passwords are slowed and
then lock the name (per shop and name, in the database, on the app's clock)
and are limited per address; the lock ends by itself or by an admin; and the
cookie is worth something only while its server-side session lives (logout,
deactivation, lifetime)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest
from sqlalchemy import select, update

from shared.domain.errors import ValidationFailed
from shared.persistence.models import StaffUser
from shared.persistence.session_models import StaffSession
from shared.services import setup, staff_login
from shared.services.auth import hash_secret
from shared.services.core import Core
from shared.web.staff_session import SESSION_KEY, local_path, principal_from_session

PASSWORD = "correct horse battery"
T0 = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)
SITE = "http://127.0.0.1:5000"
ORDER = {"plate": "粤B12345", "customer": {"name": "张先生", "phone": "13800000000"}}

# Each one has left some site through a login form's ``next`` (as sent on the
# wire: the query string is decoded once by the server, as here).
BYPASSES = [
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "%5C%5Cevil.example",
    "%5C/evil.example",
    "/%5C/evil.example",
    "/%09/evil.example",
    "%09//evil.example",
    "%09/%09/evil.example",
    "/%0A/evil.example",
    "/%0D/evil.example",
    "/%0D%0A/evil.example",
    "%20//evil.example",
    "/%20/evil.example",
    "/%00",
    "/%00/evil.example",
    "%00//evil.example",
    "/%2F/evil.example",
    "%2F%2Fevil.example",
    "%2F%5Cevil.example",
    "/%E3%80%80/evil.example",  # ideographic space
    "/%E2%80%8B/evil.example",  # zero-width space
    "/%C2%A0/evil.example",  # no-break space
    "/%7F/evil.example",
    "https://evil.example",
    "HTTPS://evil.example",
    "https:evil.example",
    "https:/evil.example",
    "//evil.example@127.0.0.1:5000",
    "http://127.0.0.1:5000@evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "%09javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "@evil.example",
    ".evil.example",
]
KEPT = ["/desk", "/orders/7/ticket", "/admin?tab=tokens#list", "/foreman"]


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, "no CSRF token in the page"
    return found.group(1)


class Browser:
    """One browser (cookie jar) at one client address."""

    def __init__(self, app: Any, address: str = "127.0.0.1") -> None:
        self.client = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = address
        self.address = address

    def csrf(self) -> str:
        return csrf_of(self.client.get("/login?lang=en").get_data(as_text=True))

    def login(
        self, name: str, password: str, query: str = "", shop: str | None = None, **headers: str
    ) -> Any:
        token = self.csrf()
        data = {"name": name, "password": password, "csrf_token": token}
        if shop is not None:
            data["shop"] = shop
        return self.client.post("/login" + query, data=data, headers=headers)

    def shop_id(self) -> int | None:
        """The shop of the signed-in session, as the API sees it."""
        who = self.client.get("/api/v1/whoami").get_json()
        return who.get("shop_id")

    def cookie(self) -> str:
        found = self.client.get_cookie("session")
        assert found is not None
        return str(found.value)

    def create_order(self) -> Any:
        return self.client.post(
            "/api/v1/orders",
            json=ORDER,
            headers={"X-CSRFToken": self.csrf(), "Accept": "application/json"},
        )


def fake_clock(core: Core) -> list[datetime]:
    now = [T0]
    core.clock = lambda: now[0]
    return now


def make_user(core: Core, shop: Any, name: str, role: str = "advisor") -> int:
    return setup.create_user(core, shop.shop_id, role=role, name=name, password=PASSWORD)


# ---------------------------------------------------------------- next


@pytest.mark.parametrize("target", BYPASSES)
def test_local_path_refuses_every_way_off_the_site(target: str) -> None:
    assert local_path(unquote(target)) is None


@pytest.mark.parametrize("target", KEPT)
def test_local_path_keeps_paths_on_the_site(target: str) -> None:
    assert local_path(target) == target


def _stays_on_site(location: str) -> bool:
    """What a browser would do with the Location: no character it would
    forgive or rewrite, and resolved against the site, still the site."""
    if any(char == "\\" or char.isspace() or ord(char) < 0x20 for char in location):
        return False
    resolved = urlsplit(urljoin(SITE + "/login", location))
    return f"{resolved.scheme}://{resolved.netloc}" == SITE and location.startswith("/")


def test_sign_in_redirects_only_to_paths_on_this_site(app: Any, shop: Any) -> None:
    make_user(shop.core, shop, "陈顾问")
    browser = Browser(app)
    left_the_site = []
    for target in BYPASSES:
        try:
            reply = browser.login("陈顾问", PASSWORD, "?next=" + target)
        except ValueError as error:  # e.g. a newline let through into the header
            left_the_site.append((target, repr(error)))
            continue
        assert reply.status_code == 302, target
        if not _stays_on_site(reply.headers["Location"]):
            left_the_site.append((target, reply.headers["Location"]))
    assert left_the_site == []
    for target in KEPT:
        reply = browser.login("陈顾问", PASSWORD, "?next=" + quote(target, safe="/"))
        assert reply.headers["Location"] == target
    assert browser.login("陈顾问", PASSWORD).headers["Location"] == "/board"


# ---------------------------------------------------------------- wrong passwords


def _drive_to_lock(browser: Browser, now: list[datetime], name: str) -> list[int]:
    """Wrong passwords, waiting out each delay on the app's clock, until the
    name locks; the status of every attempt."""
    statuses = []
    for _attempt in range(3 * staff_login.LOCK_AFTER_FAILURES):
        reply = browser.login(name, "wrong password")
        statuses.append(reply.status_code)
        if reply.status_code == 429:
            wait = int(reply.headers["Retry-After"])
            if wait >= staff_login.LOCK_DURATION.total_seconds():
                return statuses
            now[0] += timedelta(seconds=wait)
    raise AssertionError(f"the name never locked: {statuses}")


def test_wrong_passwords_are_slowed_then_lock_the_name_until_the_lock_ends(
    app: Any, shop: Any, core: Core
) -> None:
    now = fake_clock(core)
    make_user(core, shop, "陈顾问")
    attacker = Browser(app, "198.51.100.7")
    owner = Browser(app, "203.0.113.9")

    answers = [attacker.login("陈顾问", f"guess {n}") for n in range(15)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 10
    slowed = answers[5]
    assert slowed.headers["Retry-After"] == "15"
    assert "Wait 15 s." in slowed.get_data(as_text=True)  # the form, in the reader's language
    # Even the right password waits (a guesser must not learn it was right).
    assert owner.login("陈顾问", PASSWORD).status_code == 429
    as_json = attacker.login("陈顾问", PASSWORD, Accept="application/json")
    assert as_json.status_code == 429
    assert as_json.mimetype == "application/problem+json"
    assert as_json.get_json()["code"] == "rate_limited"
    assert as_json.get_json()["retry_after"] == int(as_json.headers["Retry-After"])

    # Waiting out the growing delays, the 10th wrong password locks the name.
    now[0] += timedelta(seconds=15)
    statuses = _drive_to_lock(attacker, now, "陈顾问")
    assert statuses == [401, 429, 401, 429, 401, 429, 401, 429, 401, 429]
    locked = owner.login("陈顾问", PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) == 15 * 60
    assert "Wait 15 min." in locked.get_data(as_text=True)
    now[0] += timedelta(minutes=14, seconds=59)
    assert owner.login("陈顾问", PASSWORD).status_code == 429

    # The lock ends by itself: nobody is shut out for good by someone else's guessing.
    now[0] += timedelta(seconds=1)
    assert owner.login("陈顾问", PASSWORD).status_code == 302
    # ... and a success forgets the count.
    assert owner.login("陈顾问", "typo").status_code == 401
    assert owner.login("陈顾问", PASSWORD).status_code == 302


def test_every_wrong_password_after_the_lock_locks_again(app: Any, shop: Any, core: Core) -> None:
    now = fake_clock(core)
    make_user(core, shop, "陈顾问")
    _drive_to_lock(Browser(app, "198.51.100.7"), now, "陈顾问")
    now[0] += staff_login.LOCK_DURATION
    late = Browser(app, "198.51.100.8")
    assert late.login("陈顾问", "one more guess").status_code == 401
    again = late.login("陈顾问", PASSWORD)
    assert again.status_code == 429 and int(again.headers["Retry-After"]) == 15 * 60
    # A quiet hour forgets everything.
    now[0] += timedelta(hours=1)
    assert late.login("陈顾问", "typo").status_code == 401
    assert late.login("陈顾问", PASSWORD).status_code == 302


def test_every_spelling_of_a_name_counts_against_it(app: Any, shop: Any, core: Core) -> None:
    fake_clock(core)
    make_user(core, shop, "Zhao Li")
    browser = Browser(app, "198.51.100.7")
    spellings = ["Zhao Li", " zhao li", "ZHAO LI ", "Ｚｈａｏ Ｌｉ", "zHaO lI"]
    assert [browser.login(s, "wrong").status_code for s in spellings] == [401] * 5
    assert browser.login("Zhao Li", PASSWORD).status_code == 429


def test_unknown_names_answer_like_known_ones(app: Any, shop: Any, core: Core) -> None:
    fake_clock(core)
    make_user(core, shop, "陈顾问")
    browser = Browser(app, "198.51.100.7")
    known = [browser.login("陈顾问", "wrong") for _ in range(6)]
    unknown = [browser.login("无此人", "wrong") for _ in range(6)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown]
    assert known[-1].headers["Retry-After"] == unknown[-1].headers["Retry-After"]


def test_one_address_trying_many_names_is_stopped(app: Any, shop: Any, core: Core) -> None:
    fake_clock(core)
    names = ["甲", "乙", "丙", "丁"]
    for name in names:
        make_user(core, shop, name)
    spray = Browser(app, "198.51.100.7")
    # Fewer than each name's free tries, but ten wrong passwords from one address.
    guesses = ["甲", "乙", "丙", "无此人", "甲", "乙", "丙", "无此人", "甲", "乙"]
    assert [spray.login(name, "wrong").status_code for name in guesses] == [401] * 10
    stopped = spray.login("丁", PASSWORD)  # a name it never tried, even the right password
    assert stopped.status_code == 429
    assert 0 < int(stopped.headers["Retry-After"]) <= 600
    assert "Wait" in stopped.get_data(as_text=True)
    as_json = spray.login("丁", PASSWORD, Accept="application/json")
    assert as_json.status_code == 429 and as_json.get_json()["code"] == "rate_limited"
    # Only that address: the same names from elsewhere are fine.
    elsewhere = Browser(app, "203.0.113.9")
    assert elsewhere.login("丁", PASSWORD).status_code == 302
    assert elsewhere.login("甲", PASSWORD).status_code == 302
    # An IPv6 client cannot hop through its /64 to get a fresh budget.
    first = Browser(app, "2001:db8:1:2::1")
    for name in guesses:
        first.login(name + "x", "wrong")
    assert Browser(app, "2001:db8:1:2::ffff").login("丁", PASSWORD).status_code == 429
    assert Browser(app, "2001:db8:1:3::1").login("丁", PASSWORD).status_code == 302


def test_an_admin_unlocks_a_locked_name(app: Any, shop: Any, core: Core) -> None:
    now = fake_clock(core)
    owner_id = make_user(core, shop, "陈顾问")
    make_user(core, shop, "店长", role="manager")
    make_user(core, shop, "王顾问")
    _drive_to_lock(Browser(app, "198.51.100.7"), now, "陈顾问")
    owner = Browser(app, "203.0.113.9")
    assert owner.login("陈顾问", PASSWORD).status_code == 429

    colleague = Browser(app, "203.0.113.10")
    assert colleague.login("王顾问", PASSWORD).status_code == 302
    assert colleague.client.get("/login/locks").status_code == 403
    refused = colleague.client.post(
        f"/login/locks/{owner_id}/unlock", headers={"X-CSRFToken": colleague.csrf()}
    )
    assert refused.status_code == 403

    admin = Browser(app, "203.0.113.11")
    assert admin.login("店长", PASSWORD).status_code == 302
    locks = admin.client.get("/login/locks").get_json()["locked"]
    assert [(lock["user_id"], lock["name"]) for lock in locks] == [(owner_id, "陈顾问")]
    without_csrf = admin.client.post(f"/login/locks/{owner_id}/unlock")
    assert without_csrf.status_code == 400
    unlocked = admin.client.post(
        f"/login/locks/{owner_id}/unlock", headers={"X-CSRFToken": admin.csrf()}
    )
    assert unlocked.status_code == 200 and unlocked.get_json()["unlocked"] is True
    assert admin.client.get("/login/locks").get_json()["locked"] == []

    assert owner.login("陈顾问", PASSWORD).status_code == 302


def test_the_count_lives_in_the_database_not_in_the_process(
    app: Any, shop: Any, core: Core, settings: Any
) -> None:
    """A second app on the same database (another worker, or a restart) sees
    the lock the first one set."""
    from shared.web.app import create_app

    now = fake_clock(core)
    make_user(core, shop, "陈顾问")
    _drive_to_lock(Browser(app, "198.51.100.7"), now, "陈顾问")
    other_app, _socketio = create_app(settings)
    other_core = other_app.extensions["baylight"]
    other_core.clock = core.clock
    try:
        reply = Browser(other_app, "203.0.113.9").login("陈顾问", PASSWORD)
        assert reply.status_code == 429
        assert int(reply.headers["Retry-After"]) == 15 * 60
    finally:
        other_core.db.dispose()


# ---------------------------------------------------------------- shops


def test_two_shops_each_with_an_adv_both_sign_in(app: Any, shop: Any, core: Core) -> None:
    north = setup.ensure_shop(core, slug="north", name="北区店")
    make_user(core, shop, "Adv")
    setup.create_user(core, north, role="advisor", name="Adv", password="north password 1")
    page = Browser(app).client.get("/login?lang=en").get_data(as_text=True)
    assert '<select name="shop" id="shop">' in page
    assert '<option value="north">北区店</option>' in page and 'value="test"' in page

    ours, theirs = Browser(app, "203.0.113.1"), Browser(app, "203.0.113.2")
    assert ours.login("Adv", PASSWORD, shop="test").status_code == 302
    assert ours.shop_id() == shop.shop_id
    assert theirs.login("Adv", "north password 1", shop="north").status_code == 302
    assert theirs.shop_id() == north
    # Each password opens its own account only.
    assert Browser(app).login("Adv", PASSWORD, shop="north").status_code == 401
    # No shop chosen: a name held in two shops signs nobody in, and says why.
    unplaced = Browser(app, "203.0.113.3").login("Adv", PASSWORD, "?lang=en")
    assert unplaced.status_code == 401
    assert "Wrong name, password or shop." in unplaced.get_data(as_text=True)

    # A shop's own sign-in link: no picker, the shop named, the same account.
    linked = Browser(app, "203.0.113.4")
    own_page = linked.client.get("/login?shop=north&lang=en").get_data(as_text=True)
    assert (
        "<select" not in own_page and '<input type="hidden" name="shop" value="north">' in own_page
    )
    assert "北区店" in own_page
    token = csrf_of(own_page)
    reply = linked.client.post(
        "/login?shop=north&next=/desk",
        data={"name": "Adv", "password": "north password 1", "csrf_token": token},
    )
    assert reply.status_code == 302 and reply.headers["Location"] == "/desk"
    assert linked.shop_id() == north
    # This browser remembers the shop chosen last.
    again = theirs.client.get("/login").get_data(as_text=True)
    assert '<option value="north" selected>' in again


def test_a_guesser_in_one_shop_does_not_lock_the_namesake_in_another(
    app: Any, shop: Any, core: Core
) -> None:
    now = fake_clock(core)
    north = setup.ensure_shop(core, slug="north", name="北区店")
    make_user(core, shop, "Adv")
    setup.create_user(core, north, role="advisor", name="Adv", password="north password 1")
    guesser = Browser(app, "198.51.100.7")
    for _attempt in range(3 * staff_login.LOCK_AFTER_FAILURES):
        reply = guesser.login("Adv", "wrong", shop="test")
        if reply.status_code == 429:
            wait = int(reply.headers["Retry-After"])
            if wait >= staff_login.LOCK_DURATION.total_seconds():
                break
            now[0] += timedelta(seconds=wait)
    assert Browser(app, "203.0.113.9").login("Adv", PASSWORD, shop="test").status_code == 429
    assert (
        Browser(app, "203.0.113.9").login("Adv", "north password 1", shop="north").status_code
        == 302
    )


def test_names_are_unique_per_shop_however_spelt(shop: Any, core: Core) -> None:
    make_user(core, shop, "Zhao Li")
    for spelling in ("Zhao Li", " zhao li ", "ＺＨＡＯ ＬＩ"):
        with pytest.raises(ValidationFailed) as refused:
            make_user(core, shop, spelling)
        assert refused.value.field == "name"
    other = setup.ensure_shop(core, slug="north", name="北区店")
    setup.create_user(core, other, role="advisor", name="Zhao Li", password=PASSWORD)


# ---------------------------------------------------------------- sessions


def test_sign_in_keeps_only_the_hash_of_a_long_random_credential(
    app: Any, shop: Any, core: Core
) -> None:
    user_id = make_user(core, shop, "陈顾问")
    browser = Browser(app)
    assert browser.login("陈顾问", PASSWORD).status_code == 302
    serializer = app.session_interface.get_signing_serializer(app)
    credential = serializer.loads(browser.cookie())[SESSION_KEY]
    assert len(credential) >= 43  # 256 bits in base64url; at least 128 are asked for
    with core.db.read() as db:
        rows = db.execute(select(StaffSession.user_id, StaffSession.token_hash)).all()
    assert [tuple(row) for row in rows] == [(user_id, hash_secret(credential))]


def test_a_cookie_kept_from_before_logout_is_dead(app: Any, shop: Any, core: Core) -> None:
    make_user(core, shop, "陈顾问")
    browser = Browser(app)
    assert browser.login("陈顾问", PASSWORD, "?next=/desk").status_code == 302
    assert browser.create_order().status_code == 201
    assert browser.client.get("/desk").status_code == 200
    kept_cookie = browser.cookie()
    kept_csrf = browser.csrf()

    logged_out = browser.client.post("/logout", data={"csrf_token": kept_csrf})
    assert logged_out.status_code == 302

    # Someone replays the cookie (and its CSRF token) saved before the logout.
    browser.client.set_cookie("session", kept_cookie)
    replay = browser.client.post(
        "/api/v1/orders",
        json=ORDER,
        headers={"X-CSRFToken": kept_csrf, "Accept": "application/json"},
    )
    assert replay.status_code == 401
    assert replay.get_json()["code"] == "unauthorized"
    assert browser.client.get("/desk").location == "/login?next=/desk"
    assert browser.client.get("/admin").location == "/login?next=/admin"
    # The socket sweep's re-check of a copy of that session says the same.
    session = app.session_interface.get_signing_serializer(app).loads(kept_cookie)
    assert principal_from_session(core, dict(session)) is None


def test_a_deactivated_users_cookie_is_refused_and_stays_dead(
    app: Any, shop: Any, core: Core
) -> None:
    user_id = make_user(core, shop, "陈顾问")
    browser = Browser(app)
    browser.login("陈顾问", PASSWORD)
    assert browser.create_order().status_code == 201

    with core.db.write() as db:
        user = db.get(StaffUser, user_id)
        assert user is not None
        user.active = False
    assert browser.create_order().status_code == 401
    assert browser.client.get("/desk").location == "/login?next=/desk"

    # Deactivating ended the session: coming back does not revive that cookie.
    with core.db.write() as db:
        db.execute(update(StaffUser).where(StaffUser.id == user_id).values(active=True))
    assert browser.create_order().status_code == 401
    assert browser.login("陈顾问", PASSWORD).status_code == 302
    assert browser.create_order().status_code == 201


def test_an_inactive_user_is_refused_however_it_was_deactivated(
    app: Any, shop: Any, core: Core
) -> None:
    """A plain UPDATE (no ORM hook runs) still ends access: resolution itself
    reads ``active``."""
    user_id = make_user(core, shop, "陈顾问")
    browser = Browser(app)
    browser.login("陈顾问", PASSWORD)
    with core.db.write() as db:
        db.execute(update(StaffUser).where(StaffUser.id == user_id).values(active=False))
    assert browser.create_order().status_code == 401


def test_a_new_password_ends_the_old_sessions(app: Any, shop: Any, core: Core) -> None:
    user_id = make_user(core, shop, "陈顾问")
    browser = Browser(app)
    browser.login("陈顾问", PASSWORD)
    with core.db.write() as db:
        user = db.get(StaffUser, user_id)
        assert user is not None
        user.password_hash = "pbkdf2:sha256:1$new$0"
    assert browser.create_order().status_code == 401


def test_a_session_ends_after_its_lifetime(app: Any, shop: Any, core: Core) -> None:
    now = fake_clock(core)
    make_user(core, shop, "陈顾问")
    browser = Browser(app)
    browser.login("陈顾问", PASSWORD)
    now[0] += staff_login.SESSION_LIFETIME - timedelta(seconds=1)
    assert browser.create_order().status_code == 201
    now[0] += timedelta(seconds=1)
    assert browser.create_order().status_code == 401


def test_the_foreman_console_runs_on_the_same_session(app: Any, shop: Any, core: Core) -> None:
    make_user(core, shop, "赵主管", role="foreman")
    browser = Browser(app)
    assert browser.client.get("/foreman").status_code == 302
    assert browser.login("赵主管", PASSWORD, "?next=/foreman").headers["Location"] == "/foreman"
    assert browser.client.get("/foreman").status_code == 200
    overview = browser.client.get("/foreman/api/overview")
    assert overview.status_code == 200
    browser.client.post("/logout", data={"csrf_token": browser.csrf()})
    assert browser.client.get("/foreman").status_code == 302


# ---------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_two_workers_on_postgresql_share_the_count_and_the_sessions(
    migrated_postgres_url: str, tmp_path: Any
) -> None:
    """Two apps on one PostgreSQL database stand in for two server processes:
    parallel guesses are each counted once (the row is locked while counted),
    and a logout on one ends the cookie on the other."""
    from concurrent.futures import ThreadPoolExecutor

    from shared.config import Settings
    from shared.web.app import create_app

    settings = Settings.from_env(
        {},
        database_url=migrated_postgres_url,
        instance_path=tmp_path,
        async_mode="threading",
        testing=True,
        public_url=SITE,
    )
    apps = [create_app(settings)[0] for _ in range(2)]
    cores = [app.extensions["baylight"] for app in apps]
    now = [T0]
    for each in cores:
        each.clock = lambda: now[0]
    try:
        shop_id = setup.ensure_shop(cores[0], slug="pg", name="PG 店")
        setup.create_user(cores[0], shop_id, role="advisor", name="陈顾问", password=PASSWORD)
        browsers = [Browser(apps[n % 2], f"198.51.100.{n + 1}") for n in range(10)]
        tokens = [browser.csrf() for browser in browsers]

        def guess(n: int) -> int:
            reply = browsers[n].client.post(
                "/login",
                data={"name": "陈顾问", "password": f"guess {n}", "csrf_token": tokens[n]},
            )
            return int(reply.status_code)

        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = sorted(pool.map(guess, range(10)))
        assert statuses == [401] * 5 + [429] * 5

        now[0] += timedelta(minutes=1)
        first, second = Browser(apps[0]), Browser(apps[1])
        assert first.login("陈顾问", PASSWORD).status_code == 302
        second.client.set_cookie("session", first.cookie())
        assert second.create_order().status_code == 201
        first.client.post("/logout", data={"csrf_token": first.csrf()})
        assert second.create_order().status_code == 401
    finally:
        for each in cores:
            each.db.dispose()
