"""SMS through Alibaba Cloud SMS (dysmsapi 2017-05-25) with its own SDK.

Chinese carriers only carry pre-approved texts, so a message is the shop's
registered sign name, a template code per kind and the template's values
(``Outgoing.params``) as JSON. The message's dedupe key goes out as
``OutId``: Alibaba Cloud keeps it with the message, so after a lost answer
``was_sent`` can look for it with QuerySendDetails and say yes or no.

Delivery receipts: QuerySendDetails also gives each message's SendStatus
(1 waiting for the carrier, 2 failed, 3 delivered). It is asked by phone
number and day, so the channel remembers what it sent (in memory, bounded;
a restart forgets pending receipts: those messages stay "sent").
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as openapi_models

from shared.notify.channel import Outgoing, SendFailed, SendUnsure, Sent
from shared.notify.support import (
    NOT_SENT,
    UNSURE,
    network_fault,
    protect_logs,
    provider_code,
    register_secret,
)

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "dysmsapi.aliyuncs.com"
# Alibaba Cloud's default SendSms quota for an account is well above this;
# the carriers' per-number limits are what a shop meets first.
DEFAULT_RATE = 10.0
# The day a message was sent, as QuerySendDetails' SendDate means it.
PROVIDER_ZONE = ZoneInfo("Asia/Shanghai")
PAGE_SIZE = 50
MAX_PAGES = 10
# Receipts come within 72 hours or never.
RECEIPT_WINDOW = timedelta(days=3)
MAX_PENDING = 5000
RECEIPTS_PER_CALL = 50

# Codes after which the same message can go later (limits, the provider busy).
RETRY_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",
        "isv.DAY_LIMIT_CONTROL",
        "isv.MONTH_LIMIT_CONTROL",
        "isp.SYSTEM_ERROR",
        "isv.SYSTEM_ERROR",
        "SignatureNonceUsed",
        "ServiceUnavailable",
        "InternalError",
        "ServiceTimeout",
    }
)
# Short reasons for the desk; any other code reads "sms provider refused (CODE)".
REASONS = {
    "isv.BUSINESS_LIMIT_CONTROL": "sms rate limit reached",
    "isv.DAY_LIMIT_CONTROL": "sms daily limit reached",
    "isv.MOBILE_NUMBER_ILLEGAL": "invalid phone number",
    "isv.SMS_TEMPLATE_ILLEGAL": "sms template not approved",
    "isv.SMS_SIGNATURE_ILLEGAL": "sms sign name not approved",
    "isv.INVALID_JSON_PARAM": "sms template values invalid",
    "isv.TEMPLATE_MISSING_PARAMETERS": "sms template values missing",
    "isv.AMOUNT_NOT_ENOUGH": "sms account balance too low",
    "isv.OUT_OF_SERVICE": "sms account suspended",
    "isv.BLACK_KEY_CONTROL_LIMIT": "sms text blocked by the carrier",
    "InvalidAccessKeyId.NotFound": "sms credentials refused",
    "InvalidAccessKeyId.Inactive": "sms credentials refused",
    "SignatureDoesNotMatch": "sms credentials refused",
    "IncompleteSignature": "sms credentials refused",
}


@dataclass(frozen=True)
class AliyunSmsConfig:
    """What the channel needs; ``repr`` never shows the key or secret."""

    access_key_id: str = field(repr=False)
    access_key_secret: str = field(repr=False)
    sign_name: str
    # kind -> TemplateCode, as registered with Alibaba Cloud.
    templates: tuple[tuple[str, str], ...]
    endpoint: str = DEFAULT_ENDPOINT
    protocol: str = "https"
    timeout: float = 10.0
    rate_per_second: float = DEFAULT_RATE


@dataclass(frozen=True)
class _Pending:
    biz_id: str
    phone: str
    send_date: str
    at: float


def phone_number(recipient: str) -> str:
    """The number as Alibaba Cloud takes it (digits, an optional leading +);
    SendFailed for anything else: no later attempt can fix an address."""
    number = re.sub(r"[\s()-]", "", recipient)
    if not re.fullmatch(r"\+?\d{6,15}", number):
        raise SendFailed("invalid phone number", retry=False)
    return number


def classify_code(code: str) -> SendFailed:
    """The failure an Alibaba Cloud error code means."""
    code = provider_code(code)
    retry = code in RETRY_CODES or code.startswith("Throttling")
    reason = REASONS.get(code) or (
        "sms rate limit reached" if code.startswith("Throttling") else None
    )
    return SendFailed(reason or f"sms provider refused ({code})", retry=retry)


class AliyunSms:
    """The ``sms`` channel through Alibaba Cloud SMS."""

    name = "sms"

    def __init__(self, config: AliyunSmsConfig) -> None:
        register_secret(config.access_key_id, config.access_key_secret)
        protect_logs()
        self.config = config
        self.rate_per_second = config.rate_per_second
        self._templates = dict(config.templates)
        millis = max(1, int(config.timeout * 1000))
        self._client = Client(
            openapi_models.Config(
                access_key_id=config.access_key_id,
                access_key_secret=config.access_key_secret,
                endpoint=config.endpoint,
                protocol=config.protocol,
                connect_timeout=millis,
                read_timeout=millis,
            )
        )
        self._lock = threading.Lock()
        self._pending: deque[_Pending] = deque(maxlen=MAX_PENDING)

    def __repr__(self) -> str:
        return f"AliyunSms(sign_name={self.config.sign_name!r}, endpoint={self.config.endpoint!r})"

    # -- sending -------------------------------------------------------------------------

    def send(self, message: Outgoing) -> Sent:
        template = self._templates.get(message.kind)
        if not template:
            raise SendFailed(f"no sms template for {message.kind}", retry=False)
        phone = phone_number(message.recipient)
        request = sms_models.SendSmsRequest(
            phone_numbers=phone,
            sign_name=self.config.sign_name,
            template_code=template,
            template_param=json.dumps(dict(message.params), ensure_ascii=False),
            out_id=message.dedupe_key,
        )
        try:
            response = self._client.send_sms(request)
        except Exception as error:
            raise self._failure(error) from None
        body = response.body
        code = str(getattr(body, "code", "") or "")
        if code != "OK":
            raise classify_code(code)
        biz_id = str(body.biz_id or "")
        with self._lock:
            self._pending.append(
                _Pending(biz_id, phone, _send_date(datetime.now(UTC)), time.time())
            )
        return Sent(provider_id=biz_id)

    @staticmethod
    def _failure(error: Exception) -> SendFailed | SendUnsure:
        """An SDK exception as the sender's failure: network faults by when
        they happened, provider answers by their code."""
        fault = network_fault(error)
        if fault == NOT_SENT:
            return SendFailed("sms provider unreachable", retry=True)
        if fault == UNSURE:
            return SendUnsure("sms provider did not answer")
        code = getattr(error, "code", None)
        if code:
            failure = classify_code(str(code))
            status = getattr(error, "status_code", None)
            if isinstance(status, int) and status >= 500:
                return SendFailed(failure.reason, retry=True)
            return failure
        # Anything else happened after the request was built: it may have gone.
        return SendUnsure(f"sms sdk error ({type(error).__name__})")

    # -- asking afterwards -------------------------------------------------------------

    def _details(self, phone: str, send_date: str, biz_id: str = "") -> Iterator[Any]:
        """Every SendDetail of ``phone`` on ``send_date`` (optionally one BizId)."""
        for page in range(1, MAX_PAGES + 1):
            request = sms_models.QuerySendDetailsRequest(
                phone_number=phone,
                send_date=send_date,
                page_size=PAGE_SIZE,
                current_page=page,
                biz_id=biz_id or None,
            )
            body = self._client.query_send_details(request).body
            if str(body.code) != "OK":
                raise classify_code(str(body.code))
            dtos = body.sms_send_detail_dtos
            details = list(getattr(dtos, "sms_send_detail_dto", None) or [])
            yield from details
            if len(details) < PAGE_SIZE:
                return

    def was_sent(self, message: Outgoing) -> bool | None:
        """Looks for the dedupe key among the number's messages of today and
        yesterday (China's day): found, True; a clean answer without it,
        False; no answer, None."""
        try:
            phone = phone_number(message.recipient)
        except SendFailed:
            return False
        now = datetime.now(UTC)
        try:
            for day in (now, now - timedelta(days=1)):
                for detail in self._details(phone, _send_date(day)):
                    if str(detail.out_id or "") == message.dedupe_key:
                        return True
        except Exception as error:
            log.info("sms was_sent: no answer (%s)", type(error).__name__)
            return None
        return False

    def delivery_reports(self) -> list[tuple[str, bool, str]]:
        """Receipts for messages this channel sent: (BizId, delivered, error
        code). A message without its receipt yet stays pending."""
        with self._lock:
            pending = list(self._pending)[:RECEIPTS_PER_CALL]
        reports: list[tuple[str, bool, str]] = []
        done: set[str] = set()
        for item in pending:
            if time.time() - item.at > RECEIPT_WINDOW.total_seconds():
                done.add(item.biz_id)
                continue
            try:
                details = list(self._details(item.phone, item.send_date, item.biz_id))
            except Exception as error:
                log.info("sms receipts: no answer (%s)", type(error).__name__)
                break
            for detail in details:
                status = int(detail.send_status or 1)
                if status in (2, 3):
                    code = provider_code(detail.err_code or "") if status == 2 else ""
                    reports.append((item.biz_id, status == 3, code))
                    done.add(item.biz_id)
                    break
        if done:
            with self._lock:
                kept = [p for p in self._pending if p.biz_id not in done]
                self._pending.clear()
                self._pending.extend(kept)
        return reports


def _send_date(moment: datetime) -> str:
    return moment.astimezone(PROVIDER_ZONE).strftime("%Y%m%d")


def config_from(values: Mapping[str, Any], timeout: float) -> AliyunSmsConfig | None:
    """The channel's configuration from merged settings (see registry);
    None when a credential or the sign name is missing."""
    key_id = str(values.get("access_key_id") or "")
    secret = str(values.get("access_key_secret") or "")
    sign = str(values.get("sign_name") or "")
    if not (key_id and secret and sign):
        return None
    endpoint, protocol = DEFAULT_ENDPOINT, "https"
    override = str(values.get("endpoint") or "")
    if override:
        protocol, _, endpoint = override.partition("://")
        if not endpoint:
            protocol, endpoint = "https", override
    templates = values.get("templates") or {}
    return AliyunSmsConfig(
        access_key_id=key_id,
        access_key_secret=secret,
        sign_name=sign,
        templates=tuple(sorted((str(k), _template_id(v)) for k, v in templates.items())),
        endpoint=endpoint.rstrip("/"),
        protocol=protocol,
        timeout=timeout,
        rate_per_second=float(values.get("rate_per_second") or DEFAULT_RATE),
    )


def _template_id(value: Any) -> str:
    """A template given as its code or as {"id": code, ...}."""
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value)
