"""Appointment reminders and booking codes through the outbox: the keeper
queues a reminder the day before (10:00, or at once when booked later that
day before 20:00) and two hours before, on the channels the customer agreed
to; the sender composes it from the appointment (its link, its start),
holds it through quiet hours, drops it when the appointment was cancelled
or moved, and stops after the customer's opt-out. The keeper marks
no-shows after the grace period. Real SQLite, the clock moved by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.domain import notifications as rules
from shared.domain.new_order import Customer
from shared.notify.sender import Sender
from shared.services import appointment_public, appointments
from shared.services.appointment_keeper import AppointmentKeeper
from shared.services.appointments import Booking, Item
from shared.services.core import Core
from tests.conftest import HandClock
from tests.notify.sender_flow import Recording, channels_of, rows
from tests.services.test_appointments import request

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 6, 1)
WEDNESDAY = date(2026, 6, 3)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def visit(start: datetime, notify: tuple[str, ...] = ("sms", "email")) -> Booking:
    return Booking(
        plate="沪A12345",
        start=start,
        customer=Customer(
            name="张先生", phone="13800000000", email="zhang@example.com", notify=notify
        ),
        items=(Item("小保养", 1.0),),
    )


@pytest.fixture
def clock(core: Core) -> HandClock:
    hand = HandClock(local(MONDAY, 8))
    core.clock = hand
    return hand


@pytest.fixture
def sms() -> Recording:
    return Recording("sms")


@pytest.fixture
def email() -> Recording:
    return Recording("email")


@pytest.fixture
def sender(core: Core, sms: Recording, email: Recording) -> Sender:
    return Sender(core, sleep=lambda _s: None, channels_for=channels_of(sms, email))


def keeper(core: Core) -> AppointmentKeeper:
    return AppointmentKeeper(core, sleep=lambda _s: None)


def reminders(core: Core) -> list[tuple[str, str, str]]:
    return [(r.facts["when"], r.channel, r.status) for r in rows(core) if r.kind == rules.REMINDER]


def test_the_day_before_at_ten_and_two_hours_before(
    core: Core, shop: Any, clock: HandClock, sender: Sender, sms: Recording, email: Recording
) -> None:
    booked = appointments.book(core, request(core, shop), visit(local(WEDNESDAY, 9))).body
    assert keeper(core).round().reminders == 0
    clock.now = local(date(2026, 6, 2), 9, 59)
    assert keeper(core).round().reminders == 0
    clock.now = local(date(2026, 6, 2), 10, 0)
    assert keeper(core).round().reminders == 2
    assert keeper(core).round().reminders == 0  # never twice
    assert sender.drain_once() == 2
    assert [m.recipient for m in sms.sent] == ["13800000000"]
    assert [m.recipient for m in email.sent] == ["zhang@example.com"]
    text = sms.sent[0].text
    assert booked["manage_url"] in text and "明天 09:00" in text and "测试店" in text
    assert "张先生" not in text and "13800000000" not in text
    assert all(r.order_id is None for r in rows(core))
    # Two hours before is 07:00: inside the quiet hours, so it waits for 08:00.
    clock.now = local(WEDNESDAY, 7, 0)
    assert keeper(core).round().reminders == 2
    assert sender.drain_once() == 0  # queued for the end of the quiet hours
    assert len(sms.sent) == 1
    clock.now = local(WEDNESDAY, 8, 0)
    sender.drain_once()
    assert len(sms.sent) == 2 and "09:00" in sms.sent[1].text
    assert sorted(reminders(core)) == [
        ("day_before", "email", "sent"),
        ("day_before", "sms", "sent"),
        ("two_hours", "email", "sent"),
        ("two_hours", "sms", "sent"),
    ]


def test_booked_later_that_day_goes_at_once_before_twenty(
    core: Core, shop: Any, clock: HandClock
) -> None:
    tuesday = date(2026, 6, 2)
    clock.now = local(MONDAY, 15)
    appointments.book(core, request(core, shop), visit(local(tuesday, 14), notify=("sms",)))
    assert keeper(core).round().reminders == 1
    clock.now = local(MONDAY, 20, 30)
    appointments.book(core, request(core, shop), visit(local(tuesday, 15), notify=("sms",)))
    assert keeper(core).round().reminders == 0
    clock.now = local(tuesday, 13)
    assert keeper(core).round().reminders == 2  # two hours before, both
    assert sorted(w for w, _c, _s in reminders(core)) == ["day_before", "two_hours", "two_hours"]


def test_a_cancelled_or_moved_appointment_s_reminder_is_dropped(
    core: Core, shop: Any, clock: HandClock, sender: Sender, sms: Recording
) -> None:
    one = appointments.book(core, request(core, shop), visit(local(WEDNESDAY, 9), ("sms",))).body
    two = appointments.book(core, request(core, shop), visit(local(WEDNESDAY, 10), ("sms",))).body
    clock.now = local(date(2026, 6, 2), 10)
    assert keeper(core).round().reminders == 2
    appointments.cancel(core, request(core, shop), one["id"], reason="改天", version=1)
    appointments.reschedule(
        core, request(core, shop), two["id"], start=local(WEDNESDAY, 11), version=1
    )
    sender.drain_once()
    assert sms.sent == []
    assert {(r.status, r.reason) for r in rows(core)} == {(rules.SUPPRESSED, rules.STALE)}
    # The moved one is reminded of its new start.
    clock.advance(minutes=1)
    assert keeper(core).round().reminders == 1
    sender.drain_once()
    assert len(sms.sent) == 1 and "11:00" in sms.sent[0].text


def test_stopping_reminders_from_the_link(
    core: Core, shop: Any, clock: HandClock, sender: Sender, sms: Recording
) -> None:
    booked = appointments.book(core, request(core, shop), visit(local(WEDNESDAY, 9), ("sms",))).body
    clock.now = local(date(2026, 6, 2), 10)
    keeper(core).round()
    token = booked["manage_url"].rsplit("/", 1)[1]
    appointment_public.opt_out_by_token(core, token)
    sender.drain_once()
    assert sms.sent == []
    assert [(r.status, r.reason) for r in rows(core)] == [(rules.SUPPRESSED, rules.OPTED_OUT)]
    clock.now = local(WEDNESDAY, 7)
    assert keeper(core).round().reminders == 0


def test_the_keeper_marks_no_shows_after_the_grace(core: Core, shop: Any, clock: HandClock) -> None:
    booked = appointments.book(core, request(core, shop), visit(local(MONDAY, 10), ())).body
    clock.now = local(MONDAY, 10, 29)
    assert keeper(core).round().no_shows == 0
    clock.now = local(MONDAY, 10, 30)
    assert keeper(core).round().no_shows == 1
    assert appointments.get(core, shop.shop_id, booked["id"])["status"] == "no_show"
    assert keeper(core).round().no_shows == 0


def test_a_booking_code_is_texted_at_once_and_names_only_the_shop_and_the_code(
    core: Core, shop: Any, clock: HandClock, sender: Sender, sms: Recording
) -> None:
    clock.now = local(MONDAY, 23)  # quiet hours: a code is urgent all the same
    appointment_public.request_code(core, "test", "13900000000")
    code = rows(core)[0].facts["code"]  # blanked in the row once sent
    sender.drain_once()
    assert len(sms.sent) == 1
    message = sms.sent[0]
    assert message.recipient == "13900000000"
    assert message.text == f"测试店：您的预约验证码是 {code}，10 分钟内有效，请勿告诉他人。"


def test_a_used_or_expired_code_is_not_sent_late(
    core: Core, shop: Any, clock: HandClock, sender: Sender, sms: Recording
) -> None:
    appointment_public.request_code(core, "test", "13900000000")
    clock.advance(minutes=11)
    sender.drain_once()
    assert sms.sent == []
    assert [(r.status, r.reason) for r in rows(core)] == [(rules.SUPPRESSED, rules.STALE)]
