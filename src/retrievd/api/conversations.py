"""`/v1/conversations`: conversations and their items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from retrievd.api.deps import CoreDep, PrincipalDep
from retrievd.api.responses import IncludeDep
from retrievd.runtime import schemas
from retrievd.services.conversations import ConversationService

router = APIRouter(tags=["conversations"])


@router.post("/conversations", response_model=schemas.ConversationObject)
def create_conversation(
    core: CoreDep, principal: PrincipalDep, body: schemas.CreateConversationRequest | None = None
) -> schemas.ConversationObject:
    return ConversationService(core).create(principal.project_id, body or schemas.CreateConversationRequest())


@router.get("/conversations/{conversation_id}", response_model=schemas.ConversationObject)
def retrieve_conversation(
    conversation_id: str, core: CoreDep, principal: PrincipalDep
) -> schemas.ConversationObject:
    return ConversationService(core).get(principal.project_id, conversation_id)


@router.post("/conversations/{conversation_id}", response_model=schemas.ConversationObject)
def update_conversation(
    conversation_id: str, body: schemas.UpdateConversationRequest, core: CoreDep, principal: PrincipalDep
) -> schemas.ConversationObject:
    return ConversationService(core).update(principal.project_id, conversation_id, body.metadata)


@router.delete("/conversations/{conversation_id}")
def delete_conversation(conversation_id: str, core: CoreDep, principal: PrincipalDep) -> dict[str, Any]:
    ConversationService(core).delete(principal.project_id, conversation_id)
    return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}


@router.post("/conversations/{conversation_id}/items", response_model=schemas.ItemList)
def create_items(
    conversation_id: str,
    body: schemas.CreateItemsRequest,
    core: CoreDep,
    principal: PrincipalDep,
    include: IncludeDep,
) -> schemas.ItemList:
    return ConversationService(core).add_items(principal.project_id, conversation_id, body, include)


@router.get("/conversations/{conversation_id}/items", response_model=schemas.ItemList)
def list_items(
    conversation_id: str,
    core: CoreDep,
    principal: PrincipalDep,
    include: IncludeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> schemas.ItemList:
    return ConversationService(core).list_items(
        principal.project_id, conversation_id, limit=limit, order=order, after=after, include=include
    )


@router.get("/conversations/{conversation_id}/items/{item_id}")
def retrieve_item(
    conversation_id: str, item_id: str, core: CoreDep, principal: PrincipalDep, include: IncludeDep
) -> dict[str, Any]:
    return ConversationService(core).get_item(principal.project_id, conversation_id, item_id, include)


@router.delete("/conversations/{conversation_id}/items/{item_id}", response_model=schemas.ConversationObject)
def delete_item(
    conversation_id: str, item_id: str, core: CoreDep, principal: PrincipalDep
) -> schemas.ConversationObject:
    return ConversationService(core).delete_item(principal.project_id, conversation_id, item_id)
