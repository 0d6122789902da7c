"""Which channels a shop can send through, and their configuration.

``channels_for`` returns only configured channels: one whose credentials
are missing is simply absent (the sender then suppresses its messages as
``channel_not_configured``), never an error at send time.

Where the configuration comes from, per channel: the shop's own block in
``shop.settings["notify_providers"]`` (``sms``, ``wechat``, ``email``), each
key falling back to the installation's environment:

- sms: ``BAYLIGHT_SMS_PROVIDER`` (aliyun | tencent), ``BAYLIGHT_SMS_SIGN_NAME``,
  ``BAYLIGHT_SMS_TEMPLATES`` (JSON {kind: template}), Alibaba Cloud
  ``BAYLIGHT_ALIYUN_ACCESS_KEY_ID`` / ``..._SECRET``, Tencent Cloud
  ``BAYLIGHT_TENCENT_SECRET_ID`` / ``..._KEY``, ``BAYLIGHT_TENCENT_SMS_APP_ID``,
  ``BAYLIGHT_TENCENT_SMS_REGION``;
- wechat: ``BAYLIGHT_WECHAT_APP_ID`` / ``..._APP_SECRET``,
  ``BAYLIGHT_WECHAT_TEMPLATES``;
- email: ``BAYLIGHT_SMTP_URL``, ``BAYLIGHT_MAIL_FROM``.

Provider endpoints (``BAYLIGHT_ALIYUN_SMS_ENDPOINT``,
``BAYLIGHT_TENCENT_SMS_ENDPOINT``, ``BAYLIGHT_WECHAT_API_BASE``) and the
request timeout (``BAYLIGHT_NOTIFY_TIMEOUT``, seconds) are taken from the
environment only: a shop's settings must not point its credentials at an
arbitrary server.

Channels are kept per configuration, so an SMS channel's pending receipts
and a WeChat access token survive from one call to the next. No credential
is ever logged: a configuration problem is logged by setting name only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from shared.config import Settings
from shared.notify.channel import Channel

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
CACHE_SIZE = 64

# setting key -> environment name, per channel (the environment's fallbacks).
SMS_ENV = {
    "provider": "BAYLIGHT_SMS_PROVIDER",
    "sign_name": "BAYLIGHT_SMS_SIGN_NAME",
    "templates": "BAYLIGHT_SMS_TEMPLATES",
    "rate_per_second": "BAYLIGHT_SMS_RATE",
}
ALIYUN_ENV = {
    "access_key_id": "BAYLIGHT_ALIYUN_ACCESS_KEY_ID",
    "access_key_secret": "BAYLIGHT_ALIYUN_ACCESS_KEY_SECRET",
}
TENCENT_ENV = {
    "secret_id": "BAYLIGHT_TENCENT_SECRET_ID",
    "secret_key": "BAYLIGHT_TENCENT_SECRET_KEY",
    "app_id": "BAYLIGHT_TENCENT_SMS_APP_ID",
    "region": "BAYLIGHT_TENCENT_SMS_REGION",
}
WECHAT_ENV = {
    "app_id": "BAYLIGHT_WECHAT_APP_ID",
    "app_secret": "BAYLIGHT_WECHAT_APP_SECRET",
    "templates": "BAYLIGHT_WECHAT_TEMPLATES",
    "rate_per_second": "BAYLIGHT_WECHAT_RATE",
}
EMAIL_ENV = {
    "smtp_url": "BAYLIGHT_SMTP_URL",
    "mail_from": "BAYLIGHT_MAIL_FROM",
    "rate_per_second": "BAYLIGHT_MAIL_RATE",
}
# Only from the environment (see the module's docstring).
ENDPOINT_ENV = {
    "aliyun": "BAYLIGHT_ALIYUN_SMS_ENDPOINT",
    "tencent": "BAYLIGHT_TENCENT_SMS_ENDPOINT",
    "wechat": "BAYLIGHT_WECHAT_API_BASE",
}
TIMEOUT_ENV = "BAYLIGHT_NOTIFY_TIMEOUT"
JSON_KEYS = frozenset({"templates"})

_lock = threading.Lock()
_channels: OrderedDict[tuple[str, object], Channel] = OrderedDict()


class _Unusable(ValueError):
    """A setting has a value the channel cannot use (the message names the
    setting, never its value)."""


def _merged(
    block: Mapping[str, Any], names: Mapping[str, str], environ: Mapping[str, str]
) -> dict[str, Any]:
    """The shop's block, each missing key from the environment."""
    values: dict[str, Any] = {}
    for key, env_name in names.items():
        value = block.get(key)
        if value in (None, "", {}):
            value = environ.get(env_name, "").strip()
            if value and key in JSON_KEYS:
                value = _templates(env_name, value)
        values[key] = value
    return values


