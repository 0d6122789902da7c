"""Local stand-ins for the notification providers, so the real SDKs run in tests.

Each server speaks the provider's documented request and response format
closely enough that the provider's own SDK code runs unchanged against it,
signature checks included (a wrong secret is refused as the provider
refuses it). Nothing leaves the machine.

API for any test module (bind the fixtures you use in your module: pytest
finds them by name, and ruff sees no unused import)::

    from tests.notify import providers
    from tests.notify.providers import AliyunSmsServer

    aliyun_sms_server = providers.aliyun_sms_server

    def test_x(aliyun_sms_server: AliyunSmsServer) -> None:
        environ = aliyun_sms_server.environ()      # BAYLIGHT_* names for channels_for
        ...
        aliyun_sms_server.set_mode("refuse")       # port closed: connection refused
        aliyun_sms_server.set_mode("hang")         # accepts, never answers, records nothing
        aliyun_sms_server.set_mode("drop_reply")   # records the message, never answers
        aliyun_sms_server.set_mode("ok")           # back to normal (same port)
        aliyun_sms_server.script("isv.BUSINESS_LIMIT_CONTROL")  # the next send answers this
        aliyun_sms_server.received                 # what was taken, in order

Fixtures: ``aliyun_sms_server``, ``tencent_sms_server``, ``wechat_server``,
``smtp_server``, ``smtp_server_with_auth`` (AUTH, plain), ``smtp_server_starttls``
and ``smtps_server`` (AUTH over TLS). Every server is also a context manager
(``with AliyunSmsServer() as sms:``) and has:

- ``received``: a list (a copy, safe to read while the server runs) of the
  messages the provider *took*: ``SmsReceived`` (phone, sign, template,
  params, out_id, provider_id), ``WeChatReceived`` (openid, template_id, data,
  url, client_msg_id, msgid) or ``MailReceived`` (mail_from, rcpt_tos,
  message_id, subject, text, message, tls). Also ``requests``: every HTTP
  request seen, as (action or path, mode), even those not answered.
- ``set_mode(mode)``: "ok", "refuse", "hang", "drop_reply" (see above).
  Leaving "hang"/"drop_reply" releases the connections held open.
- ``script(code, ...)``: scripted errors, answered in order by the next send
  requests (one each), before anything is recorded.
- ``environ()``: the environment that configures Baylight's channel for this
  server (credentials, endpoint override, templates, a 0.5 s timeout).

Provider specifics:

- ``AliyunSmsServer``: Alibaba Cloud SMS (dysmsapi 2017-05-25), RPC API
  style; the ACS3-HMAC-SHA256 signature (the SDK's default) and the older
  HMAC-SHA1 ``Signature`` query parameter are both checked. Actions SendSms,
  QuerySendDetails. ``report(provider_id, delivered, err_code)`` sets a
  message's SendStatus (1 waiting, 2 failed, 3 delivered).
- ``TencentSmsServer``: Tencent Cloud API 3.0 (sms 2021-01-11, JSON POST with
  TC3-HMAC-SHA256). Actions SendSms, PullSmsSendStatus (each report once),
  PullSmsSendStatusByPhoneNumber (by phone and time, repeatable),
  PullSmsReplyStatus. Each sent message gets a delivery report
  (``report_status``, "SUCCESS" unless changed; None: no report until
  ``report(serial_no, status)``); ``reply(phone, text)`` queues an inbound SMS.
- ``WeChatServer``: GET /cgi-bin/token and POST /cgi-bin/message/template/send
  (errcode/errmsg JSON). ``unsubscribed`` openids answer 43004;
  ``expire_tokens()`` makes issued tokens answer 40001. A repeated
  ``client_msg_id`` for the same openid is taken once (the documented
  re-entry guard), answering the first msgid again.
- ``SmtpServer``: aiosmtpd on 127.0.0.1; optional AUTH (``user``, ``password``)
  and TLS (``tls="starttls"`` offered, or ``"implicit"`` for smtps://, with a
  self-signed certificate in ``cert_file``: set SSL_CERT_FILE to trust it);
  ``script(reply, stage="rcpt"|"mail"|"data")`` answers an SMTP reply such as
  "550 5.1.1 no such user" at that stage; "hang" is a listening socket that
  never sends the greeting; "drop_reply" records at the end of DATA and never
  answers it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import itertools
import json
import re
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MODES = ("ok", "refuse", "hang", "drop_reply")
# How long a held connection waits at most before the server lets go of it
# (a test that forgets to leave "hang" must not keep threads forever).
HOLD_SECONDS = 30.0
TEST_TIMEOUT = "0.5"
CHINA = ZoneInfo("Asia/Shanghai")

ALIYUN_KEY_ID = "LTAItestkeyid0001"
ALIYUN_KEY_SECRET = "aliyun-secret-must-not-leak-0001"
ALIYUN_SIGN = "百灵车间"
TENCENT_SECRET_ID = "AKIDtestsecretid0001"
TENCENT_SECRET_KEY = "tencent-key-must-not-leak-0001"
TENCENT_APP_ID = "1400000001"
TENCENT_SIGN = "百灵车间"
WECHAT_APP_ID = "wxtestappid0001"
WECHAT_APP_SECRET = "wechat-secret-must-not-leak-0001"
SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-password-must-not-leak-0001"
# Provider template ids per message kind, as a shop registers them.
SMS_TEMPLATES = {
    "order_received": "SMS_1001",
    "quote_waiting": "SMS_1002",
    "promise_changed": "SMS_1003",
    "ready_for_pickup": "SMS_1004",
    "survey": "SMS_1005",
    "one_off": "SMS_1006",
}
TENCENT_TEMPLATES = {kind: str(2001 + n) for n, kind in enumerate(SMS_TEMPLATES)}
WECHAT_TEMPLATES = {kind: f"tpl-{kind}" for kind in SMS_TEMPLATES}


@dataclass(frozen=True)
class SmsReceived:
    """One SMS the fake provider took."""

    phone: str
    sign_name: str
    template: str
    params: Any
    out_id: str
    provider_id: str
    at: datetime


@dataclass(frozen=True)
class WeChatReceived:
    openid: str
    template_id: str
    data: dict[str, Any]
    url: str
    client_msg_id: str
    msgid: int


@dataclass(frozen=True)
class MailReceived:
    mail_from: str
    rcpt_tos: list[str]
    message_id: str
    subject: str
    text: str
    message: EmailMessage
    tls: bool = False  # the message came over TLS (STARTTLS or smtps)


@dataclass(frozen=True)
class Scripted:
    code: str
    message: str
    status: int
    extra: dict[str, Any] = field(default_factory=dict)


class _Holds:
    """Connections held open by "hang"/"drop_reply", released on leaving."""

    def __init__(self) -> None:
        self._release = threading.Event()

    def wait(self) -> None:
        self._release.wait(HOLD_SECONDS)

    def release(self) -> None:
        self._release.set()
        self._release = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: _HttpFake

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the tests read ``received``, not a log."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        mode = self.fake.mode
        if mode == "hang":
            self.fake.holds.wait()
            self.close_connection = True
            return
        status, headers, payload = self.fake.handle(self.command, self.path, self.headers, body)
        if mode == "drop_reply":
            self.fake.holds.wait()
            self.close_connection = True
            return
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


class _HttpFake:
    """A threaded HTTP server on 127.0.0.1 with the switchable modes."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.holds = _Holds()
        self.lock = threading.Lock()
        self._received: list[Any] = []
        self._script: list[Scripted] = []
        self.requests: list[tuple[str, str]] = []  # (action or path, mode) for diagnosis
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bind()

    def _bind(self) -> None:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        server.daemon_threads = True
        server.block_on_close = False
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def _unbind(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def received(self) -> list[Any]:
        with self.lock:
            return list(self._received)

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        if mode == "refuse" and self._server is not None:
            self._unbind()
        elif mode != "refuse" and self._server is None:
            self._bind()
        if mode not in ("hang", "drop_reply"):
            self.holds.release()
        self.mode = mode

    def script(self, code: str, message: str = "", status: int | None = None, **extra: Any) -> None:
        with self.lock:
            self._script.append(
                Scripted(code, message or code, status or self.status_for(code), extra)
            )

    def status_for(self, code: str) -> int:
        return 200

    def next_scripted(self) -> Scripted | None:
        with self.lock:
            return self._script.pop(0) if self._script else None

    def record(self, item: Any) -> None:
        with self.lock:
            self._received.append(item)

    def handle(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def close(self) -> None:
        self.holds.release()
        self._unbind()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json(status: int, data: Any) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"Content-Type": "application/json"},
        json.dumps(data, ensure_ascii=False).encode(),
    )


