"""Comebacks at the reception desk (issue 16), in headless Chromium against
a real ``baylight serve``: office PCs with their clock in UTC, the shop in
Asia/Shanghai.

A car back with an earlier visit of its plate delivered inside the shop's
comeback days shows that visit under its plate ("上次来店 …（#n）· 标记为
返修"); the advisor marks it a comeback (which visit, the fault) and the row
wears the mark, at this desk and, live, at another desk in English; the
mark is withdrawn there with its reason and the visit is offered again.
A car without history shows nothing. Screenshots
docs/screenshots/desk-comeback-{zh_Hans,en}.png (BAYLIGHT_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from shared.services import setup
from shared.services.auth import create_api_token
from tests.browser_support import PageProblems, fits_the_width, page_strings

from . import desk_pages
from .desk_pages import fill
from .flow import Workshop, http_call

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]
Live = tuple[Any, Any]
ADVISOR = "吴顾问"
PASSWORD = "desk-password-2"
LANGUAGES = {"zh_Hans": "zh-CN", "en": "en-US"}
SIZES = {"zh_Hans": (1366, 768), "en": (1280, 800)}


def with_advisor(shop: Any, url: str) -> Workshop:
    user_id = setup.create_user(
        shop.core, shop.shop_id, role="advisor", name=ADVISOR, password=PASSWORD
    )
    shop.tokens["desk"] = create_api_token(
        shop.core, shop_id=shop.shop_id, role="advisor", name=ADVISOR, user_id=user_id
    )
    return Workshop(http_call(url), shop)


def open_desk(
    browser: Browser,
    contexts: list[BrowserContext],
    problems: PageProblems,
    server: Any,
    lang: str,
) -> Page:
    return desk_pages.open_desk(
        browser,
        contexts,
        problems,
        server,
        size=SIZES[lang],
        locale=LANGUAGES[lang],
        name=ADVISOR,
        password=PASSWORD,
    )


def day_of(words: dict[str, Any], business_day: str) -> str:
    """The queue number's day as the desk writes it (11月2日, 11/2)."""
    _year, month, day = business_day.split("-")
    return fill(words["day_mark"], month=int(month), day=int(day))


def row_of(page: Page, order: dict[str, Any]) -> Any:
    return page.locator(f'#orders tbody.order[data-order-id="{order["id"]}"]')


def test_the_advisor_marks_a_comeback_and_another_desk_sees_it(
    live: Live,
    browser: Browser,
    contexts: list[BrowserContext],
    screenshots: Path,
) -> None:
    server, shop = live
    workshop = with_advisor(shop, server.url)
    first = workshop.hand_over(workshop.finish(workshop.start(workshop.create(plate="粤B31313"))))
    back = workshop.create(role="desk", plate="粤B31313", complaint="刹车异响")
    stranger = workshop.create(role="desk", plate="粤B42424")
    problems_en, problems_zh = PageProblems(), PageProblems()

    # An English desk is open first, and stays open through the change.
    other = open_desk(browser, contexts, problems_en, server, "en")
    words_en = page_strings(other)
    last_en = fill(
        words_en["comeback_last_visit"],
        day=day_of(words_en, first["business_day"]),
        number=first["number"],
    )
    expect(row_of(other, back).locator(".comeback-hint")).to_contain_text(last_en)

    page = open_desk(browser, contexts, problems_zh, server, "zh_Hans")
    words = page_strings(page)
    row = row_of(page, back)
    day = day_of(words, first["business_day"])
    hint = row.locator(".comeback-hint")
    expect(hint).to_have_text(
        fill(words["comeback_last_visit"], day=day, number=first["number"])
        + " · "
        + words["comeback_flag"]
    )
    assert "上次来店" in hint.inner_text() and "标记为返修" in hint.inner_text()
    expect(row_of(page, stranger).locator(".comeback-hint, .comeback-mark")).to_have_count(0)

    # The form: which visit (the one delivered), the fault, required.
    hint.get_by_role("button", name=words["comeback_flag"]).click()
    form = row.locator("form.comeback-form")
    expect(form).to_be_visible()
    expect(form.locator("select.comeback-of option")).to_have_count(1)
    expect(form.locator("select.comeback-of")).to_have_value(str(first["id"]))
    expect(form.locator("textarea.comeback-note")).to_be_focused()
    form.get_by_role("button", name=words["comeback_save"]).click()
    # The fault is required: the browser holds the form back, nothing is sent.
    expect(form.locator("textarea.comeback-note:invalid")).to_have_count(1)
    assert not [e for e in workshop.get(back["id"])["history"] if e["type"] == "comeback_flagged"]
    form.locator("textarea.comeback-note").fill("刹车异响，与上次相同")
    assert fits_the_width(page)
    page.screenshot(path=str(screenshots / "desk-comeback-form-zh_Hans.png"), full_page=False)
    form.get_by_role("button", name=words["comeback_save"]).click()

    mark_text = fill(words["comeback_mark"], day=day, number=first["number"])
    expect(row.locator(".comeback-mark")).to_have_text("↺" + mark_text)
    expect(row.locator(".comeback-hint")).to_have_count(0)
    expect(row.locator("form.comeback-form")).to_have_count(0)
    expect(row.locator(".comeback-text")).to_have_text(
        fill(
            words["comeback_mark_detail"],
            day=day,
            number=first["number"],
            days=0,
            note="刹车异响，与上次相同",
        )
    )
    expect(row.locator(".order-message")).to_have_text(words["comeback_saved"])
    recorded = [e for e in workshop.get(back["id"])["history"] if e["type"] == "comeback_flagged"]
    assert [e["data"] for e in recorded] == [
        {
            "of_order_id": first["id"],
            "of_number": first["number"],
            "days": 0,
            "note": "刹车异响，与上次相同",
        }
    ]
    assert recorded[0]["actor"] == ADVISOR
    page.screenshot(path=str(screenshots / "desk-comeback-zh_Hans.png"), full_page=False)

    # The English desk hears of it live (the order's message), no reload.
    other_row = row_of(other, back)
    mark_en = fill(
        words_en["comeback_mark"],
        day=day_of(words_en, first["business_day"]),
        number=first["number"],
    )
    expect(other_row.locator(".comeback-mark")).to_have_text("↺" + mark_en)
    assert fits_the_width(other)
    other_row.locator(".toggle-details").click()
    other_row.get_by_role("button", name=words_en["comeback_withdraw"]).click()
    withdraw = other_row.locator("form.comeback-withdraw-form")
    withdraw.locator("input.comeback-reason").fill("Wrong car picked")
    other.screenshot(path=str(screenshots / "desk-comeback-en.png"), full_page=False)
    withdraw.get_by_role("button", name=words_en["comeback_withdraw_save"]).click()
    expect(other_row.locator(".comeback-mark")).to_have_count(0)
    expect(other_row.locator(".comeback-hint")).to_contain_text(last_en)
    expect(other_row.locator(".order-message")).to_have_text(words_en["comeback_withdrawn"])
    # And back at the first desk, live: the visit is offered again.
    expect(row.locator(".comeback-mark")).to_have_count(0)
    expect(row.locator(".comeback-hint")).to_be_visible()
    history = workshop.get(back["id"])["history"]
    assert [e["type"] for e in history if e["type"].startswith("comeback")] == [
        "comeback_flagged",
        "comeback_unflagged",
    ]
    for problems in (problems_en, problems_zh):
        assert problems.unexpected() == []
