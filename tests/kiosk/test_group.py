"""The dealer group (issue 14, item 5) through the real app and its SQLite
database: /group and its counts, another shop's board, a shop and its first
admin made in the browser's forms, and who may do any of it.

What is proved here: every shop's counts (active, late, at risk, ready) are
the shop's own board's verdicts and follow the shop as it changes, with no
event at all when only the clock moves; a group manager opens another
shop's board read-only without a word about its customers; a group admin
makes a shop (one, however often the form is sent) and its admin, who signs
in at /login?shop=SLUG and chooses their own password; nobody without
``group`` gets in, a shop's own admin cannot grant it, and taking it back
closes the pages at the next request.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from shared.persistence.models import Shop as ShopRow
from shared.persistence.models import StaffUser
from shared.services import group, setup, shop_profile
from shared.services.commands import CommandRequest
from shared.services.core import Core
from shared.services.shop_profile import ProfileChange
from tests.conftest import HandClock, Shop, seed_shop
from tests.request_flow import Rest
from tests.staff_sessions import sign_in_as

PASSWORD = "group pass 123"
# 08:00 in Shanghai: every seeded promise (17:00) is hours away.
MORNING = datetime(2030, 1, 7, 0, 0, tzinfo=UTC)


def member(core: Core, shop: Shop, name: str = "集团总监", role: str = "admin") -> int:
    """A group member made as the operator makes one (``grant-group``)."""
    user_id = setup.create_user(core, shop.shop_id, role=role, name=name, password=PASSWORD)
    group.set_membership(core, None, user_id, member=True)
    return user_id


def browser_of(app: Any, user_id: int) -> Any:
    browser = app.test_client()
    sign_in_as(browser, user_id)
    return browser


def hidden_fields(page: str, form: str) -> dict[str, str]:
    """The hidden fields (CSRF token, Idempotency-Key) of the form whose id
    or action is ``form``."""
    found = re.search(rf'<form[^>]*(?:id|action)="{re.escape(form)}".*?</form>', page, re.S)
    assert found, form
    return dict(
        re.findall(
            r'<input[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"', found.group(0)
        )
    )


def counts(browser: Any) -> dict[str, dict[str, int]]:
    reply = browser.get("/group/api/counts")
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.headers["Cache-Control"] == "no-store"
    return {
        shop["slug"]: {k: shop[k] for k in ("active", "late", "at_risk", "ready")}
        for shop in reply.get_json()["shops"]
    }


def board_verdicts(rest: Rest) -> dict[str, int]:
    """What the shop's own API (the board's feed) says of its active orders."""
    status, answer = rest.get("/api/v1/orders?active=true")
    assert status == 200
    orders = answer["orders"]
    return {
        "active": len(orders),
        "late": sum(o["late"] for o in orders),
        "at_risk": sum(o["at_risk"] for o in orders),
        "ready": sum(o["stage"] == "ready" for o in orders),
    }


# ---------------------------------------------------------------- counts


def test_every_shops_counts_are_its_boards_and_follow_it_live(
    app: Any, client: Any, core: Core, shop: Shop
) -> None:
    clock = HandClock(MORNING)
    core.clock = clock
    other = seed_shop(core, slug="other")
    empty = seed_shop(core, slug="empty")
    here, there = Rest(client, shop, core), Rest(client, other, core)
    here.create()  # checked in, due 17:00
    here.create(promised_at="2030-01-07T08:05:00+08:00")  # its ETA is past the promise: late
    here.create(promised_at="2030-01-07T09:40:00+08:00")  # ETA 09:30, ten minutes spare: at risk
    here.ready()
    here.delivered()  # gone: no longer counted
    there.create()
    browser = browser_of(app, member(core, shop))

    seen = counts(browser)
    assert seen["test"] == {"active": 4, "late": 1, "at_risk": 1, "ready": 1}
    assert seen["test"] == board_verdicts(here)
    assert seen["other"] == {"active": 1, "late": 0, "at_risk": 0, "ready": 0}
    assert seen["empty"] == {"active": 0, "late": 0, "at_risk": 0, "ready": 0}
    assert set(seen) == {"test", "other", "empty"}

    # The page shows the same numbers, one row a shop, each linking to its board.
    page = browser.get("/group?lang=en").get_data(as_text=True)
    row = re.search(r'<tr data-shop="test">.*?</tr>', page, re.S)
    assert row is not None
    cells = dict(re.findall(r'data-count="(\w+)">(\d+)<', row.group(0)))
    assert cells == {"active": "4", "late": "1", "at_risk": "1", "ready": "1"}
    assert 'href="/group/shops/other/board"' in page
    assert 'data-every="15000"' in page and "js/group.js" in page

    # Live: another shop's new car, and only the clock passing 17:00 (no
    # event at all) makes every car due then late, as on the board.
    there.create()
    clock.advance(hours=9, minutes=5)
    seen = counts(browser)
    assert seen["other"] == {"active": 2, "late": 2, "at_risk": 0, "ready": 0}
    assert seen["test"] == {"active": 4, "late": 3, "at_risk": 0, "ready": 1}
    assert seen["test"] == board_verdicts(here)
    assert seen["empty"]["active"] == 0 and empty.shop_id


# ---------------------------------------------------------------- who gets in


def test_nobody_without_group_gets_in(app: Any, core: Core, shop: Shop) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/group").location == "/login?next=/group"
    assert anonymous.get("/group/shops/test/board").location.startswith("/login?next=")
    assert anonymous.get("/group/api/counts").status_code in (401, 403)

    # A token is no person, even an admin's.
    token = anonymous.get("/group/api/counts", headers=shop.headers("admin"))
    assert token.status_code == 403
    assert token.headers["Content-Type"].startswith("application/problem+json")

    admin_id = setup.create_user(
        core, shop.shop_id, role="admin", name="店管理员", password=PASSWORD
    )
    shop_admin = browser_of(app, admin_id)
    assert shop_admin.get("/admin/staff").status_code == 200
    for path in (
        "/group",
        "/group/api/counts",
        "/group/shops/test/board",
        "/group/shops/test/admin",
    ):
        assert shop_admin.get(path).status_code == 403, path
    csrf = hidden_fields(shop_admin.get("/admin/staff").get_data(as_text=True), "add-form")
    made = shop_admin.post(
        "/group/shops",
        data={
            "csrf_token": csrf["csrf_token"],
            "name": "偷建店",
            "slug": "sneaky",
            "timezone": "UTC",
        },
    )
    assert made.status_code == 403
    with core.db.read() as session:
        assert session.execute(select(func.count()).select_from(ShopRow)).scalar_one() == 1

    # A shop's own admin cannot grant "group": not by REST, not on adding someone.
    me = shop_admin.get("/api/v1/staff").get_json()["staff"]
    [mine] = [p for p in me if p["id"] == admin_id]
    refused = shop_admin.patch(
        f"/api/v1/staff/{admin_id}",
        json={"version": mine["version"], "qualifications": ["group"]},
        headers={"X-CSRFToken": csrf["csrf_token"]},
    )
    assert refused.status_code == 422 and refused.get_json()["field"] == "qualifications"
    added = shop_admin.post(
        "/api/v1/staff",
        json={
            "name": "新经理",
            "role": "manager",
            "password": PASSWORD,
            "qualifications": ["group"],
        },
        headers={"X-CSRFToken": csrf["csrf_token"]},
    )
    assert added.status_code == 422
    assert shop_admin.get("/group").status_code == 403

    # A group manager sees, but makes nothing.
    manager = browser_of(app, member(core, shop, name="集团经理", role="manager"))
    page = manager.get("/group?lang=en").get_data(as_text=True)
    assert 'id="shops"' in page and 'id="shop-form"' not in page and 'id="people"' not in page
    assert manager.get("/group/shops/test/board").status_code == 200
    assert manager.get("/group/shops/test/admin").status_code == 403
    made = manager.post(
        "/group/shops",
        data={"csrf_token": csrf_of(manager), "name": "店", "slug": "nope", "timezone": "UTC"},
    )
    assert made.status_code == 403


def csrf_of(browser: Any) -> str:
    page = browser.get("/group").get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_taking_group_back_closes_the_pages_at_the_next_request(
    app: Any, core: Core, shop: Shop
) -> None:
    boss = member(core, shop)
    manager_id = member(core, shop, name="集团经理", role="manager")
    manager = browser_of(app, manager_id)
    assert manager.get("/group").status_code == 200
    admin = browser_of(app, boss)
    page = admin.get("/group?lang=en").get_data(as_text=True)
    # The admin may take back others' membership, never their own.
    assert f'action="/group/members/{boss}/revoke"' not in page
    revoked = admin.post(
        f"/group/members/{manager_id}/revoke",
        data=hidden_fields(page, f"/group/members/{manager_id}/revoke"),
    )
    assert revoked.status_code == 303 and revoked.location == "/group"
    assert "is no longer a group member" in admin.get("/group?lang=en").get_data(as_text=True)
    assert manager.get("/group").status_code == 403
    assert manager.get("/group/api/counts").status_code == 403
    own = admin.post(f"/group/members/{boss}/revoke", data={"csrf_token": csrf_of(admin)})
    assert own.status_code == 422
    assert admin.get("/group").status_code == 200

    # Granted again by the group admin: in again; a technician never joins.
    page = admin.get("/group?lang=en").get_data(as_text=True)
    granted = admin.post(
        f"/group/members/{manager_id}", data=hidden_fields(page, f"/group/members/{manager_id}")
    )
    assert granted.status_code == 303
    assert manager.get("/group").status_code == 200
    technician = admin.post(
        f"/group/members/{shop.technicians[0]}", data={"csrf_token": csrf_of(admin)}
    )
    assert technician.status_code == 422
    assert (
        admin.post("/group/members/999999", data={"csrf_token": csrf_of(admin)}).status_code == 404
    )
    with core.db.read() as session:
        user = session.get(StaffUser, shop.technicians[0])
        assert user is not None and "group" not in user.qualifications


# ---------------------------------------------------------------- another shop's board


def test_a_group_manager_opens_another_shops_board_read_only(
    app: Any, client: Any, core: Core, shop: Shop
) -> None:
    core.clock = HandClock(MORNING)
    other = seed_shop(core, slug="other")
    there = Rest(client, other, core)
    car = there.started()
    late = there.create(plate="粤B99999", promised_at="2030-01-07T08:05:00+08:00")
    Rest(client, shop, core).create(plate="粤A00001")
    shop_profile.update_profile(
        core,
        CommandRequest(actor=group_actor(), shop_id=other.shop_id),
        ProfileChange(stage_labels={"en": {"in_progress": "Spanners out"}}),
        version=shop_profile.profile(core, other.shop_id)["version"],
    )
    manager = browser_of(app, member(core, shop, role="manager"))

    reply = manager.get("/group/shops/other/board?lang=en")
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
    page = reply.get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="15">' in page
    assert car["plate"] in page and late["plate"] in page
    assert "粤A00001" not in page  # the manager's own shop's car is not on this board
    assert "Spanners out" in page  # the shop's own word for the stage
    assert "王师傅" in page and 'data-bay="B01"' in page
    row = re.search(rf'<tr data-order-id="{late["id"]}"[^>]*>', page)
    assert row is not None and "late" in row.group(0)
    # Nothing about the customers: the allow-list has none of it.
    assert "张先生" not in page and "13800000000" not in page and "/t/" not in page
    assert "<form" not in page.split("</header>", 1)[1]
    assert manager.get("/group/shops/nowhere/board").status_code == 404


def group_actor() -> Any:
    from shared.services.api_tokens import CLI_ACTOR

    return CLI_ACTOR


# ---------------------------------------------------------------- a new shop and its admin


def test_a_group_admin_makes_a_shop_and_its_admin_who_signs_in(
    app: Any, core: Core, shop: Shop
) -> None:
    admin = browser_of(app, member(core, shop))
    page = admin.get("/group?lang=en").get_data(as_text=True)
    fields = {
        **hidden_fields(page, "shop-form"),
        "name": "华南店",
        "slug": "south",
        "timezone": "Asia/Urumqi",
    }
    made = admin.post("/group/shops", data=fields)
    assert made.status_code == 303 and made.location == "/group/shops/south/admin"
    # Sent twice (the same form's key): one shop, the same answer.
    again = admin.post("/group/shops", data=fields)
    assert again.status_code == 303 and again.location == "/group/shops/south/admin"
    with core.db.read() as session:
        south = session.execute(select(ShopRow).where(ShopRow.slug == "south")).scalar_one()
        assert (south.name, south.timezone) == ("华南店", "Asia/Urumqi")
        south_id = south.id

    # Refusals say which field and change nothing.
    for changed, words in (
        ({"slug": "south"}, "Another shop has this slug already."),
        ({"slug": "South_2"}, "A slug has lowercase letters"),
        ({"slug": "west", "timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"slug": "west", "name": " "}, "Fill in: Shop name."),
    ):
        fresh = hidden_fields(admin.get("/group?lang=en").get_data(as_text=True), "shop-form")
        refused = admin.post(
            "/group/shops?lang=en",
            data={**fields, **fresh, **changed},
        )
        assert refused.status_code == 422, changed
        assert words in refused.get_data(as_text=True), changed
    no_csrf = admin.post(
        "/group/shops", data={k: v for k, v in fields.items() if k != "csrf_token"}
    )
    assert no_csrf.status_code == 400
    with core.db.read() as session:
        assert session.execute(select(func.count()).select_from(ShopRow)).scalar_one() == 2

    # Its first admin: name and a password to pass on.
    form_page = admin.get("/group/shops/south/admin?lang=en").get_data(as_text=True)
    assert "/login?shop=south" in form_page
    admin_fields = {
        **hidden_fields(form_page, "admin-form"),
        "name": "周店长",
        "password": "handed over 1",
    }
    added = admin.post("/group/shops/south/admin", data=admin_fields)
    assert added.status_code == 303 and added.location == "/group"
    # Sent twice: the first answer again, one admin.
    assert admin.post("/group/shops/south/admin", data=admin_fields).status_code == 303
    with core.db.read() as session:
        named = select(func.count()).where(StaffUser.shop_id == south_id, StaffUser.role == "admin")
        assert session.execute(named).scalar_one() == 1
    notice = admin.get("/group?lang=en").get_data(as_text=True)
    assert "Administrator 周店长 added" in notice and "/login?shop=south" in notice
    short = admin.post(
        "/group/shops/south/admin?lang=en",
        data={**hidden_fields(form_page, "admin-form"), "name": "短密码", "password": "short"},
    )
    assert short.status_code == 422 and "A password has 8 to 200 characters" in short.get_data(
        as_text=True
    )
    assert admin.get("/group/shops/nowhere/admin").status_code == 404

    # The new admin signs in at the shop's own link and chooses their own password.
    newcomer = app.test_client()
    login = newcomer.get("/login?shop=south&lang=en").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login)
    assert token is not None
    signed = newcomer.post(
        "/login?shop=south",
        data={"name": "周店长", "password": "handed over 1", "csrf_token": token.group(1)},
    )
    assert signed.status_code == 302 and signed.location.startswith("/login/password")
    choose = newcomer.get("/login/password").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', choose)
    assert token is not None
    chosen = newcomer.post(
        "/login/password",
        data={"password": "my own pass 9", "repeat": "my own pass 9", "csrf_token": token.group(1)},
    )
    assert chosen.status_code == 302
    whoami = newcomer.get("/api/v1/whoami").get_json()
    assert whoami["role"] == "admin" and whoami["shop_id"] == south_id
    staff = newcomer.get("/admin/staff?lang=en")
    assert staff.status_code == 200 and "周店长" in staff.get_data(as_text=True)
    assert "王师傅" not in staff.get_data(as_text=True)  # the other shop's people stay there
    assert newcomer.get("/group").status_code == 403  # a shop admin, not the group's

    # The new shop is on the group page, empty.
    assert counts(admin)["south"] == {"active": 0, "late": 0, "at_risk": 0, "ready": 0}


# ---------------------------------------------------------------- a shop's admin and the group


def test_a_shop_admin_cannot_take_over_a_group_account(app: Any, core: Core, shop: Shop) -> None:
    boss = member(core, shop, role="manager", name="集团经理")
    admin_id = setup.create_user(
        core, shop.shop_id, role="admin", name="店管理员", password=PASSWORD
    )
    shop_admin = browser_of(app, admin_id)
    csrf = hidden_fields(shop_admin.get("/admin/staff").get_data(as_text=True), "add-form")
    [person] = [p for p in shop_admin.get("/api/v1/staff").get_json()["staff"] if p["id"] == boss]
    reset = shop_admin.patch(
        f"/api/v1/staff/{boss}",
        json={"version": person["version"], "password": "i know it now 1"},
        headers={"X-CSRFToken": csrf["csrf_token"]},
    )
    assert reset.status_code == 403


def test_a_group_admin_editing_a_group_member_on_the_staff_page_keeps_their_group(
    app: Any, core: Core, shop: Shop
) -> None:
    """The staff page's form knows only the shop's qualifications: saving a
    group member there keeps the group's mark."""
    boss = member(core, shop, role="manager", name="集团经理")
    group_admin = member(core, shop, role="admin", name="集团管理员")
    editor = browser_of(app, group_admin)
    page = editor.get(f"/admin/staff/{boss}").get_data(as_text=True)
    saved = editor.post(
        f"/admin/staff/{boss}",
        data={
            **hidden_fields(page, "edit-form"),
            "name": "集团经理",
            "role": "manager",
            "phone": "1",
        },
    )
    assert saved.status_code == 303
    with core.db.read() as session:
        user = session.get(StaffUser, boss)
        assert user is not None and "group" in user.qualifications


