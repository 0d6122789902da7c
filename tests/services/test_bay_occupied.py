"""One bay, one car, through the real services on a real database.

Dispatching to a bay that already holds as many cars as it takes is refused
with 409 ``bay_occupied`` naming the car(s) on it, and nothing changes; the
check runs inside the command's transaction under the shop row lock, so eight
foremen racing for one bay (on a real server, and on PostgreSQL with two
processes' worth of connections) leave exactly one car on it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests
from sqlalchemy import func, select

from shared.config import Settings
from shared.domain import errors
from shared.domain.stages import CHECK_CHAIN, PauseReason, Stage
from shared.persistence.models import Bay, OrderEvent, RepairOrder
from shared.services import orders, queries, setup
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest, Outcome
from shared.services.core import Core
from shared.web.app import create_app
from tests.conftest import LiveServer, Shop, offline_core, seed_shop, wait_for_lock_waiters

RACERS = 8


def request(core: Core, shop: Shop, role: str = "foreman") -> CommandRequest:
    principal = resolve_bearer(core, shop.tokens[role])
    assert principal is not None
    return CommandRequest(actor=principal.actor(), shop_id=shop.shop_id)


@dataclass
class Car:
    """One order as the tests last saw it."""

    id: int
    number: int
    plate: str
    version: int
    stage: str

    @classmethod
    def of(cls, order: dict[str, Any]) -> Car:
        return cls(order["id"], order["number"], order["plate"], order["version"], order["stage"])


class Floor:
    """The services as reception, the foreman and the floor use them, on one
    shop: the foreman dispatches; stage moves and checks are signed by an
    admin, who may make every move, so that each test reads as its flow."""

    def __init__(self, core: Core, shop: Shop) -> None:
        self.core = core
        self.shop = shop

    def arrive(self, plate: str, *, wash: bool = False) -> Car:
        created = orders.create_order(
            self.core, request(self.core, self.shop, "advisor"), plate=plate, wash=wash
        )
        return Car.of(created.body)

    def assign(self, car: Car, bay: str, technician: int | None = None) -> Car:
        outcome = orders.assign_order(
            self.core,
            request(self.core, self.shop),
            car.id,
            bay=bay,
            technicians=[technician or self.shop.technicians[0]],
            version=car.version,
        )
        return Car.of(outcome.body)

    def move(self, car: Car, to: Stage, **kwargs: Any) -> Car:
        outcome = orders.transition_order(
            self.core,
            request(self.core, self.shop, "admin"),
            car.id,
            to=to,
            version=car.version,
            **kwargs,
        )
        return Car.of(outcome.body)

    def through_checks(self, car: Car) -> Car:
        for _ in CHECK_CHAIN:
            car = Car.of(
                orders.pass_check(
                    self.core, request(self.core, self.shop, "admin"), car.id, version=car.version
                ).body
            )
        return car

    def on_bay(self, bay: str, *, wash: bool = False, plate: str = "粤A00001") -> Car:
        return self.assign(self.arrive(plate, wash=wash), bay)

    def refused(self, command: Callable[[], object]) -> errors.BayOccupied:
        with pytest.raises(errors.BayOccupied) as refused:
            command()
        return refused.value


@pytest.fixture
def floor(core: Core, shop: Shop) -> Floor:
    return Floor(core, shop)


def add_lane(core: Core, shop: Shop, code: str, capacity: int) -> None:
    """A parking lane that takes ``capacity`` cars (set straight in the table:
    the shop set-up commands are not what is tested here)."""
    with core.db.write() as session:
        session.add(
            Bay(
                shop_id=shop.shop_id,
                code=code,
                name=f"停车道 {code}",
                kind="parking_lane",
                capacity=capacity,
                active=True,
            )
        )


def event_count(core: Core) -> int:
    with core.db.read() as session:
        return int(session.execute(select(func.count()).select_from(OrderEvent)).scalar_one())


# ------------------------------------------------------------ the refusal


def test_a_new_bay_takes_one_car(core: Core, shop: Shop) -> None:
    setup.add_bay(core, shop.shop_id, "B09", "工位 9")
    with core.db.read() as session:
        capacities = dict(session.execute(select(Bay.code, Bay.capacity)).all())
    assert capacities == {"B01": 1, "B02": 1, "B03": 1, "B09": 1}


def test_dispatch_to_a_taken_bay_is_409_naming_the_car_on_it_and_changes_nothing(
    client: Any, core: Core, shop: Shop, floor: Floor
) -> None:
    holder = floor.on_bay("B01", plate="粤B12345")
    late = floor.arrive("粤B67890")
    events_before = event_count(core)

    reply = client.put(
        f"/api/v1/orders/{late.id}/assignment",
        json={"bay": "B01", "technicians": [shop.technicians[1]], "version": late.version},
        headers=shop.headers("foreman"),
    )

    assert reply.status_code == 409
    assert reply.mimetype == "application/problem+json"
    body = reply.get_json()
    assert body["code"] == "bay_occupied" and body["status"] == 409
    assert body["held_by"] == {"id": holder.id, "number": holder.number, "plate": "粤B12345"}
    assert body["holders"] == [body["held_by"]]
    assert (body["bay"], body["capacity"]) == ("B01", 1)
    assert "B01" in body["detail"] and "粤B12345" in body["detail"]
    # The refusal carries the loser's order as it still is, for the screen to redraw.
    assert (body["order"]["id"], body["order"]["stage"]) == (late.id, "checked_in")
    assert body["order"]["version"] == late.version and body["order"]["bay"] is None
    assert event_count(core) == events_before
    stored = queries.get_order(core, shop.shop_id, late.id)
    assert (stored["stage"], stored["version"], stored["bay"]) == ("checked_in", 1, None)

    # Once the car on it leaves, the same dispatch goes through.
    floor.move(holder, Stage.CHECKED_IN)
    again = client.put(
        f"/api/v1/orders/{late.id}/assignment",
        json={"bay": "B01", "technicians": [shop.technicians[1]], "version": late.version},
        headers=shop.headers("foreman"),
    )
    assert again.status_code == 200, again.get_json()
    assert (again.get_json()["bay"], again.get_json()["stage"]) == ("B01", "dispatched")


@pytest.mark.parametrize(
    "stage",
    [Stage.DISPATCHED, Stage.IN_PROGRESS, Stage.PAUSED, Stage.QUALITY_CHECK],
)
def test_every_holding_stage_keeps_the_bay(floor: Floor, stage: Stage) -> None:
    holder = floor.on_bay("B01")
    if stage != Stage.DISPATCHED:
        holder = floor.move(holder, Stage.IN_PROGRESS)
    if stage == Stage.PAUSED:
        holder = floor.move(holder, Stage.PAUSED, pause_reason=PauseReason.PARTS)
    if stage == Stage.QUALITY_CHECK:
        holder = floor.move(holder, Stage.QUALITY_CHECK)
    assert holder.stage == stage
    late = floor.arrive("粤B67890")

    refused = floor.refused(lambda: floor.assign(late, "B01"))

    assert refused.extra["held_by"] == {
        "id": holder.id,
        "number": holder.number,
        "plate": holder.plate,
    }


def test_the_order_reassigned_to_its_own_bay_is_fine(floor: Floor, shop: Shop) -> None:
    car = floor.move(floor.on_bay("B01"), Stage.IN_PROGRESS)
    car = floor.assign(car, "B01", technician=shop.technicians[1])
    assert car.stage == "in_progress"


def test_moving_an_order_to_another_bay_frees_the_old_one(floor: Floor) -> None:
    first = floor.move(floor.on_bay("B01", plate="粤A00001"), Stage.IN_PROGRESS)
    first = floor.assign(first, "B02")

    second = floor.assign(floor.arrive("粤A00002"), "B01")

    assert second.stage == "dispatched"
    third = floor.arrive("粤A00003")
    refused = floor.refused(lambda: floor.assign(third, "B02"))
    assert refused.extra["held_by"]["id"] == first.id  # type: ignore[index]


@pytest.mark.parametrize(
    "leave",
    ["washing", "ready", "delivered", "cancelled", "checked_in"],
)
def test_a_car_that_leaves_repair_frees_its_bay(floor: Floor, leave: str) -> None:
    car = floor.on_bay("B01", wash=leave == "washing")
    if leave == "checked_in":
        car = floor.move(car, Stage.CHECKED_IN)
    elif leave == "cancelled":
        car = floor.move(car, Stage.IN_PROGRESS)
        car = floor.move(car, Stage.PAUSED, pause_reason=PauseReason.PARTS)
        car = floor.move(car, Stage.CANCELLED, reason="customer took the car")
    else:
        car = floor.move(floor.move(car, Stage.IN_PROGRESS), Stage.QUALITY_CHECK)
        car = floor.through_checks(car)
        if leave == "delivered":
            car = floor.move(car, Stage.DELIVERED)
    assert car.stage == leave

    taker = floor.assign(floor.arrive("粤B67890"), "B01")

    assert taker.stage == "dispatched"


def test_a_car_taken_back_into_repair_needs_its_bay_free(floor: Floor) -> None:
    """A ready car failing the handover check goes back on its bay; when
    another car took the bay meanwhile, that is refused like a dispatch."""
    came_back = floor.through_checks(
        floor.move(floor.move(floor.on_bay("B01"), Stage.IN_PROGRESS), Stage.QUALITY_CHECK)
    )
    assert came_back.stage == "ready"
    taker = floor.assign(floor.arrive("粤B67890"), "B01")

    refused = floor.refused(
        lambda: floor.move(came_back, Stage.IN_PROGRESS, reason="noise at handover")
    )

    assert refused.extra["held_by"]["id"] == taker.id  # type: ignore[index]
    assert refused.extra["order"]["stage"] == "ready"  # type: ignore[index]
    floor.assign(taker, "B02")
    back = floor.move(came_back, Stage.IN_PROGRESS, reason="noise at handover")
    assert back.stage == "in_progress"


def test_a_lane_for_two_takes_two_then_refuses_the_third(
    core: Core, shop: Shop, floor: Floor
) -> None:
    add_lane(core, shop, "P1", capacity=2)
    first = floor.on_bay("P1", plate="粤A00001")
    second = floor.on_bay("P1", plate="粤A00002")
    third = floor.arrive("粤A00003")

    refused = floor.refused(lambda: floor.assign(third, "P1"))

    assert (refused.extra["bay"], refused.extra["capacity"]) == ("P1", 2)
    assert [h["id"] for h in refused.extra["holders"]] == [first.id, second.id]  # type: ignore[attr-defined]
    assert refused.extra["held_by"]["id"] == first.id  # type: ignore[index]
    floor.move(second, Stage.CANCELLED, reason="customer left")
    assert floor.assign(third, "P1").stage == "dispatched"


# ------------------------------------------------------------ racing for one bay


def _race(assign: Callable[[int], tuple[int, dict[str, Any]]], car_ids: list[int]) -> list[Any]:
    """Run one assignment per car in its own thread, released together."""
    start = threading.Barrier(len(car_ids))
    results: list[Any] = [None] * len(car_ids)

    def racer(index: int) -> None:
        start.wait()
        try:
            results[index] = assign(car_ids[index])
        except BaseException as failure:  # surfaced by the assertions below
            results[index] = failure

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(len(car_ids))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "an assignment hung"
    return results


def _assert_one_car_on(core: Core, shop_id: int, bay: str, winner: int) -> None:
    with core.db.read() as session:
        rows = session.execute(
            select(
                RepairOrder.id, RepairOrder.stage, RepairOrder.bay, RepairOrder.edit_version
            ).where(RepairOrder.shop_id == shop_id)
        ).all()
    on_bay = [row.id for row in rows if row.bay == bay]
    assert on_bay == [winner]
    # The losers are as their advisor left them: no person's command changed
    # them (``edit_version``; the engine's estimates on a live server may
    # raise ``version`` meanwhile).
    losers = [(row.stage, row.edit_version) for row in rows if row.id != winner]
    assert losers == [("checked_in", 1)] * len(losers)


def test_eight_foremen_racing_for_one_bay_on_a_real_server(
    live: tuple[LiveServer, Shop],
) -> None:
    server, shop = live
    http = requests.Session()
    cars = [
        http.post(
            f"{server.url}/api/v1/orders",
            json={"plate": f"粤C{n:05d}"},
            headers=shop.headers("advisor"),
            timeout=10,
        ).json()
        for n in range(RACERS)
    ]
    http.close()

    def assign(order_id: int) -> tuple[int, dict[str, Any]]:
        reply = requests.put(
            f"{server.url}/api/v1/orders/{order_id}/assignment",
            json={"bay": "B01", "technicians": [shop.technicians[0]], "version": 1},
            headers=shop.headers("foreman"),
            timeout=30,
        )
        return reply.status_code, reply.json()

    results = _race(assign, [car["id"] for car in cars])

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (RACERS - 1), results
    winner = next(body for status, body in results if status == 200)
    for status, body in results:
        if status == 409:
            assert body["code"] == "bay_occupied"
            assert body["held_by"] == {
                "id": winner["id"],
                "number": winner["number"],
                "plate": winner["plate"],
            }
    _assert_one_car_on(shop.core, shop.shop_id, "B01", winner["id"])


@pytest.fixture
def two_processes(migrated_postgres_url: str, tmp_path: Path) -> Iterator[tuple[Core, Core, Shop]]:
    """The app's core on PostgreSQL and a second core standing in for another
    server process: only PostgreSQL's shop row lock keeps their writers apart."""
    settings = Settings.from_env(
        {},
        database_url=migrated_postgres_url,
        instance_path=tmp_path,
        async_mode="threading",
        testing=True,
    )
    app, _socketio = create_app(settings)
    core: Core = app.extensions["baylight"]
    other = offline_core(migrated_postgres_url, tmp_path)
    yield core, other, seed_shop(core)
    other.db.dispose()
    core.db.dispose()


