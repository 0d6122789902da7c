"""Staff administration (issue 14, item 2) through the real app and its
SQLite database: REST v1 (/api/v1/staff), the service behind it, and the
/admin/staff page.

What is proved here: staff are added, edited and listed without a secret ever
shown back; a deactivation ends the person's office session, kiosk session
(its socket too) and running labour clock at once, while their jobs stay
assigned; a reactivation does not revive an old session; a password reset
makes its owner choose their own before anything else opens; a locked badge
is unlocked; two admins' edits collide as 409 with the current state; bad
input is a 422 naming the field; only admins and managers get in (and only
admins touch admins); another shop's ids are not found.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.persistence.models import StaffUser
from shared.services import kiosk_login, labour, setup, staff_login
from shared.services.auth import resolve_bearer
from shared.services.core import Core
from shared.web.openapi import document
from tests.conftest import HandClock, Shop, seed_shop
from tests.kiosk.test_kiosk_login import login as kiosk_login_call
from tests.kiosk.test_kiosk_login import pair_kiosk
from tests.staff_sessions import sign_in_as
from tests.test_openapi import Api

STAFF = "/api/v1/staff"
PASSWORD = "temporary pass 1"


def add(client: Any, shop: Shop, body: dict[str, Any], role: str = "admin", **headers: str) -> Any:
    return client.post(STAFF, json=body, headers={**shop.headers(role), **headers})


def patch(
    client: Any,
    shop: Shop,
    staff_id: int,
    body: dict[str, Any],
    role: str = "admin",
    **headers: str,
) -> Any:
    return client.patch(f"{STAFF}/{staff_id}", json=body, headers={**shop.headers(role), **headers})


def technician(
    client: Any, shop: Shop, name: str = "周师傅", badge: str = "2001"
) -> dict[str, Any]:
    reply = add(
        client,
        shop,
        {"name": name, "role": "technician", "badge": badge, "pin": "2468", "password": PASSWORD},
    )
    assert reply.status_code == 201, reply.get_json()
    return dict(reply.get_json())


def current(client: Any, shop: Shop, staff_id: int) -> dict[str, Any]:
    people = client.get(STAFF, headers=shop.headers("admin")).get_json()["staff"]
    [person] = [p for p in people if p["id"] == staff_id]
    return dict(person)


# ---------------------------------------------------------------- add, edit, list


def test_add_edit_and_list_without_showing_a_secret(client: Any, shop: Shop) -> None:
    added = technician(client, shop)
    assert added["role"] == "technician" and added["badge"] == "2001"
    assert added["has_pin"] and added["has_password"] and added["must_change_password"]
    assert added["active"] and not added["locked"] and added["running_clock"] is None
    advisor = add(
        client,
        shop,
        {"name": "陈顾问", "display_name": "小陈", "role": "advisor", "password": PASSWORD},
        role="manager",
    )
    assert advisor.status_code == 201
    everything = client.get(STAFF, headers=shop.headers("manager")).get_data(as_text=True)
    assert "2468" not in everything and PASSWORD not in everything
    assert "pin_hash" not in everything and "password_hash" not in everything
    names = [p["name"] for p in client.get(STAFF, headers=shop.headers()).get_json()["staff"]]
    assert {"周师傅", "陈顾问", "王师傅", "李师傅"} <= set(names)

    edited = patch(
        client,
        shop,
        added["id"],
        {
            "version": added["version"],
            "display_name": "周工",
            "phone": "13900001111",
            "qualifications": ["team_lead"],
            "name": "周 师傅",
        },
    )
    assert edited.status_code == 200, edited.get_json()
    after = edited.get_json()
    assert (after["name"], after["display_name"], after["phone"]) == (
        "周 师傅",
        "周工",
        "13900001111",
    )
    assert after["qualifications"] == ["team_lead"] and after["version"] != added["version"]
    inactive_only = client.get(STAFF + "?active=false", headers=shop.headers()).get_json()
    assert inactive_only == {"staff": []}


def test_a_replayed_key_answers_the_first_result_and_a_reused_key_is_refused(
    client: Any, shop: Shop, core: Core
) -> None:
    body = {"name": "吴师傅", "role": "technician", "badge": "2002", "pin": "1357"}
    first = add(client, shop, body, **{"Idempotency-Key": "add-wu"})
    again = add(client, shop, body, **{"Idempotency-Key": "add-wu"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
    with core.db.read() as session:
        assert session.query(StaffUser).filter_by(name="吴师傅").count() == 1
    other_pin = add(client, shop, {**body, "pin": "9999"}, **{"Idempotency-Key": "add-wu"})
    assert other_pin.status_code == 422
    assert other_pin.get_json()["code"] == "idempotency_key_reuse"


# ---------------------------------------------------------------- refusals


def test_two_admins_editing_at_once_collide_as_409_with_the_current_state(
    client: Any, shop: Shop
) -> None:
    person = technician(client, shop)
    mine = patch(client, shop, person["id"], {"version": person["version"], "phone": "1"})
    assert mine.status_code == 200
    theirs = patch(
        client, shop, person["id"], {"version": person["version"], "phone": "2"}, role="manager"
    )
    assert theirs.status_code == 409
    problem = theirs.get_json()
    assert problem["code"] == "stale_version"
    assert problem["staff"] == current(client, shop, person["id"])
    assert problem["staff"]["phone"] == "1"
    # A PIN reset in between makes an older form stale as well.
    fresh = current(client, shop, person["id"])
    assert (
        patch(client, shop, person["id"], {"version": fresh["version"], "pin": "8642"}).status_code
        == 200
    )
    stale = patch(client, shop, person["id"], {"version": fresh["version"], "active": False})
    assert stale.status_code == 409 and stale.get_json()["staff"]["active"] is True


BAD_ADDS: list[tuple[dict[str, Any], str, str | None]] = [
    ({"name": "新人", "role": "technician", "badge": "3001", "pin": "1234", "x": 1}, "x", None),
    ({"name": "新人", "role": "boss", "password": PASSWORD}, "role", "unknown"),
    (
        {"name": "新人", "role": "technician", "badge": "3001", "pin": "12a4"},
        "pin",
        "pin_format",
    ),
    ({"name": "新人", "role": "advisor", "password": "short"}, "password", "password_length"),
    ({"name": "王师傅", "role": "advisor", "password": PASSWORD}, "name", "taken"),
    ({"name": " 王师傅 ", "role": "advisor", "password": PASSWORD}, "name", "taken"),
    ({"name": "新人", "role": "technician", "badge": "1001", "pin": "1234"}, "badge", "taken"),
    ({"name": "新人", "role": "technician", "badge": "3001"}, "pin", "badge_and_pin"),
    ({"name": "新人", "role": "technician", "password": PASSWORD}, "badge", "credentials"),
    ({"name": "新人", "role": "advisor"}, "password", "credentials"),
    (
        {"name": "新人", "role": "advisor", "password": PASSWORD, "qualifications": ["x"]},
        "qualifications",
        "unknown",
    ),
    ({"name": "", "role": "advisor", "password": PASSWORD}, "name", "required"),
    (
        {"name": "新人", "role": "advisor", "password": PASSWORD, "phone": "1" * 41},
        "phone",
        "too_long",
    ),
    ({"role": "advisor", "password": PASSWORD}, "name", None),
]


def test_bad_input_to_add_is_422_naming_the_field(client: Any, shop: Shop) -> None:
    before = len(client.get(STAFF, headers=shop.headers()).get_json()["staff"])
    for body, field, reason in BAD_ADDS:
        reply = add(client, shop, body)
        assert reply.status_code == 422, (body, reply.get_json())
        problem = reply.get_json()
        assert (problem["code"], problem["field"]) == ("validation_error", field), body
        assert problem.get("reason") == reason or reason is None, body
    assert len(client.get(STAFF, headers=shop.headers()).get_json()["staff"]) == before


def test_bad_input_to_a_change_is_422_naming_the_field(client: Any, shop: Shop) -> None:
    person = technician(client, shop)
    version = person["version"]
    for body, field in [
        ({"phone": "1"}, "version"),
        ({"version": version, "locked": True}, "locked"),
        ({"version": version, "active": "no"}, "active"),
        ({"version": version, "qualifications": "team_lead"}, "qualifications"),
        ({"version": version, "role": "advisor", "password": ""}, "password"),
        ({}, "version"),
        ({"version": version, "badge": ""}, "badge"),
        ({"version": version, "name": "李师傅"}, "name"),
        ({"version": version, "pin": "1"}, "pin"),
        ({"version": version, "colour": "red"}, "colour"),
    ]:
        reply = patch(client, shop, person["id"], body)
        assert reply.status_code == 422, (body, reply.get_json())
        assert reply.get_json()["field"] == field, body
    assert current(client, shop, person["id"])["version"] == version, "nothing changed"


def test_only_admins_and_managers_and_only_admins_touch_admins(
    app: Any, client: Any, shop: Shop, core: Core
) -> None:
    person = technician(client, shop)
    for role in ("advisor", "technician", "foreman", "display-board", "display-lounge"):
        assert client.get(STAFF, headers=shop.headers(role)).status_code == 403, role
        refused = add(client, shop, {"name": "x", "role": "advisor", "password": PASSWORD}, role)
        assert refused.status_code == 403, role
        assert (
            patch(client, shop, person["id"], {"version": person["version"]}, role).status_code
            == 403
        )
    assert client.get(STAFF).status_code == 401
    # The same for a signed-in advisor's cookie.
    advisor = app.test_client()
    sign_in_as(advisor, seeded_user(core, shop, "陈顾问", "advisor"))
    assert advisor.get(STAFF).status_code == 403
    # A manager neither makes admins nor changes an admin's account.
    made = add(client, shop, {"name": "新管理员", "role": "admin", "password": PASSWORD}, "manager")
    assert made.status_code == 403
    admin = add(client, shop, {"name": "管理员甲", "role": "admin", "password": PASSWORD})
    assert admin.status_code == 201
    reset = patch(
        client,
        shop,
        admin.get_json()["id"],
        {"version": admin.get_json()["version"], "password": "taken over 1"},
        "manager",
    )
    assert reset.status_code == 403
    promote = patch(
        client, shop, person["id"], {"version": person["version"], "role": "admin"}, "manager"
    )
    assert promote.status_code == 403


def seeded_user(core: Core, shop: Shop, name: str, role: str) -> int:
    return setup.create_user(core, shop.shop_id, role=role, name=name, password=PASSWORD)


def test_nobody_locks_out_themselves_or_the_shop(app: Any, core: Core, shop: Shop) -> None:
    admin_id = seeded_user(core, shop, "管理员甲", "admin")
    browser = app.test_client()
    sign_in_as(browser, admin_id)
    token = csrf_token(browser)
    me = browser.get(STAFF).get_json()["staff"]
    [mine] = [p for p in me if p["id"] == admin_id]
    own = browser.patch(
        f"{STAFF}/{admin_id}",
        json={"version": mine["version"], "active": False},
        headers={"X-CSRFToken": token},
    )
    assert own.status_code == 422 and own.get_json()["reason"] == "own_account"
    # An admin token (no person) meets the last-admin rule instead.
    last = patch(app.test_client(), shop, admin_id, {"version": mine["version"], "role": "manager"})
    assert last.status_code == 422 and last.get_json()["reason"] == "last_admin"


def test_another_shops_ids_are_not_found(client: Any, shop: Shop, core: Core) -> None:
    other = seed_shop(core, slug="other")
    theirs = technician(client, other, name="外店师傅", badge="9001")
    mine = client.get(STAFF, headers=shop.headers()).get_json()["staff"]
    assert theirs["id"] not in [p["id"] for p in mine]
    assert other.technicians[0] not in [p["id"] for p in mine]
    for staff_id in (theirs["id"], other.technicians[0], 999_999):
        reply = patch(client, shop, staff_id, {"version": theirs["version"], "active": False})
        assert reply.status_code == 404, staff_id
    assert current(client, other, theirs["id"])["active"] is True


# ---------------------------------------------------------------- deactivation


def _started_order(client: Any, shop: Shop, kiosk_token: str, technician_id: int) -> int:
    """An order in progress whose labour clock the technician started on the kiosk."""
    created = client.post(
        STAFF.replace("staff", "orders"),
        json={"plate": "粤B30001", "items": [{"title": "保养", "labour_hours": 1}]},
        headers=shop.headers("advisor"),
    )
    order = created.get_json()
    assigned = client.put(
        f"/api/v1/orders/{order['id']}/assignment",
        json={
            "bay": "B01",
            "technicians": [technician_id, shop.technicians[1]],
            "version": order["version"],
        },
        headers=shop.headers("foreman"),
    ).get_json()
    started = client.post(
        f"/api/v1/orders/{order['id']}/transitions",
        json={"to": "in_progress", "version": assigned["version"]},
        headers={"Authorization": f"Bearer {kiosk_token}"},
    )
    assert started.status_code == 200, started.get_json()
    return int(order["id"])


def test_deactivation_ends_sessions_and_the_running_clock_at_once(
    app: Any, client: Any, socketio: Any, shop: Shop, core: Core
) -> None:
    from shared.realtime.hub import hub_of

    person = technician(client, shop)
    office = staff_login.open_session(core, person["id"])
    device = pair_kiosk(core, shop.shop_id)
    signed_in = kiosk_login_call(client, device, "2001", "2468")
    assert signed_in.status_code == 200
    kiosk_token = signed_in.get_json()["token"]
    order_id = _started_order(client, shop, kiosk_token, person["id"])
    assert labour.running_clock(core, person["id"])["order_id"] == order_id
    listed = current(client, shop, person["id"])
    assert listed["running_clock"]["order_id"] == order_id
    socket = socketio.test_client(app, auth={"token": kiosk_token})
    assert socket.is_connected()

    reply = patch(client, shop, person["id"], {"version": listed["version"], "active": False})
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["active"] is False and reply.get_json()["running_clock"] is None
    # Office and kiosk sessions are dead, and the kiosk's socket is cut.
    assert staff_login.resolve_pending(core, office) is None
    assert staff_login.resolve(core, office) is None
    assert kiosk_login.resolve_session(core, kiosk_token, touch=False) is None
    hub = hub_of(socketio)
    assert hub is not None
    hub.sweep()
    assert not socket.is_connected()
    # The clock closed now, through the labour rule; the job stays assigned.
    assert labour.running_clock(core, person["id"]) is None
    [segment] = labour.order_segments(core, order_id)
    assert segment.technician_id == person["id"] and segment.end_reason == "reassigned"
    order = client.get(f"/api/v1/orders/{order_id}", headers=shop.headers()).get_json()
    assert order["stage"] == "in_progress"
    assert [t["id"] for t in order["technicians"]] == [person["id"], shop.technicians[1]]
    assert kiosk_login_call(client, device, "2001", "2468").status_code == 401

    # Back again: old sessions stay dead, new sign-ins work.
    back = patch(
        client, shop, person["id"], {"version": reply.get_json()["version"], "active": True}
    )
    assert back.status_code == 200 and back.get_json()["active"] is True
    assert kiosk_login.resolve_session(core, kiosk_token, touch=False) is None
    assert staff_login.resolve(core, office) is None
    assert kiosk_login_call(client, device, "2001", "2468").status_code == 200


def test_a_clock_left_running_past_the_shift_end_closes_there(
    client: Any, shop: Shop, core: Core
) -> None:
    """The labour service's own order of things: a clock forgotten overnight
    ends at the shift's end (flagged), not at the deactivation."""
    clock = HandClock(datetime(2030, 1, 7, 1, 0, tzinfo=UTC))  # 09:00 in Shanghai
    core.clock = clock
    person = technician(client, shop)
    device = pair_kiosk(core, shop.shop_id)
    kiosk_token = kiosk_login_call(client, device, "2001", "2468").get_json()["token"]
    order_id = _started_order(client, shop, kiosk_token, person["id"])
    clock.advance(hours=24)
    listed = current(client, shop, person["id"])
    assert (
        patch(
            client, shop, person["id"], {"version": listed["version"], "active": False}
        ).status_code
        == 200
    )
    [segment] = labour.order_segments(core, order_id)
    assert segment.end_reason == "shift_end" and segment.flagged
    assert segment.ended_at == datetime(2030, 1, 7, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai


def test_a_new_pin_ends_kiosk_sessions(client: Any, shop: Shop, core: Core) -> None:
    person = technician(client, shop)
    device = pair_kiosk(core, shop.shop_id)
    token = kiosk_login_call(client, device, "2001", "2468").get_json()["token"]
    assert (
        patch(
            client, shop, person["id"], {"version": person["version"], "pin": "97531"}
        ).status_code
        == 200
    )
    assert kiosk_login.resolve_session(core, token, touch=False) is None
    assert kiosk_login_call(client, device, "2001", "2468").status_code == 401
    assert kiosk_login_call(client, device, "2001", "97531").status_code == 200


def test_a_locked_badge_is_unlocked(client: Any, shop: Shop, core: Core) -> None:
    person = technician(client, shop)
    device = pair_kiosk(core, shop.shop_id)
    kiosk = resolve_bearer(core, device)
    assert kiosk is not None
    for _ in range(kiosk_login.LOCK_AFTER_FAILURES):
        with contextlib.suppress(kiosk_login.WrongPin):
            kiosk_login.login(core, kiosk, "2001", "0000")
    with pytest.raises(kiosk_login.BadgeLocked):
        kiosk_login.login(core, kiosk, "2001", "2468")
    locked = current(client, shop, person["id"])
    assert locked["locked"] is True
    unlocked = patch(client, shop, person["id"], {"version": locked["version"], "locked": False})
    assert unlocked.status_code == 200 and unlocked.get_json()["locked"] is False
    assert kiosk_login.login(core, kiosk, "2001", "2468").user_id == person["id"]


# ---------------------------------------------------------------- password reset


def csrf_token(browser: Any, path: str = "/login") -> str:
    page = browser.get(path + "?lang=en").get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found
    return found.group(1)


def _sign_in(browser: Any, name: str, password: str) -> Any:
    return browser.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf_token(browser)},
    )


