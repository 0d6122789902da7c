"""The Tencent Cloud SMS channel: the real SDK (tencentcloud-sdk-python-sms,
API 3.0 with TC3 signatures) against the local stand-in."""

from __future__ import annotations

import pytest

from shared.notify.channel import SendFailed, SendUnsure
from shared.notify.tencent_sms import TencentSms, e164
from tests.notify import providers
from tests.notify.channel_support import PARAMS, channel, outgoing
from tests.notify.providers import TENCENT_SECRET_KEY, TENCENT_SIGN, TencentSmsServer

tencent_sms_server = providers.tencent_sms_server


@pytest.fixture
def sms(tencent_sms_server: TencentSmsServer) -> TencentSms:
    found = channel("sms", tencent_sms_server.environ())
    assert isinstance(found, TencentSms)
    return found


def test_a_message_goes_out_with_its_template_values_and_session_context(
    sms: TencentSms, tencent_sms_server: TencentSmsServer
) -> None:
    sent = sms.send(outgoing("1-7-3-order_received-sms"))

    [taken] = tencent_sms_server.received
    assert taken.phone == "+8613800138000"
    assert taken.sign_name == TENCENT_SIGN
    assert taken.template == "2001"
    assert taken.params == list(PARAMS.values())
    assert taken.out_id == "1-7-3-order_received-sms"
    assert sent.provider_id == taken.provider_id


def test_positional_values_follow_the_order_the_shop_registered(
    tencent_sms_server: TencentSmsServer,
) -> None:
    shop = {
        "notify_providers": {
            "sms": {"templates": {"order_received": {"id": "2001", "params": ["link", "shop"]}}}
        }
    }
    sms = channel("sms", tencent_sms_server.environ(), shop)

    sms.send(outgoing())

    assert tencent_sms_server.received[0].params == [PARAMS["link"], PARAMS["shop"]]


@pytest.mark.parametrize(
    ("code", "retry", "reason"),
    [
        ("LimitExceeded.PhoneNumberDailyLimit", True, "sms daily limit for the number reached"),
        ("LimitExceeded.PhoneNumberThirtySecondLimit", True, "sms limit for the number reached"),
        ("RequestLimitExceeded", True, "sms rate limit reached"),
        ("InternalError.Timeout", True, "sms provider refused (InternalError.Timeout)"),
        ("InvalidParameterValue.IncorrectPhoneNumber", False, "invalid phone number"),
        ("FailedOperation.PhoneNumberInBlacklist", False, "number refuses sms (blacklisted)"),
        ("FailedOperation.InsufficientBalanceInSmsPackage", False, "sms account balance too low"),
        ("AuthFailure.SecretIdNotFound", False, "sms credentials refused"),
    ],
)
def test_provider_errors_are_classified(
    sms: TencentSms, tencent_sms_server: TencentSmsServer, code: str, retry: bool, reason: str
) -> None:
    tencent_sms_server.script(code)

    with pytest.raises(SendFailed) as failed:
        sms.send(outgoing())

    assert (failed.value.retry, failed.value.reason) == (retry, reason)
    assert tencent_sms_server.received == []


def test_the_providers_own_checks_are_classified(
    sms: TencentSms, tencent_sms_server: TencentSmsServer
) -> None:
    tencent_sms_server.templates = {"9999"}
    with pytest.raises(SendFailed) as template:
        sms.send(outgoing())
    tencent_sms_server.signs = {"另一个签名"}
    with pytest.raises(SendFailed) as sign:
        sms.send(outgoing())

    assert (template.value.reason, template.value.retry) == ("sms template not approved", False)
    assert (sign.value.reason, sign.value.retry) == ("sms sign name not approved", False)
    assert tencent_sms_server.received == []


def test_a_wrong_secret_key_is_refused_by_the_signature_and_never_shown(
    tencent_sms_server: TencentSmsServer,
) -> None:
    sms = channel("sms", tencent_sms_server.environ(BAYLIGHT_TENCENT_SECRET_KEY="wrong-key-123"))

    with pytest.raises(SendFailed) as failed:
        sms.send(outgoing())

    assert (failed.value.reason, failed.value.retry) == ("sms credentials refused", False)
    assert "wrong-key-123" not in repr(sms) and TENCENT_SECRET_KEY not in repr(sms)


def test_numbers_are_sent_in_e164() -> None:
    assert e164("138 0013 8000") == "+8613800138000"
    assert e164("8613800138000") == "+8613800138000"
    assert e164("+85291234567") == "+85291234567"
    with pytest.raises(SendFailed):
        e164("call me")


def test_refused_connection_retries(sms: TencentSms, tencent_sms_server: TencentSmsServer) -> None:
    tencent_sms_server.set_mode("refuse")
    with pytest.raises(SendFailed) as failed:
        sms.send(outgoing())
    assert failed.value.retry

    tencent_sms_server.set_mode("ok")
    sms.send(outgoing())
    assert len(tencent_sms_server.received) == 1


def test_a_hanging_provider_is_unsure_and_was_sent_cannot_say_no(
    sms: TencentSms, tencent_sms_server: TencentSmsServer
) -> None:
    tencent_sms_server.set_mode("hang")
    with pytest.raises(SendUnsure):
        sms.send(outgoing())

    tencent_sms_server.set_mode("ok")
    assert sms.was_sent(outgoing()) is None
    assert tencent_sms_server.received == []


def test_a_lost_answer_is_found_by_its_status_report(
    sms: TencentSms, tencent_sms_server: TencentSmsServer
) -> None:
    tencent_sms_server.set_mode("drop_reply")
    with pytest.raises(SendUnsure):
        sms.send(outgoing("1-7-3-order_received-sms"))

    tencent_sms_server.set_mode("ok")
    assert sms.was_sent(outgoing("1-7-3-order_received-sms")) is True
    assert sms.was_sent(outgoing("1-7-9-survey-sms")) is None


def test_delivery_reports_are_pulled_once(
    sms: TencentSms, tencent_sms_server: TencentSmsServer
) -> None:
    delivered = sms.send(outgoing("k-1"))
    tencent_sms_server.report_status = None
    failed = sms.send(outgoing("k-2"))
    tencent_sms_server.report(failed.provider_id, "FAIL", "用户关机")

    first = sms.delivery_reports()
    again = sms.delivery_reports()

    assert first == [(delivered.provider_id, True, ""), (failed.provider_id, False, "FAIL")]
    assert again == []


def test_replies_give_the_customers_opt_out_keywords(
    sms: TencentSms, tencent_sms_server: TencentSmsServer
) -> None:
    tencent_sms_server.reply("13800138000", "退订")
    tencent_sms_server.reply("13900139000", "TD")

    first = sms.replies()
    again = sms.replies()

    assert first == [("13800138000", "退订"), ("13900139000", "TD")]
    assert again == []


def test_reports_and_replies_are_empty_when_the_provider_is_away(
    sms: TencentSms, tencent_sms_server: TencentSmsServer
) -> None:
    tencent_sms_server.reply("13800138000", "退订")
    tencent_sms_server.set_mode("refuse")

    assert sms.delivery_reports() == []
    assert sms.replies() == []
    tencent_sms_server.set_mode("ok")
    assert sms.replies() == [("13800138000", "退订")]
