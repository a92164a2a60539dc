"""The schema comes from Alembic migrations, the same on SQLite and PostgreSQL, applied at every start."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from retrievd.store.db import Base, Database
from retrievd.store.migrations import BASELINE, alembic_config, register_tables


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_the_migrations_build_exactly_the_models(any_database: str) -> None:
    """Fails when a model changed without a migration (see retrievd.store.migrations)."""
    db = Database(any_database)
    db.migrate()
    register_tables()
    with db.engine.connect() as conn:
        differences = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert differences == []
    assert _revision(db) == _head()
    db.dispose()


def test_replicas_starting_together_migrate_once(any_database: str) -> None:
    def start(_: int) -> str | None:
        db = Database(any_database)
        try:
            db.migrate()
            return _revision(db)
        finally:
            db.dispose()

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(start, range(6))) == {_head()}


def test_a_database_made_before_migrations_is_adopted(any_database: str) -> None:
    db = Database(any_database)
    with db.engine.begin() as conn:  # the baseline's tables without Alembic's mark: a `create_all` database
        command.upgrade(alembic_config(conn), BASELINE)
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO projects VALUES ('proj_old', 'kept', 'active', false, 0, NULL, NULL)"))
    db.migrate()
    assert "alembic_version" in inspect(db.engine).get_table_names()
    assert _revision(db) == _head()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM projects WHERE id = 'proj_old'")).scalar() == "kept"
    db.dispose()
