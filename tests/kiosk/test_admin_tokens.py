"""API tokens (issue 14, item 6) through the real app, hub and SQLite: listed
(name, role, created, last used) and revoked over REST, on the admin page
(secret shown once, revocation after a confirmation) and with the CLI; a
revoked token's open sockets are cut; its last use is written at most once a
minute; admin and manager only; another shop's token is unknown."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from shared import cli
from shared.persistence.models import ApiToken
from shared.realtime.hub import Hub, hub_of
from shared.services import api_tokens, setup
from shared.services.auth import create_api_token, resolve_bearer
from shared.services.core import Core
from tests.conftest import HandClock, Shop, seed_shop

PASSWORD = "tokens-pass-1"
T0 = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def hub(socketio: Any) -> Iterator[Hub]:
    """The app's hub with a round too long to matter: a socket cut within a
    second was cut by the revocation's own wake-up, not by a round."""
    found = hub_of(socketio)
    assert found is not None
    found.sweep_seconds = 60.0
    yield found
    found.stop()


def token_id(core: Core, name: str, shop: Shop | None = None) -> int:
    query = select(ApiToken.id).where(ApiToken.name == name)
    if shop is not None:
        query = query.where(ApiToken.shop_id == shop.shop_id)
    with core.db.read() as session:
        return int(session.execute(query).scalar_one())


