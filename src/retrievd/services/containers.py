"""The Containers API, and code_interpreter calls of Responses, which run in a container.

A container's row and files are durable; its sandbox is made on demand in the process that runs
its code (`Core.containers`) and loaded with its files. A container not used for its
`expires_after` minutes (OpenAI: 20, from last_active_at) expires: its sandbox is closed, its
files deleted, its row kept with status `expired`, as OpenAI shows it.
"""

from __future__ import annotations

import base64
import io
import posixpath
from typing import TYPE_CHECKING, Any, BinaryIO

from pydantic import BaseModel, Field
from sqlalchemy import select

from retrievd.errors import APIError, not_found
from retrievd.runtime.code_interpreter import CodeResult, InputFile, failed
from retrievd.runtime.ids import sortable_id
from retrievd.runtime.sandbox import MOUNT_DATA
from retrievd.services.files import FileService, clean_filename
from retrievd.store.db import now
from retrievd.store.pagination import Order, paginate
from retrievd.store.runtime_models import Container, ContainerFile
from retrievd.usage.ledger import record_container_change

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from retrievd.core import Core

DEFAULT_EXPIRES_MINUTES = 20
MEMORY_LIMITS = ("1g", "4g", "16g", "64g")


def memory_bytes(limit: str) -> int:
    """A memory_limit ("4g") in bytes: the sandbox's cap, per process and over all of them."""
    return int(limit.removesuffix("g")) * 1024**3


def allowed_memory_limit(requested: str | None, most: str) -> str:
    """What a container gets: its memory_limit (OpenAI's default 1g), at most the server's `most`."""
    limit = requested or MEMORY_LIMITS[0]
    return min(limit, most, key=MEMORY_LIMITS.index)


class ContainerExpiresAfter(BaseModel):
    anchor: str = Field(pattern="^last_active_at$")
    minutes: int = Field(ge=1, le=10080)


class CreateContainerRequest(BaseModel):
    name: str = Field(max_length=256)
    file_ids: list[str] | None = Field(None, max_length=100)
    expires_after: ContainerExpiresAfter | None = None
    memory_limit: str | None = Field(None, pattern="^(1g|4g|16g|64g)$")


class ContainerObject(BaseModel):
    id: str
    object: str = "container"
    name: str
    created_at: int
    status: str
    last_active_at: int
    expires_after: dict[str, Any]
    memory_limit: str


class ContainerFileObject(BaseModel):
    id: str
    object: str = "container.file"
    container_id: str
    created_at: int
    bytes: int
    path: str
    source: str


def container_object(row: Container) -> ContainerObject:
    return ContainerObject(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        status=row.status,
        last_active_at=row.last_active_at,
        expires_after={"anchor": "last_active_at", "minutes": row.expires_after_minutes},
        memory_limit=row.memory_limit,
    )


def container_file_object(row: ContainerFile) -> ContainerFileObject:
    return ContainerFileObject(
        id=row.id,
        container_id=row.container_id,
        created_at=row.created_at,
        bytes=row.bytes,
        path=row.path,
        source=row.source,
    )


class _ContainerKeeper:
    """A call's products as files of its container (images too, shown to the client as data URLs)."""

    def __init__(self, service: ContainerService, project_id: str, container_id: str) -> None:
        self.service, self.project_id, self.container_id = service, project_id, container_id

    def file(self, name: str, data: bytes) -> str:
        return self.service.add_file(
            self.project_id, self.container_id, io.BytesIO(data), name, "assistant"
        ).id

    def image(self, data: bytes) -> dict[str, Any]:
        return {"type": "image", "url": "data:image/png;base64," + base64.b64encode(data).decode()}


