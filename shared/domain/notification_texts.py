"""The words of a customer's messages, in the customer's language (issue 17).

Pure (no database, no clock, no Flask): the sender renders a queued
message with ``render`` just before it goes out; the shop's administration
checks the shop's own templates with ``check_templates``.

Privacy stance (docs/NOTIFICATIONS.md): a message names the shop, its
hotline and the tracking link, and nothing else about the customer. A
template may use only the placeholders in ``PLACEHOLDERS``: the customer's
name, phone, plate or VIN have no placeholder, so no template can ask for
them; a shop that wants a customer's name in a text must write it literally
(and then it is the same text for every customer, so it is not theirs).
The link is a capability URL to the order's page, which shows no more than
the customer may see.

Text that does not fit (an unknown placeholder, kind or language, a text
longer than a provider accepts) is refused when the shop saves it; a stored
template that no longer passes (written before a rule changed) is not used:
the default text goes out instead, so a message is never sent with a
broken or prying placeholder.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain import errors
from shared.domain import notifications as rules
from shared.domain.errors import Message
from shared.domain.text import check_text

LOCALES = ("zh_Hans", "zh_Hant", "en")
# Everything a template may name. Nothing here identifies the customer.
PLACEHOLDERS = ("shop", "hotline", "link", "number", "promised", "reason", "text", "code")
# A template's length and a one-off's: long SMS are split by the carrier
# into 67-character parts; 500 characters is already eight of them.
TEMPLATE_MAX = 500
ONE_OFF_MAX = 500
FIELD = "notify.templates"

_SPACES = re.compile(r"[ \t]{2,}")
# A space after full-width punctuation is left over from an empty value.
_AFTER_CJK = re.compile(r"(?<=[。！？：，；]) +")
_FORMATTER = string.Formatter()

# The shop's words (承诺交车 for the promise, 取车 for pickup, 增项 for the
# additional work the customer is asked to approve).
DEFAULTS: dict[str, dict[str, str]] = {
    rules.RECEIVED: {
        "zh_Hans": "{shop}：您的车辆已到店接车，排队号 {number}。"
        "维修进度可随时查看：{link} 如有疑问请致电 {hotline}。",
        "zh_Hant": "{shop}：您的車輛已到店接車，排隊號 {number}。"
        "維修進度可隨時查看：{link} 如有疑問請致電 {hotline}。",
        "en": "{shop}: we have received your car, queue number {number}. "
        "Follow the work here: {link} Questions? Call {hotline}.",
    },
    rules.QUOTE_WAITING: {
        "zh_Hans": "{shop}：您的车辆有增项维修需要您确认，请查看报价并答复：{link} "
        "如有疑问请致电 {hotline}。",
        "zh_Hant": "{shop}：您的車輛有增項維修需要您確認，請查看報價並答覆：{link} "
        "如有疑問請致電 {hotline}。",
        "en": "{shop}: additional work on your car is waiting for your OK. "
        "See the quote and answer here: {link} Questions? Call {hotline}.",
    },
    rules.PROMISE_CHANGED: {
        "zh_Hans": "{shop}：您车辆的承诺交车时间已改为 {promised}。{reason} "
        "查看进度：{link} 如有疑问请致电 {hotline}。",
        "zh_Hant": "{shop}：您車輛的承諾交車時間已改為 {promised}。{reason} "
        "查看進度：{link} 如有疑問請致電 {hotline}。",
        "en": "{shop}: your car will now be ready at {promised}. {reason} "
        "Follow the work here: {link} Questions? Call {hotline}.",
    },
    rules.READY: {
        "zh_Hans": "{shop}：您的车辆已完工，可以取车了。详情：{link} 如有疑问请致电 {hotline}。",
        "zh_Hant": "{shop}：您的車輛已完工，可以取車了。詳情：{link} 如有疑問請致電 {hotline}。",
        "en": "{shop}: your car is ready for pickup. Details: {link} Questions? Call {hotline}.",
    },
    rules.SURVEY: {
        "zh_Hans": "{shop}：感谢您的光临！请花一分钟为本次服务评分：{link} "
        "如有意见请致电 {hotline}。",
        "zh_Hant": "{shop}：感謝您的光臨！請花一分鐘為本次服務評分：{link} "
        "如有意見請致電 {hotline}。",
        "en": "{shop}: thank you for your visit! Please rate our service, it takes a minute: "
        "{link} Anything to tell us? Call {hotline}.",
    },
    rules.ONE_OFF: {
        "zh_Hans": "{shop}：{text} 查看进度：{link} 如有疑问请致电 {hotline}。",
        "zh_Hant": "{shop}：{text} 查看進度：{link} 如有疑問請致電 {hotline}。",
        "en": "{shop}: {text} Follow the work here: {link} Questions? Call {hotline}.",
    },
    rules.REMINDER: {
        "zh_Hans": "{shop}：温馨提醒，您预约的到店时间是 {promised}。详情：{link} "
        "如需改期请致电 {hotline}。",
        "zh_Hant": "{shop}：溫馨提醒，您預約的到店時間是 {promised}。詳情：{link} "
        "如需改期請致電 {hotline}。",
        "en": "{shop}: a reminder of your appointment at {promised}. Details: {link} "
        "To change it, call {hotline}.",
    },
    # Names only the shop and the code: whoever holds the phone reads it.
    rules.BOOKING_CODE: {
        "zh_Hans": "{shop}：您的预约验证码是 {code}，10 分钟内有效，请勿告诉他人。",
        "zh_Hant": "{shop}：您的預約驗證碼是 {code}，10 分鐘內有效，請勿告訴他人。",
        "en": "{shop}: your booking code is {code}. It is valid for 10 minutes; do not share it.",
    },
}

# E-mail subjects (SMS and WeChat have none).
SUBJECTS: dict[str, dict[str, str]] = {
    rules.RECEIVED: {
        "zh_Hans": "{shop}：您的车辆已到店",
        "zh_Hant": "{shop}：您的車輛已到店",
        "en": "{shop}: we have received your car",
    },
    rules.QUOTE_WAITING: {
        "zh_Hans": "{shop}：增项维修等待您确认",
        "zh_Hant": "{shop}：增項維修等待您確認",
        "en": "{shop}: additional work waiting for your OK",
    },
    rules.PROMISE_CHANGED: {
        "zh_Hans": "{shop}：承诺交车时间已更改",
        "zh_Hant": "{shop}：承諾交車時間已更改",
        "en": "{shop}: a new time for your car",
    },
    rules.READY: {
        "zh_Hans": "{shop}：您的车辆可以取车了",
        "zh_Hant": "{shop}：您的車輛可以取車了",
        "en": "{shop}: your car is ready for pickup",
    },
    rules.SURVEY: {
        "zh_Hans": "{shop}：请为本次服务评分",
        "zh_Hant": "{shop}：請為本次服務評分",
        "en": "{shop}: how did we do?",
    },
    rules.ONE_OFF: {
        "zh_Hans": "{shop}：关于您的车辆",
        "zh_Hant": "{shop}：關於您的車輛",
        "en": "{shop}: about your car",
    },
    rules.REMINDER: {
        "zh_Hans": "{shop}：预约提醒",
        "zh_Hant": "{shop}：預約提醒",
        "en": "{shop}: appointment reminder",
    },
    rules.BOOKING_CODE: {
        "zh_Hans": "{shop}：预约验证码",
        "zh_Hant": "{shop}：預約驗證碼",
        "en": "{shop}: your booking code",
    },
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TOMORROW = {"zh_Hans": "明天", "zh_Hant": "明天", "en": "tomorrow"}


@dataclass(frozen=True)
class Rendered:
    """A message ready to send: the e-mail subject, the text, and the values
    the template used (a provider's pre-approved template takes them as its
    parameters: SMS TemplateParam, WeChat template data)."""

    subject: str
    text: str
    params: dict[str, str] = field(default_factory=dict)


def _fields(template: str) -> list[str]:
    """The placeholders ``template`` names, in order; refuses what is not a
    plain ``{name}`` (attributes, indexes, format specs, conversions) or a
    name outside ``PLACEHOLDERS``, and unbalanced braces."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise errors.ValidationFailed(
            FIELD, Message("A message template has a brace without its pair.")
        ) from exc
    names: list[str] = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            raise errors.ValidationFailed(
                FIELD,
                Message(
                    "A message template may only use the placeholders %(allowed)s; "
                    "{%(name)s} is not one of them.",
                    allowed=" ".join("{" + p + "}" for p in PLACEHOLDERS),
                    name=name[:40],
                ),
            )
        names.append(name)
    return names