def cut_within(client: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while client.is_connected():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def whoami(client: Any, token: str) -> int:
    reply = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    return int(reply.status_code)


# ------------------------------------------------------------------ REST


def test_rest_lists_and_revokes_and_the_tokens_socket_is_cut_at_once(
    app: Any, socketio: Any, client: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    secret = create_api_token(core, shop_id=shop.shop_id, role="foreman", name="调度大屏")
    screen = socketio.test_client(app, auth={"token": secret})
    assert screen.is_connected()
    listed = client.get("/api/v1/tokens", headers=shop.headers("manager"))
    assert listed.status_code == 200
    tokens = {t["name"]: t for t in listed.get_json()["tokens"]}
    mine = tokens["调度大屏"]
    assert mine["role"] == "foreman" and mine["active"] and mine["revoked_at"] is None
    assert mine["last_used_at"] is not None  # the socket's connect used it
    assert secret not in listed.get_data(as_text=True)
    assert "token_hash" not in mine

    key = {"Idempotency-Key": "revoke-dispatch-screen"}
    revoked = client.delete(f"/api/v1/tokens/{mine['id']}", headers={**shop.headers(), **key})
    assert revoked.status_code == 200, revoked.get_json()
    body = revoked.get_json()
    assert body["id"] == mine["id"] and not body["active"] and body["revoked_at"]
    assert cut_within(screen, 1.0), "the revoked token's socket is still open"
    assert whoami(client, secret) == 401
    refused = socketio.test_client(app, auth={"token": secret})
    assert not refused.is_connected()

    # Idempotent: the key replays the first answer; without one, revoking a
    # revoked token changes nothing (its first revocation time stays).
    replay = client.delete(f"/api/v1/tokens/{mine['id']}", headers={**shop.headers(), **key})
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.get_json() == body
    again = client.delete(f"/api/v1/tokens/{mine['id']}", headers=shop.headers())
    assert again.status_code == 200 and again.get_json()["revoked_at"] == body["revoked_at"]
    listed = client.get("/api/v1/tokens", headers=shop.headers()).get_json()["tokens"]
    assert listed[-1]["id"] == mine["id"], "revoked tokens come last"
    # The other tokens work on.
    assert whoami(client, shop.tokens["foreman"]) == 200


def test_rest_is_for_admins_and_managers_and_never_reaches_another_shop(
    client: Any, core: Core, shop: Shop
) -> None:
    other = seed_shop(core, slug="other")
    theirs = token_id(core, "test foreman", other)
    for role in ("advisor", "foreman", "technician", "display-board", "display-lounge"):
        assert client.get("/api/v1/tokens", headers=shop.headers(role)).status_code == 403
        refused = client.delete(f"/api/v1/tokens/{theirs}", headers=shop.headers(role))
        assert refused.status_code == 403, role
    assert client.get("/api/v1/tokens").status_code == 401
    listed = client.get("/api/v1/tokens", headers=shop.headers()).get_json()["tokens"]
    assert theirs not in {t["id"] for t in listed}
    for unknown in (theirs, 999_999):
        refused = client.delete(f"/api/v1/tokens/{unknown}", headers=shop.headers())
        assert refused.status_code == 404 and refused.get_json()["code"] == "not_found"
    assert whoami(client, other.tokens["foreman"]) == 200
    # A body, if sent, holds nothing.
    mine = token_id(core, "test display-lounge", shop)
    extra = client.delete(f"/api/v1/tokens/{mine}", json={"reason": "x"}, headers=shop.headers())
    assert extra.status_code == 422 and extra.get_json()["field"] == "reason"
    assert whoami(client, shop.tokens["display-lounge"]) == 200


# ------------------------------------------------------------- last use


@contextmanager
def token_updates(core: Core) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if sql.startswith("UPDATE api_token"):
            seen.append(sql)

    event.listen(core.db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(core.db.engine, "before_cursor_execute", note)


def last_used(core: Core, token_id_: int) -> datetime | None:
    with core.db.read() as session:
        row = session.get(ApiToken, token_id_)
        assert row is not None
        return row.last_used_at


def test_last_use_is_written_at_most_once_a_minute(
    app: Any, socketio: Any, client: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    clock = HandClock(T0)
    core.clock = clock
    secret = create_api_token(core, shop_id=shop.shop_id, role="advisor", name="DMS")
    ident = token_id(core, "DMS")
    assert last_used(core, ident) is None
    with token_updates(core) as writes:
        for step in range(6):
            clock.advance(seconds=9)
            # Every call a cache miss, as in a process that just started:
            # still no write until a minute has passed.
            core.principals.clear()
            assert whoami(client, secret) == 200, step
    assert len(writes) == 1
    assert last_used(core, ident) == T0 + timedelta(seconds=9)
    clock.advance(seconds=15)
    core.principals.clear()
    with token_updates(core) as writes:
        assert whoami(client, secret) == 200
        assert whoami(client, secret) == 200  # from the cache: not even a read
    assert len(writes) == 1
    assert last_used(core, ident) == T0 + timedelta(seconds=69)

    # A socket's connect and seq checks count as use too, with the same step.
    clock.advance(seconds=5)
    screen = socketio.test_client(app, auth={"token": secret})
    assert screen.is_connected()
    assert last_used(core, ident) == T0 + timedelta(seconds=69)
    clock.advance(seconds=60)
    hub._touched.clear()  # the in-memory minute has passed as well
    assert screen.emit("seq", {}, callback=True)["seq"] >= 0
    assert last_used(core, ident) == T0 + timedelta(seconds=134)
    screen.disconnect()


# ------------------------------------------------------------------ page


def sign_in(client: Any, shop: Shop, role: str = "admin") -> str:
    """Sign a new admin or manager in; the CSRF token of their pages."""
    name = f"令牌{role}"
    setup.create_user(shop.core, shop.shop_id, role=role, name=name, password=PASSWORD)
    found = CSRF.search(client.get(f"/login?shop={shop.slug}").get_data(as_text=True))
    assert found
    reply = client.post(
        f"/login?shop={shop.slug}&next=/admin/tokens",
        data={"shop": shop.slug, "name": name, "password": PASSWORD, "csrf_token": found.group(1)},
    )
    assert reply.status_code in (302, 303), reply.get_data(as_text=True)
    page = client.get("/admin/tokens")
    assert page.status_code == 200
    csrf = CSRF.search(page.get_data(as_text=True))
    assert csrf
    return csrf.group(1)


def test_page_makes_a_token_shows_it_once_and_revokes_after_confirming(
    app: Any, socketio: Any, client: Any, core: Core, shop: Shop, hub: Hub
) -> None:
    assert client.get("/admin/tokens").headers["Location"] == "/login?next=/admin/tokens"
    csrf = sign_in(client, shop)
    # Without the CSRF token nothing is made.
    refused = client.post("/admin/tokens", data={"name": "DMS", "role": "advisor"})
    assert refused.status_code == 400
    made = client.post(
        "/admin/tokens", data={"name": "经销商DMS", "role": "advisor", "csrf_token": csrf}
    )
    assert made.status_code == 201
    assert made.headers["Cache-Control"] == "no-store"
    html = made.get_data(as_text=True)
    shown = re.search(r'<code id="new-token-secret" class="secret-value">([^<]+)</code>', html)
    assert shown
    secret = shown.group(1)
    assert whoami(client, secret) == 200
    screen = socketio.test_client(app, auth={"token": secret})
    assert screen.is_connected()
    listing = client.get("/admin/tokens").get_data(as_text=True)
    assert secret not in listing, "the secret is shown once"
    ident = token_id(core, "经销商DMS")
    row = f'<tr data-token-id="{ident}" class="status-active">'
    assert row in listing

    # Revoke: a confirmation page first (a plain form, no script), then the POST.
    link = f'href="/admin/tokens/{ident}/revoke"'
    assert link in listing
    confirm = client.get(f"/admin/tokens/{ident}/revoke")
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert f'action="/admin/tokens/{ident}/revoke"' in page and "经销商DMS" in page
    assert whoami(client, secret) == 200, "opening the confirmation revokes nothing"
    assert client.post(f"/admin/tokens/{ident}/revoke").status_code == 400
    done = client.post(f"/admin/tokens/{ident}/revoke", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert cut_within(screen, 1.0)
    assert whoami(client, secret) == 401
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert f'<tr data-token-id="{ident}" class="status-revoked">' in after
    assert 'id="notice"' in after
    # Another shop's token is unknown here.
    other = seed_shop(core, slug="other")
    theirs = token_id(core, "test advisor", other)
    assert client.get(f"/admin/tokens/{theirs}/revoke").status_code == 404
    assert (
        client.post(f"/admin/tokens/{theirs}/revoke", data={"csrf_token": csrf}).status_code == 404
    )
    assert whoami(client, other.tokens["admin"]) == 200


def test_a_manager_makes_no_admin_token(client: Any, shop: Shop) -> None:
    csrf = sign_in(client, shop, role="manager")
    page = client.get("/admin/tokens").get_data(as_text=True)
    assert '<option value="admin"' not in page and '<option value="advisor"' in page
    refused = client.post(
        "/admin/tokens", data={"name": "mine", "role": "admin", "csrf_token": csrf}
    )
    assert refused.status_code == 403
    assert 'id="new-token"' not in refused.get_data(as_text=True)


def test_the_page_is_for_admins_and_managers_only(client: Any, shop: Shop) -> None:
    setup.create_user(shop.core, shop.shop_id, role="advisor", name="顾问", password=PASSWORD)
    found = CSRF.search(client.get(f"/login?shop={shop.slug}").get_data(as_text=True))
    assert found
    client.post(
        f"/login?shop={shop.slug}",
        data={
            "shop": shop.slug,
            "name": "顾问",
            "password": PASSWORD,
            "csrf_token": found.group(1),
        },
    )
    assert client.get("/admin/tokens").status_code == 403
    # A bearer token is no session: the page is for people at a browser.
    client.post("/logout")
    assert client.get("/admin/tokens", headers=shop.headers()).status_code == 302


# ------------------------------------------------------------------- CLI


def run_cli(monkeypatch: pytest.MonkeyPatch, core: Core, tmp: Path, *args: str) -> int:
    """The real ``baylight`` entry (argument parsing, dispatch, exit codes) in
    this process, on the app's database file."""
    monkeypatch.setenv("BAYLIGHT_DATABASE_URL", core.db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BAYLIGHT_INSTANCE_PATH", str(tmp))
    return cli.run(list(args))


def test_cli_lists_and_revokes_and_the_server_cuts_the_socket(
    app: Any,
    socketio: Any,
    client: Any,
    core: Core,
    shop: Shop,
    hub: Hub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    other = seed_shop(core, slug="other")
    secret = create_api_token(core, shop_id=shop.shop_id, role="display-board", name="门口大屏")
    screen = socketio.test_client(app, auth={"token": secret})
    assert screen.is_connected() and resolve_bearer(core, secret) is not None

    assert run_cli(monkeypatch, core, tmp_path, "list-tokens", "--shop", "test") == 0
    listed = capsys.readouterr().out
    assert "门口大屏" in listed and "display-board" in listed
    assert secret not in listed
    assert {line.split("\t")[1] for line in listed.splitlines()[1:]} == {"test"}
    assert run_cli(monkeypatch, core, tmp_path, "list-tokens") == 0
    assert {line.split("\t")[1] for line in capsys.readouterr().out.splitlines()[1:]} == {
        "test",
        "other",
    }

    ident = token_id(core, "门口大屏")
    assert run_cli(monkeypatch, core, tmp_path, "revoke-token", str(ident)) == 0
    assert capsys.readouterr().out.strip() == f"token {ident} revoked"
    # Another process revoked it: this server's next round cuts the socket
    # and forgets the cached credential.
    assert hub.sweep() == 1
    assert not screen.is_connected()
    assert whoami(client, secret) == 401
    assert run_cli(monkeypatch, core, tmp_path, "revoke-token", "999999") == 2
    assert "No token 999999" in capsys.readouterr().err
    assert whoami(client, other.tokens["admin"]) == 200
    assert api_tokens.list_tokens(core, shop.shop_id)[-1].id == ident


# --------------------------------------------------------------- OpenAPI


def test_the_operations_answer_and_refuse_as_documented(client: Any, shop: Shop) -> None:
    """The documented answers, checked against their schemas (closed: an
    undocumented property fails), with the document's own paths."""
    from shared.web.openapi import document
    from tests.test_openapi import Api

    api = Api(client, document())
    admin = shop.headers()
    tokens = api.call("listTokens", headers=admin, expect=200).get_json()["tokens"]
    lounge = next(t for t in tokens if t["name"] == "test display-lounge")
    keyed = shop.headers(key="openapi-revoke")
    first = api.call(
        "revokeToken", params={"token_id": lounge["id"]}, body={}, headers=keyed, expect=200
    )
    replay = api.call(
        "revokeToken", params={"token_id": lounge["id"]}, body={}, headers=keyed, expect=200
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    api.call("listAudit", headers=admin, query={"limit": "2"}, expect=200)
    api.call("listAudit", headers=admin, query={"format": "csv"}, expect=200)
    unknown = {"token_id": 999_999}
    for op in ("listTokens", "revokeToken", "listAudit"):
        body = {} if op == "revokeToken" else None
        api.call(op, params=unknown, body=body, expect=401)
        api.call(op, params=unknown, body=body, headers=shop.headers("display-board"), expect=403)
    api.call("revokeToken", params=unknown, body={}, headers=admin, expect=404)
    api.call("listAudit", query={"order_id": "999999"}, headers=admin, expect=404)
    api.call("listAudit", query={"day": "tomorrow"}, headers=admin, expect=422)
