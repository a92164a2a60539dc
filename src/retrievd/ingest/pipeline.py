"""Ingestion jobs, in two steps that may run in different processes:

1. `ingest_file` (any worker, any machine): parse -> chunk -> embed, then one transaction replaces
   the file's chunk rows (text + float32 dense vector: the source of truth) and queues `index_file`.
2. `index_file` (a process that writes the index): the rows become points (BM25 re-encoded from
   the text), are upserted and flushed, then one transaction counts the bytes and marks the file
   `completed`. With an embedded Qdrant Edge shard only the process that opened it runs this step,
   so workers in other processes never need the shard; with a Qdrant server, every process can.

Both steps run in groups (`group_handlers`): a worker takes up to GROUP_SIZE queued jobs of a kind
at once, so a batch of small files shares one embedding call, one transaction, one upsert and one
flush instead of paying each per file (bench/small_files.py). Each file's outcome is its own: a
file rejected by the parser fails alone, and a group that raises is run again job by job.

Points are written before the database says `completed`, so `completed` always means searchable.
A crash anywhere re-runs a job: point ids and chunk rows are keyed by (store, file, chunk index),
so a re-run overwrites instead of duplicating.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, func, insert, select

from retrievd.errors import AssetMissingError
from retrievd.index.base import IndexPoint, Sparse
from retrievd.ingest.chunk import chunk_elements
from retrievd.ingest.parse import parse_files
from retrievd.ingest.types import Chunk, Element, FileRejected
from retrievd.jobs.queue import MAX_ATTEMPTS
from retrievd.jobs.worker import GroupHandler, Handler
from retrievd.store.models import Chunk as ChunkRow
from retrievd.store.models import File, Job, VectorStore, VectorStoreFile
from retrievd.usage.bytes import chunk_usage_bytes
from retrievd.usage.ledger import lock_store, record_change, record_changes
from retrievd.usage.quota import Allowance, QuotaExceeded

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from retrievd.core import Core

log = logging.getLogger("retrievd.ingest")

INGEST_JOBS = ("ingest_file",)
# Jobs that write the index: run only by a process that may (see Core.writes_index).
INDEX_JOBS = ("index_file", "reindex_file", "reindex_store", "purge")


# Files a worker takes at once: enough that small files' embedding runs in full batches and their
# fixed costs (transactions, flushes) are shared; few enough that a group's work stays short.
GROUP_SIZE = 64


def job_handlers(core: Core, kinds: tuple[str, ...] = INGEST_JOBS + INDEX_JOBS) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {
        "ingest_file": lambda job: _file_jobs(core, [job], ingest_files),
        "index_file": lambda job: _file_jobs(core, [job], index_files),
        "reindex_file": lambda job: reindex_file(core, job.vector_store_id or "", job.file_id or ""),
        "reindex_store": lambda job: reindex_store(core, job.vector_store_id or ""),
        "purge": lambda job: purge(core, job.vector_store_id or "", job.file_id),
    }
    return {kind: handlers[kind] for kind in kinds}


def group_handlers(core: Core, kinds: tuple[str, ...] = INGEST_JOBS + INDEX_JOBS) -> dict[str, GroupHandler]:
    """The handlers of the kinds that run in groups (see `retrievd.jobs.worker`)."""
    handlers: dict[str, GroupHandler] = {
        "ingest_file": lambda jobs: _file_jobs(core, jobs, ingest_files),
        "index_file": lambda jobs: _file_jobs(core, jobs, index_files),
    }
    return {kind: handler for kind, handler in handlers.items() if kind in kinds}


FileKey = tuple[str, str]  # (vector_store_id, file_id)


def _file_jobs(core: Core, jobs: list[Job], step: Callable[[Core, list[FileKey]], None]) -> None:
    """Run an ingestion step over the jobs' files, failing a file (not only its job) once its
    attempts are spent, including when each attempt killed its worker (the job comes back claimed
    more than MAX_ATTEMPTS times): a file never stays `in_progress` for good. A group that raises
    is run again one job at a time by the worker pool, so the last attempt is always a job's own."""
    files: list[FileKey] = []
    for job in jobs:
        key = (job.vector_store_id or "", job.file_id or "")
        if job.attempts > MAX_ATTEMPTS:
            _fail(core, *key, "server_error", "Indexing this file stopped its worker repeatedly.")
        else:
            files.append(key)
    try:
        step(core, files)
    except Exception:
        if len(jobs) == 1 and files and jobs[0].attempts >= MAX_ATTEMPTS:
            _fail(core, *files[0], "server_error", "The file could not be indexed.")
        raise


