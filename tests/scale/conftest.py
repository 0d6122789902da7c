"""The PostgreSQL database the scale tests' workers share."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg2
import pytest

from tests.conftest import PG_ADMIN_URL, _postgres_available, need


@pytest.fixture(scope="module", name="scale_database")
def scale_database_fixture() -> Iterator[str]:
    """One fresh PostgreSQL database for the module: creating one costs
    seconds, and every test here works on orders of its own."""
    need(_postgres_available(), "PostgreSQL at " + PG_ADMIN_URL)
    name = f"baylight_scale_{secrets.token_hex(6)}"
    _admin(f'CREATE DATABASE "{name}"')
    yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    _admin(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
        f'DROP DATABASE IF EXISTS "{name}"',
    )


def _admin(*statements: str) -> None:
    """Run statements on a new admin connection (a test here restarts
    PostgreSQL, which would kill a connection held across the module)."""
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        admin.close()
