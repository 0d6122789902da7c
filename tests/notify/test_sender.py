"""The sender's own rules (issue 17): what it records, quiet hours, opt-out,
the daily cap, stale messages, retries and giving up, a send whose answer
was lost, a crashed sender. Real app, real SQLite, the orders walked through
the REST API, the shop's clock moved by hand; the channel is a recording one
(the end-to-end tests in test_sender_providers.py use the real SDKs)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from shared.domain import notifications as rules
from shared.notify.channel import SendFailed, SendUnsure
from shared.notify.retry import RetryPolicy
from shared.notify.sender import Sender
from shared.persistence.notification_models import Notification
from shared.services import notification_commands
from shared.services.core import Core
from tests.conftest import HandClock, Shop
from tests.notify.sender_flow import (
    MORNING,
    Recording,
    Taken,
    channels_of,
    consenting,
    order_row,
    request,
    rows,
    set_notify,
)
from tests.reception.flow import Workshop, flask_call, token_of


@pytest.fixture
def clock(core: Core) -> HandClock:
    hand = HandClock(MORNING)
    core.clock = hand
    return hand


@pytest.fixture
def workshop(client: Any, shop: Shop, clock: HandClock) -> Workshop:
    return Workshop(flask_call(client), shop)


@pytest.fixture
def sms() -> Recording:
    return Recording("sms")


@pytest.fixture
def email() -> Recording:
    return Recording("email")


def sender_for(core: Core, *channels: Recording, **more: Any) -> Sender:
    return Sender(
        core,
        sleep=lambda _seconds: None,
        channels_for=channels_of(*channels),
        rng=random.Random(7),
        **more,
    )


def statuses(core: Core, order_id: int) -> list[tuple[str, str, str, str]]:
    return [(m.kind, m.channel, m.status, m.reason) for m in rows(core, order_id)]


def test_a_message_is_sent_once_and_recorded(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording, email: Recording
) -> None:
    order = workshop.create(**consenting())
    sender = sender_for(core, sms, email)
    assert sender.drain_once() == 2
    assert sender.drain_once() == 0
    assert [m.recipient for m in sms.sent] == ["13800000000"]
    assert [m.recipient for m in email.sent] == ["zhang@example.com"]
    message = sms.sent[0]
    # The shop's language (none was chosen at reception), its name, the
    # queue number and the customer's own link; not the customer's name.
    assert message.locale == "zh_Hans"
    assert "测试店" in message.text and f"/t/{token_of(order)}" in message.text
    assert str(order["number"]) in message.text and "张" not in message.text
    assert message.link == order["customer_url"]
    sent = rows(core, order["id"])
    assert [(m.status, m.attempts, m.reason) for m in sent] == [("sent", 1, ""), ("sent", 1, "")]
    assert sent[0].recipient == "13800000000" and sent[0].text == message.text
    assert sent[0].provider_id == "sms-1" and sent[0].locale == "zh_Hans"
    assert sent[0].sent_at == MORNING and sent[0].claimed_by == ""
    assert core.metrics.notification_outcomes[("sms", "sent")] == 1


def test_the_customers_language_is_used(workshop: Workshop, core: Core, sms: Recording) -> None:
    workshop.create(**consenting(("sms",), language="en"))
    sender_for(core, sms).drain_once()
    assert sms.sent[0].locale == "en" and "we have received your car" in sms.sent[0].text


def test_quiet_hours_hold_a_message_until_the_morning_but_not_an_urgent_one(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    # Queued at 20:50 shop time, found by the sender at 22:30 (it was down).
    clock.now = datetime(2026, 5, 4, 12, 50, tzinfo=UTC)
    order = workshop.create(**consenting(("sms",)))
    clock.now = datetime(2026, 5, 4, 14, 30, tzinfo=UTC)
    notification_commands.send_one_off(
        core, request(workshop.shop.shop_id), order["id"], text="钥匙在前台"
    )
    sender = sender_for(core, sms)
    assert sender.drain_once() == 2
    # The advisor's one-off is urgent: it went at once; the other waits.
    assert [m.kind for m in sms.sent] == ["one_off"]
    received = rows(core, order["id"])[0]
    morning = datetime(2026, 5, 5, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert (received.status, received.not_before, received.attempts) == ("queued", morning, 0)
    clock.now = morning - timedelta(minutes=1)
    assert sender.drain_once() == 0
    clock.now = morning
    assert sender.drain_once() == 1
    assert [m.kind for m in sms.sent] == ["one_off", "order_received"]
    assert rows(core, order["id"])[0].sent_at == morning


def test_an_order_received_at_half_past_ten_is_told_at_eight(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    clock.now = datetime(2026, 5, 4, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    order = workshop.create(**consenting(("sms",)))
    sender = sender_for(core, sms)
    # The sender looks through the night: 23:00, 02:00, 07:59 in Shanghai.
    for moment in ((4, 15, 0), (4, 18, 0), (4, 23, 59)):
        clock.now = datetime(2026, 5, *moment, tzinfo=UTC)
        sender.drain_once()
    assert sms.sent == []
    clock.now = datetime(2026, 5, 5, 0, 0, tzinfo=UTC)  # 08:00
    sender.drain_once()
    assert [m.kind for m in sms.sent] == ["order_received"]
    assert rows(core, order["id"])[0].sent_at == clock.now


def test_a_message_found_at_night_after_a_retry_waits_for_the_morning(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    clock.now = datetime(2026, 5, 4, 12, 59, 50, tzinfo=UTC)  # 20:59:50
    order = workshop.create(**consenting(("sms",)))
    sms.failures.append(SendFailed("busy", retry=True))
    sender = sender_for(core, sms)
    sender.drain_once()
    retry_at = rows(core, order["id"])[0].not_before
    clock.now = retry_at  # past 21:00 now
    sender.drain_once()
    assert sms.sent == []
    assert rows(core, order["id"])[0].not_before == datetime(2026, 5, 5, 0, 0, tzinfo=UTC)


def test_an_opt_out_while_the_batch_is_sent_stops_the_rest(
    workshop: Workshop, core: Core, sms: Recording, email: Recording
) -> None:
    order = workshop.create(**consenting())

    def customer_opts_out(_message: Any) -> None:
        # On the tracking page, while the sender holds both messages.
        notification_commands.opt_out(
            core, request(workshop.shop.shop_id), order["id"], source="page"
        )

    sms.on_send = customer_opts_out
    sender_for(core, sms, email).drain_once()
    assert len(sms.sent) == 1 and email.sent == []
    assert statuses(core, order["id"]) == [
        ("order_received", "sms", "sent", ""),
        ("order_received", "email", "suppressed", "opted_out"),
    ]


def test_an_opted_out_order_is_told_nothing_more(
    workshop: Workshop, core: Core, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    sender = sender_for(core, sms)
    sender.drain_once()
    notification_commands.opt_out(core, request(workshop.shop.shop_id), order["id"], source="desk")
    workshop.finish(workshop.start(workshop.get(order["id"])))
    sender.drain_once()
    assert [m.kind for m in sms.sent] == ["order_received"]
    assert [m.status for m in rows(core, order["id"])] == ["sent"]


def test_the_daily_cap_per_order_and_channel(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording, email: Recording
) -> None:
    set_notify(core, workshop.shop.shop_id, max_per_order_per_day=2)
    order = workshop.create(**consenting())
    shop_id = workshop.shop.shop_id
    sender = sender_for(core, sms, email)
    for text in ("一", "二"):
        notification_commands.send_one_off(core, request(shop_id), order["id"], text=text)
        clock.advance(minutes=1)
        sender.drain_once()
    # Two a day on each channel: the received message and the first one-off.
    assert len(sms.sent) == 2 and len(email.sent) == 2
    capped = rows(core, order["id"])[-2:]
    assert [(m.status, m.reason) for m in capped] == [("suppressed", "rate_cap")] * 2
    # The shop's next day (midnight in Shanghai) starts a new count.
    clock.now = datetime(2026, 5, 4, 16, 0, tzinfo=UTC)
    notification_commands.send_one_off(core, request(shop_id), order["id"], text="三")
    sender.drain_once()
    assert len(sms.sent) == 3 and "三" in sms.sent[-1].text


def test_ready_after_the_car_left_is_dropped_not_sent_late(
    workshop: Workshop, core: Core, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    sender = sender_for(core, sms)
    sender.drain_once()
    ready = workshop.finish(workshop.start(workshop.get(order["id"])))
    workshop.hand_over(ready)
    sender.drain_once()  # the sender was busy until the car had left
    assert [m.kind for m in sms.sent] == ["order_received", "survey"]
    assert statuses(core, order["id"]) == [
        ("order_received", "sms", "sent", ""),
        ("ready_for_pickup", "sms", "suppressed", "stale"),
        ("survey", "sms", "sent", ""),
    ]


def test_a_promise_changed_again_sends_only_the_last(
    workshop: Workshop, core: Core, client: Any, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",), language="en"))
    sender = sender_for(core, sms)
    sender.drain_once()
    version = order["version"]
    for new in ("2030-01-02T17:00:00+08:00", "2030-01-03T12:30:00+08:00"):
        response = client.put(
            f"/api/v1/orders/{order['id']}/promise",
            json={"promised_at": new, "reason": "Waiting for a part.", "version": version},
            headers=workshop.shop.headers("advisor", key=f"promise-{new}"),
        )
        assert response.status_code == 200, response.get_json()
        version = response.get_json()["version"]
    sender.drain_once()
    assert [m.kind for m in sms.sent] == ["order_received", "promise_changed"]
    assert "3 Jan 2030 12:30" in sms.sent[-1].text and "Waiting for a part." in sms.sent[-1].text
    assert [m.reason for m in rows(core, order["id"])] == ["", "stale", ""]


def test_a_channel_the_shop_has_not_configured(workshop: Workshop, core: Core) -> None:
    order = workshop.create(**consenting(("sms",)))
    sender_for(core).drain_once()
    assert statuses(core, order["id"]) == [
        ("order_received", "sms", "suppressed", "channel_not_configured")
    ]


def test_retries_back_off_with_jitter_then_send(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    sms.failures += [SendFailed("throttled", retry=True), SendFailed("throttled", retry=True)]
    sender = sender_for(core, sms)
    sender.drain_once()
    first = rows(core, order["id"])[0]
    assert (first.status, first.attempts, first.reason) == ("queued", 1, "throttled")
    assert timedelta(seconds=24) <= first.not_before - MORNING <= timedelta(seconds=30)
    assert sender.drain_once() == 0  # not before its time
    clock.now = first.not_before
    sender.drain_once()
    second = rows(core, order["id"])[0]
    assert second.attempts == 2
    assert timedelta(seconds=48) <= second.not_before - clock.now <= timedelta(seconds=60)
    clock.now = second.not_before
    sender.drain_once()
    done = rows(core, order["id"])[0]
    assert (done.status, done.attempts, done.reason) == ("sent", 3, "")
    assert len(sms.sent) == 1


def test_the_backoff_doubles_to_its_cap() -> None:
    policy = RetryPolicy(jitter=0.0)
    delays = [policy.delay(n, random.Random(1)).total_seconds() for n in range(1, 9)]
    assert delays == [30, 60, 120, 240, 480, 900, 900, 900]
    jittered = RetryPolicy()
    for attempt in range(1, 12):
        delay = jittered.delay(attempt, random.Random(attempt)).total_seconds()
        assert 0.8 * min(900, 30 * 2 ** (attempt - 1)) <= delay <= 900


def test_gives_up_after_its_attempts(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    sms.failures += [SendFailed("busy", retry=True)] * 5
    sender = sender_for(core, sms, policy=RetryPolicy(max_attempts=3))
    for _attempt in range(3):
        sender.drain_once()
        clock.now = max(clock.now, rows(core, order["id"])[0].not_before)
    row = rows(core, order["id"])[0]
    assert (row.status, row.reason, row.attempts) == ("failed", "gave_up", 3)
    assert sender.drain_once() == 0


def test_gives_up_on_a_message_a_day_old(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    clock.advance(hours=24)
    sender_for(core, sms).drain_once()
    assert statuses(core, order["id"]) == [("order_received", "sms", "failed", "gave_up")]
    assert sms.sent == []


def test_a_refusal_that_will_not_change_fails_at_once(
    workshop: Workshop, core: Core, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    sms.failures.append(SendFailed("isv.MOBILE_NUMBER_ILLEGAL", retry=False))
    sender_for(core, sms).drain_once()
    assert statuses(core, order["id"]) == [
        ("order_received", "sms", "failed", "isv.MOBILE_NUMBER_ILLEGAL")
    ]


def test_an_answer_lost_after_the_provider_took_it_is_not_sent_again(
    workshop: Workshop, core: Core, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    sms.failures.append(Taken(SendUnsure("read timeout")))
    sender_for(core, sms).drain_once()
    assert len(sms.sent) == 1 and sms.asked == 1
    assert statuses(core, order["id"]) == [("order_received", "sms", "sent", "")]


def test_a_send_the_provider_never_took_is_sent_again(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    sms.failures.append(SendUnsure("read timeout"))
    sender = sender_for(core, sms)
    sender.drain_once()
    assert rows(core, order["id"])[0].status == "queued"
    clock.now = rows(core, order["id"])[0].not_before
    sender.drain_once()
    assert len(sms.sent) == 1
    assert statuses(core, order["id"]) == [("order_received", "sms", "sent", "")]


def test_when_the_provider_never_tells_a_person_must_look(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    sms.failures.append(SendUnsure("read timeout"))
    sms.answers += [None, None, None]
    sender = sender_for(core, sms, policy=RetryPolicy(max_attempts=3))
    for _round in range(3):
        sender.drain_once()
        held = rows(core, order["id"])[0]
        if held.claimed_until is not None:
            clock.now = held.claimed_until + timedelta(seconds=1)
    # Asked three times without an answer: never sent again, failed for the desk.
    assert len(sms.sent) == 0 and sms.asked == 3
    assert statuses(core, order["id"]) == [("order_received", "sms", "failed", "outcome_unknown")]
    assert rows(core, order["id"])[0].attempts == 3


def test_a_provider_that_cannot_be_asked_yet_is_asked_again_later(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    sms.failures.append(Taken(SendUnsure("read timeout")))
    sms.answers.append(ConnectionRefusedError("network down"))
    sender = sender_for(core, sms)
    sender.drain_once()
    held = rows(core, order["id"])[0]
    # Still "sending": never put back in the queue to be sent blindly.
    assert (held.status, held.claimed_by) == ("sending", "")
    assert held.claimed_until is not None and held.claimed_until > clock.now
    clock.now = held.claimed_until + timedelta(seconds=1)
    sender.drain_once()
    assert len(sms.sent) == 1 and sms.asked == 2
    assert statuses(core, order["id"]) == [("order_received", "sms", "sent", "")]


class Crash(BaseException):
    """The process dies mid-send (nothing after the provider call runs)."""


def test_a_crashed_senders_message_is_asked_about_not_sent_again(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    sms.failures.append(Taken(Crash()))
    with pytest.raises(Crash):
        sender_for(core, sms).drain_once()
    left = rows(core, order["id"])[0]
    assert (left.status, left.attempts, left.recipient) == ("sending", 1, "13800000000")
    # Another sender, before the lease ran out, leaves it alone.
    assert sender_for(core, sms).drain_once() == 0
    assert left.claimed_until is not None
    clock.now = left.claimed_until + timedelta(seconds=1)
    sender_for(core, sms).drain_once()
    assert len(sms.sent) == 1 and sms.asked == 1
    assert statuses(core, order["id"]) == [("order_received", "sms", "sent", "")]


def test_a_crash_before_the_provider_was_called_sends_after_asking(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    sms.failures.append(Crash())  # raised before the provider took anything
    with pytest.raises(Crash):
        sender_for(core, sms).drain_once()
    clock.advance(minutes=6)
    sender_for(core, sms).drain_once()
    assert len(sms.sent) == 1 and sms.asked == 1
    assert statuses(core, order["id"]) == [("order_received", "sms", "sent", "")]


def test_a_stopping_sender_gives_back_what_it_had_not_started(
    workshop: Workshop, core: Core, sms: Recording
) -> None:
    first = workshop.create(**consenting(("sms",)))
    second = workshop.create(**consenting(("sms",)))
    sender = sender_for(core, sms)
    sms.on_send = lambda _message: sender.stop()
    assert sender.drain_once() == 1
    assert [m.status for m in rows(core, first["id"])] == ["sent"]
    left = rows(core, second["id"])[0]
    assert (left.status, left.claimed_by, left.claimed_until) == ("queued", "", None)


def test_delivery_reports_and_an_unsubscribe_reply(
    workshop: Workshop, core: Core, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    other = workshop.create(**consenting(("sms",), phone="13900000000"))
    sender = sender_for(core, sms)
    sender.drain_once()
    sms.reports.append(("sms-1", True, ""))
    sms.inbound += [("+8613800000000", "好的谢谢"), ("+8613800000000", " 退订 ")]
    assert sender.poll_providers() == (1, 1)
    assert rows(core, order["id"])[0].status == "delivered"
    opted = order_row(core, order["id"])
    assert opted.notify_opted_out_at is not None and opted.notify_opt_out == "sms_keyword"
    assert order_row(core, other["id"]).notify_opted_out_at is None
    workshop.finish(workshop.start(workshop.get(order["id"])))
    sender.drain_once()
    assert len(sms.sent) == 2  # the two orders' received messages, nothing since


def test_the_outbox_is_counted_for_metrics(
    workshop: Workshop, core: Core, client: Any, sms: Recording
) -> None:
    from shared.notify.sender import count_outbox

    workshop.create(**consenting())
    sender_for(core, sms).drain_once()
    assert count_outbox(core) == {("sms", "sent"): 1, ("email", "suppressed"): 1}
    text = client.get("/metrics").get_data(as_text=True)
    assert 'baylight_notifications{channel="sms",status="sent"} 1' in text
    assert 'baylight_notifications{channel="email",status="suppressed"} 1' in text
    assert 'baylight_notification_outcomes_total{channel="sms",status="sent"} 1' in text


def test_a_lost_claim_is_not_overwritten(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    slow = sender_for(core, sms)

    def lease_runs_out(_message: Any) -> None:
        # Another sender took the message over meanwhile (the lease ran out).
        with core.db.write() as session:
            session.execute(
                update(Notification)
                .where(Notification.order_id == order["id"])
                .values(claimed_by="someone-else")
            )

    sms.on_send = lease_runs_out
    slow.drain_once()
    row = rows(core, order["id"])[0]
    assert (row.status, row.claimed_by) == ("sending", "someone-else")
    assert row.status == rules.SENDING


def test_a_message_that_breaks_the_sender_is_given_up_not_retried_for_ever(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    # Settings stored before a rule changed, which the sender cannot read.
    set_notify(core, workshop.shop.shop_id, quiet_hours={"start": "late", "end": "08:00"})
    sender = sender_for(core, sms, policy=RetryPolicy(max_attempts=2))
    sender.drain_once()
    first = rows(core, order["id"])[0]
    assert (first.status, first.attempts, first.reason) == ("queued", 1, "sender error")
    clock.now = first.not_before
    sender.drain_once()
    assert statuses(core, order["id"]) == [("order_received", "sms", "failed", "gave_up")]
    assert sms.sent == []


def test_the_desks_hear_that_an_orders_messages_changed(
    workshop: Workshop, core: Core, app: Any, socketio: Any, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    desk = socketio.test_client(app, auth={"token": workshop.shop.tokens["advisor"]})
    assert desk.is_connected()
    desk.get_received()  # the snapshot
    sender_for(core, sms).drain_once()
    hints = [m["args"][0] for m in desk.get_received() if m["name"] == "notifications"]
    assert hints == [{"order_id": order["id"]}]
    desk.disconnect()


def test_channels_that_cannot_be_built_do_not_suppress_the_message(
    workshop: Workshop, core: Core, clock: HandClock, sms: Recording
) -> None:
    order = workshop.create(**consenting(("sms",)))
    broken = True

    def channels_for(_settings: Any, _shop_settings: Any) -> dict[str, Recording]:
        if broken:
            raise RuntimeError("the SDK failed to load")
        return {"sms": sms}

    sender = Sender(core, sleep=lambda _s: None, channels_for=channels_for, rng=random.Random(1))
    sender.drain_once()
    first = rows(core, order["id"])[0]
    assert (first.status, first.reason) == ("queued", "sender error")
    broken = False
    clock.now = first.not_before
    sender.drain_once()
    assert statuses(core, order["id"]) == [("order_received", "sms", "sent", "")]


@pytest.mark.parametrize(
    ("text", "stop"),
    [
        ("退订", True),
        (" TD ", True),
        ("td。", True),
        ("T", True),
        ("stop!", True),
        ("退訂", True),
        ("Thanks", False),
        ("TD please call me", False),
        ("好的", False),
        ("", False),
    ],
)
def test_unsubscribe_keywords(text: str, stop: bool) -> None:
    from shared.notify.replies import is_stop

    assert is_stop(text) is stop


def test_a_phone_is_matched_in_its_spellings() -> None:
    from shared.notify.replies import phone_variants

    spellings = set(phone_variants("+86 138-0000-0000"))
    assert {"13800000000", "8613800000000", "+8613800000000"} <= spellings
    assert "13800000000" in phone_variants("8613800000000")
    assert phone_variants("") == ()
