"""The desk in a browser, as the desk's browser tests open it: an advisor
signed in at /login, landing on /desk, with the page's console watched."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser_support import PageProblems


def open_desk(
    browser: Browser,
    contexts: list[BrowserContext],
    problems: PageProblems,
    server: Any,
    *,
    size: tuple[int, int],
    locale: str,
    name: str,
    password: str,
) -> Page:
    """A new browser (its clock in UTC, the shop's in Asia/Shanghai) signed
    in as ``name`` and showing /desk."""
    width, height = size
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale=locale, timezone_id="UTC"
    )
    contexts.append(context)
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.goto(f"{server.url}/login?next=/desk")
    page.get_by_label(re.compile("^(姓名|Your name)$")).fill(name)
    page.get_by_label(re.compile("^(密码|Password)$")).fill(password)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/desk")
    return page


def fill(template: str, **values: object) -> str:
    """A page string's ``{name}`` placeholders filled, as the desk's script fills them."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template
