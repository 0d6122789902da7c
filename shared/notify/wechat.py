"""WeChat Official Account template messages through ``wechatpy``.

A customer who opened the tracking page inside WeChat and agreed is known
by their openid; a message is the shop's template (its template_id per
kind) with named fields filled from ``Outgoing.params`` and the tracking
link as the message's url.

Sending twice: WeChat documents ``client_msg_id`` on template messages as a
re-entry guard ("for the same openid and client_msg_id only one message is
sent, for 10 minutes"). The dedupe key goes there, so a repeat soon after a
lost answer is dropped by WeChat. There is no documented way to *ask*
whether a message went (its delivery is pushed to the account's callback
URL as TEMPLATESENDJOBFINISH), so ``was_sent`` answers None, and the channel
says so (``can_tell_sent = False``, ``repeat_window_seconds`` = those ten
minutes): the sender sends an unsure message again with the same id inside
the window, and leaves it to a person after it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from shared.notify.channel import Outgoing, SendFailed, SendUnsure, Sent
from shared.notify.support import (
    NOT_SENT,
    UNSURE,
    network_fault,
    protect_logs,
    register_secret,
)

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"
# Template messages of a service account: 100,000 a day by default; the
# API itself takes a few hundred calls a second.
DEFAULT_RATE = 20.0
# WeChat drops a template message repeating an openid + client_msg_id for
# this long after the first.
REPEAT_WINDOW_SECONDS = 600.0
# client_msg_id is at most 64 bytes.
CLIENT_MSG_ID_MAX = 64

# errcode -> retry? and the desk's reason.
ERRORS: dict[int, tuple[bool, str]] = {
    -1: (True, "wechat busy"),
    45009: (True, "wechat daily api limit reached"),
    45011: (True, "wechat api rate limit reached"),
    45047: (True, "wechat message limit reached"),
    40001: (True, "wechat access token refused"),
    42001: (True, "wechat access token expired"),
    40003: (False, "invalid wechat openid"),
    43004: (False, "customer does not follow the account"),
    43101: (False, "customer refuses the messages"),
    40037: (False, "wechat template not approved"),
    47001: (False, "wechat template values invalid"),
    40013: (False, "wechat credentials refused"),
    40125: (False, "wechat credentials refused"),
    40164: (False, "server address not whitelisted by wechat"),
    41001: (False, "wechat credentials refused"),
    48001: (False, "wechat account lacks template messages"),
}


@dataclass(frozen=True)
class WeChatConfig:
    """What the channel needs; ``repr`` never shows the app secret."""

    app_id: str
    app_secret: str = field(repr=False)
    # kind -> (template_id, ((field, param name), ...)); no fields: every
    # param under its own name.
    templates: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]
    api_base: str = DEFAULT_API_BASE
    timeout: float = 10.0
    rate_per_second: float = DEFAULT_RATE


class _TimedSession(requests.Session):
    """A session whose every request has the channel's timeout: wechatpy
    fetches the access token without one, which would hold the sender
    forever on a network that accepts and never answers."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class _Client(WeChatClient):
    """wechatpy's client with the API base configurable for the access
    token too (wechatpy fetches it from a fixed address), a timeout on every
    request, and every token it receives registered for masking in logs."""

    def __init__(self, app_id: str, secret: str, api_base: str, timeout: float) -> None:
        super().__init__(app_id, secret, timeout=timeout, auto_retry=True)
        self.API_BASE_URL = api_base
        self._http = _TimedSession(timeout)

    def fetch_access_token(self) -> dict[str, Any]:
        result: dict[str, Any] = self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )
        register_secret(str(result.get("access_token") or ""))
        return result


def client_msg_id(dedupe_key: str) -> str:
    """The dedupe key, or its digest when longer than WeChat takes."""
    if len(dedupe_key.encode()) <= CLIENT_MSG_ID_MAX:
        return dedupe_key
    return hashlib.sha256(dedupe_key.encode()).hexdigest()[:CLIENT_MSG_ID_MAX]


def classify_errcode(errcode: Any) -> SendFailed:
    try:
        code = int(errcode)
    except (TypeError, ValueError):
        # An HTTP error status or an answer that is not WeChat's JSON.
        return SendFailed("wechat unavailable", retry=True)
    retry, reason = ERRORS.get(code, (False, f"wechat refused ({code})"))
    return SendFailed(reason, retry=retry)


