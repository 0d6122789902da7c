"""The foreman console in headless Chromium against a real ``baylight serve``:
a bay another car stands on is shown taken, naming the car, and is not
offered; a bay taken by someone else while the dialog was open is refused on
confirming, and the console says which car is on it; the order stays in the
queue."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from shared.services import setup
from tests.browser_support import PageProblems

pytestmark = pytest.mark.browser


def rest(server: Any, shop: Any, method: str, path: str, role: str, body: Any = None) -> Any:
    reply = requests.request(
        method, server.url + path, json=body, headers=shop.headers(role), timeout=10
    )
    assert reply.status_code < 300, reply.text
    return reply.json()


def test_a_taken_bay_is_refused_naming_the_car_on_it(
    live: tuple[Any, Any], page: Page, page_problems: PageProblems
) -> None:
    server, shop = live
    # The refused PUT is logged by Chromium as a failed resource load.
    page_problems.allow("409")
    setup.create_user(
        shop.core, shop.shop_id, role="foreman", name="赵主管", password="foreman-pass-1"
    )
    holder = rest(server, shop, "POST", "/api/v1/orders", "advisor", {"plate": "粤B77001"})
    holder = rest(
        server,
        shop,
        "PUT",
        f"/api/v1/orders/{holder['id']}/assignment",
        "foreman",
        {"bay": "B01", "technicians": [shop.technicians[0]], "version": holder["version"]},
    )
    late = rest(server, shop, "POST", "/api/v1/orders", "advisor", {"plate": "粤B77002"})

    page.goto(f"{server.url}/foreman?lang=en")
    page.locator('input[name="name"]').fill("赵主管")
    page.locator('input[name="password"]').fill("foreman-pass-1")
    page.locator('button[type="submit"]').click()
    queued = page.locator(f'#queue [data-order-id="{late["id"]}"]')
    expect(queued).to_be_visible()
    queued.locator(".assign").click()
    taken = page.locator('#assign-bays [data-bay="B01"]')
    expect(taken).to_contain_text(f"Taken: #{holder['number']} 粤B77001")
    expect(taken).to_be_disabled()
    page.locator('#assign-bays [data-bay="B02"]').click()
    page.locator(f'#assign-techs [data-technician-id="{shop.technicians[1]}"]').click()
    # Meanwhile another foreman puts a car on B02.
    other = rest(server, shop, "POST", "/api/v1/orders", "advisor", {"plate": "粤B77003"})
    other = rest(
        server,
        shop,
        "PUT",
        f"/api/v1/orders/{other['id']}/assignment",
        "foreman",
        {"bay": "B02", "technicians": [shop.technicians[0]], "version": other["version"]},
    )
    page.locator("#assign-ok").click()

    notice = page.locator("#notice")
    expect(notice).to_be_visible()
    expect(notice).to_have_text(f"Bay B02 is taken by #{other['number']} 粤B77003.")
    expect(queued).to_be_visible()
    expect(page.locator('#bays [data-bay="B02"] .plate')).to_have_text("粤B77003")
    current = rest(server, shop, "GET", f"/api/v1/orders/{late['id']}", "admin")
    assert (current["stage"], current["bay"]) == ("checked_in", None)
    # Nothing recorded for it but its opening and the engine's estimates.
    log = rest(server, shop, "GET", "/api/v1/events?after=0&limit=1000", "admin")["events"]
    recorded = {e["type"] for e in log if e["order_id"] == late["id"]}
    assert recorded <= {"order_created", "eta_revised"}, recorded
