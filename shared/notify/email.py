"""E-mail through SMTP with the standard library.

``BAYLIGHT_SMTP_URL`` (or the shop's ``smtp_url``) is
``smtp://[user:password@]host[:port]`` (port 25 unless given, usually 587):
STARTTLS whenever the server offers it, and a login is never sent without
TLS except to this machine's own relay (loopback); ``smtp+starttls://...``
requires STARTTLS; ``smtps://...`` is TLS from the start (port 465).
Certificates are verified against the system's trust store.
``BAYLIGHT_MAIL_FROM`` is the sender address.

The message's Message-ID is derived from its dedupe key, so a repeat is
recognisable by any mail system that de-duplicates on it; SMTP itself has no
way to ask whether a message was taken, so ``was_sent`` answers None and
the channel says so (``can_tell_sent = False``, no repeat window): the
sender fails an unsure message ``outcome_unknown`` at once. What
went wrong is told apart by the protocol step: nothing is taken before the
server's answer to the end of DATA, so a failure before it can be retried,
while a lost answer to it leaves the outcome unknown.
"""

from __future__ import annotations

import ipaddress
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any
from urllib.parse import unquote, urlsplit

from shared.notify.channel import Outgoing, SendFailed, SendUnsure, Sent
from shared.notify.support import register_secret

DEFAULT_RATE = 5.0
PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
LANGUAGES = {"zh_Hans": "zh-Hans", "zh_Hant": "zh-Hant", "en": "en"}


@dataclass(frozen=True)
class SmtpConfig:
    """What the channel needs; ``repr`` never shows the password."""

    host: str
    port: int
    security: str  # "auto" (STARTTLS when offered), "starttls" or "tls"
    mail_from: str
    user: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 10.0
    rate_per_second: float = DEFAULT_RATE


def parse_smtp_url(url: str) -> tuple[str, int, str, str, str]:
    """(host, port, security, user, password) of an SMTP URL; ValueError
    (naming no credential) for anything else."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in PORTS or not parts.hostname:
        raise ValueError(
            "BAYLIGHT_SMTP_URL must be smtp://, smtp+starttls:// or smtps://host[:port]"
        )
    try:
        port = parts.port or PORTS[scheme]
    except ValueError:
        raise ValueError("BAYLIGHT_SMTP_URL has an invalid port") from None
    security = {"smtp": "auto", "smtp+starttls": "starttls", "smtps": "tls"}[scheme]
    return (
        parts.hostname,
        port,
        security,
        unquote(parts.username or ""),
        unquote(parts.password or ""),
    )


def _loopback(host: str) -> bool:
    """A relay on this machine: a login to it never crosses a network."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def message_id(dedupe_key: str, mail_from: str) -> str:
    """``<key@domain>``: the key made safe for a Message-ID, the domain the
    sender's."""
    local = re.sub(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]", "-", dedupe_key) or "message"
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "baylight.invalid"
    return f"<{local}@{domain}>"


def _smtp_failure(code: int, what: str) -> SendFailed:
    """4xx: try later; 5xx: never."""
    return SendFailed(f"mail server refused {what} ({code})", retry=400 <= code < 500)


