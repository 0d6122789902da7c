"""The one small interface every notification channel implements.

A channel turns an ``Outgoing`` message into one provider request with the
provider's own SDK (Alibaba Cloud SMS, Tencent Cloud SMS, WeChat Official
Account template messages, SMTP). The sender (``shared.notify.sender``)
knows nothing of providers: it only tells three failures apart, because
"never twice" depends on it:

- ``SendFailed(retry=True)``: the provider certainly did not take the
  message (connection refused, a throttling or busy answer): send again
  after a backoff.
- ``SendFailed(retry=False)``: it will never go (a bad number, an unknown
  template, bad credentials): failed, with the reason for the desk.
- ``SendUnsure``: the request may have reached the provider and the answer
  was lost (a timeout after the request was written, a crash). The sender
  does not send again blindly: it asks ``was_sent`` with the message's
  dedupe key (the provider's out-id or the e-mail's Message-ID), and
  sends again only on a clear "no".

Whether asking can ever help is said by the channel, not guessed from its
answers (``can_tell_sent``, ``repeat_window``):

- a channel whose provider can be asked (Alibaba Cloud's QuerySendDetails,
  Tencent Cloud's status reports) has ``can_tell_sent = True``: an
  unanswered question is asked again after a backoff;
- a channel that can never tell (SMTP) has ``can_tell_sent = False``: an
  unsure send is failed ``outcome_unknown`` at once, for a person;
- a channel whose provider drops a repeat of the same message id within a
  window (WeChat's ``client_msg_id``, ten minutes) also says
  ``repeat_window_seconds``: an unsure send is sent again with the same id
  inside that window (a repeat of one that went is dropped by the
  provider), and is ``outcome_unknown`` once the window is over.

Both attributes are optional; a channel without them is taken to be one
that can tell, with no repeat window (what the SMS channels are).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Outgoing:
    """One message as a channel sends it.

    ``text`` is the full text in the customer's language (e-mail body, and
    what the desk shows); ``params`` are the same facts as separate values
    for providers whose templates are registered with them (Chinese SMS
    carriers only take pre-approved templates; WeChat template messages
    take named fields). ``subject`` is for e-mail."""

    dedupe_key: str
    kind: str
    locale: str
    recipient: str
    text: str
    subject: str = ""
    params: Mapping[str, str] = field(default_factory=dict)
    link: str = ""


@dataclass(frozen=True)
class Sent:
    """The provider took the message: its id for the message (BizId,
    SerialNo, msgid, Message-ID), to match delivery reports later."""

    provider_id: str
    delivered: bool = False


class SendFailed(Exception):
    """The provider did not take the message; ``retry`` says whether a later
    attempt can succeed. ``reason`` is short and carries no credential."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


class SendUnsure(Exception):
    """The request may have reached the provider; the answer was lost."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Channel(Protocol):
    """What the sender needs of a channel."""

    # "sms", "wechat" or "email" (``shared.domain.notifications.CHANNELS``).
    name: str
    # The provider's rate limit for this account, messages per second: the
    # sender never goes faster.
    rate_per_second: float

    def send(self, message: Outgoing) -> Sent:
        """Send one message, or raise ``SendFailed`` / ``SendUnsure``."""
        ...

    def was_sent(self, message: Outgoing) -> bool | None:
        """After ``SendUnsure`` or a crash: did the provider take the message
        with this dedupe key? True, False, or None when it cannot tell
        (then the sender marks it failed, outcome unknown, for a person)."""
        ...


def can_tell_sent(channel: object) -> bool:
    """Whether ``was_sent`` can ever answer for this channel (its
    ``can_tell_sent``; a channel that does not say is taken to be able to)."""
    return bool(getattr(channel, "can_tell_sent", True))


def repeat_window(channel: object) -> float | None:
    """Seconds within which the provider drops a repeat of the same message
    id (``repeat_window_seconds``), or None when it does not."""
    value = getattr(channel, "repeat_window_seconds", None)
    return float(value) if isinstance(value, int | float) and value > 0 else None
