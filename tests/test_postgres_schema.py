"""The schema comes from Alembic migrations, the same on SQLite and PostgreSQL, applied at every start."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from retrievd.store.db import Base, Database
from retrievd.store.migrations import BASELINE, alembic_config, register_tables
from retrievd.store.models import Project
from tests.conftest import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'retrievd.db'}"
        return
    try:
        with postgres_database() as pg_url:
            yield pg_url
    except Exception as e:  # noqa: BLE001
        if "connect" in str(e).lower():
            pytest.skip(f"PostgreSQL is not reachable: {e}")
        raise


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_the_migrations_build_exactly_the_models(url: str) -> None:
    """Fails when a model changed without a migration (see retrievd.store.migrations)."""
    db = Database(url)
    db.migrate()
    register_tables()
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert differences == []
    assert _revision(db) == _head()
    db.dispose()


def test_replicas_starting_together_migrate_once(url: str) -> None:
    def start(_: int) -> str | None:
        db = Database(url)
        try:
            db.migrate()
            return _revision(db)
        finally:
            db.dispose()

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(start, range(6))) == {_head()}


def test_a_database_made_before_migrations_is_adopted(url: str) -> None:
    db = Database(url)
    with db.engine.begin() as conn:  # the baseline's tables without Alembic's mark: a `create_all` database
        command.upgrade(alembic_config(conn), BASELINE)
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO projects VALUES ('proj_old', 'kept', 'active', false, 0, NULL, NULL)"))
    db.migrate()
    assert "alembic_version" in inspect(db.engine).get_table_names()
    assert _revision(db) == _head()
    with db.session() as s:
        assert s.scalar(select(Project.name).where(Project.id == "proj_old")) == "kept"
    db.dispose()
