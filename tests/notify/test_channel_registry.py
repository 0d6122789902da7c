"""channels_for: only configured channels, from the shop's settings over the
environment; and no credential in any log line, repr or reason."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shared.notify import registry, support
from shared.notify.aliyun_sms import AliyunSms
from shared.notify.channel import SendFailed, SendUnsure
from shared.notify.email import Email
from shared.notify.registry import channels_for
from shared.notify.tencent_sms import TencentSms
from shared.notify.wechat import WeChatTemplates
from tests.notify import providers
from tests.notify.channel_support import SETTINGS, outgoing
from tests.notify.providers import (
    ALIYUN_KEY_ID,
    ALIYUN_KEY_SECRET,
    SMTP_PASSWORD,
    TENCENT_SECRET_ID,
    TENCENT_SECRET_KEY,
    WECHAT_APP_SECRET,
    AliyunSmsServer,
    SmtpServer,
    TencentSmsServer,
    WeChatServer,
)

aliyun_sms_server = providers.aliyun_sms_server
tencent_sms_server = providers.tencent_sms_server
wechat_server = providers.wechat_server
smtp_server_with_auth = providers.smtp_server_with_auth
SECRETS = (
    ALIYUN_KEY_ID,
    ALIYUN_KEY_SECRET,
    TENCENT_SECRET_ID,
    TENCENT_SECRET_KEY,
    WECHAT_APP_SECRET,
    SMTP_PASSWORD,
)


def test_nothing_configured_means_no_channels() -> None:
    assert channels_for(SETTINGS, {}, environ={}) == {}


def test_each_configured_channel_is_returned_by_name(
    aliyun_sms_server: AliyunSmsServer,
    wechat_server: WeChatServer,
    smtp_server_with_auth: SmtpServer,
    tencent_sms_server: TencentSmsServer,
) -> None:
    environ = {
        **aliyun_sms_server.environ(),
        **wechat_server.environ(),
        **smtp_server_with_auth.environ(),
    }
    found = channels_for(SETTINGS, {}, environ=environ)
    tencent = channels_for(SETTINGS, {}, environ=tencent_sms_server.environ())

    assert {name: type(c) for name, c in found.items()} == {
        "sms": AliyunSms,
        "wechat": WeChatTemplates,
        "email": Email,
    }
    assert isinstance(tencent["sms"], TencentSms)
    assert all(c.name == name for name, c in found.items())
    assert all(c.rate_per_second > 0 for c in found.values())
    # The same configuration gives the same channel (its receipts, its token).
    assert channels_for(SETTINGS, {}, environ=environ)["sms"] is found["sms"]


@pytest.mark.parametrize(
    ("server", "missing"),
    [
        ("aliyun", "BAYLIGHT_ALIYUN_ACCESS_KEY_ID"),
        ("aliyun", "BAYLIGHT_ALIYUN_ACCESS_KEY_SECRET"),
        ("aliyun", "BAYLIGHT_SMS_SIGN_NAME"),
        ("aliyun", "BAYLIGHT_SMS_PROVIDER"),
        ("tencent", "BAYLIGHT_TENCENT_SECRET_ID"),
        ("tencent", "BAYLIGHT_TENCENT_SECRET_KEY"),
        ("tencent", "BAYLIGHT_TENCENT_SMS_APP_ID"),
        ("wechat", "BAYLIGHT_WECHAT_APP_ID"),
        ("wechat", "BAYLIGHT_WECHAT_APP_SECRET"),
        ("smtp", "BAYLIGHT_SMTP_URL"),
        ("smtp", "BAYLIGHT_MAIL_FROM"),
    ],
)
def test_a_channel_missing_a_credential_is_simply_absent(server: str, missing: str) -> None:
    environ = {
        "aliyun": AliyunSmsServer,
        "tencent": TencentSmsServer,
        "wechat": WeChatServer,
        "smtp": SmtpServer,
    }[server]
    with environ() as running:
        values = running.environ()
    del values[missing]

    assert channels_for(SETTINGS, {}, environ=values) == {}


def test_the_shops_own_block_configures_its_channels_endpoints_stay_environment_only(
    aliyun_sms_server: AliyunSmsServer, wechat_server: WeChatServer
) -> None:
    shop = {
        "notify_providers": {
            "sms": {
                "provider": "aliyun",
                "access_key_id": ALIYUN_KEY_ID,
                "access_key_secret": ALIYUN_KEY_SECRET,
                "sign_name": providers.ALIYUN_SIGN,
                "templates": {"order_received": "SMS_1004"},
                "endpoint": "http://attacker.example",
            },
            "wechat": {"app_id": providers.WECHAT_APP_ID, "app_secret": WECHAT_APP_SECRET},
        }
    }
    environ = {
        "BAYLIGHT_ALIYUN_SMS_ENDPOINT": aliyun_sms_server.url,
        "BAYLIGHT_NOTIFY_TIMEOUT": "0.5",
    }

    found = channels_for(SETTINGS, shop, environ=environ)
    found["sms"].send(outgoing())

    assert set(found) == {"sms", "wechat"}
    assert aliyun_sms_server.received[0].template == "SMS_1004"
    assert isinstance(found["sms"], AliyunSms)
    assert found["sms"].config.endpoint == aliyun_sms_server.endpoint


def test_the_shops_templates_override_the_environments(
    aliyun_sms_server: AliyunSmsServer,
) -> None:
    shop = {"notify_providers": {"sms": {"templates": {"order_received": "SMS_1005"}}}}

    found = channels_for(SETTINGS, shop, environ=aliyun_sms_server.environ())
    found["sms"].send(outgoing())

    assert aliyun_sms_server.received[0].template == "SMS_1005"


@pytest.mark.parametrize(
    ("change", "logged"),
    [
        ({"BAYLIGHT_SMS_TEMPLATES": "{not json"}, "BAYLIGHT_SMS_TEMPLATES is not valid JSON"),
        ({"BAYLIGHT_SMS_PROVIDER": "pigeon"}, "the sms provider must be aliyun or tencent"),
    ],
)
def test_an_unusable_setting_turns_the_channel_off_and_names_only_the_setting(
    aliyun_sms_server: AliyunSmsServer,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, str],
    logged: str,
) -> None:
    with caplog.at_level(logging.WARNING):
        found = channels_for(SETTINGS, {}, environ=aliyun_sms_server.environ(**change))

    assert "sms" not in found
    assert logged in caplog.text
    assert ALIYUN_KEY_SECRET not in caplog.text


def test_templates_may_be_given_as_pairs(aliyun_sms_server: AliyunSmsServer) -> None:
    environ = aliyun_sms_server.environ(BAYLIGHT_SMS_TEMPLATES="order_received=SMS_1002")

    channels_for(SETTINGS, {}, environ=environ)["sms"].send(outgoing())

    assert aliyun_sms_server.received[0].template == "SMS_1002"


def test_a_bad_smtp_url_is_refused_without_showing_it(caplog: pytest.LogCaptureFixture) -> None:
    environ = {"BAYLIGHT_SMTP_URL": "ftp://u:pw-secret@x", "BAYLIGHT_MAIL_FROM": "a@b.c"}

    with caplog.at_level(logging.WARNING):
        assert channels_for(SETTINGS, {}, environ=environ) == {}

    assert "BAYLIGHT_SMTP_URL must be" in caplog.text
    assert "pw-secret" not in caplog.text


def _attempt(channel: Any, message: Any) -> str:
    """Send, and the failure's text if any."""
    try:
        channel.send(message)
    except (SendFailed, SendUnsure) as failure:
        return f"{failure!r} {failure.reason}"
    return ""


