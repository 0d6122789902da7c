"""The shop page's Notifications section (/admin/shop, issue 17), through the
real app and SQLite with a signed-in admin and the page's CSRF token.

The section shows each message kind loud or silent, the quiet hours, the
daily cap and each provider's settings; credentials are password fields
that are never filled in, with "set" / "not set" beside them. A save with
a credential field left empty keeps the credential; a ticked "Remove"
deletes it; the value is never in the page, in any of the three languages.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.domain import notifications as rules
from shared.persistence.models import Shop as ShopRow
from tests.board.test_admin_bays_shop import shop_form, sign_in
from tests.conftest import Shop

SECRET = "AliyunSecret-OnThePage-42"
KEY_ID = "LTAI5tPageKeyId"
SMTP = "smtps://desk%40example.com:Page-Mail-Pass@smtp.example.com:465"


def stored(shop: Shop) -> dict[str, Any]:
    with shop.core.db.read() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        return dict(row.settings or {})


def section(page: str) -> str:
    found = re.search(r'<section class="card" id="notifications">(.*?)</section>', page, re.S)
    assert found, "no Notifications section"
    return found.group(1)


def credential(page: str, name: str) -> str:
    found = re.search(rf'<div class="credential" data-credential="{name}">(.*?)</div>', page, re.S)
    assert found, name
    return found.group(1)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("zh_Hans", ("消息通知", "免打扰时段", "未设置")),
        ("zh_Hant", ("訊息通知", "勿擾時段", "未設定")),
        ("en", ("Notifications", "Quiet hours", "not set")),
    ],
)
def test_the_section_is_in_the_page_s_language(
    client: Any, shop: Shop, lang: str, words: tuple[str, ...]
) -> None:
    sign_in(client, shop, "admin")
    page = client.get(f"/admin/shop?lang={lang}").get_data(as_text=True)
    mine = section(page)
    for word in words:
        assert word in mine, (lang, word)


def test_the_admin_sets_the_notifications_and_the_secrets_stay_write_only(
    client: Any, shop: Shop
) -> None:
    sign_in(client, shop, "admin")
    page = client.get("/admin/shop?lang=en").get_data(as_text=True)
    form = shop_form(page)
    # Every automatic kind starts loud, 21:00–08:00, five a day.
    for kind in rules.AUTOMATIC_KINDS:
        assert form.get(f"notify_{kind}") == ["y"], kind
    assert (form["quiet_start"], form["quiet_end"], form["max_per_day"]) == ("21:00", "08:00", "5")
    assert 'type="password"' in credential(page, "sms.access_key_secret")
    assert "not set" in credential(page, "sms.access_key_secret")

    mine = {
        **form,
        "notify_survey": [],
        "quiet_start": "22:00",
        "quiet_end": "07:00",
        "max_per_day": "3",
        "sms_provider": "aliyun",
        "sms_sign_name": "湾光汽车",
        "sms_access_key_id": KEY_ID,
        "sms_access_key_secret": SECRET,
        "sms_template_ready_for_pickup": "SMS_465880001",
        "email_smtp_url": SMTP,
        "email_mail_from": "service@example.com",
    }
    saved = client.post("/admin/shop", data=mine)
    assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]
    settings = stored(shop)
    assert settings["notify"]["kinds"]["survey"] is False
    assert settings["notify"]["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert settings["notify"]["max_per_order_per_day"] == 3
    sms = settings["notify_providers"]["sms"]
    assert sms == {
        "provider": "aliyun",
        "sign_name": "湾光汽车",
        "access_key_id": KEY_ID,
        "access_key_secret": SECRET,
        "templates": {"ready_for_pickup": "SMS_465880001"},
    }
    assert settings["notify_providers"]["email"]["smtp_url"] == SMTP
    assert "wechat" not in settings["notify_providers"]

    for lang in ("zh_Hans", "zh_Hant", "en"):
        again = client.get(f"/admin/shop?lang={lang}").get_data(as_text=True)
        for secret in (SECRET, KEY_ID, SMTP, "Page-Mail-Pass"):
            assert secret not in again, (lang, secret)
    again = client.get("/admin/shop?lang=en").get_data(as_text=True)
    assert "set" in credential(again, "sms.access_key_secret")
    assert "not set" not in credential(again, "sms.access_key_secret")
    assert "not set" in credential(again, "wechat.app_secret")
    refilled = shop_form(again)
    assert refilled["sms_access_key_secret"] == "" and refilled["email_smtp_url"] == ""
    assert refilled["sms_template_ready_for_pickup"] == "SMS_465880001"
    assert "notify_survey" not in refilled

    # Saved again with the credential fields empty: the credentials stay.
    kept = client.post(
        "/admin/shop", data={**refilled, "sms_provider": "aliyun", "hotline": "400-1"}
    )
    assert kept.status_code == 303
    assert stored(shop)["notify_providers"]["sms"]["access_key_secret"] == SECRET
    assert stored(shop)["notify_providers"]["email"]["smtp_url"] == SMTP

    # "Remove" deletes one; a refused provider writes nothing.
    now = shop_form(client.get("/admin/shop?lang=en").get_data(as_text=True))
    removed = client.post(
        "/admin/shop",
        data={**now, "sms_provider": "aliyun", "clear_email_smtp_url": "y"},
    )
    assert removed.status_code == 303
    assert "smtp_url" not in stored(shop)["notify_providers"].get("email", {})
    before = stored(shop)
    now = shop_form(client.get("/admin/shop?lang=en").get_data(as_text=True))
    refused = client.post(
        "/admin/shop?lang=en",
        data={**now, "sms_provider": "aliyun", "sms_access_key_secret": "has a space"},
    )
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "SMS" in body and "has a space" not in body
    refused = client.post(
        "/admin/shop?lang=en", data={**now, "sms_provider": "aliyun", "max_per_day": "0"}
    )
    assert refused.status_code == 422
    assert "Messages per order per day" in refused.get_data(as_text=True)
    assert stored(shop) == before


def test_the_shop_s_own_message_texts_are_saved_and_checked(client: Any, shop: Shop) -> None:
    sign_in(client, shop, "admin")
    page = client.get("/admin/shop?lang=en").get_data(as_text=True)
    # Each kind offers a text per language, the standard one as its placeholder.
    found = re.search(r'<textarea[^>]*name="text_ready_for_pickup_zh_Hans"[^>]*>', page)
    assert found and 'placeholder="{shop}：您的车辆已完工' in found.group(0)
    form = {**shop_form(page), "sms_provider": ""}
    mine = "{shop}: your car is ready. {link}"
    saved = client.post("/admin/shop", data={**form, "text_ready_for_pickup_en": mine})
    assert saved.status_code == 303, saved.get_data(as_text=True)[:1500]
    assert stored(shop)["notify"]["templates"] == {"ready_for_pickup": {"en": mine}}
    again = client.get("/admin/shop?lang=en").get_data(as_text=True)
    assert re.search(r'name="text_ready_for_pickup_en"[^>]*>\s*\{shop\}: your car is ready', again)

    before = stored(shop)
    form = {**shop_form(again), "sms_provider": ""}
    refused = client.post(
        "/admin/shop?lang=en",
        data={**form, "text_ready_for_pickup_en": mine, "text_survey_en": "Hi {name}!"},
    )
    assert refused.status_code == 422
    assert "Message texts" in refused.get_data(as_text=True)
    assert stored(shop) == before
