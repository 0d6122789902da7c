"""Shops for the benchmark: seeded straight into the database (shops, bays,
technicians, tokens, paired boards), then orders opened through the API."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from bench.driver import Job

if TYPE_CHECKING:
    from bench.load import Group


@dataclass
class Seeded:
    """A shop's credentials and its in-progress orders."""

    shop_id: int
    admin: str
    board: str
    lounge: str
    drivers: list[str]
    orders: list[dict[str, Any]] = field(default_factory=list)


def seed(
    database_url: str,
    instance: Path,
    shops: int,
    drivers: int,
    prefix: str,
    *,
    role: str = "foreman",
    settings: dict[str, Any] | None = None,
) -> list[Seeded]:
    """Shops with a bay, a technician and tokens, straight into the database.
    ``role``: the drivers' tokens' role; ``settings``: the shops' settings
    (e.g. the notifications block of issue 17's benchmark)."""
    from sqlalchemy import update

    from shared.cli import _offline_core
    from shared.config import Settings
    from shared.persistence.models import Shop
    from shared.services import setup
    from shared.services.auth import create_api_token

    core = _offline_core(Settings.from_env({}, database_url=database_url, instance_path=instance))
    seeded = []
    for n in range(shops):
        shop_id = setup.ensure_shop(core, slug=f"{prefix}{n}", name=f"{prefix} {n}")
        # One lane for every benchmark order: the scenarios measure stage
        # changes and fan-out, not the foreman's bay plan.
        setup.add_bay(core, shop_id, "B01", "B01", kind="parking_lane", capacity=1_000_000)
        setup.create_user(core, shop_id, role="technician", name=f"tech {n}")
        if settings is not None:
            with core.db.write() as session:
                session.execute(update(Shop).where(Shop.id == shop_id).values(settings=settings))

        def token(role: str, name: str, shop_id: int = shop_id) -> str:
            return create_api_token(core, shop_id=shop_id, role=role, name=name)

        seeded.append(
            Seeded(
                shop_id,
                token("admin", "bench admin"),
                token("display-board", "bench board"),
                token("display-lounge", "bench lounge"),
                [token(role, f"bench driver {i}") for i in range(drivers)],
            )
        )
    core.db.dispose()
    return seeded


def seed_boards(
    database_url: str, instance: Path, shop_id: int, count: int, seen_ago_s: float
) -> list[str]:
    """``count`` paired boards of one shop, as a finished pairing leaves them
    (an active device row holding its token's hash), last seen ``seen_ago_s``
    ago, in one transaction; their device tokens, each its own credential."""
    from shared.cli import _offline_core
    from shared.config import Settings
    from shared.persistence.models import Device
    from shared.services.auth import hash_secret, new_secret

    core = _offline_core(Settings.from_env({}, database_url=database_url, instance_path=instance))
    tokens = [new_secret() for _ in range(count)]
    now = core.now()
    seen = now - timedelta(seconds=seen_ago_s)
    with core.db.write() as session:
        session.add_all(
            Device(
                shop_id=shop_id,
                kind="board",
                name=f"bench board {n}",
                status="active",
                token_hash=hash_secret(token),
                created_at=now,
                last_seen_at=seen,
            )
            for n, token in enumerate(tokens)
        )
    core.db.dispose()
    return tokens


def open_orders(
    url: str, shop: Seeded, count: int, customer: Callable[[int], dict[str, Any]] | None = None
) -> None:
    """Orders created, dispatched and started through the API; ``customer``
    gives the n-th order's customer (name, phone, e-mail, consent)."""
    http = requests.Session()
    headers = {"Authorization": f"Bearer {shop.admin}"}
    technicians = http.get(f"{url}/api/v1/technicians", headers=headers, timeout=10).json()
    technician = technicians["technicians"][0]["id"]
    for n in range(count):
        body: dict[str, Any] = {"plate": f"粤B{n:05d}"}
        if customer is not None:
            body["customer"] = customer(n)
        created = http.post(f"{url}/api/v1/orders", json=body, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        order = created.json()
        order = http.put(
            f"{url}/api/v1/orders/{order['id']}/assignment",
            json={"bay": "B01", "technicians": [technician], "version": order["version"]},
            headers=headers,
            timeout=10,
        ).json()
        order = http.post(
            f"{url}/api/v1/orders/{order['id']}/transitions",
            json={"to": "in_progress", "version": order["version"]},
            headers=headers,
            timeout=10,
        ).json()
        assert order["stage"] == "in_progress", order
        shop.orders.append(order)
    http.close()


# How long ``first_estimates`` waits for the engine (its worker starts with
# the server and plans at an idle priority).
FIRST_ESTIMATES_S = 60.0


def first_estimates(url: str, shops: list[Seeded], timeout: float = FIRST_ESTIMATES_S) -> float:
    """Wait until the shop-load engine has recorded its first estimate of
    every order opened (each order's version past the one its start gave
    it); the seconds that took. Opened just before a round, the orders'
    first estimates otherwise came during it, one message per order to
    every screen (42,000 in the 2,000-screen broadcast of 29 November, taken
    then for revisions the driver's changes caused); a screen switched on
    in a running shop meets no such burst. Only where the engine runs
    (``BAYLIGHT_REPLANNING`` on)."""
    started = time.monotonic()
    http = requests.Session()
    try:
        for shop in shops:
            headers = {"Authorization": f"Bearer {shop.admin}"}
            for order in shop.orders:
                address = f"{url}/api/v1/orders/{order['id']}"
                while True:
                    got = http.get(address, headers=headers, timeout=10)
                    got.raise_for_status()
                    if int(got.json()["version"]) > int(order["version"]):
                        break
                    if time.monotonic() - started > timeout:
                        raise RuntimeError(f"no first estimate of order {order['id']} in time")
                    time.sleep(0.2)
    finally:
        http.close()
    return round(time.monotonic() - started, 2)


def customer_token(order: dict[str, Any]) -> str:
    return str(order["customer_url"]).rstrip("/").rsplit("/", 1)[-1]


def jobs_for(url: str, shop: Seeded) -> list[Job]:
    return [
        Job(url, shop.drivers[i % len(shop.drivers)], o["id"], o["version"], o["stage"])
        for i, o in enumerate(shop.orders)
    ]


def busy_dealer(shops: list[Seeded], port: int, url: str) -> tuple[list[Group], list[Job]]:
    """The busy dealer's screens and driver jobs over seeded shops with their
    orders open: per shop six boards, three lounge TVs and the first order's
    customer phone, and one driver job per order."""
    from bench.load import Group

    groups: list[Group] = []
    for shop in shops:
        order_ids = [o["id"] for o in shop.orders]
        groups += [
            Group(6, shop.board, order_ids, port),
            Group(3, shop.lounge, order_ids, port),
            Group(1, customer_token(shop.orders[0]), order_ids, port),
        ]
    return groups, [job for shop in shops for job in jobs_for(url, shop)]
