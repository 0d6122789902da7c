"""The Alibaba Cloud SMS channel: the real SDK (alibabacloud_dysmsapi20170525)
against the local stand-in, signatures checked."""

from __future__ import annotations

import pytest
from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as openapi_models

from shared.notify.aliyun_sms import AliyunSms
from shared.notify.channel import SendFailed, SendUnsure
from tests.notify import providers
from tests.notify.channel_support import PARAMS, channel, outgoing
from tests.notify.providers import ALIYUN_KEY_ID, ALIYUN_KEY_SECRET, ALIYUN_SIGN, AliyunSmsServer

aliyun_sms_server = providers.aliyun_sms_server


@pytest.fixture
def sms(aliyun_sms_server: AliyunSmsServer) -> AliyunSms:
    found = channel("sms", aliyun_sms_server.environ())
    assert isinstance(found, AliyunSms)
    return found


def test_a_message_goes_out_with_its_template_values_and_out_id(
    sms: AliyunSms, aliyun_sms_server: AliyunSmsServer
) -> None:
    sent = sms.send(outgoing("1-7-3-order_received-sms"))

    [taken] = aliyun_sms_server.received
    assert taken.phone == "13800138000"
    assert taken.sign_name == ALIYUN_SIGN
    assert taken.template == "SMS_1001"
    assert taken.params == PARAMS
    assert taken.out_id == "1-7-3-order_received-sms"
    assert sent.provider_id == taken.provider_id
    assert not sent.delivered


def test_was_sent_finds_the_out_id_and_says_no_for_another(
    sms: AliyunSms, aliyun_sms_server: AliyunSmsServer
) -> None:
    sms.send(outgoing("1-7-3-order_received-sms"))

    assert sms.was_sent(outgoing("1-7-3-order_received-sms")) is True
    assert sms.was_sent(outgoing("1-7-4-ready_for_pickup-sms")) is False


@pytest.mark.parametrize(
    ("code", "retry", "reason"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", True, "sms rate limit reached"),
        ("isv.DAY_LIMIT_CONTROL", True, "sms daily limit reached"),
        ("Throttling.User", True, "sms rate limit reached"),
        ("isp.SYSTEM_ERROR", True, "sms provider refused (isp.SYSTEM_ERROR)"),
        ("InternalError", True, "sms provider refused (InternalError)"),
        ("isv.MOBILE_NUMBER_ILLEGAL", False, "invalid phone number"),
        ("isv.SMS_TEMPLATE_ILLEGAL", False, "sms template not approved"),
        ("isv.SMS_SIGNATURE_ILLEGAL", False, "sms sign name not approved"),
        ("isv.AMOUNT_NOT_ENOUGH", False, "sms account balance too low"),
        ("isv.SOMETHING_NEW", False, "sms provider refused (isv.SOMETHING_NEW)"),
    ],
)
def test_provider_errors_are_classified(
    sms: AliyunSms, aliyun_sms_server: AliyunSmsServer, code: str, retry: bool, reason: str
) -> None:
    aliyun_sms_server.script(code)

    with pytest.raises(SendFailed) as failed:
        sms.send(outgoing())

    assert (failed.value.retry, failed.value.reason) == (retry, reason)
    assert aliyun_sms_server.received == []


def test_the_providers_own_checks_are_classified(
    sms: AliyunSms, aliyun_sms_server: AliyunSmsServer
) -> None:
    with pytest.raises(SendFailed) as bad_number:
        sms.send(outgoing(recipient="1234567"))
    aliyun_sms_server.templates = {"SMS_9999"}
    with pytest.raises(SendFailed) as bad_template:
        sms.send(outgoing())

    assert (bad_number.value.reason, bad_number.value.retry) == ("invalid phone number", False)
    assert (bad_template.value.reason, bad_template.value.retry) == (
        "sms template not approved",
        False,
    )
    assert aliyun_sms_server.received == []


@pytest.mark.parametrize(
    "change",
    [
        {"BAYLIGHT_ALIYUN_ACCESS_KEY_SECRET": "not-the-secret"},
        {"BAYLIGHT_ALIYUN_ACCESS_KEY_ID": "LTAIunknownkey"},
    ],
)
def test_bad_credentials_never_retry_and_never_show(
    aliyun_sms_server: AliyunSmsServer, change: dict[str, str]
) -> None:
    sms = channel("sms", aliyun_sms_server.environ(**change))

    with pytest.raises(SendFailed) as failed:
        sms.send(outgoing())

    assert (failed.value.reason, failed.value.retry) == ("sms credentials refused", False)
    assert ALIYUN_KEY_SECRET not in repr(sms) and "not-the-secret" not in repr(sms)
    assert aliyun_sms_server.received == []


