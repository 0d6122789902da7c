"""Accessibility of every page, checked by axe-core in Chromium.

axe-core (Deque's rules engine, vendored in tests/vendor/axe-core, MPL-2.0)
runs on each page as its user sees it, with live data in it, in Simplified
Chinese and in English. A page passes with no violation of impact "serious"
or "critical" (contrast, names of buttons and fields, landmarks that lie,
ARIA misuse); "moderate" and "minor" ones are listed in the failure message
of a failing page but do not fail it on their own.

CSP: the pages forbid inline scripts, so the test context bypasses CSP to
inject axe (``bypass_csp``); tests/board/test_csp.py holds the pages to
their policy without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from shared.services import group, setup
from tests.browser_support import approve_code, approved, install_clock, shown_code

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
FAILING = ("serious", "critical")
PASSWORD = "access-pass-1"
LOCALES = ("zh-CN", "en-US")
DESK = {"width": 1366, "height": 768}
TABLET = {"width": 1280, "height": 800}
TV = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
OFFICE_PAGES = (
    "/admin",
    "/admin/staff",
    "/admin/bays",
    "/admin/shop",
    "/admin/tokens",
    "/admin/audit",
    "/group",
    "/desk",
    "/foreman",
)


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it stands."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
            }));
        }"""
    )
    return found


def failing(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in found if v["impact"] in FAILING]


class Sweep:
    """Pages checked, and what axe found on each."""

    def __init__(self) -> None:
        self.found: dict[str, list[dict[str, Any]]] = {}

    def check(self, page: Page, name: str) -> None:
        self.found[name] = violations(page)

    def report(self) -> str:
        lines = []
        for name, found in self.found.items():
            for v in found:
                lines.append(f"{name}: [{v['impact']}] {v['id']}: {v['help']} at {v['nodes']}")
        return "\n".join(lines)

    def failures(self) -> dict[str, list[dict[str, Any]]]:
        return {name: failing(found) for name, found in self.found.items() if failing(found)}


@pytest.fixture
def open_context(browser: Browser) -> Iterator[Any]:
    opened: list[BrowserContext] = []

    def new(locale: str, viewport: dict[str, int], **more: Any) -> BrowserContext:
        context = browser.new_context(
            viewport=viewport, locale=locale, timezone_id="UTC", bypass_csp=True, **more
        )
        opened.append(context)
        return context

    yield new
    for context in opened:
        context.close()


def _order(server: Any, shop: Any, plate: str) -> dict[str, Any]:
    reply = requests.post(
        f"{server.url}/api/v1/orders",
        json={
            "plate": plate,
            "customer": {"name": "张先生", "phone": "13800138000"},
            "vehicle": {"model": "卡罗拉", "vin": "LVSHCAMB1CE012345", "mileage": 42000},
            "complaint": "刹车有异响",
            "items": [{"title": "更换前刹车片", "labour_hours": 1.5}],
            "promised_at": "2030-01-07T17:00:00+08:00",
        },
        headers=shop.headers("advisor"),
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


@pytest.mark.parametrize("locale", LOCALES)
def test_every_page_has_no_serious_or_critical_violations(
    live: tuple[Any, Any], open_context: Any, locale: str
) -> None:
    server, shop = live
    core = shop.core
    order = _order(server, shop, "粤B12345")
    assigned = requests.put(
        f"{server.url}/api/v1/orders/{order['id']}/assignment",
        json={"bay": "B01", "technicians": [shop.technicians[0]], "version": order["version"]},
        headers=shop.headers("foreman"),
        timeout=10,
    )
    assert assigned.status_code == 200, assigned.text
    name = f"无障碍管理员{locale}"
    user_id = setup.create_user(core, shop.shop_id, role="admin", name=name, password=PASSWORD)
    group.set_membership(core, None, user_id, member=True)
    sweep = Sweep()

    office = open_context(locale, DESK).new_page()
    office.goto(f"{server.url}/login?shop={shop.slug}&next=/admin")
    sweep.check(office, "/login")
    office.fill("input[name=name]", name)
    office.fill("input[name=password]", PASSWORD)
    office.click("button[type=submit]")
    office.wait_for_url(f"{server.url}/admin")
    # The office pages load at once, a tab each of the signed-in context
    # (their wait for a quiet network overlaps instead of adding up); each
    # is checked once its network is quiet, as before.
    tabs = {}
    for path in OFFICE_PAGES:
        tab = office.context.new_page()
        answer = tab.goto(f"{server.url}{path}", wait_until="commit")
        assert answer is not None and answer.status == 200, path
        tabs[path] = tab
    for path, tab in tabs.items():
        tab.wait_for_load_state("networkidle")
        sweep.check(tab, path)
        tab.close()
    office.goto(f"{server.url}/orders/{order['id']}/ticket")
    sweep.check(office, "/orders/<id>/ticket")

    for kind, path, viewport in (("board", "/board", TV), ("lounge", "/lounge", TV)):
        screen = open_context(locale, viewport).new_page()
        install_clock(screen)
        screen.goto(f"{server.url}{path}")
        sweep.check(screen, f"{path} (pairing)")
        approve_code(server, shown_code(screen), kind, f"{kind} {locale}", shop.slug)
        approved(screen)
        expect(screen.locator("#pairing")).to_be_hidden(timeout=15_000)
        screen.wait_for_timeout(300)
        sweep.check(screen, path)

    tablet = open_context(locale, TABLET, has_touch=True).new_page()
    install_clock(tablet)
    tablet.goto(f"{server.url}/kiosk")
    sweep.check(tablet, "/kiosk (pairing)")
    approve_code(server, shown_code(tablet), "kiosk", f"kiosk {locale}", shop.slug)
    approved(tablet)
    expect(tablet.locator("#login")).to_be_visible(timeout=15_000)
    sweep.check(tablet, "/kiosk (sign-in)")
    tablet.locator("#badge").tap()
    for key in "1001→1234":
        tablet.locator(f'#keypad [data-key="{key}"]').tap()
    tablet.locator("#login-button").tap()
    expect(tablet.locator(f'#jobs [data-order-id="{order["id"]}"]')).to_be_visible(timeout=10_000)
    sweep.check(tablet, "/kiosk (jobs)")

    phone = open_context(locale, PHONE, has_touch=True).new_page()
    phone.goto(order["customer_url"])
    phone.wait_for_load_state("networkidle")
    sweep.check(phone, "/t/<token>")
    phone.goto(f"{server.url}/t/{'x' * 43}")
    sweep.check(phone, "/t/<expired>")

    print(sweep.report())
    assert sweep.failures() == {}, sweep.report()