def _payload(file: File, row: VectorStoreFile, chunk: ChunkRow) -> dict:
    return {
        "text": chunk.text,
        "page": chunk.page,
        "page_end": chunk.page_end,
        "section": chunk.section,
        "filename": file.filename,
        "attributes": row.attributes or {},
    }


def _fail(core: Core, store_id: str, file_id: str, code: str, message: str) -> None:
    with core.db.session() as s:
        row = s.get(VectorStoreFile, (store_id, file_id))
        if row is not None and row.status == "in_progress":
            row.status = "failed"
            row.last_error = {"code": code, "message": message}


# A store's BM25 vectors are re-encoded once the mean chunk length moves this far from the avg_len
# they were encoded with: BM25 barely moves within it, and a growing store re-encodes ever more rarely.
AVG_LEN_DRIFT = 0.10


def _settle_avg_len(core: Core, store_id: str, file_ids: list[str]) -> float:
    """The BM25 avg_len to index `file_ids` with: the mean BM25 length of the store's completed
    chunks and these files'. The first files set it; when the mean drifts past AVG_LEN_DRIFT the
    store takes the new mean and its completed files are re-encoded (`reindex_store`)."""
    with core.db.session() as s:
        lock_store(s, store_id)
        store = s.get(VectorStore, store_id)
        if store is None:
            return 1.0
        current = store.bm25_avg_len
        counted = select(func.sum(ChunkRow.bm25_length), func.count(ChunkRow.bm25_length))
        counted = counted.join(
            VectorStoreFile,
            (VectorStoreFile.vector_store_id == ChunkRow.vector_store_id)
            & (VectorStoreFile.file_id == ChunkRow.file_id),
        ).where(
            ChunkRow.vector_store_id == store_id,
            (VectorStoreFile.status == "completed") | VectorStoreFile.file_id.in_(file_ids),
        )
        total, n = s.execute(counted).one()
        if not n:
            return current or 1.0
        mean = max(1.0, float(total) / n)
        if current and abs(mean - current) <= AVG_LEN_DRIFT * current:
            return current
        store.bm25_avg_len = mean
        if current:
            _queue_reencoding(s, store)
            log.info("store %s: BM25 avg_len %.1f -> %.1f, re-encoding its files", store_id, current, mean)
    return mean


def ingest_files(core: Core, files: list[FileKey]) -> None:
    """Parse and chunk the files (one the parser rejects fails alone; the group's small files go
    to the parser together), then embed and store them all together."""
    todo = _files_to_parse(core, files)
    parsed = parse_files(
        [(core.blobs.path(file.id), file.filename) for _, file, _ in todo],
        timeout_s=core.settings.parse_timeout_s,
        memory_mb=core.settings.parse_memory_mb,
    )
    chunked = []
    for (store_id, file, row), outcome in zip(todo, parsed, strict=True):
        try:
            if isinstance(outcome, Exception):
                raise outcome
            chunks = chunk_elements(
                _without_nul(outcome), max_tokens=row.max_chunk_size_tokens, overlap_tokens=row.chunk_overlap_tokens
            )
            if not chunks:
                raise FileRejected("invalid_file", "The file contains no text that could be extracted.")
        except FileRejected as e:
            _fail(core, store_id, file.id, e.code, e.message)
            continue
        except AssetMissingError as e:
            _fail(core, store_id, file.id, "server_error", str(e))
            continue
        chunked.append((store_id, file, chunks))
    write_chunks(core, chunked)


