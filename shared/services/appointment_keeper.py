"""The appointment keeper: a background task of ``baylight serve`` (issue 18)
that, every minute and off the request path,

- marks the no-shows: a booked appointment not checked in by its start plus
  the shop's grace period becomes ``no_show`` (an event; its capacity
  returns, since only booked appointments hold any);
- queues the reminders through the notification outbox, as ``notification``
  rows of kind ``appointment_reminder`` with ``order_id`` NULL and facts
  {appointment_id, start, when}: the day before (at 10:00 shop time, or at
  once when it was booked later that day, before 20:00) and two hours
  before. Each on the channels the customer agreed to and gave an address
  for, unless they stopped reminders from their link. The sender holds them
  through the quiet hours and drops a reminder whose appointment was
  cancelled or moved (``still_true``). One per appointment, start, moment
  and channel (the dedupe key), however many keepers run.

Writes go through ``commands.execute`` (the shop's row lock: two keepers of
two processes never queue the same reminder, the unique key aside). The
scan for due work is a read in the keeper's own green thread (never on a
real thread: the database pool's locks are green locks there); it sleeps
with the Socket.IO server's ``sleep``, so it cooperates in every async mode.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select

from shared.domain import notifications as rules
from shared.persistence.appointment_models import Appointment
from shared.persistence.models import Shop
from shared.persistence.notification_models import Notification
from shared.services import appointment_settings, appointments
from shared.services.commands import CommandRequest, Transaction, execute
from shared.services.core import Core

log = logging.getLogger(__name__)

EVERY_SECONDS = 60.0
DAY_BEFORE = "day_before"
TWO_HOURS = "two_hours"
# The day-before reminder goes at 10:00 shop time; one booked later that
# day goes at once, but not after 20:00 (the two-hour one still goes).
DAY_BEFORE_AT = time(10, 0)
DAY_BEFORE_UNTIL = time(20, 0)
BEFORE = timedelta(hours=2)
_INSERT = insert(cast(Table, Notification.__table__))


@dataclass(frozen=True)
class Due:
    """One reminder to queue: which appointment, which moment."""

    appointment_id: int
    when: str


def channels(row: Appointment) -> tuple[str, ...]:
    """The channels the customer agreed to and gave an address for."""
    if row.notify_opted_out_at is not None:
        return ()
    address = {rules.SMS: row.customer_phone, rules.EMAIL: row.customer_email}
    agreed = set(row.customer_notify or ())
    return tuple(c for c in rules.CHANNELS if c in agreed and address.get(c))


def due_reminders(row: Appointment, zone: ZoneInfo, now: datetime) -> list[str]:
    """Which reminders of ``row`` are due at ``now`` (already queued ones
    are filtered by their dedupe keys)."""
    if row.status != appointments.BOOKED or now >= row.start or not channels(row):
        return []
    found: list[str] = []
    day_before: date = row.start.astimezone(zone).date() - timedelta(days=1)
    opens = datetime.combine(day_before, DAY_BEFORE_AT, tzinfo=zone)
    closes = datetime.combine(day_before, DAY_BEFORE_UNTIL, tzinfo=zone)
    goes = max(opens, row.created_at)
    if goes < closes and now >= goes and now < row.start - BEFORE:
        found.append(DAY_BEFORE)
    if row.created_at < row.start - BEFORE and now >= row.start - BEFORE:
        found.append(TWO_HOURS)
    return found


def dedupe_key(shop_id: int, row: Appointment, when: str, channel: str) -> str:
    stamp = int(row.start.timestamp())
    return f"{shop_id}-appt{row.id}-{stamp}-{when}-{rules.REMINDER}-{channel}"


def _scan(core: Core, shop_id: int, now: datetime) -> tuple[bool, list[Due]]:
    """(any no-show due, the reminders due) of one shop, read only."""
    with core.db.read() as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            return False, []
        zone = ZoneInfo(shop.timezone)
        grace = timedelta(minutes=appointment_settings.read(shop.settings).grace_minutes)
        rows = (
            session.execute(
                select(Appointment).where(
                    Appointment.shop_id == shop_id,
                    Appointment.status == appointments.BOOKED,
                    Appointment.start <= now + timedelta(days=2),
                )
            )
            .scalars()
            .all()
        )
        late = any(r.start <= now - grace for r in rows)
        wanted = [
            (row, when, channel)
            for row in rows
            for when in due_reminders(row, zone, now)
            for channel in channels(row)
        ]
        if not wanted:
            return late, []
        keys = {dedupe_key(shop_id, r, w, c) for r, w, c in wanted}
        known = set(
            session.execute(
                select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys))
            ).scalars()
        )
        due = sorted(
            {
                Due(row.id, when)
                for row, when, channel in wanted
                if dedupe_key(shop_id, row, when, channel) not in known
            },
            key=lambda d: (d.appointment_id, d.when),
        )
        return late, due


def queue_reminders(core: Core, shop_id: int, due: list[Due]) -> int:
    """Write the due reminders (checked again under the shop's lock)."""

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        zone = ZoneInfo(tx.shop.timezone)
        settings = rules.NotifySettings.from_settings(tx.shop.settings)
        queued = 0
        for item in due:
            row = tx.session.get(Appointment, item.appointment_id)
            if row is None or row.shop_id != tx.locked.id:
                continue
            if item.when not in due_reminders(row, zone, tx.now):
                continue
            for channel in channels(row):
                key = dedupe_key(tx.locked.id, row, item.when, channel)
                exists = tx.session.execute(
                    select(Notification.id).where(Notification.dedupe_key == key)
                ).first()
                if exists is not None:
                    continue
                tx.session.connection().execute(
                    _INSERT,
                    {
                        "shop_id": tx.locked.id,
                        "order_id": None,
                        "kind": rules.REMINDER,
                        "channel": channel,
                        "dedupe_key": key,
                        "seq": None,
                        "facts": {
                            "appointment_id": row.id,
                            "start": row.start.isoformat(),
                            "when": item.when,
                        },
                        "recipient": "",
                        "locale": row.customer_language or "",
                        "text": "",
                        "status": rules.QUEUED,
                        "reason": "",
                        "attempts": 0,
                        "not_before": rules.quiet_until(rules.REMINDER, tx.now, zone, settings),
                        "claimed_by": "",
                        "claimed_until": None,
                        "provider_id": "",
                        "created_at": tx.now,
                        "updated_at": tx.now,
                        "sent_at": None,
                        "by": "",
                    },
                )
                queued += 1
        return 200, {"queued": queued}

    outcome = execute(
        core, CommandRequest(appointments.KEEPER, shop_id), "appointment_reminders", work
    )
    return int(outcome.body["queued"])


@dataclass(frozen=True)
class Round:
    no_shows: int
    reminders: int


class AppointmentKeeper:
    """The per-process background task (``run``) and single rounds (``round``)."""

    def __init__(
        self, core: Core, sleep: Callable[[float], object], every: float | None = None
    ) -> None:
        self.core = core
        self.sleep = sleep
        # ``EVERY_SECONDS`` is read when the keeper is made, not when this
        # module is imported: a test's server sets it shorter.
        self.every = EVERY_SECONDS if every is None else every

    def _shops(self) -> list[int]:
        with self.core.db.read() as session:
            return list(session.execute(select(Shop.id).order_by(Shop.id)).scalars())

    def _read(self, call: Callable[[], Any]) -> Any:
        # Read here, not on a real thread: the database pool's locks are
        # green locks under eventlet/gevent, and one waited on from a real
        # thread cannot be woken (the server stalled: "Cannot switch to a
        # different thread"). A shop's due appointments, once a minute.
        return call()

    def round(self, now: datetime | None = None) -> Round:
        """One pass over every shop."""
        moment = (now or self.core.now()).astimezone(UTC)
        no_shows = reminders = 0
        for shop_id in self._read(self._shops):
            late, due = self._read(functools.partial(_scan, self.core, shop_id, moment))
            if late:
                no_shows += appointments.mark_due_no_shows(self.core, shop_id)
            if due:
                reminders += queue_reminders(self.core, shop_id, due)
            self.sleep(0)
        return Round(no_shows, reminders)

    def run(self) -> None:
        while True:
            self.sleep(self.every)
            try:
                self.round()
            except Exception:
                log.warning("the appointment keeper's round failed", exc_info=True)
