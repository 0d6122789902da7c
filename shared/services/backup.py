"""Backup and restore of the embedded SQLite database with SQLite's online
backup API: a consistent copy while the server keeps running and writing.
PostgreSQL installations use pg_dump / pg_restore (docs/OPERATIONS.md)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from shared.config import Settings
from shared.persistence.database import Database
from shared.services.core import Core


class BackupError(RuntimeError):
    """The backup or restore could not be done; nothing was changed."""


def _sqlite_path(database: Database) -> Path:
    if not database.is_sqlite or not database.url.database:
        raise BackupError("backup/restore here is for SQLite; use pg_dump for PostgreSQL")
    return Path(database.url.database)


def _verify(path: Path) -> None:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            status = connection.execute("PRAGMA integrity_check").fetchone()[0]
            version = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as failure:
        raise BackupError(f"{path} is not a Baylight database: {failure}") from None
    if status != "ok" or version is None:
        raise BackupError(f"{path} failed its integrity check: {status}")


def backup(core: Core, target: str) -> int:
    """Copy the live database to ``target`` (a new file); returns its size."""
    source = _sqlite_path(core.db)
    destination = Path(target)
    if destination.exists():
        raise BackupError(f"{destination} exists; choose a new file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    # closing(): sqlite3's own context manager commits but leaves the
    # connection open, and an open reader keeps the live WAL from folding.
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(partial)) as copy:
        live.backup(copy)
    _verify(partial)
    partial.replace(destination)
    return destination.stat().st_size


def restore(settings: Settings, source: str) -> None:
    """Replace the configured database's content with the backup at ``source``,
    through the same API so that a reader never sees a half-written file."""
    backup_path = Path(source)
    if not backup_path.is_file():
        raise BackupError(f"no backup at {backup_path}")
    _verify(backup_path)
    database = Database(settings.database_url)
    live_path = _sqlite_path(database)
    live_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        closing(sqlite3.connect(backup_path)) as saved,
        closing(sqlite3.connect(live_path)) as live,
    ):
        saved.backup(live)
    database.dispose()
    _verify(live_path)
