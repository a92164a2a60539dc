"""Threads and their messages.

A file attached to a message for file_search goes into the thread's own vector store, as OpenAI
does: the store named in the thread's tool_resources, or a new one (expiring 7 days after last
use) that the thread then names. Store work happens outside the message's transaction, because
the vector store service writes in transactions of its own.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from retrievd.api import schemas as store_schemas
from retrievd.errors import APIError, not_found
from retrievd.runtime import schemas
from retrievd.runtime.ids import sortable_id
from retrievd.runtime.objects import message_object, thread_object
from retrievd.services.assistants import resolve_tool_resources, store_ids
from retrievd.services.files import FileService
from retrievd.services.vector_stores import VectorStoreService
from retrievd.store.db import now
from retrievd.store.pagination import Order, paginate
from retrievd.store.runtime_models import Message, Run, RunStep, Thread

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from retrievd.core import Core

ACTIVE_RUN_STATUSES = ("queued", "in_progress", "requires_action", "cancelling")
THREAD_STORE_DAYS = 7
_thread_store_lock = threading.Lock()


def content_json(content: str | list[Any]) -> list[dict[str, Any]]:
    """Request content (a string or parts) as a message's content array."""
    if isinstance(content, str):
        return [{"type": "text", "text": {"value": content, "annotations": []}}]
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, schemas.TextPart):
            parts.append({"type": "text", "text": {"value": part.text, "annotations": []}})
        else:
            parts.append(part.model_dump(exclude_none=True))
    return parts


def thread_row(s: Session, project_id: str, thread_id: str) -> Thread:
    row = s.get(Thread, thread_id)
    if row is None or row.project_id != project_id:
        raise not_found("thread", thread_id, param="thread_id")
    return row


def active_run(s: Session, thread_id: str) -> Run | None:
    return s.execute(
        select(Run).where(Run.thread_id == thread_id, Run.status.in_(ACTIVE_RUN_STATUSES)).limit(1)
    ).scalar_one_or_none()


class ThreadService:
    def __init__(self, core: Core) -> None:
        self.core = core

    def create(self, project_id: str, req: schemas.CreateThreadRequest) -> schemas.ThreadObject:
        resources = resolve_tool_resources(self.core, project_id, req.tool_resources)
        with self.core.db.session() as s:
            row = Thread(
                id=sortable_id("thread_"),
                project_id=project_id,
                created_at=now(),
                tool_resources=resources,
                metadata_=req.metadata or {},
            )
            s.add(row)
        messages = MessageService(self.core)
        for message in req.messages or ():
            messages.create(project_id, row.id, message, check_active=False)
        return self.get(project_id, row.id)

    def get(self, project_id: str, thread_id: str) -> schemas.ThreadObject:
        with self.core.db.session() as s:
            return thread_object(thread_row(s, project_id, thread_id))

    def modify(
        self, project_id: str, thread_id: str, req: schemas.ModifyThreadRequest
    ) -> schemas.ThreadObject:
        fields = req.model_fields_set
        resources = (
            resolve_tool_resources(self.core, project_id, req.tool_resources)
            if "tool_resources" in fields
            else None
        )
        with self.core.db.session() as s:
            row = thread_row(s, project_id, thread_id)
            if "tool_resources" in fields:
                row.tool_resources = resources
            if "metadata" in fields:
                row.metadata_ = req.metadata or {}
            return thread_object(row)

    def delete(self, project_id: str, thread_id: str) -> None:
        with self.core.db.session() as s:
            row = thread_row(s, project_id, thread_id)
            run_ids = select(Run.id).where(Run.thread_id == thread_id)
            s.execute(delete(RunStep).where(RunStep.run_id.in_(run_ids)))
            s.execute(delete(Run).where(Run.thread_id == thread_id))
            s.execute(delete(Message).where(Message.thread_id == thread_id))
            s.delete(row)

    def ensure_store(self, project_id: str, thread_id: str) -> str:
        """The thread's vector store, created on first need."""
        with _thread_store_lock:
            with self.core.db.session() as s:
                existing = store_ids(thread_row(s, project_id, thread_id).tool_resources)
            if existing:
                return existing[0]
            store = VectorStoreService(self.core).create(
                project_id,
                store_schemas.CreateVectorStoreRequest(
                    name=f"Vector store for {thread_id}",
                    expires_after=store_schemas.StoreExpiresAfter(
                        anchor="last_active_at", days=THREAD_STORE_DAYS
                    ),
                ),
            )
            with self.core.db.session() as s:
                row = thread_row(s, project_id, thread_id)
                resources = dict(row.tool_resources or {})
                resources["file_search"] = {"vector_store_ids": [store.id]}
                row.tool_resources = resources
            return store.id


