"""The sender: drains the notification outbox (issue 17; docs/NOTIFICATIONS.md).

A message is a ``notification`` row written in the transaction of the event
that caused it (``shared.services.outbox``). The sender runs off the request
path: a background task of ``baylight serve`` and ``baylight notify-worker``,
any number of them at once. Its promises, and how each is kept:

- **One claim per message.** Due rows are claimed a small batch at a time in
  a short write transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two
  workers never take the same row; SQLite: the single writer), committed
  before any provider is called. The claim is a lease (``claimed_until``);
  every later write names the claimant, so a sender whose lease ran out
  cannot overwrite another's outcome.
- **Never twice.** The recipient, text and attempt of every message of a
  claimed batch are committed, in one write transaction, before the first
  of them is sent; the outcomes are committed together after (every
  ``FLUSH_EVERY`` sends or ``FLUSH_SECONDS`` at the latest), so a batch
  costs three commits, not two per message (each is SQLite's fsync under
  the process's single write lock, beside the commands). A send whose
  answer was lost (``SendUnsure``) and a row still ``sending`` past its
  lease (a sender that crashed mid-batch: every message of the batch whose
  outcome was not yet recorded) are not sent again blindly: the channel
  is asked ``was_sent`` with the message's dedupe key. Yes: sent. No:
  sent again. No answer (the provider cannot tell yet, or cannot be
  reached while the network is down): the row stays ``sending`` and is
  asked again after a backoff; once the attempts or the day are spent it
  is failed, ``outcome_unknown``, for a person to look at.
- **Never late, never at night, never too often.** When a batch is
  prepared (seconds before its sends) each order is read again, and once
  more right before each send for an opt-out or a change that made the
  message untrue: opted out → suppressed ``opted_out``; no longer
  true (``notifications.still_true``) → suppressed ``stale``; inside the
  shop's quiet hours (not urgent) → back to the queue until they end;
  ``max_per_order_per_day`` already sent on that channel that shop day
  (counting the batch's own sends not yet recorded) →
  suppressed ``rate_cap``; the channel not configured for the shop →
  suppressed ``channel_not_configured``.
- **Retries.** ``SendFailed(retry=True)`` waits an exponential backoff with
  jitter (``retry.RetryPolicy``; a throttled answer first gets
  ``retry.THROTTLE_RETRIES`` quick tries); after its attempts or a day the message is
  failed ``gave_up``. ``SendFailed(retry=False)`` fails at once.
- **Paced and flat.** Each channel is paced so that no more than its
  ``rate_per_second`` sends reach the provider in any second
  (``retry.Pacer``); a throttled answer is tried again after about a second
  a few times before the backoff. The sender holds one small batch at a
  time, whatever the outbox's size.

It cooperates in every async mode: ``sleep`` is the Socket.IO server's
(``socketio.sleep``) in ``serve`` and an interruptible wait in the worker;
SQLite's commit waits for the disk off the hub (``Database.sync_commit``);
the providers' SDKs talk through sockets that eventlet and gevent patch.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from functools import partial
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from shared.config import ConfigError, Settings
from shared.domain import errors
from shared.domain import notifications as rules
from shared.domain.order import Actor
from shared.domain.stages import Role
from shared.notify import compose, replies
from shared.notify.channel import (
    Channel,
    Outgoing,
    SendFailed,
    SendUnsure,
    Sent,
    can_tell_sent,
    repeat_window,
)
from shared.notify.retry import (
    THROTTLE_PAUSE_SECONDS,
    THROTTLE_RETRIES,
    Pacer,
    RetryPolicy,
    throttled,
)
from shared.persistence.appointment_models import Appointment, BookingCode
from shared.persistence.models import RepairOrder, Shop
from shared.persistence.notification_models import Notification
from shared.persistence.off_hub import run_off_hub
from shared.realtime.publisher import Notice, staff_room
from shared.services import notification_commands
from shared.services.commands import CommandRequest
from shared.services.core import Core
from shared.services.notification_commands import NOTICE
from shared.services.outbox import wants_messages

log = logging.getLogger(__name__)

# Rows claimed per write transaction: small, so a claim is short and a
# stopped or crashed sender holds little.
BATCH = 20
# A batch's outcomes are recorded together, at the latest after this many
# sends or this many seconds (a long paced batch still records progress).
FLUSH_EVERY = 10
FLUSH_SECONDS = 0.5
# How long a claim holds a message; a send takes seconds at most (the
# channels' own timeouts), so a lease this long only runs out on a crash.
LEASE = timedelta(minutes=5)
# How often an idle sender looks for due messages, and polls the providers'
# delivery reports and replies.
IDLE_SECONDS = 1.0
PROVIDER_POLL_SECONDS = 60.0
# The outbox is counted for /metrics this long after a change at the
# soonest (a busy shop's changes are counted together), and at least this
# often (a notify-worker's changes are not heard of).
COUNT_AFTER_CHANGE_SECONDS = 5.0
COUNT_SECONDS = 60.0
# A shop's channels are built again this often (or when its settings change).
CHANNELS_TTL_SECONDS = 300.0
# BAYLIGHT_NOTIFY_SENDER=off: ``serve`` leaves sending to ``notify-worker``.
SENDER_SWITCH = "BAYLIGHT_NOTIFY_SENDER"
# A channel with a repeat window (WeChat's client_msg_id) is sent an unsure
# message again at most this many times, each starting this long before the
# window ends at the latest, with this pause (times the repeat) between them.
REPEATS = 3
REPEAT_MARGIN = timedelta(seconds=60)
REPEAT_PAUSE_SECONDS = 2.0
# Who records an opt-out asked for by an SMS reply.
SMS_REPLY = Actor(name="SMS reply", roles=frozenset({Role.SYSTEM}), ref="system:sms-reply")

N = Notification
T = cast(Table, Notification.__table__)
ChannelsFor = Callable[[Settings, Mapping[str, Any]], Mapping[str, Channel]]


# The statements run for every message, built once: a sender's CPU per
# message is mostly SQLAlchemy building expressions otherwise.
_MINE = and_(
    T.c.id == bindparam("b_id"), T.c.claimed_by == bindparam("b_me"), T.c.status == "sending"
)
_MESSAGE = select(
    T.c.id,
    T.c.shop_id,
    T.c.order_id,
    T.c.kind,
    T.c.channel,
    T.c.dedupe_key,
    T.c.facts,
    T.c.locale,
    T.c.recipient,
    T.c.text,
    T.c.attempts,
    T.c.created_at,
).where(_MINE)
_PREPARE = (
    update(T)
    .where(_MINE)
    .values(
        recipient=bindparam("b_recipient"),
        locale=bindparam("b_locale"),
        text=bindparam("b_text"),
        attempts=T.c.attempts + 1,
        claimed_until=bindparam("b_claimed_until"),
        updated_at=bindparam("b_updated_at"),
    )
)
_SENT_TODAY = (
    select(func.count())
    .select_from(T)
    .where(
        T.c.order_id == bindparam("b_order_id"),
        T.c.channel == bindparam("b_channel"),
        T.c.status.in_((rules.SENT, rules.DELIVERED)),
        T.c.sent_at >= bindparam("b_since"),
    )
)
_SHOP = select(Shop.id, Shop.name, Shop.timezone, Shop.locale, Shop.settings).where(
    Shop.id == bindparam("b_shop_id")
)
_RECORDS: dict[frozenset[str], Any] = {}


def _record_statement(columns: frozenset[str]) -> Any:
    """The outcome's UPDATE for this set of columns (a handful of sets)."""
    statement = _RECORDS.get(columns)
    if statement is None:
        statement = (
            update(T).where(_MINE).values({name: bindparam(f"b_{name}") for name in columns})
        )
        _RECORDS[columns] = statement
    return statement


