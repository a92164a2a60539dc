"""Vector stores, their files and file batches: the state machine of OpenAI's Vector Stores API.

Adding a file writes its store-file row and an ingestion job in one transaction; the job does the
work (see `retrievd.ingest.pipeline`). Removing a file deletes its rows and enqueues a purge of its
index points in one transaction too, so a crash at any point leaves nothing that outlives a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from retrievd.api import schemas
from retrievd.errors import APIError, invalid, not_found
from retrievd.ids import new_id
from retrievd.store.db import now
from retrievd.store.models import Chunk, File, FileBatch, Job, VectorStore, VectorStoreFile
from retrievd.store.pagination import Order, Page, paginate
from retrievd.usage.ledger import clear_store, lock_store, record_change
from retrievd.usage.quota import check_quota

if TYPE_CHECKING:
    from retrievd.core import Core

DAY = 86400


def mark_active(row: VectorStore) -> None:
    """Activity (docs/openai-behaviour.md: searches, runs' file_search, adding, changing or removing
    files, modifying the store): last_active_at moves, and expires_at, which is anchored on it."""
    if row.expired:
        return
    row.last_active_at = now()
    if row.expires_after_days:
        row.expires_at = row.last_active_at + row.expires_after_days * DAY


_STATUSES = ("in_progress", "completed", "failed", "cancelled")
# Each status's count of the selected store files, as columns of one SELECT.
_STATUS_COUNTS = [func.count().filter(VectorStoreFile.status == status) for status in _STATUSES]


def _counts(values: Sequence[int]) -> schemas.FileCounts:
    return schemas.FileCounts(**dict(zip(_STATUSES, values, strict=True)), total=sum(values))


class VectorStoreService:
    def __init__(self, core: Core) -> None:
        self.core = core

    # --- wire objects ---------------------------------------------------------------------------

    def store_object(self, s: Session, row: VectorStore) -> schemas.VectorStoreObject:
        # One statement, so usage_bytes and the counts are one snapshot: under PostgreSQL's READ
        # COMMITTED a worker committing between two statements would show a file `completed`
        # whose bytes are not yet in usage_bytes.
        usage, *values = s.execute(
            select(VectorStore.usage_bytes, *_STATUS_COUNTS)
            .outerjoin(VectorStoreFile, VectorStoreFile.vector_store_id == VectorStore.id)
            .where(VectorStore.id == row.id)
            .group_by(VectorStore.usage_bytes)
        ).one()
        counts = _counts(values)
        status = "expired" if row.expired else "in_progress" if counts.in_progress else "completed"
        return schemas.VectorStoreObject(
            id=row.id,
            created_at=row.created_at,
            name=row.name,
            usage_bytes=usage,
            file_counts=counts,
            status=status,
            expires_after=(
                schemas.StoreExpiresAfter(anchor="last_active_at", days=row.expires_after_days)
                if row.expires_after_days
                else None
            ),
            expires_at=row.expires_at,
            last_active_at=row.last_active_at,
            metadata=row.metadata_ or {},
        )

    @staticmethod
    def file_object(row: VectorStoreFile) -> schemas.VectorStoreFileObject:
        return schemas.VectorStoreFileObject(
            id=row.file_id,
            usage_bytes=row.usage_bytes,
            created_at=row.created_at,
            vector_store_id=row.vector_store_id,
            status=row.status,  # type: ignore[arg-type]
            last_error=schemas.LastError(**row.last_error) if row.last_error else None,
            chunking_strategy=schemas.StaticChunkingStrategy(
                static=schemas.StaticChunking(
                    max_chunk_size_tokens=row.max_chunk_size_tokens,
                    chunk_overlap_tokens=row.chunk_overlap_tokens,
                )
            ),
            attributes=row.attributes or {},
        )

    def batch_object(self, s: Session, row: FileBatch) -> schemas.FileBatchObject:
        counts = _counts(s.execute(select(*_STATUS_COUNTS).where(VectorStoreFile.batch_id == row.id)).one())
        status = row.status
        if status == "in_progress" and not counts.in_progress:
            status = "failed" if counts.total and counts.failed == counts.total else "completed"
        return schemas.FileBatchObject(
            id=row.id, created_at=row.created_at, vector_store_id=row.vector_store_id, status=status, file_counts=counts
        )

    # --- lookups ----------------------------------------------------------------------------------

    @staticmethod
    def _store(s: Session, project_id: str, store_id: str) -> VectorStore:
        row = s.get(VectorStore, store_id)
        if row is None or row.project_id != project_id:
            raise not_found("vector store", store_id, param="vector_store_id")
        return row

    @staticmethod
    def _store_file(s: Session, project_id: str, store_id: str, file_id: str) -> VectorStoreFile:
        row = s.get(VectorStoreFile, (store_id, file_id))
        if row is None or row.project_id != project_id:
            raise not_found("file", file_id, param="file_id")
        return row

    def _chunking(self, strategy: schemas.AutoChunkingParam | schemas.StaticChunkingParam | None) -> tuple[int, int]:
        if isinstance(strategy, schemas.StaticChunkingParam):
            return strategy.static.max_chunk_size_tokens, strategy.static.chunk_overlap_tokens
        from retrievd.ingest.chunk import auto_chunking

        return auto_chunking(self.core.embedder)

    # --- stores -----------------------------------------------------------------------------------

    def create(self, project_id: str, req: schemas.CreateVectorStoreRequest) -> schemas.VectorStoreObject:
        with self.core.db.session() as s:
            t = now()
            row = VectorStore(
                id=new_id("vs_"),
                project_id=project_id,
                name=req.name or "",
                description=req.description,
                created_at=t,
                last_active_at=t,
                metadata_=req.metadata or {},
            )
            if req.expires_after:
                row.expires_after_days = req.expires_after.days
                row.expires_at = t + req.expires_after.days * DAY
            s.add(row)
            s.flush()
            if req.file_ids:
                chunking = self._chunking(req.chunking_strategy)
                self._require_files(s, project_id, req.file_ids, "file_ids")
                check_quota(s, project_id, 1)
                self._check_capacity(s, row.id, req.file_ids, "file_ids")
                self._attach(s, project_id, row.id, [(f, chunking, None) for f in req.file_ids], None)
            result = self.store_object(s, row)
        self.core.wake_workers("ingest_file")
        return result

    def get(self, project_id: str, store_id: str) -> schemas.VectorStoreObject:
        with self.core.db.session() as s:
            return self.store_object(s, self._store(s, project_id, store_id))

    def list(
        self, project_id: str, *, limit: int, order: Order, after: str | None, before: str | None
    ) -> tuple[list[schemas.VectorStoreObject], bool]:
        with self.core.db.session() as s:
            query = select(VectorStore).where(VectorStore.project_id == project_id)
            page = paginate(
                s, query, VectorStore.created_at, VectorStore.id, limit=limit, order=order, after=after, before=before
            )
            return [self.store_object(s, row) for row in page.items], page.has_more

    def modify(self, project_id: str, store_id: str, req: schemas.UpdateVectorStoreRequest) -> schemas.VectorStoreObject:
        with self.core.db.session() as s:
            row = self._store(s, project_id, store_id)
            mark_active(row)
            fields = req.model_fields_set
            if "name" in fields and req.name is not None:
                row.name = req.name
            if "metadata" in fields:
                row.metadata_ = req.metadata or {}
            if "expires_after" in fields:
                if req.expires_after is None:
                    row.expires_after_days = None
                    row.expires_at = None
                else:
                    row.expires_after_days = req.expires_after.days
                    row.expires_at = row.last_active_at + req.expires_after.days * DAY
            return self.store_object(s, row)

    def delete(self, project_id: str, store_id: str) -> None:
        with self.core.db.session() as s:
            row = self._store(s, project_id, store_id)
            clear_store(s, row, "store_deleted")
            s.execute(delete(Chunk).where(Chunk.vector_store_id == store_id))
            s.execute(delete(VectorStoreFile).where(VectorStoreFile.vector_store_id == store_id))
            s.execute(delete(FileBatch).where(FileBatch.vector_store_id == store_id))
            s.execute(
                update(Job).where(Job.vector_store_id == store_id, Job.status == "queued").values(status="done")
            )
            s.delete(row)
            job = Job(kind="purge", project_id=project_id, vector_store_id=store_id)
            s.add(job)
        self.core.wake_workers()

    def touch(self, store_id: str) -> None:
        """Searching (or use by a run) keeps a store alive."""
        with self.core.db.session() as s:
            row = s.get(VectorStore, store_id)
            if row is not None:
                mark_active(row)

    def require_searchable(self, project_id: str, store_id: str) -> VectorStore:
        with self.core.db.session() as s:
            row = self._store(s, project_id, store_id)
            if row.expired or (row.expires_at is not None and row.expires_at <= now()):
                raise APIError(
                    400,
                    f"Vector store '{store_id}' has expired; its index data was purged. Create a new vector store.",
                    param="vector_store_id",
                    code="vector_store_expired",
                )
            return row

    # --- store files ------------------------------------------------------------------------------

    def _attach(
        self,
        s: Session,
        project_id: str,
        store_id: str,
        files: Sequence[tuple[str, tuple[int, int], dict[str, Any] | None]],
        batch_id: str | None,
    ) -> list[VectorStoreFile]:
        """Put the (file id, chunking, attributes) in the store, or back in it anew, each with its
        ingestion job; the rows of files already there are read in one query."""
        existing = select(VectorStoreFile).where(
            VectorStoreFile.vector_store_id == store_id, VectorStoreFile.file_id.in_({f for f, _, _ in files})
        )
        rows = {row.file_id: row for row in s.scalars(existing)}
        attached = []
        for file_id, chunking, attributes in files:
            row = rows.get(file_id)
            if row is None:
                row = rows[file_id] = VectorStoreFile(
                    vector_store_id=store_id, file_id=file_id, project_id=project_id, created_at=now()
                )
                s.add(row)
            row.status = "in_progress"
            row.last_error = None
            row.batch_id = batch_id
            row.max_chunk_size_tokens, row.chunk_overlap_tokens = chunking
            row.attributes = attributes or {}
            s.add(Job(kind="ingest_file", project_id=project_id, vector_store_id=store_id, file_id=file_id))
            attached.append(row)
        return attached

    def add_file(self, project_id: str, store_id: str, req: schemas.CreateVectorStoreFileRequest) -> schemas.VectorStoreFileObject:
        chunking = self._chunking(req.chunking_strategy)
        with self.core.db.session() as s:
            store = self._store(s, project_id, store_id)
            self._check_not_expired(store)
            self._require_files(s, project_id, [req.file_id], "file_id")
            check_quota(s, project_id, 1)
            self._check_capacity(s, store_id, [req.file_id], "file_id")
            (row,) = self._attach(s, project_id, store_id, [(req.file_id, chunking, req.attributes)], None)
            mark_active(store)
            s.flush()
            result = self.file_object(row)
        self.core.wake_workers("ingest_file")
        return result

    @staticmethod
    def _require_files(s: Session, project_id: str, file_ids: list[str], param: str) -> None:
        """Every file must exist before any is attached: one unknown id refuses the whole request
        (a 404 naming it, nothing created), as OpenAI does (docs/openai-behaviour.md)."""
        known = set(s.scalars(select(File.id).where(File.id.in_(set(file_ids)), File.project_id == project_id)))
        for file_id in file_ids:
            if file_id not in known:
                raise not_found("file", file_id, param=param)

    def _check_capacity(self, s: Session, store_id: str, file_ids: list[str], param: str) -> None:
        """OpenAI's files-per-store limit (`max_files_per_store`); a file added again takes no new place."""
        limit = self.core.settings.max_files_per_store
        in_store = select(func.count()).where(VectorStoreFile.vector_store_id == store_id)
        held = s.execute(in_store).scalar_one()
        again = s.execute(in_store.where(VectorStoreFile.file_id.in_(set(file_ids)))).scalar_one()
        if held + len(set(file_ids)) - again > limit:
            raise invalid(
                f"A vector store can hold at most {limit} files; this one holds {held}.", param=param, code="too_many_files"
            )

    @staticmethod
    def _check_not_expired(store: VectorStore) -> None:
        if store.expired:
            raise invalid(f"Vector store '{store.id}' has expired.", param="vector_store_id", code="vector_store_expired")

    def get_file(self, project_id: str, store_id: str, file_id: str) -> schemas.VectorStoreFileObject:
        with self.core.db.session() as s:
            self._store(s, project_id, store_id)
            return self.file_object(self._store_file(s, project_id, store_id, file_id))

    def list_files(
        self,
        project_id: str,
        store_id: str,
        *,
        status: str | None,
        limit: int,
        order: Order,
        after: str | None,
        before: str | None,
        batch_id: str | None = None,
    ) -> tuple[list[schemas.VectorStoreFileObject], bool]:
        with self.core.db.session() as s:
            self._store(s, project_id, store_id)
            scope = VectorStoreFile.vector_store_id == store_id
            query = select(VectorStoreFile).where(scope)
            if batch_id is not None:
                query = query.where(VectorStoreFile.batch_id == batch_id)
            if status:
                query = query.where(VectorStoreFile.status == status)
            page: Page[VectorStoreFile] = paginate(
                s,
                query,
                VectorStoreFile.created_at,
                VectorStoreFile.file_id,
                limit=limit,
                order=order,
                after=after,
                before=before,
                cursor_filter=scope,
            )
            return [self.file_object(row) for row in page.items], page.has_more

    def update_file_attributes(
        self, project_id: str, store_id: str, file_id: str, attributes: dict[str, Any] | None
    ) -> schemas.VectorStoreFileObject:
        with self.core.db.session() as s:
            mark_active(self._store(s, project_id, store_id))
            row = self._store_file(s, project_id, store_id, file_id)
            row.attributes = attributes or {}
            if row.status == "completed":
                # Attributes live in the index payload too (filters run inside Qdrant).
                s.add(Job(kind="reindex_file", project_id=project_id, vector_store_id=store_id, file_id=file_id))
            result = self.file_object(row)
        self.core.wake_workers()
        return result

    def delete_file(self, project_id: str, store_id: str, file_id: str) -> None:
        with self.core.db.session() as s:
            lock_store(s, store_id)
            store = self._store(s, project_id, store_id)
            row = self._store_file(s, project_id, store_id, file_id)
            record_change(s, store, -row.usage_bytes, "file_removed")
            mark_active(store)
            s.execute(delete(Chunk).where(Chunk.vector_store_id == store_id, Chunk.file_id == file_id))
            s.delete(row)
            s.add(Job(kind="purge", project_id=project_id, vector_store_id=store_id, file_id=file_id))
        self.core.wake_workers()

    def file_content(self, project_id: str, store_id: str, file_id: str) -> schemas.FileContentPage:
        with self.core.db.session() as s:
            self._store(s, project_id, store_id)
            self._store_file(s, project_id, store_id, file_id)
            chunks = s.execute(
                select(Chunk.text, Chunk.page, Chunk.page_end)
                .where(Chunk.vector_store_id == store_id, Chunk.file_id == file_id)
                .order_by(Chunk.chunk_index)
            )
            return schemas.FileContentPage(data=[schemas.ChunkText(text=t, page=p, page_end=e) for t, p, e in chunks])

    # --- batches ----------------------------------------------------------------------------------

    def create_batch(self, project_id: str, store_id: str, req: schemas.CreateFileBatchRequest) -> schemas.FileBatchObject:
        if req.files is not None:
            items = [(f.file_id, f.chunking_strategy, f.attributes) for f in req.files]
        else:
            items = [(fid, req.chunking_strategy, req.attributes) for fid in req.file_ids or []]
        if len({fid for fid, _, _ in items}) != len(items):
            raise invalid("A file batch cannot name the same file twice.", param="file_ids")
        chunkings = {id(strategy): self._chunking(strategy) for _, strategy, _ in items}
        with self.core.db.session() as s:
            store = self._store(s, project_id, store_id)
            self._check_not_expired(store)
            param = "files" if req.files is not None else "file_ids"
            self._require_files(s, project_id, [fid for fid, _, _ in items], param)
            check_quota(s, project_id, 1)
            self._check_capacity(s, store_id, [fid for fid, _, _ in items], param)
            batch = FileBatch(id=new_id("vsfb_"), project_id=project_id, vector_store_id=store_id, created_at=now())
            s.add(batch)
            s.flush()
            attached = [(file_id, chunkings[id(strategy)], attributes) for file_id, strategy, attributes in items]
            self._attach(s, project_id, store_id, attached, batch.id)
            mark_active(store)
            s.flush()
            result = self.batch_object(s, batch)
        self.core.wake_workers("ingest_file")
        return result

    def _batch(self, s: Session, project_id: str, store_id: str, batch_id: str) -> FileBatch:
        self._store(s, project_id, store_id)
        row = s.get(FileBatch, batch_id)
        if row is None or row.project_id != project_id or row.vector_store_id != store_id:
            raise not_found("file batch", batch_id, param="batch_id")
        return row

    def get_batch(self, project_id: str, store_id: str, batch_id: str) -> schemas.FileBatchObject:
        with self.core.db.session() as s:
            return self.batch_object(s, self._batch(s, project_id, store_id, batch_id))

    def cancel_batch(self, project_id: str, store_id: str, batch_id: str) -> schemas.FileBatchObject:
        """Files not yet completed stop and become `cancelled`; completed ones stay searchable."""
        with self.core.db.session() as s:
            batch = self._batch(s, project_id, store_id, batch_id)
            if batch.status == "in_progress":
                mark_active(s.get_one(VectorStore, store_id))
                batch.status = "cancelled"
                pending = select(VectorStoreFile.file_id).where(
                    VectorStoreFile.batch_id == batch_id, VectorStoreFile.status == "in_progress"
                )
                file_ids = list(s.execute(pending).scalars())
                s.execute(
                    update(VectorStoreFile)
                    .where(VectorStoreFile.vector_store_id == store_id, VectorStoreFile.file_id.in_(file_ids))
                    .values(status="cancelled")
                )
                s.execute(
                    update(Job)
                    .where(Job.vector_store_id == store_id, Job.file_id.in_(file_ids), Job.status == "queued")
                    .values(status="done")
                )
            return self.batch_object(s, batch)
