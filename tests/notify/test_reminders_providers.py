"""Reminders and booking codes end to end through the real channels: the
reminder by e-mail through smtplib to a real SMTP server (aiosmtpd), the
booking code by SMS through Alibaba Cloud's SDK to the local stand-in
(its template registered for the kind, as a shop would register it)."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.notify import registry
from shared.notify.sender import Sender
from shared.services import appointment_public, appointments
from shared.services.appointment_keeper import AppointmentKeeper
from shared.services.core import Core
from tests.conftest import HandClock
from tests.notify import providers
from tests.notify.providers import SMS_TEMPLATES, AliyunSmsServer, SmtpServer
from tests.notify.test_reminders import visit
from tests.services.test_appointments import request

aliyun_sms_server = providers.aliyun_sms_server
smtp_server = providers.smtp_server

SHANGHAI = ZoneInfo("Asia/Shanghai")
CODE_TEMPLATE = "SMS_1008"


def local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def sender(core: Core, environ: dict[str, str]) -> Sender:
    return Sender(
        core,
        sleep=time.sleep,
        channels_for=lambda settings, shop: registry.channels_for(settings, shop, environ=environ),
        rng=random.Random(3),
    )


def test_a_reminder_by_e_mail(core: Core, shop: Any, smtp_server: SmtpServer) -> None:
    core.clock = HandClock(local(date(2026, 6, 1), 8))
    booked = appointments.book(
        core, request(core, shop), visit(local(date(2026, 6, 3), 9), ("email",))
    ).body
    core.clock = HandClock(local(date(2026, 6, 2), 10))
    assert AppointmentKeeper(core, lambda _s: None).round().reminders == 1
    sender(core, smtp_server.environ()).drain_once()
    (mail,) = smtp_server.received
    assert mail.rcpt_tos == ["zhang@example.com"]
    assert mail.subject == "测试店：预约提醒"
    assert booked["manage_url"] in mail.text and "明天 09:00" in mail.text


def test_a_booking_code_by_sms(core: Core, shop: Any, aliyun_sms_server: AliyunSmsServer) -> None:
    core.clock = HandClock(local(date(2026, 6, 1), 23))
    aliyun_sms_server.templates = {*SMS_TEMPLATES.values(), CODE_TEMPLATE}
    environ = aliyun_sms_server.environ(
        BAYLIGHT_SMS_TEMPLATES=json.dumps({**SMS_TEMPLATES, "booking_code": CODE_TEMPLATE})
    )
    appointment_public.request_code(core, "test", "13900000000")
    sender(core, environ).drain_once()
    (sms,) = aliyun_sms_server.received
    assert sms.phone == "13900000000" and sms.template == CODE_TEMPLATE
    assert set(sms.params) == {"shop", "code"} and len(sms.params["code"]) == 6