def test_a_reset_password_must_be_changed_before_anything_else(
    app: Any, client: Any, shop: Shop, core: Core
) -> None:
    reply = add(client, shop, {"name": "陈顾问", "role": "advisor", "password": "first pass 1"})
    person = reply.get_json()
    browser = app.test_client()
    # The admin's password is temporary too: the first sign-in asks for one's own.
    assert _sign_in(browser, "陈顾问", "first pass 1").location.startswith("/login/password")
    assert (
        browser.post(
            "/login/password",
            data={
                "password": "own password 1",
                "repeat": "own password 1",
                "csrf_token": csrf_token(browser, "/login/password"),
            },
        ).location
        == "/board"
    )
    assert current(client, shop, person["id"])["must_change_password"] is False
    assert browser.get("/desk").status_code == 200

    # The admin resets it: the session ends, the new one is temporary.
    person = current(client, shop, person["id"])
    reset = patch(client, shop, person["id"], {"version": person["version"], "password": PASSWORD})
    assert reset.status_code == 200 and reset.get_json()["must_change_password"] is True
    assert browser.get("/desk").location == "/login?next=/desk"
    assert _sign_in(browser, "陈顾问", "own password 1").status_code == 401
    signed_in = _sign_in(browser, "陈顾问", PASSWORD)
    assert signed_in.location == "/login/password"
    # Nothing else opens meanwhile: pages, the API, the login page itself.
    assert browser.get("/desk").location == "/login?next=/desk"
    api = browser.post(
        "/api/v1/orders",
        json={"plate": "粤B1"},
        headers={"X-CSRFToken": csrf_token(browser, "/login/password")},
    )
    assert api.status_code == 401
    assert browser.get("/login").location.startswith("/login/password")
    page = browser.get("/login/password?lang=en")
    assert page.status_code == 200 and "Choose your password" in page.get_data(as_text=True)

    def choose(new: str, repeat: str) -> Any:
        return browser.post(
            "/login/password",
            data={
                "password": new,
                "repeat": repeat,
                "csrf_token": csrf_token(browser, "/login/password"),
            },
            headers={"Accept-Language": "en"},
        )

    same = choose(PASSWORD, PASSWORD)
    assert same.status_code == 422
    assert "other than the one you were given" in same.get_data(as_text=True)
    assert choose("my own pass 2", "my own pass 3").status_code == 422
    assert choose("short", "short").status_code == 422
    done = choose("my own pass 2", "my own pass 2")
    assert done.status_code == 302 and done.location == "/board"
    assert browser.get("/desk").status_code == 200
    assert _sign_in(app.test_client(), "陈顾问", PASSWORD).status_code == 401
    assert _sign_in(app.test_client(), "陈顾问", "my own pass 2").location == "/board"


