"""What Baylight tells a customer without being asked, and when it must not.

Pure rules (no database, no clock of its own) for the notification outbox
(docs/NOTIFICATIONS.md):

- ``plan``: which messages an order's new events cause, per consented channel.
  A message is a fact about one event (its ``seq``), so its dedupe key is
  stable: the same event never queues the same message twice.
- ``still_true``: a queued message that is no longer true is dropped, not
  sent late ("ready" after the car left, a promise that changed again).
- ``quiet_until``: a non-urgent message found inside the shop's quiet hours
  waits for their end, on the shop's clock.
- ``check_contact``: the consent recorded at reception is coherent (a channel
  needs its address).

The texts themselves are in ``shared.domain.notification_texts``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain import errors
from shared.domain.events import Event
from shared.domain.stages import Stage

# Channels a customer may consent to, in the order the desk offers them.
SMS = "sms"
WECHAT = "wechat"
EMAIL = "email"
CHANNELS = (SMS, WECHAT, EMAIL)

# Kinds of message. ``appointment_reminder`` is reserved for appointments.
RECEIVED = "order_received"
QUOTE_WAITING = "quote_waiting"
PROMISE_CHANGED = "promise_changed"
READY = "ready_for_pickup"
SURVEY = "survey"
ONE_OFF = "one_off"
REMINDER = "appointment_reminder"
# The public booking page's phone check: the code texted to the phone.
BOOKING_CODE = "booking_code"
KINDS = (RECEIVED, QUOTE_WAITING, PROMISE_CHANGED, READY, SURVEY, ONE_OFF, REMINDER, BOOKING_CODE)
# Kinds about an appointment or a phone, not an order (``order_id`` NULL):
# composed from the appointment (or the phone in the facts) and checked
# against it (``still_true``).
ORDERLESS_KINDS = frozenset({REMINDER, BOOKING_CODE})
# The kinds a shop may turn loud or silent (a one-off is always a person's choice).
AUTOMATIC_KINDS = (RECEIVED, QUOTE_WAITING, PROMISE_CHANGED, READY, SURVEY)
# Sent even inside quiet hours: the work waits on the customer's OK, or an
# advisor chose to send it now. Everything else waits for the morning.
URGENT_KINDS = frozenset({QUOTE_WAITING, ONE_OFF, BOOKING_CODE})

# Outbox states (the ``notification.status`` column).
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
FAILED = "failed"
SUPPRESSED = "suppressed"
STATUSES = (QUEUED, SENDING, SENT, DELIVERED, FAILED, SUPPRESSED)

# Why a message was not sent (``reason`` of suppressed and failed messages).
STALE = "stale"
OPTED_OUT = "opted_out"
RATE_CAP = "rate_cap"
NO_ADDRESS = "no_address"
CHANNEL_OFF = "channel_not_configured"
OUTCOME_UNKNOWN = "outcome_unknown"
GAVE_UP = "gave_up"

DEFAULT_QUIET = ("21:00", "08:00")
DEFAULT_MAX_PER_DAY = 5
MAX_PER_DAY_LIMIT = 50
EMAIL_MAX = 200
# An address as the desk types it; empty means none (also the OpenAPI pattern).
EMAIL_PATTERN = r"^$|^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$"
_EMAIL = re.compile(EMAIL_PATTERN)
_HOUR = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Planned:
    """One message an event causes: its kind, channel and the facts the
    sender checks before sending (``still_true``)."""

    kind: str
    channel: str
    seq: int
    facts: Mapping[str, Any]

    def dedupe_key(self, shop_id: int, order_id: int) -> str:
        """One message per event, kind and channel: also what a provider that
        takes an out-id is given, so a retried send can be recognised."""
        return f"{shop_id}-{order_id}-{self.seq}-{self.kind}-{self.channel}"


@dataclass(frozen=True)
class NotifySettings:
    """The shop's notification settings (``Shop.settings["notify"]``) read
    once: which kinds are loud, the quiet hours and the daily cap."""

    loud: frozenset[str]
    quiet_start: time
    quiet_end: time
    max_per_order_per_day: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> NotifySettings:
        raw = (settings or {}).get("notify") or {}
        kinds = raw.get("kinds") or {}
        loud = frozenset(k for k in AUTOMATIC_KINDS if kinds.get(k, True)) | {
            ONE_OFF,
            REMINDER,
            BOOKING_CODE,
        }
        quiet = raw.get("quiet_hours") or {}
        start = _clock(quiet.get("start", DEFAULT_QUIET[0]))
        end = _clock(quiet.get("end", DEFAULT_QUIET[1]))
        cap = int(raw.get("max_per_order_per_day", DEFAULT_MAX_PER_DAY))
        return cls(loud, start, end, cap)


def _clock(text: str) -> time:
    hour, minute = text.split(":")
    return time(int(hour), int(minute))


def plan(
    events: Sequence[tuple[int, Event]],
    *,
    channels: Iterable[str],
    settings: NotifySettings,
) -> list[Planned]:
    """The messages ``events`` (each with its seq) cause for an order whose
    customer consented to ``channels``; silent kinds cause none."""
    kinds: list[tuple[str, int, dict[str, Any]]] = []
    for seq, event in events:
        data = event.data()
        if event.type == "order_created" and data.get("stage") != Stage.BOOKED:
            kinds.append((RECEIVED, seq, {}))
        elif (
            event.type == "stage_changed"
            and data.get("to_stage") == Stage.CHECKED_IN
            and data.get("from_stage") == Stage.BOOKED
        ):
            # A booked car arrives: now it is received. A car moved back to
            # checked in (from dispatched) was received long ago: no news.
            kinds.append((RECEIVED, seq, {}))
        elif event.type == "extra_work_quoted":
            kinds.append((QUOTE_WAITING, seq, {"quote_id": data.get("quote_id"), "version": 1}))
        elif event.type == "quote_revised":
            facts = {"quote_id": data.get("quote_id"), "version": data.get("version")}
            kinds.append((QUOTE_WAITING, seq, facts))
        elif event.type == "promise_changed" and data.get("new"):
            kinds.append((PROMISE_CHANGED, seq, {"new": data["new"]}))
        elif event.type == "stage_changed" and data.get("to_stage") == Stage.READY:
            kinds.append((READY, seq, {}))
        elif event.type == "stage_changed" and data.get("to_stage") == Stage.DELIVERED:
            kinds.append((SURVEY, seq, {}))
    wanted = [c for c in CHANNELS if c in set(channels)]
    return [
        Planned(kind, channel, seq, facts)
        for kind, seq, facts in kinds
        if kind in settings.loud
        for channel in wanted
    ]


def still_true(kind: str, facts: Mapping[str, Any], order: Mapping[str, Any]) -> bool:
    """Whether a message queued with ``facts`` still tells the truth about
    ``order`` now (``stage``, ``promised_at`` ISO text, ``quotes``,
    ``survey_rating``, ``anonymised``). A false one is dropped, not sent late.

    A reminder is checked against its appointment instead (``status``,
    ``start`` ISO text): still booked at the start it names (a cancelled or
    moved appointment's reminder is stale). A booking code against its code
    (``live``: not used, not expired)."""
    if order.get("anonymised"):
        return False
    if kind == REMINDER:
        return order.get("status") == "booked" and _same_moment(
            order.get("start"), facts.get("start")
        )
    if kind == BOOKING_CODE:
        return order.get("live") is True
    stage = order.get("stage")
    if kind == RECEIVED:
        return stage not in (Stage.DELIVERED, Stage.CANCELLED)
    if kind == QUOTE_WAITING:
        # A revised quote is a new message; the one about the old version is not.
        wanted, version = facts.get("quote_id"), facts.get("version")
        return any(
            q.get("id") == wanted
            and q.get("status") == "pending"
            and (version is None or q.get("version", 1) == version)
            for q in order.get("quotes", ())
        )
    if kind == PROMISE_CHANGED:
        return bool(order.get("promised_at")) and _same_moment(
            order.get("promised_at"), facts.get("new")
        )
    if kind == READY:
        return stage == Stage.READY
    if kind == SURVEY:
        return stage == Stage.DELIVERED and order.get("survey_rating") is None
    return True


def _same_moment(a: Any, b: Any) -> bool:
    try:
        return datetime.fromisoformat(str(a)) == datetime.fromisoformat(str(b))
    except ValueError:
        return False


def quiet_until(kind: str, now: datetime, zone: ZoneInfo, settings: NotifySettings) -> datetime:
    """When ``kind`` may go out if it is ready ``now``: now, or the end of the
    shop's quiet hours (its own clock, so a DST night still ends at 08:00)."""
    if kind in URGENT_KINDS or settings.quiet_start == settings.quiet_end:
        return now
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    start, end = settings.quiet_start, settings.quiet_end
    overnight = start > end
    inside = (clock >= start or clock < end) if overnight else (start <= clock < end)
    if not inside:
        return now
    day = local.date()
    if overnight and clock >= start:
        day += timedelta(days=1)
    wake = datetime.combine(day, end, tzinfo=zone)
    return max(now, wake.astimezone(now.tzinfo))


def check_contact(
    *, email: str, notify: Sequence[str], phone: str, language: str, locales: Sequence[str]
) -> tuple[str, tuple[str, ...], str]:
    """The consent given at reception, checked: (email, channels, language).
    SMS needs the phone, e-mail the address; WeChat is bound later, when the
    customer opens the tracking page inside WeChat and agrees."""
    email = email.strip()
    if len(email) > EMAIL_MAX or (email and not _EMAIL.match(email)):
        raise errors.ValidationFailed("customer.email", "customer.email is not an e-mail address.")
    unknown = [c for c in notify if c not in CHANNELS]
    if unknown:
        raise errors.ValidationFailed(
            "customer.notify", "customer.notify may only name the channels sms, wechat and email."
        )
    channels = tuple(c for c in CHANNELS if c in set(notify))
    if SMS in channels and not phone.strip():
        raise errors.ValidationFailed("customer.notify", "SMS needs the customer's phone.")
    if EMAIL in channels and not email:
        raise errors.ValidationFailed("customer.notify", "E-mail needs the customer's address.")
    if language and language not in locales:
        raise errors.ValidationFailed(
            "customer.language",
            "customer.language must be Simplified Chinese, Traditional Chinese or English.",
        )
    return email, channels, language


def check_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A shop's ``notify`` settings as the admin sends them, checked; the
    stored form. Unknown keys are refused (a typo must not silently do nothing)."""
    allowed = {"kinds", "quiet_hours", "max_per_order_per_day", "templates"}
    extra = sorted(set(raw) - allowed)
    if extra:
        name = f"notify.{extra[0]}"
        raise errors.ValidationFailed(name, f"{name} is not a field of this request.")
    out: dict[str, Any] = {}
    kinds = raw.get("kinds", {})
    if not isinstance(kinds, Mapping) or any(
        k not in AUTOMATIC_KINDS or not isinstance(v, bool) for k, v in kinds.items()
    ):
        raise errors.ValidationFailed(
            "notify.kinds", "notify.kinds maps a kind of message to true or false."
        )
    out["kinds"] = dict(kinds)
    quiet = raw.get("quiet_hours", {"start": DEFAULT_QUIET[0], "end": DEFAULT_QUIET[1]})
    if (
        not isinstance(quiet, Mapping)
        or set(quiet) != {"start", "end"}
        or not all(isinstance(v, str) and _HOUR.match(v) for v in quiet.values())
    ):
        raise errors.ValidationFailed(
            "notify.quiet_hours", "notify.quiet_hours needs start and end as HH:MM."
        )
    out["quiet_hours"] = {"start": quiet["start"], "end": quiet["end"]}
    cap = raw.get("max_per_order_per_day", DEFAULT_MAX_PER_DAY)
    if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= MAX_PER_DAY_LIMIT:
        raise errors.ValidationFailed(
            "notify.max_per_order_per_day",
            f"notify.max_per_order_per_day must be from 1 to {MAX_PER_DAY_LIMIT}.",
        )
    out["max_per_order_per_day"] = cap
    if "templates" in raw:
        out["templates"] = raw["templates"]
    return out
