"""Ingestion jobs: parse -> chunk -> embed -> index, then one transaction marks the file completed.

Points are written before the database says `completed`, so `completed` always means searchable.
A crash anywhere re-runs the job: point ids and chunk rows are keyed by (store, file, chunk index),
so a re-run overwrites instead of duplicating.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, select

from retrievd.errors import AssetMissingError
from retrievd.index.base import IndexPoint, Sparse
from retrievd.ingest.chunk import chunk_elements
from retrievd.ingest.parse import parse_file
from retrievd.ingest.types import Chunk, FileRejected
from retrievd.store.models import Chunk as ChunkRow
from retrievd.store.models import File, Job, VectorStore, VectorStoreFile
from retrievd.usage.bytes import chunk_usage_bytes
from retrievd.usage.ledger import lock_store, record_change
from retrievd.usage.quota import QuotaExceeded

if TYPE_CHECKING:
    from retrievd.core import Core

log = logging.getLogger("retrievd.ingest")


def job_handlers(core: Core) -> dict[str, Callable[[Job], None]]:
    return {
        "ingest_file": lambda job: ingest_file(core, job.vector_store_id or "", job.file_id or ""),
        "reindex_file": lambda job: reindex_file(core, job.vector_store_id or "", job.file_id or ""),
        "purge": lambda job: purge(core, job.vector_store_id or "", job.file_id),
    }


def _payload(file: File, row: VectorStoreFile, chunk_text: str, page: int | None, section: str | None) -> dict:
    return {"text": chunk_text, "page": page, "section": section, "filename": file.filename, "attributes": row.attributes or {}}


def _fail(core: Core, store_id: str, file_id: str, code: str, message: str) -> None:
    with core.db.session() as s:
        row = s.get(VectorStoreFile, (store_id, file_id))
        if row is not None and row.status == "in_progress":
            row.status = "failed"
            row.last_error = {"code": code, "message": message}


def _store_avg_len(core: Core, store_id: str, texts: list[str]) -> float:
    """BM25's average document length, fixed by the first file a store indexes."""
    with core.db.session() as s:
        store = s.get(VectorStore, store_id)
        if store is not None and store.bm25_avg_len:
            return store.bm25_avg_len
        lengths = core.bm25.token_lengths(texts)
        avg = max(1.0, float(np.mean(lengths))) if lengths else 1.0
        if store is not None:
            store.bm25_avg_len = avg
        return avg


def ingest_file(core: Core, store_id: str, file_id: str) -> None:
    with core.db.session() as s:
        row = s.get(VectorStoreFile, (store_id, file_id))
        file = s.get(File, file_id)
        if row is None or row.status != "in_progress":
            return  # deleted or cancelled before we got to it
        if file is None:
            row.status = "failed"
            row.last_error = {"code": "invalid_file", "message": "The file was deleted before it could be indexed."}
            return
        max_tokens, overlap = row.max_chunk_size_tokens, row.chunk_overlap_tokens
    try:
        elements = parse_file(
            core.blobs.path(file_id),
            file.filename,
            timeout_s=core.settings.parse_timeout_s,
            memory_mb=core.settings.parse_memory_mb,
        )
        chunks = chunk_elements(elements, max_tokens=max_tokens, overlap_tokens=overlap)
        if not chunks:
            raise FileRejected("invalid_file", "The file contains no text that could be extracted.")
    except FileRejected as e:
        _fail(core, store_id, file_id, e.code, e.message)
        return
    except AssetMissingError as e:
        _fail(core, store_id, file_id, "server_error", str(e))
        return
    write_chunks(core, store_id, file, chunks)


