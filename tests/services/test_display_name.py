"""A staff member's display name is the one customers see: the customer page's
"updated by" after a promise change and the advisor on the job ticket; the
sign-in name stays for signing in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain.events import WorkItem
from shared.persistence.models import RepairOrder, StaffUser
from shared.services import orders, reception, staff_admin
from shared.services.auth import resolve_bearer, user_principal
from shared.services.commands import CommandRequest
from shared.services.core import Core
from shared.services.views import customer_view
from tests.conftest import HandClock

START = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_customers_see_the_display_name(core: Core, shop: Any) -> None:
    core.clock = HandClock(START)
    admin = resolve_bearer(core, shop.tokens["admin"])
    assert admin is not None
    added = staff_admin.add_staff(
        core,
        CommandRequest(actor=admin.actor(), shop_id=shop.shop_id),
        staff_admin.NewStaff(
            name="zhang.wei", role="advisor", display_name="张顾问", password="s3cret-Pass-word"
        ),
    ).body
    # Signed in at the desk (a staff session resolves to user_principal).
    with core.db.read() as session:
        user = session.get(StaffUser, added["id"])
        assert user is not None
        advisor = user_principal(user)
    assert advisor.name == "张顾问"
    request = CommandRequest(actor=advisor.actor(), shop_id=shop.shop_id)
    order = orders.create_order(
        core,
        request,
        plate="粤B54321",
        items=[WorkItem("保养", 1.0)],
        promised_at=START + timedelta(hours=3),
    ).body
    orders.change_promise(
        core,
        request,
        order["id"],
        promised_at=START + timedelta(hours=5),
        reason="等配件",
        version=order["version"],
    )
    with core.db.read() as session:
        row = session.get(RepairOrder, order["id"])
        assert row is not None
        seen = customer_view(row)
    assert seen["promise_change"]["by"] == "张顾问"
    # The ticket names the advisor the same way.
    assert reception.ticket(core, shop.shop_id, order["id"])["advisor_name"] == "张顾问"
