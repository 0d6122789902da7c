"""Migration 0013 (quote signatures, photo revisions) goes down to 0012 and
up again on a database that holds photos and signatures: down drops the
signatures and the photos' revision and keeps the photos; up gives every
photo from before it revision 1, and the app takes signatures again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from shared.config import Settings
from shared.persistence.database import MIGRATIONS, Database
from tests.conftest import Shop

from .conftest import Flow, decide, photo_bytes, signature_path, signature_png


def _migrate(database: Database, step: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection_url"] = database.url
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, step)(config, revision)


@pytest.fixture
def same_file(settings: Settings) -> Iterator[Database]:
    """A second handle on the app's database file, for Alembic."""
    database = Database(settings.database_url)
    yield database
    database.dispose()


def _columns(database: Database, table: str) -> set[str]:
    with database.engine.connect() as connection:
        return {c["name"] for c in inspect(connection).get_columns(table)}


def test_0013_follows_0012_on_the_one_chain_to_the_head() -> None:
    scripts = ScriptDirectory(str(MIGRATIONS))
    assert len(scripts.get_heads()) == 1
    chain = [script.revision for script in scripts.walk_revisions()]
    assert chain.index("0013") == chain.index("0012") - 1
    revision = scripts.get_revision("0013")
    assert revision is not None and revision.down_revision == "0012"


def test_down_to_0012_and_up_again_keeps_the_photos(
    photo_client: Any, shop: Shop, flow: Flow, same_file: Database
) -> None:
    order = flow.quoted_order(quotes=2)
    photo = photo_client.post(
        f"/api/v1/orders/{order['id']}/extra-work/2/photo",
        data=photo_bytes(),
        content_type="image/jpeg",
        headers=shop.headers("technician", str(uuid.uuid4())),
    )
    assert photo.status_code == 201
    decide(flow, order)
    signed = photo_client.put(
        signature_path(order["id"]),
        data=signature_png(),
        content_type="image/png",
        headers=shop.headers("advisor", str(uuid.uuid4())),
    )
    assert signed.status_code == 201
    shop.core.db.dispose()

    _migrate(same_file, "downgrade", "0012")
    with same_file.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        assert "quote_signature" not in tables
        assert connection.execute(text("SELECT quote_id FROM quote_photo")).all() == [(2,)]
    assert "revision" not in _columns(same_file, "quote_photo")

    _migrate(same_file, "upgrade", "head")
    with same_file.engine.connect() as connection:
        assert connection.execute(text("SELECT quote_id, revision FROM quote_photo")).all() == [
            (2, 1)
        ]
        assert connection.execute(text("SELECT count(*) FROM quote_signature")).scalar() == 0
    same_file.dispose()
    # The app works on the re-upgraded file: the signature can be taken again.
    again = photo_client.put(
        signature_path(order["id"]),
        data=signature_png(),
        content_type="image/png",
        headers=shop.headers("advisor", str(uuid.uuid4())),
    )
    assert again.status_code == 201, again.get_data(as_text=True)
