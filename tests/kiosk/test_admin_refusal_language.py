"""A refusal on the office's HTML pages is said in the page's language
(issue 15: "every problem+json title/detail is translated to the request's
locale", and the pages that show a refusal's detail instead of answering
with JSON say it the same way): the staff page, the dealer group's page,
the bays and shop profile pages and the first run's set-up page render the
service's reason through ``problem_text.error_text``, in zh_Hans here.

Each page is driven through the real app and its SQLite database by a
browser that asks for Chinese (``Accept-Language: zh-CN``); where no form a
person can send reaches a sentence the domain wrote in English (the
services of the bays, shop and set-up pages translate their own), the
page's refusal function is given the real refusal of the domain's shop
calendar inside a Chinese request."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from kiosk import admin_shop
from kiosk import first_run as first_run_page
from shared.domain import errors
from shared.domain.shop_calendar import ShopCalendar
from shared.services import first_run, setup
from shared.services.core import Core
from tests.board.test_admin_bays_shop import csrf, sign_in
from tests.conftest import Shop
from tests.kiosk.test_group import browser_of, hidden_fields, member
from tests.test_first_run import page_form

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
# Latin words in a row: English left on a Chinese page's refusal.
ENGLISH = re.compile(r"[A-Za-z]{2,} [A-Za-z]{2,} [A-Za-z]{2,}")


def error_of(page: str) -> str:
    """The refusal the page shows (its ``role="alert"`` element)."""
    found = re.search(r'<[^>]*role="alert"[^>]*>(.*?)</', page, re.S)
    assert found, "no refusal on the page"
    return found.group(1).strip()


def _calendar_refusal() -> errors.ValidationFailed:
    """The shop calendar's own refusal (an English sentence of the domain),
    named as ``shop_settings.hours_settings`` names it for the forms."""
    try:
        ShopCalendar.from_settings(
            "Asia/Shanghai", {"breaks": [{"start": "13:00", "end": "12:00"}]}
        )
    except errors.ValidationFailed as refused:
        assert refused.detail == "A break cannot run across midnight."
        return errors.ValidationFailed(f"opening_hours.{refused.field}", refused.detail)
    raise AssertionError("the calendar took a break across midnight")


# ---------------------------------------------------------------- /admin/staff


def test_the_staff_page_says_which_rule_refused_in_chinese(
    app: Any, core: Core, shop: Shop
) -> None:
    """A shop's own admin may not change a dealer group member's account:
    the page says that rule (not a generic one about administrators)."""
    boss = member(core, shop, role="manager", name="集团经理")
    admin_id = setup.create_user(
        core, shop.shop_id, role="admin", name="店管理员", password="x" * 9
    )
    editor = browser_of(app, admin_id)
    page = editor.get(f"/admin/staff/{boss}", headers=CHINESE).get_data(as_text=True)
    refused = editor.post(
        f"/admin/staff/{boss}",
        data={**hidden_fields(page, "edit-form"), "name": "集团经理", "role": "manager"},
        headers=CHINESE,
    )
    answer = refused.get_data(as_text=True)
    assert refused.status_code == 403
    assert '<html lang="zh-Hans">' in answer
    assert error_of(answer) == "只有集团管理员可以更改集团成员的账户。"


# ---------------------------------------------------------------- /group


def test_the_group_page_says_a_refused_form_in_chinese(app: Any, core: Core, shop: Shop) -> None:
    """The same form's key sent again with another shop in it: refused, and
    the page says why in the reader's language."""
    admin = browser_of(app, member(core, shop))
    page = admin.get("/group", headers=CHINESE).get_data(as_text=True)
    fields = {**hidden_fields(page, "shop-form"), "name": "华南店", "slug": "south"}
    fields["timezone"] = "Asia/Shanghai"
    assert admin.post("/group/shops", data=fields, headers=CHINESE).status_code == 303
    refused = admin.post("/group/shops", data={**fields, "slug": "west"}, headers=CHINESE)
    answer = refused.get_data(as_text=True)
    assert refused.status_code == 422 and '<html lang="zh-Hans">' in answer
    said = error_of(answer)
    assert said == "此 Idempotency-Key 已用于另一个请求。"
    assert "used with a different request" not in answer


# ---------------------------------------------------------------- /admin/bays, /admin/shop


def test_the_bays_page_says_a_refusal_in_chinese(client: Any, shop: Shop) -> None:
    sign_in(client, shop, "admin")
    token = csrf(client.get("/admin/bays", headers=CHINESE).get_data(as_text=True))
    form = {"code": "B01", "name": "一号", "kind": "general", "capacity": "1", "csrf_token": token}
    refused = client.post("/admin/bays", data=form, headers=CHINESE)
    answer = refused.get_data(as_text=True)
    assert refused.status_code == 409 and '<html lang="zh-Hans">' in answer
    assert error_of(answer) == "工位代码：工位 B01 已存在。"


def test_the_shop_pages_say_a_domain_refusal_in_chinese(app: Flask) -> None:
    """The calendar's English sentence, given to the bays and shop pages'
    refusal, is said in Chinese after the page's name of the field."""
    refused = _calendar_refusal()
    with app.test_request_context(headers=CHINESE):
        said = admin_shop._refusal(refused, admin_shop._shop_fields())
    assert said == "休息时段：休息时间不能跨过午夜。"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        said = admin_shop._refusal(refused, admin_shop._shop_fields())
    assert said == "Breaks: A break cannot run across midnight."


# ---------------------------------------------------------------- /setup/<token>


def test_the_set_up_page_says_a_refusal_in_chinese(app: Any, core: Core) -> None:
    browser = app.test_client()
    path = f"/setup/{first_run.new_token(core)}"
    page = browser.get(path, headers=CHINESE).get_data(as_text=True)
    refused = browser.post(
        path, data=page_form(page, opens="09:00", closes="09:00"), headers=CHINESE
    )
    answer = refused.get_data(as_text=True)
    assert refused.status_code == 422 and '<html lang="zh-Hans">' in answer
    said = error_of(answer)
    assert said == "结束营业：结束营业时间不能与开始营业时间相同。"
    assert not ENGLISH.search(said)


def test_the_set_up_page_says_a_domain_refusal_in_chinese(app: Flask) -> None:
    refused = _calendar_refusal()
    with app.test_request_context(headers=CHINESE):
        field, said = first_run_page.refusal_message(refused)
    assert (field, said) == ("lunch_from", "午休开始：休息时间不能跨过午夜。")
