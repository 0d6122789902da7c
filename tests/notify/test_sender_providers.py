"""The sender end to end (issue 17): the real channels (Alibaba Cloud's SMS
SDK, smtplib) against the local provider servers of tests/notify/providers.py,
the real app on real SQLite, the shop's clock moved by hand. What the
servers recorded is what a customer would have received."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest

from shared.config import Settings
from shared.notify import registry
from shared.notify.channel import Channel
from shared.notify.sender import Sender
from shared.services.core import Core
from tests.conftest import HandClock, Shop
from tests.notify import providers
from tests.notify.providers import AliyunSmsServer, SmtpServer, TencentSmsServer
from tests.notify.sender_flow import MORNING, consenting, rows
from tests.reception.flow import Workshop, flask_call

aliyun_sms_server = providers.aliyun_sms_server
smtp_server = providers.smtp_server
tencent_sms_server = providers.tencent_sms_server


@pytest.fixture
def clock(core: Core) -> HandClock:
    hand = HandClock(MORNING)
    core.clock = hand
    return hand


@pytest.fixture
def workshop(client: Any, shop: Shop, clock: HandClock) -> Workshop:
    return Workshop(flask_call(client), shop)


def real_channels(*servers: Any) -> Callable[[Settings, Mapping[str, Any]], Mapping[str, Channel]]:
    """The registry's channels, configured for ``servers`` as an
    installation's environment would configure them."""
    environ: dict[str, str] = {}
    for server in servers:
        environ.update(server.environ())

    def channels_for(settings: Settings, shop_settings: Mapping[str, Any]) -> Mapping[str, Channel]:
        return registry.channels_for(settings, shop_settings, environ=environ)

    return channels_for


def real_sender(core: Core, *servers: Any) -> Sender:
    return Sender(
        core, sleep=time.sleep, channels_for=real_channels(*servers), rng=random.Random(3)
    )


def test_ten_minutes_without_network_then_every_message_once(
    workshop: Workshop,
    core: Core,
    clock: HandClock,
    aliyun_sms_server: AliyunSmsServer,
    smtp_server: SmtpServer,
) -> None:
    orders = [workshop.create(**consenting()) for _ in range(2)]
    sender = real_sender(core, aliyun_sms_server, smtp_server)
    outage = [
        (timedelta(0), "refuse"),  # the router is off: nothing connects
        (timedelta(minutes=5), "hang"),  # half back: connects, nothing answers
        (timedelta(minutes=10), "ok"),
    ]
    seen: set[str] = set()
    step = timedelta(seconds=15)
    elapsed = timedelta(0)
    while elapsed <= timedelta(minutes=40):
        for start, mode in outage:
            if elapsed == start:
                aliyun_sms_server.set_mode(mode)
                smtp_server.set_mode(mode)
        sender.drain_once()
        seen |= {m.status for m in rows(core)}
        if all(m.status == "sent" for m in rows(core)):
            break
        clock.advance(seconds=step.total_seconds())
        elapsed += step
    messages = rows(core)
    assert [(m.channel, m.status) for m in messages] == [("sms", "sent"), ("email", "sent")] * 2
    # Through the outage: put back after each refusal, held "sending" (never
    # sent blindly) when a request went unanswered, never given up on; out
    # once the network was back.
    assert "failed" not in seen and {"queued", "sending"} <= seen
    assert elapsed > timedelta(minutes=10)
    assert all(m.attempts >= 3 for m in messages)
    # Each customer got each message once: what the providers took.
    sms_keys = sorted(m.dedupe_key for m in messages if m.channel == "sms")
    assert sorted(item.out_id for item in aliyun_sms_server.received) == sms_keys
    mails = smtp_server.received
    assert len(mails) == 2 and len({mail.message_id for mail in mails}) == 2
    assert sorted(mail.rcpt_tos[0] for mail in mails) == ["zhang@example.com"] * 2
    # The provider's own id is recorded for its delivery reports.
    assert {m.provider_id for m in messages if m.channel == "sms"} == {
        item.provider_id for item in aliyun_sms_server.received
    }
    assert len(orders) == 2


def test_an_answer_lost_after_the_provider_took_it_is_asked_about_not_resent(
    workshop: Workshop, core: Core, clock: HandClock, aliyun_sms_server: AliyunSmsServer
) -> None:
    workshop.create(**consenting(("sms",)))
    sender = real_sender(core, aliyun_sms_server)
    # The provider takes the message, its answer never comes back (and the
    # question asked after it gets no answer either).
    aliyun_sms_server.set_mode("drop_reply")
    sender.drain_once()
    held = rows(core)[0]
    assert held.status == "sending" and held.claimed_until is not None
    assert len(aliyun_sms_server.received) == 1
    aliyun_sms_server.set_mode("ok")
    clock.now = held.claimed_until + timedelta(seconds=1)
    sender.drain_once()
    assert [(m.status, m.reason) for m in rows(core)] == [("sent", "")]
    assert len(aliyun_sms_server.received) == 1


def test_a_refused_template_fails_for_the_desk(
    workshop: Workshop, core: Core, aliyun_sms_server: AliyunSmsServer
) -> None:
    workshop.create(**consenting(("sms",)))
    aliyun_sms_server.script("isv.SMS_TEMPLATE_ILLEGAL")
    real_sender(core, aliyun_sms_server).drain_once()
    failed = rows(core)[0]
    assert failed.status == "failed" and failed.reason and failed.attempts == 1
    assert aliyun_sms_server.received == []


def test_delivery_receipts_are_recorded(
    workshop: Workshop, core: Core, aliyun_sms_server: AliyunSmsServer
) -> None:
    workshop.create(**consenting(("sms",)))
    sender = real_sender(core, aliyun_sms_server)
    sender.drain_once()
    sent = rows(core)[0]
    aliyun_sms_server.report(sent.provider_id, delivered=True)
    applied, _opted_out = sender.poll_providers()
    assert applied == 1
    assert rows(core)[0].status == "delivered"


def test_tencent_reports_and_a_td_reply_opt_the_order_out(
    workshop: Workshop, core: Core, tencent_sms_server: TencentSmsServer
) -> None:
    order = workshop.create(**consenting(("sms",)))
    other = workshop.create(**consenting(("sms",), phone="13900000000"))
    sender = real_sender(core, tencent_sms_server)
    sender.drain_once()
    assert len(tencent_sms_server.received) == 2
    tencent_sms_server.reply("13800000000", "TD")
    applied, opted_out = sender.poll_providers()
    # Both messages' carrier reports (SUCCESS), and the one customer's TD.
    assert (applied, opted_out) == (2, 1)
    assert [m.status for m in rows(core)] == ["delivered", "delivered"]
    assert workshop.get(order["id"])["customer"]["opted_out"] is True
    assert workshop.get(other["id"])["customer"]["opted_out"] is False
    # The opted-out order is told nothing more; the other one hears that
    # its car is ready (template 2004).
    for each in (order, other):
        workshop.finish(workshop.start(workshop.get(each["id"])))
    sender.drain_once()
    later = tencent_sms_server.received[2:]
    assert [(item.phone, item.template) for item in later] == [("+8613900000000", "2004")]
