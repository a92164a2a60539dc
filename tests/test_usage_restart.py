"""SIGKILL the server while files are indexed and removed: after restarts no ledger entry is missing.

Each byte change and its ledger row commit in one transaction, so whatever a kill interrupts, every
store's ledger still adds up to its usage_bytes, and `retrievd usage verify` finds no difference
between the bytes billed and the points in the index.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import openai
import pytest
from sqlalchemy import select

from retrievd.config import Settings
from retrievd.core import Core
from retrievd.store.models import VectorStoreFile
from retrievd.store.usage_models import UsageLedgerEntry
from retrievd.usage.verify import verify
from tests.conftest import ADMIN_KEY, DOCS, free_port, wait_for_store
from tests.conftest import serve_process as _serve

FILES = [
    "norwich-city.txt",
    "book-war-and-peace-1p.txt",
    "fake.docx",
    "example-10k-1p.html",
    "fake-power-point.pptx",
    "fake.odt",
]


@pytest.mark.slow
def test_killed_servers_lose_no_ledger_entry(assets_ready: None, tmp_path: Path) -> None:
    port = free_port()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=ADMIN_KEY, max_retries=0)
    proc = _serve(tmp_path, port)
    ids = {n: client.files.create(file=(n, (DOCS / n).read_bytes()), purpose="assistants").id for n in FILES}
    store = client.vector_stores.create(name="billed", file_ids=list(ids.values()))
    deadline = time.time() + 120
    while client.vector_stores.retrieve(store.id).file_counts.completed < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # in the middle of the batch
    proc.wait()

    proc = _serve(tmp_path, port)
    wait_for_store(client, store.id)
    client.vector_stores.files.delete(ids["fake.docx"], vector_store_id=store.id)
    client.files.delete(ids["fake.odt"])
    scratch = wait_for_store(
        client, client.vector_stores.create(name="scratch", file_ids=[ids["norwich-city.txt"]]).id
    )
    assert scratch.usage_bytes > 0
    client.vector_stores.delete(scratch.id)
    proc.send_signal(signal.SIGKILL)  # right after the removals, purges possibly still queued
    proc.wait()

    proc = _serve(tmp_path, port)  # takes up the queued purges
    try:
        usage = wait_for_store(client, store.id).usage_bytes
        time.sleep(2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)

    core = Core(Settings(data_dir=tmp_path))
    try:
        report = verify(core)
        assert report.ok, report.differences
        assert (report.stores, report.files, report.pending) == (2, 4, 0)
        with core.db.session() as s:
            entries = s.execute(select(UsageLedgerEntry).order_by(UsageLedgerEntry.id)).scalars().all()
            files = (
                s.execute(select(VectorStoreFile).where(VectorStoreFile.vector_store_id == store.id))
                .scalars()
                .all()
            )
        indexed = {(e.vector_store_id, e.delta_bytes) for e in entries if e.reason == "file_indexed"}
        assert all((store.id, f.usage_bytes) in indexed for f in files)
        assert sum(e.delta_bytes for e in entries if e.vector_store_id == store.id) == usage
        assert [e.reason for e in entries if e.vector_store_id == scratch.id] == [
            "file_indexed",
            "store_deleted",
        ]
        assert sorted(e.reason for e in entries if e.reason == "file_removed") == [
            "file_removed",
            "file_removed",
        ]
    finally:
        core.close()
