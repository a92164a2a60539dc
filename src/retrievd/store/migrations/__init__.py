"""Schema migrations (Alembic), applied by every process when it opens the database.

Concurrent starts (API replicas, workers) take turns: the first upgrades the schema under a lock
(a transaction-scoped advisory lock on PostgreSQL, a file lock beside a SQLite database), the
others then find it at head. A database made before migrations existed (by `create_all`) is
stamped with the baseline it matches, then upgraded.

A change to a model needs a migration, written with
`alembic -c src/retrievd/store/migrations/alembic.ini revision --autogenerate -m "..."`;
tests/test_postgres_schema.py fails while the models and the migrations differ.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine

SCRIPTS = Path(__file__).resolve().parent
BASELINE = "0001"
_ADVISORY_LOCK = 0x7265747269657664  # "retrievd"


def register_tables() -> None:
    """Import every table module, so that Base.metadata holds the whole schema."""
    from retrievd.store import models, runtime_models, usage_models  # noqa: F401


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the latest revision (a no-op when it is there already)."""
    with _file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
        tables = set(inspect(conn).get_table_names())
        config = alembic_config(conn)
        if "alembic_version" not in tables and "projects" in tables:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