# ---------------------------------------------------------------- OpenAPI


def test_the_staff_operations_answer_as_documented(client: Any, shop: Shop) -> None:
    """Each staff operation, its replays and refusals, against its documented
    responses (the same checker as tests/test_openapi.py)."""
    api = Api(client, document())
    admin = shop.headers("admin")
    keyed = shop.headers("admin", key="doc-add")
    body = {"name": "文档师傅", "role": "technician", "badge": "4001", "pin": "4321"}
    added = api.call("addStaff", body=body, headers=keyed, expect=201).get_json()
    api.call("addStaff", body=body, headers=keyed, expect=201)
    api.call("listStaff", headers=admin, query={"active": "true"}, expect=200)
    changed = api.call(
        "updateStaff",
        params={"staff_id": added["id"]},
        body={"version": added["version"], "display_name": "文档", "active": False},
        headers=shop.headers("admin", key="doc-patch"),
        expect=200,
    ).get_json()
    assert changed["display_name"] == "文档"
    stale = api.call(
        "updateStaff",
        params={"staff_id": added["id"]},
        body={"version": added["version"], "phone": "1"},
        headers=admin,
        expect=409,
    ).get_json()
    assert stale["staff"]["version"] == changed["version"]
    api.call(
        "updateStaff",
        params={"staff_id": 999_999},
        body={"version": "x"},
        headers=admin,
        expect=404,
    )
    api.call("addStaff", body={"name": "x"}, headers=admin, expect=422)
    api.call("addStaff", body={}, headers=shop.headers("advisor"), expect=403)
    api.call("listStaff", headers=admin, query={"active": "yes"}, expect=422)
    api.call("listStaff", expect=401)


