"""A customer's SMS reply 退订/TD stops messages only in the shops whose SMS
channel is the one that reported it: an installation's account (from the
environment) serves every shop without SMS settings of its own, a shop's
own account serves that shop alone. The reply stops that phone's orders
and its appointments' reminders there, and nowhere else. Real app, real
SQLite, two shops; recording channels."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from shared.config import Settings
from shared.domain import notifications as rules
from shared.notify.channel import Channel
from shared.notify.sender import Sender
from shared.persistence.appointment_models import Appointment, AppointmentEvent
from shared.persistence.models import Shop as ShopRow
from shared.services import appointments
from shared.services.appointment_keeper import AppointmentKeeper
from shared.services.core import Core
from tests.conftest import HandClock, Shop, seed_shop
from tests.notify.sender_flow import Recording, consenting, order_row, rows
from tests.notify.test_reminders import WEDNESDAY, local, visit
from tests.reception.flow import Workshop, flask_call
from tests.services.test_appointments import request

PHONE = "13800000000"


@pytest.fixture
def clock(core: Core) -> HandClock:
    hand = HandClock(local(date(2026, 6, 1), 9))
    core.clock = hand
    return hand


def own_sms(core: Core, shop_id: int) -> None:
    """The shop has its own SMS account (``notify_providers.sms``)."""
    with core.db.write() as session:
        row = session.get(ShopRow, shop_id)
        assert row is not None
        row.settings = {
            **(row.settings or {}),
            "notify_providers": {"sms": {"provider": "tencent", "sign_name": "自己的店"}},
        }


def reminded(core: Core, appointment_id: int) -> bool:
    with core.db.read() as session:
        row = session.get(Appointment, appointment_id)
        assert row is not None
        return row.notify_opted_out_at is None


def test_a_reply_stops_messages_only_where_its_channel_serves(
    core: Core, client: Any, shop: Shop, clock: HandClock
) -> None:
    installation = Recording("sms")
    own = Recording("sms")
    other = seed_shop(core, slug="other")
    third = seed_shop(core, slug="third")
    own_sms(core, other.shop_id)

    def channels_for(_settings: Settings, shop_settings: Mapping[str, Any]) -> dict[str, Channel]:
        mine = (shop_settings.get("notify_providers") or {}).get("sms")
        return {"sms": own if mine else installation}

    sender = Sender(core, sleep=lambda _s: None, channels_for=channels_for)
    at_test = Workshop(flask_call(client), shop).create(**consenting(("sms",), phone=PHONE))
    at_other = Workshop(flask_call(client), other).create(**consenting(("sms",), phone=PHONE))
    at_third = Workshop(flask_call(client), third).create(**consenting(("sms",), phone=PHONE))
    sender.drain_once()
    assert len(installation.sent) == 2 and len(own.sent) == 1
    booked = {
        s.shop_id: appointments.book(
            core, request(core, s), visit(local(WEDNESDAY, 9), ("sms",))
        ).body["id"]
        for s in (shop, other, third)
    }
    clock.now = local(date(2026, 6, 2), 10)
    # The reminders are queued (not sent yet) when the replies come.
    assert AppointmentKeeper(core, lambda _s: None).round().reminders == 3

    # The shop's own account reports the reply: only that shop stops.
    own.inbound.append(("+86" + PHONE, "退订"))
    assert sender.poll_providers() == (0, 1)
    assert order_row(core, at_other["id"]).notify_opt_out == "sms_keyword"
    assert order_row(core, at_test["id"]).notify_opted_out_at is None
    assert order_row(core, at_third["id"]).notify_opted_out_at is None
    assert not reminded(core, booked[other.shop_id])
    assert reminded(core, booked[shop.shop_id]) and reminded(core, booked[third.shop_id])
    statuses = {r.shop_id: (r.status, r.reason) for r in rows(core) if r.kind == rules.REMINDER}
    assert statuses[other.shop_id] == (rules.SUPPRESSED, rules.OPTED_OUT)
    assert statuses[shop.shop_id] == statuses[third.shop_id] == (rules.QUEUED, "")
    with core.db.read() as session:
        stopped = session.execute(
            select(AppointmentEvent.appointment_id, AppointmentEvent.data).where(
                AppointmentEvent.type == "reminders_stopped"
            )
        ).all()
    assert [(a, d) for a, d in stopped] == [(booked[other.shop_id], {"source": "sms_keyword"})]

    # The installation's account reports it: every shop it serves stops.
    installation.inbound.append((PHONE, "TD"))
    assert sender.poll_providers() == (0, 2)
    assert order_row(core, at_test["id"]).notify_opted_out_at is not None
    assert order_row(core, at_third["id"]).notify_opted_out_at is not None
    assert not reminded(core, booked[shop.shop_id]) and not reminded(core, booked[third.shop_id])
    sender.drain_once()
    assert len(installation.sent) == 2 and len(own.sent) == 1
