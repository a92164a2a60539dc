"""Alembic's entry point: migrate the connection `retrievd.store.migrations.upgrade` hands over,
or, from the `alembic` command line, the database the `RETRIEVD_*` settings name."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from retrievd.store.db import Base, make_engine
from retrievd.store.migrations import register_tables

register_tables()


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _migrate(connection)
else:
    from retrievd.config import Settings

    engine = make_engine(Settings().sqlalchemy_url)
    with engine.begin() as conn:
        _migrate(conn)
    engine.dispose()