def sender_in_serve(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``baylight serve`` runs the sender (``SENDER_SWITCH``: on,
    the default, or off when a separate ``notify-worker`` sends)."""
    env = os.environ if environ is None else environ
    value = env.get(SENDER_SWITCH, "").strip().lower()
    if value not in ("", "on", "off"):
        raise ConfigError(f"{SENDER_SWITCH} must be on or off")
    return value != "off"


def registry_channels(
    settings: Settings, shop_settings: Mapping[str, Any]
) -> Mapping[str, Channel]:
    """The shop's configured channels (``shared.notify.registry``, imported
    when first needed: the providers' SDKs are a noticeable part of a start)."""
    from shared.notify import registry

    return registry.channels_for(settings, shop_settings)


@dataclass(frozen=True)
class Claim:
    """A message this sender holds; ``recovered`` when it was found still
    ``sending`` past an earlier claim's lease (that send's fate unknown)."""

    id: int
    recovered: bool


@dataclass
class Job:
    """A claimed message with its order and shop as they are now."""

    id: int
    kind: str
    channel: str
    dedupe_key: str
    facts: Mapping[str, Any]
    locale: str
    recipient: str
    text: str
    attempts: int
    created_at: datetime
    order_id: int | None
    order: RepairOrder | None
    shop: compose.ShopFacts
    # A message without an order: its appointment (a reminder) or its code.
    appointment: Appointment | None = None
    code: BookingCode | None = None

    def as_sent(self) -> Outgoing:
        """The message as an earlier attempt recorded it, to ask about."""
        return Outgoing(
            dedupe_key=self.dedupe_key,
            kind=self.kind,
            locale=self.locale,
            recipient=self.recipient,
            text=self.text,
        )


@dataclass(frozen=True)
class _Ready:
    """A message checked and composed, to be sent once its attempt is recorded."""

    job: Job
    channel: Channel
    message: Outgoing


@dataclass(frozen=True)
class Result:
    """What becomes of a message: its new status and what to record.
    ``hold_until``: stays ``sending``, to be asked about again then."""

    status: str
    reason: str = ""
    not_before: datetime | None = None
    hold_until: datetime | None = None
    provider_id: str | None = None
    sent_at: datetime | None = None
    attempts: int | None = None


def worker_name() -> str:
    """Who holds a claim: host, process and a random part (a restarted
    process with the same pid is another claimant)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{random.getrandbits(32):08x}"


def _shop_day_start(now: datetime, shop: compose.ShopFacts) -> datetime:
    local = now.astimezone(shop.zone)
    return datetime.combine(local.date(), clock_time(0), tzinfo=shop.zone).astimezone(UTC)


@dataclass
class _Cached:
    fingerprint: str
    built: float
    channels: Mapping[str, Channel]


# The idle outbox's check, once a second in every server: built once (its
# construction cost more than the indexed read it asks for).
_ANY_DUE = (
    select(N.id)
    .where(
        or_(
            and_(N.status == rules.QUEUED, N.not_before <= bindparam("b_now")),
            and_(N.status == rules.SENDING, N.claimed_until < bindparam("b_now")),
        )
    )
    .limit(1)
)


@dataclass
class Sender:
    """One sender loop (``run``) or single passes (``drain_once``)."""

    core: Core
    sleep: Callable[[float], object] = time.sleep
    channels_for: ChannelsFor = registry_channels
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    rng: random.Random = field(default_factory=random.Random)
    batch: int = BATCH
    lease: timedelta = LEASE
    idle_seconds: float = IDLE_SECONDS
    provider_poll_seconds: float = PROVIDER_POLL_SECONDS
    # Told after a pass that handled messages (the /metrics gauge).
    changed: Callable[[], None] | None = None
    monotonic: Callable[[], float] = time.monotonic
    worker: str = field(default_factory=worker_name)
    # Messages this sender handled since it started (the worker says it).
    handled: int = field(default=0, init=False)
    _stopped: bool = field(default=False, init=False)
    _channels: dict[int, _Cached] = field(default_factory=dict, init=False)
    _pacers: dict[int, Pacer] = field(default_factory=dict, init=False)

    # ------------------------------------------------------------------ loop

    def stop(self) -> None:
        """Finish the message in hand, give back the rest of the batch, end ``run``."""
        self._stopped = True

    def run(self) -> None:
        """Send until stopped; a failing round is logged and the next tried
        (a database blip or a provider's outage must not end the sender)."""
        next_poll = self.monotonic() + self.provider_poll_seconds
        while not self._stopped:
            handled = 0
            try:
                handled = self.drain_once()
            except Exception:
                log.warning("sending notifications failed", exc_info=True)
            now = self.monotonic()
            if now >= next_poll and not self._stopped:
                next_poll = now + self.provider_poll_seconds
                try:
                    self.poll_providers()
                except Exception:
                    log.warning("polling the notification providers failed", exc_info=True)
            if handled and self.changed is not None:
                self.changed()
            if not self._stopped:
                self.sleep(0 if handled else self.idle_seconds)

    def drain_once(self, now: datetime | None = None) -> int:
        """Handle every message due (at ``now``, else the core's clock as it
        goes); how many were handled (sent, suppressed, failed, put back)."""
        clock: Callable[[], datetime] = (lambda: now) if now is not None else self.core.now
        handled = 0
        while not self._stopped:
            claims = self._claim(clock())
            if not claims:
                break
            touched: set[tuple[int, int]] = set()
            try:
                handled += self._work(claims, clock, touched)
            finally:
                self._tell_staff(touched)
        return handled

    def _work(
        self, claims: Sequence[Claim], clock: Callable[[], datetime], touched: set[tuple[int, int]]
    ) -> int:
        """One claimed batch in three write transactions whatever its size
        (plus one per ``FLUSH_EVERY`` sends or ``FLUSH_SECONDS``): the claim;
        every attempt (recipient, text, language, count) together with the
        messages settled without a send; the outcomes. Nothing is sent before
        its attempt is committed, so a crash after a send leaves the message
        ``sending`` with its text, to be asked about, never sent blindly."""
        shops: dict[int, compose.ShopFacts] = {}
        handled = 0
        settled: list[tuple[Job, Result]] = []
        ready: list[_Ready] = []
        # Sends planned in this batch per (order, channel), for the daily cap.
        planned: dict[tuple[int, str], int] = {}
        for claim in claims:
            try:
                job = self._load(claim.id, shops)
            except Exception:
                # Left to its lease: the next claim asks before sending.
                log.warning("notification %s could not be handled", claim.id, exc_info=True)
                handled += 1
                continue
            handled += 1
            if job is None:
                continue
            if job.order_id is not None:
                touched.add((job.shop.id, job.order_id))
            try:
                verdict = self._ready(claim, job, clock, planned)
            except Exception:
                # Nothing reached the provider yet. Counted as an attempt, so
                # a message that always breaks the sender is given up, not
                # retried at every lease for ever.
                log.warning("notification %s could not be prepared", job.id, exc_info=True)
                attempts = job.attempts + 1
                failed = self._retry(job, attempts, "sender error", clock())
                verdict = replace(failed, attempts=attempts)
            if isinstance(verdict, Result):
                settled.append((job, verdict))
            else:
                ready.append(verdict)
            # Each message's reads and text run on the hub in ``serve``:
            # let the commands in between, not after the whole batch.
            self.sleep(0)
        ready = self._prepare(ready, settled, clock())
        self.handled += handled - len(ready)
        sent = self._send_all(ready, clock)
        self.handled += sent
        return handled - len(ready) + sent

    def _send_all(self, ready: Sequence[_Ready], clock: Callable[[], datetime]) -> int:
        """Send the batch's prepared messages, paced per channel; outcomes
        recorded every ``FLUSH_EVERY`` messages or ``FLUSH_SECONDS``. Stopped:
        the ones not started go back to the queue. How many were sent."""
        outcomes: list[tuple[Job, Result]] = []
        flushed = self.monotonic()
        done = 0
        for index, item in enumerate(ready):
            if self._stopped:
                self._record_all(outcomes, clock())
                outcomes = []
                self._release([], clock(), unsent=[r.job for r in ready[index:]])
                break
            try:
                result = self._recheck(item.job, clock()) or self._send(
                    item.job, item.channel, item.message, item.job.attempts + 1, clock
                )
            except Exception:
                # Left to its lease: the next claim asks before sending.
                log.warning("notification %s could not be sent", item.job.id, exc_info=True)
                result = None
            if result is not None:
                outcomes.append((item.job, result))
            done += 1
            if len(outcomes) >= FLUSH_EVERY or self.monotonic() - flushed >= FLUSH_SECONDS:
                self._record_all(outcomes, clock())
                outcomes = []
                flushed = self.monotonic()
            self.sleep(0)
        # A crash (an exception out of a send) records nothing after it: the
        # messages stay ``sending`` with their text, to be asked about.
        self._record_all(outcomes, clock())
        return done

    def _tell_staff(self, touched: set[tuple[int, int]]) -> None:
        """The desks showing these orders' messages read them again (the
        same hint a one-off or an opt-out sends); a missed one is repaired
        by the desk's own periodic read."""
        if not touched:
            return
        notices = [
            Notice(NOTICE, {"order_id": order_id}, (staff_room(shop_id),))
            for shop_id, order_id in sorted(touched)
        ]
        try:
            with self.core.publish_lock:
                self.core.publisher.publish([], notices)
        except Exception:
            log.warning("telling the desks about sent messages failed", exc_info=True)

    # ----------------------------------------------------------------- claim

    def _due(self, now: datetime) -> Any:
        return or_(
            and_(N.status == rules.QUEUED, N.not_before <= now),
            and_(N.status == rules.SENDING, N.claimed_until < now),
        )

    def _claim(self, now: datetime) -> list[Claim]:
        """Take up to ``batch`` due messages, committed before any send. An
        idle outbox costs one indexed read, not a write transaction."""
        with self.core.db.read() as session:
            if session.scalar(_ANY_DUE, {"b_now": now}) is None:
                return []
        with self.core.db.write() as session:
            found = session.execute(
                select(N.id, N.status)
                .where(self._due(now))
                .order_by(N.not_before, N.id)
                .limit(self.batch)
                # PostgreSQL: rows another worker is claiming are skipped,
                # not waited for; SQLite has one writer and ignores it.
                .with_for_update(skip_locked=True)
            ).all()
            if found:
                session.execute(
                    update(N)
                    .where(N.id.in_([row.id for row in found]))
                    .values(
                        status=rules.SENDING,
                        claimed_by=self.worker,
                        claimed_until=now + self.lease,
                        updated_at=now,
                    )
                )
            self.core.db.sync_commit(session)
        return [Claim(row.id, row.status == rules.SENDING) for row in found]

    def _release(self, claims: Sequence[Claim], now: datetime, unsent: Sequence[Job] = ()) -> None:
        """Give back claims not yet worked on (the sender is stopping): a
        fresh one to the queue, a recovered one as due to be asked about;
        ``unsent``: messages whose attempt was recorded but that were never
        handed to the provider, to the queue with that attempt taken back."""
        fresh = [c.id for c in claims if not c.recovered]
        recovered = [c.id for c in claims if c.recovered]
        with self.core.db.write() as session:
            mine = and_(N.claimed_by == self.worker, N.status == rules.SENDING)
            if unsent:
                session.execute(
                    update(N)
                    .where(N.id.in_([job.id for job in unsent]), mine)
                    .values(
                        status=rules.QUEUED,
                        claimed_by="",
                        claimed_until=None,
                        attempts=N.attempts - 1,
                        updated_at=now,
                    )
                )
            if fresh:
                session.execute(
                    update(N)
                    .where(N.id.in_(fresh), mine)
                    .values(status=rules.QUEUED, claimed_by="", claimed_until=None)
                )
            if recovered:
                session.execute(
                    update(N)
                    .where(N.id.in_(recovered), mine)
                    .values(claimed_by="", claimed_until=now)
                )
            self.core.db.sync_commit(session)

    # ---------------------------------------------------------------- handle

    def _load(self, message_id: int, shops: dict[int, compose.ShopFacts]) -> Job | None:
        """The claimed message (None when it is no longer ours), its order
        read now and its shop (read once per batch, in ``shops``)."""
        with self.core.db.read() as session:
            connection = session.connection()
            row = connection.execute(_MESSAGE, {"b_id": message_id, "b_me": self.worker}).first()
            if row is None:
                return None
            order = session.get(RepairOrder, row.order_id) if row.order_id else None
            appointment, code = _orderless(session, row.kind, dict(row.facts or {}))
            shop = shops.get(row.shop_id)
            if shop is None:
                found = connection.execute(_SHOP, {"b_shop_id": row.shop_id}).one()
                shop = compose.ShopFacts(
                    found.id, found.name, found.timezone, found.locale, dict(found.settings or {})
                )
                shops[row.shop_id] = shop
            # Read as it is now, after the read session rolls back.
            session.expunge_all()
        return Job(
            id=row.id,
            kind=row.kind,
            channel=row.channel,
            dedupe_key=row.dedupe_key,
            facts=dict(row.facts or {}),
            locale=row.locale,
            recipient=row.recipient,
            text=row.text,
            attempts=row.attempts,
            created_at=row.created_at,
            order_id=row.order_id,
            order=order,
            shop=shop,
            appointment=appointment,
            code=code,
        )

    def _ready(
        self,
        claim: Claim,
        job: Job,
        clock: Callable[[], datetime],
        planned: dict[tuple[int, str], int],
    ) -> _Ready | Result:
        """The channel and the message to send now (its attempt still to be
        recorded), or the message's fate decided without a send."""
        channel = self.channels(job.shop).get(job.channel)
        if claim.recovered and job.text:
            settled = self._settle_recovered(job, channel, clock())
            if settled is not None:
                return settled
        now = clock()
        verdict = self._check(job, channel, now, planned)
        if verdict is not None:
            return verdict
        assert channel is not None
        if job.order is None:
            message = compose.orderless(
                dedupe_key=job.dedupe_key,
                kind=job.kind,
                channel=job.channel,
                queued_locale=job.locale,
                facts=job.facts,
                appointment=job.appointment,
                shop=job.shop,
                settings=self.core.settings,
                now=now,
            )
        else:
            message = compose.outgoing(
                dedupe_key=job.dedupe_key,
                kind=job.kind,
                channel=job.channel,
                queued_locale=job.locale,
                facts=job.facts,
                order=job.order,
                shop=job.shop,
                settings=self.core.settings,
                now=now,
            )
        if not message.recipient:
            return Result(rules.SUPPRESSED, rules.NO_ADDRESS)
        if job.order_id is not None:
            key = (job.order_id, job.channel)
            planned[key] = planned.get(key, 0) + 1
        return _Ready(job, channel, message)

    def _recheck(self, job: Job, now: datetime) -> Result | None:
        """Right before the send: the order read again, as the batch's
        checks may be a few seconds old (the customer opted out on the
        tracking page meanwhile, the car was handed over). The attempt
        recorded for it is taken back: nothing was sent."""
        if job.order_id is None:
            return None
        with self.core.db.read() as session:
            order = session.get(RepairOrder, job.order_id)
            session.expunge_all()
        verdict: Result | None = None
        if order is None or order.anonymised_at is not None:
            verdict = Result(rules.SUPPRESSED, rules.STALE)
        elif not wants_messages(order) or job.channel not in (order.customer_notify or ()):
            verdict = Result(rules.SUPPRESSED, rules.OPTED_OUT)
        elif not rules.still_true(job.kind, job.facts, compose.order_facts(order)):
            verdict = Result(rules.SUPPRESSED, rules.STALE)
        return None if verdict is None else replace(verdict, attempts=job.attempts)

    def _settle_recovered(self, job: Job, channel: Channel | None, now: datetime) -> Result | None:
        """A message found ``sending`` past its lease: did it go? None when
        the provider says no (it is then checked and sent as any other)."""
        if channel is None or not can_tell_sent(channel):
            # A channel that can never tell: a person looks now. (Even one
            # with a repeat window: when the lost send was first made is not
            # kept, so a repeat now might fall outside it.)
            return Result(rules.FAILED, rules.OUTCOME_UNKNOWN)
        answer = self._ask(channel, job.as_sent())
        if answer is True:
            return Result(rules.SENT, sent_at=now)
        if answer is None:
            # The unanswered question counts as an attempt: asking cannot go on forever.
            return self._ask_later(job, job.attempts + 1, now, "no answer whether it was taken")
        return None

    def _check(
        self,
        job: Job,
        channel: Channel | None,
        now: datetime,
        planned: Mapping[tuple[int, str], int] | None = None,
    ) -> Result | None:
        """Why the message must not go now (None: it may). ``planned``: the
        sends of this batch not yet recorded, per order and channel."""
        if job.order_id is None and job.kind in rules.ORDERLESS_KINDS:
            return self._check_orderless(job, channel, now)
        order = job.order
        if order is None or order.anonymised_at is not None:
            return Result(rules.SUPPRESSED, rules.STALE)
        if not wants_messages(order) or job.channel not in (order.customer_notify or ()):
            return Result(rules.SUPPRESSED, rules.OPTED_OUT)
        if not rules.still_true(job.kind, job.facts, compose.order_facts(order)):
            return Result(rules.SUPPRESSED, rules.STALE)
        if self.policy.exhausted(job.attempts, job.created_at, now):
            return Result(rules.FAILED, rules.GAVE_UP)
        settings = rules.NotifySettings.from_settings(job.shop.settings)
        wake = rules.quiet_until(job.kind, now, job.shop.zone, settings)
        if wake > now:
            return Result(rules.QUEUED, not_before=wake)
        sent_today = self._sent_today(job, order.id, now)
        if sent_today >= settings.max_per_order_per_day:
            return Result(rules.SUPPRESSED, rules.RATE_CAP)
        if planned and sent_today + planned.get((order.id, job.channel), 0) >= (
            settings.max_per_order_per_day
        ):
            # The cap would be reached by a send of this batch whose outcome
            # is not known yet: decided in the next batch, once it is.
            return Result(rules.QUEUED, not_before=now)
        if channel is None:
            return Result(rules.SUPPRESSED, rules.CHANNEL_OFF)
        return None

    def _check_orderless(self, job: Job, channel: Channel | None, now: datetime) -> Result | None:
        """A reminder or a booking code: still true of its appointment (still
        booked at the same start) or code (not used, not expired), the
        customer not opted out of the appointment's reminders, quiet hours
        for a reminder (a code is urgent); no per-order cap (no order)."""
        appointment = job.appointment
        if job.kind == rules.REMINDER:
            if appointment is None or appointment.anonymised_at is not None:
                return Result(rules.SUPPRESSED, rules.STALE)
            if appointment.notify_opted_out_at is not None or job.channel not in (
                appointment.customer_notify or ()
            ):
                return Result(rules.SUPPRESSED, rules.OPTED_OUT)
            facts = compose.appointment_facts(appointment)
        else:
            facts = compose.code_facts(job.code, now)
        if not rules.still_true(job.kind, job.facts, facts):
            return Result(rules.SUPPRESSED, rules.STALE)
        # A reminder after the start would remind of the past.
        start = appointment.start if job.kind == rules.REMINDER and appointment else None
        if start is not None and start <= now:
            return Result(rules.SUPPRESSED, rules.STALE)
        if self.policy.exhausted(job.attempts, job.created_at, now):
            return Result(rules.FAILED, rules.GAVE_UP)
        settings = rules.NotifySettings.from_settings(job.shop.settings)
        wake = rules.quiet_until(job.kind, now, job.shop.zone, settings)
        if wake > now:
            if start is not None and wake >= start:
                # The quiet hours last past the start: it could only go late.
                return Result(rules.SUPPRESSED, rules.STALE)
            return Result(rules.QUEUED, not_before=wake)
        if channel is None:
            return Result(rules.SUPPRESSED, rules.CHANNEL_OFF)
        return None

    def _sent_today(self, job: Job, order_id: int, now: datetime) -> int:
        """Messages of this order that went out on this channel since the
        start of the shop's day (the cap is per channel: the same news by SMS
        and by e-mail is one piece of news)."""
        params = {
            "b_order_id": order_id,
            "b_channel": job.channel,
            "b_since": _shop_day_start(now, job.shop),
        }
        with self.core.db.read() as session:
            return int(session.connection().execute(_SENT_TODAY, params).scalar() or 0)

    def _send(
        self,
        job: Job,
        channel: Channel,
        message: Outgoing,
        attempts: int,
        clock: Callable[[], datetime],
    ) -> Result:
        """Send once, paced; a throttled answer (the provider's per-second
        limit) is tried again after about a second, a few times, before the
        ordinary backoff. Each provider call is an attempt."""
        pacer = self._pacer(channel)
        first = attempts
        while True:
            pacer.wait()
            started = clock()
            try:
                sent: Sent = channel.send(message)
            except SendFailed as failed:
                pacer.done()
                if (
                    failed.retry
                    and throttled(failed.reason)
                    and attempts - first < THROTTLE_RETRIES
                    and not self.policy.exhausted(attempts, job.created_at, clock())
                ):
                    # Nothing was taken: the same message, a second later.
                    pacer.hold(THROTTLE_PAUSE_SECONDS)
                    attempts += 1
                    continue
                if failed.retry:
                    retry = self._retry(job, attempts, failed.reason, clock(), backoff=first)
                    return retry if attempts == first else replace(retry, attempts=attempts)
                result = Result(rules.FAILED, _short(failed.reason))
                return result if attempts == first else replace(result, attempts=attempts)
            except SendUnsure as unsure:
                pacer.done()
                result = self._after_unsure(
                    job, channel, message, attempts, unsure.reason, started, clock
                )
            except Exception as error:
                pacer.done()
                # Not a refusal the channel recognised: it may have gone out.
                log.warning("channel %s raised on send", job.channel, exc_info=True)
                result = self._after_unsure(
                    job, channel, message, attempts, type(error).__name__, started, clock
                )
            else:
                pacer.done()
                status = rules.DELIVERED if sent.delivered else rules.SENT
                result = Result(status, provider_id=sent.provider_id, sent_at=clock())
            if attempts != first and result.attempts is None:
                result = replace(result, attempts=attempts)
            return result

    def _after_unsure(
        self,
        job: Job,
        channel: Channel,
        message: Outgoing,
        attempts: int,
        reason: str,
        started: datetime,
        clock: Callable[[], datetime],
    ) -> Result:
        """A send whose answer was lost: as the channel says it can be
        settled (``channel.can_tell_sent``, ``channel.repeat_window``)."""
        now = clock()
        if not can_tell_sent(channel):
            if repeat_window(channel) is None:
                # Asking would only ever get "cannot tell": a person looks now.
                return Result(rules.FAILED, rules.OUTCOME_UNKNOWN, attempts=attempts)
            return self._repeat(job, channel, message, attempts, started, clock)
        answer = self._ask(channel, message)
        if answer is True:
            return Result(rules.SENT, sent_at=now)
        if answer is False:
            return self._retry(job, attempts, reason, now)
        return self._ask_later(job, attempts, now, reason)

    def _repeat(
        self,
        job: Job,
        channel: Channel,
        message: Outgoing,
        attempts: int,
        started: datetime,
        clock: Callable[[], datetime],
    ) -> Result:
        """Send again with the same id while the provider still drops a
        repeat of a message that went (its window counted from the first
        send that may have reached it, ``started``); after the window the
        outcome is unknown, for a person. Never queued for a later retry: a
        retry after the window could be a second message."""
        window = repeat_window(channel) or 0.0
        last_start = started + timedelta(seconds=window) - REPEAT_MARGIN
        for repeat in range(REPEATS):
            if repeat:
                self.sleep(REPEAT_PAUSE_SECONDS * repeat)
            if clock() >= last_start:
                break
            pacer = self._pacer(channel)
            pacer.wait()
            attempts += 1
            try:
                sent = channel.send(message)
            except SendFailed as failed:
                pacer.done()
                if not failed.retry:
                    return Result(rules.FAILED, _short(failed.reason), attempts=attempts)
                continue
            except SendUnsure:
                pacer.done()
                continue
            except Exception:
                pacer.done()
                log.warning("channel %s raised on a repeated send", job.channel, exc_info=True)
                continue
            pacer.done()
            status = rules.DELIVERED if sent.delivered else rules.SENT
            return Result(status, provider_id=sent.provider_id, sent_at=clock(), attempts=attempts)
        return Result(rules.FAILED, rules.OUTCOME_UNKNOWN, attempts=attempts)

    def _ask(self, channel: Channel, message: Outgoing) -> bool | None:
        """The channel's ``was_sent``; None as well when it could not even
        be asked (the network still down)."""
        try:
            return channel.was_sent(message)
        except Exception:
            log.info("channel %s could not be asked about a send", channel.name, exc_info=True)
            return None

    def _retry(
        self, job: Job, attempts: int, reason: str, now: datetime, backoff: int | None = None
    ) -> Result:
        """Back to the queue after the backoff of the ``backoff``-th failure
        (default ``attempts``: quick throttle retries do not lengthen it)."""
        if self.policy.exhausted(attempts, job.created_at, now):
            return Result(rules.FAILED, rules.GAVE_UP)
        wait = self.policy.delay(attempts if backoff is None else backoff, self.rng)
        return Result(rules.QUEUED, _short(reason), not_before=now + wait)

    def _ask_later(self, job: Job, attempts: int, now: datetime, reason: str) -> Result:
        """No answer whether the provider took it (it cannot tell yet, or
        cannot be reached): the message stays ``sending``, never put back to
        be sent blindly, and is asked about again after a backoff. Once the
        attempts or the day are spent it is failed, ``outcome_unknown``,
        for a person to look at."""
        if self.policy.exhausted(attempts, job.created_at, now):
            return Result(rules.FAILED, rules.OUTCOME_UNKNOWN, attempts=attempts)
        wait = self.policy.delay(attempts, self.rng)
        return Result(rules.SENDING, _short(reason), hold_until=now + wait, attempts=attempts)

    # ---------------------------------------------------------------- record

    def _prepare(
        self, ready: Sequence[_Ready], settled: Sequence[tuple[Job, Result]], now: datetime
    ) -> list[_Ready]:
        """In ONE write transaction: every attempt of the batch (recipient,
        language, text, count; the lease renewed) before any of it is sent,
        and the outcomes of the messages settled without a send. The ones
        still ours, to send (a claim lost meanwhile is not sent)."""
        if not ready and not settled:
            return []
        kept: list[_Ready] = []
        with self.core.db.write() as session:
            connection = session.connection()
            for item in ready:
                params = {
                    "b_id": item.job.id,
                    "b_me": self.worker,
                    "b_recipient": item.message.recipient,
                    "b_locale": item.message.locale,
                    "b_text": item.message.text,
                    "b_claimed_until": now + self.lease,
                    "b_updated_at": now,
                }
                if _rowcount(connection.execute(_PREPARE, params)) == 1:
                    kept.append(item)
            recorded = [
                (job, result)
                for job, result in settled
                if self._write(connection, job, result, now)
            ]
            self.core.db.sync_commit(session)
        self._count(recorded)
        return kept

    def _record_all(self, outcomes: Sequence[tuple[Job, Result]], now: datetime) -> None:
        """The outcomes of several sends in one write transaction. Should
        that fail, each is tried on its own, so one bad row does not cost
        the others their outcome (a row left unrecorded is asked about once
        its lease runs out, never sent blindly)."""
        if not outcomes:
            return
        try:
            with self.core.db.write() as session:
                connection = session.connection()
                recorded = [
                    (job, result)
                    for job, result in outcomes
                    if self._write(connection, job, result, now)
                ]
                self.core.db.sync_commit(session)
        except Exception:
            if len(outcomes) == 1:
                raise
            log.warning("recording %s outcomes together failed", len(outcomes), exc_info=True)
            for one in outcomes:
                try:
                    self._record_all([one], now)
                except Exception:
                    log.warning("notification %s: outcome not recorded", one[0].id, exc_info=True)
            return
        self._count(recorded)

    def _count(self, recorded: Sequence[tuple[Job, Result]]) -> None:
        for job, result in recorded:
            self.core.metrics.notification_outcome(job.channel, result.status)

    def _write(self, connection: Any, job: Job, result: Result, now: datetime) -> bool:
        """One outcome's UPDATE, only while the claim is still this
        sender's; False (and logged) when it was lost."""
        values: dict[str, Any] = {
            "status": result.status,
            "reason": result.reason,
            "claimed_by": "",
            "claimed_until": result.hold_until,
            "updated_at": now,
        }
        if result.not_before is not None:
            values["not_before"] = result.not_before
        if result.provider_id is not None:
            values["provider_id"] = result.provider_id[:120]
        if result.sent_at is not None:
            values["sent_at"] = result.sent_at
        if result.attempts is not None:
            values["attempts"] = result.attempts
        if job.kind == rules.BOOKING_CODE and result.status in _SETTLED:
            # The code has done its work (or never will): the row keeps its
            # status, not the code (neither in its facts nor in its text).
            values["facts"] = {**job.facts, "code": ""}
            values["text"] = ""
        params = {f"b_{name}": value for name, value in values.items()}
        params.update(b_id=job.id, b_me=self.worker)
        done = connection.execute(_record_statement(frozenset(values)), params)
        if _rowcount(done) != 1:
            log.warning("notification %s: claim lost before its outcome was recorded", job.id)
            return False
        return True

    # -------------------------------------------------------------- channels

    def channels(self, shop: compose.ShopFacts) -> Mapping[str, Channel]:
        """The shop's configured channels, built again when its provider
        settings change (and every ``CHANNELS_TTL_SECONDS``). A failure to
        build them is raised, not taken for "none configured": the message
        is tried again later instead of being suppressed for good."""
        fingerprint = json.dumps(shop.settings.get("notify_providers"), sort_keys=True, default=str)
        cached = self._channels.get(shop.id)
        now = self.monotonic()
        if (
            cached is None
            or cached.fingerprint != fingerprint
            or now - cached.built > CHANNELS_TTL_SECONDS
        ):
            built = dict(self.channels_for(self.core.settings, shop.settings))
            cached = _Cached(fingerprint, now, built)
            self._channels[shop.id] = cached
        return cached.channels

    def _pacer(self, channel: Channel) -> Pacer:
        """One pace per channel object: the registry keeps one per provider
        configuration, so shops configured alike share the account's limit."""
        key = id(channel)
        pacer = self._pacers.get(key)
        rate = float(getattr(channel, "rate_per_second", 0) or 0)
        if pacer is None or abs(pacer.interval - (1.0 / rate if rate > 0 else 0.0)) > 1e-9:
            pacer = Pacer(rate, self.sleep, self.monotonic)
            self._pacers[key] = pacer
        return pacer

    # ------------------------------------------------- providers' own news

    def poll_providers(self) -> tuple[int, int]:
        """Read the delivery reports and the customers' replies of every
        shop's channels that offer them; (reports applied, orders opted out)."""
        applied = opted_out = 0
        # Shops configured alike share one channel (``registry``): asked
        # once, and what it reports concerns only the shops it serves (an
        # installation's account serves every shop without its own; a
        # shop's own account serves that shop).
        served: dict[int, tuple[Channel, set[int]]] = {}
        for shop in self._shops():
            for channel in self.channels(shop).values():
                served.setdefault(id(channel), (channel, set()))[1].add(shop.id)
        for channel, shop_ids in served.values():
            reports = getattr(channel, "delivery_reports", None)
            if callable(reports):
                applied += self._apply_reports(channel.name, reports())
            answers = getattr(channel, "replies", None)
            if callable(answers):
                opted_out += self._apply_replies(channel.name, answers(), shop_ids)
            self.sleep(0)
        return applied, opted_out

    def _shops(self) -> list[compose.ShopFacts]:
        with self.core.db.read() as session:
            rows = session.execute(
                select(Shop.id, Shop.name, Shop.timezone, Shop.locale, Shop.settings)
            ).all()
        return [
            compose.ShopFacts(r.id, r.name, r.timezone, r.locale, r.settings or {}) for r in rows
        ]

    def _apply_reports(self, channel: str, reports: Sequence[tuple[str, bool, str]]) -> int:
        """Sent messages the provider delivered (or could not deliver)."""
        applied = 0
        now = self.core.now()
        for provider_id, delivered, reason in reports:
            if not provider_id:
                continue
            status = rules.DELIVERED if delivered else rules.FAILED
            with self.core.db.write() as session:
                done = session.execute(
                    update(N)
                    .where(
                        N.channel == channel,
                        N.provider_id == provider_id,
                        N.status == rules.SENT,
                    )
                    .values(
                        status=status,
                        reason="" if delivered else _short(reason or "undelivered"),
                        updated_at=now,
                    )
                )
                self.core.db.sync_commit(session)
            applied += _rowcount(done)
            if _rowcount(done):
                self.core.metrics.notification_outcome(channel, status)
        return applied

    def _apply_replies(
        self, channel: str, found: Sequence[tuple[str, str]], shop_ids: set[int]
    ) -> int:
        """A reply 退订 / TD / T / STOP, in the shops the reporting channel
        serves (``shop_ids``), opts out every order that was texted at that
        phone (the customer answered our message, so it was ours) and stops
        the reminders of that phone's appointments. Another shop's account
        never stops this shop's messages."""
        opted_out = 0
        for phone, text in found:
            if not replies.is_stop(text):
                continue
            for shop_id, order_id in self._orders_texted(channel, phone, shop_ids):
                if self._opt_out(shop_id, order_id):
                    opted_out += 1
            for shop_id in self._shops_reminding(phone, shop_ids):
                self._stop_reminders(shop_id, phone)
        return opted_out

    def _shops_reminding(self, phone: str, shop_ids: set[int]) -> list[int]:
        """The shops among ``shop_ids`` with a booked appointment at that
        phone still reminded (read first: a command per shop only where
        there is something to stop)."""
        variants = replies.phone_variants(phone)
        if not variants or not shop_ids:
            return []
        with self.core.db.read() as session:
            found = session.execute(
                select(Appointment.shop_id)
                .where(
                    Appointment.shop_id.in_(sorted(shop_ids)),
                    Appointment.customer_phone.in_(variants),
                    Appointment.status == "booked",
                    Appointment.notify_opted_out_at.is_(None),
                )
                .distinct()
            ).scalars()
            return sorted(found)

    def _orders_texted(self, channel: str, phone: str, shop_ids: set[int]) -> list[tuple[int, int]]:
        variants = replies.phone_variants(phone)
        if not variants or not shop_ids:
            return []
        with self.core.db.read() as session:
            rows = session.execute(
                select(RepairOrder.shop_id, RepairOrder.id)
                .join(N, N.order_id == RepairOrder.id)
                .where(
                    N.shop_id.in_(sorted(shop_ids)),
                    RepairOrder.shop_id.in_(sorted(shop_ids)),
                    N.channel == channel,
                    N.recipient.in_(variants),
                    N.status.in_((rules.SENT, rules.DELIVERED)),
                    RepairOrder.notify_opted_out_at.is_(None),
                )
                .distinct()
            ).all()
        return [(row.shop_id, row.id) for row in rows]

    def _stop_reminders(self, shop_id: int, phone: str) -> None:
        try:
            notification_commands.stop_reminders(
                self.core,
                CommandRequest(SMS_REPLY, shop_id),
                replies.phone_variants(phone),
                source="sms_keyword",
            )
        except errors.DomainError as refused:
            log.info("SMS opt-out of reminders refused: %s", refused.code)

    def _opt_out(self, shop_id: int, order_id: int) -> bool:
        try:
            notification_commands.opt_out(
                self.core, CommandRequest(SMS_REPLY, shop_id), order_id, source="sms_keyword"
            )
        except errors.DomainError as refused:
            log.info("SMS opt-out of order %s refused: %s", order_id, refused.code)
            return False
        return True


# A message's last word: nothing more is sent or asked about it.
_SETTLED = frozenset({rules.SENT, rules.DELIVERED, rules.FAILED, rules.SUPPRESSED})


def _orderless(
    session: Session, kind: str, facts: Mapping[str, Any]
) -> tuple[Appointment | None, BookingCode | None]:
    """What a message without an order is about: a reminder's appointment,
    a booking code's code (detached with the session's other rows)."""
    if kind == rules.REMINDER and isinstance(facts.get("appointment_id"), int):
        return session.get(Appointment, facts["appointment_id"]), None
    if kind == rules.BOOKING_CODE and isinstance(facts.get("code_id"), int):
        return None, session.get(BookingCode, facts["code_id"])
    return None, None


def _short(reason: str) -> str:
    return (reason or "")[:200]


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def count_outbox(core: Core) -> dict[tuple[str, str], int]:
    """The outbox per channel and status, for /metrics, read by a background
    task (the table holds every message until retention removes it: never
    counted on a request).

    On SQLite the count runs on a real thread over a connection of its own
    (``_sqlite_counts``): read through the pool it would hold the hub for as
    long as SQLite counts (a busy shop's year of messages: a quarter of a
    second without the index of migration 0026), and the pool's locks are
    green locks that a real thread may not wait on. PostgreSQL's driver
    waits cooperatively (psycogreen), so there it reads through the pool."""
    engine = core.db.engine
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if path and path != ":memory:" and not path.startswith("file:"):
        counts = run_off_hub(partial(_sqlite_counts, path))
    else:
        with core.db.read() as session:
            counts = _counts(session)
    core.metrics.set_notifications(counts)
    return counts


_COUNT_SQL = "SELECT channel, status, count(*) FROM notification GROUP BY channel, status"


def _sqlite_counts(path: str) -> dict[tuple[str, str], int]:
    """``_counts`` over a plain sqlite3 connection opened for this read: C
    work only, no Python lock, so it may run on a real thread (off_hub)."""
    connection = sqlite3.connect(path, timeout=10)
    try:
        rows = connection.execute(_COUNT_SQL).fetchall()
    finally:
        connection.close()
    return {(str(channel), str(status)): int(total) for channel, status, total in rows}


def _counts(session: Session) -> dict[tuple[str, str], int]:
    rows = session.execute(select(N.channel, N.status, func.count()).group_by(N.channel, N.status))
    return {(channel, status): int(total) for channel, status, total in rows}


class OutboxGauge:
    """The /metrics counts of the outbox, kept by a background task of
    ``serve``: recounted ``COUNT_AFTER_CHANGE_SECONDS`` after a change
    (``mark``: a command queued messages, the sender handled some) and every
    ``COUNT_SECONDS`` regardless (a notify-worker's work)."""

    def __init__(
        self,
        core: Core,
        sleep: Callable[[float], object],
        *,
        every: float = COUNT_SECONDS,
        after_change: float = COUNT_AFTER_CHANGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.sleep = sleep
        self.every = every
        self.after_change = after_change
        self.monotonic = monotonic
        self._dirty = False

    def mark(self, *_change: object) -> None:
        """Something changed (a change listener, or the sender's ``changed``)."""
        self._dirty = True

    def run(self) -> None:
        last = -self.every
        while True:
            now = self.monotonic()
            if now - last >= self.every or (self._dirty and now - last >= self.after_change):
                self._dirty = False
                last = now
                try:
                    count_outbox(self.core)
                except Exception:
                    log.warning("counting the notification outbox failed", exc_info=True)
            self.sleep(1.0)
