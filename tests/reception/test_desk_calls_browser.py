"""The reception desk's customer link, follow-up calls and complaints
(issue 15), in headless Chromium against a real ``baylight serve`` (an office
PC at 1366x768 in UTC, the shop in Asia/Shanghai, Simplified Chinese):

- "New customer link…" asks first: a dialog says the old ticket and QR code
  stop working and asks the reason (required: nothing changes without one);
  confirmed, the link is replaced, the reason recorded, and the new ticket
  opens to print (a tab the click itself opened, so no pop-up blocker stops it).
- A low survey score's call shows the score and the customer's own comment;
  the call note has its label; the outcome buttons are real buttons.
- "Complaint…" asks for the owner (the advisor herself by default) and
  needs the customer's words in the note; the complaint stays on the desk
  with its owner; another desk's change arrives live; a change made on a
  version the page had not seen is refused and the complaint shown anew;
  resolved with its outcome it leaves the list.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, WebSocketRoute, expect
from sqlalchemy import select

from shared.persistence.reception_models import Complaint, CustomerLinkIssue
from shared.services import setup
from shared.services.auth import create_api_token
from tests.browser_support import PageProblems, fits_the_width, page_strings

from .flow import Workshop, http_call, token_of

pytestmark = [pytest.mark.browser, pytest.mark.server_per_module]
Live = tuple[Any, Any]
ADVISOR = "陈顾问"
MANAGER = "刘经理"
PASSWORD = "desk-password-1"
COMMENT = "等了太久，洗车也没洗干净"
WORDS = "洗车没洗干净，内饰有油印"


@pytest.fixture
def desk_problems() -> PageProblems:
    return PageProblems()


def fill(template: str, **values: object) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


class Relay:
    """The desk's socket through Playwright, passing everything on except,
    while ``holding``, the ``complaint`` hints: the page then still shows a
    complaint as it was, as a desk whose hint is late would."""

    def __init__(self) -> None:
        self.holding = False

    def __call__(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if self.holding and isinstance(message, str) and message.startswith('42["complaint"'):
                return
            ws.send(message)

        server.on_message(from_server)
        ws.on_message(lambda message: server.send(message))


def open_desk(
    browser: Browser, contexts: list[BrowserContext], problems: PageProblems, url: str, relay: Relay
) -> Page:
    context = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="UTC"
    )
    contexts.append(context)
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.route_web_socket(re.compile(r".*/socket\.io/.*"), relay)
    page.goto(f"{url}/login?next=/desk")
    page.get_by_label("姓名").fill(ADVISOR)
    page.get_by_label("密码").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}/desk")
    return page


def test_new_link_follow_up_and_complaint(
    live: Live,
    browser: Browser,
    contexts: list[BrowserContext],
    desk_problems: PageProblems,
    screenshots: Path,
) -> None:
    server, shop = live
    chen = setup.create_user(
        shop.core, shop.shop_id, role="advisor", name=ADVISOR, password=PASSWORD
    )
    liu = setup.create_user(shop.core, shop.shop_id, role="manager", name=MANAGER)
    shop.tokens["desk"] = create_api_token(
        shop.core, shop_id=shop.shop_id, role="advisor", name=ADVISOR, user_id=chen
    )
    workshop = Workshop(http_call(server.url), shop)
    active = workshop.create(role="desk", plate="粤B20001")
    done = workshop.hand_over(workshop.finish(workshop.start(workshop.create(plate="粤B20002"))))
    survey = requests.post(
        f"{server.url}/api/v1/track/{token_of(done)}/survey",
        json={"rating": 2, "comment": COMMENT},
        timeout=10,
    )
    assert survey.status_code == 201, survey.text
    relay = Relay()
    page = open_desk(browser, contexts, desk_problems, server.url, relay)
    words = page_strings(page)

    # ---- a new customer link: confirmed, with the reason, then the reprint
    old = token_of(workshop.get(active["id"]))
    car = page.locator(f'#orders tbody.order[data-order-id="{active["id"]}"]')
    car.locator("button.toggle-details").click()
    expect(car.locator("button.toggle-details")).to_have_attribute("aria-expanded", "true")
    car.locator("button.new-link").click()
    dialog = page.locator("#link-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#link-warning")).to_contain_text("二维码")
    dialog.locator("#link-confirm").click()
    expect(dialog.locator("#link-message")).to_have_text(words["link_reason_missing"])
    expect(dialog.locator("#link-reason")).to_have_attribute("aria-invalid", "true")
    assert token_of(workshop.get(active["id"])) == old, "no reason, no new link"
    dialog.get_by_label("原因（将记录在案）").fill("任务委托书丢失")
    with page.expect_popup() as opened:
        dialog.locator("#link-confirm").click()
    ticket = opened.value
    ticket.wait_for_url(f"{server.url}/orders/{active['id']}/ticket")
    expect(ticket.locator("#plate")).to_have_text("粤B20001")
    ticket.close()
    expect(dialog.locator("#link-done-text")).to_have_text(words["link_done"])
    reprint = f"/orders/{active['id']}/ticket"
    expect(dialog.locator("#link-print")).to_have_attribute("href", reprint)
    new = token_of(workshop.get(active["id"]))
    assert new != old
    assert requests.get(f"{server.url}/t/{old}", timeout=10).status_code == 404
    with shop.core.db.read() as session:
        issued = session.execute(
            select(CustomerLinkIssue.reason).where(CustomerLinkIssue.order_id == active["id"])
        ).scalars()
        assert list(issued) == ["任务委托书丢失"]
    dialog.get_by_role("button", name="关闭").click()
    expect(dialog).to_be_hidden()

    # ---- the follow-up call: the score, the customer's own words, a labelled note
    call = page.locator(f'#follow-ups li.call[data-order-id="{done["id"]}"]')
    expect(call.locator(".score")).to_have_text(fill(words["rating"], rating=2))
    expect(call.locator(".comment")).to_have_text(fill(words["survey_comment"], comment=COMMENT))
    note = call.get_by_label("回访记录（客户原话）")
    expect(note).to_be_visible()
    reached = call.locator("button.outcome-reached")
    assert reached.evaluate("b => getComputedStyle(b).borderRadius") == "6px"
    assert reached.evaluate("b => b.getBoundingClientRect().height") >= 30

    # ---- a complaint: the owner asked, the customer's words required
    call.locator("button.outcome-complaint").click()
    panel = call.locator(".complaint-panel")
    expect(panel).to_be_visible()
    owner = panel.get_by_label("负责人")
    expect(owner.locator("option:checked")).to_have_text(ADVISOR)
    panel.locator("button.open-complaint").click()
    expect(call.locator(".call-message")).to_have_text(words["complaint_needs_note"])
    note.fill(WORDS)
    page.locator("section.follow-ups").screenshot(
        path=str(screenshots / "desk-follow-up-zh_Hans.png")
    )
    panel.locator("button.open-complaint").click()
    expect(call).to_have_count(0)
    expect(page.locator("#follow-ups")).to_have_text(words["no_follow_ups"])
    item = page.locator("#complaints li.complaint")
    expect(item).to_have_count(1)
    expect(item.locator(".words")).to_have_text(fill(words["complaint_words"], words=WORDS))
    expect(item.get_by_label("负责人").locator("option:checked")).to_have_text(ADVISOR)
    assert fits_the_width(page)
    page.locator("section.complaints").screenshot(
        path=str(screenshots / "desk-complaint-zh_Hans.png")
    )

    # Another desk hands it to the manager: this desk shows it at once.
    complaint_id = int(item.get_attribute("data-complaint-id") or 0)
    other_desk = shop.headers("advisor")
    moved = requests.post(
        f"{server.url}/desk/api/complaints/{complaint_id}/owner",
        json={"owner_id": liu, "version": 1},
        headers=other_desk,
        timeout=10,
    )
    assert moved.status_code == 200, moved.text
    expect(item.get_by_label("负责人").locator("option:checked")).to_have_text(MANAGER)
    expect(item).to_have_attribute("data-version", "2")

    # A change this desk has not heard of yet: its resolution is refused,
    # said so, and the complaint shown as it is now.
    relay.holding = True
    moved = requests.post(
        f"{server.url}/desk/api/complaints/{complaint_id}/owner",
        json={"owner_id": chen, "version": 2},
        headers=other_desk,
        timeout=10,
    )
    assert moved.status_code == 200, moved.text
    desk_problems.allow("status of 409")
    item.get_by_label(re.compile("^处理结果")).fill("重新精洗并致歉，客户满意")
    item.locator("button.resolve").click()
    expect(page.locator("#complaints-message")).to_have_text(words["complaint_stale"])
    expect(item).to_have_attribute("data-version", "3")
    expect(item.get_by_label("负责人").locator("option:checked")).to_have_text(ADVISOR)
    # What was typed is kept; resolved now, the complaint leaves the desk.
    expect(item.get_by_label(re.compile("^处理结果"))).to_have_value("重新精洗并致歉，客户满意")
    item.locator("button.resolve").click()
    expect(page.locator("#complaints-message")).to_have_text(words["complaint_resolved"])
    expect(page.locator("#complaints")).to_have_text(words["no_complaints"])
    with shop.core.db.read() as session:
        row = session.get(Complaint, complaint_id)
        assert row is not None
        assert (row.status, row.outcome, row.resolved_by) == (
            "resolved",
            "重新精洗并致歉，客户满意",
            ADVISOR,
        )
    assert desk_problems.unexpected() == []
