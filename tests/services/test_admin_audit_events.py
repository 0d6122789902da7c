"""Every administration command is recorded for the audit (issue 14, item 7),
through the real services, app and SQLite database.

What is proved here: each command of staff, bays, the shop profile, API
tokens and screens writes exactly one ``admin_event`` with who, what, when
and on what, and no PIN, password, token secret, pairing code or hash
anywhere in the table; a refused command and a command that changes nothing
record nothing; an Idempotency-Key replay records nothing more; the audit
merges the order log and the admin log newest first and pages through both
without a gap or a repeat, even when their clocks disagree and records
arrive between pages; the person, day and kind filters; the migration's
upgrade and downgrade.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select, text

from shared.domain import errors
from shared.domain.order import Actor
from shared.persistence.database import MIGRATIONS, Database, upgrade_schema
from shared.persistence.models import AdminEvent, ApiToken, StaffUser
from shared.services import (
    admin_events,
    api_tokens,
    audit,
    bay_admin,
    devices,
    shop_profile,
    staff_admin,
)
from shared.services.auth import resolve_bearer
from shared.services.commands import CommandRequest
from shared.services.core import Core
from tests.conftest import HandClock, Shop, seed_shop
from tests.kiosk.conftest import Api

# Secrets distinctive enough that finding them anywhere in the table's text
# can only mean they were written there.
PIN = "80648642"
NEW_PIN = "75318642"
PASSWORD = "geheim-Passwort-4711"
NEW_PASSWORD = "another-secret-0815"
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def actor_of(shop: Shop, role: str = "admin") -> Actor:
    principal = resolve_bearer(shop.core, shop.tokens[role])
    assert principal is not None
    return principal.actor()


def token_of(shop: Shop, role: str) -> int:
    """The id of one of the seeded shop's tokens (``token:<id>``)."""
    return int(actor_of(shop, role).ref.removeprefix("token:"))


def request_for(shop: Shop, role: str = "admin", key: str | None = None) -> CommandRequest:
    return CommandRequest(actor=actor_of(shop, role), shop_id=shop.shop_id, idempotency_key=key)


def recorded(core: Core, shop_id: int) -> list[Any]:
    """The shop's admin_event rows, oldest first (plain rows: they outlive
    the session)."""
    with core.db.read() as session:
        return list(
            session.execute(
                select(*AdminEvent.__table__.c)
                .where(AdminEvent.shop_id == shop_id)
                .order_by(AdminEvent.id)
            ).all()
        )


def table_text(core: Core) -> str:
    """Every value of every admin_event row, as the database holds it."""
    with core.db.read() as session:
        rows = session.execute(text("SELECT * FROM admin_event")).all()
    return "\n".join(repr(tuple(row)) for row in rows)