def _acs_encode(text: str) -> str:
    """RFC 3986 percent-encoding as Alibaba Cloud's signatures document it."""
    return quote(text, safe="-_.~")


def _mobile(phone: str) -> str | None:
    """The 11-digit mainland mobile number in ``phone`` (with or without
    +86/0086/86), None when it is not one."""
    found = re.fullmatch(r"(?:\+?86|0086)?(1\d{10})", phone.strip())
    return found.group(1) if found else None


class AliyunSmsServer(_HttpFake):
    """Alibaba Cloud SMS (dysmsapi 2017-05-25) on a local port."""

    # isv.* business errors come back as HTTP 200 with their Code; signature,
    # key and throttling errors as HTTP 4xx (the documented status codes).
    STATUS: ClassVar[dict[str, int]] = {
        "InvalidAccessKeyId.NotFound": 404,
        "SignatureDoesNotMatch": 400,
        "IncompleteSignature": 400,
        "Throttling.User": 400,
        "Throttling": 400,
        "ServiceUnavailable": 503,
        "InternalError": 500,
    }

    def __init__(self) -> None:
        self.keys = {ALIYUN_KEY_ID: ALIYUN_KEY_SECRET}
        self.signs = {ALIYUN_SIGN}
        self.templates: set[str] | None = set(SMS_TEMPLATES.values())
        self._status: dict[str, tuple[int, str]] = {}
        self._ids = itertools.count(900000000000001)
        super().__init__()

    def status_for(self, code: str) -> int:
        return self.STATUS.get(code, 200)

    def environ(self, **extra: str) -> dict[str, str]:
        return {
            "BAYLIGHT_SMS_PROVIDER": "aliyun",
            "BAYLIGHT_ALIYUN_ACCESS_KEY_ID": ALIYUN_KEY_ID,
            "BAYLIGHT_ALIYUN_ACCESS_KEY_SECRET": ALIYUN_KEY_SECRET,
            "BAYLIGHT_SMS_SIGN_NAME": ALIYUN_SIGN,
            "BAYLIGHT_SMS_TEMPLATES": json.dumps(SMS_TEMPLATES),
            "BAYLIGHT_ALIYUN_SMS_ENDPOINT": self.url,
            "BAYLIGHT_NOTIFY_TIMEOUT": TEST_TIMEOUT,
            **extra,
        }

    def report(self, provider_id: str, delivered: bool, err_code: str = "") -> None:
        """The carrier's receipt for one message (SendStatus 3 or 2)."""
        with self.lock:
            self._status[provider_id] = (3, err_code or "DELIVERED") if delivered else (2, err_code)

    # -- the request -----------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        params = dict(query)
        if "x-www-form-urlencoded" in (headers.get("Content-Type") or ""):
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        action = headers.get("x-acs-action") or params.get("Action", "")
        self.requests.append((action, self.mode))
        refused = self._check_signature(method, parts.path or "/", query, headers, body, params)
        if refused is not None:
            return self._error(refused)
        if action == "SendSms":
            return self._send(params)
        if action == "QuerySendDetails":
            return self._query(params)
        return self._error(Scripted("InvalidAction.NotFound", "no such action", 404))

    def _error(self, scripted: Scripted) -> tuple[int, dict[str, str], bytes]:
        return _json(
            scripted.status,
            {
                "RequestId": str(uuid.uuid4()),
                "Code": scripted.code,
                "Message": scripted.message,
                **scripted.extra,
            },
        )

    def _check_signature(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Any,
        body: bytes,
        params: dict[str, str],
    ) -> Scripted | None:
        authorization = headers.get("Authorization") or ""
        if authorization.startswith("ACS3-HMAC-SHA256 "):
            return self._check_v3(method, path, query, headers, body, authorization)
        if "Signature" in params:
            return self._check_v2(method, params)
        return Scripted("MissingSignature", "signature missing", 400)

    def _check_v3(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Any,
        body: bytes,
        authorization: str,
    ) -> Scripted | None:
        fields = dict(
            item.strip().split("=", 1) for item in authorization.split(" ", 1)[1].split(",")
        )
        secret = self.keys.get(fields.get("Credential", ""))
        if secret is None:
            return Scripted(
                "InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404
            )
        signed = fields.get("SignedHeaders", "").split(";")
        canonical_query = "&".join(
            f"{_acs_encode(k)}={_acs_encode(v)}"
            for k, v in sorted(query, key=lambda kv: _acs_encode(kv[0]))
        )
        canonical_headers = "".join(
            f"{name}:{(headers.get(name) or '').strip()}\n" for name in signed
        )
        payload_hash = hashlib.sha256(body).hexdigest()
        if headers.get("x-acs-content-sha256") != payload_hash:
            return Scripted("SignatureDoesNotMatch", "payload hash differs", 400)
        canonical = "\n".join(
            [method, path, canonical_query, canonical_headers, ";".join(signed), payload_hash]
        )
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return Scripted(
                "SignatureDoesNotMatch", "Specified signature does not match our calculation.", 400
            )
        return None

    def _check_v2(self, method: str, params: dict[str, str]) -> Scripted | None:
        secret = self.keys.get(params.get("AccessKeyId", ""))
        if secret is None:
            return Scripted(
                "InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404
            )
        canonical = "&".join(
            f"{_acs_encode(k)}={_acs_encode(v)}"
            for k, v in sorted(params.items())
            if k != "Signature"
        )
        to_sign = f"{method}&{_acs_encode('/')}&{_acs_encode(canonical)}"
        digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), params["Signature"]):
            return Scripted(
                "SignatureDoesNotMatch", "Specified signature does not match our calculation.", 400
            )
        return None

    def _send(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        scripted = self.next_scripted()
        if scripted is not None:
            return self._error(scripted)
        phones = [p for p in params.get("PhoneNumbers", "").split(",") if p]
        if not phones or any(_mobile(p) is None for p in phones):
            return self._error(Scripted("isv.MOBILE_NUMBER_ILLEGAL", "invalid mobile number", 200))
        if params.get("SignName") not in self.signs:
            return self._error(Scripted("isv.SMS_SIGNATURE_ILLEGAL", "sign name not approved", 200))
        template = params.get("TemplateCode", "")
        if not template or (self.templates is not None and template not in self.templates):
            return self._error(Scripted("isv.SMS_TEMPLATE_ILLEGAL", "template not approved", 200))
        try:
            template_params = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return self._error(Scripted("isv.INVALID_JSON_PARAM", "TemplateParam is not JSON", 200))
        biz_id = f"{next(self._ids)}^0"
        now = datetime.now(UTC)
        for phone in phones:
            self.record(
                SmsReceived(
                    phone=phone,
                    sign_name=params["SignName"],
                    template=template,
                    params=template_params,
                    out_id=params.get("OutId", ""),
                    provider_id=biz_id,
                    at=now,
                )
            )
        return _json(
            200,
            {"RequestId": str(uuid.uuid4()), "Code": "OK", "Message": "OK", "BizId": biz_id},
        )

    def _query(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        phone = params.get("PhoneNumber", "")
        send_date = params.get("SendDate", "")
        if not phone or not re.fullmatch(r"\d{8}", send_date):
            return self._error(Scripted("isv.PARAM_NOT_SUPPORT_URL", "bad query", 200))
        size = int(params.get("PageSize") or 10)
        page = int(params.get("CurrentPage") or 1)
        biz_id = params.get("BizId", "")
        found = [
            item
            for item in self.received
            if _mobile(item.phone) == _mobile(phone)
            and item.at.astimezone(CHINA).strftime("%Y%m%d") == send_date
            and (not biz_id or item.provider_id == biz_id)
        ]
        shown = found[(page - 1) * size : page * size]
        details = []
        for item in shown:
            with self.lock:
                status, err_code = self._status.get(item.provider_id, (1, ""))
            details.append(
                {
                    "PhoneNum": item.phone,
                    "SendStatus": status,
                    "ErrCode": err_code,
                    "TemplateCode": item.template,
                    "Content": f"【{item.sign_name}】{json.dumps(item.params, ensure_ascii=False)}",
                    "SendDate": item.at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
                    "ReceiveDate": "",
                    "OutId": item.out_id,
                }
            )
        return _json(
            200,
            {
                "RequestId": str(uuid.uuid4()),
                "Code": "OK",
                "Message": "OK",
                "TotalCount": len(found),
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": details},
            },
        )


class TencentSmsServer(_HttpFake):
    """Tencent Cloud SMS (API 3.0, sms 2021-01-11) on a local port."""

    # Errors the whole request answers (Response.Error); the rest are
    # answered per number in SendStatusSet[].Code, as the API documents.
    TOP_LEVEL = ("AuthFailure", "RequestLimitExceeded", "InternalError", "UnauthorizedOperation")

    def __init__(self) -> None:
        self.keys = {TENCENT_SECRET_ID: TENCENT_SECRET_KEY}
        self.app_ids = {TENCENT_APP_ID}
        self.signs = {TENCENT_SIGN}
        self.templates: set[str] | None = set(TENCENT_TEMPLATES.values())
        self.report_status: str | None = "SUCCESS"
        self._reports: list[dict[str, Any]] = []  # not yet pulled
        self._all_reports: list[dict[str, Any]] = []
        self._replies: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        super().__init__()

    def environ(self, **extra: str) -> dict[str, str]:
        return {
            "BAYLIGHT_SMS_PROVIDER": "tencent",
            "BAYLIGHT_TENCENT_SECRET_ID": TENCENT_SECRET_ID,
            "BAYLIGHT_TENCENT_SECRET_KEY": TENCENT_SECRET_KEY,
            "BAYLIGHT_TENCENT_SMS_APP_ID": TENCENT_APP_ID,
            "BAYLIGHT_SMS_SIGN_NAME": TENCENT_SIGN,
            "BAYLIGHT_SMS_TEMPLATES": json.dumps(TENCENT_TEMPLATES),
            "BAYLIGHT_TENCENT_SMS_ENDPOINT": self.url,
            "BAYLIGHT_NOTIFY_TIMEOUT": TEST_TIMEOUT,
            **extra,
        }

    def report(self, serial_no: str, status: str, description: str = "") -> None:
        """A carrier's report for one message ("SUCCESS", "FAIL", ...)."""
        for item in self.received:
            if item.provider_id == serial_no:
                self._add_report(item, status, description)

    def reply(self, phone: str, text: str, sign: str = TENCENT_SIGN) -> None:
        """An SMS the customer sent back (say 退订), pulled by PullSmsReplyStatus."""
        number = _mobile(phone) or phone
        now = datetime.now(CHINA)
        with self.lock:
            self._replies.append(
                {
                    "ExtendCode": "",
                    "CountryCode": "86",
                    "SubscriberNumber": number,
                    "PhoneNumber": f"+86{number}",
                    "SignName": sign,
                    "ReplyContent": text,
                    "ReplyTime": now.strftime("%Y-%m-%d %H:%M:%S"),
                }
            )

    def _add_report(self, item: SmsReceived, status: str, description: str) -> None:
        # The fields the installed SDK's models know: the API's newer
        # UserReceiveUnixTime/ReplyUnixTime make the SDK warn (an error in tests).
        now = datetime.now(CHINA)
        number = _mobile(item.phone) or item.phone
        report = {
            "UserReceiveTime": now.strftime("%Y-%m-%d %H:%M:%S"),
            "CountryCode": "86",
            "SubscriberNumber": number,
            "PhoneNumber": f"+86{number}",
            "SerialNo": item.provider_id,
            "ReportStatus": status,
            "Description": description or ("用户短信送达成功" if status == "SUCCESS" else status),
            "SessionContext": item.out_id,
            "_sent": item.at.timestamp(),
        }
        with self.lock:
            self._reports.append(report)
            self._all_reports.append(report)

    def handle(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        action = headers.get("X-TC-Action") or ""
        self.requests.append((action, self.mode))
        refused = self._check_signature(method, path, headers, body)
        if refused is not None:
            return self._error(refused)
        if headers.get("X-TC-Version") != "2021-01-11":
            return self._error(Scripted("InvalidParameter", "unsupported version", 200))
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return self._error(Scripted("InvalidParameter", "body is not JSON", 200))
        if action == "SendSms":
            return self._send(params)
        if action == "PullSmsSendStatus":
            return self._pull_status(params)
        if action == "PullSmsSendStatusByPhoneNumber":
            return self._status_by_phone(params)
        if action == "PullSmsReplyStatus":
            return self._pull_replies(params)
        return self._error(Scripted("InvalidAction", "no such action", 200))

    def _ok(self, data: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return _json(200, {"Response": {**data, "RequestId": str(uuid.uuid4())}})

    def _error(self, scripted: Scripted) -> tuple[int, dict[str, str], bytes]:
        return self._ok({"Error": {"Code": scripted.code, "Message": scripted.message}})

    def _check_signature(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> Scripted | None:
        authorization = headers.get("Authorization") or ""
        found = re.fullmatch(
            r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([^/]+)/tc3_request,"
            r" SignedHeaders=([^,]+), Signature=([0-9a-f]+)",
            authorization,
        )
        if found is None:
            return Scripted("AuthFailure.SignatureFailure", "malformed Authorization", 200)
        secret_id, date, service, signed, signature = found.groups()
        secret = self.keys.get(secret_id)
        if secret is None:
            return Scripted("AuthFailure.SecretIdNotFound", "The SecretId is not found", 200)
        timestamp = headers.get("X-TC-Timestamp") or "0"
        if (
            service != "sms"
            or datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d") != date
        ):
            return Scripted("AuthFailure.SignatureFailure", "scope does not match", 200)
        names = signed.split(";")
        canonical_headers = "".join(
            f"{n}:{(headers.get(n) or '').strip().lower()}\n" for n in names
        )
        parts = urlsplit(path)
        canonical = "\n".join(
            [
                method,
                parts.path or "/",
                parts.query,
                canonical_headers,
                signed,
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{date}/{service}/tc3_request"
        to_sign = (
            f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n"
            + hashlib.sha256(canonical.encode()).hexdigest()
        )

        def mac(key: bytes, text: str) -> bytes:
            return hmac.new(key, text.encode(), hashlib.sha256).digest()

        key = mac(mac(mac(f"TC3{secret}".encode(), date), service), "tc3_request")
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return Scripted(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated.",
                200,
            )
        return None

    def _send(self, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if params.get("SmsSdkAppId") not in self.app_ids:
            return self._error(
                Scripted(
                    "UnauthorizedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId verify failed", 200
                )
            )
        phones = params.get("PhoneNumberSet") or []
        template = str(params.get("TemplateId") or "")
        if not phones or not template:
            return self._error(
                Scripted("MissingParameter", "PhoneNumberSet or TemplateId missing", 200)
            )
        scripted = self.next_scripted()
        if scripted is not None and (
            scripted.code.startswith(self.TOP_LEVEL) or scripted.extra.get("top")
        ):
            return self._error(scripted)
        statuses = []
        now = datetime.now(UTC)
        for phone in phones:
            code, message = "Ok", "send success"
            if scripted is not None:
                code, message = scripted.code, scripted.message
            elif not str(phone).startswith("+86") or _mobile(str(phone)) is None:
                code, message = (
                    "InvalidParameterValue.IncorrectPhoneNumber",
                    "incorrect phone number",
                )
            elif params.get("SignName") not in self.signs:
                code, message = (
                    "FailedOperation.SignatureIncorrectOrUnapproved",
                    "sign not approved",
                )
            elif self.templates is not None and template not in self.templates:
                code, message = (
                    "FailedOperation.TemplateIncorrectOrUnapproved",
                    "template not approved",
                )
            serial = f"2028:{next(self._ids):020d}" if code == "Ok" else ""
            statuses.append(
                {
                    "SerialNo": serial,
                    "PhoneNumber": phone,
                    "Fee": 1 if code == "Ok" else 0,
                    "SessionContext": params.get("SessionContext", ""),
                    "Code": code,
                    "Message": message,
                    "IsoCode": "CN",
                }
            )
            if code == "Ok":
                item = SmsReceived(
                    phone=str(phone),
                    sign_name=str(params.get("SignName", "")),
                    template=template,
                    params=list(params.get("TemplateParamSet") or []),
                    out_id=str(params.get("SessionContext", "")),
                    provider_id=serial,
                    at=now,
                )
                self.record(item)
                if self.report_status is not None:
                    self._add_report(item, self.report_status, "")
        return self._ok({"SendStatusSet": statuses})

    @staticmethod
    def _public(report: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in report.items() if not k.startswith("_")}

    def _pull_status(self, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if params.get("SmsSdkAppId") not in self.app_ids:
            return self._error(
                Scripted("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "app id", 200)
            )
        limit = int(params.get("Limit") or 100)
        with self.lock:
            taken, self._reports = self._reports[:limit], self._reports[limit:]
        return self._ok({"PullSmsSendStatusSet": [self._public(r) for r in taken]})

    def _status_by_phone(self, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if params.get("SmsSdkAppId") not in self.app_ids:
            return self._error(
                Scripted("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "app id", 200)
            )
        number = _mobile(str(params.get("PhoneNumber", "")))
        begin = int(params.get("BeginTime") or 0)
        end = int(params.get("EndTime") or time.time() + 1)
        offset = int(params.get("Offset") or 0)
        limit = int(params.get("Limit") or 100)
        with self.lock:
            found = [
                r
                for r in self._all_reports
                if r["SubscriberNumber"] == number and begin <= r["_sent"] <= end + 1
            ]
        shown = found[offset : offset + limit]
        return self._ok({"PullSmsSendStatusSet": [self._public(r) for r in shown]})

    def _pull_replies(self, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if params.get("SmsSdkAppId") not in self.app_ids:
            return self._error(
                Scripted("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "app id", 200)
            )
        limit = int(params.get("Limit") or 100)
        with self.lock:
            taken, self._replies = self._replies[:limit], self._replies[limit:]
        return self._ok({"PullSmsReplyStatusSet": taken})


class WeChatServer(_HttpFake):
    """The WeChat Official Account API (token and template messages)."""

    def __init__(self) -> None:
        self.apps = {WECHAT_APP_ID: WECHAT_APP_SECRET}
        self.templates: set[str] | None = set(WECHAT_TEMPLATES.values())
        self.unsubscribed: set[str] = set()
        self._tokens: set[str] = set()
        self._seen: dict[tuple[str, str], int] = {}
        self._ids = itertools.count(200228332)
        self.token_requests = 0
        super().__init__()

    def environ(self, **extra: str) -> dict[str, str]:
        return {
            "BAYLIGHT_WECHAT_APP_ID": WECHAT_APP_ID,
            "BAYLIGHT_WECHAT_APP_SECRET": WECHAT_APP_SECRET,
            "BAYLIGHT_WECHAT_TEMPLATES": json.dumps(WECHAT_TEMPLATES),
            "BAYLIGHT_WECHAT_API_BASE": f"{self.url}/cgi-bin/",
            "BAYLIGHT_NOTIFY_TIMEOUT": TEST_TIMEOUT,
            **extra,
        }

    def expire_tokens(self) -> None:
        with self.lock:
            self._tokens.clear()

    def handle(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.requests.append((parts.path, self.mode))
        if parts.path == "/cgi-bin/token" and method == "GET":
            return self._token(query)
        if parts.path == "/cgi-bin/message/template/send" and method == "POST":
            return self._template(query, body)
        return _json(404, {"errcode": 404, "errmsg": "not found"})

    @staticmethod
    def _err(code: int, message: str) -> tuple[int, dict[str, str], bytes]:
        return _json(200, {"errcode": code, "errmsg": f"{message} rid: {uuid.uuid4().hex[:8]}"})

    def _token(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.token_requests += 1
        if query.get("grant_type") != "client_credential":
            return self._err(40002, "invalid grant_type")
        secret = self.apps.get(query.get("appid", ""))
        if secret is None:
            return self._err(40013, "invalid appid")
        if not hmac.compare_digest(secret, query.get("secret", "")):
            return self._err(40125, "invalid appsecret")
        token = uuid.uuid4().hex
        with self.lock:
            self._tokens.add(token)
        return _json(200, {"access_token": token, "expires_in": 7200})

    def _template(self, query: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            valid = query.get("access_token") in self._tokens
        if not valid:
            return self._err(40001, "invalid credential, access_token is invalid or not latest")
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return self._err(47001, "data format error")
        scripted = self.next_scripted()
        if scripted is not None:
            return self._err(int(scripted.code), scripted.message)
        openid = str(data.get("touser") or "")
        template_id = str(data.get("template_id") or "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{6,64}", openid):
            return self._err(40003, "invalid openid")
        if self.templates is not None and template_id not in self.templates:
            return self._err(40037, "invalid template_id")
        if openid in self.unsubscribed:
            return self._err(43004, "require subscribe")
        client_msg_id = str(data.get("client_msg_id") or "")
        with self.lock:
            earlier = self._seen.get((openid, client_msg_id)) if client_msg_id else None
        if earlier is not None:
            return _json(200, {"errcode": 0, "errmsg": "ok", "msgid": earlier})
        msgid = next(self._ids)
        with self.lock:
            if client_msg_id:
                self._seen[(openid, client_msg_id)] = msgid
        self.record(
            WeChatReceived(
                openid=openid,
                template_id=template_id,
                data=dict(data.get("data") or {}),
                url=str(data.get("url") or ""),
                client_msg_id=client_msg_id,
                msgid=msgid,
            )
        )
        return _json(200, {"errcode": 0, "errmsg": "ok", "msgid": msgid})


class _MailHandler:
    """aiosmtpd handler: records what DATA completes, answers scripted replies."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def _scripted(self, stage: str) -> str | None:
        return self.server.next_reply(stage)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.server.user is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        reply = await self._scripted("mail")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = await self._scripted("rcpt")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await self._scripted("data")
        if reply:
            return reply
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        self.server.record(
            MailReceived(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message_id=str(message.get("Message-ID", "")),
                subject=str(message.get("Subject", "")),
                text=body.get_content() if body is not None else "",
                message=message,
                tls=session.ssl is not None
                or (
                    server.transport is not None
                    and server.transport.get_extra_info("ssl_object") is not None
                ),
            )
        )
        if self.server.mode == "drop_reply":
            await asyncio.get_running_loop().run_in_executor(None, self.server.holds.wait)
            if server.transport is not None:
                server.transport.close()
            return "421 reply dropped"
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 with the same modes."""

    def __init__(
        self, user: str | None = None, password: str | None = None, tls: str | None = None
    ) -> None:
        """``tls``: None (plain), "starttls" (offered) or "implicit" (smtps);
        the certificate is self-signed for 127.0.0.1, in ``cert_file`` (trust
        it with SSL_CERT_FILE)."""
        self.mode = "ok"
        self.user = user
        self.password = password
        self.tls = tls
        self.cert_file = ""
        self._tls_context: ssl.SSLContext | None = None
        if tls is not None:
            self.cert_file, key_file = self_signed_certificate()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_file, key_file)
            self._tls_context = context
        self.holds = _Holds()
        self.lock = threading.Lock()
        self._received: list[MailReceived] = []
        self._replies: list[tuple[str, str]] = []
        self.port = 0
        self._controller: Controller | None = None
        self._hang_socket: socket.socket | None = None
        self._start()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        good = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.user
            and data.password.decode() == self.password
        )
        return AuthResult(success=good, handled=False)

    def _start(self) -> None:
        if self.port == 0:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = int(probe.getsockname()[1])
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            # AUTH over plain text for the tests; MAIL without it is refused
            # by the handler (aiosmtpd's auth_required warns without TLS).
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if self.tls == "starttls":
            kwargs.update(tls_context=self._tls_context, require_starttls=False)
        elif self.tls == "implicit":
            kwargs.update(ssl_context=self._tls_context)
        controller = Controller(
            _MailHandler(self), hostname="127.0.0.1", port=self.port, ready_timeout=5, **kwargs
        )
        controller.start()
        self._controller = controller

    def _stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._hang_socket is not None:
            self._hang_socket.close()
            self._hang_socket = None

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.user is not None else ""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    @property
    def received(self) -> list[MailReceived]:
        with self.lock:
            return list(self._received)

    def record(self, item: MailReceived) -> None:
        with self.lock:
            self._received.append(item)

    def environ(self, **extra: str) -> dict[str, str]:
        return {
            "BAYLIGHT_SMTP_URL": self.url,
            "BAYLIGHT_MAIL_FROM": "Baylight Shop <shop@baylight.test>",
            "BAYLIGHT_NOTIFY_TIMEOUT": TEST_TIMEOUT,
            **extra,
        }

    def script(self, reply: str, stage: str = "rcpt") -> None:
        if stage not in ("mail", "rcpt", "data"):
            raise ValueError(stage)
        with self.lock:
            self._replies.append((stage, reply))

    def next_reply(self, stage: str) -> str | None:
        with self.lock:
            for index, (where, reply) in enumerate(self._replies):
                if where == stage:
                    del self._replies[index]
                    return reply
        return None

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        if mode in ("refuse", "hang"):
            self._stop()
            if mode == "hang":
                # Listening but never accepting: connections complete in the
                # kernel's backlog and the greeting never comes.
                hang = socket.socket()
                hang.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                hang.bind(("127.0.0.1", self.port))
                hang.listen(16)
                self._hang_socket = hang
        elif self._controller is None:
            self._stop()
            self._start()
        if mode != "drop_reply":
            self.holds.release()
        self.mode = mode

    def close(self) -> None:
        self.holds.release()
        self._stop()

    def __enter__(self) -> SmtpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def self_signed_certificate() -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by itself, and its key: (cert
    file, key file) in a new temporary directory."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="baylight-smtp-tls-"))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@contextlib.contextmanager
def _running(server: Any) -> Iterator[Any]:
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def aliyun_sms_server() -> Iterator[AliyunSmsServer]:
    with _running(AliyunSmsServer()) as server:
        yield server


@pytest.fixture
def tencent_sms_server() -> Iterator[TencentSmsServer]:
    with _running(TencentSmsServer()) as server:
        yield server


@pytest.fixture
def wechat_server() -> Iterator[WeChatServer]:
    with _running(WeChatServer()) as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with _running(SmtpServer()) as server:
        yield server


@pytest.fixture
def smtp_server_starttls() -> Iterator[SmtpServer]:
    with _running(SmtpServer(SMTP_USER, SMTP_PASSWORD, tls="starttls")) as server:
        yield server


@pytest.fixture
def smtps_server() -> Iterator[SmtpServer]:
    with _running(SmtpServer(SMTP_USER, SMTP_PASSWORD, tls="implicit")) as server:
        yield server


@pytest.fixture
def smtp_server_with_auth() -> Iterator[SmtpServer]:
    with _running(SmtpServer(SMTP_USER, SMTP_PASSWORD)) as server:
        yield server


def yesterday_in_china() -> str:
    """SendDate of yesterday on the providers' (China's) clock, yyyyMMdd."""
    return (datetime.now(CHINA) - timedelta(days=1)).strftime("%Y%m%d")
