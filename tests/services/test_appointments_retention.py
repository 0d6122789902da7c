"""Retention blanks appointments' personal data as it does orders': past
the shop's retention (by the appointment's day) the customer, the car and
their words are emptied in the row, its log and its reminders; the old
link dies; times, status and hours stay. Phone codes go after a day."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shared.domain import errors
from shared.notify.sender import Sender
from shared.persistence.appointment_models import AppointmentEvent, BookingCode
from shared.persistence.models import Shop
from shared.services import appointment_public, appointments, retention
from shared.services.appointment_keeper import AppointmentKeeper
from shared.services.core import Core
from tests.conftest import HandClock
from tests.notify.sender_flow import Recording, channels_of, rows
from tests.services.test_appointments import NOW, at, booking, request


def test_appointments_past_the_retention_are_anonymised(core: Core, shop: Any) -> None:
    clock = HandClock(NOW)
    core.clock = clock
    with core.db.write() as session:
        row = session.get(Shop, shop.shop_id)
        assert row is not None
        row.settings = {**(row.settings or {}), "retention_days": 30}
    kept = appointments.book(core, request(core, shop), booking(at(9))).body
    gone = appointments.book(core, request(core, shop), booking(at(10), plate="沪B22222")).body
    appointments.cancel(core, request(core, shop), gone["id"], reason="张先生出差", version=1)
    clock.now = at(8).astimezone(UTC) - timedelta(hours=15)  # the day before, 17:00
    assert AppointmentKeeper(core, lambda _s: None).round().reminders == 1
    sms = Recording("sms")
    Sender(core, sleep=lambda _s: None, channels_for=channels_of(sms)).drain_once()
    assert [r.recipient for r in rows(core)] == ["13800000000"]
    appointment_public.request_code(core, "test", "13900000000")
    clock.now = at(9).astimezone(UTC) + timedelta(days=31)
    runs = retention.run_retention(core, [shop.shop_id])
    assert runs[0].appointments == [kept["id"], gone["id"]]
    after = appointments.get(core, shop.shop_id, gone["id"])
    assert after["customer"] == {
        "name": "",
        "phone": "",
        "email": "",
        "notify": [],
        "language": "",
    }
    assert after["plate"] != "沪B22222" and "22" in after["plate"]
    assert after["vehicle"] == {"model": "", "vin": "", "mileage": None}
    assert after["complaint"] == "" and after["cancel_reason"] == ""
    assert after["status"] == "cancelled" and after["labour_hours"] == 1.0
    assert [i["title"] for i in after["items"]] == [""]
    with pytest.raises(errors.NotFound):
        appointment_public.by_token(core, gone["manage_url"].rsplit("/", 1)[1])
    with core.db.read() as session:
        data = [e.data for e in session.execute(select(AppointmentEvent)).scalars()]
        assert "张先生出差" not in repr(data)
        assert session.execute(select(BookingCode)).first() is None
    assert all(not r.recipient and not r.text and "code" not in r.facts for r in rows(core))
    # A second run changes nothing.
    assert retention.run_retention(core, [shop.shop_id])[0].appointments == []
