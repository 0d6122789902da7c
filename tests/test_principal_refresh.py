"""The credentials in use are checked again in one batch before their cached
principal expires (``auth.refresh_principals``, a server's background task):
a token in steady use costs no lookup of its own on a request, a token
revoked elsewhere leaves the cache at that check, and a check that began
before a revocation in this process puts nothing back."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, update

from shared.persistence.models import ApiToken
from shared.services import auth
from shared.services.auth import create_api_token, hash_secret
from shared.services.core import Core, PrincipalCache
from tests.conftest import Shop

TTL = 1.0


def _token_lookups(core: Core) -> tuple[list[str], Any]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM api_token" in statement:
            seen.append(statement)

    event.listen(core.db.engine, "before_cursor_execute", note)
    return seen, note


def test_a_token_in_use_is_checked_in_the_batch_not_on_its_requests(
    client: Any, shop: Shop, core: Core
) -> None:
    core.principals = PrincipalCache(TTL)
    token = create_api_token(core, shop_id=shop.shop_id, role="foreman", name="integration")
    other = create_api_token(core, shop_id=shop.shop_id, role="foreman", name="idle one")
    headers = {"Authorization": f"Bearer {token}"}
    lookups, note = _token_lookups(core)
    try:
        assert client.get("/api/v1/technicians", headers=headers).status_code == 200
        assert (
            client.get(
                "/api/v1/technicians", headers={"Authorization": f"Bearer {other}"}
            ).status_code
            == 200
        )
        assert len(lookups) == 2  # each token's first request looks it up
        time.sleep(TTL * 0.6)
        # Both were asked for since: one batch checks both.
        assert auth.refresh_principals(core) == 2
        assert len(lookups) == 3
        time.sleep(TTL * 0.6)  # past both first expiries
        # The busy token was renewed by the check: its request looks up nothing.
        assert client.get("/api/v1/technicians", headers=headers).status_code == 200
        assert len(lookups) == 3
        # Only the token asked for since the last check is checked again.
        assert auth.refresh_principals(core) == 1
        assert core.principals.get(hash_secret(other)) is not None  # renewed at the first check
        time.sleep(TTL * 1.1)
        assert core.principals.get(hash_secret(other)) is None  # not asked for: expired
        assert auth.refresh_principals(core) == 0
    finally:
        event.remove(core.db.engine, "before_cursor_execute", note)


def test_a_token_revoked_elsewhere_leaves_the_cache_at_the_next_check(
    client: Any, shop: Shop, core: Core
) -> None:
    core.principals = PrincipalCache(TTL)
    token = create_api_token(core, shop_id=shop.shop_id, role="foreman", name="integration")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/technicians", headers=headers).status_code == 200
    # Revoked by another process: this one's cache still holds the token.
    with core.db.write() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_secret(token))
            .values(revoked_at=datetime.now(UTC))
        )
    assert client.get("/api/v1/technicians", headers=headers).status_code == 200
    assert auth.refresh_principals(core) == 1
    assert core.principals.get(hash_secret(token)) is None
    assert client.get("/api/v1/technicians", headers=headers).status_code == 401


def test_a_check_begun_before_a_revocation_here_puts_nothing_back(
    client: Any, shop: Shop, core: Core
) -> None:
    # Nothing here waits for an expiry: a cache that outlives a slow first
    # request on a loaded machine (at TTL the entry was gone before it was
    # taken, in a fresh-clone run).
    core.principals = PrincipalCache(60.0)
    token = create_api_token(core, shop_id=shop.shop_id, role="foreman", name="integration")
    assert (
        client.get("/api/v1/technicians", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    digest = hash_secret(token)
    cache = core.principals
    generation = cache.generation
    used = cache.take_used()
    assert list(used) == [digest]
    valid, _due = auth.principals_of_digests(core, [digest], core.now())
    assert digest in valid
    cache.clear()  # a revocation in this process, while the batch was read
    cache.renew([digest], valid, generation)
    assert cache.get(digest) is None
    # A check that saw no revocation renews as it found.
    cache.put(digest, valid[digest])
    cache.renew([digest], valid, cache.generation)
    assert cache.get(digest) == valid[digest]
