"""The REST API's budget (600 requests a minute) belongs to a real
credential, or else to the caller's address: a client that invents a new
token for every request shares one budget, the address's."""

from __future__ import annotations

from typing import Any

from tests.conftest import Shop

BUDGET = 600


def test_made_up_tokens_share_the_address_budget(client: Any) -> None:
    statuses = [
        client.get("/api/v1/bays", headers={"Authorization": f"Bearer made-up-{n}"}).status_code
        for n in range(BUDGET + 1)
    ]
    assert statuses[:BUDGET] == [401] * BUDGET
    assert statuses[BUDGET] == 429


def test_a_real_token_keeps_its_own_budget(client: Any, shop: Shop) -> None:
    for n in range(BUDGET):
        client.get("/api/v1/bays", headers={"Authorization": f"Bearer made-up-{n}"})
    assert client.get("/api/v1/bays", headers=shop.headers("admin")).status_code == 200
