"""A refusal on the kiosk is said in the kiosk's language (issue 15: a
Chinese kiosk showed "pause_reason is required."). A 10" tablet (1280×800,
touch, zh-CN, its clock in UTC while the shop is in Asia/Shanghai) against a
real ``baylight serve``: the technician signs in with badge and PIN, and a
pause without its reason goes out through the kiosk's own outbox to the
kiosk's own API, exactly as a tap does; the server refuses it and the
refusal on screen is the catalogue's Chinese sentence, not the English one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from babel.support import Translations
from playwright.sync_api import Browser, expect

from shared.services import devices
from tests.browser_support import approved, install_clock, shown_code
from tests.kiosk.test_kiosk_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]

ROOT = Path(__file__).resolve().parents[2]
TABLET = {"width": 1280, "height": 800}


def _started_order(server: Any, shop: Any) -> dict[str, Any]:
    """An order dispatched to 王师傅 (badge 1001) and started: Pause is offered."""

    def rest(method: str, path: str, role: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = requests.request(
            method, server.url + path, json=body, headers=shop.headers(role), timeout=10
        )
        assert reply.status_code < 300, reply.text
        return dict(reply.json())

    order = rest(
        "POST",
        "/api/v1/orders",
        "advisor",
        {"plate": "粤B15301", "items": [{"title": "更换刹车片", "labour_hours": 1.5}]},
    )
    order = rest(
        "PUT",
        f"/api/v1/orders/{order['id']}/assignment",
        "foreman",
        {"bay": "B01", "technicians": [shop.technicians[0]], "version": order["version"]},
    )
    return rest(
        "POST",
        f"/api/v1/orders/{order['id']}/transitions",
        "technician",
        {"to": "in_progress", "version": order["version"]},
    )


def test_a_pause_without_its_reason_is_refused_in_chinese_on_the_kiosk(
    live: tuple[Any, Any], browser: Browser, screenshots: Path
) -> None:
    server, shop = live
    order = _started_order(server, shop)
    context = browser.new_context(
        viewport=TABLET, has_touch=True, is_mobile=True, locale="zh-CN", timezone_id="UTC"
    )
    errors: list[str] = []
    try:
        kiosk = context.new_page()
        kiosk.on("pageerror", lambda error: errors.append(str(error)))
        install_clock(kiosk)
        kiosk.goto(f"{server.url}/kiosk")
        devices.approve_pairing(
            shop.core, shown_code(kiosk), kind="kiosk", name="三号工位平板", shop_id=shop.shop_id
        )
        approved(kiosk)
        expect(kiosk.locator("#login")).to_be_visible(timeout=15_000)
        assert kiosk.locator("html").get_attribute("lang") == "zh-Hans"
        sign_in(kiosk, "1001", "1234")
        job = kiosk.locator(f'#jobs [data-order-id="{order["id"]}"]')
        expect(job.locator(".act-pause")).to_be_visible(timeout=10_000)

        # The tap the pause dialog sends, without its pause_reason, through
        # the kiosk's outbox (which sends it to /kiosk/api/orders/<id>/pause).
        kiosk.evaluate(
            """([orderId, version]) => {
                const session = JSON.parse(localStorage.getItem("baylight.kiosk.session"));
                return Outbox.add({
                    path: "/kiosk/api/orders/" + orderId + "/pause",
                    body: { version: version },
                    token: session.token,
                    orderId: orderId,
                    label: "暂停",
                    delayMs: 0,
                });
            }""",
            [order["id"], order["version"]],
        )
        refusal = kiosk.locator("#refusals .refusal")
        expect(refusal).to_be_visible(timeout=10_000)
        expect(refusal).to_have_attribute("data-code", "validation_error")
        catalogue = Translations.load(str(ROOT / "translations"), ["zh_Hans"])
        # The field named in the technician's words too, not as pause_reason.
        label = catalogue.pgettext("request field", "pause reason")
        said = catalogue.gettext("%(field)s is required.") % {"field": label}
        assert said == "暂停原因 为必填项。", said
        expect(refusal).to_contain_text(said)
        text = refusal.inner_text()
        assert "is required" not in text and "pause_reason" not in text, text
        kiosk.screenshot(path=str(screenshots / "kiosk-refusal-zh-Hans.png"))
        # Nothing moved: the order is still being worked on.
        expect(job.locator(".act-pause")).to_be_visible()
    finally:
        context.close()
    assert errors == []
