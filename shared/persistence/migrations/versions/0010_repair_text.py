"""repair stored text: every lone surrogate becomes U+FFFD

Before request text was checked, a JSON body could carry a lone surrogate as
an escape (``"a\\udc00b"``). JSON columns store it escaped, so the write
succeeded; every later read then failed to encode the row as UTF-8, and the
order, the event feed pages holding it and any replayed answer stayed broken
(HTTP 500) for good. This migration rewrites such values with U+FFFD, the
replacement character, in every table:

* JSON columns (order items and quotes, event data, stored idempotent
  answers, shop settings, …) on every database: each value is decoded,
  repaired and written back;
* text columns on SQLite, which stores what a client hands it: a surrogate
  written there as bytes (by a tool other than Baylight) cannot be read
  back as text, so the bytes are decoded here and the repaired text stored.
  PostgreSQL refuses such bytes on input, so its text columns cannot hold one.

Every table and column is found by reflection, so tables that later
migrations add were covered here as they were at this revision. Values are
only rewritten when they change; the repair is not undone by a downgrade (the
broken text is not worth restoring).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 08:00:00
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_SURROGATE = re.compile("[\ud800-\udfff]")
# JSON spells a surrogate \uD800–\uDFFF; every escape of one starts so
# (compared in lower case). A cheap filter in SQL before decoding in Python.
_ESCAPE_PATTERN = "%\\ud%"
# UTF-8-style bytes of a surrogate start with 0xED (then 0xA0–0xBF).
_SURROGATE_LEAD = b"\xed"


def _repair_text(value: str) -> str:
    """Pairs of surrogates become their character, lone ones U+FFFD.

    Deliberately a copy, not an import of ``shared.domain.text``: a migration
    must do the same thing forever, whatever the code around it becomes."""
    if not _SURROGATE.search(value):
        return value
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _repair(value: Any) -> Any:
    if isinstance(value, str):
        return _repair_text(value)
    if isinstance(value, list):
        return [_repair(item) for item in value]
    if isinstance(value, dict):
        return {_repair_text(key): _repair(item) for key, item in value.items()}
    return value


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def _repair_json(bind: sa.Connection, table: str, keys: list[str], column: str) -> int:
    value = sa.column(column, sa.JSON)
    target = sa.table(table, *(sa.column(key) for key in keys), value)
    as_text = sa.cast(sa.column(column), sa.Text)
    suspects = bind.execute(
        sa.select(*(target.c[key] for key in keys), as_text).where(
            sa.func.lower(as_text).like(_ESCAPE_PATTERN, escape="!")
        )
    ).all()
    repaired = 0
    for row in suspects:
        stored = row[-1]
        if stored is None:
            continue
        before = json.loads(stored)
        after = _repair(before)
        if after == before:
            continue  # only proper pairs (emoji) matched the filter
        where = sa.and_(*(target.c[key] == row[index] for index, key in enumerate(keys)))
        bind.execute(sa.update(target).where(where).values({column: after}))
        repaired += 1
    return repaired


def _repair_sqlite_text(bind: sa.Connection, table: str, keys: list[str], column: str) -> int:
    target = sa.table(table, *(sa.column(key) for key in keys), sa.column(column, sa.Text))
    as_bytes = sa.cast(sa.column(column), sa.LargeBinary)
    suspects = bind.execute(
        sa.select(*(target.c[key] for key in keys), as_bytes).where(
            sa.func.instr(as_bytes, sa.literal(_SURROGATE_LEAD, sa.LargeBinary)) > 0
        )
    ).all()
    repaired = 0
    for row in suspects:
        raw = bytes(row[-1])
        text = _repair_text(_decode(raw))
        if text.encode("utf-8") == raw:
            continue  # a character such as 퀀 (U+D000–U+D7FF), not a surrogate
        where = sa.and_(*(target.c[key] == row[index] for index, key in enumerate(keys)))
        bind.execute(sa.update(target).where(where).values({column: text}))
        repaired += 1
    return repaired


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    sqlite = bind.dialect.name == "sqlite"
    for table in inspector.get_table_names():
        keys = list(inspector.get_pk_constraint(table).get("constrained_columns") or [])
        if not keys:
            continue  # alembic_version: nothing people typed
        for column in inspector.get_columns(table):
            kind = column["type"]
            if column["name"] in keys:
                continue
            if isinstance(kind, sa.JSON):
                _repair_json(bind, table, keys, column["name"])
            elif sqlite and isinstance(kind, sa.String):
                _repair_sqlite_text(bind, table, keys, column["name"])


def downgrade() -> None:
    pass
