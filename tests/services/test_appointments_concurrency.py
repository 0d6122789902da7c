"""Twenty bookings race for the last free place of a slot: exactly one
wins (201), nineteen are refused 409 ``capacity_full`` with alternatives.
The shop row lock every command takes serialises them, on SQLite and on
PostgreSQL (where each command runs on its own connection and process-wide
threads really wait on the row lock)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.config import Settings
from shared.domain import errors
from shared.persistence.appointment_models import Appointment
from shared.services import appointments
from shared.services.core import Core
from shared.web.app import create_app
from tests.conftest import HandClock, seed_shop
from tests.services.test_appointments import NOW, at, booking, request

RACERS = 20


def race(cores: list[Core], shop: Any) -> list[int | str]:
    """Twenty threads book the same slot at once, spread over ``cores``
    (each its own committer and connection pool, as separate processes
    would be); each one's answer."""
    answers: list[int | str] = []
    lock = threading.Lock()
    start = threading.Barrier(RACERS)

    def racer(index: int) -> None:
        core = cores[index % len(cores)]
        start.wait()
        try:
            outcome = appointments.book(
                core, request(core, shop), booking(at(9), plate=f"沪A{index:05d}")
            )
            answer: int | str = outcome.status
        except errors.DomainError as refused:
            answer = f"{refused.status} {refused.code}"
            assert refused.extra["alternatives"], "a refusal offers other starts"
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    return answers


def check(core: Core, shop_id: int, answers: list[int | str]) -> None:
    assert sorted(answers, key=str) == [201] + ["409 capacity_full"] * (RACERS - 1)
    with core.db.read() as session:
        stored = session.execute(
            select(func.count()).select_from(Appointment).where(Appointment.shop_id == shop_id)
        ).scalar_one()
    assert stored == 1
    slot = next(
        s
        for s in appointments.capacity_view(core, shop_id, at(9).date())["slots"]
        if datetime.fromisoformat(s["start"]) == at(9)
    )
    assert slot["booked"] == slot["capacity"] == 1


def test_twenty_bookings_for_the_last_place_on_sqlite(core: Core, shop: Any) -> None:
    core.clock = HandClock(NOW)
    check(core, shop.shop_id, race([core], shop))


@pytest.fixture
def pg(migrated_postgres_url: str, tmp_path: Path) -> Iterator[tuple[list[Core], Any]]:
    cores: list[Core] = []
    for name in ("one", "two"):
        settings = Settings.from_env(
            {},
            database_url=migrated_postgres_url,
            instance_path=tmp_path / name,
            async_mode="threading",
            testing=True,
        )
        app, _socketio = create_app(settings)
        cores.append(app.extensions["baylight"])
    yield cores, seed_shop(cores[0])
    for core in cores:
        core.db.dispose()


@pytest.mark.postgres
def test_twenty_bookings_for_the_last_place_on_postgresql(pg: tuple[list[Core], Any]) -> None:
    """Two app instances on one database, as two server processes: only the
    shop's row lock (SELECT … FOR UPDATE) stands between their committers."""
    cores, shop = pg
    assert cores[0].db.engine.dialect.name == "postgresql"
    for core in cores:
        core.clock = HandClock(NOW)
    check(cores[0], shop.shop_id, race(cores, shop))
