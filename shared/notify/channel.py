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
