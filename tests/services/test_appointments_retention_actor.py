"""An online booking's log names its booker ``online:<shop>:<phone>`` (the
Idempotency-Key's scope): retention and the customer's erasure blank that
phone with the rest of the appointment's personal data. Real app, real
SQLite, the public booking service and the desk's erase."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import select

from shared.persistence.appointment_models import AppointmentEvent
from shared.persistence.models import Shop
from shared.services import appointment_public, appointments, privacy_requests, retention
from shared.services.core import Core
from tests.conftest import HandClock
from tests.reception.flow import Workshop, flask_call
from tests.services.test_appointments import NOW, at, request
from tests.services.test_appointments_public import online

PHONE = "13900000000"


def actors(core: Core, appointment_id: int) -> list[str]:
    with core.db.read() as session:
        return list(
            session.execute(
                select(AppointmentEvent.actor)
                .where(AppointmentEvent.appointment_id == appointment_id)
                .order_by(AppointmentEvent.id)
            ).scalars()
        )


def test_retention_blanks_the_online_bookers_phone(core: Core, shop: Any) -> None:
    clock = HandClock(NOW)
    core.clock = clock
    with core.db.write() as session:
        row = session.get(Shop, shop.shop_id)
        assert row is not None
        row.settings = {**(row.settings or {}), "retention_days": 30}
    booked = appointment_public.book_online(core, "test", online(at(9), phone=PHONE)).body
    appointment_id = appointments.list_day(core, shop.shop_id, at(9).date())[0]["id"]
    assert booked["plate"] and any(PHONE in a for a in actors(core, appointment_id))
    clock.now = at(9).astimezone(UTC) + timedelta(days=31)
    assert retention.run_retention(core, [shop.shop_id])[0].appointments == [appointment_id]
    after = actors(core, appointment_id)
    assert after and all(PHONE not in a for a in after)
    assert after[0] == f"online:{shop.shop_id}:"


def test_erasing_the_customer_blanks_the_booking_that_became_the_order(
    core: Core, client: Any, shop: Any
) -> None:
    clock = HandClock(NOW)
    core.clock = clock
    appointment_public.book_online(core, "test", online(at(9), phone=PHONE))
    listed = appointments.list_day(core, shop.shop_id, at(9).date())[0]
    clock.now = at(9).astimezone(UTC)
    order = appointments.check_in(
        core, request(core, shop), listed["id"], version=listed["version"]
    ).body
    workshop = Workshop(flask_call(client), shop)
    workshop.move(workshop.get(order["id"]), "cancelled", reason="客户改主意")
    privacy_requests.erase_customer_data(core, request(core, shop, "admin"), "沪C33333", PHONE)
    after = appointments.get(core, shop.shop_id, listed["id"])
    assert after["customer"]["phone"] == "" and after["customer"]["name"] == ""
    assert all(PHONE not in a for a in actors(core, listed["id"]))
