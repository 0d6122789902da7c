"""The words of a customer's messages (issue 17): three languages, only the
shop's name, hotline and link, the shop's own templates held to the same
placeholders, and times as the customer reads them."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import notifications as rules
from shared.domain.errors import ValidationFailed
from shared.domain.notification_texts import (
    DEFAULTS,
    LOCALES,
    PLACEHOLDERS,
    TEMPLATE_MAX,
    check_templates,
    format_when,
    render,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
VALUES = {
    "shop": "湖滨丰田4S店",
    "hotline": "0571-88886666",
    "link": "https://baylight.example/t/abcDEF123",
    "number": "12",
    "promised": "16:30",
    "reason": "配件晚到",
    "text": "您的车明早九点前可取。",
}


@pytest.mark.parametrize("kind", [k for k in rules.KINDS if k != rules.BOOKING_CODE])
def test_every_kind_renders_in_three_languages_with_the_shop_its_hotline_and_the_link(
    kind: str,
) -> None:
    texts = {locale: render(kind, locale, VALUES) for locale in LOCALES}
    for locale, rendered in texts.items():
        for needed in ("shop", "hotline", "link"):
            assert VALUES[needed] in rendered.text, (kind, locale, needed)
        assert "{" not in rendered.text and "}" not in rendered.text
        assert rendered.subject.startswith(VALUES["shop"])
        assert rendered.params["link"] == VALUES["link"]
        assert set(rendered.params) <= set(PLACEHOLDERS)
    assert len({r.text for r in texts.values()}) == 3, "three different languages"
    assert any("\u4e00" <= c <= "\u9fff" for c in texts["zh_Hans"].text)
    assert texts["en"].text.isascii() or VALUES["shop"] in texts["en"].text


def test_the_booking_code_names_the_shop_and_the_code_only() -> None:
    """A code texted to a phone that is no customer yet: the shop and the
    code, no link to follow and nothing else."""
    values = {**VALUES, "code": "482913"}
    for locale in LOCALES:
        rendered = render(rules.BOOKING_CODE, locale, values)
        assert values["shop"] in rendered.text and "482913" in rendered.text, locale
        assert values["link"] not in rendered.text and values["hotline"] not in rendered.text


def test_the_shops_words_for_the_promise_and_pickup() -> None:
    promise = render(rules.PROMISE_CHANGED, "zh_Hans", VALUES)
    assert "承诺交车" in promise.text and "16:30" in promise.text and "配件晚到" in promise.text
    assert "承諾交車" in render(rules.PROMISE_CHANGED, "zh_Hant", VALUES).text
    assert "取车" in render(rules.READY, "zh_Hans", VALUES).text
    assert "增项" in render(rules.QUOTE_WAITING, "zh_Hans", VALUES).text
    assert VALUES["text"] in render(rules.ONE_OFF, "en", VALUES).text
    # An empty reason leaves no stray space nor empty sentence behind.
    bare = render(rules.PROMISE_CHANGED, "zh_Hans", {**VALUES, "reason": ""})
    assert "。 " not in bare.text and "  " not in bare.text


def test_a_shop_template_is_used_and_its_params_are_what_it_names() -> None:
    templates = {"ready_for_pickup": {"en": "{shop}: ready! {link}"}}
    rendered = render(rules.READY, "en", VALUES, templates)
    assert rendered.text == f"{VALUES['shop']}: ready! {VALUES['link']}"
    assert rendered.params == {"shop": VALUES["shop"], "link": VALUES["link"]}
    # Other languages keep the defaults.
    assert (
        render(rules.READY, "zh_Hans", VALUES, templates).text
        == render(rules.READY, "zh_Hans", VALUES).text
    )
    # Literal braces are written doubled.
    braces = render(rules.READY, "en", VALUES, {"ready_for_pickup": {"en": "{{ok}} {shop}"}})
    assert braces.text == "{ok} " + VALUES["shop"]


def test_a_stored_template_that_asks_for_more_falls_back_to_the_default() -> None:
    prying = {"ready_for_pickup": {"zh_Hans": "{name}您好，{phone} 车好了 {link}"}}
    rendered = render(rules.READY, "zh_Hans", VALUES, prying)
    assert rendered.text == render(rules.READY, "zh_Hans", VALUES).text


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ({"ready_for_pickup": {"en": "Hello {name}"}}, "placeholders"),
        ({"ready_for_pickup": {"en": "Hello {customer.name}"}}, "placeholders"),
        ({"ready_for_pickup": {"en": "Hello {shop!r}"}}, "placeholders"),
        ({"ready_for_pickup": {"en": "Hello {shop:>40}"}}, "placeholders"),
        ({"ready_for_pickup": {"en": "Hello {0}"}}, "placeholders"),
        ({"ready_for_pickup": {"en": "Hello {shop"}}, "brace"),
        ({"ready_for_pickup": {"en": "x" * (TEMPLATE_MAX + 1)}}, "at most"),
        ({"ready_for_pickup": {"en": "  "}}, "must be text"),
        ({"ready_for_pickup": {"en": 3}}, "must be text"),
        ({"ready_for_pickup": {"fr": "{shop}"}}, "language"),
        ({"car_washed": {"en": "{shop}"}}, "kind of message"),
        ({"ready_for_pickup": "{shop}"}, "maps a kind"),
        (["{shop}"], "maps a kind"),
        ({"ready_for_pickup": {"en": "ok\u202e{shop}"}}, ""),
    ],
)
def test_check_templates_refuses_with_the_field(raw: object, why: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_templates(raw)
    assert refused.value.field == "notify.templates"
    assert why in refused.value.detail


def test_check_templates_returns_the_stored_form() -> None:
    raw = {"survey": {"zh_Hans": "{shop}：请评分 {link}", "en": "{shop}: rate us {link}"}}
    assert check_templates(raw) == raw
    assert check_templates(None) == {}
    assert check_templates({"survey": {}}) == {}
    assert check_templates({"one_off": {"zh_Hant": "{shop}：{text}"}})


def test_unknown_kind_or_language_is_refused_at_render() -> None:
    with pytest.raises(ValidationFailed) as kind:
        render("car_washed", "en", VALUES)
    assert kind.value.field == "kind"
    with pytest.raises(ValidationFailed) as locale:
        render(rules.READY, "fr", VALUES)
    assert locale.value.field == "language"


# ------------------------------------------------------------ the property

# The customer's name and phone are drawn from characters nothing else may
# hold (no literal, no shop name, no digit in a literal), so wherever one
# shows up in a text it came from the customer's data, not by chance.
_NAME_CHARACTERS = "张王李赵陈刘先生女士"
_LITERAL = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Nd"),
        blacklist_characters="{}\u202a\u202b\u202c\u202d\u202e" + _NAME_CHARACTERS,
    ),
    max_size=30,
)
_PIECES = st.lists(
    st.one_of(_LITERAL, st.sampled_from([f"{{{p}}}" for p in PLACEHOLDERS])), max_size=12
)
_NAMES = st.text(alphabet=_NAME_CHARACTERS, min_size=2, max_size=6)
_PHONES = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(rules.KINDS),
    locale=st.sampled_from(LOCALES),
    pieces=_PIECES,
    name=_NAMES,
    phone=_PHONES,
    shop=st.text(alphabet=string.ascii_letters + "店汽车服务 ", min_size=1, max_size=20),
)
def test_no_text_holds_the_customers_name_or_phone_unless_the_template_writes_it(
    kind: str, locale: str, pieces: list[str], name: str, phone: str, shop: str
) -> None:
    template = "".join(pieces)
    values = {
        **VALUES,
        "shop": shop,
        # Whatever a caller passes besides the placeholders is ignored.
        "name": name,
        "phone": phone,
        "customer_name": name,
        "customer_phone": phone,
    }
    # Only the shop's facts are in the values the placeholders take.
    if any(name in v or phone in v for k, v in values.items() if k in PLACEHOLDERS):
        return
    for templates in (None, {kind: {locale: template}}, {kind: {locale: template + "{name}"}}):
        rendered = render(kind, locale, values, templates)
        written = template if templates and template.strip() else ""
        for secret in (name, phone):
            if secret not in written:
                assert secret not in rendered.text
                assert secret not in rendered.subject
                assert all(secret not in v for v in rendered.params.values())
    # A template that writes the name literally says it: the shop asked for it.
    literal = render(kind, locale, values, {kind: {locale: f"{name} {{link}}"}})
    assert name in literal.text


# ------------------------------------------------------------ times


NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai


@pytest.mark.parametrize(
    ("moment", "locale", "expected"),
    [
        (datetime(2026, 11, 29, 8, 30, tzinfo=UTC), "zh_Hans", "16:30"),
        (datetime(2026, 11, 29, 8, 30, tzinfo=UTC), "en", "16:30"),
        (datetime(2026, 11, 30, 1, 0, tzinfo=UTC), "zh_Hans", "明天 09:00"),
        (datetime(2026, 11, 30, 1, 0, tzinfo=UTC), "en", "tomorrow 09:00"),
        (datetime(2026, 12, 2, 9, 15, tzinfo=UTC), "zh_Hant", "12月2日 17:15"),
        (datetime(2026, 12, 2, 9, 15, tzinfo=UTC), "en", "2 Dec 17:15"),
        (datetime(2027, 1, 3, 2, 0, tzinfo=UTC), "zh_Hans", "2027年1月3日 10:00"),
        (datetime(2027, 1, 3, 2, 0, tzinfo=UTC), "en", "3 Jan 2027 10:00"),
        # 23:30 UTC is already tomorrow on the shop's clock.
        (datetime(2026, 11, 29, 23, 30, tzinfo=UTC), "en", "tomorrow 07:30"),
    ],
)
def test_format_when_is_on_the_shops_clock_with_the_date_when_not_today(
    moment: datetime, locale: str, expected: str
) -> None:
    assert format_when(moment, SHANGHAI, locale, NOW) == expected


def test_every_default_is_within_the_limit_and_names_only_placeholders() -> None:
    assert check_templates(DEFAULTS) == DEFAULTS
