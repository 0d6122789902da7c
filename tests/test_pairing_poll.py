"""The pairing poll is throttled as RFC 8628 §3.5 says: a screen polling
sooner than the interval it was given is answered ``slow_down`` (here 429
problem+json with the new ``interval`` and ``Retry-After``), and its interval
grows by five seconds for every later poll. One address is also capped in how
many polls and how many new pairings it may make."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.services import devices
from shared.services.core import Core
from tests.conftest import HandClock, Shop

T0 = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)
POLL = "/api/v1/devices/pairing/poll"
START = "/api/v1/devices/pairing"


@pytest.fixture
def clock(core: Core) -> HandClock:
    made = HandClock(T0)
    core.clock = made
    return made


def start(client: Any, address: str = "192.0.2.10") -> dict[str, Any]:
    reply = client.post(START, json={"kind": "board"}, environ_base={"REMOTE_ADDR": address})
    assert reply.status_code == 201, reply.get_json()
    return dict(reply.get_json())


def poll(client: Any, device_code: str, address: str = "192.0.2.10") -> Any:
    return client.post(
        POLL, json={"device_code": device_code}, environ_base={"REMOTE_ADDR": address}
    )


def test_polling_faster_than_the_interval_is_told_to_slow_down(
    client: Any, clock: HandClock
) -> None:
    started = start(client)
    code, interval = started["device_code"], started["interval"]
    assert interval == devices.POLL_INTERVAL_SECONDS

    assert poll(client, code).get_json()["status"] == "pending"
    clock.advance(seconds=0.5)
    slow = poll(client, code)
    assert slow.status_code == 429
    assert slow.mimetype == "application/problem+json"
    assert slow.get_json()["code"] == "slow_down"
    grown = interval + devices.SLOW_DOWN_STEP_SECONDS
    assert slow.get_json()["interval"] == grown
    # Retry-After says the same wait as the body.
    assert int(slow.headers["Retry-After"]) == grown

    # The old interval is no longer enough: every later poll keeps the new one.
    clock.advance(seconds=interval)
    again = poll(client, code)
    assert again.status_code == 429
    assert again.get_json()["interval"] == grown + devices.SLOW_DOWN_STEP_SECONDS
    clock.advance(seconds=grown + devices.SLOW_DOWN_STEP_SECONDS)
    assert poll(client, code).get_json()["status"] == "pending"


def test_a_screen_that_waits_its_interval_is_never_slowed(client: Any, clock: HandClock) -> None:
    started = start(client)
    for _ in range(10):
        clock.advance(seconds=started["interval"])
        reply = poll(client, started["device_code"])
        assert reply.status_code == 200 and reply.get_json()["status"] == "pending"


def test_the_interval_stops_growing_at_its_ceiling(client: Any, clock: HandClock) -> None:
    started = start(client)
    code = started["device_code"]
    assert poll(client, code).status_code == 200
    intervals = []
    for _ in range(20):
        clock.advance(seconds=1)
        intervals.append(poll(client, code).get_json()["interval"])
    assert max(intervals) == intervals[-1] == devices.MAX_POLL_INTERVAL_SECONDS


def test_the_approved_token_is_handed_over_even_to_an_eager_poll(
    client: Any, clock: HandClock, shop: Shop
) -> None:
    started = start(client)
    assert poll(client, started["device_code"]).get_json()["status"] == "pending"
    devices.approve_pairing(
        shop.core, started["user_code"], kind="board", name="车间大屏", shop_id=shop.shop_id
    )
    clock.advance(seconds=0.2)
    approved = poll(client, started["device_code"])
    assert approved.status_code == 200
    assert approved.get_json()["status"] == "approved" and approved.get_json()["device_token"]


def test_one_address_is_capped_in_polls(client: Any, clock: HandClock) -> None:
    """Many pairings polled from one address, each at its own interval, hit
    the per-address cap; another address is not affected."""
    codes = [start(client, f"198.51.100.{n}")["device_code"] for n in range(1, 8)]
    answers = []
    rounds = devices.POLLS_PER_ADDRESS_PER_MINUTE // len(codes) + 2
    for _ in range(rounds):
        clock.advance(seconds=devices.POLL_INTERVAL_SECONDS)
        answers += [poll(client, code, "203.0.113.5").status_code for code in codes]
    assert answers[: devices.POLLS_PER_ADDRESS_PER_MINUTE] == [200] * (
        devices.POLLS_PER_ADDRESS_PER_MINUTE
    )
    capped = poll(client, codes[0], "203.0.113.5")
    assert capped.status_code == 429
    assert capped.get_json()["code"] == "rate_limited"
    assert int(capped.headers["Retry-After"]) > 0
    clock.advance(seconds=devices.POLL_INTERVAL_SECONDS)
    assert poll(client, codes[0], "203.0.113.6").status_code == 200


def test_one_address_is_capped_in_new_pairings(client: Any) -> None:
    for _ in range(devices.PAIRINGS_PER_ADDRESS_PER_MINUTE):
        start(client, "203.0.113.7")
    refused = client.post(
        START, json={"kind": "board"}, environ_base={"REMOTE_ADDR": "203.0.113.7"}
    )
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "rate_limited"
    start(client, "203.0.113.8")
