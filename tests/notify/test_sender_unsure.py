"""A send whose answer was lost, settled as the channel says it can be: a
channel that can never tell (SMTP) fails it ``outcome_unknown`` at once, so
the desk's alert shows it now; a channel whose provider drops a repeat of
the same id within a window (WeChat's client_msg_id) is sent it again with
the same id inside the window, and leaves it to a person after it; a
channel that can be asked keeps asking with a backoff. Also: a car moved
back to checked in is not "received" again. Real app, real SQLite, the
clock moved by hand; a recording channel."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from shared.notify.channel import SendFailed, SendUnsure, can_tell_sent, repeat_window
from shared.notify.email import Email, SmtpConfig
from shared.notify.sender import Sender
from shared.notify.wechat import WeChatConfig, WeChatTemplates
from shared.services import notification_commands
from shared.services.core import Core
from tests.conftest import HandClock, Shop
from tests.notify.sender_flow import MORNING, Recording, Taken, channels_of, consenting, rows
from tests.reception.flow import Workshop, flask_call


@pytest.fixture
def clock(core: Core) -> HandClock:
    hand = HandClock(MORNING)
    core.clock = hand
    return hand


@pytest.fixture
def workshop(client: Any, shop: Shop, clock: HandClock) -> Workshop:
    return Workshop(flask_call(client), shop)


def sender_for(core: Core, *channels: Recording) -> Sender:
    return Sender(
        core, sleep=lambda _s: None, channels_for=channels_of(*channels), rng=random.Random(7)
    )


def outcome(core: Core, order_id: int) -> list[tuple[str, str, str, int]]:
    return [(m.kind, m.status, m.reason, m.attempts) for m in rows(core, order_id)]


def test_the_channels_say_whether_they_can_tell() -> None:
    wechat = WeChatTemplates(WeChatConfig(app_id="wx1", app_secret="s", templates=()))
    email = Email(SmtpConfig(host="127.0.0.1", port=25, security="auto", mail_from="a@b.cn"))
    assert (can_tell_sent(wechat), repeat_window(wechat)) == (False, 600.0)
    assert (can_tell_sent(email), repeat_window(email)) == (False, None)
    # A channel that does not say (the SMS channels) is one that can be asked.
    assert (can_tell_sent(Recording("sms")), repeat_window(Recording("sms"))) == (True, None)


def test_an_unsure_email_is_for_a_person_at_once(
    workshop: Workshop, core: Core, clock: HandClock
) -> None:
    email = Recording("email", can_tell_sent=False)
    order = workshop.create(**consenting(("email",)))
    email.failures.append(Taken(SendUnsure("no answer to the end of DATA")))
    sender_for(core, email).drain_once()
    # Not asked (it can never answer), not held for hours: failed now, on the desk.
    assert email.asked == 0 and len(email.tries) == 1
    assert outcome(core, order["id"]) == [("order_received", "failed", "outcome_unknown", 1)]
    alert = notification_commands.failed_messages(core, workshop.shop.shop_id, MORNING)
    assert [(m["order_id"], m["reason"]) for m in alert] == [(order["id"], "outcome_unknown")]


def test_a_crashed_email_send_is_for_a_person_not_asked_for_hours(
    workshop: Workshop, core: Core, clock: HandClock
) -> None:
    email = Recording("email", can_tell_sent=False)
    order = workshop.create(**consenting(("email",)))

    class Crash(BaseException):
        pass

    email.failures.append(Taken(Crash()))
    with pytest.raises(Crash):
        sender_for(core, email).drain_once()
    left = rows(core, order["id"])[0]
    assert left.claimed_until is not None
    clock.now = left.claimed_until + timedelta(seconds=1)
    sender_for(core, email).drain_once()
    assert email.asked == 0 and len(email.tries) == 1
    assert outcome(core, order["id"]) == [("order_received", "failed", "outcome_unknown", 1)]


def test_inside_the_repeat_window_it_is_sent_again_with_the_same_id(
    workshop: Workshop, core: Core, clock: HandClock
) -> None:
    wechat = Recording("sms", can_tell_sent=False, repeat_window_seconds=600)
    order = workshop.create(**consenting(("sms",)))
    wechat.failures += [Taken(SendUnsure("read timeout")), SendFailed("refused", retry=True)]
    sender_for(core, wechat).drain_once()
    # The provider drops the repeat of one that went: the same id each time.
    assert len(wechat.tries) == 3 and wechat.asked == 0
    assert len({m.dedupe_key for m in wechat.tries}) == 1
    assert outcome(core, order["id"]) == [("order_received", "sent", "", 3)]
    assert rows(core, order["id"])[0].provider_id == "sms-2"


def test_after_the_repeat_window_the_outcome_is_unknown(
    workshop: Workshop, core: Core, clock: HandClock
) -> None:
    wechat = Recording("sms", can_tell_sent=False, repeat_window_seconds=600)
    order = workshop.create(**consenting(("sms",)))
    wechat.failures += [SendUnsure("read timeout")] * 5
    # Each unanswered send takes five minutes: the second starts 5 minutes
    # after the first, a third would start past the window's last minute.
    wechat.on_send = lambda _message: clock.advance(minutes=5)
    sender_for(core, wechat).drain_once()
    assert len(wechat.tries) == 2 and wechat.asked == 0
    assert outcome(core, order["id"]) == [("order_received", "failed", "outcome_unknown", 2)]
    # Never queued to be sent again later (that could be a second message).
    clock.advance(hours=3)
    assert sender_for(core, wechat).drain_once() == 0 and len(wechat.tries) == 2


def test_a_channel_that_can_be_asked_is_asked_again_later(
    workshop: Workshop, core: Core, clock: HandClock
) -> None:
    sms = Recording("sms")
    order = workshop.create(**consenting(("sms",)))
    sms.failures.append(Taken(SendUnsure("read timeout")))
    sms.answers.append(None)
    sender_for(core, sms).drain_once()
    held = rows(core, order["id"])[0]
    assert (held.status, sms.asked, len(sms.tries)) == ("sending", 1, 1)


def test_a_car_moved_back_to_checked_in_is_not_received_again(
    workshop: Workshop, core: Core, clock: HandClock
) -> None:
    sms = Recording("sms")
    order = workshop.create(**consenting(("sms",)))
    body = {"bay": "B01", "technicians": [workshop.shop.technicians[0]], "version": 1}
    dispatched = workshop._do("PUT", f"/api/v1/orders/{order['id']}/assignment", body, "foreman")
    assert dispatched["stage"] == "dispatched"
    back = workshop.move(dispatched, "checked_in")
    assert back["stage"] == "checked_in"
    sender_for(core, sms).drain_once()
    assert [m.kind for m in rows(core, order["id"])] == ["order_received"]
    assert len(sms.sent) == 1
