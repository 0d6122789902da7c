"""Alembic environment: runs on the connection Baylight hands it (see
``shared.persistence.database.upgrade_schema``), or on BAYLIGHT_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from shared.persistence.models import Base, import_all_models

import_all_models()

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    from shared.config import Settings
    from shared.persistence.database import normalise_url

    engine = create_engine(normalise_url(Settings.from_env().database_url))
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
