"""Orphan blobs: what a crash leaves in the blobs directory goes after a grace period, and nothing else.

Real blobs, real file rows (SQLite, or PostgreSQL under RETRIEVD_TEST_DATABASE=postgres): files
uploaded through the FileService, strays written as a crash would leave them, ages set with os.utime.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrievd.config import Settings
from retrievd.core import Core
from retrievd.ids import new_id
from retrievd.services.expiration import ExpirationScheduler
from retrievd.services.files import ORPHAN_BLOB_GRACE_S, FileService
from retrievd.services.projects import ProjectService
from retrievd.store.models import File

OLD = 2 * ORPHAN_BLOB_GRACE_S


@pytest.fixture()
def core(tmp_path: Path) -> Iterator[Core]:
    core = Core(Settings(data_dir=tmp_path))
    try:
        yield core
    finally:
        core.close()


def project(core: Core) -> str:
    return ProjectService(core.db).create_project("sweep").id


def upload(core: Core, project_id: str, text: str) -> str:
    return FileService(core).create(project_id, io.BytesIO(text.encode()), f"{text}.txt", "assistants").id


def stray(core: Core, name: str) -> str:
    """A blob with no row, as a kill between writing a blob and committing its row leaves one."""
    core.blobs.path(name).write_bytes(b"bytes nobody will ever ask for")
    return name


def age(core: Core, name: str, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(core.settings.blobs_dir / name, (t, t))


def blobs(core: Core) -> set[str]:
    return {p.name for p in core.settings.blobs_dir.iterdir()}


def test_only_old_blobs_without_a_row_are_swept(core: Core) -> None:
    files = FileService(core)
    owner = project(core)
    old_file, new_file = upload(core, owner, "kept"), upload(core, owner, "fresh")
    old_orphan, new_orphan = stray(core, new_id("file-")), stray(core, new_id("file-"))
    old_partial, new_partial = stray(core, new_id("file-") + ".partial"), stray(core, new_id("file-") + ".partial")
    half_deleted = upload(core, owner, "half-deleted")
    with core.db.session() as s:  # a kill after a delete's row went, before its blob did
        s.delete(s.get(File, half_deleted))
    not_ours = stray(core, "notes.txt")  # an operator's file in the directory: not a blob name
    for name in (old_file, old_orphan, old_partial, half_deleted, not_ours):
        age(core, name, OLD)
    for name in (new_file, new_orphan, new_partial):
        age(core, name, ORPHAN_BLOB_GRACE_S - 60)

    removed = files.sweep_orphan_blobs()

    assert sorted(removed) == sorted([old_orphan, old_partial, half_deleted])
    assert blobs(core) == {old_file, new_file, new_orphan, new_partial, not_ours}
    assert files.path(owner, old_file).read_text() == "kept"  # a row's blob is never touched, however old
    assert files.sweep_orphan_blobs() == []


def test_a_grace_period_of_its_own_spares_younger_orphans(core: Core) -> None:
    orphan = stray(core, new_id("file-"))
    age(core, orphan, 600)
    assert FileService(core).sweep_orphan_blobs(grace_s=900) == []
    assert FileService(core).sweep_orphan_blobs(grace_s=300) == [orphan]


def test_the_maintenance_scheduler_sweeps_at_start(core: Core, caplog: pytest.LogCaptureFixture) -> None:
    owner = project(core)
    kept = upload(core, owner, "kept")
    orphans = {stray(core, new_id("file-")) for _ in range(3)}
    for name in (kept, *orphans):
        age(core, name, OLD)
    caplog.set_level(logging.INFO, logger="retrievd.expiration")
    scheduler = ExpirationScheduler(core, interval_s=0.05)
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while blobs(core) & orphans:
            assert time.monotonic() < deadline, "orphan blobs still there"
            time.sleep(0.05)
    finally:
        scheduler.stop()
    assert blobs(core) == {kept}
    assert "removed 3 orphan blobs" in caplog.messages
