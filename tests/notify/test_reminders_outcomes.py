"""What becomes of an appointment's messages: a reminder never goes out
after the appointment's start (quiet hours that would hold it past the
start drop it); a booking code leaves no code in the outbox once it was
sent, dropped or failed; a failed reminder or code is on the desk's alert
(without an order: the appointment's time and masked plate). Real app,
real SQLite, the clock moved by hand; recording channels."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from shared.domain import notifications as rules
from shared.notify.channel import SendFailed
from shared.notify.sender import Sender
from shared.services import appointment_public, appointments
from shared.services.appointment_keeper import AppointmentKeeper
from shared.services.core import Core
from tests.conftest import HandClock
from tests.notify.sender_flow import Recording, channels_of, rows, set_notify
from tests.notify.test_reminders import MONDAY, WEDNESDAY, local, visit
from tests.services.test_appointments import request

TUESDAY = date(2026, 6, 2)


@pytest.fixture
def clock(core: Core) -> HandClock:
    hand = HandClock(local(MONDAY, 8))
    core.clock = hand
    return hand


@pytest.fixture
def sms() -> Recording:
    return Recording("sms")


@pytest.fixture
def sender(core: Core, sms: Recording) -> Sender:
    return Sender(core, sleep=lambda _s: None, channels_for=channels_of(sms))


def keeper(core: Core) -> AppointmentKeeper:
    return AppointmentKeeper(core, lambda _s: None)


def test_quiet_hours_past_the_start_drop_the_reminder(
    core: Core, shop: Any, clock: HandClock, sender: Sender, sms: Recording
) -> None:
    # Quiet until 09:30: the two-hour reminder of a 09:00 visit is found at
    # 07:00 and could only go after the visit began.
    set_notify(core, shop.shop_id, quiet_hours={"start": "21:00", "end": "09:30"})
    appointments.book(core, request(core, shop), visit(local(WEDNESDAY, 9), ("sms",)))
    clock.now = local(WEDNESDAY, 7)
    assert keeper(core).round().reminders == 1
    sender.drain_once()
    clock.now = local(WEDNESDAY, 9, 30)
    sender.drain_once()
    assert sms.sent == []
    two_hours = [r for r in rows(core) if r.facts.get("when") == "two_hours"]
    assert [(r.status, r.reason) for r in two_hours] == [(rules.SUPPRESSED, rules.STALE)]


def test_a_reminder_found_after_the_start_is_not_sent(
    core: Core, shop: Any, clock: HandClock, sender: Sender, sms: Recording
) -> None:
    appointments.book(core, request(core, shop), visit(local(TUESDAY, 11), ("sms",)))
    clock.now = local(TUESDAY, 9)
    assert keeper(core).round().reminders == 1  # two hours before
    # The sender was down until after the start (the appointment still booked).
    clock.now = local(TUESDAY, 11, 5)
    sender.drain_once()
    assert sms.sent == []
    assert [(r.status, r.reason) for r in rows(core)] == [(rules.SUPPRESSED, rules.STALE)]


def test_a_sent_code_is_blanked_in_the_outbox(
    core: Core, shop: Any, clock: HandClock, sender: Sender, sms: Recording
) -> None:
    appointment_public.request_code(core, "test", "13900000000")
    code = rows(core)[0].facts["code"]
    sender.drain_once()
    assert len(sms.sent) == 1 and code in sms.sent[0].text
    row = rows(core)[0]
    assert row.status == rules.SENT and row.recipient == "13900000000"
    assert row.facts.get("code") == "" and row.text == ""
    assert code not in repr(row.facts) and row.facts["code_id"]


def test_a_dropped_or_failed_code_is_blanked_too(
    core: Core, shop: Any, clock: HandClock, sender: Sender, sms: Recording
) -> None:
    appointment_public.request_code(core, "test", "13900000000")
    clock.advance(minutes=11)  # expired before it went
    sender.drain_once()
    clock.advance(minutes=2)
    appointment_public.request_code(core, "test", "13900000000")
    sms.failures.append(SendFailed("invalid number", retry=False))
    sender.drain_once()
    found = rows(core)
    assert [(r.status, r.reason) for r in found] == [
        (rules.SUPPRESSED, rules.STALE),
        (rules.FAILED, "invalid number"),
    ]
    assert all(r.facts.get("code") == "" and r.text == "" for r in found)


def test_failed_reminders_and_codes_are_on_the_desks_alert(
    core: Core, client: Any, shop: Any, clock: HandClock, sender: Sender, sms: Recording
) -> None:
    booked = appointments.book(core, request(core, shop), visit(local(WEDNESDAY, 9), ("sms",))).body
    clock.now = local(TUESDAY, 10)
    assert keeper(core).round().reminders == 1
    sms.failures.append(SendFailed("no sms template for appointment_reminder", retry=False))
    sender.drain_once()
    appointment_public.request_code(core, "test", "13900000000")
    sms.failures.append(SendFailed("invalid number", retry=False))
    sender.drain_once()
    answer = client.get("/api/v1/notifications/failed", headers=shop.headers("advisor"))
    assert answer.status_code == 200
    found = answer.get_json()["notifications"]
    assert [(m["kind"], m["reason"]) for m in found] == [
        (rules.BOOKING_CODE, "invalid number"),
        (rules.REMINDER, "no sms template for appointment_reminder"),
    ]
    code, reminder = found
    assert reminder["order_id"] is None and reminder["number"] is None
    assert reminder["appointment_id"] == booked["id"]
    assert reminder["start"] == local(WEDNESDAY, 9).isoformat()
    assert reminder["plate"] == "沪A·***45"
    assert code["order_id"] is None and code["appointment_id"] is None
    assert "13900000000" not in repr(found)
    # Another shop's desk sees none of them.
    from tests.conftest import seed_shop

    other = seed_shop(core, slug="other")
    elsewhere = client.get("/api/v1/notifications/failed", headers=other.headers("advisor"))
    assert elsewhere.get_json() == {"notifications": []}