class Recorder:
    """Runs a command and returns the one record it must have written."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.seen = len(recorded(shop.core, shop.shop_id))

    def one(self, run: Any) -> Any:
        run()
        rows = recorded(self.shop.core, self.shop.shop_id)
        assert len(rows) == self.seen + 1, [(r.kind, r.data) for r in rows[self.seen :]]
        self.seen = len(rows)
        return rows[-1]

    def none(self, run: Any, refusal: type[Exception] | None = None) -> None:
        if refusal is None:
            run()
        else:
            with pytest.raises(refusal):
                run()
        assert len(recorded(self.shop.core, self.shop.shop_id)) == self.seen


def version(core: Core, shop: Shop, user_id: int) -> str:
    return str(staff_admin.get_staff(core, shop.shop_id, user_id)["version"])


# ------------------------------------------------------------ one record each


def test_each_staff_command_records_one_event_and_never_a_secret(core: Core, shop: Shop) -> None:
    core.clock = HandClock(MONDAY)
    admin = request_for(shop)
    record = Recorder(shop)
    added = record.one(
        lambda: staff_admin.add_staff(
            core,
            admin,
            staff_admin.NewStaff(
                name="赵师傅", role="technician", badge="3001", pin=PIN, phone="13900001111"
            ),
        )
    )
    [user_id] = [
        p["id"] for p in staff_admin.list_staff(core, shop.shop_id) if p["name"] == "赵师傅"
    ]
    assert (added.kind, added.target) == ("staff_added", f"staff:{user_id}")
    assert added.actor == admin.actor.ref and added.actor_name == "test admin"
    assert added.at == MONDAY
    assert added.data == {
        "name": "赵师傅",
        "display_name": "",
        "role": "technician",
        "qualifications": [],
        "badge": "3001",
        "phone_set": True,
        "pin_set": True,
        "password_set": False,
    }

    def edit() -> None:
        changes = staff_admin.StaffChanges(display_name="小赵", phone="13900002222")
        v = version(core, shop, user_id)
        staff_admin.edit_staff(core, admin, user_id, changes, version=v)

    changed = record.one(edit)
    assert changed.kind == "staff_changed"
    # The phone changed, its numbers are not kept.
    assert changed.data["changes"] == {"display_name": {"old": "", "new": "小赵"}, "phone": {}}
    pin_set = record.one(
        lambda: staff_admin.set_pin(
            core, admin, user_id, NEW_PIN, version=version(core, shop, user_id)
        )
    )
    assert (pin_set.kind, pin_set.data) == (
        "pin_set",
        {"name": "赵师傅", "changes": {}, "pin_set": True},
    )
    reset = record.one(
        lambda: staff_admin.reset_password(
            core, admin, user_id, PASSWORD, version=version(core, shop, user_id)
        )
    )
    assert reset.kind == "password_reset" and reset.data["password_reset"] is True
    unlocked = record.one(
        lambda: staff_admin.unlock(core, admin, user_id, version=version(core, shop, user_id))
    )
    assert (unlocked.kind, unlocked.target) == ("badge_unlocked", f"staff:{user_id}")
    gone = record.one(
        lambda: staff_admin.deactivate(core, admin, user_id, version=version(core, shop, user_id))
    )
    assert gone.kind == "staff_deactivated"
    assert gone.data["changes"] == {"active": {"old": True, "new": False}}
    back = record.one(
        lambda: staff_admin.reactivate(core, admin, user_id, version=version(core, shop, user_id))
    )
    assert back.kind == "staff_reactivated"
    # One PATCH of several changes is one command, one record, named by the
    # weightiest thing it did.
    several = record.one(
        lambda: staff_admin.update_staff(
            core,
            admin,
            user_id,
            staff_admin.StaffChanges(role="foreman", password=NEW_PASSWORD, active=False),
            version=version(core, shop, user_id),
        )
    )
    assert several.kind == "staff_deactivated"
    assert several.data["changes"]["role"] == {"old": "technician", "new": "foreman"}
    assert several.data["password_reset"] is True

    with core.db.read() as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        hashes = [user.pin_hash, user.password_hash]
    stored = table_text(core)
    for secret in (PIN, NEW_PIN, PASSWORD, NEW_PASSWORD, "13900001111", "13900002222", *hashes):
        assert secret and secret not in stored


def test_bays_shop_tokens_and_screens_record_one_event_each(core: Core, shop: Shop) -> None:
    core.clock = HandClock(MONDAY)
    admin = request_for(shop)
    record = Recorder(shop)
    bay = record.one(lambda: bay_admin.add_bay(core, admin, code="W01", name="洗车位", kind="wash"))
    assert (bay.kind, bay.target) == ("bay_added", "bay:W01")
    assert bay.data == {"name": "洗车位", "kind": "wash", "capacity": 1, "position": 4}
    out = record.one(
        lambda: bay_admin.change_bay(
            core,
            admin,
            "B02",
            bay_admin.BayChange(name="二号举升机", in_service=False, reason="举升机维修"),
        )
    )
    assert (out.kind, out.target) == ("bay_changed", "bay:B02")
    assert out.data["changes"] == {
        "name": {"old": "工位 B02", "new": "二号举升机"},
        "in_service": {"old": True, "new": False},
        "reason": {"old": "", "new": "举升机维修"},
    }
    moved = record.one(lambda: bay_admin.move_bay(core, admin, "W01", 1))
    assert moved.data["changes"] == {"position": {"old": 4, "new": 1}}

    def save_profile() -> None:
        current = shop_profile.profile(core, shop.shop_id)
        change = shop_profile.ProfileChange(
            hotline="400-800-1234", stage_labels={"en": {"in_progress": "On the lift"}}
        )
        shop_profile.update_profile(core, admin, change, version=current["version"])

    profile = record.one(save_profile)
    assert (profile.kind, profile.target) == ("shop_changed", "shop")
    assert profile.data["changes"]["hotline"] == {"old": "", "new": "400-800-1234"}
    assert profile.data["changes"]["stage_labels"]["new"] == {"en": {"in_progress": "On the lift"}}
    assert set(profile.data["changes"]) == {"hotline", "stage_labels"}

    secret = ""

    def make_token() -> None:
        nonlocal secret
        secret = api_tokens.create_token(
            core, admin.actor, shop_id=shop.shop_id, role="advisor", name="DMS 接口"
        )

    made = record.one(make_token)
    with core.db.read() as session:
        token = session.execute(select(ApiToken).where(ApiToken.name == "DMS 接口")).scalar_one()
        token_id, token_hash = token.id, token.token_hash
    assert (made.kind, made.target) == ("token_created", f"token:{token_id}")
    assert made.data == {"name": "DMS 接口", "role": "advisor"}
    assert resolve_bearer(core, secret) is not None
    revoked = record.one(lambda: api_tokens.revoke_token(core, admin, token_id))
    assert (revoked.kind, revoked.target) == ("token_revoked", f"token:{token_id}")

    started = devices.start_pairing(core, "board")
    device_id = 0

    def pair() -> None:
        nonlocal device_id
        device_id = devices.approve_pairing(
            core,
            started.user_code,
            kind="board",
            name="车间大屏",
            shop_id=shop.shop_id,
            actor=admin.actor,
        )

    paired = record.one(pair)
    assert (paired.kind, paired.target) == ("device_paired", f"device:{device_id}")
    assert paired.data == {"name": "车间大屏", "kind": "board"}
    device_token = str(devices.poll_pairing(core, started.device_code)["device_token"])
    renamed = record.one(
        lambda: devices.rename_device(
            core, device_id, "二号看板", shop_id=shop.shop_id, actor=admin.actor
        )
    )
    assert renamed.data["changes"] == {"name": {"old": "车间大屏", "new": "二号看板"}}
    gone = record.one(
        lambda: devices.revoke_device(core, device_id, shop_id=shop.shop_id, actor=admin.actor)
    )
    assert (gone.kind, gone.target) == ("device_revoked", f"device:{device_id}")

    rows = recorded(core, shop.shop_id)
    assert {r.actor for r in rows} == {admin.actor.ref}
    assert all(r.at == MONDAY for r in rows)
    stored = table_text(core)
    for leaked in (secret, token_hash, started.user_code, started.device_code, device_token):
        assert leaked not in stored


def test_refused_commands_and_commands_that_change_nothing_record_nothing(
    core: Core, shop: Shop
) -> None:
    admin, manager, advisor = (
        request_for(shop),
        request_for(shop, "manager"),
        request_for(shop, "advisor"),
    )
    other = seed_shop(core, slug="elsewhere")
    record = Recorder(shop)
    wang = shop.technicians[0]
    stale = version(core, shop, wang)
    record.one(
        lambda: staff_admin.edit_staff(
            core, admin, wang, staff_admin.StaffChanges(phone="1"), version=stale
        )
    )
    refusals: list[tuple[Any, type[Exception]]] = [
        # Taken name, a stale form, someone without the right, another shop's
        # person: refused inside the command, rolled back with it.
        (
            lambda: staff_admin.add_staff(
                core,
                admin,
                staff_admin.NewStaff(name="王师傅", role="advisor", password=PASSWORD),
            ),
            errors.ValidationFailed,
        ),
        (
            lambda: staff_admin.set_pin(core, admin, wang, NEW_PIN, version=stale),
            errors.StaleVersion,
        ),
        (
            lambda: staff_admin.deactivate(core, advisor, wang, version=version(core, shop, wang)),
            errors.Forbidden,
        ),
        (
            lambda: staff_admin.deactivate(
                core,
                admin,
                other.technicians[0],
                version=version(core, other, other.technicians[0]),
            ),
            errors.NotFound,
        ),
        (lambda: bay_admin.add_bay(core, admin, code="B01"), bay_admin.BayExists),
        (lambda: bay_admin.rename_bay(core, manager, "B99", "没有"), errors.NotFound),
        (
            lambda: shop_profile.update_profile(
                core, admin, shop_profile.ProfileChange(name="新名字"), version=999
            ),
            errors.StaleVersion,
        ),
        (
            lambda: api_tokens.create_token(
                core, manager.actor, shop_id=shop.shop_id, role="admin", name="升级"
            ),
            errors.Forbidden,
        ),
        (
            lambda: api_tokens.revoke_token(core, admin, token_of(other, "advisor")),
            errors.NotFound,
        ),
    ]
    for run, refusal in refusals:
        record.none(run, refusal)
    assert table_text(core).count(NEW_PIN) == 0

    # Saved as it was, revoked again, renamed to its own name: nothing changed.
    current = shop_profile.profile(core, shop.shop_id)
    record.none(
        lambda: shop_profile.update_profile(
            core,
            admin,
            shop_profile.ProfileChange(name=current["name"]),
            version=current["version"],
        )
    )
    record.none(lambda: bay_admin.rename_bay(core, admin, "B01", "工位 B01"))
    token_id = token_of(shop, "display-lounge")
    record.one(lambda: api_tokens.revoke_token(core, admin, token_id))
    record.none(lambda: api_tokens.revoke_token(core, admin, token_id))
    record.none(
        lambda: staff_admin.edit_staff(
            core,
            admin,
            wang,
            staff_admin.StaffChanges(phone="1"),
            version=version(core, shop, wang),
        )
    )
    # A screen command whose caller does not say who acts is not recorded.
    started = devices.start_pairing(core, "lounge")
    record.none(
        lambda: devices.approve_pairing(
            core, started.user_code, kind="lounge", name="休息区", shop_id=shop.shop_id
        )
    )
    # Another shop's screen is unknown, and nothing is recorded anywhere.
    theirs = devices.start_pairing(core, "board")
    their_device = devices.approve_pairing(
        core, theirs.user_code, kind="board", name="他们的屏", shop_id=other.shop_id
    )
    record.none(
        lambda: devices.rename_device(
            core, their_device, "我的", shop_id=shop.shop_id, actor=admin.actor
        ),
        errors.NotFound,
    )
    assert recorded(core, other.shop_id) == []


def test_a_secret_named_field_is_never_written(core: Core, shop: Shop) -> None:
    actor = actor_of(shop)
    with core.db.write() as session, pytest.raises(admin_events.SecretInAudit):
        admin_events.record(
            session,
            shop_id=shop.shop_id,
            actor=actor,
            at=MONDAY,
            kind="staff_changed",
            target="staff:1",
            data={"changes": {"pin_hash": {"old": "x", "new": "y"}}},
        )


def test_an_idempotency_key_replay_records_nothing_more(
    client: Any, core: Core, shop: Shop
) -> None:
    record = Recorder(shop)

    def twice(method: str, path: str, body: dict[str, Any], key: str) -> None:
        headers = shop.headers("admin", key)
        first = client.open(path, method=method, json=body, headers=headers)
        again = client.open(path, method=method, json=body, headers=headers)
        assert first.status_code < 300, first.get_json()
        assert again.headers["Idempotent-Replayed"] == "true"

    record.one(lambda: twice("POST", "/api/v1/bays", {"code": "A01", "name": "快修"}, "bay-a01"))
    wang = shop.technicians[0]
    record.one(
        lambda: twice(
            "PATCH",
            f"/api/v1/staff/{wang}",
            {"version": version(core, shop, wang), "pin": NEW_PIN},
            "pin-wang",
        )
    )
    token_id = token_of(shop, "display-board")
    record.one(lambda: twice("DELETE", f"/api/v1/tokens/{token_id}", {}, "revoke-board"))
    profile = client.get("/api/v1/shop", headers=shop.headers()).get_json()
    record.one(
        lambda: twice(
            "PATCH", "/api/v1/shop", {"version": profile["version"], "address": "深圳"}, "addr"
        )
    )
    # A refused first request binds its key to the refusal: its replay is
    # refused again and records nothing either.
    record.none(lambda: twice_refused(client, shop))
    assert NEW_PIN not in table_text(core)


def twice_refused(client: Any, shop: Shop) -> None:
    for _ in range(2):
        reply = client.post(
            "/api/v1/bays", json={"code": "B01"}, headers=shop.headers("admin", "bay-b01")
        )
        assert reply.status_code == 409


# ------------------------------------------------------------ the merged audit


def keys(page: audit.AuditPage) -> list[str]:
    return [entry.key for entry in page.entries]


def listing(core: Core, shop: Shop, limit: int, **query: Any) -> list[str]:
    """Every page from the newest on, ``limit`` at a time, concatenated."""
    found: list[str] = []
    cursor: audit.Cursor | None = None
    for _ in range(200):
        page = audit.audit_page(
            core,
            shop.shop_id,
            "Asia/Shanghai",
            audit.AuditQuery(before=cursor, limit=limit, **query),
        )
        found += keys(page)
        if page.next_before is None:
            return found
        # The cursor goes out as text and comes back parsed, as over HTTP.
        cursor = audit.Cursor.parse(page.next_before)
    raise AssertionError("no end of the pages")


def test_the_merged_audit_pages_without_gaps_or_repeats(
    client: Any, core: Core, shop: Shop
) -> None:
    """The two logs' clocks disagree on purpose: a clock set back makes an
    order event with a later seq older than admin records before it, and
    records share instants. Paged any way, the listing is one and the
    same, it holds every record once, and records written between pages
    never slip into them."""
    clock = HandClock(MONDAY)
    core.clock = clock
    api = Api(shop, client=client)
    admin = request_for(shop)
    codes = (f"M{n:02d}" for n in itertools.count())

    def bay() -> None:
        bay_admin.add_bay(core, admin, code=next(codes))

    api.create("粤B00001")
    clock.advance(minutes=1)
    bay()
    api.create("粤B00002")  # the same instant as the bay
    bay()
    clock.advance(minutes=1)
    bay()
    clock.now = MONDAY - timedelta(hours=1)  # set back
    api.create("粤B00003")
    clock.advance(minutes=30)
    bay()
    clock.now = MONDAY + timedelta(minutes=5)
    api.create("粤B00004")
    bay()
    bay()

    whole = listing(core, shop, audit.MAX_PAGE_SIZE)
    admin_ids = {f"a{r.id}" for r in recorded(core, shop.shop_id)}
    assert len(admin_ids) == 6 and admin_ids <= set(whole)
    orders = [k for k in whole if k.startswith("o")]
    assert len(orders) == 4 and len(whole) == len(set(whole)) == 10
    # Each log keeps its own order; the newest come first.
    assert orders == sorted(orders, key=lambda k: -int(k[1:]))
    times = {
        e.key: e.at
        for e in audit.audit_page(
            core, shop.shop_id, "Asia/Shanghai", audit.AuditQuery(limit=50)
        ).entries
    }
    assert times[whole[0]] == max(times.values())
    for limit in (1, 2, 3, 4, 7):
        assert listing(core, shop, limit) == whole, limit

    # Records written between pages stay out of the older pages, whichever
    # log the first page took from (or did not).
    for limit in (1, 2, 3):
        first = audit.audit_page(core, shop.shop_id, "Asia/Shanghai", audit.AuditQuery(limit=limit))
        clock.advance(minutes=1)
        bay()
        api.create(f"粤B1000{limit}")
        rest: list[str] = []
        cursor = first.next_before
        while cursor is not None:
            page = audit.audit_page(
                core,
                shop.shop_id,
                "Asia/Shanghai",
                audit.AuditQuery(before=audit.Cursor.parse(cursor), limit=limit),
            )
            rest += keys(page)
            cursor = page.next_before
        assert keys(first) + rest == whole, limit
        whole = listing(core, shop, audit.MAX_PAGE_SIZE)


def test_filters_by_person_day_and_kind(client: Any, core: Core, shop: Shop) -> None:
    clock = HandClock(datetime(2026, 3, 1, 15, 30, tzinfo=UTC))  # 23:30 in Shanghai
    core.clock = clock
    api = Api(shop, client=client)
    admin, manager = request_for(shop), request_for(shop, "manager")
    bay_admin.add_bay(core, admin, code="D01")
    clock.advance(minutes=1)
    api.create("粤B20001")
    clock.advance(hours=1)  # 2 March in Shanghai
    bay_admin.add_bay(core, manager, code="D02")
    clock.advance(minutes=1)
    api.create("粤B20002")

    def listed(**query: Any) -> list[tuple[str, str]]:
        reply = client.get("/api/v1/audit", query_string=query, headers=shop.headers())
        assert reply.status_code == 200, reply.get_json()
        return [(e["source"], e["type"]) for e in reply.get_json()["events"]]

    assert listed() == [
        ("order", "order_created"),
        ("admin", "bay_added"),
        ("order", "order_created"),
        ("admin", "bay_added"),
    ]
    assert listed(kind="admin") == [("admin", "bay_added")] * 2
    assert listed(kind="order") == [("order", "order_created")] * 2
    assert listed(day="2026-03-01") == [("order", "order_created"), ("admin", "bay_added")]
    manager_ref = manager.actor.ref
    assert listed(actor=manager_ref) == [("admin", "bay_added")]
    assert listed(actor=manager_ref, day="2026-03-01") == []
    # An order's events only: no administration record concerns an order.
    order_id = client.get("/api/v1/audit", query_string={"kind": "order"}, headers=shop.headers())
    first_order = order_id.get_json()["events"][-1]["order_id"]
    assert listed(order_id=first_order) == [("order", "order_created")]
    assert listed(order_id=first_order, kind="admin") == []
    # The CLI acts as the system, and is found under it.
    bay_admin.add_bay(
        core, CommandRequest(actor=api_tokens.CLI_ACTOR, shop_id=shop.shop_id), code="D03"
    )
    assert listed(actor="system") == [("admin", "bay_added")]

    event = client.get(
        "/api/v1/audit", query_string={"kind": "admin", "limit": 1}, headers=shop.headers()
    ).get_json()["events"][0]
    assert event["target"] == "bay:D03" and event["seq"] is None and event["order_id"] is None
    assert event["via"] == "system" and event["actor"] == "system:cli"
    for field, value in (("kind", "both"), ("before", "x1"), ("before", "a1"), ("before", "o1.o2")):
        refused = client.get("/api/v1/audit", query_string={field: value}, headers=shop.headers())
        assert refused.status_code == 422, (field, value)
        assert refused.get_json()["field"] == field
    # The cursor of the audit before admin records (a seq) still pages the
    # orders' events, and no admin record: all are newer than such a page.
    seqs = [
        e["seq"]
        for e in client.get(
            "/api/v1/audit", query_string={"kind": "order"}, headers=shop.headers()
        ).get_json()["events"]
    ]
    older = client.get(
        "/api/v1/audit", query_string={"before": str(seqs[0])}, headers=shop.headers()
    ).get_json()
    assert [e["seq"] for e in older["events"]] == seqs[1:]


# ------------------------------------------------------------ migration


def _migrate(database: Database, direction: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection_url"] = database.url
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def test_the_migration_upgrades_and_downgrades(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'admin-events.db'}")
    try:
        upgrade_schema(database)
        schema = inspect(database.engine)
        assert "admin_event" in schema.get_table_names()
        indexes = {i["name"]: i["column_names"] for i in schema.get_indexes("admin_event")}
        assert indexes["ix_admin_event_shop_at"] == ["shop_id", "at"]
        _migrate(database, "downgrade", "0016")
        assert "admin_event" not in inspect(database.engine).get_table_names()
        assert "privacy_log" in inspect(database.engine).get_table_names()
        _migrate(database, "upgrade", "head")
        assert "admin_event" in inspect(database.engine).get_table_names()
    finally:
        database.dispose()
