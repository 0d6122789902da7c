"""What the sender's tests share: orders with the customer's consent, the
outbox as it stands, the shop's notify settings, and a recording channel
for the tests about the sender's own rules (the end-to-end tests use the
real SDK channels against tests/notify/providers.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from shared.config import Settings
from shared.domain.order import Actor
from shared.domain.stages import Role
from shared.notify.channel import Channel, Outgoing, Sent
from shared.persistence.models import RepairOrder, Shop
from shared.persistence.notification_models import Notification
from shared.services.commands import CommandRequest
from shared.services.core import Core

# 10:00 in Asia/Shanghai (the seeded shop's zone), a Monday.
MORNING = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
ADVISOR = Actor(name="陈顾问", roles=frozenset({Role.ADVISOR}), ref="test:advisor")


def consenting(
    notify: tuple[str, ...] = ("sms", "email"), *, phone: str = "13800000000", **customer: Any
) -> dict[str, Any]:
    """An order body's customer who agreed to be told on ``notify``."""
    return {
        "customer": {
            "name": "张先生",
            "phone": phone,
            "email": "zhang@example.com",
            "notify": list(notify),
            **customer,
        }
    }


def rows(core: Core, order_id: int | None = None) -> list[Notification]:
    """The outbox (of one order), oldest first, as it is now."""
    with core.db.read() as session:
        query = select(Notification).order_by(Notification.id)
        if order_id is not None:
            query = query.where(Notification.order_id == order_id)
        found = list(session.scalars(query))
        session.expunge_all()
        return found


def order_row(core: Core, order_id: int) -> RepairOrder:
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        assert row is not None
        session.expunge_all()
        return row


def set_notify(core: Core, shop_id: int, **notify: Any) -> None:
    """The shop's ``notify`` settings (as the admin's PATCH stores them)."""
    with core.db.write() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        settings = dict(shop.settings or {})
        settings["notify"] = {**settings.get("notify", {}), **notify}
        shop.settings = settings


def no_quiet_hours(core: Core, shop_id: int) -> None:
    """For tests on the real clock (they may run at any hour)."""
    set_notify(core, shop_id, quiet_hours={"start": "00:00", "end": "00:00"})


def request(shop_id: int) -> CommandRequest:
    return CommandRequest(ADVISOR, shop_id)


@dataclass
class Recording:
    """A channel that keeps what it was given, like a provider would.

    ``failures``: what the next sends raise, in order (a ``Taken`` first
    records the message, then raises: the answer lost after the provider
    took it). ``answers``: what ``was_sent`` says, in order, after which it
    tells the truth (an exception in it is raised: the provider unreachable).
    """

    name: str
    rate_per_second: float = 1000.0
    sent: list[Outgoing] = field(default_factory=list, repr=False)
    failures: list[BaseException] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)
    asked: int = 0
    on_send: Callable[[Outgoing], None] | None = None
    reports: list[tuple[str, bool, str]] = field(default_factory=list)
    inbound: list[tuple[str, str]] = field(default_factory=list)
    # What the channel says of itself (``shared.notify.channel``): whether
    # ``was_sent`` can ever answer, and the provider's repeat window.
    can_tell_sent: bool = True
    repeat_window_seconds: float | None = None
    # Every call of ``send``, taken or not.
    tries: list[Outgoing] = field(default_factory=list, repr=False)

    def send(self, message: Outgoing) -> Sent:
        self.tries.append(message)
        if self.on_send is not None:
            self.on_send(message)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Taken):
                self.sent.append(message)
                raise failure.then
            raise failure
        self.sent.append(message)
        return Sent(provider_id=f"{self.name}-{len(self.sent)}")

    def was_sent(self, message: Outgoing) -> bool | None:
        self.asked += 1
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return bool(answer) if answer is not None else None
        return any(m.dedupe_key == message.dedupe_key for m in self.sent)

    def delivery_reports(self) -> list[tuple[str, bool, str]]:
        found, self.reports = self.reports, []
        return found

    def replies(self) -> list[tuple[str, str]]:
        found, self.inbound = self.inbound, []
        return found


class Taken(Exception):
    """The provider took the message, then ``then`` was raised."""

    def __init__(self, then: BaseException) -> None:
        super().__init__(str(then))
        self.then = then


def channels_of(
    *channels: Recording,
) -> Callable[[Settings, Mapping[str, Any]], Mapping[str, Channel]]:
    """A ``channels_for`` that configures exactly ``channels`` for every shop."""
    found: dict[str, Channel] = {c.name: c for c in channels}
    return lambda _settings, _shop_settings: found
