"""The shop's notification settings as the shop profile holds them (issue 17):
which messages are loud, the quiet hours and the daily cap (``notify``), and
the providers' settings (``notify_providers``).

``Shop.settings["notify_providers"]`` is what the channel registry reads
when the environment gives no credentials::

    {"sms": {"provider": "aliyun" | "tencent", "sign_name": "…",
             "templates": {kind: template code},
             "access_key_id", "access_key_secret",     # Alibaba Cloud
             "secret_id", "secret_key", "app_id",      # Tencent Cloud (SmsSdkAppId)
             "region"},                                # Tencent Cloud (ap-guangzhou)
     "wechat": {"app_id": "wx…", "app_secret": "…", "templates": {kind: template id}},
     "email": {"smtp_url": "smtps://user:password@host:465", "mail_from": "…"}}

Credentials are write-only: an admin sets or replaces one, or removes it with
an empty value, but nobody reads it back. The profile shows each as
``{"set": true|false}`` (``providers_view``), and the audit log records that
it changed, never the value (``changed_credentials``). An SMTP URL carries
its password, so the whole URL is a credential.

The functions here are pure (settings in, values out)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _

from shared.domain import errors, notification_texts
from shared.domain import notifications as rules
from shared.domain.text import check_text

NOTIFY = "notify"
NOTIFY_PROVIDERS = "notify_providers"

SMS_PROVIDERS = ("aliyun", "tencent")
# Per channel: the fields shown as they are, and the write-only credentials.
PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    rules.SMS: ("provider", "sign_name", "app_id", "region"),
    rules.WECHAT: ("app_id",),
    rules.EMAIL: ("mail_from",),
}
CREDENTIALS: dict[str, tuple[str, ...]] = {
    rules.SMS: ("access_key_id", "access_key_secret", "secret_id", "secret_key"),
    rules.WECHAT: ("app_secret",),
    rules.EMAIL: ("smtp_url",),
}
# Channels whose messages go through templates the provider approved.
TEMPLATED = (rules.SMS, rules.WECHAT)
TEXT_MAX = 100
CREDENTIAL_MAX = 200
SMTP_URL_MAX = 500
TEMPLATE_CODE_MAX = 128
# What the e-mail channel takes (shared/notify/email.py): STARTTLS when the
# server offers it, STARTTLS required, or TLS from the start.
SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")
# A key, secret or id: printable ASCII without spaces (what the consoles issue).
_TOKEN = re.compile(r"^[\x21-\x7e]+$")
_TEMPLATE_CODE = re.compile(r"^[A-Za-z0-9_\-]+$")
_MAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


# ------------------------------------------------------------------ reading


def notify_view(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ``notify`` settings as the profile shows them, defaults filled in:
    each automatic kind loud (true) or silent, the quiet hours, the cap, the
    shop's own templates (``{}``: the standard texts)."""
    stored = settings.get(NOTIFY)
    stored = stored if isinstance(stored, Mapping) else {}
    read = rules.NotifySettings.from_settings({NOTIFY: stored})
    templates = stored.get("templates")
    return {
        "kinds": {kind: kind in read.loud for kind in rules.AUTOMATIC_KINDS},
        "quiet_hours": {
            "start": read.quiet_start.strftime("%H:%M"),
            "end": read.quiet_end.strftime("%H:%M"),
        },
        "max_per_order_per_day": read.max_per_order_per_day,
        "templates": dict(templates) if isinstance(templates, Mapping) else {},
    }


