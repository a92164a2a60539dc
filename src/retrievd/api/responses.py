"""`/v1/responses`: create (plain, streamed, background), retrieve, delete, cancel, input items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from retrievd.api.deps import CoreDep, PrincipalDep
from retrievd.api.sse import STREAMABLE, response_stream
from retrievd.runtime import schemas
from retrievd.services.responses import ResponseService

router = APIRouter(tags=["responses"])


def include_param(request: Request) -> list[str]:
    """`include` or `include[]` (the SDK's spelling for list query parameters)."""
    return request.query_params.getlist("include") + request.query_params.getlist("include[]")


IncludeDep = Annotated[list[str], Depends(include_param)]


@router.post("/responses", responses=STREAMABLE)
def create_response(body: schemas.CreateResponseRequest, core: CoreDep, principal: PrincipalDep) -> Any:
    result = ResponseService(core).create(principal.project_id, body)
    return result if isinstance(result, dict) else response_stream(result)


@router.get("/responses/{response_id}")
def retrieve_response(
    response_id: str, core: CoreDep, principal: PrincipalDep, include: IncludeDep
) -> dict[str, Any]:
    return ResponseService(core).get(principal.project_id, response_id, include)


@router.delete("/responses/{response_id}")
def delete_response(response_id: str, core: CoreDep, principal: PrincipalDep) -> dict[str, Any]:
    ResponseService(core).delete(principal.project_id, response_id)
    return {"id": response_id, "object": "response", "deleted": True}


@router.post("/responses/{response_id}/cancel")
def cancel_response(response_id: str, core: CoreDep, principal: PrincipalDep) -> dict[str, Any]:
    return ResponseService(core).cancel(principal.project_id, response_id)


@router.get("/responses/{response_id}/input_items", response_model=schemas.ItemList)
def list_input_items(
    response_id: str,
    core: CoreDep,
    principal: PrincipalDep,
    include: IncludeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> schemas.ItemList:
    return ResponseService(core).input_items(
        principal.project_id, response_id, limit=limit, order=order, after=after, include=include
    )
