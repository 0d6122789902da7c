"""Idempotency-Key on the service layer: a replay answers the first result
and changes nothing, another body under the same key is refused, keys are
per caller, ten simultaneous retries still make one order, and old keys are
forgotten only after the 48 hours the shop keeps them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.domain import errors
from shared.domain.stages import Stage
from shared.persistence.models import IdempotencyRecord, OrderEvent, RepairOrder
from shared.services import orders, queries
from shared.services.auth import resolve_bearer
from shared.services.commands import (
    CommandRequest,
    IdempotencyKeyReuse,
    fingerprint,
    purge_idempotency_records,
    validate_idempotency_key,
)
from shared.services.core import Core
from tests.conftest import HandClock

T0 = datetime(2025, 6, 2, 1, 30, tzinfo=UTC)
ORDER_BODY = {"plate": "粤B12345", "customer": {"name": "张三"}}


def request(
    core: Core, shop: Any, role: str, key: str | None, body: Any, path: str = "/api/v1/orders"
) -> CommandRequest:
    principal = resolve_bearer(core, shop.tokens[role])
    assert principal is not None
    return CommandRequest(
        actor=principal.actor(),
        shop_id=shop.shop_id,
        idempotency_key=key,
        fingerprint=fingerprint("POST", path, body),
    )


def create(core: Core, shop: Any, role: str, key: str | None, body: dict[str, Any]) -> Any:
    return orders.create_order(
        core,
        request(core, shop, role, key, body),
        plate=body["plate"],
        customer_name=body.get("customer", {}).get("name", ""),
    )


def count(core: Core, model: Any) -> int:
    with core.db.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.fixture
def clock(core: Core) -> HandClock:
    made = HandClock(T0)
    core.clock = made
    return made


@pytest.fixture
def board(app: Any, socketio: Any, shop: Any) -> Iterator[Any]:
    """The wall board on the real hub, snapshot already read."""
    client = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    assert [m["name"] for m in client.get_received()] == ["snapshot"]
    yield client
    client.disconnect()


def test_replay_answers_the_first_result_and_changes_nothing(
    core: Core, shop: Any, clock: HandClock, board: Any
) -> None:
    created = create(core, shop, "advisor", "open-1", ORDER_BODY)
    order_id = created.body["id"]
    body = {"to": "cancelled", "version": 1, "reason": "客户取消"}
    path = f"/api/v1/orders/{order_id}/transitions"

    def cancel() -> Any:
        return orders.transition_order(
            core,
            request(core, shop, "advisor", "cancel-1", body, path),
            order_id,
            to=Stage.CANCELLED,
            version=1,
            reason="客户取消",
        )

    first = cancel()
    assert not first.replayed
    assert len(board.get_received()) == 2
    seq = queries.current_seq(core, shop.shop_id)
    events = count(core, OrderEvent)
    clock.now += timedelta(hours=3)

    again = cancel()
    reopened = create(core, shop, "advisor", "open-1", ORDER_BODY)

    assert again.replayed and reopened.replayed
    assert (again.status, again.body) == (first.status, first.body)
    assert (reopened.status, reopened.body) == (created.status, created.body)
    assert again.changes == [] and reopened.changes == []
    assert queries.current_seq(core, shop.shop_id) == seq
    assert count(core, OrderEvent) == events
    assert count(core, RepairOrder) == 1
    assert board.get_received() == []


def test_same_key_with_another_body_is_refused(core: Core, shop: Any, board: Any) -> None:
    create(core, shop, "advisor", "open-1", ORDER_BODY)
    board.get_received()
    seq = queries.current_seq(core, shop.shop_id)

    with pytest.raises(IdempotencyKeyReuse) as refused:
        create(core, shop, "advisor", "open-1", {**ORDER_BODY, "plate": "粤B54321"})

    assert refused.value.code == "idempotency_key_reuse"
    assert refused.value.status == 422
    assert isinstance(refused.value, errors.DomainError)
    assert queries.current_seq(core, shop.shop_id) == seq
    assert count(core, RepairOrder) == 1
    assert board.get_received() == []


def test_keys_are_scoped_per_caller(core: Core, shop: Any) -> None:
    advisor_first = create(core, shop, "advisor", "same-key", ORDER_BODY)
    admin_first = create(core, shop, "admin", "same-key", ORDER_BODY)
    advisor_again = create(core, shop, "advisor", "same-key", ORDER_BODY)
    admin_again = create(core, shop, "admin", "same-key", ORDER_BODY)

    assert not advisor_first.replayed and not admin_first.replayed
    assert advisor_first.body["id"] != admin_first.body["id"]
    assert advisor_again.replayed and advisor_again.body == advisor_first.body
    assert admin_again.replayed and admin_again.body == admin_first.body
    assert count(core, OrderEvent) == 2
    with core.db.read() as session:
        keys = session.execute(select(OrderEvent.idempotency_key, OrderEvent.actor)).all()
    assert sorted(keys) == sorted(
        [("same-key", f"token:{ref}") for ref in _token_ids(core, shop, ("advisor", "admin"))]
    )


def _token_ids(core: Core, shop: Any, roles: tuple[str, ...]) -> list[str]:
    refs = []
    for role in roles:
        principal = resolve_bearer(core, shop.tokens[role])
        assert principal is not None
        refs.append(principal.ref.removeprefix("token:"))
    return refs


def test_ten_simultaneous_retries_make_one_order(core: Core, shop: Any, board: Any) -> None:
    start = threading.Barrier(10)
    answers: list[Any] = []
    failures: list[BaseException] = []

    def retry() -> None:
        start.wait()
        try:
            answers.append(create(core, shop, "advisor", "retry-storm", ORDER_BODY))
        except BaseException as failure:
            failures.append(failure)

    threads = [threading.Thread(target=retry) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert failures == []
    assert len(answers) == 10
    assert sum(not a.replayed for a in answers) == 1
    assert all((a.status, a.body) == (answers[0].status, answers[0].body) for a in answers)
    assert count(core, RepairOrder) == 1
    assert count(core, OrderEvent) == 1
    assert count(core, IdempotencyRecord) == 1
    assert [m["args"][0]["seq"] for m in board.get_received()] == [1]


def test_purge_forgets_keys_older_than_48_hours(core: Core, shop: Any, clock: HandClock) -> None:
    create(core, shop, "advisor", "old", ORDER_BODY)
    clock.now = T0 + timedelta(hours=1)
    create(core, shop, "advisor", "recent", {**ORDER_BODY, "plate": "粤B54321"})

    clock.now = T0 + timedelta(hours=48, minutes=30)
    assert purge_idempotency_records(core) == 1

    with core.db.read() as session:
        kept = session.execute(select(IdempotencyRecord.key)).scalars().all()
    assert kept == ["recent"]
    # The recent key still replays; the forgotten one runs again as new.
    assert create(core, shop, "advisor", "recent", {**ORDER_BODY, "plate": "粤B54321"}).replayed
    assert not create(core, shop, "advisor", "old", ORDER_BODY).replayed
    assert count(core, RepairOrder) == 3


@pytest.mark.parametrize(
    "key",
    [
        "x" * 256,
        "has space",
        "tab\there",
        "nul\x00",
        "bell\x07",
        "del\x7f",
        "new\nline",
        "键",
    ],
    ids=["256-chars", "space", "tab", "nul", "bell", "del", "newline", "non-ascii"],
)
def test_validate_idempotency_key_refuses(key: str) -> None:
    with pytest.raises(errors.ValidationFailed) as refused:
        validate_idempotency_key(key)
    assert refused.value.field == "Idempotency-Key"


@pytest.mark.parametrize(
    "key",
    ["x" * 255, "".join(chr(c) for c in range(33, 127)), "a", "3f1c-uuid-ish_KEY.1~"],
    ids=["255-chars", "every-printable", "one-char", "mixed"],
)
def test_validate_idempotency_key_accepts(key: str) -> None:
    assert validate_idempotency_key(key) == key


def test_no_key_means_no_idempotency() -> None:
    assert validate_idempotency_key(None) is None
    assert validate_idempotency_key("") is None