def _substitute(template: str, values: Mapping[str, str]) -> str:
    parts: list[str] = []
    for literal, name, _spec, _conversion in _FORMATTER.parse(template):
        parts.append(literal)
        if name is not None:
            parts.append(values.get(name, ""))
    lines = "".join(parts).split("\n")
    text = "\n".join(_AFTER_CJK.sub("", _SPACES.sub(" ", line)).strip() for line in lines)
    return text.strip()


def _check_one(kind: str, locale: str, text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise errors.ValidationFailed(
            FIELD,
            Message("The %(kind)s template in %(locale)s must be text.", kind=kind, locale=locale),
        )
    if len(text) > TEMPLATE_MAX:
        raise errors.ValidationFailed(
            FIELD,
            Message("A message template may be at most %(max)s characters long.", max=TEMPLATE_MAX),
        )
    check_text(FIELD, text, multiline=True)
    _fields(text)
    return text


def check_templates(raw: Any) -> dict[str, dict[str, str]]:
    """A shop's templates as the admin sends them ({kind: {locale: text}}),
    checked; the stored form. Refuses unknown kinds and languages, other
    placeholders than ``PLACEHOLDERS``, empty and over-long texts."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise errors.ValidationFailed(
            FIELD,
            Message("%(field)s maps a kind of message to its texts per language.", field=FIELD),
        )
    out: dict[str, dict[str, str]] = {}
    for kind, texts in raw.items():
        if kind not in rules.KINDS:
            raise errors.ValidationFailed(
                FIELD,
                Message("%(kind)s is not a kind of message.", kind=str(kind)[:40]),
            )
        if not isinstance(texts, Mapping):
            raise errors.ValidationFailed(
                FIELD,
                Message("%(field)s maps a kind of message to its texts per language.", field=FIELD),
            )
        checked: dict[str, str] = {}
        for locale, text in texts.items():
            if locale not in LOCALES:
                raise errors.ValidationFailed(
                    FIELD,
                    Message(
                        "A message template's language must be Simplified Chinese, "
                        "Traditional Chinese or English, not %(locale)s.",
                        locale=str(locale)[:40],
                    ),
                )
            checked[locale] = _check_one(kind, locale, text)
        if checked:
            out[kind] = checked
    return out


def _shop_template(kind: str, locale: str, templates: Mapping[str, Any] | None) -> str | None:
    """The shop's own text for ``kind`` in ``locale`` when it still passes
    the rules; None (the default is used) otherwise."""
    if not templates or not isinstance(templates, Mapping):
        return None
    texts = templates.get(kind)
    if not isinstance(texts, Mapping):
        return None
    text = texts.get(locale)
    if text is None:
        return None
    try:
        return _check_one(kind, locale, text)
    except errors.ValidationFailed:
        return None


def render(
    kind: str,
    locale: str,
    values: Mapping[str, str],
    templates: Mapping[str, Any] | None = None,
) -> Rendered:
    """The message of ``kind`` in ``locale``: the shop's template when it has
    a valid one, else the default. Only the ``PLACEHOLDERS`` are taken from
    ``values`` (anything else in it is ignored); a missing value is empty."""
    if kind not in rules.KINDS:
        raise errors.ValidationFailed(
            "kind", Message("%(kind)s is not a kind of message.", kind=kind)
        )
    if locale not in LOCALES:
        raise errors.ValidationFailed(
            "language",
            Message(
                "A message template's language must be Simplified Chinese, "
                "Traditional Chinese or English, not %(locale)s.",
                locale=locale[:40],
            ),
        )
    template = _shop_template(kind, locale, templates) or DEFAULTS[kind][locale]
    clean = {name: str(values.get(name, "") or "") for name in PLACEHOLDERS}
    used = _fields(template)
    text = _substitute(template, clean)
    subject = _substitute(SUBJECTS[kind][locale], clean)
    params = {name: clean[name] for name in used}
    return Rendered(subject=subject, text=text, params=params)


def format_when(moment: datetime, zone: ZoneInfo, locale: str, now: datetime) -> str:
    """``moment`` as the customer reads it, on the shop's clock: the time of
    day alone when it is today there, "明天 16:30" / "tomorrow 16:30", else
    with its date (and its year when not this year's)."""
    local = moment.astimezone(zone)
    today = now.astimezone(zone).date()
    clock = local.strftime("%H:%M")
    day = local.date()
    if day == today:
        return clock
    if day == today + timedelta(days=1):
        return f"{_TOMORROW.get(locale, _TOMORROW['en'])} {clock}"
    if locale in ("zh_Hans", "zh_Hant"):
        date = f"{day.month}月{day.day}日"
        if day.year != today.year:
            date = f"{day.year}年{date}"
        return f"{date} {clock}"
    date = f"{day.day} {_MONTHS[day.month - 1]}"
    if day.year != today.year:
        date = f"{date} {day.year}"
    return f"{date} {clock}"