def _files_to_parse(core: Core, files: list[FileKey]) -> list[tuple[str, File, VectorStoreFile]]:
    """The files still to ingest, with their store rows, read in one transaction: skipped if
    deleted or cancelled before we got to them, failed if their file is gone."""
    todo = []
    with core.db.session() as s:
        found = {f.id: f for f in s.scalars(select(File).where(File.id.in_({f for _, f in files})))}
        rows = _store_rows(s, files)
        for store_id, file_id in dict.fromkeys(files):  # a file queued twice is ingested once
            row = rows.get((store_id, file_id))
            if row is None or row.status != "in_progress":
                continue  # deleted or cancelled before we got to it
            file = found.get(file_id)
            if file is None:
                row.status = "failed"
                row.last_error = {
                    "code": "invalid_file",
                    "message": "The file was deleted before it could be indexed.",
                }
                continue
            todo.append((store_id, file, row))
    return todo


def _store_rows(s: Session, files: list[FileKey]) -> dict[FileKey, VectorStoreFile]:
    """The files' rows in their stores, read in one query (a group's files are mostly of one store)."""
    query = select(VectorStoreFile).where(
        VectorStoreFile.vector_store_id.in_({store_id for store_id, _ in files}),
        VectorStoreFile.file_id.in_({file_id for _, file_id in files}),
    )
    wanted = set(files)
    return {key: r for r in s.scalars(query) if (key := (r.vector_store_id, r.file_id)) in wanted}


def _without_nul(elements: list[Element]) -> list[Element]:
    """NUL characters carry no text, and PostgreSQL's text columns refuse them: drop them before
    anything is chunked, embedded, counted or stored, so every database keeps the same chunks."""
    return [
        replace(e, text=e.text.replace("\x00", ""), section=e.section and e.section.replace("\x00", ""))
        for e in elements
    ]


def write_chunks(core: Core, files: list[tuple[str, File, list[Chunk]]]) -> None:
    """Embed the files' chunks (in one call: small files fill the model's batches together) and
    store them as each file's chunk rows, with the jobs that index them, in one transaction."""
    if not files:
        return
    texts = [c.text for _, _, chunks in files for c in chunks]
    dense = core.embedder.embed_documents(texts)
    # avg_len weighs the terms only when indexed; the number of terms (usage bytes) never needs it.
    sparse = core.bm25.encode_documents(texts, avg_len=1.0)
    bm25_lengths = core.bm25.token_lengths(texts)
    dim = dense.shape[1]
    values, jobs = [], []
    first = 0  # the index in `texts` of the file's first chunk
    with core.db.session() as s:
        rows = _store_rows(s, [(store_id, file.id) for store_id, file, _ in files])
        replaced: dict[str, list[str]] = {}  # store id -> the files whose rows are written anew
        for store_id, file, chunks in files:
            start, first = first, first + len(chunks)
            row = rows.get((store_id, file.id))
            if row is None or row.status != "in_progress":
                continue  # removed or cancelled while we worked
            replaced.setdefault(store_id, []).append(file.id)
            values += [
                {
                    "vector_store_id": store_id,
                    "file_id": file.id,
                    "chunk_index": c.index,
                    "text": c.text,
                    "token_count": c.token_count,
                    "page": c.page,
                    "page_end": c.page_end,
                    "section": c.section,
                    "dense": np.asarray(dense[i], dtype="<f4").tobytes(),
                    "usage_bytes": chunk_usage_bytes(c.text, c.page, c.page_end, c.section, dim, len(sparse[i].indices)),
                    "bm25_length": bm25_lengths[i],
                }
                for i, c in enumerate(chunks, start)
            ]
            jobs.append({"kind": "index_file", "project_id": row.project_id, "vector_store_id": store_id, "file_id": file.id})
        for store_id, file_ids in replaced.items():
            s.execute(delete(ChunkRow).where(ChunkRow.vector_store_id == store_id, ChunkRow.file_id.in_(file_ids)))
        if jobs:  # every file here has chunks: the parse step failed those without
            s.execute(insert(ChunkRow), values)
            s.execute(insert(Job), jobs)
    core.wake_workers("index_file")


def points_from_rows(
    core: Core, store_id: str, file_id: str, avg_len: float | None = None
) -> list[IndexPoint]:
    """A file's points, from its chunk rows: nothing is parsed or embedded again. BM25 weighs
    terms with `avg_len`, by default the store's."""
    return files_points(core, store_id, [file_id], avg_len).get(file_id, [])