def _stored_providers(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    stored = settings.get(NOTIFY_PROVIDERS)
    if not isinstance(stored, Mapping):
        return {}
    return {
        channel: dict(stored[channel])
        for channel in rules.CHANNELS
        if isinstance(stored.get(channel), Mapping)
    }


def providers_view(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The providers' settings as the profile shows them: every channel,
    its public fields, its templates, and each credential only as set or
    not. Never a credential's value."""
    stored = _stored_providers(settings)
    view: dict[str, Any] = {}
    for channel in rules.CHANNELS:
        mine = stored.get(channel, {})
        entry: dict[str, Any] = {
            name: mine.get(name) if isinstance(mine.get(name), str) else ""
            for name in PUBLIC_FIELDS[channel]
        }
        if channel in TEMPLATED:
            templates = mine.get("templates")
            entry["templates"] = dict(templates) if isinstance(templates, Mapping) else {}
        for name in CREDENTIALS[channel]:
            entry[name] = {"set": bool(mine.get(name))}
        view[channel] = entry
    return view


def public_providers(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The providers' settings without their credentials at all: what the
    audit log compares (its records refuse any field named like a secret)."""
    view = providers_view(settings)
    return {
        channel: {k: v for k, v in entry.items() if k not in CREDENTIALS[channel]}
        for channel, entry in view.items()
    }


def changed_credentials(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The credentials set, replaced or removed between two settings, by
    name ("sms.access_key_secret"): what the audit log says of them."""
    old, new = _stored_providers(before), _stored_providers(after)
    return [
        f"{channel}.{name}"
        for channel in rules.CHANNELS
        for name in CREDENTIALS[channel]
        if old.get(channel, {}).get(name) != new.get(channel, {}).get(name)
    ]


# ------------------------------------------------------------------ checking


def merged_notify(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The ``notify`` settings with ``patch`` laid over them: each part sent
    (kinds, quiet hours, cap, templates) replaces the stored one; checked as
    a whole (``notifications.check_settings``; the templates by the texts'
    own rules), so a refusal changes nothing."""
    stored = current.get(NOTIFY)
    merged = dict(stored) if isinstance(stored, Mapping) else {}
    merged.update(patch)
    checked = rules.check_settings(merged)
    if "templates" in checked:
        checked["templates"] = _checked_templates(checked["templates"])
    return checked


def _checked_templates(raw: Any) -> dict[str, Any]:
    """The shop's own message texts, checked by the texts' rules (known
    kinds, languages and placeholders, length)."""
    return dict(notification_texts.check_templates(raw))


def merged_providers(
    current: Mapping[str, Any], patch: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, Any]:
    """The providers' settings with ``patch`` laid over them, per channel:
    null removes the channel's settings; a field sent replaces the stored
    one, an empty one removes it (a credential too); ``templates`` replaces
    the channel's templates as a whole. Raises ``ValidationFailed`` naming
    the field as the API does (``notify_providers.sms.sign_name``)."""
    prefix = f"{NOTIFY_PROVIDERS}."
    merged = _stored_providers(current)
    for channel, given in patch.items():
        where = f"{prefix}{channel}"
        if channel not in rules.CHANNELS:
            raise errors.ValidationFailed(
                where, errors.Message("%(field)s is not a field of this request.", field=where)
            )
        if given is None:
            merged.pop(channel, None)
            continue
        mine = merged.setdefault(channel, {})
        known = (*PUBLIC_FIELDS[channel], *CREDENTIALS[channel])
        for name, value in given.items():
            field = f"{where}.{name}"
            if name == "templates" and channel in TEMPLATED:
                mine["templates"] = _template_codes(field, value)
                continue
            if name not in known:
                raise errors.ValidationFailed(
                    field, errors.Message("%(field)s is not a field of this request.", field=field)
                )
            if value is None or value == "":
                mine.pop(name, None)
                continue
            if not isinstance(value, str):
                raise errors.ValidationFailed(
                    field, errors.Message("%(field)s must be a string.", field=field)
                )
            mine[name] = _checked_field(channel, name, field, value)
        if not mine.get("templates"):
            mine.pop("templates", None)
        if not mine:
            merged.pop(channel)
    sms = merged.get(rules.SMS)
    if sms is not None and sms.get("provider") not in SMS_PROVIDERS:
        raise errors.ValidationFailed(
            f"{prefix}sms.provider",
            _("Choose the SMS provider: Alibaba Cloud (aliyun) or Tencent Cloud (tencent)."),
        )
    return merged


def _checked_field(channel: str, name: str, field: str, value: str) -> str:
    if channel == rules.SMS and name == "provider":
        if value not in SMS_PROVIDERS:
            raise errors.ValidationFailed(
                field,
                _("Choose the SMS provider: Alibaba Cloud (aliyun) or Tencent Cloud (tencent)."),
            )
        return value
    if name == "sign_name":
        value = check_text(field, value).strip()
        if not value or len(value) > TEXT_MAX:
            raise errors.ValidationFailed(field, _("At most %(count)s characters.", count=TEXT_MAX))
        return value
    if name == "mail_from":
        return _mail_from(field, value)
    if name == "smtp_url":
        return _smtp_url(field, value)
    # A key, secret or id as the provider's console issued it.
    if len(value) > CREDENTIAL_MAX or not _TOKEN.match(value):
        raise errors.ValidationFailed(
            field,
            _(
                "Paste it as the provider's console shows it: at most %(count)s characters, "
                "no spaces.",
                count=CREDENTIAL_MAX,
            ),
        )
    return value


def _mail_from(field: str, value: str) -> str:
    """The sender's address, with or without a name ("Baylight 4S
    <service@example.com>"); never a line break (a header of its own)."""
    value = check_text(field, value).strip()
    _name, address = parseaddr(value)
    if len(value) > CREDENTIAL_MAX or not _MAIL.match(address):
        raise errors.ValidationFailed(
            field, _("Give the sender as an e-mail address, e.g. service@example.com.")
        )
    return value


def _smtp_url(field: str, value: str) -> str:
    """smtp://host:587 (STARTTLS when offered), smtp+starttls://host:587
    (STARTTLS required) or smtps://host:465, user and password in the URL."""
    refused = errors.ValidationFailed(
        field,
        _("Give the mail server as smtp://user:password@host:587 or smtps://…:465."),
    )
    if len(value) > SMTP_URL_MAX or not _TOKEN.match(value):
        raise refused
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise refused from None
    if parts.scheme not in SMTP_SCHEMES or not parts.hostname or port == 0:
        raise refused
    return value


def _template_codes(field: str, value: Any) -> dict[str, str]:
    """``{kind: code}``: the provider's approved template for each kind
    (empty: none, that kind is not sent on this channel)."""
    if not isinstance(value, Mapping):
        raise errors.ValidationFailed(field, _("Give each kind of message its template code."))
    codes: dict[str, str] = {}
    for kind, code in value.items():
        where = f"{field}.{kind}"
        if kind not in rules.KINDS:
            raise errors.ValidationFailed(where, _("No such kind of message."))
        if code is None or code == "":
            continue
        if (
            not isinstance(code, str)
            or len(code) > TEMPLATE_CODE_MAX
            or not _TEMPLATE_CODE.match(code)
        ):
            raise errors.ValidationFailed(
                where,
                _("A template code is letters, digits, _ and - (as the provider issued it)."),
            )
        codes[kind] = code
    return {kind: codes[kind] for kind in rules.KINDS if kind in codes}
