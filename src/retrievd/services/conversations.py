"""Conversations: a durable list of items that responses read before answering and add to after."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete

from retrievd.errors import not_found
from retrievd.runtime import schemas
from retrievd.runtime.ids import sortable_id
from retrievd.runtime.items import append_items, conversation_items, normalize_input
from retrievd.runtime.response_runs import wire_item
from retrievd.services.responses import page_items
from retrievd.store.db import now
from retrievd.store.runtime_models import Conversation, ConversationItem

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from retrievd.core import Core


def conversation_object(row: Conversation) -> schemas.ConversationObject:
    return schemas.ConversationObject(id=row.id, created_at=row.created_at, metadata=row.metadata_ or {})


class ConversationService:
    def __init__(self, core: Core) -> None:
        self.core = core

    @staticmethod
    def _row(s: Session, project_id: str, conversation_id: str) -> Conversation:
        row = s.get(Conversation, conversation_id)
        if row is None or row.project_id != project_id:
            raise not_found("conversation", conversation_id, param="conversation_id")
        return row

    def create(self, project_id: str, req: schemas.CreateConversationRequest) -> schemas.ConversationObject:
        items = normalize_input(req.items, "items")
        with self.core.db.session() as s:
            row = Conversation(
                id=sortable_id("conv_"), project_id=project_id, created_at=now(), metadata_=req.metadata or {}
            )
            s.add(row)
            s.flush()
            append_items(s, project_id, row.id, items, row.created_at)
            return conversation_object(row)

    def get(self, project_id: str, conversation_id: str) -> schemas.ConversationObject:
        with self.core.db.session() as s:
            return conversation_object(self._row(s, project_id, conversation_id))

    def update(
        self, project_id: str, conversation_id: str, metadata: dict[str, str]
    ) -> schemas.ConversationObject:
        with self.core.db.session() as s:
            row = self._row(s, project_id, conversation_id)
            row.metadata_ = metadata
            return conversation_object(row)

    def delete(self, project_id: str, conversation_id: str) -> None:
        with self.core.db.session() as s:
            row = self._row(s, project_id, conversation_id)
            s.execute(delete(ConversationItem).where(ConversationItem.conversation_id == conversation_id))
            s.delete(row)

    # --- items --------------------------------------------------------------------------------

    def add_items(
        self, project_id: str, conversation_id: str, req: schemas.CreateItemsRequest, include: list[str]
    ) -> schemas.ItemList:
        items = normalize_input(req.items, "items")
        with self.core.db.session() as s:
            self._row(s, project_id, conversation_id)
            append_items(s, project_id, conversation_id, items, now())
        data = [wire_item(i, include) for i in items]
        return schemas.ItemList(
            data=data,
            first_id=data[0]["id"] if data else None,
            last_id=data[-1]["id"] if data else None,
            has_more=False,
        )

    def list_items(
        self,
        project_id: str,
        conversation_id: str,
        *,
        limit: int,
        order: str,
        after: str | None,
        include: list[str],
    ) -> schemas.ItemList:
        with self.core.db.session() as s:
            self._row(s, project_id, conversation_id)
            items = conversation_items(s, conversation_id)
        return page_items(items, limit=limit, order=order, after=after, include=include)

    def _item(self, s: Session, project_id: str, conversation_id: str, item_id: str) -> ConversationItem:
        self._row(s, project_id, conversation_id)
        row = s.get(ConversationItem, (conversation_id, item_id))
        if row is None:
            raise not_found("item", item_id, param="item_id")
        return row

    def get_item(
        self, project_id: str, conversation_id: str, item_id: str, include: list[str]
    ) -> dict[str, Any]:
        with self.core.db.session() as s:
            return wire_item(self._item(s, project_id, conversation_id, item_id).item, include)

    def delete_item(self, project_id: str, conversation_id: str, item_id: str) -> schemas.ConversationObject:
        with self.core.db.session() as s:
            s.delete(self._item(s, project_id, conversation_id, item_id))
            return conversation_object(self._row(s, project_id, conversation_id))
