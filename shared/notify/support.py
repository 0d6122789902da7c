"""What every channel adapter needs besides its SDK: telling a request that
never left from one that may have arrived, and keeping credentials out of
log lines.

Network faults. The sender's "never twice" rests on one distinction: a
request refused before it was written (connection refused, no route, a
connect timeout) certainly did not reach the provider and may be retried;
one that timed out or lost its connection *after* it was written may have
been taken. The SDKs wrap the socket error in their own exceptions
(``TencentCloudSDKException``, darabonba's ``UnretryableException``,
smtplib's ``SMTPServerDisconnected``), so ``network_fault`` walks the chain
of causes to the original error.

Redaction. The SDKs and urllib3 log at DEBUG the requests they make: the
Tencent SDK logs its headers (``Authorization: ... Credential=SecretId/...``),
urllib3 logs URLs with their query (WeChat's token request carries the
app secret, every WeChat call its access token). ``protect_logs`` installs a
filter on those loggers that masks every registered secret and the known
credential-bearing parameters, so turning on DEBUG logging never writes a
credential anywhere.
"""

from __future__ import annotations

import http.client
import logging
import re
import socket
import threading
from collections.abc import Iterable, Iterator

import requests
import urllib3.exceptions

NOT_SENT = "not_sent"
UNSURE = "unsure"

# Errors meaning the request never left this machine.
_NOT_SENT_TYPES: tuple[type[BaseException], ...] = (
    ConnectionRefusedError,
    socket.gaierror,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    requests.exceptions.ConnectTimeout,
)
# Errors after the connection was made: the request may have arrived.
_UNSURE_TYPES: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    http.client.RemoteDisconnected,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.ProtocolError,
    requests.exceptions.ReadTimeout,
)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything it was caused by or wraps, each once."""
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked: list[object] = [
            current.__cause__,
            current.__context__,
            getattr(current, "inner_exception", None),
            getattr(current, "reason", None),
            *current.args,
        ]
        stack.extend(item for item in linked if isinstance(item, BaseException))


def network_fault(error: BaseException) -> str | None:
    """``NOT_SENT`` when the chain holds a failure to connect, ``UNSURE`` when
    it holds a failure after connecting, None when it is no network fault."""
    chain = list(_causes(error))
    if any(isinstance(item, _NOT_SENT_TYPES) for item in chain):
        return NOT_SENT
    if any(isinstance(item, _UNSURE_TYPES) for item in chain):
        return UNSURE
    return None


def provider_code(value: object) -> str:
    """A provider's error code fit for a reason the desk shows: letters,
    digits and ``._:-`` only, at most 64 characters (never its message text,
    which is free-form)."""
    return re.sub(r"[^A-Za-z0-9._:-]", "", str(value))[:64] or "unknown"


# -- credentials out of the logs -------------------------------------------------------

_lock = threading.Lock()
_secrets: set[str] = set()
# Parameters and header fields that carry credentials, whatever their value.
_CREDENTIAL_FIELDS = re.compile(
    r"(?i)\b(secret|appsecret|access_token|accesskeyid|access_key_secret|signature"
    r"|secretid|secretkey|x-acs-security-token|x-tc-token|password)"
    r"([\"']?\s*[=:]\s*[\"']?)([^&\s\"',;}]+)"
)
_CREDENTIAL_SCOPE = re.compile(r"(Credential=)([^,\s/]+)")
MASK = "***"
# The loggers that can see a provider request (filters apply per logger).
SDK_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.util.retry",
    "requests",
    "tencentcloud_sdk_common",
    "darabonba-core",
    "alibabacloud-tea",
    "credentials",
    "wechatpy",
    "wechatpy.client.base",
    "wechatpy.client",
)


def register_secret(*values: str | None) -> None:
    """Remember credentials (keys, secrets, passwords, tokens) to mask in
    any log line the provider loggers write. Short values are ignored: they
    would mask ordinary words."""
    with _lock:
        _secrets.update(value for value in values if value and len(value) >= 6)


def redact(text: str) -> str:
    """``text`` with every registered secret and credential field masked."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _CREDENTIAL_FIELDS.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _CREDENTIAL_SCOPE.sub(lambda m: f"{m.group(1)}{MASK}", text)


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's message and its exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def protect_logs(names: Iterable[str] = SDK_LOGGERS) -> None:
    """Install the redacting filter on the providers' loggers (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