def write_chunks(core: Core, store_id: str, file: File, chunks: list[Chunk]) -> None:
    texts = [c.text for c in chunks]
    dense = core.embedder.embed_documents(texts)
    sparse = core.bm25.encode_documents(texts, _store_avg_len(core, store_id, texts))
    dim = dense.shape[1]
    with core.db.session() as s:
        row = s.get(VectorStoreFile, (store_id, file.id))
        if row is None or row.status != "in_progress":
            return
        points = [
            IndexPoint(store_id, file.id, c.index, dense[i].tolist(), sparse[i], _payload(file, row, c.text, c.page, c.section))
            for i, c in enumerate(chunks)
        ]
    sizes = [chunk_usage_bytes(c.text, c.page, c.section, dim, len(sparse[i].indices)) for i, c in enumerate(chunks)]
    total = sum(sizes)
    index = core.index
    index.delete_file(store_id, file.id)
    index.upsert(points)
    index.flush()
    with core.db.session() as s:
        lock_store(s, store_id)
        row = s.get(VectorStoreFile, (store_id, file.id))
        store = s.get(VectorStore, store_id)
        if row is None or store is None or row.status != "in_progress":
            # Removed or cancelled while we worked: what we wrote must go too.
            index.delete_file(store_id, file.id)
            return
        try:
            record_change(s, store, total - row.usage_bytes, "file_indexed", enforce_quota=True)
        except QuotaExceeded as e:
            # Nothing of this file stays: no points, no chunk rows, no bytes.
            index.delete_file(store_id, file.id)
            record_change(s, store, -row.usage_bytes, "file_failed")
            s.execute(delete(ChunkRow).where(ChunkRow.vector_store_id == store_id, ChunkRow.file_id == file.id))
            row.usage_bytes, row.chunk_count = 0, 0
            row.status, row.last_error = "failed", {"code": "invalid_file", "message": e.message}
            return
        s.execute(delete(ChunkRow).where(ChunkRow.vector_store_id == store_id, ChunkRow.file_id == file.id))
        for i, c in enumerate(chunks):
            s.add(
                ChunkRow(
                    vector_store_id=store_id,
                    file_id=file.id,
                    chunk_index=c.index,
                    text=c.text,
                    token_count=c.token_count,
                    page=c.page,
                    section=c.section,
                    dense=np.asarray(dense[i], dtype="<f4").tobytes(),
                    usage_bytes=sizes[i],
                )
            )
        row.usage_bytes = total
        row.chunk_count = len(chunks)
        row.status = "completed"
        row.last_error = None


def points_from_rows(core: Core, store_id: str, file_id: str) -> list[IndexPoint]:
    """Rebuild a file's points from the database, without parsing or embedding again."""
    with core.db.session() as s:
        row = s.get(VectorStoreFile, (store_id, file_id))
        file = s.get(File, file_id)
        store = s.get(VectorStore, store_id)
        if row is None or file is None or store is None:
            return []
        chunks = list(
            s.execute(
                select(ChunkRow)
                .where(ChunkRow.vector_store_id == store_id, ChunkRow.file_id == file_id)
                .order_by(ChunkRow.chunk_index)
            ).scalars()
        )
        avg_len = store.bm25_avg_len or 1.0
        sparse: list[Sparse] = core.bm25.encode_documents([c.text for c in chunks], avg_len)
        return [
            IndexPoint(
                store_id,
                file_id,
                c.chunk_index,
                np.frombuffer(c.dense, dtype="<f4").tolist(),
                sparse[i],
                _payload(file, row, c.text, c.page, c.section),
            )
            for i, c in enumerate(chunks)
        ]


def reindex_file(core: Core, store_id: str, file_id: str) -> None:
    points = points_from_rows(core, store_id, file_id)
    if points:
        core.index.upsert(points)
        core.index.flush()


def purge(core: Core, store_id: str, file_id: str | None) -> None:
    if file_id is None:
        core.index.delete_store(store_id)
    else:
        with core.db.session() as s:
            if s.get(VectorStoreFile, (store_id, file_id)) is not None:
                return  # the file was added again since; its ingestion owns the points now
        core.index.delete_file(store_id, file_id)
    core.index.flush()
