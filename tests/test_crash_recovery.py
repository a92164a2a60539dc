"""SIGKILL the server in the middle of ingestion; after a restart every file completes exactly once.

The kill lands while the batch's files are being parsed: their jobs, claimed as one group, are
running. The restarted server takes the group back and finishes it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import openai
from sqlalchemy import func, select

from tests.conftest import ADMIN_KEY, DOCS, free_port, serve_process, wait_for_store

FILES = ["norwich-city.txt", "fake.docx", "layout-parser-paper-fast.pdf", "example-10k-1p.html", "fake-power-point.pptx", "fake.odt"]


def test_sigkill_during_ingestion_then_restart_completes_every_file_once(assets_ready: None, tmp_path: Path) -> None:
    port = free_port()
    proc = serve_process(tmp_path, port)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=ADMIN_KEY, max_retries=0)
    ids = [client.files.create(file=(n, (DOCS / n).read_bytes()), purpose="assistants").id for n in FILES]
    store = client.vector_stores.create(name="crash")
    client.vector_stores.file_batches.create(store.id, file_ids=ids)
    deadline = time.time() + 120
    while _running_jobs(tmp_path) < 2 and time.time() < deadline:
        time.sleep(0.02)
    counts = client.vector_stores.retrieve(store.id).file_counts
    assert counts.in_progress == len(FILES), "ingestion went on before the kill; the test needs more work in flight"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    proc = serve_process(tmp_path, port)
    try:
        final = wait_for_store(client, store.id)
        assert final.file_counts.completed == len(FILES), final.file_counts
        usage = final.usage_bytes
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)

    from retrievd.config import Settings
    from retrievd.core import Core
    from retrievd.store.models import Chunk, VectorStoreFile

    core = Core(Settings(data_dir=tmp_path))
    try:
        with core.db.session() as s:
            rows = s.execute(select(VectorStoreFile).where(VectorStoreFile.vector_store_id == store.id)).scalars().all()
            chunk_bytes = s.execute(select(func.sum(Chunk.usage_bytes)).where(Chunk.vector_store_id == store.id)).scalar()
        for row in rows:
            assert row.chunk_count > 0
            assert core.index.count(store.id, row.file_id) == row.chunk_count, row.file_id
        assert core.index.count(store.id) == sum(r.chunk_count for r in rows)
        assert chunk_bytes == usage == sum(r.usage_bytes for r in rows)
    finally:
        core.close()


def _running_jobs(data_dir: Path) -> int:
    from retrievd.config import Settings
    from retrievd.store.db import Database
    from retrievd.store.models import Job

    db = Database(Settings(data_dir=data_dir).sqlalchemy_url)
    try:
        with db.session() as s:
            return s.execute(select(func.count()).select_from(Job).where(Job.status == "running")).scalar_one()
    finally:
        db.dispose()