def files_points(
    core: Core, store_id: str, file_ids: list[str], avg_len: float | None = None
) -> dict[str, list[IndexPoint]]:
    """`points_from_rows` of several files of a store, read in one query and BM25-encoded in one
    call: file id -> points."""
    with core.db.session() as s:
        store = s.get(VectorStore, store_id)
        if store is None:
            return {}
        avg_len = avg_len or store.bm25_avg_len or 1.0
        rows = {
            r.file_id: r
            for r in s.execute(
                select(VectorStoreFile).where(
                    VectorStoreFile.vector_store_id == store_id, VectorStoreFile.file_id.in_(file_ids)
                )
            ).scalars()
        }
        files = {f.id: f for f in s.execute(select(File).where(File.id.in_(file_ids))).scalars()}
        chunks = [
            c
            for c in s.execute(
                select(ChunkRow)
                .where(ChunkRow.vector_store_id == store_id, ChunkRow.file_id.in_(file_ids))
                .order_by(ChunkRow.file_id, ChunkRow.chunk_index)
            ).scalars()
            if c.file_id in rows and c.file_id in files
        ]
        sparse: list[Sparse] = core.bm25.encode_documents([c.text for c in chunks], avg_len)
        out: dict[str, list[IndexPoint]] = {f: [] for f in file_ids if f in rows and f in files}
        for c, vector in zip(chunks, sparse, strict=True):
            out[c.file_id].append(
                IndexPoint(
                    store_id,
                    c.file_id,
                    c.chunk_index,
                    np.frombuffer(c.dense, dtype="<f4").tolist(),
                    vector,
                    _payload(files[c.file_id], rows[c.file_id], c),
                )
            )
        return out


def index_files(core: Core, files: list[FileKey]) -> None:
    """Make the files' chunk rows searchable, count their bytes, and mark them `completed`: per
    store, one upsert, one flush and one transaction for all its files."""
    by_store: dict[str, list[str]] = {}
    for store_id, file_id in files:
        by_store.setdefault(store_id, []).append(file_id)
    for store_id, file_ids in by_store.items():
        _index_store_files(core, store_id, list(dict.fromkeys(file_ids)))
    core.wake_workers(*INDEX_JOBS)  # a re-encoding it queued


def _index_store_files(core: Core, store_id: str, file_ids: list[str]) -> None:
    with core.db.session() as s:
        pending = select(VectorStoreFile.file_id).where(
            VectorStoreFile.vector_store_id == store_id,
            VectorStoreFile.file_id.in_(file_ids),
            VectorStoreFile.status == "in_progress",
        )
        # the files to index, with their rows as read now
        seen = _chunk_rows(s, store_id, list(s.scalars(pending)))
    index = core.index
    points: dict[str, list[IndexPoint]] = {}
    avg_len = 0.0
    if seen:
        avg_len = _settle_avg_len(core, store_id, list(seen))
        points = files_points(core, store_id, list(seen), avg_len)
        for file_id in seen:
            index.delete_file(store_id, file_id)
        index.upsert([p for file_points in points.values() for p in file_points])
        index.flush()
    with core.db.session() as s:
        lock_store(s, store_id)
        store = s.get(VectorStore, store_id)
        if store is None:
            for file_id in file_ids:  # the store was deleted meanwhile: none of its points stay
                core.index.delete_file(store_id, file_id)
            return
        now_rows = _chunk_rows(s, store_id, list(seen))
        rows = _store_rows(s, [(store_id, f) for f in file_ids])
        allowance = Allowance(s, store.project_id)
        added = [
            _complete(
                core, s, store, f, rows.get((store_id, f)), seen.get(f), now_rows.get(f), len(points.get(f, ())),
                avg_len, allowance,
            )
            for f in file_ids
        ]
        record_changes(s, store, added, "file_indexed")


