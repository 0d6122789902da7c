"""The e-mail channel: smtplib against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import pytest

from shared.notify import email as email_channel
from shared.notify.channel import SendFailed, SendUnsure
from shared.notify.email import Email, message_id, parse_smtp_url
from tests.notify import providers
from tests.notify.channel_support import channel, outgoing
from tests.notify.providers import SMTP_PASSWORD, SmtpServer

smtp_server = providers.smtp_server
smtp_server_with_auth = providers.smtp_server_with_auth
smtp_server_starttls = providers.smtp_server_starttls
smtps_server = providers.smtps_server
ADDRESS = "kunde@example.com"


@pytest.fixture
def mail(smtp_server: SmtpServer) -> Email:
    found = channel("email", smtp_server.environ())
    assert isinstance(found, Email)
    return found


def test_a_message_arrives_in_utf8_with_its_subject_and_message_id(
    mail: Email, smtp_server: SmtpServer
) -> None:
    sent = mail.send(outgoing("1-7-3-order_received-email", recipient=ADDRESS))

    [taken] = smtp_server.received
    assert taken.rcpt_tos == [ADDRESS]
    assert taken.mail_from == "shop@baylight.test"
    assert taken.subject == "百灵汽修：车辆已登记"
    assert taken.text.strip() == "百灵汽修：您的车已登记。进度 https://shop.example/t/abc"
    assert taken.message_id == "<1-7-3-order_received-email@baylight.test>"
    assert sent.provider_id == taken.message_id
    assert taken.message["Content-Language"] == "zh-Hans"
    assert taken.message["Auto-Submitted"] == "auto-generated"
    assert taken.message.get_content_charset() == "utf-8"


def test_a_login_is_used_when_the_url_has_one(smtp_server_with_auth: SmtpServer) -> None:
    mail = channel("email", smtp_server_with_auth.environ())

    mail.send(outgoing(recipient=ADDRESS))

    assert len(smtp_server_with_auth.received) == 1
    assert SMTP_PASSWORD not in repr(mail)


def test_a_refused_login_never_retries(smtp_server_with_auth: SmtpServer) -> None:
    url = smtp_server_with_auth.url.replace(SMTP_PASSWORD, "wrong-password")
    mail = channel("email", smtp_server_with_auth.environ(BAYLIGHT_SMTP_URL=url))

    with pytest.raises(SendFailed) as failed:
        mail.send(outgoing(recipient=ADDRESS))

    assert (failed.value.reason, failed.value.retry) == ("mail server refused the login", False)
    assert "wrong-password" not in repr(mail) and smtp_server_with_auth.received == []


@pytest.mark.parametrize(
    ("stage", "reply", "retry", "reason"),
    [
        ("rcpt", "550 5.1.1 no such user", False, "mail server refused the address (550)"),
        ("rcpt", "450 4.2.1 mailbox busy", True, "mail server refused the address (450)"),
        ("mail", "421 4.7.0 try later", True, "mail server refused the sender (421)"),
        ("data", "554 5.7.1 rejected as spam", False, "mail server refused the message (554)"),
        ("data", "451 4.3.0 local error", True, "mail server refused the message (451)"),
    ],
)
def test_smtp_replies_are_classified(
    mail: Email, smtp_server: SmtpServer, stage: str, reply: str, retry: bool, reason: str
) -> None:
    smtp_server.script(reply, stage=stage)

    with pytest.raises(SendFailed) as failed:
        mail.send(outgoing(recipient=ADDRESS))

    assert (failed.value.retry, failed.value.reason) == (retry, reason)
    assert smtp_server.received == []


def test_an_address_without_at_fails_before_connecting(mail: Email) -> None:
    with pytest.raises(SendFailed) as failed:
        mail.send(outgoing(recipient="not an address"))

    assert not failed.value.retry


def test_refused_and_hanging_servers_retry(mail: Email, smtp_server: SmtpServer) -> None:
    smtp_server.set_mode("refuse")
    with pytest.raises(SendFailed) as refused:
        mail.send(outgoing(recipient=ADDRESS))
    smtp_server.set_mode("hang")  # accepted, never greets: nothing was sent
    with pytest.raises(SendFailed) as hanging:
        mail.send(outgoing(recipient=ADDRESS))

    smtp_server.set_mode("ok")
    mail.send(outgoing(recipient=ADDRESS))

    assert refused.value.retry and hanging.value.retry
    assert len(smtp_server.received) == 1


def test_a_lost_answer_to_the_message_is_unsure(mail: Email, smtp_server: SmtpServer) -> None:
    smtp_server.set_mode("drop_reply")

    with pytest.raises(SendUnsure):
        mail.send(outgoing(recipient=ADDRESS))

    assert len(smtp_server.received) == 1
    assert mail.was_sent(outgoing(recipient=ADDRESS)) is None


def test_smtp_urls() -> None:
    assert parse_smtp_url("smtp://mail.example:2525") == ("mail.example", 2525, "auto", "", "")
    assert parse_smtp_url("smtp+starttls://u%40x:p%2Fw@mail.example") == (
        "mail.example",
        587,
        "starttls",
        "u@x",
        "p/w",
    )
    assert parse_smtp_url("smtps://mail.example")[1:3] == (465, "tls")
    with pytest.raises(ValueError, match="BAYLIGHT_SMTP_URL") as bad:
        parse_smtp_url("http://user:secret@mail.example")
    assert "secret" not in str(bad.value)


def test_message_ids_are_safe_and_carry_the_senders_domain() -> None:
    assert message_id("1-2-3-survey-email", "Shop <a@shop.example>") == (
        "<1-2-3-survey-email@shop.example>"
    )
    assert message_id("a b<c>", "x@y.z") == "<a-b-c-@y.z>"


def test_starttls_is_used_when_offered_and_the_certificate_is_verified(
    smtp_server_starttls: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", smtp_server_starttls.cert_file)
    mail = channel("email", smtp_server_starttls.environ())

    mail.send(outgoing(recipient=ADDRESS))

    [taken] = smtp_server_starttls.received
    assert taken.tls


def test_an_untrusted_certificate_fails_and_nothing_goes_in_clear(
    smtp_server_starttls: SmtpServer,
) -> None:
    mail = channel("email", smtp_server_starttls.environ())

    with pytest.raises(SendFailed) as failed:
        mail.send(outgoing(recipient=ADDRESS))

    assert (failed.value.reason, failed.value.retry) == ("mail server tls failed", False)
    assert smtp_server_starttls.received == []


def test_smtps_is_tls_from_the_start(
    smtps_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    untrusted = channel("email", smtps_server.environ(BAYLIGHT_NOTIFY_TIMEOUT="0.6"))
    with pytest.raises(SendFailed) as failed:
        untrusted.send(outgoing(recipient=ADDRESS))
    monkeypatch.setenv("SSL_CERT_FILE", smtps_server.cert_file)
    mail = channel("email", smtps_server.environ())

    mail.send(outgoing(recipient=ADDRESS))

    assert (failed.value.reason, failed.value.retry) == ("mail server tls failed", False)
    assert [m.tls for m in smtps_server.received] == [True]


def test_a_login_without_tls_goes_only_to_this_machine() -> None:
    assert email_channel._loopback("127.0.0.1") and email_channel._loopback("::1")
    assert email_channel._loopback("localhost")
    assert not email_channel._loopback("mail.example.com")
    assert not email_channel._loopback("192.168.1.20")


def test_a_header_line_break_fails_before_connecting(mail: Email, smtp_server: SmtpServer) -> None:
    with pytest.raises(SendFailed) as failed:
        mail.send(outgoing(recipient=ADDRESS, subject="Hi\r\nBcc: other@example.com"))

    assert (failed.value.reason, failed.value.retry) == (
        "message cannot be written as an e-mail",
        False,
    )
    assert smtp_server.received == []