def test_the_admin_tabs_lead_a_group_member_to_the_group_page(
    app: Any, core: Core, shop: Shop
) -> None:
    boss = browser_of(app, member(core, shop, role="manager", name="集团经理"))
    assert 'href="/group"' in boss.get("/admin/staff").get_data(as_text=True)
    plain = setup.create_user(core, shop.shop_id, role="admin", name="店管理员", password=PASSWORD)
    assert 'href="/group"' not in browser_of(app, plain).get("/admin/staff").get_data(as_text=True)


def test_the_group_board_puts_each_car_where_it_stands(
    app: Any, client: Any, core: Core, shop: Shop
) -> None:
    """A car being washed stands on the wash bay, not on the bay it was
    repaired on (bays.standing, as the wall board and the dispatch rule)."""
    core.clock = HandClock(MORNING)
    other = seed_shop(core, slug="other")
    setup.add_bay(core, other.shop_id, "W1", "洗车位", kind="wash", capacity=1)
    setup.add_bay(core, other.shop_id, "R1", "一号工位")
    there = Rest(client, other, core)
    order = there.create(plate="粤B55555", wash=True)
    body = {"bay": "R1", "technicians": [other.technicians[0]], "version": order["version"]}
    order = there.ok("PUT", f"/api/v1/orders/{order['id']}/assignment", body, role="foreman")
    order = there.move(there.move(order, "in_progress"), "quality_check")
    for _level in range(3):
        order = there.ok(
            "POST", f"/api/v1/orders/{order['id']}/checks", {"version": order["version"]}
        )
    assert order["stage"] == "washing" and order["bay"] == "R1", order
    manager = browser_of(app, member(core, shop, role="manager"))

    page = manager.get("/group/shops/other/board?lang=en").get_data(as_text=True)
    wash = re.search(r'<li data-bay="W1" class="(\w[\w-]*)"[^>]*>(.*?)</li>', page, re.S)
    repair = re.search(r'<li data-bay="R1" class="(\w[\w-]*)"[^>]*>(.*?)</li>', page, re.S)
    assert wash is not None and repair is not None
    assert wash.group(1) == "taken" and "粤B55555" in wash.group(2)
    assert repair.group(1) == "free" and "粤B55555" not in repair.group(2)
