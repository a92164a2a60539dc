"""Ingestion in groups (`retrievd.ingest.pipeline.group_handlers`): a group's files share one
statement per step, and each file still ends as if it had been ingested alone."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select

from retrievd.api import schemas
from retrievd.config import Settings
from retrievd.core import Core
from retrievd.ingest.pipeline import group_handlers, job_handlers
from retrievd.jobs.worker import WorkerPool
from retrievd.services.files import FileService
from retrievd.services.projects import ProjectService
from retrievd.services.vector_stores import VectorStoreService
from retrievd.store.models import Chunk, Job


def test_a_file_attached_twice_before_it_is_ingested_is_ingested_once(
    assets_ready: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    core = Core(Settings(data_dir=tmp_path))
    try:
        ProjectService(core.db).bootstrap("sk-groups-test")
        project = next(p.id for p in ProjectService(core.db).list_projects() if p.is_admin)
        stores = VectorStoreService(core)
        store = stores.create(project, schemas.CreateVectorStoreRequest(name="groups")).id
        files = FileService(core)
        twice = files.create(project, io.BytesIO(b"Glacier retreat in the Alps. " * 300), "alps.txt", "assistants").id
        once = files.create(project, io.BytesIO(b"Tide tables for the harbour."), "tides.txt", "assistants").id
        for file_id in (twice, once, twice):  # the second attach queues a second ingest job
            stores.add_file(project, store, schemas.CreateVectorStoreFileRequest(file_id=file_id))

        pool = WorkerPool(core.queue, job_handlers(core), group_handlers=group_handlers(core))
        with caplog.at_level(logging.WARNING, logger="retrievd.jobs"):
            pool.drain()
        assert not caplog.records  # one group of three jobs, never run again one at a time

        with core.db.session() as s:
            kinds = s.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)).all()
            rows = dict(s.execute(select(Chunk.file_id, func.count()).group_by(Chunk.file_id)).all())
        assert sorted(kinds) == [("index_file", "done", 2), ("ingest_file", "done", 3)]
        for file_id in (twice, once):
            row = stores.get_file(project, store, file_id)
            assert row.status == "completed"
            assert core.index.count(store, file_id) == rows[file_id]
        assert rows[twice] > 1  # several chunks, each stored once
        assert stores.get(project, store).usage_bytes == sum(
            stores.get_file(project, store, f).usage_bytes for f in (twice, once)
        )
    finally:
        core.close()
