"""`/v1/assistants` (Assistants v2)."""

from __future__ import annotations

from fastapi import APIRouter

from retrievd.api import schemas as common
from retrievd.api.deps import CoreDep, ListDep, PrincipalDep
from retrievd.runtime import schemas
from retrievd.services.assistants import AssistantService

router = APIRouter(tags=["assistants"])


@router.post("/assistants", response_model=schemas.AssistantObject)
def create_assistant(
    body: schemas.CreateAssistantRequest, core: CoreDep, principal: PrincipalDep
) -> schemas.AssistantObject:
    return AssistantService(core).create(principal.project_id, body)


@router.get("/assistants", response_model=common.ListPage[schemas.AssistantObject])
def list_assistants(
    core: CoreDep, principal: PrincipalDep, params: ListDep
) -> common.ListPage[schemas.AssistantObject]:
    items, has_more = AssistantService(core).list(
        principal.project_id, limit=params.limit, order=params.order, after=params.after, before=params.before
    )
    return common.ListPage.of(items, has_more)


@router.get("/assistants/{assistant_id}", response_model=schemas.AssistantObject)
def retrieve_assistant(assistant_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.AssistantObject:
    return AssistantService(core).get(principal.project_id, assistant_id)


@router.post("/assistants/{assistant_id}", response_model=schemas.AssistantObject)
def modify_assistant(
    assistant_id: str, body: schemas.ModifyAssistantRequest, core: CoreDep, principal: PrincipalDep
) -> schemas.AssistantObject:
    return AssistantService(core).modify(principal.project_id, assistant_id, body)


@router.delete("/assistants/{assistant_id}", response_model=common.DeletedObject)
def delete_assistant(assistant_id: str, core: CoreDep, principal: PrincipalDep) -> common.DeletedObject:
    AssistantService(core).delete(principal.project_id, assistant_id)
    return common.DeletedObject(id=assistant_id, object="assistant.deleted")
