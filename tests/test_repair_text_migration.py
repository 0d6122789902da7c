"""Migration 0010 repairs text stored before request text was checked.

A database at revision 0009 gets rows holding lone surrogates the way the
old code stored them: JSON columns with the ``\\udc00`` escape (an event's
reason, an order's items, a stored idempotent answer) and, on SQLite, a text
column with a surrogate's bytes (as a tool other than Baylight could write
it). These rows are written with plain SQL, since today's code refuses such
text. After the upgrade every one reads back with U+FFFD in place of the
surrogate, proper surrogate pairs (an emoji) are left alone, and the app
serves the order and the event feed (200, strict UTF-8 JSON) where it
answered 500 before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from shared.config import Settings
from shared.persistence.database import MIGRATIONS, Database, upgrade_schema
from shared.services.auth import create_api_token
from tests.request_flow import readable

AT = "2026-11-28 07:00:00"
TOKEN = "t" * 43
# JSON text as the old code stored it: json.dumps escapes a lone surrogate.
EVENT_DATA = (
    '{"from_stage": "checked_in", "to_stage": "cancelled", "reason": "a\\udc00b", '
    '"pause_reason": null}'
)
ITEMS = '[{"title": "\\ud800\\u6362\\u6cb9", "labour_hours": 1.0}]'
QUOTES = (
    '[{"id": 1, "description": "\\ud83d\\ude00 ok", "labour_hours": 1.0, "price_cents": 100,'
    ' "status": "declined", "version": 2, "channel": "phone", "decided_at": null}]'
)
ANSWER = '{"id": 1, "note": "x\\udfff"}'


def _upgrade(database: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection_url"] = database.url
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _poison(database: Database) -> None:
    """One shop, one cancelled order and its event, one stored answer."""
    sqlite = database.is_sqlite
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO shop (id, slug, name, timezone, locale, last_seq, settings,"
                " created_at) VALUES (1, 'test', '测试店', 'Asia/Shanghai', 'zh_Hans', 1,"
                " :settings, :at)"
            ),
            {"settings": '{"greeting": "\\udc01hi"}', "at": AT},
        )
        # On SQLite the name is stored as bytes that decode to a surrogate.
        name = "CAST(X'61EDB08062' AS TEXT)" if sqlite else "'a?b'"
        connection.execute(
            text(
                "INSERT INTO repair_order (id, shop_id, number, business_day, plate, stage,"
                " pause_note, technicians, rework_count, worked_minutes, waiting, wash,"
                " priority, customer_name, customer_phone, vehicle_model, vehicle_vin,"
                " complaint, items, quotes, version, customer_token, created_at, updated_at,"
                " stage_entered_at, survey_comment) VALUES (1, 1, 1, '2026-11-28', '粤B12345',"
                f" 'cancelled', '', '[]', 0, 0.0, false, false, 'normal', {name}, '', '', '',"
                " :complaint, :items, :quotes, 2, :token, :at, :at, :at, '')"
            ),
            # 퀀 (U+D000) is encoded with the same lead byte as a surrogate.
            {"complaint": "퀀 异响", "items": ITEMS, "quotes": QUOTES, "token": TOKEN, "at": AT},
        )
        connection.execute(
            text(
                "INSERT INTO order_event (id, shop_id, seq, order_id, type, at, actor,"
                " actor_name, data) VALUES (1, 1, 1, 1, 'stage_changed', :at, 'token:1',"
                " 'test admin', :data)"
            ),
            {"data": EVENT_DATA, "at": AT},
        )
        connection.execute(
            text(
                'INSERT INTO idempotency_record (id, scope, "key", fingerprint, status, body,'
                " created_at) VALUES (1, 'shop:1', 'k1', :fingerprint, 200, :body, :at)"
            ),
            {"fingerprint": "0" * 64, "body": ANSWER, "at": AT},
        )


def _stored(database: Database, sql: str) -> Any:
    with database.engine.connect() as connection:
        value = connection.execute(text(sql)).scalar_one()
    return json.loads(value) if isinstance(value, str) else value


def _check(database: Database, settings: Settings) -> None:
    from shared.web.app import create_app

    app, _socketio = create_app(settings)
    core = app.extensions["baylight"]
    try:
        token = create_api_token(core, shop_id=1, role="admin", name="auditor")
        headers = {"Authorization": f"Bearer {token}"}
        client = app.test_client()
        response = client.get("/api/v1/orders/1", headers=headers)
        assert response.status_code == 200
        order = readable(response)
        assert order["history"][0]["data"]["reason"] == "a\ufffdb"
        assert order["items"][0]["title"] == "\ufffd换油"
        assert order["complaint"] == "퀀 异响"
        if database.is_sqlite:
            assert order["customer"]["name"] == "a\ufffdb"
        response = client.get("/api/v1/events?after=0", headers=headers)
        assert response.status_code == 200
        assert readable(response)["events"][0]["data"]["reason"] == "a\ufffdb"
    finally:
        core.db.dispose()

    assert _stored(database, "SELECT CAST(data AS TEXT) FROM order_event")["reason"] == "a\ufffdb"
    items = _stored(database, "SELECT CAST(items AS TEXT) FROM repair_order")
    assert items[0]["title"] == "\ufffd换油"
    quotes = _stored(database, "SELECT CAST(quotes AS TEXT) FROM repair_order")
    assert quotes[0]["description"] == "😀 ok"
    answer = _stored(database, "SELECT CAST(body AS TEXT) FROM idempotency_record")
    assert answer["note"] == "x\ufffd"
    assert _stored(database, "SELECT CAST(settings AS TEXT) FROM shop")["greeting"] == "\ufffdhi"


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {},
        database_url=f"sqlite:///{tmp_path / 'old.db'}",
        instance_path=tmp_path,
        async_mode="threading",
        testing=True,
        public_url="http://127.0.0.1:5000",
    )


@pytest.fixture
def old_database(sqlite_settings: Settings) -> Iterator[Database]:
    database = Database(sqlite_settings.database_url)
    yield database
    database.dispose()


def test_sqlite_rows_with_lone_surrogates_are_repaired(
    old_database: Database, sqlite_settings: Settings
) -> None:
    _upgrade(old_database, "0009")
    _poison(old_database)
    with old_database.engine.connect() as connection:
        stored = connection.execute(text("SELECT CAST(data AS TEXT) FROM order_event")).scalar()
        assert "\\udc00" in str(stored)  # the poison is really there
    upgrade_schema(old_database)
    _check(old_database, sqlite_settings)
    # A second start changes nothing (the migration has run once).
    upgrade_schema(old_database)
    _check(old_database, sqlite_settings)


@pytest.mark.postgres
def test_postgres_rows_with_lone_surrogates_are_repaired(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {},
        database_url=postgres_url,
        instance_path=tmp_path,
        async_mode="threading",
        testing=True,
        public_url="http://127.0.0.1:5000",
    )
    database = Database(postgres_url)
    try:
        _upgrade(database, "0009")
        _poison(database)
        upgrade_schema(database)
        _check(database, settings)
    finally:
        database.dispose()