def test_pins_and_passwords_are_kept_out_of_the_stored_fingerprint(
    client: Any, shop: Shop, core: Core
) -> None:
    from shared.persistence.models import IdempotencyRecord
    from shared.services.commands import fingerprint

    body = {"name": "指纹师傅", "role": "technician", "badge": "5001", "pin": "5555"}
    assert add(client, shop, body, **{"Idempotency-Key": "fp"}).status_code == 201
    with core.db.read() as session:
        stored = session.query(IdempotencyRecord).filter_by(key="fp").one().fingerprint
    assert stored != fingerprint("POST", STAFF, body)


def test_a_change_is_announced_after_commit_and_a_rename_reaches_the_views(
    app: Any, client: Any, socketio: Any, shop: Shop, core: Core
) -> None:
    person = technician(client, shop, name="旧名字")
    board = socketio.test_client(app, auth={"token": shop.tokens["display-board"]})
    lounge = socketio.test_client(app, auth={"token": shop.tokens["display-lounge"]})
    board.get_received()
    lounge.get_received()
    core.staff_names.put(str(person["id"]), "旧名字")
    renamed = patch(client, shop, person["id"], {"version": person["version"], "name": "新名字"})
    assert renamed.status_code == 200
    assert core.staff_names.get(str(person["id"])) is None
    heard = [m for m in board.get_received() if m["name"] == "staff_changed"]
    assert [m["args"][0] for m in heard] == [{"id": person["id"]}]
    assert [m for m in lounge.get_received() if m["name"] == "staff_changed"] == []
    # A refused change commits nothing and says nothing.
    stale = patch(client, shop, person["id"], {"version": person["version"], "name": "又一个"})
    assert stale.status_code == 409
    assert [m for m in board.get_received() if m["name"] == "staff_changed"] == []


