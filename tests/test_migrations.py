"""The migrations are the schema.

The models and the Alembic migrations are written by hand, separately; if
they drift, a fresh install and an upgraded one run on different schemas.
Alembic's own comparison finds the drift on both supported databases. The
SQLite durability settings are checked on the connections Baylight really
hands out, since ``synchronous`` is per connection and not stored in the file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text

from shared import persistence
from shared.persistence.database import (
    MIGRATIONS,
    Database,
    newest_revision,
    schema_is_current,
    upgrade_schema,
)
from shared.persistence.models import Base

SYNCHRONOUS_FULL = 2


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'schema.db'}")
    upgrade_schema(database)
    yield database
    database.dispose()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    upgrade_schema(database)
    yield database
    database.dispose()


def _all_models() -> MetaData:
    """Every table the code declares: model modules beside models.py register
    on the same ``Base`` only once imported, so import them all."""
    prefix = persistence.__name__ + "."
    for module in pkgutil.iter_modules(persistence.__path__, prefix):
        if not module.ispkg:
            importlib.import_module(module.name)
    return Base.metadata


def _schema_differences(database: Database) -> list[Any]:
    """What Alembic's autogenerate would write to bring the live schema to
    the models: nothing, when the migrations are complete."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, _all_models()))


def _assert_no_drift(database: Database) -> None:
    differences = _schema_differences(database)
    assert not differences, "migrations and models differ:\n" + "\n".join(
        str(difference) for difference in differences
    )


def _revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_sqlite_schema_matches_the_models(sqlite_database: Database) -> None:
    assert _revision(sqlite_database) == ScriptDirectory(str(MIGRATIONS)).get_current_head()
    _assert_no_drift(sqlite_database)


@pytest.mark.postgres
def test_postgres_schema_matches_the_models(postgres_database: Database) -> None:
    assert postgres_database.engine.dialect.name == "postgresql"
    assert _revision(postgres_database) == ScriptDirectory(str(MIGRATIONS)).get_current_head()
    _assert_no_drift(postgres_database)


def test_the_newest_revision_is_alembic_s_head(tmp_path: Path) -> None:
    """Starts skip Alembic when the database stands at ``newest_revision``
    (read off the file names): it must be Alembic's head, and a database
    one migration behind is not current (Alembic runs for it)."""
    assert newest_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()
    database = Database(f"sqlite:///{tmp_path / 'behind.db'}")
    try:
        assert not schema_is_current(database)  # empty: no alembic_version yet
        upgrade_schema(database)
        assert schema_is_current(database)
        previous = ScriptDirectory(str(MIGRATIONS)).get_revision(newest_revision()).down_revision
        with database.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": previous})
        assert not schema_is_current(database)
    finally:
        database.dispose()


def test_upgrade_is_idempotent(sqlite_database: Database) -> None:
    """Every start runs the upgrade; on a current schema it must change nothing."""
    upgrade_schema(sqlite_database)
    _assert_no_drift(sqlite_database)


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_database: Database) -> None:
    """A commit that returned is on disk (FULL), and readers never block the
    writer (WAL), on every connection, the write path's included."""
    for _ in range(2):
        with sqlite_database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == SYNCHRONOUS_FULL
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with sqlite_database.write() as session:
        assert session.execute(text("PRAGMA synchronous")).scalar() == SYNCHRONOUS_FULL