def test_a_kind_without_a_registered_template_fails_before_sending(
    sms: AliyunSms, aliyun_sms_server: AliyunSmsServer
) -> None:
    with pytest.raises(SendFailed) as failed:
        sms.send(outgoing(kind="appointment_reminder"))

    assert not failed.value.retry
    assert aliyun_sms_server.requests == []


def test_refused_connection_retries_and_the_message_goes_when_back(
    sms: AliyunSms, aliyun_sms_server: AliyunSmsServer
) -> None:
    aliyun_sms_server.set_mode("refuse")
    with pytest.raises(SendFailed) as failed:
        sms.send(outgoing())
    assert failed.value.retry
    assert sms.was_sent(outgoing()) is None  # cannot ask either

    aliyun_sms_server.set_mode("ok")
    sms.send(outgoing())
    assert len(aliyun_sms_server.received) == 1


def test_a_hanging_provider_is_unsure_and_the_query_says_send_again(
    sms: AliyunSms, aliyun_sms_server: AliyunSmsServer
) -> None:
    aliyun_sms_server.set_mode("hang")
    with pytest.raises(SendUnsure):
        sms.send(outgoing())

    aliyun_sms_server.set_mode("ok")
    assert sms.was_sent(outgoing()) is False
    sms.send(outgoing())
    assert [m.out_id for m in aliyun_sms_server.received] == ["1-7-3-order_received-sms"]


def test_a_lost_answer_is_unsure_and_the_query_says_it_went(
    sms: AliyunSms, aliyun_sms_server: AliyunSmsServer
) -> None:
    aliyun_sms_server.set_mode("drop_reply")
    with pytest.raises(SendUnsure):
        sms.send(outgoing())

    aliyun_sms_server.set_mode("ok")
    assert sms.was_sent(outgoing()) is True
    assert len(aliyun_sms_server.received) == 1


def test_delivery_reports_come_once_per_message_from_the_send_status(
    sms: AliyunSms, aliyun_sms_server: AliyunSmsServer
) -> None:
    delivered = sms.send(outgoing("k-1"))
    failed = sms.send(outgoing("k-2", recipient="13900139000"))
    waiting = sms.send(outgoing("k-3"))
    aliyun_sms_server.report(delivered.provider_id, True)
    aliyun_sms_server.report(failed.provider_id, False, "MK:0001")

    first = sms.delivery_reports()
    again = sms.delivery_reports()
    aliyun_sms_server.report(waiting.provider_id, True)
    last = sms.delivery_reports()

    assert sorted(first) == sorted(
        [(delivered.provider_id, True, ""), (failed.provider_id, False, "MK:0001")]
    )
    assert again == []
    assert last == [(waiting.provider_id, True, "")]


@pytest.mark.parametrize(("secret", "taken"), [(ALIYUN_KEY_SECRET, 1), ("wrong-secret", 0)])
def test_the_stand_in_also_checks_the_older_hmac_sha1_signature(
    aliyun_sms_server: AliyunSmsServer, secret: str, taken: int
) -> None:
    """The SDK's RPC signature v2 (Signature in the query) is verified as
    well, so the stand-in refuses what Alibaba Cloud would refuse."""
    client = Client(
        openapi_models.Config(
            access_key_id=ALIYUN_KEY_ID,
            access_key_secret=secret,
            endpoint=aliyun_sms_server.endpoint,
            protocol="http",
            signature_algorithm="v2",
            read_timeout=500,
            connect_timeout=500,
        )
    )
    request = sms_models.SendSmsRequest(
        phone_numbers="13800138000",
        sign_name=ALIYUN_SIGN,
        template_code="SMS_1001",
        template_param='{"shop": "百灵 *~"}',
    )

    try:
        client.send_sms(request)
    except Exception as refused:
        assert getattr(refused, "code", None) == "SignatureDoesNotMatch"

    assert len(aliyun_sms_server.received) == taken
