"""An Idempotency-Key is bound to the first request that used it, whatever
that request's outcome: a refused command still changes no order and emits
nothing, but its key remembers the request and the refusal, so the same
request replays the same refusal and another request under the key is
refused as a reuse. The fingerprint that binds them is total: any JSON body,
lone surrogates included, has one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.config import Settings
from shared.domain import errors
from shared.domain.stages import Stage
from shared.persistence.models import IdempotencyRecord, OrderEvent, RepairOrder
from shared.services import orders, queries
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest, IdempotencyKeyReuse, fingerprint
from shared.services.core import Core
from tests.conftest import Shop, seed_shop


def request(core: Core, shop: Shop, role: str, key: str | None, body: Any, path: str) -> Any:
    principal = resolve_bearer(core, shop.tokens[role])
    assert principal is not None
    return CommandRequest(
        actor=principal.actor(),
        shop_id=shop.shop_id,
        idempotency_key=key,
        fingerprint=fingerprint("POST", path, body) if key else None,
    )


def count(core: Core, model: Any) -> int:
    with core.db.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def new_order(core: Core, shop: Shop) -> int:
    body = {"plate": "粤B12345"}
    created = orders.create_order(
        core, request(core, shop, "advisor", None, body, "/api/v1/orders"), plate="粤B12345"
    )
    return int(created.body["id"])


def cancel(core: Core, shop: Shop, order_id: int, key: str | None, version: int) -> Any:
    """Cancel the order, saying which version the caller saw (the body)."""
    body = {"to": "cancelled", "version": version, "reason": "客户取消"}
    path = f"/api/v1/orders/{order_id}/transitions"
    return orders.transition_order(
        core,
        request(core, shop, "advisor", key, body, path),
        order_id,
        to=Stage.CANCELLED,
        version=version,
        reason="客户取消",
    )


def order_row(core: Core, order_id: int) -> dict[str, Any]:
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        assert row is not None
        return {c.key: getattr(row, c.key) for c in RepairOrder.__table__.columns}


@pytest.fixture
def board(app: Any, socketio: Any, shop: Shop) -> Iterator[Any]:
    client = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    assert [m["name"] for m in client.get_received()] == ["snapshot"]
    yield client
    client.disconnect()


def test_a_refusal_binds_the_key_to_its_request(core: Core, shop: Shop, board: Any) -> None:
    order_id = new_order(core, shop)
    board.get_received()
    before = order_row(core, order_id)
    seq = queries.current_seq(core, shop.shop_id)
    events = count(core, OrderEvent)

    with pytest.raises(errors.StaleVersion) as first:
        cancel(core, shop, order_id, "cancel-1", version=7)
    # The refusal changed nothing and told no screen...
    assert order_row(core, order_id) == before
    assert queries.current_seq(core, shop.shop_id) == seq
    assert count(core, OrderEvent) == events
    assert board.get_received() == []
    # ...but the key now belongs to that request.
    assert count(core, IdempotencyRecord) == 1

    # The same request again: the same refusal, replayed, still changing nothing.
    with pytest.raises(errors.DomainError) as again:
        cancel(core, shop, order_id, "cancel-1", version=7)
    assert (again.value.status, again.value.code, again.value.detail) == (
        409,
        "stale_version",
        first.value.detail,
    )
    assert again.value.extra == first.value.extra
    assert getattr(again.value, "replayed", False) is True

    # Another request under that key (even the corrected one) is a reuse.
    with pytest.raises(IdempotencyKeyReuse):
        cancel(core, shop, order_id, "cancel-1", version=1)
    assert order_row(core, order_id) == before
    assert queries.current_seq(core, shop.shop_id) == seq
    assert board.get_received() == []

    # The corrected request goes with a new key.
    done = cancel(core, shop, order_id, "cancel-2", version=1)
    assert done.status == 200 and done.body["stage"] == "cancelled"


def test_a_refusal_without_a_key_stores_nothing(core: Core, shop: Shop) -> None:
    order_id = new_order(core, shop)
    with pytest.raises(errors.StaleVersion):
        cancel(core, shop, order_id, None, version=7)
    assert count(core, IdempotencyRecord) == 0


def test_simultaneous_refused_retries_bind_one_record(core: Core, shop: Shop) -> None:
    order_id = new_order(core, shop)
    start = threading.Barrier(8)
    codes: list[str] = []
    others: list[BaseException] = []

    def retry() -> None:
        start.wait()
        try:
            cancel(core, shop, order_id, "storm", version=9)
        except errors.DomainError as refused:
            codes.append(refused.code)
        except BaseException as failure:
            others.append(failure)

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert others == []
    assert codes == ["stale_version"] * 8
    assert count(core, IdempotencyRecord) == 1
    assert order_row(core, order_id)["version"] == 1


# ---------------------------------------------------------------- over HTTP


def test_http_replays_the_refusal_as_problem_json(client: Any, shop: Shop) -> None:
    created = client.post(
        "/api/v1/orders", json={"plate": "粤B12345"}, headers=shop.headers("advisor")
    )
    assert created.status_code == 201, created.get_json()
    order_id = created.get_json()["id"]
    path = f"/api/v1/orders/{order_id}/transitions"
    stale = {"to": "cancelled", "version": 5, "reason": "客户取消"}

    first = client.post(path, json=stale, headers=shop.headers("advisor", "k-1"))
    again = client.post(path, json=stale, headers=shop.headers("advisor", "k-1"))
    fixed = client.post(path, json={**stale, "version": 1}, headers=shop.headers("advisor", "k-1"))

    assert first.status_code == again.status_code == 409
    assert first.mimetype == again.mimetype == "application/problem+json"
    assert again.get_json() == first.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert fixed.status_code == 422
    assert fixed.get_json()["code"] == "idempotency_key_reuse"
    current = client.get(f"/api/v1/orders/{order_id}", headers=shop.headers("advisor"))
    assert current.get_json()["version"] == 1


# ---------------------------------------------------------------- the fingerprint


def test_fingerprint_is_total_and_unchanged_for_valid_text() -> None:
    lone = fingerprint("POST", "/api/v1/orders", {"plate": "\ud800"})
    other = fingerprint("POST", "/api/v1/orders", {"plate": "\udfff"})
    assert len(lone) == 64 and lone != other
    # Keys stored before stay valid: ordinary text hashes as it always did.
    body = {"plate": "粤B12345", "items": [{"title": "更换机油"}]}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    expected = hashlib.sha256(f"POST /api/v1/orders\n{canonical}".encode()).hexdigest()
    assert fingerprint("POST", "/api/v1/orders", body) == expected


def test_a_lone_surrogate_with_a_key_is_never_a_server_error(client: Any, shop: Shop) -> None:
    """Raw JSON with an escaped lone surrogate, on a staff and on the
    anonymous customer endpoint; whatever the parser decides, no 500."""
    created = client.post(
        "/api/v1/orders", json={"plate": "粤B12345"}, headers=shop.headers("advisor")
    )
    order = created.get_json()
    token = order["customer_url"].rstrip("/").rsplit("/", 1)[-1]
    cases = [
        ("/api/v1/orders", b'{"plate": "\\ud800"}', shop.headers("advisor", "s-1")),
        (
            f"/api/v1/track/{token}/extra-work/1/decision",
            b'{"approved": true, "quote_version": 1, "\\udc00": 1}',
            {"Idempotency-Key": "s-2"},
        ),
    ]
    for path, raw, headers in cases:
        reply = client.post(path, data=raw, content_type="application/json", headers=headers)
        assert reply.status_code < 500, (path, reply.status_code)
        assert reply.mimetype == "application/problem+json", path


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg(migrated_postgres_url: str, tmp_path: Path) -> Iterator[tuple[Core, Shop]]:
    from shared.web.app import create_app

    settings = Settings.from_env(
        {},
        database_url=migrated_postgres_url,
        instance_path=tmp_path,
        async_mode="threading",
        testing=True,
    )
    app, _socketio = create_app(settings)
    core: Core = app.extensions["baylight"]
    yield core, seed_shop(core)
    core.db.dispose()


@pytest.mark.postgres
def test_on_postgres_the_refusal_is_kept_and_the_order_untouched(pg: tuple[Core, Shop]) -> None:
    core, shop = pg
    order_id = new_order(core, shop)
    before = order_row(core, order_id)
    with pytest.raises(errors.StaleVersion):
        cancel(core, shop, order_id, "pg-1", version=4)
    with pytest.raises(errors.DomainError) as again:
        cancel(core, shop, order_id, "pg-1", version=4)
    assert again.value.code == "stale_version"
    with pytest.raises(IdempotencyKeyReuse):
        cancel(core, shop, order_id, "pg-1", version=1)
    assert order_row(core, order_id) == before
    assert count(core, IdempotencyRecord) == 1