def _templates(name: str, text: str) -> dict[str, Any]:
    """A templates setting: a JSON object, or ``kind=id,kind=id``."""
    if text.startswith("{"):
        try:
            found = json.loads(text)
        except ValueError:
            raise _Unusable(f"{name} is not valid JSON") from None
        if not isinstance(found, dict):
            raise _Unusable(f"{name} must be a JSON object")
        return found
    pairs = [item.partition("=") for item in text.split(",") if item.strip()]
    if any(not sep for _, sep, _ in pairs):
        raise _Unusable(f"{name} must be JSON or kind=id pairs")
    return {kind.strip(): value.strip() for kind, _, value in pairs}


def _timeout(environ: Mapping[str, str]) -> float:
    text = environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise _Unusable(f"{TIMEOUT_ENV} must be a number of seconds") from None
    if not 0 < value <= 120:
        raise _Unusable(f"{TIMEOUT_ENV} must be between 0 and 120 seconds")
    return value


def _cached(name: str, config: object, make: Callable[[], Channel]) -> Channel:
    """One channel object per configuration (configs are frozen dataclasses)."""
    key = (name, config)
    with _lock:
        found = _channels.get(key)
        if found is not None:
            _channels.move_to_end(key)
            return found
    channel = make()
    with _lock:
        found = _channels.setdefault(key, channel)
        while len(_channels) > CACHE_SIZE:
            _channels.popitem(last=False)
        return found


def _sms(block: Mapping[str, Any], environ: Mapping[str, str], timeout: float) -> Channel | None:
    provider = str(block.get("provider") or environ.get(SMS_ENV["provider"], "")).strip().lower()
    if not provider:
        return None
    values = _merged(block, SMS_ENV, environ)
    # Each provider's SDK is imported only when a shop uses it (Alibaba
    # Cloud's alone takes a quarter of a second).
    if provider == "aliyun":
        from shared.notify import aliyun_sms

        values.update(_merged(block, ALIYUN_ENV, environ))
        values["endpoint"] = environ.get(ENDPOINT_ENV["aliyun"], "").strip()
        aliyun_config = aliyun_sms.config_from(values, timeout)
        if aliyun_config is None:
            return None
        return _cached("sms", aliyun_config, lambda: aliyun_sms.AliyunSms(aliyun_config))
    if provider == "tencent":
        from shared.notify import tencent_sms

        values.update(_merged(block, TENCENT_ENV, environ))
        values["endpoint"] = environ.get(ENDPOINT_ENV["tencent"], "").strip()
        tencent_config = tencent_sms.config_from(values, timeout)
        if tencent_config is None:
            return None
        return _cached("sms", tencent_config, lambda: tencent_sms.TencentSms(tencent_config))
    raise _Unusable("the sms provider must be aliyun or tencent")


def _wechat(block: Mapping[str, Any], environ: Mapping[str, str], timeout: float) -> Channel | None:
    values = _merged(block, WECHAT_ENV, environ)
    if not (values.get("app_id") and values.get("app_secret")):
        return None
    from shared.notify import wechat

    values["api_base"] = environ.get(ENDPOINT_ENV["wechat"], "").strip()
    config = wechat.config_from(values, timeout)
    if config is None:
        return None
    return _cached("wechat", config, lambda: wechat.WeChatTemplates(config))


def _email(block: Mapping[str, Any], environ: Mapping[str, str], timeout: float) -> Channel | None:
    values = _merged(block, EMAIL_ENV, environ)
    from shared.notify import email

    try:
        config = email.config_from(values, timeout)
    except ValueError as error:
        raise _Unusable(str(error)) from None
    if config is None:
        return None
    return _cached("email", config, lambda: email.Email(config))


BUILDERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, str], float], Channel | None]] = {
    "sms": _sms,
    "wechat": _wechat,
    "email": _email,
}


def channels_for(
    settings: Settings,
    shop_settings: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Channel]:
    """The shop's configured channels by name ("sms", "wechat", "email").

    ``environ`` defaults to the process environment (tests pass their own).
    A channel whose configuration is missing or unusable is left out; an
    unusable one is logged by setting name, never by value."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    providers = shop_settings.get("notify_providers") or {}
    if not isinstance(providers, Mapping):
        providers = {}
    try:
        timeout = _timeout(env)
    except _Unusable as problem:
        log.warning("notifications: %s; using %s s", problem, DEFAULT_TIMEOUT)
        timeout = DEFAULT_TIMEOUT
    found: dict[str, Channel] = {}
    for name, build in BUILDERS.items():
        block = providers.get(name) or {}
        if not isinstance(block, Mapping):
            log.warning("notifications: notify_providers.%s is not an object; channel off", name)
            continue
        try:
            channel = build(block, env, timeout)
        except (_Unusable, ValueError, TypeError) as problem:
            # Own messages name settings only; anything else by its type.
            text = str(problem) if isinstance(problem, _Unusable) else type(problem).__name__
            log.warning("notifications: %s channel off: %s", name, text)
            continue
        if channel is not None:
            found[name] = channel
    return found