class ContainerService:
    def __init__(self, core: Core) -> None:
        self.core = core

    @staticmethod
    def row(s: Session, project_id: str, container_id: str) -> Container:
        row = s.get(Container, container_id)
        if row is None or row.project_id != project_id:
            raise not_found("container", container_id, param="container_id")
        return row

    def create(self, project_id: str, req: CreateContainerRequest) -> ContainerObject:
        files = [FileService(self.core).get(project_id, file_id) for file_id in req.file_ids or ()]
        t = now()
        with self.core.db.session() as s:
            row = Container(
                id=sortable_id("cntr_"),
                project_id=project_id,
                name=req.name,
                created_at=t,
                last_active_at=t,
                status="running",
                expires_after_minutes=req.expires_after.minutes
                if req.expires_after
                else DEFAULT_EXPIRES_MINUTES,
                memory_limit=allowed_memory_limit(
                    req.memory_limit, self.core.settings.code_interpreter_max_memory
                ),
            )
            s.add(row)
        for f in files:
            with self.core.blobs.path(f.id).open("rb") as source:
                self.add_file(project_id, row.id, source, f.filename, "user")
        return container_object(row)

    def get(self, project_id: str, container_id: str) -> ContainerObject:
        with self.core.db.session() as s:
            return container_object(self.row(s, project_id, container_id))

    def list(
        self, project_id: str, *, name: str | None, limit: int, order: Order, after: str | None
    ) -> tuple[list[ContainerObject], bool]:
        with self.core.db.session() as s:
            query = select(Container).where(Container.project_id == project_id)
            if name:
                query = query.where(Container.name == name)
            page = paginate(
                s, query, Container.created_at, Container.id, limit=limit, order=order, after=after
            )
            return [container_object(r) for r in page.items], page.has_more

    def delete(self, project_id: str, container_id: str) -> None:
        with self.core.db.session() as s:
            self.row(s, project_id, container_id)
        self._clear(project_id, container_id, "container_deleted")
        with self.core.db.session() as s:
            row = s.get(Container, container_id)
            if row is not None:
                s.delete(row)

    def _clear(self, project_id: str, container_id: str, reason: str) -> None:
        """Close its sandbox and delete its files (rows and blobs), their bytes off its ledger."""
        self.core.containers.close(container_id)
        with self.core.db.session() as s:
            record_container_change(s, project_id, container_id, None, reason)
            rows = list(
                s.execute(select(ContainerFile).where(ContainerFile.container_id == container_id)).scalars()
            )
            for f in rows:
                s.delete(f)
        for f in rows:
            self.core.blobs.delete(f.id)

    def expire_idle(self) -> list[str]:
        """Expire the containers idle past their expires_after; their ids."""
        t = now()
        with self.core.db.session() as s:
            due = [
                (row.project_id, row.id)
                for row in s.execute(select(Container).where(Container.status == "running")).scalars()
                if row.last_active_at + row.expires_after_minutes * 60 <= t
            ]
        for project_id, container_id in due:
            self._clear(project_id, container_id, "container_expired")
            with self.core.db.session() as s:
                row = s.get(Container, container_id)
                if row is not None:
                    row.status = "expired"
        return [container_id for _, container_id in due]

    # --- files ---------------------------------------------------------------------------------

    def _running(self, s: Session, project_id: str, container_id: str) -> Container:
        row = self.row(s, project_id, container_id)
        if row.status != "running":
            raise APIError(
                400, f"Container {container_id} has expired.", param="container_id", code="container_expired"
            )
        return row

    def add_file(
        self, project_id: str, container_id: str, source: BinaryIO, name: str, origin: str
    ) -> ContainerFileObject:
        """A file at /mnt/data/<name> (a path under it for files the code wrote in folders)."""
        relative = posixpath.normpath(name).lstrip("/")
        if origin == "user" or relative.startswith(".."):
            relative = clean_filename(name)
        file_id = sortable_id("cfile_")
        size, _ = self.core.blobs.put(file_id, source, self.core.settings.max_upload_bytes)
        try:
            with self.core.db.session() as s:
                self._running(s, project_id, container_id).last_active_at = now()
                row = ContainerFile(
                    id=file_id,
                    container_id=container_id,
                    project_id=project_id,
                    created_at=now(),
                    path=f"{MOUNT_DATA}/{relative}",
                    bytes=size,
                    source=origin,
                )
                s.add(row)
                record_container_change(s, project_id, container_id, size, "file_added")
        except BaseException:
            self.core.blobs.delete(file_id)
            raise
        return container_file_object(row)

    def add_existing_file(self, project_id: str, container_id: str, file_id: str) -> ContainerFileObject:
        f = FileService(self.core).get(project_id, file_id)
        with self.core.blobs.path(f.id).open("rb") as source:
            return self.add_file(project_id, container_id, source, f.filename, "user")

    def _file_row(self, s: Session, project_id: str, container_id: str, file_id: str) -> ContainerFile:
        self.row(s, project_id, container_id)
        row = s.get(ContainerFile, file_id)
        if row is None or row.container_id != container_id:
            raise not_found("container file", file_id, param="file_id")
        return row

    def get_file(self, project_id: str, container_id: str, file_id: str) -> ContainerFileObject:
        with self.core.db.session() as s:
            return container_file_object(self._file_row(s, project_id, container_id, file_id))

    def file_content(self, project_id: str, container_id: str, file_id: str) -> tuple[Any, str]:
        """The blob's path and the file's name."""
        with self.core.db.session() as s:
            row = self._file_row(s, project_id, container_id, file_id)
        return self.core.blobs.path(row.id), posixpath.basename(row.path)

    def list_files(
        self, project_id: str, container_id: str, *, limit: int, order: Order, after: str | None
    ) -> tuple[list[ContainerFileObject], bool]:
        with self.core.db.session() as s:
            self.row(s, project_id, container_id)
            query = select(ContainerFile).where(ContainerFile.container_id == container_id)
            page = paginate(
                s, query, ContainerFile.created_at, ContainerFile.id, limit=limit, order=order, after=after
            )
            return [container_file_object(r) for r in page.items], page.has_more

    def delete_file(self, project_id: str, container_id: str, file_id: str) -> None:
        """The row and blob go; a sandbox already running keeps its copy until it is closed."""
        with self.core.db.session() as s:
            row = self._file_row(s, project_id, container_id, file_id)
            record_container_change(s, project_id, container_id, -row.bytes, "file_deleted")
            s.delete(row)
        self.core.blobs.delete(file_id)

    # --- running code --------------------------------------------------------------------------

    def run(self, project_id: str, container_id: str, code: str) -> CodeResult:
        """Run code in the container with its files; a gone or expired container is the model's error."""
        with self.core.db.session() as s:
            try:
                row = self._running(s, project_id, container_id)
            except APIError as e:
                return failed(e.message)
            row.last_active_at = now()
            limit = memory_bytes(row.memory_limit)
            files = list(
                s.execute(select(ContainerFile).where(ContainerFile.container_id == container_id)).scalars()
            )
        inputs = [
            InputFile(f.id, f.path.removeprefix(MOUNT_DATA + "/"), self.core.blobs.path(f.id)) for f in files
        ]
        return self.core.containers.run(
            project_id,
            container_id,
            inputs,
            code,
            self.core.settings.code_interpreter_timeout_s,
            _ContainerKeeper(self, project_id, container_id),
            memory_bytes=limit,
        )
