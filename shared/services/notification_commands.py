"""What people do with a customer's messages (issue 17; docs/NOTIFICATIONS.md).

- ``send_one_off``: the advisor writes the customer a message from the desk.
  It goes on the channels the customer agreed to and can be reached on,
  now (urgent: quiet hours do not hold it), and it is written as outbox
  rows in the command's own transaction, so it exists exactly when the
  command committed; a replayed Idempotency-Key queues nothing more.
- ``opt_out``: the customer (from the tracking page, or by the provider's
  unsubscribe keyword) or the desk stops the order's messages. The ones
  still queued are suppressed in the same transaction; a second opt-out
  changes nothing.
- ``bind_wechat``: the customer opened the tracking page inside WeChat and
  agreed: the openid WeChat gives for them is stored, and WeChat becomes a
  channel they agreed to. ``openid_for_code`` is the OAuth exchange
  (snsapi_base: no prompt, only the openid) through wechatpy.
- ``stop_reminders``: a phone's SMS reply 退订/TD also stops the reminders
  of its booked appointments in the shop (the sender calls it per shop the
  replying channel serves).
- ``order_messages`` / ``failed_messages``: what staff see (the failed list
  holds an appointment's reminders and the public page's codes too).

Every command goes through ``commands.execute`` (idempotent with a key; a
stale ``version`` is a 409 that carries the order as it is now). None of
them records an order event (the event log is the car's story, and the
messages are listed beside it); screens hear of the change by the
``notifications`` notice and read the list again.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update

from shared.domain import errors
from shared.domain import notifications as rules
from shared.domain.errors import Message
from shared.domain.notification_texts import ONE_OFF_MAX
from shared.domain.order import checked_text
from shared.domain.text import check_text
from shared.persistence.appointment_models import Appointment
from shared.persistence.models import RepairOrder, Shop
from shared.persistence.notification_models import Notification
from shared.realtime.publisher import Notice, staff_room
from shared.services import appointments, outbox
from shared.services.commands import CommandRequest, Outcome, Transaction, execute
from shared.services.core import Core
from shared.services.views import mask_plate

# The staff screens' hint that an order's messages changed: {order_id}.
NOTICE = "notifications"
OPT_OUT_SOURCES = ("page", "sms_keyword", "desk")
# Where WeChat's OAuth calls go (``sns/oauth2/access_token``).
OAUTH_API_BASE = "https://api.weixin.qq.com/"
_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INSERT = insert(cast(Table, Notification.__table__))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def message_json(row: Notification, *, with_text: bool = True) -> dict[str, Any]:
    """One message as staff see it: the CONTRACT's {channel, kind, status,
    reason, at}, with its id, attempts and, for a one-off, what the advisor
    wrote. ``at`` is when it reached its status (sent: when it was sent)."""
    at = row.sent_at if row.status in (rules.SENT, rules.DELIVERED) and row.sent_at else None
    out: dict[str, Any] = {
        "id": row.id,
        # Also what lets the retention find stored answers that copy a
        # one-off's words (``retention.mentioned_orders``).
        "order_id": row.order_id,
        "channel": row.channel,
        "kind": row.kind,
        "status": row.status,
        "reason": row.reason or None,
        "at": _iso(at or row.updated_at),
        "attempts": row.attempts,
    }
    if row.status == rules.QUEUED and row.not_before is not None:
        out["not_before"] = _iso(row.not_before)
    if with_text and row.kind == rules.ONE_OFF:
        out["text"] = str((row.facts or {}).get("text", ""))
        out["by"] = row.by
    return out


def _changed(tx: Transaction, order_id: int) -> None:
    tx.notify(Notice(NOTICE, {"order_id": order_id}, (staff_room(tx.locked.id),)))


def _load(tx: Transaction, order_id: int, version: int | None) -> RepairOrder:
    row = tx.load_order(order_id)
    if version is not None:
        tx.check_version(row, version)
    return row


# ------------------------------------------------------------------ one-off


def _one_off_channels(
    tx: Transaction, row: RepairOrder, wanted: Sequence[str] | None
) -> tuple[str, ...]:
    """The channels the one-off goes on. A well-formed request the order's
    state refuses (erased, opted out, a channel the customer did not agree
    to or cannot be reached on) is a 409 carrying the order, as the other
    order commands' refusals; a malformed one (a channel that does not
    exist, an empty list) is a 422 naming ``channels``."""
    if wanted is not None:
        unknown = [c for c in wanted if c not in rules.CHANNELS]
        if unknown or not wanted:
            raise errors.ValidationFailed(
                "channels", "channels may only name the channels sms, wechat and email."
            )
    if row.anonymised_at is not None:
        raise tx.refuse(errors.DomainError("This order's customer data has been erased."), row)
    if row.notify_opted_out_at is not None:
        raise tx.refuse(
            errors.DomainError("The customer asked for no more messages on this order."), row
        )
    reachable = outbox.reachable_channels(row)
    if wanted is not None:
        missing = [c for c in rules.CHANNELS if c in wanted and c not in reachable]
        if missing:
            raise tx.refuse(
                errors.DomainError(
                    Message(
                        "The customer did not agree to messages by %(channel)s, "
                        "or has no address for it.",
                        channel=missing[0],
                    )
                ),
                row,
            )
        return tuple(c for c in rules.CHANNELS if c in wanted)
    if not reachable:
        raise tx.refuse(
            errors.DomainError("The customer agreed to no channel they can be reached on."), row
        )
    return reachable


def _one_off_token(request: CommandRequest) -> str:
    """What makes the one-off's dedupe keys unique: the Idempotency-Key
    (hashed with who sent it, so two callers' keys never meet), else fresh."""
    if request.idempotency_key:
        scope = request.actor.ref or request.actor.name
        raw = f"{scope}\n{request.idempotency_key}".encode("utf-8", "surrogatepass")
        return hashlib.sha256(raw).hexdigest()[:40]
    return secrets.token_hex(16)


def send_one_off(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    text: str,
    channels: Sequence[str] | None = None,
    version: int | None = None,
) -> Outcome:
    """Queue the advisor's message (≤ ``ONE_OFF_MAX`` characters) on the
    customer's consented and reachable channels (or those of them named);
    201 with the queued messages."""
    if len(text) > ONE_OFF_MAX:
        # As sent, before trimming: the document's maxLength is the text's.
        raise errors.ValidationFailed(
            "text",
            Message(
                "%(field)s is longer than %(limit)s characters.", field="text", limit=ONE_OFF_MAX
            ),
        )
    cleaned = checked_text("text", text, required=True, limit=ONE_OFF_MAX, multiline=True)
    check_text("text", cleaned, multiline=True)

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = _load(tx, order_id, version)
        chosen = _one_off_channels(tx, row, channels)
        token = _one_off_token(tx.request)
        values = [
            {
                "shop_id": tx.locked.id,
                "order_id": row.id,
                "kind": rules.ONE_OFF,
                "channel": channel,
                "dedupe_key": f"{tx.locked.id}-{row.id}-oneoff-{token}-{channel}",
                "seq": None,
                "facts": {"text": cleaned},
                "recipient": "",
                "locale": row.customer_language or "",
                "text": "",
                "status": rules.QUEUED,
                "reason": "",
                "attempts": 0,
                "not_before": tx.now,
                "claimed_by": "",
                "claimed_until": None,
                "provider_id": "",
                "created_at": tx.now,
                "updated_at": tx.now,
                "sent_at": None,
                "by": tx.actor.name,
            }
            for channel in chosen
        ]
        tx.session.connection().execute(_INSERT, values)
        keys = [v["dedupe_key"] for v in values]
        written = tx.session.execute(
            select(Notification).where(Notification.dedupe_key.in_(keys)).order_by(Notification.id)
        ).scalars()
        _changed(tx, row.id)
        return 201, {"notifications": [message_json(n) for n in written]}

    return execute(core, request, "send_one_off", work)


# ------------------------------------------------------------------ opt-out


def _suppress_queued(tx: Transaction, order_id: int) -> int:
    """Every message of the order still waiting becomes suppressed
    (opted_out). One being sent right now is the sender's: it checks the
    opt-out again before it sends."""
    result = tx.session.execute(
        update(Notification)
        .where(Notification.order_id == order_id, Notification.status == rules.QUEUED)
        .values(status=rules.SUPPRESSED, reason=rules.OPTED_OUT, updated_at=tx.now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def opt_out(
    core: Core,
    request: CommandRequest,
    order_id: int,
    *,
    source: str,
    version: int | None = None,
) -> Outcome:
    """Stop the order's messages: record when and how (``source``: page,
    sms_keyword, desk) and suppress the queued ones. Once is enough: a
    second opt-out answers the same and changes nothing."""
    if source not in OPT_OUT_SOURCES:
        # Set by the endpoint, never by the caller: a wrong one is a bug.
        raise ValueError(f"unknown opt-out source {source!r}")

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = _load(tx, order_id, version)
        suppressed = 0
        if row.notify_opted_out_at is None:
            row.notify_opted_out_at = tx.now
            row.notify_opt_out = source
            suppressed = _suppress_queued(tx, row.id)
            tx.session.flush()
            _changed(tx, row.id)
        return 200, {
            "opted_out": True,
            "opted_out_at": _iso(row.notify_opted_out_at),
            "suppressed": suppressed,
            "order": tx.view(row),
        }

    return execute(core, request, "notify_opt_out", work)


def stop_reminders(
    core: Core, request: CommandRequest, phones: Sequence[str], *, source: str
) -> Outcome:
    """No more reminders for the shop's booked appointments at ``phones``
    (the spellings of one number): each records when (and a
    ``reminders_stopped`` event saying how), its queued reminders are
    suppressed. Appointments already stopped are left as they are."""
    if source not in OPT_OUT_SOURCES:
        raise ValueError(f"unknown opt-out source {source!r}")
    wanted = sorted({p for p in phones if p})

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        if not wanted:
            return 200, {"appointments": []}
        rows = (
            tx.session.execute(
                select(Appointment)
                .where(
                    Appointment.shop_id == tx.locked.id,
                    Appointment.customer_phone.in_(wanted),
                    Appointment.status == "booked",
                    Appointment.notify_opted_out_at.is_(None),
                    Appointment.anonymised_at.is_(None),
                )
                .order_by(Appointment.id)
            )
            .scalars()
            .all()
        )
        for row in rows:
            row.notify_opted_out_at = tx.now
            tx.session.execute(
                update(Notification)
                .where(
                    Notification.shop_id == tx.locked.id,
                    Notification.order_id.is_(None),
                    Notification.kind == rules.REMINDER,
                    Notification.status == rules.QUEUED,
                    Notification.facts["appointment_id"].as_integer() == row.id,
                )
                .values(status=rules.SUPPRESSED, reason=rules.OPTED_OUT, updated_at=tx.now)
            )
            appointments.record(tx, row, "reminders_stopped", {"source": source})
        return 200, {"appointments": [row.id for row in rows]}

    return execute(core, request, "appointment_reminders_stop", work)


# ------------------------------------------------------------------ WeChat


@dataclass(frozen=True)
class WeChatApp:
    """The shop's WeChat Official Account as the OAuth exchange needs it.
    ``repr`` never shows the secret."""

    app_id: str
    secret: str
    api_base: str

    def __repr__(self) -> str:
        return f"WeChatApp(app_id={self.app_id!r})"


def wechat_app(shop_settings: Mapping[str, Any] | None) -> WeChatApp | None:
    """The shop's WeChat account (``notify_providers.wechat`` in its settings,
    each key else ``BAYLIGHT_WECHAT_APP_ID`` / ``BAYLIGHT_WECHAT_APP_SECRET``,
    as ``shared.notify.registry`` reads them), or None when it has none: then
    the page offers no WeChat binding. The server it talks to comes from the
    environment only (``BAYLIGHT_WECHAT_API_BASE``, the channel's, whose
    ``cgi-bin/`` the OAuth calls sit beside): a shop's settings must not send
    its secret elsewhere."""
    providers = (shop_settings or {}).get("notify_providers") or {}
    own = providers.get("wechat") if isinstance(providers, Mapping) else None
    own = own if isinstance(own, Mapping) else {}
    app_id = str(own.get("app_id") or os.environ.get("BAYLIGHT_WECHAT_APP_ID", ""))
    secret = str(own.get("app_secret") or os.environ.get("BAYLIGHT_WECHAT_APP_SECRET", ""))
    if not app_id or not secret:
        return None
    base = os.environ.get("BAYLIGHT_WECHAT_API_BASE", "") or OAUTH_API_BASE
    base = base if base.endswith("/") else base + "/"
    if base.endswith("/cgi-bin/"):
        base = base[: -len("cgi-bin/")]
    return WeChatApp(app_id, secret, base)


def authorize_url(app: WeChatApp, redirect_uri: str, state: str) -> str:
    """Where the page sends the customer who agreed: WeChat's silent
    snsapi_base authorisation, which comes back to ``redirect_uri`` with a code."""
    from wechatpy.oauth import WeChatOAuth

    return str(
        WeChatOAuth(app.app_id, app.secret, redirect_uri, "snsapi_base", state).authorize_url
    )


class WeChatUnavailable(errors.DomainError):
    """WeChat did not give an openid for the code (expired, used, or the
    service could not be reached). Nothing was stored."""

    code = "domain_error"
    status = 502


def openid_for_code(app: WeChatApp, code: str) -> str:
    """The customer's openid for the OAuth ``code`` (wechatpy's WeChatOAuth)."""
    from requests import RequestException
    from wechatpy.exceptions import WeChatException
    from wechatpy.oauth import WeChatOAuth

    if not code or len(code) > 200:
        raise errors.ValidationFailed("code", "code is required.")
    oauth = WeChatOAuth(app.app_id, app.secret, "", "snsapi_base")
    oauth.API_BASE_URL = app.api_base
    try:
        result = oauth.fetch_access_token(code)
    except (WeChatException, RequestException, KeyError, ValueError) as failed:
        raise WeChatUnavailable("WeChat did not confirm who you are. Please try again.") from failed
    openid = str(result.get("openid", ""))
    if not _OPENID.match(openid):
        raise WeChatUnavailable("WeChat did not confirm who you are. Please try again.")
    return openid


def bind_wechat(core: Core, request: CommandRequest, order_id: int, *, openid: str) -> Outcome:
    """Store the customer's openid and their agreement to WeChat messages.
    Binding the same openid again changes nothing; after an opt-out it is
    refused (stopping messages is the customer's last word on this order)."""
    if not _OPENID.match(openid):
        raise errors.ValidationFailed("openid", "openid is not a WeChat openid.")

    def work(tx: Transaction) -> tuple[int, dict[str, Any]]:
        row = tx.load_order(order_id)
        if row.notify_opted_out_at is not None:
            raise tx.refuse(
                errors.DomainError("The customer asked for no more messages on this order."), row
            )
        if wechat_app(tx.shop.settings) is None:
            raise tx.refuse(errors.DomainError("This shop does not send WeChat messages."), row)
        changed = row.wechat_openid != openid or rules.WECHAT not in (row.customer_notify or ())
        if changed:
            row.wechat_openid = openid
            consented = list(row.customer_notify or ())
            if rules.WECHAT not in consented:
                consented.append(rules.WECHAT)
            row.customer_notify = [c for c in rules.CHANNELS if c in consented]
            if row.notify_consented_at is None:
                row.notify_consented_at = tx.now
            tx.session.flush()
            _changed(tx, row.id)
        return 200, {"wechat": True, "order": tx.view(row)}

    return execute(core, request, "bind_wechat", work)


# ------------------------------------------------------------------ reading


def order_messages(core: Core, shop_id: int, order_id: int) -> list[dict[str, Any]]:
    """The order's messages, oldest first; another shop's order is not found."""
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        if row is None or row.shop_id != shop_id:
            raise errors.NotFound(f"No order {order_id}.")
        found = session.execute(
            select(Notification)
            .where(Notification.order_id == order_id, Notification.shop_id == shop_id)
            .order_by(Notification.id)
        ).scalars()
        return [message_json(n) for n in found]


def failed_messages(
    core: Core, shop_id: int, since: datetime, *, limit: int = 100
) -> list[dict[str, Any]]:
    """The shop's messages that failed since ``since``, newest first (the
    desk's alert): an order's with the order they belong to (``number``,
    ``plate``); one without an order (a reminder, a booking code) with
    ``number`` null and, for a reminder, its appointment (``appointment_id``,
    ``start``, the plate masked)."""
    failed = (
        Notification.shop_id == shop_id,
        Notification.status == rules.FAILED,
        Notification.updated_at >= since,
    )
    newest = (Notification.updated_at.desc(), Notification.id.desc())
    with core.db.read() as session:
        found = session.execute(
            select(Notification, RepairOrder.number, RepairOrder.plate)
            .join(RepairOrder, RepairOrder.id == Notification.order_id)
            .where(*failed)
            .order_by(*newest)
            .limit(limit)
        ).all()
        listed: list[tuple[datetime, int, dict[str, Any]]] = [
            (
                n.updated_at,
                n.id,
                {
                    **message_json(n, with_text=False),
                    "order_id": n.order_id,
                    "number": number,
                    "plate": plate,
                },
            )
            for n, number, plate in found
        ]
        orderless = (
            session.execute(
                select(Notification)
                .where(*failed, Notification.order_id.is_(None))
                .order_by(*newest)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        ids = {
            n.facts["appointment_id"]
            for n in orderless
            if isinstance((n.facts or {}).get("appointment_id"), int)
        }
        booked = {
            row.id: row
            for row in session.execute(
                select(Appointment).where(Appointment.id.in_(sorted(ids)))
            ).scalars()
        }
        for n in orderless:
            wanted = (n.facts or {}).get("appointment_id")
            row = booked.get(wanted) if isinstance(wanted, int) else None
            listed.append(
                (
                    n.updated_at,
                    n.id,
                    {
                        **message_json(n, with_text=False),
                        "order_id": None,
                        "number": None,
                        "plate": mask_plate(row.plate) if row is not None and row.plate else "",
                        "appointment_id": row.id if row is not None else None,
                        "start": _iso(row.start) if row is not None else None,
                    },
                )
            )
    listed.sort(key=lambda found: (found[0], found[1]), reverse=True)
    return [entry for _at, _id, entry in listed[:limit]]


def page_state(core: Core, order_id: int, *, in_wechat: bool) -> dict[str, Any]:
    """What the customer's page says about the messages: the channels they
    agreed to (names only, never an address), whether they stopped them,
    and whether to offer WeChat (the page is open inside WeChat, the shop
    has an Official Account, and no openid is bound yet)."""
    with core.db.read() as session:
        row = session.get(RepairOrder, order_id)
        shop = session.get(Shop, row.shop_id) if row is not None else None
        if row is None or shop is None:
            raise errors.NotFound(f"No order {order_id}.")
        opted_out = row.notify_opted_out_at is not None
        bound = bool(row.wechat_openid)
        configured = wechat_app(shop.settings) is not None
        return {
            "channels": [] if opted_out else list(outbox.reachable_channels(row)),
            "opted_out": opted_out,
            "wechat_bound": bound,
            "wechat_offer": in_wechat and configured and not bound and not opted_out,
        }


def shop_wechat(core: Core, shop_id: int) -> WeChatApp | None:
    """The shop's WeChat Official Account (``wechat_app``), read from its settings."""
    with core.db.read() as session:
        shop = session.get(Shop, shop_id)
        return wechat_app(shop.settings) if shop is not None else None
