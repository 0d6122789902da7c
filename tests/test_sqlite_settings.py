"""Every SQLite connection the app opens has the settings durability and
privacy depend on: WAL, synchronous FULL, foreign keys, and secure delete
(what the retention job removes is overwritten, not left in free pages)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from shared.persistence.database import sqlite_pragmas
from shared.services.core import Core


def test_every_connection_has_the_settings(core: Core) -> None:
    with core.db.engine.connect() as connection:
        found = {
            name: connection.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "secure_delete")
        }
    assert found == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "secure_delete": 1}


def test_secure_delete_is_turned_on_even_where_the_build_leaves_it_off(tmp_path: Path) -> None:
    # Debian's SQLite turns it on by default; others do not: start from off.
    connection = sqlite3.connect(tmp_path / "plain.db")
    connection.execute("PRAGMA secure_delete=OFF")
    assert connection.execute("PRAGMA secure_delete").fetchone() == (0,)
    sqlite_pragmas(connection, None)
    assert connection.execute("PRAGMA secure_delete").fetchone() == (1,)
    connection.close()
