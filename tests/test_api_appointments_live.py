"""Twenty phones book the last free place of a slot at once against a real
server (eventlet, the default mode of ``baylight serve``): exactly one 201,
nineteen 409 capacity_full with alternatives."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from tests.conftest import LiveServer, Shop

RACERS = 20
WAIT = 30


@pytest.mark.slow
def test_twenty_bookings_for_the_last_place_against_a_real_server(
    live: tuple[LiveServer, Shop],
) -> None:
    server, shop = live
    start = ""
    for ahead in range(2, 16):
        day = (date.today() + timedelta(days=ahead)).isoformat()
        found = requests.get(
            f"{server.url}/api/v1/capacity",
            params={"date": day},
            headers=shop.headers("advisor"),
            timeout=WAIT,
        ).json()
        free = [s["start"] for s in found["slots"] if s["free"] > 0]
        if free:
            start = free[len(free) // 2]
            break
    assert start
    answers: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(RACERS)

    def racer(index: int) -> None:
        body = {
            "plate": f"粤B{index:05d}",
            "customer": {"name": "张先生", "phone": "13800000000"},
            "items": [{"title": "保养", "labour_hours": 1}],
            "start": start,
        }
        barrier.wait()
        response = requests.post(
            f"{server.url}/api/v1/appointments",
            json=body,
            headers=shop.headers("advisor"),
            timeout=WAIT,
        )
        with lock:
            answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 2)
    assert sorted(status for status, _ in answers) == [201] + [409] * (RACERS - 1)
    for status, body in answers:
        if status == 409:
            assert body["code"] == "capacity_full" and body["reason"] == "reception_full"
            assert body["alternatives"] and start not in body["alternatives"]
    listed = requests.get(
        f"{server.url}/api/v1/appointments",
        params={"date": start[:10]},
        headers=shop.headers("advisor"),
        timeout=WAIT,
    ).json()["appointments"]
    assert [a["start"] for a in listed] == [start]
