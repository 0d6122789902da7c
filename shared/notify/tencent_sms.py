"""SMS through Tencent Cloud SMS (API 2021-01-11) with its own SDK.

As with every Chinese SMS provider, a message is an approved template (its
numeric TemplateId per kind) and the template's values, here positional
(``TemplateParamSet``): the values of ``Outgoing.params`` in the order the
shop registered them (``{"id": "123", "params": ["shop", "link"]}``), or in
the order the texts give them. The dedupe key goes out as
``SessionContext``, which Tencent Cloud returns in the message's status
report.

``was_sent`` can only say yes: a message shows in
PullSmsSendStatusByPhoneNumber once the carrier has reported it, so not
finding it proves nothing (None). ``delivery_reports`` pulls the status
reports (each is given once), ``replies`` the customers' answers (退订/TD
opt-outs).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models as sms_models
from tencentcloud.sms.v20210111.sms_client import SmsClient

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

DEFAULT_REGION = "ap-guangzhou"
# Tencent Cloud's SendSms limit is 3000 requests a second per account; a
# shop is far below, this keeps a backlog drain gentle.
DEFAULT_RATE = 10.0
PULL_LIMIT = 100
# How far back was_sent looks for a message's status report.
LOOKBACK_SECONDS = 2 * 24 * 3600

RETRY_PREFIXES = ("LimitExceeded.", "RequestLimitExceeded", "InternalError", "ResourceUnavailable")
REASONS = {
    "InvalidParameterValue.IncorrectPhoneNumber": "invalid phone number",
    "FailedOperation.PhoneNumberInBlacklist": "number refuses sms (blacklisted)",
    "FailedOperation.TemplateIncorrectOrUnapproved": "sms template not approved",
    "FailedOperation.SignatureIncorrectOrUnapproved": "sms sign name not approved",
    "FailedOperation.InsufficientBalanceInSmsPackage": "sms account balance too low",
    "InvalidParameterValue.TemplateParameterFormatError": "sms template values invalid",
    "InvalidParameterValue.TemplateParameterLengthLimit": "sms template value too long",
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": "sms app id refused",
    "LimitExceeded.PhoneNumberDailyLimit": "sms daily limit for the number reached",
    "LimitExceeded.PhoneNumberOneHourLimit": "sms hourly limit for the number reached",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "sms limit for the number reached",
    "RequestLimitExceeded": "sms rate limit reached",
}


@dataclass(frozen=True)
class TencentSmsConfig:
    """What the channel needs; ``repr`` never shows the secret id or key."""

    secret_id: str = field(repr=False)
    secret_key: str = field(repr=False)
    app_id: str
    sign_name: str
    # kind -> (TemplateId, names of the params in the template's order).
    templates: tuple[tuple[str, str, tuple[str, ...]], ...]
    region: str = DEFAULT_REGION
    endpoint: str = ""
    protocol: str = "https"
    timeout: float = 10.0
    rate_per_second: float = DEFAULT_RATE


def e164(recipient: str) -> str:
    """+86 and the number (a mainland 11-digit mobile without a prefix), or
    the number as given when it already has its +country code."""
    number = re.sub(r"[\s()-]", "", recipient)
    if number.startswith("00"):
        number = "+" + number[2:]
    if re.fullmatch(r"1\d{10}", number):
        return "+86" + number
    if re.fullmatch(r"86(1\d{10})", number):
        return "+" + number
    if re.fullmatch(r"\+\d{6,15}", number):
        return number
    raise SendFailed("invalid phone number", retry=False)


def national(phone: str, country: str = "86") -> str:
    """A reported number as the order stores it: mainland numbers without +86."""
    if country == "86" and phone.startswith("+86"):
        return phone[3:]
    return phone


def classify_code(code: str) -> SendFailed:
    code = provider_code(code)
    retry = code.startswith(RETRY_PREFIXES)
    if code.startswith("AuthFailure"):
        return SendFailed("sms credentials refused", retry=False)
    return SendFailed(REASONS.get(code) or f"sms provider refused ({code})", retry=retry)


class TencentSms:
    """The ``sms`` channel through Tencent Cloud SMS."""

    name = "sms"

    def __init__(self, config: TencentSmsConfig) -> None:
        register_secret(config.secret_id, config.secret_key)
        protect_logs()
        self.config = config
        self.rate_per_second = config.rate_per_second
        self._templates = {kind: (tid, names) for kind, tid, names in config.templates}
        http = HttpProfile(
            protocol=config.protocol,
            endpoint=config.endpoint or None,
            reqMethod="POST",
            reqTimeout=config.timeout,
        )
        self._client = SmsClient(
            credential.Credential(config.secret_id, config.secret_key),
            config.region,
            ClientProfile(httpProfile=http),
        )

    def __repr__(self) -> str:
        return f"TencentSms(app_id={self.config.app_id!r}, sign_name={self.config.sign_name!r})"

    def _call(self, action: str, request: Any) -> Any:
        """One API call; SendFailed/SendUnsure for what went wrong."""
        try:
            return getattr(self._client, action)(request)
        except Exception as error:
            raise self._failure(error) from None

    @staticmethod
    def _failure(error: Exception) -> SendFailed | SendUnsure:
        fault = network_fault(error)
        if fault == NOT_SENT:
            return SendFailed("sms provider unreachable", retry=True)
        if fault == UNSURE:
            return SendUnsure("sms provider did not answer")
        get_code = getattr(error, "get_code", None)
        code = str(get_code()) if callable(get_code) else ""
        if code == "ClientNetworkError":
            return SendUnsure("sms provider connection lost")
        if code == "ServerNetworkError":
            # The API answers everything it handled with HTTP 200: another
            # status came from something in between, before the service.
            return SendFailed("sms provider unavailable", retry=True)
        if code:
            return classify_code(code)
        return SendUnsure(f"sms sdk error ({type(error).__name__})")

    # -- sending -------------------------------------------------------------------------

    def send(self, message: Outgoing) -> Sent:
        found = self._templates.get(message.kind)
        if found is None or not found[0]:
            raise SendFailed(f"no sms template for {message.kind}", retry=False)
        template_id, names = found
        values = [str(message.params.get(name, "")) for name in names] if names else None
        request = sms_models.SendSmsRequest()
        request.PhoneNumberSet = [e164(message.recipient)]
        request.SmsSdkAppId = self.config.app_id
        request.SignName = self.config.sign_name
        request.TemplateId = template_id
        request.TemplateParamSet = values if values is not None else list(message.params.values())
        request.SessionContext = message.dedupe_key
        response = self._call("SendSms", request)
        statuses = list(response.SendStatusSet or [])
        if not statuses:
            raise SendUnsure("sms provider answered without a status")
        status = statuses[0]
        if str(status.Code) != "Ok":
            raise classify_code(str(status.Code))
        return Sent(provider_id=str(status.SerialNo or ""))

    # -- asking afterwards -------------------------------------------------------------

    def was_sent(self, message: Outgoing) -> bool | None:
        """True when a status report carries the dedupe key; else None (the
        report may simply not have come yet)."""
        try:
            phone = e164(message.recipient)
        except SendFailed:
            return False
        now = int(time.time())
        offset = 0
        try:
            while offset < 10 * PULL_LIMIT:
                request = sms_models.PullSmsSendStatusByPhoneNumberRequest()
                request.BeginTime = now - LOOKBACK_SECONDS
                request.EndTime = now + 60
                request.Offset = offset
                request.Limit = PULL_LIMIT
                request.PhoneNumber = phone
                request.SmsSdkAppId = self.config.app_id
                found = list(
                    self._call("PullSmsSendStatusByPhoneNumber", request).PullSmsSendStatusSet or []
                )
                if any(str(item.SessionContext or "") == message.dedupe_key for item in found):
                    return True
                if len(found) < PULL_LIMIT:
                    break
                offset += PULL_LIMIT
        except (SendFailed, SendUnsure) as error:
            log.info("sms was_sent: no answer (%s)", error.reason)
        return None

    def delivery_reports(self) -> list[tuple[str, bool, str]]:
        """Status reports not pulled before: (SerialNo, delivered, reason)."""
        request = sms_models.PullSmsSendStatusRequest()
        request.Limit = PULL_LIMIT
        request.SmsSdkAppId = self.config.app_id
        try:
            found = self._call("PullSmsSendStatus", request).PullSmsSendStatusSet or []
        except (SendFailed, SendUnsure) as error:
            log.info("sms receipts: no answer (%s)", error.reason)
            return []
        reports = []
        for item in found:
            delivered = str(item.ReportStatus) == "SUCCESS"
            reason = "" if delivered else provider_code(item.ReportStatus or "FAIL")
            reports.append((str(item.SerialNo or ""), delivered, reason))
        return reports

    def replies(self) -> list[tuple[str, str]]:
        """SMS the customers sent back, not pulled before: (phone as the order
        stores it, text). The sender treats 退订/TD as an opt-out."""
        request = sms_models.PullSmsReplyStatusRequest()
        request.Limit = PULL_LIMIT
        request.SmsSdkAppId = self.config.app_id
        try:
            found = self._call("PullSmsReplyStatus", request).PullSmsReplyStatusSet or []
        except (SendFailed, SendUnsure) as error:
            log.info("sms replies: no answer (%s)", error.reason)
            return []
        return [
            (
                national(str(item.PhoneNumber or ""), str(item.CountryCode or "86")),
                str(item.ReplyContent or ""),
            )
            for item in found
        ]


def config_from(values: Mapping[str, Any], timeout: float) -> TencentSmsConfig | None:
    """The channel's configuration from merged settings; None when the
    secret id, key, app id or sign name is missing."""
    secret_id = str(values.get("secret_id") or "")
    secret_key = str(values.get("secret_key") or "")
    app_id = str(values.get("app_id") or "")
    sign = str(values.get("sign_name") or "")
    if not (secret_id and secret_key and app_id and sign):
        return None
    protocol, endpoint = "https", ""
    override = str(values.get("endpoint") or "")
    if override:
        protocol, _, endpoint = override.partition("://")
        if not endpoint:
            protocol, endpoint = "https", override
    templates = []
    for kind, value in (values.get("templates") or {}).items():
        if isinstance(value, Mapping):
            names = tuple(str(n) for n in value.get("params") or ())
            templates.append((str(kind), str(value.get("id") or ""), names))
        else:
            templates.append((str(kind), str(value), ()))
    return TencentSmsConfig(
        secret_id=secret_id,
        secret_key=secret_key,
        app_id=app_id,
        sign_name=sign,
        templates=tuple(sorted(templates)),
        region=str(values.get("region") or DEFAULT_REGION),
        endpoint=endpoint.rstrip("/"),
        protocol=protocol,
        timeout=timeout,
        rate_per_second=float(values.get("rate_per_second") or DEFAULT_RATE),
    )