def _quoted(data: bytes) -> bytes:
    """The message as DATA carries it: lines starting with a dot doubled,
    ending with CRLF and the lone dot."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class Email:
    """The ``email`` channel over SMTP."""

    name = "email"
    # SMTP cannot be asked afterwards, and a resent mail arrives twice.
    can_tell_sent = False
    repeat_window_seconds: float | None = None

    def __init__(self, config: SmtpConfig) -> None:
        register_secret(config.password)
        self.config = config
        self.rate_per_second = config.rate_per_second

    def __repr__(self) -> str:
        return f"Email(host={self.config.host!r}, port={self.config.port})"

    def build(self, message: Outgoing) -> EmailMessage:
        """The e-mail: UTF-8 text, the subject, a Message-ID from the key."""
        mail = EmailMessage()
        mail["From"] = self.config.mail_from
        mail["To"] = message.recipient
        mail["Subject"] = message.subject or (message.text.splitlines() or [""])[0][:78]
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = message_id(message.dedupe_key, self.config.mail_from)
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        mail.set_content(message.text, charset="utf-8")
        # After set_content, which clears every Content-* header.
        if message.locale in LANGUAGES:
            mail["Content-Language"] = LANGUAGES[message.locale]
        return mail

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        if config.security == "tls":
            return smtplib.SMTP_SSL(
                config.host,
                config.port,
                timeout=config.timeout,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(config.host, config.port, timeout=config.timeout)

    def send(self, message: Outgoing) -> Sent:
        address = parseaddr(message.recipient)[1]
        if "@" not in address:
            raise SendFailed("invalid e-mail address", retry=False)
        try:
            mail = self.build(message)
        except (ValueError, TypeError):
            # A line break in a header value (the address, the subject) and
            # the like: no later attempt can send this message.
            raise SendFailed("message cannot be written as an e-mail", retry=False) from None
        sender = parseaddr(self.config.mail_from)[1]
        # Before the end of DATA nothing is taken: every failure can be retried
        # unless the server answers with a permanent 5xx.
        try:
            smtp = self._connect()
        except ssl.SSLError:
            raise SendFailed("mail server tls failed", retry=False) from None
        except smtplib.SMTPConnectError as error:
            raise _smtp_failure(error.smtp_code, "the connection") from None
        except (OSError, smtplib.SMTPException):
            raise SendFailed("mail server unreachable", retry=True) from None
        polite = False  # QUIT only to a server that is still answering
        try:
            try:
                self._introduce(smtp)
                code, _ = smtp.mail(sender)
                if code != 250:
                    raise _smtp_failure(code, "the sender")
                code, _ = smtp.rcpt(address)
                if code not in (250, 251):
                    raise _smtp_failure(code, "the address")
                code, _ = smtp.docmd("DATA")
                if code != 354:
                    raise _smtp_failure(code, "the message")
            except SendFailed:
                polite = True
                raise
            except smtplib.SMTPAuthenticationError:
                raise SendFailed("mail server refused the login", retry=False) from None
            except smtplib.SMTPResponseException as error:
                raise _smtp_failure(error.smtp_code, "the session") from None
            except (OSError, smtplib.SMTPException):
                raise SendFailed("mail server did not answer", retry=True) from None
            # From here the server may have the message.
            try:
                smtp.send(_quoted(mail.as_bytes(policy=policy.SMTP)))
                code, _ = smtp.getreply()
            except (OSError, smtplib.SMTPException):
                raise SendUnsure("mail server did not confirm the message") from None
            polite = True
            if code != 250:
                raise _smtp_failure(code, "the message")
            return Sent(provider_id=str(mail["Message-ID"]))
        finally:
            self._hang_up(smtp, polite)

    @staticmethod
    def _hang_up(smtp: smtplib.SMTP, polite: bool) -> None:
        if polite:
            try:
                smtp.quit()
                return
            except (OSError, smtplib.SMTPException):
                pass
        smtp.close()

    def _introduce(self, smtp: smtplib.SMTP) -> None:
        """EHLO, STARTTLS when required or offered, the login if any."""
        config = self.config
        smtp.ehlo()
        secure = config.security == "tls"
        if config.security == "starttls" or (
            config.security == "auto" and smtp.has_extn("starttls")
        ):
            try:
                smtp.starttls(context=ssl.create_default_context())
            except (ssl.SSLError, smtplib.SMTPNotSupportedError):
                raise SendFailed("mail server tls failed", retry=False) from None
            smtp.ehlo()
            secure = True
        if config.user:
            if not secure and not _loopback(config.host):
                raise SendFailed("mail server offers no tls for the login", retry=False)
            smtp.login(config.user, config.password)

    def was_sent(self, message: Outgoing) -> bool | None:
        """SMTP cannot be asked afterwards: None."""
        return None


def config_from(values: Mapping[str, Any], timeout: float) -> SmtpConfig | None:
    """The channel's configuration from merged settings; None without a URL
    or a sender; ValueError for a URL that is not an SMTP URL."""
    url = str(values.get("smtp_url") or "")
    mail_from = str(values.get("mail_from") or "")
    if not (url and mail_from):
        return None
    host, port, security, user, password = parse_smtp_url(url)
    if "@" not in parseaddr(mail_from)[1]:
        raise ValueError("BAYLIGHT_MAIL_FROM is not an e-mail address")
    return SmtpConfig(
        host=host,
        port=port,
        security=security,
        mail_from=mail_from,
        user=user,
        password=password,
        timeout=timeout,
        rate_per_second=float(values.get("rate_per_second") or DEFAULT_RATE),
    )
