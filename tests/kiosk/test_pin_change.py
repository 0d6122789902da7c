"""A kiosk PIN an admin set or reset must be replaced by the technician's own
(issue 14, item 2), through the real app, its SQLite database, Flask-Limiter
and the Socket.IO server: the next sign-in gives a credential that opens
nothing but ``POST /kiosk/api/pin`` (every other kiosk call is 403
``pin_change_required``; REST v1 and the socket do not know it); the new PIN
follows the admin's rules, is not the given one, and is typed twice; once
chosen, the given PIN stops working and a fresh credential works as usual.
The sign-in's per-badge budget and the badge lock hold for the new endpoint
too."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain import errors
from shared.domain.order import Actor
from shared.domain.stages import Role
from shared.persistence.models import StaffUser
from shared.services import kiosk_login, setup, staff_admin
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.services.core import Core
from tests.conftest import HandClock, Shop
from tests.kiosk.conftest import Api
from tests.kiosk.test_kiosk_login import login, me, pair_kiosk

STAFF = "/api/v1/staff"
GIVEN = "2580"  # the PIN the admin sets for 王师傅 (badge 1001, seeded with 1234)
OWN = "135790"


def reset_pin(client: Any, shop: Shop, user_id: int, pin: str = GIVEN) -> Any:
    """The admin sets a new PIN through REST v1, as /admin/staff does through the service."""
    people = client.get(STAFF, headers=shop.headers("admin")).get_json()["staff"]
    [person] = [p for p in people if p["id"] == user_id]
    reply = client.patch(
        f"{STAFF}/{user_id}",
        json={"version": person["version"], "pin": pin},
        headers=shop.headers("admin"),
    )
    assert reply.status_code == 200, reply.get_json()
    return reply


def choose(client: Any, token: str, pin: str, repeat: str | None = None, **more: Any) -> Any:
    return client.post(
        "/kiosk/api/pin",
        json={"pin": pin, "repeat": pin if repeat is None else repeat, **more},
        headers={"Authorization": f"Bearer {token}"},
    )


def flag(core: Core, user_id: int) -> bool:
    with core.db.read() as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        return bool(user.must_change_pin)


def test_a_pin_set_by_an_admin_opens_only_the_choice_of_the_technicians_own(
    app: Any, client: Any, socketio: Any, shop: Shop, core: Core
) -> None:
    wang = shop.technicians[0]
    device = pair_kiosk(core, shop.shop_id)
    # A seeded PIN is the technician's own: nothing to change.
    before = login(client, device, "1001", "1234")
    assert before.status_code == 200 and before.get_json()["must_change_pin"] is False
    assert choose(client, before.get_json()["token"], OWN).get_json()["code"] == (
        "pin_change_not_required"
    )

    reset_pin(client, shop, wang)
    assert flag(core, wang)
    assert me(client, before.get_json()["token"]).status_code == 401  # a reset ends sessions
    assert login(client, device, "1001", "1234").status_code == 401  # the old PIN is dead

    signed_in = login(client, device, "1001", GIVEN)
    assert signed_in.status_code == 200, signed_in.get_json()
    body = signed_in.get_json()
    assert body["must_change_pin"] is True and body["user"]["id"] == wang
    pending = body["token"]
    # Every other kiosk call is refused with its own code; nothing else knows it.
    order = Api(shop, client).create("粤B·PIN01")
    for reply in (
        me(client, pending),
        client.post(
            f"/kiosk/api/orders/{order['id']}/start",
            json={"version": order["version"]},
            headers={"Authorization": f"Bearer {pending}"},
        ),
    ):
        assert reply.status_code == 403, reply.get_json()
        assert reply.mimetype == "application/problem+json"
        assert reply.get_json()["code"] == "pin_change_required"
    rest = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {pending}"})
    assert rest.status_code == 401
    assert not socketio.test_client(app, auth={"token": pending}).is_connected()
    assert kiosk_login.resolve_session(core, pending, touch=False) is None

    chosen = choose(client, pending, OWN)
    assert chosen.status_code == 200, chosen.get_json()
    fresh = chosen.get_json()
    assert fresh["must_change_pin"] is False and fresh["user"]["name"] == "王师傅"
    assert fresh["token"] != pending
    assert not flag(core, wang)
    # The credential opened with the given PIN is dead; the fresh one works.
    assert me(client, pending).status_code == 401
    assert me(client, fresh["token"]).status_code == 200
    socket = socketio.test_client(app, auth={"token": fresh["token"]})
    assert socket.is_connected()
    socket.disconnect()
    # The given PIN no longer works; the technician's own does, unlimited.
    assert login(client, device, "1001", GIVEN).status_code == 401
    again = login(client, device, "1001", OWN)
    assert again.status_code == 200 and again.get_json()["must_change_pin"] is False
    assert me(client, again.get_json()["token"]).status_code == 200


def test_the_new_pin_follows_the_admins_rules_and_is_not_the_given_one(
    client: Any, shop: Shop, core: Core
) -> None:
    wang = shop.technicians[0]
    reset_pin(client, shop, wang)
    pending = login(client, pair_kiosk(core, shop.shop_id), "1001", GIVEN).get_json()["token"]
    refusals = [
        (choose(client, pending, GIVEN), "pin", "same_pin"),
        (choose(client, pending, "12a4"), "pin", "pin_format"),
        (choose(client, pending, "123456789"), "pin", "pin_format"),
        (choose(client, pending, OWN, repeat="135791"), "repeat", "pin_mismatch"),
    ]
    for reply, field, reason in refusals:
        assert reply.status_code == 422, reply.get_json()
        problem = reply.get_json()
        assert problem["code"] == "validation_error"
        assert (problem["field"], problem["reason"]) == (field, reason)
    unknown = choose(client, pending, OWN, old="1234")
    assert unknown.status_code == 422 and unknown.get_json()["field"] == "old"
    # Nothing changed: still pending, and the given PIN still the one.
    assert flag(core, wang)
    assert me(client, pending).get_json()["code"] == "pin_change_required"


def test_refused_choices_use_the_sign_in_budget_of_the_badge(
    client: Any, shop: Shop, core: Core
) -> None:
    reset_pin(client, shop, shop.technicians[0])
    device = pair_kiosk(core, shop.shop_id)
    pending = login(client, device, "1001", GIVEN).get_json()["token"]
    for _ in range(5):
        assert choose(client, pending, GIVEN).status_code == 422
    waited = choose(client, pending, OWN)  # even a good choice waits
    assert waited.status_code == 429 and waited.get_json()["code"] == "rate_limited"
    assert 0 < int(waited.headers["Retry-After"]) <= 60
    # One budget: the badge's sign-in waits too, on another kiosk as well.
    other = pair_kiosk(core, shop.shop_id, "二号平板")
    assert login(client, other, "1001", GIVEN).status_code == 429
    assert login(client, other, "1002", "5678").status_code == 200


def test_a_locked_badge_and_an_idle_credential_refuse_the_change(
    client: Any, shop: Shop, core: Core
) -> None:
    """The service with a moving clock (Flask-Limiter's delays bypassed, as
    an attacker across many kiosks and windows would): wrong PINs still lock
    the badge while its PIN must be changed, the lock refuses the change as
    it refuses the sign-in, and a pending credential idles out like any."""
    clock = HandClock(datetime(2030, 1, 7, 2, 0, tzinfo=UTC))
    core.clock = clock
    wang = shop.technicians[0]
    reset_pin(client, shop, wang)
    kiosk = resolve_bearer(core, pair_kiosk(core, shop.shop_id))
    thief = resolve_bearer(core, pair_kiosk(core, shop.shop_id, "走廊平板"))
    assert kiosk is not None and thief is not None
    pending = kiosk_login.login(core, kiosk, "1001", GIVEN)
    assert pending.must_change_pin
    for _ in range(kiosk_login.LOCK_AFTER_FAILURES):
        clock.advance(seconds=10)
        with contextlib.suppress(kiosk_login.WrongPin):
            kiosk_login.login(core, thief, "1001", "0000")
    with pytest.raises(kiosk_login.BadgeLocked):
        kiosk_login.change_pin(core, pending.token, OWN, OWN)
    with pytest.raises(kiosk_login.BadgeLocked):
        kiosk_login.login(core, kiosk, "1001", GIVEN)
    assert flag(core, wang)
    # The foreman unlocks; a fresh sign-in with the given PIN is pending again.
    assert kiosk_login.unlock_badge(core, shop.shop_id, "1001", "车间主管")
    pending = kiosk_login.login(core, kiosk, "1001", GIVEN)
    assert pending.must_change_pin
    clock.advance(minutes=3, seconds=1)
    with pytest.raises(kiosk_login.SignedOut):
        kiosk_login.change_pin(core, pending.token, OWN, OWN)
    assert kiosk_login.resolve_pending(core, pending.token) is None
    # A second reset while a credential waits ends it too.
    pending = kiosk_login.login(core, kiosk, "1001", GIVEN)
    reset_pin(client, shop, wang, "8642")
    with pytest.raises(kiosk_login.SignedOut):
        kiosk_login.change_pin(core, pending.token, OWN, OWN)


def test_a_pin_its_owner_sets_is_not_forced_and_clears_the_mark(
    client: Any, shop: Shop, core: Core
) -> None:
    """An admin who also signs in on kiosks (with a badge) sets their own PIN
    on /admin/staff: theirs, so nothing to change; a PIN another admin set
    them is forced, and setting their own afterwards lifts it."""
    boss = setup.create_user(
        core,
        shop.shop_id,
        role="admin",
        name="郑经理",
        badge="9001",
        pin="4455",
        password="admin pass 1234",
    )
    own = CommandRequest(
        actor=Actor(name="郑经理", roles=frozenset({Role.ADMIN}), user_id=boss, ref=f"user:{boss}"),
        shop_id=shop.shop_id,
    )
    reset_pin(client, shop, boss, "7788")  # by the admin token: someone else
    assert flag(core, boss)
    version = staff_admin.get_staff(core, shop.shop_id, boss)["version"]
    outcome = staff_admin.set_pin(core, own, boss, "6677", version=version)
    assert outcome.status == 200
    assert not flag(core, boss)
    signed_in = login(client, pair_kiosk(core, shop.shop_id), "9001", "6677")
    assert signed_in.status_code == 200 and signed_in.get_json()["must_change_pin"] is False
    # The service's refusal for a credential that is no one's at all.
    with pytest.raises(errors.DomainError) as refused:
        kiosk_login.change_pin(core, "ks_" + "x" * 43, OWN, OWN)
    assert refused.value.status == 401


def test_the_kiosk_page_carries_the_words_of_the_pin_step(client: Any) -> None:
    page = client.get("/kiosk?lang=en").get_data(as_text=True)
    for words in ("Choose your own PIN", "New PIN again", "Save PIN"):
        assert words in page
    assert 'id="pin-change"' in page