def _complete(
    core: Core,
    s: Session,
    store: VectorStore,
    file_id: str,
    row: VectorStoreFile | None,
    rows_seen: tuple[int, int] | None,
    rows_now: tuple[int, int] | None,
    indexed: int,
    avg_len: float,
    allowance: Allowance,
) -> int:
    """Mark an indexed file (its store `row`, None if removed) `completed` with its bytes counted
    (the caller holds the store's lock), unless it changed meanwhile: its chunk rows (count, bytes)
    were `rows_seen` when its points were made and are `rows_now`, `indexed` points were written.
    `rows_seen` None: not to be indexed. Returns the bytes the store gains, for the caller to
    record with the group's."""
    store_id = store.id
    if rows_seen is None or row is None or row.status != "in_progress":
        # Removed, cancelled or expired meanwhile: nothing of this file stays. (A removal took
        # its rows and bytes already; `completed` was this job's earlier run; `in_progress`
        # here is a newer ingestion, which queues its own index_file.)
        if row is not None and row.status == "cancelled":
            _discard(s, store, row, "file_cancelled")
        if row is None or row.status not in ("completed", "in_progress"):
            core.index.delete_file(store_id, file_id)
        return 0
    count, total = rows_now or (0, 0)
    if (count, total) != rows_seen or count != indexed:
        return 0  # a newer ingestion replaced the rows meanwhile; its own index_file applies them
    added = total - row.usage_bytes
    try:
        allowance.take(added)
    except QuotaExceeded as e:
        core.index.delete_file(store_id, file_id)
        _discard(s, store, row, "file_failed")
        row.status, row.last_error = "failed", {"code": "invalid_file", "message": e.message}
        return 0
    row.usage_bytes = total
    row.chunk_count = count
    row.status = "completed"
    row.last_error = None
    if store.bm25_avg_len != avg_len:
        # Another file moved avg_len while this one was indexed, maybe after a re-encoding that
        # missed this file: this one needs one too.
        _queue_reencoding(s, store)
    return added


def _chunk_rows(s: Session, store_id: str, file_ids: list[str]) -> dict[str, tuple[int, int]]:
    """How many chunk rows each file has, and their bytes: (0, 0) for one with none."""
    if not file_ids:
        return {}
    per_file = (
        select(ChunkRow.file_id, func.count(), func.coalesce(func.sum(ChunkRow.usage_bytes), 0))
        .where(ChunkRow.vector_store_id == store_id, ChunkRow.file_id.in_(file_ids))
        .group_by(ChunkRow.file_id)
    )
    found = {file_id: (int(count), int(total)) for file_id, count, total in s.execute(per_file)}
    return {file_id: found.get(file_id, (0, 0)) for file_id in file_ids}


def _discard(s: Session, store: VectorStore, row: VectorStoreFile, reason: str) -> None:
    """Take a file's chunk rows and bytes out (the caller holds the store's lock)."""
    record_change(s, store, -row.usage_bytes, reason)
    s.execute(delete(ChunkRow).where(ChunkRow.vector_store_id == row.vector_store_id, ChunkRow.file_id == row.file_id))
    row.usage_bytes, row.chunk_count = 0, 0


def _queue_reencoding(s: Session, store: VectorStore) -> None:
    """Queue the re-encoding of a store's BM25 vectors, unless one is queued already: it reads
    avg_len when it runs, so one waiting job serves every change made before it starts."""
    waiting = select(Job.id).where(
        Job.kind == "reindex_store", Job.vector_store_id == store.id, Job.status == "queued"
    )
    if s.scalar(waiting.limit(1)) is None:
        s.add(Job(kind="reindex_store", project_id=store.project_id, vector_store_id=store.id))


def reindex_store(core: Core, store_id: str) -> None:
    """Every completed file's points again, from their rows, with the store's avg_len now."""
    with core.db.session() as s:
        completed = select(VectorStoreFile.file_id).where(
            VectorStoreFile.vector_store_id == store_id, VectorStoreFile.status == "completed"
        )
        file_ids = list(s.scalars(completed))
    for start in range(0, len(file_ids), GROUP_SIZE):
        points = files_points(core, store_id, file_ids[start : start + GROUP_SIZE])
        core.index.upsert([p for file_points in points.values() for p in file_points])
    core.index.flush()


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
