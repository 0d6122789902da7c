"""The appointment forms take what the server takes, in headless Chromium
(Debian's) against a real ``baylight serve`` on SQLite:

- /admin/shop's appointment section: every number's min and max are the
  server's (shared/services/appointment_settings.py); the lead time goes
  past two days up to a week and saves at a week;
- the desk's cancel reason takes as many characters as the server records
  (shared/services/appointments.py REASON_MAX), and a reason that long
  cancels the appointment with the whole reason kept.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from shared.persistence.appointment_models import Appointment
from shared.persistence.models import Shop as ShopRow
from shared.services import appointment_settings, appointments
from tests.booking_pages import SHOP_ZONE, book, contexts_fixture, open_signed_in, server_fixture
from tests.browser_support import PageProblems
from tests.conftest import LiveServer, Shop

from . import desk_pages

pytestmark = [pytest.mark.browser]
ADMIN = "林店长"
ADVISOR = "许顾问"
PASSWORD = "form-limits-pass-1"

# The form's inputs and the settings they send, with the server's bounds.
# The walk-in share is typed in percent.
FIELDS = {
    "appt-walk-in": (0, round(appointment_settings.WALK_IN_SHARE_MAX * 100)),
    **{
        {
            "cars_per_advisor_per_slot": "appt-per-advisor",
            "grace_minutes": "appt-grace",
            "lead_minutes": "appt-lead",
            "days_ahead": "appt-days",
        }[name]: bounds
        for name, bounds in appointment_settings._INTS.items()
    },
}

server = server_fixture(("admin", ADMIN, PASSWORD), ("advisor", ADVISOR, PASSWORD))
contexts = contexts_fixture("contexts")


def stored(shop: Shop) -> appointment_settings.AppointmentSettings:
    with shop.core.db.read() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        return appointment_settings.read(row.settings)


def test_the_admin_forms_limits_are_the_servers_and_a_weeks_lead_saves(
    server: tuple[LiveServer, Shop], browser: Browser, contexts: list[BrowserContext]
) -> None:
    live, shop = server
    problems = PageProblems()
    page = open_signed_in(
        browser, contexts, problems, live, path="/admin/shop", name=ADMIN, password=PASSWORD
    )

    section = page.locator("#appointments-form")
    assert set(FIELDS) == set(
        section.locator("input[type=number]").evaluate_all("inputs => inputs.map(i => i.id)")
    )
    for field, (low, high) in FIELDS.items():
        number = section.locator(f"#{field}")
        expect(number).to_have_attribute("min", str(low))
        expect(number).to_have_attribute("max", str(high))

    lead = section.locator("#appt-lead")
    # The spinner went no further than two days before; now it does.
    lead.fill("2880")
    lead.press("ArrowUp")
    expect(lead).to_have_value("2881")
    # At the server's limit it stops, as the server would refuse one more.
    lead.fill(str(appointment_settings.LEAD_MAX))
    lead.press("ArrowUp")
    expect(lead).to_have_value(str(appointment_settings.LEAD_MAX))
    section.locator("#save-appointments").click()
    page.wait_for_url(re.compile(r"/admin/shop\?done=appointments"))
    expect(section.locator("#appt-lead")).to_have_value(str(appointment_settings.LEAD_MAX))
    assert stored(shop).lead_minutes == appointment_settings.LEAD_MAX
    assert not problems.unexpected(), problems.errors


def put_today(shop: Shop, plate: str) -> int:
    """A booked appointment of today (shop time), as a booking left it."""
    now = datetime.now(UTC)
    start = (now + timedelta(minutes=30)).replace(second=0, microsecond=0)
    if start.astimezone(SHOP_ZONE).date() != now.astimezone(SHOP_ZONE).date():
        start = (now - timedelta(minutes=5)).replace(second=0, microsecond=0)
    return book(
        shop,
        plate,
        start,
        customer_name="周女士",
        customer_phone="13800004321",
        customer_notify=["sms"],
        vehicle_model="卡罗拉",
        complaint="保养",
        by=ADVISOR,
        version=1,
    )


def test_the_desks_cancel_reason_takes_what_the_server_records(
    server: tuple[LiveServer, Shop], browser: Browser, contexts: list[BrowserContext]
) -> None:
    live, shop = server
    appointment = put_today(shop, "粤B50050")
    problems = PageProblems()
    page = desk_pages.open_desk(
        browser,
        contexts,
        problems,
        live,
        size=(1366, 768),
        locale="zh-CN",
        name=ADVISOR,
        password=PASSWORD,
    )
    item = page.locator(f'#appt-arrivals li[data-id="{appointment}"]')
    item.locator(".appt-cancel-open").click()
    reason = item.locator(".appt-cancel-reason")
    expect(reason).to_have_attribute("maxlength", str(appointments.REASON_MAX))
    # Longer than the desk took before (200), as long as the server keeps.
    long_reason = ("客户车辆已出售，" * 100)[: appointments.REASON_MAX]
    reason.fill(long_reason)
    expect(reason).to_have_value(long_reason)
    item.locator(".appt-cancel button[type=submit]").click()
    expect(item.locator(".appt-status")).to_have_text("已取消")
    with shop.core.db.read() as session:
        row = session.get(Appointment, appointment)
        assert row is not None
        assert row.status == "cancelled"
        assert row.cancel_reason == long_reason
    assert not problems.unexpected(), problems.errors