@pytest.mark.postgres
def test_eight_foremen_racing_for_one_bay_on_postgres(
    two_processes: tuple[Core, Core, Shop], migrated_postgres_url: str
) -> None:
    core, other, shop = two_processes
    floor = Floor(core, shop)
    car_ids = [floor.arrive(f"苏E{n:05d}").id for n in range(RACERS)]

    def assign(order_id: int) -> tuple[int, dict[str, Any]]:
        on = (core, other)[order_id % 2]
        try:
            outcome: Outcome = orders.assign_order(
                on,
                request(core, shop),
                order_id,
                bay="B01",
                technicians=[shop.technicians[0]],
                version=1,
            )
        except errors.BayOccupied as refused:
            return refused.status, {"code": refused.code, **refused.extra}
        return outcome.status, outcome.body

    # Hold the shop row until both "processes" have a writer queued on it, so
    # that the first ones in truly race.
    holder = psycopg2.connect(migrated_postgres_url)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM shop WHERE id = %s FOR UPDATE", (shop.shop_id,))
        results: list[Any] = []
        racing = threading.Thread(target=lambda: results.extend(_race(assign, car_ids)))
        racing.start()
        wait_for_lock_waiters(migrated_postgres_url, 2)
    finally:
        holder.rollback()
        holder.close()
    racing.join(60)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (RACERS - 1), results
    winner = next(body for status, body in results if status == 200)
    assert all(
        body["code"] == "bay_occupied" and body["held_by"]["id"] == winner["id"]
        for status, body in results
        if status == 409
    )
    _assert_one_car_on(core, shop.shop_id, "B01", winner["id"])