class WeChatTemplates:
    """The ``wechat`` channel: Official Account template messages."""

    name = "wechat"
    # No query for a sent message, but a repeat with the same client_msg_id
    # is dropped within its window (the module's docstring).
    can_tell_sent = False
    repeat_window_seconds: float | None = REPEAT_WINDOW_SECONDS

    def __init__(self, config: WeChatConfig) -> None:
        register_secret(config.app_secret)
        protect_logs()
        self.config = config
        self.rate_per_second = config.rate_per_second
        self._templates = {kind: (tid, fields) for kind, tid, fields in config.templates}
        self._client = _Client(config.app_id, config.app_secret, config.api_base, config.timeout)

    def __repr__(self) -> str:
        return f"WeChatTemplates(app_id={self.config.app_id!r})"

    def send(self, message: Outgoing) -> Sent:
        found = self._templates.get(message.kind)
        if found is None or not found[0]:
            raise SendFailed(f"no wechat template for {message.kind}", retry=False)
        template_id, fields = found
        pairs = fields or tuple((name, name) for name in message.params)
        payload: dict[str, Any] = {
            "touser": message.recipient,
            "template_id": template_id,
            "data": {name: {"value": str(message.params.get(param, ""))} for name, param in pairs},
            "client_msg_id": client_msg_id(message.dedupe_key),
        }
        if message.link:
            payload["url"] = message.link
        self._ensure_token()
        try:
            result = self._client.post("message/template/send", data=payload)
        except WeChatClientException as error:
            fault = network_fault(error)
            if fault is not None:
                raise self._network(fault) from None
            raise classify_errcode(error.errcode) from None
        except Exception as error:
            fault = network_fault(error)
            if fault is not None:
                raise self._network(fault) from None
            raise SendUnsure(f"wechat sdk error ({type(error).__name__})") from None
        if not isinstance(result, Mapping):
            raise SendUnsure("wechat answered without json")
        return Sent(provider_id=str(result.get("msgid") or ""))

    def _ensure_token(self) -> None:
        """The access token, fetched before the message goes: a failure here
        certainly sent nothing (retry), unlike one after the message left."""
        try:
            self._client.access_token  # noqa: B018 (the property fetches when needed)
        except WeChatClientException as error:
            if network_fault(error) is not None:
                raise SendFailed("wechat unreachable", retry=True) from None
            failure = classify_errcode(error.errcode)
            raise SendFailed(failure.reason, retry=failure.retry) from None
        except Exception as error:
            if network_fault(error) is not None:
                raise SendFailed("wechat unreachable", retry=True) from None
            raise SendFailed(f"wechat token error ({type(error).__name__})", retry=True) from None

    @staticmethod
    def _network(fault: str) -> SendFailed | SendUnsure:
        if fault == NOT_SENT:
            return SendFailed("wechat unreachable", retry=True)
        if fault == UNSURE:
            return SendUnsure("wechat did not answer")
        raise AssertionError(fault)

    def was_sent(self, message: Outgoing) -> bool | None:
        """WeChat has no query for a sent template message: None."""
        return None


def config_from(values: Mapping[str, Any], timeout: float) -> WeChatConfig | None:
    """The channel's configuration from merged settings; None without the
    app id or secret."""
    app_id = str(values.get("app_id") or "")
    secret = str(values.get("app_secret") or "")
    if not (app_id and secret):
        return None
    templates = []
    for kind, value in (values.get("templates") or {}).items():
        if isinstance(value, Mapping):
            fields = tuple(sorted((str(k), str(v)) for k, v in (value.get("fields") or {}).items()))
            templates.append((str(kind), str(value.get("id") or ""), fields))
        else:
            templates.append((str(kind), str(value), ()))
    base = str(values.get("api_base") or DEFAULT_API_BASE)
    return WeChatConfig(
        app_id=app_id,
        app_secret=secret,
        templates=tuple(sorted(templates)),
        api_base=base if base.endswith("/") else base + "/",
        timeout=timeout,
        rate_per_second=float(values.get("rate_per_second") or DEFAULT_RATE),
    )
