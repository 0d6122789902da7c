"""Engine, sessions and the write path.

Writes are short transactions that do no other I/O, serialized in-process by
one lock (a green lock once eventlet or gevent has patched ``threading``), so
SQLite never sees two writers from one process and never deadlocks under green
threads. SQLite runs in WAL mode with ``synchronous=FULL``: a commit that
returned is on disk. On PostgreSQL the shop row lock (see services) orders
writers across processes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from shared.persistence.off_hub import run_off_hub

MIGRATIONS = Path(__file__).with_name("migrations")


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Every SQLite connection's settings (the benchmark's floor uses them too)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Deleted rows are overwritten, not left in free pages: customer data
    # the retention job removes must not linger in the file (not every
    # SQLite build turns this on by default).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def normalise_url(url: str) -> URL:
    """Accept the usual spellings; PostgreSQL goes through psycopg2 so that
    psycogreen can make it cooperative under eventlet and gevent."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


class Database:
    """One per process: the engine, a session factory and the write lock."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"future": True}
        if self.is_sqlite:
            database = self.url.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # A pooled connection is used by one green thread at a time (the
            # pool checks it out); reusing connections avoids re-running the
            # PRAGMAs and a WAL checkpoint on every close.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
            kwargs.update(pool_size=8, max_overflow=32, pool_timeout=10)
            if database in ("", ":memory:"):
                kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=10)
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_lock = threading.Lock()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; nothing it does is committed."""
        session = self.sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One short write transaction, committed on success, rolled back on error."""
        with self.write_lock, self._transaction() as session:
            yield session

    @contextmanager
    def write_if_free(self) -> Iterator[Session | None]:
        """``write()`` when no other write of this process is under way, else
        None at once: for a write that is only a hint (a token's last use),
        which a read request must never wait behind a command for (a command
        may hold the lock while PostgreSQL makes it wait for a row)."""
        if not self.write_lock.acquire(blocking=False):
            yield None
            return
        try:
            with self._transaction() as session:
                yield session
        finally:
            self.write_lock.release()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """The write transaction itself (the caller holds the write lock).

        Every write commits with ``sync_commit``, its disk wait off the hub,
        not only the commands': a token's last use or a screen's last-seen
        time committed in place held every green thread for the fsync (and
        for a WAL checkpoint when that commit crossed the threshold), 10-120
        ms each in the busy dealer, where 50 API tokens' first uses of a
        minute each wrote one."""
        session = self.sessions()
        try:
            with session.begin():
                if self.is_sqlite:
                    # Take SQLite's write lock before the first read: the
                    # seq and queue-number reads must not race a writer in
                    # another process (the CLI, a second server).
                    session.connection().exec_driver_sql("BEGIN IMMEDIATE")
                yield session
                if session.in_transaction():  # not rolled back by the caller
                    self.sync_commit(session)
        finally:
            session.close()

    def sync_commit(self, session: Session) -> None:
        """Commit ``session``'s transaction now, the disk wait off the hub.

        For use inside ``write()`` just before leaving it: pending ORM
        changes are flushed here, then SQLite's commit (the ``fsync`` of
        ``synchronous=FULL``) runs on a real thread (``run_off_hub``), so
        under eventlet or gevent the process keeps serving while the disk
        syncs. The commit ``write()`` then makes finds nothing left to do.
        PostgreSQL's driver already waits cooperatively (psycogreen), so its
        commit stays where it is."""
        session.flush()
        if not self.is_sqlite:
            return
        raw = session.connection().connection.dbapi_connection
        assert raw is not None
        if not raw.in_transaction:
            return  # committed already (a command batch commits before it emits)
        run_off_hub(raw.commit)

    def dispose(self) -> None:
        self.engine.dispose()


def newest_revision() -> str:
    """The head of the migration chain, read off the file names: each
    migration is ``NNNN_what.py`` with ``revision = "NNNN"`` and the one
    before it as ``down_revision`` (tests/test_migrations.py holds this
    equal to Alembic's own head)."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def schema_is_current(database: Database) -> bool:
    """The database already stands at the newest migration. Every server
    start and CLI command asks; answering with one query instead of Alembic
    saves the CPU of importing it (about 0.7 s) and of reading the chain."""
    try:
        with database.engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
            return list(found) == [newest_revision()]
    except DBAPIError:  # no schema yet
        return False


def upgrade_schema(database: Database) -> None:
    """Bring the schema to the newest migration (Alembic), creating it if new."""
    if schema_is_current(database):
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection_url"] = database.url
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