class MessageService:
    def __init__(self, core: Core) -> None:
        self.core = core

    def _attach(self, project_id: str, thread_id: str, attachments: list[schemas.Attachment]) -> None:
        """file_search attachments join the thread's store; code_interpreter ones are read by the run."""
        search_files = []
        for attachment in attachments:
            kinds = {t.type for t in attachment.tools}
            if "code_interpreter" in kinds:
                FileService(self.core).get(project_id, attachment.file_id)  # 404 for an unknown file
            if "file_search" in kinds:
                search_files.append(attachment.file_id)
        if not search_files:
            return
        store_id = ThreadService(self.core).ensure_store(project_id, thread_id)
        stores = VectorStoreService(self.core)
        for file_id in search_files:
            stores.add_file(project_id, store_id, store_schemas.CreateVectorStoreFileRequest(file_id=file_id))

    def create(
        self, project_id: str, thread_id: str, req: schemas.CreateMessageRequest, *, check_active: bool = True
    ) -> schemas.MessageObject:
        with self.core.db.session() as s:
            thread_row(s, project_id, thread_id)
            if check_active and (run := active_run(s, thread_id)) is not None:
                raise APIError(
                    400,
                    f"Can't add messages to {thread_id} while a run {run.id} is active.",
                    param="thread_id",
                    code="thread_locked",
                )
        self._attach(project_id, thread_id, req.attachments or [])
        with self.core.db.session() as s:
            t = now()
            row = Message(
                id=sortable_id("msg_"),
                project_id=project_id,
                thread_id=thread_id,
                created_at=t,
                role=req.role,
                content=content_json(req.content),
                attachments=[a.model_dump() for a in req.attachments] if req.attachments else [],
                metadata_=req.metadata or {},
                status="completed",
                completed_at=t,
            )
            s.add(row)
            return message_object(row)

    @staticmethod
    def _row(s: Session, project_id: str, thread_id: str, message_id: str) -> Message:
        thread_row(s, project_id, thread_id)
        row = s.get(Message, message_id)
        if row is None or row.thread_id != thread_id:
            raise not_found("message", message_id, param="message_id")
        return row

    def get(self, project_id: str, thread_id: str, message_id: str) -> schemas.MessageObject:
        with self.core.db.session() as s:
            return message_object(self._row(s, project_id, thread_id, message_id))

    def list(
        self,
        project_id: str,
        thread_id: str,
        *,
        limit: int,
        order: Order,
        after: str | None,
        before: str | None,
        run_id: str | None = None,
    ) -> tuple[list[schemas.MessageObject], bool]:
        with self.core.db.session() as s:
            thread_row(s, project_id, thread_id)
            scope = Message.thread_id == thread_id
            query = select(Message).where(scope)
            if run_id:
                query = query.where(Message.run_id == run_id)
            page = paginate(
                s,
                query,
                Message.created_at,
                Message.id,
                limit=limit,
                order=order,
                after=after,
                before=before,
                cursor_filter=scope,
            )
            return [message_object(r) for r in page.items], page.has_more

    def modify(
        self, project_id: str, thread_id: str, message_id: str, metadata: dict[str, str] | None
    ) -> schemas.MessageObject:
        with self.core.db.session() as s:
            row = self._row(s, project_id, thread_id, message_id)
            row.metadata_ = metadata or {}
            return message_object(row)

    def delete(self, project_id: str, thread_id: str, message_id: str) -> None:
        with self.core.db.session() as s:
            s.delete(self._row(s, project_id, thread_id, message_id))