def test_no_credential_in_any_log_line_repr_or_reason(
    aliyun_sms_server: AliyunSmsServer,
    tencent_sms_server: TencentSmsServer,
    wechat_server: WeChatServer,
    smtp_server_with_auth: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Everything at DEBUG (the SDKs and urllib3 log their requests there),
    successes, provider refusals, bad credentials and network faults."""
    openid = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for server, name, recipient in [
            (aliyun_sms_server, "sms", "13800138000"),
            (tencent_sms_server, "sms", "13800138000"),
            (wechat_server, "wechat", openid),
            (smtp_server_with_auth, "email", "kunde@example.com"),
        ]:
            channel = channels_for(SETTINGS, {}, environ=server.environ())[name]
            texts.append(repr(channel))
            texts.append(repr(getattr(channel, "config", "")))
            texts.append(_attempt(channel, outgoing(recipient=recipient)))
            texts.append(repr(channel.was_sent(outgoing(recipient=recipient))))
            if not isinstance(server, SmtpServer):
                server.script("45009" if isinstance(server, WeChatServer) else "InternalError")
                texts.append(_attempt(channel, outgoing("k-2", recipient=recipient)))
            server.set_mode("hang")
            texts.append(_attempt(channel, outgoing("k-3", recipient=recipient)))
            server.set_mode("refuse")
            texts.append(_attempt(channel, outgoing("k-4", recipient=recipient)))
            server.set_mode("ok")
        for name, change in [
            ("sms", aliyun_sms_server.environ(BAYLIGHT_ALIYUN_ACCESS_KEY_SECRET="bad-secret-1")),
            ("sms", tencent_sms_server.environ(BAYLIGHT_TENCENT_SECRET_KEY="bad-secret-2")),
            ("wechat", wechat_server.environ(BAYLIGHT_WECHAT_APP_SECRET="bad-secret-3")),
        ]:
            channel = channels_for(SETTINGS, {}, environ=change)[name]
            texts.append(
                _attempt(channel, outgoing(recipient=openid if name == "wechat" else "13800138000"))
            )

    assert len(aliyun_sms_server.received) == 1 and len(wechat_server.received) == 1
    # The SDKs did log their requests (so the check below has something to read).
    assert any(r.name == "urllib3.connectionpool" for r in caplog.records)
    everything = caplog.text + "\n".join(texts)
    for secret in (*SECRETS, "bad-secret-1", "bad-secret-2", "bad-secret-3"):
        assert secret not in everything, secret


def test_the_redaction_masks_registered_secrets_and_credential_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    support.register_secret("a-registered-secret-9")
    support.protect_logs()
    sdk = logging.getLogger("tencentcloud_sdk_common")

    with caplog.at_level(logging.DEBUG):
        sdk.debug("SendRequest: %s", "Authorization: TC3 Credential=AKIDxyz/2026-01-01/sms")
        sdk.debug("token a-registered-secret-9 and ?access_token=tok123&secret=s3")

    assert "AKIDxyz" not in caplog.text and "a-registered-secret-9" not in caplog.text
    assert "tok123" not in caplog.text and "s3" not in caplog.text.split("secret=")[1]
    assert "Credential=***" in caplog.text


def test_the_timeout_setting_is_checked() -> None:
    assert registry._timeout({"BAYLIGHT_NOTIFY_TIMEOUT": "2.5"}) == 2.5
    assert registry._timeout({}) == registry.DEFAULT_TIMEOUT
    with pytest.raises(ValueError, match="BAYLIGHT_NOTIFY_TIMEOUT"):
        registry._timeout({"BAYLIGHT_NOTIFY_TIMEOUT": "forever"})
