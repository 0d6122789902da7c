"""The customer's side: their own appointment behind the link (confirm,
move, cancel, stop reminders), the public page's free starts and online
booking, and the phone check (hashed 6-digit codes, 10 minutes, 5 tries,
rate-limited per phone); real SQLite, the clock moved by hand."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from shared.domain import errors
from shared.domain import notifications as rules
from shared.domain.new_order import Customer
from shared.persistence.appointment_models import BookingCode
from shared.persistence.models import Shop
from shared.persistence.notification_models import Notification
from shared.services import appointment_public as public
from shared.services import appointments
from shared.services.appointments import Booking, Item
from shared.services.core import Core
from tests.conftest import HandClock
from tests.services.test_appointments import NOW, TUESDAY, at, booking, request


@pytest.fixture
def clock(core: Core) -> HandClock:
    hand = HandClock(NOW)
    core.clock = hand
    return hand


def settings(core: Core, shop_id: int, **appointments_: Any) -> None:
    with core.db.write() as session:
        row = session.get(Shop, shop_id)
        assert row is not None
        row.settings = {**(row.settings or {}), "appointments": appointments_}


def token_of(body: dict[str, Any]) -> str:
    return str(body["manage_url"]).rsplit("/", 1)[1]


def test_the_customer_sees_only_their_appointment_and_confirms_it(
    core: Core, shop: Any, clock: HandClock
) -> None:
    booked = appointments.book(core, request(core, shop), booking(at(9))).body
    token = token_of(booked)
    seen = public.by_token(core, token)
    assert seen["status"] == "booked" and not seen["confirmed"]
    assert seen["can_change"] and seen["shop"]["name"] == "测试店"
    flat = repr(seen)
    assert "13800000000" not in flat and "张先生" not in flat
    with pytest.raises(errors.NotFound):
        public.by_token(core, "x" * 43)
    confirmed = public.confirm_by_token(core, token)
    assert confirmed.body["confirmed"] and confirmed.body["version"] == 2
    again = public.confirm_by_token(core, token)
    assert again.body["version"] == 2
    staff = appointments.get(core, shop.shop_id, booked["id"])
    assert staff["confirmed"]


def test_the_customer_moves_then_cancels_and_a_cancelled_one_stays_cancelled(
    core: Core, shop: Any, clock: HandClock
) -> None:
    booked = appointments.book(core, request(core, shop), booking(at(9))).body
    appointments.book(core, request(core, shop), booking(at(10), plate="沪B22222"))
    token = token_of(booked)
    with pytest.raises(appointments.CapacityFull) as full:
        public.reschedule_by_token(core, token, start=at(10))
    assert full.value.extra["alternatives"]
    moved = public.reschedule_by_token(core, token, start=at(11), idempotency_key="m1")
    assert datetime.fromisoformat(moved.body["start"]) == at(11)
    cancelled = public.cancel_by_token(core, token, reason="出差")
    assert cancelled.body["status"] == "cancelled" and not cancelled.body["can_change"]
    with pytest.raises(errors.IllegalTransition) as refused:
        public.confirm_by_token(core, token)
    assert refused.value.extra["appointment"]["status"] == "cancelled"


def online(start: datetime, phone: str = "13900000000") -> Booking:
    return Booking(
        plate="沪C33333",
        start=start,
        customer=Customer(name="王女士", phone=phone, notify=("sms",)),
        items=(Item("小保养", 1.0),),
    )


def test_booking_online_without_the_phone_check(core: Core, shop: Any, clock: HandClock) -> None:
    made = public.book_online(core, "test", online(at(9)), idempotency_key="k")
    assert made.status == 201 and made.body["status"] == "booked"
    replay = public.book_online(core, "test", online(at(9)), idempotency_key="k")
    assert replay.replayed and replay.body == made.body
    staff = appointments.list_day(core, shop.shop_id, TUESDAY)
    assert [a["source"] for a in staff] == ["online"]
    with pytest.raises(appointments.CapacityFull):
        public.book_online(core, "test", online(at(9), phone="13911111111"))


def _sent_code(core: Core) -> str:
    with core.db.read() as session:
        facts = (
            session.execute(
                select(Notification.facts)
                .where(Notification.kind == public.BOOKING_CODE)
                .order_by(Notification.id.desc())
            )
            .scalars()
            .first()
        )
    assert facts is not None
    return str(facts["code"])


def test_the_phone_check_codes(core: Core, shop: Any, clock: HandClock) -> None:
    settings(core, shop.shop_id, phone_verification=True)
    with pytest.raises(public.CodeRefused):
        public.book_online(core, "test", online(at(9)), code="123456")
    public.request_code(core, "test", "139 0000 0000")
    code = _sent_code(core)
    assert re.fullmatch(r"\d{6}", code)
    with core.db.read() as session:
        stored = session.execute(select(BookingCode)).scalar_one()
        message = session.execute(
            select(Notification).where(Notification.kind == public.BOOKING_CODE)
        ).scalar_one()
        assert code not in stored.code_hash and stored.phone == "13900000000"
        assert message.order_id is None and message.channel == rules.SMS
        assert message.not_before == NOW  # urgent: never held for the morning
    # A second code within the minute: 429 with when to come back.
    with pytest.raises(public.CodeThrottled) as throttled:
        public.request_code(core, "test", "13900000000")
    assert 0 < throttled.value.retry_after <= 60
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(public.CodeRefused):
        public.book_online(core, "test", online(at(9)), code=wrong)
    made = public.book_online(core, "test", online(at(9)), code=code)
    assert made.status == 201
    # Used once.
    with pytest.raises(public.CodeRefused):
        public.book_online(core, "test", online(at(10)), code=code)


def test_a_code_dies_after_five_wrong_tries_and_after_ten_minutes(
    core: Core, shop: Any, clock: HandClock
) -> None:
    settings(core, shop.shop_id, phone_verification=True)
    public.request_code(core, "test", "13900000000")
    code = _sent_code(core)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(public.CODE_ATTEMPTS):
        assert not public.verify(core, "test", "13900000000", wrong)
    assert not public.verify(core, "test", "13900000000", code)
    clock.advance(minutes=1)
    public.request_code(core, "test", "13900000000")
    fresh = _sent_code(core)
    assert public.verify(core, "test", "13900000000", fresh)
    clock.advance(minutes=public.CODE_MINUTES)
    assert not public.verify(core, "test", "13900000000", fresh)


def test_five_codes_an_hour_per_phone(core: Core, shop: Any, clock: HandClock) -> None:
    for _ in range(public.CODES_PER_HOUR):
        public.request_code(core, "test", "13900000000")
        clock.advance(minutes=2)
    with pytest.raises(public.CodeThrottled):
        public.request_code(core, "test", "13900000000")
    public.request_code(core, "test", "13911111111")
    clock.advance(minutes=60)
    public.request_code(core, "test", "13900000000")
    assert public.codes_sent(core, shop.shop_id, "13900000000") == public.CODES_PER_HOUR + 1


def test_stopping_reminders_from_the_link(core: Core, shop: Any, clock: HandClock) -> None:
    booked = appointments.book(core, request(core, shop), booking(at(9))).body
    stopped = public.opt_out_by_token(core, token_of(booked))
    assert stopped.body["reminders"] is False
    assert appointments.get(core, shop.shop_id, booked["id"])["reminders"] is False
