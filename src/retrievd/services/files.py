"""The Files API: uploads kept as blobs named by id, metadata in the database."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import select

from retrievd.errors import invalid, not_found
from retrievd.ids import new_id
from retrievd.store.db import now
from retrievd.store.models import File, VectorStoreFile
from retrievd.store.pagination import Order, Page, paginate

if TYPE_CHECKING:
    from retrievd.core import Core

MAX_FILENAME_CHARS = 255
# A blob's last write and its file row's commit are milliseconds apart, an upload's writes seconds;
# an hour leaves any upload still in flight alone.
ORPHAN_BLOB_GRACE_S = 3600.0
_BLOB_NAME = re.compile(r"file-[A-Za-z0-9]{24}(\.partial)?")  # anything else in the directory is not ours


def clean_filename(name: str | None) -> str:
    """The display name of an upload: its last path component, without control characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if base in ("", ".", ".."):
        raise invalid("The uploaded file needs a filename.", param="file")
    if len(base) > MAX_FILENAME_CHARS:
        stem, ext = os.path.splitext(base)
        base = stem[: MAX_FILENAME_CHARS - len(ext[:16])] + ext[:16]
    return base


class FileService:
    def __init__(self, core: Core) -> None:
        self.core = core

    def create(
        self,
        project_id: str,
        source: BinaryIO,
        filename: str | None,
        purpose: str,
        expires_after_seconds: int | None = None,
    ) -> File:
        name = clean_filename(filename)
        file_id = new_id("file-")
        size, sha256 = self.core.blobs.put(file_id, source, self.core.settings.max_upload_bytes)
        created = now()
        row = File(
            id=file_id,
            project_id=project_id,
            filename=name,
            bytes=size,
            purpose=purpose,
            sha256=sha256,
            created_at=created,
            expires_at=created + expires_after_seconds if expires_after_seconds else None,
        )
        try:
            with self.core.db.session() as s:
                s.add(row)
        except BaseException:
            self.core.blobs.delete(file_id)
            raise
        return row

    def get(self, project_id: str, file_id: str) -> File:
        with self.core.db.session() as s:
            row = s.get(File, file_id)
            if row is None or row.project_id != project_id:
                raise not_found("file", file_id, param="file_id")
            return row

    def path(self, project_id: str, file_id: str) -> Path:
        return self.core.blobs.path(self.get(project_id, file_id).id)

    def list(
        self, project_id: str, *, purpose: str | None, limit: int, order: Order, after: str | None
    ) -> Page[File]:
        with self.core.db.session() as s:
            query = select(File).where(File.project_id == project_id)
            if purpose:
                query = query.where(File.purpose == purpose)
            return paginate(s, query, File.created_at, File.id, limit=limit, order=order, after=after)

    def delete(self, project_id: str, file_id: str) -> None:
        """Deleting a file also removes it, and its chunks, from every vector store."""
        from retrievd.services.vector_stores import VectorStoreService

        self.get(project_id, file_id)
        with self.core.db.session() as s:
            stores = s.execute(select(VectorStoreFile.vector_store_id).where(VectorStoreFile.file_id == file_id))
            store_ids = list(stores.scalars())
        stores_service = VectorStoreService(self.core)
        for store_id in store_ids:
            stores_service.delete_file(project_id, store_id, file_id)
        with self.core.db.session() as s:
            row = s.get(File, file_id)
            if row is not None:
                s.delete(row)
        self.core.blobs.delete(file_id)

    def sweep_orphan_blobs(self, grace_s: float = ORPHAN_BLOB_GRACE_S) -> list[str]:
        """Delete the blobs that no file row names and that were last written over `grace_s` ago.

        A kill mid-upload leaves a partial blob, one between a blob and its row (or between deleting
        a row and its blob) a complete one that nothing else would ever remove. Returns their names.
        """
        names = [name for name in self.core.blobs.older_than(grace_s) if _BLOB_NAME.fullmatch(name)]
        live: set[str] = set()
        with self.core.db.session() as s:
            for start in range(0, len(names), 500):  # partial blobs never match a file id
                batch = names[start : start + 500]
                live.update(s.execute(select(File.id).where(File.id.in_(batch))).scalars())
        orphans = [name for name in names if name not in live]
        for name in orphans:
            self.core.blobs.delete(name)
        return orphans
