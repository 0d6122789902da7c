"""The WeChat channel: wechatpy's real client against the local stand-in of
the Official Account API (access token, template messages)."""

from __future__ import annotations

import logging

import pytest

from shared.notify.channel import Outgoing, SendFailed, SendUnsure
from shared.notify.wechat import WeChatTemplates, client_msg_id
from tests.notify import providers
from tests.notify.channel_support import PARAMS, channel, outgoing
from tests.notify.providers import WECHAT_APP_SECRET, WeChatServer

wechat_server = providers.wechat_server
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"


@pytest.fixture
def wechat(wechat_server: WeChatServer) -> WeChatTemplates:
    found = channel("wechat", wechat_server.environ())
    assert isinstance(found, WeChatTemplates)
    return found


def message(key: str = "1-7-3-order_received-wechat", **extra: str) -> Outgoing:
    return outgoing(key, recipient=extra.pop("recipient", OPENID), **extra)


def test_a_template_message_goes_out_with_its_fields_link_and_client_msg_id(
    wechat: WeChatTemplates, wechat_server: WeChatServer
) -> None:
    first = wechat.send(message())
    second = wechat.send(message("1-7-4-ready_for_pickup-wechat", kind="ready_for_pickup"))

    taken = wechat_server.received
    assert [t.template_id for t in taken] == ["tpl-order_received", "tpl-ready_for_pickup"]
    assert taken[0].openid == OPENID
    assert taken[0].data == {name: {"value": value} for name, value in PARAMS.items()}
    assert taken[0].url == "https://shop.example/t/abc"
    assert taken[0].client_msg_id == "1-7-3-order_received-wechat"
    assert (first.provider_id, second.provider_id) == (str(taken[0].msgid), str(taken[1].msgid))
    assert wechat_server.token_requests == 1  # one access token for both


def test_the_shops_field_names_map_to_the_values(wechat_server: WeChatServer) -> None:
    shop = {
        "notify_providers": {
            "wechat": {
                "templates": {
                    "order_received": {
                        "id": "tpl-order_received",
                        "fields": {"thing1": "shop", "character_string2": "hotline"},
                    }
                }
            }
        }
    }
    wechat = channel("wechat", wechat_server.environ(), shop)

    wechat.send(message())

    assert wechat_server.received[0].data == {
        "thing1": {"value": PARAMS["shop"]},
        "character_string2": {"value": PARAMS["hotline"]},
    }


@pytest.mark.parametrize(
    ("errcode", "retry", "reason"),
    [
        ("-1", True, "wechat busy"),
        ("45009", True, "wechat daily api limit reached"),
        ("45047", True, "wechat message limit reached"),
        ("40003", False, "invalid wechat openid"),
        ("43004", False, "customer does not follow the account"),
        ("40037", False, "wechat template not approved"),
        ("61004", False, "wechat refused (61004)"),
    ],
)
def test_errcodes_are_classified(
    wechat: WeChatTemplates, wechat_server: WeChatServer, errcode: str, retry: bool, reason: str
) -> None:
    wechat_server.script(errcode)

    with pytest.raises(SendFailed) as failed:
        wechat.send(message())

    assert (failed.value.retry, failed.value.reason) == (retry, reason)
    assert wechat_server.received == []


def test_the_servers_own_checks_are_classified(
    wechat: WeChatTemplates, wechat_server: WeChatServer
) -> None:
    wechat_server.unsubscribed.add(OPENID)
    with pytest.raises(SendFailed) as unsubscribed:
        wechat.send(message())
    with pytest.raises(SendFailed) as bad_openid:
        wechat.send(message(recipient="not an openid"))

    assert (unsubscribed.value.reason, unsubscribed.value.retry) == (
        "customer does not follow the account",
        False,
    )
    assert (bad_openid.value.reason, bad_openid.value.retry) == ("invalid wechat openid", False)


def test_an_expired_token_is_fetched_again_and_the_message_goes(
    wechat: WeChatTemplates, wechat_server: WeChatServer
) -> None:
    wechat.send(message("k-1"))
    wechat_server.expire_tokens()

    wechat.send(message("k-2"))

    assert len(wechat_server.received) == 2
    assert wechat_server.token_requests == 2


def test_a_wrong_secret_never_retries_and_never_shows(wechat_server: WeChatServer) -> None:
    wechat = channel("wechat", wechat_server.environ(BAYLIGHT_WECHAT_APP_SECRET="wrong-secret"))

    with pytest.raises(SendFailed) as failed:
        wechat.send(message())

    assert (failed.value.reason, failed.value.retry) == ("wechat credentials refused", False)
    assert "wrong-secret" not in repr(wechat) and "wrong-secret" not in repr(failed.value)
    assert wechat_server.received == []


def test_refused_connection_retries(wechat: WeChatTemplates, wechat_server: WeChatServer) -> None:
    wechat_server.set_mode("refuse")
    with pytest.raises(SendFailed) as failed:
        wechat.send(message())
    assert failed.value.retry

    wechat_server.set_mode("ok")
    wechat.send(message())
    assert len(wechat_server.received) == 1


def test_hanging_before_the_token_retries_and_after_it_is_unsure(
    wechat: WeChatTemplates, wechat_server: WeChatServer
) -> None:
    wechat_server.set_mode("hang")
    with pytest.raises(SendFailed) as before:  # the token request hangs: nothing went
        wechat.send(message())
    wechat_server.set_mode("ok")
    wechat.send(message("k-1"))
    wechat_server.set_mode("hang")
    with pytest.raises(SendUnsure):
        wechat.send(message("k-2"))

    assert before.value.retry
    assert [t.client_msg_id for t in wechat_server.received] == ["k-1"]


def test_a_lost_answer_is_unsure_and_a_repeat_is_dropped_by_client_msg_id(
    wechat: WeChatTemplates, wechat_server: WeChatServer
) -> None:
    wechat.send(message("k-0"))  # the token first
    wechat_server.set_mode("drop_reply")
    with pytest.raises(SendUnsure):
        wechat.send(message("k-1"))
    wechat_server.set_mode("ok")

    assert wechat.was_sent(message("k-1")) is None
    wechat.send(message("k-1"))
    assert [t.client_msg_id for t in wechat_server.received] == ["k-0", "k-1"]


def test_long_keys_are_shortened_for_client_msg_id() -> None:
    assert client_msg_id("short") == "short"
    assert len(client_msg_id("x" * 100)) == 64
    assert client_msg_id("x" * 100) != client_msg_id("y" * 100)


def test_neither_the_secret_nor_the_token_reaches_a_log_line(
    wechat: WeChatTemplates, wechat_server: WeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        wechat.send(message())
        wechat_server.script("-1")
        with pytest.raises(SendFailed):
            wechat.send(message("k-2"))

    assert "token?" in caplog.text  # urllib3 logged the token request, masked
    assert WECHAT_APP_SECRET not in caplog.text
    assert "access_token=***" in caplog.text
    token = wechat._client.access_token
    assert token and token not in caplog.text