# ---------------------------------------------------------------- the page


def _form_fields(page: str, form_id: str) -> dict[str, str]:
    """The hidden fields (CSRF token, Idempotency-Key, version) of one form."""
    found = re.search(rf'<form id="{form_id}".*?</form>', page, re.S)
    assert found, form_id
    return dict(
        re.findall(
            r'<input[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"', found.group(0)
        )
    )


def _hidden(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to ``action``."""
    found = re.search(rf'<form[^>]*action="{re.escape(action)}".*?</form>', page, re.S)
    assert found, action
    return dict(
        re.findall(
            r'<input[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"', found.group(0)
        )
    )


def _manager(app: Any, core: Core, shop: Shop) -> Any:
    browser = app.test_client()
    sign_in_as(browser, seeded_user(core, shop, "店长", "manager"))
    return browser


def test_the_page_is_for_admins_and_managers(app: Any, core: Core, shop: Shop) -> None:
    assert app.test_client().get("/admin/staff").location == "/login?next=/admin/staff"
    advisor = app.test_client()
    sign_in_as(advisor, seeded_user(core, shop, "陈顾问", "advisor"))
    assert advisor.get("/admin/staff").status_code == 403
    manager = _manager(app, core, shop)
    for lang, html_lang in (("en", "en"), ("zh_Hans", "zh-Hans")):
        reply = manager.get(f"/admin/staff?lang={lang}")
        assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
        page = reply.get_data(as_text=True)
        assert f'<html lang="{html_lang}">' in page
        assert 'href="/admin/staff" aria-current="page"' in page
        assert "王师傅" in page and "李师傅" in page
        forms = re.findall(r"<form.*?</form>", page, re.S)
        assert forms and all('name="csrf_token"' in form for form in forms)


def test_a_manager_adds_and_deactivates_on_the_page(app: Any, core: Core, shop: Shop) -> None:
    manager = _manager(app, core, shop)
    page = manager.get("/admin/staff?lang=en").get_data(as_text=True)
    fields = {
        **_form_fields(page, "add-form"),
        "name": "郑师傅",
        "display_name": "郑工",
        "role": "technician",
        "qc_inspector": "y",
        "phone": "13700000000",
        "badge": "6001",
        "pin": "6060",
    }
    added = manager.post("/admin/staff", data=fields)
    assert added.status_code == 303 and added.location == "/admin/staff"
    # A double click: the same key answers with the first result, nobody twice.
    assert manager.post("/admin/staff", data=fields).status_code == 303
    listed = manager.get("/admin/staff?lang=en").get_data(as_text=True)
    assert "Added: 郑师傅." in listed and "6060" not in listed
    with core.db.read() as session:
        [person] = session.query(StaffUser).filter_by(name="郑师傅").all()
        person_id = person.id
        assert person.qualifications == ["qc_inspector"] and person.display_name == "郑工"

    question = manager.get(f"/admin/staff/{person_id}/deactivate?lang=en")
    assert question.status_code == 200
    assert "Deactivate 郑师傅?" in question.get_data(as_text=True)
    action = f"/admin/staff/{person_id}/deactivate"
    hidden = _hidden(question.get_data(as_text=True), action)
    forged = manager.post(action, data={k: v for k, v in hidden.items() if k != "csrf_token"})
    assert forged.status_code == 400  # CSRFProtect refuses it before the view
    assert current_user(core, person_id).active is True
    done = manager.post(action, data=hidden)
    assert done.status_code == 303 and done.location == "/admin/staff"
    assert current_user(core, person_id).active is False
    after = manager.get("/admin/staff?lang=en").get_data(as_text=True)
    assert "Deactivated: 郑师傅." in after and "Reactivate" in after


def current_user(core: Core, user_id: int) -> StaffUser:
    with core.db.read() as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        session.expunge(user)
        return user


def test_a_refused_form_says_why_and_shows_no_secret(app: Any, core: Core, shop: Shop) -> None:
    manager = _manager(app, core, shop)
    page = manager.get("/admin/staff?lang=en").get_data(as_text=True)
    fields = {
        **_form_fields(page, "add-form"),
        "name": "王师傅",
        "role": "technician",
        "badge": "7001",
        "pin": "97531",
        "password": "secret pass 9",
    }
    refused = manager.post("/admin/staff?lang=en", data=fields)
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "Someone in this shop already has this name." in text
    assert "97531" not in text and "secret pass 9" not in text
    assert 'value="7001"' in text  # what may be shown back is kept


def test_an_edit_on_an_old_page_shows_the_current_state(app: Any, core: Core, shop: Shop) -> None:
    manager = _manager(app, core, shop)
    user_id = shop.technicians[0]
    page = manager.get(f"/admin/staff/{user_id}?lang=en").get_data(as_text=True)
    old = _form_fields(page, "edit-form")
    # Someone else changes the phone meanwhile.
    person = current(manager, shop, user_id)
    assert (
        patch(manager, shop, user_id, {"version": person["version"], "phone": "110"}).status_code
        == 200
    )
    form = {**old, "name": "王师傅", "role": "technician", "badge": "1001", "phone": "120"}
    stale = manager.post(f"/admin/staff/{user_id}?lang=en", data=form)
    assert stale.status_code == 409
    text = stale.get_data(as_text=True)
    assert "Someone else changed this person first." in text and 'value="110"' in text
    assert current_user(core, user_id).phone == "110"
    fresh = {**form, **_form_fields(text, "edit-form")}
    saved = manager.post(f"/admin/staff/{user_id}", data=fresh)
    assert saved.status_code == 303 and current_user(core, user_id).phone == "120"
