"""`/v1/threads`: threads, messages, runs and run steps (Assistants v2).

Runs with `stream: true` answer with server-sent events (see `retrievd.api.sse`); the others are
taken by a runtime worker pool (`Core.start_workers`), in this process or another.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from retrievd.api import schemas as common
from retrievd.api.deps import CoreDep, ListDep, PrincipalDep
from retrievd.api.sse import STREAMABLE, assistant_stream
from retrievd.errors import invalid
from retrievd.runtime import schemas
from retrievd.runtime.objects import FILE_SEARCH_CONTENT
from retrievd.services.runs import RunService
from retrievd.services.threads import MessageService, ThreadService

router = APIRouter(tags=["threads"])


def include_param(request: Request) -> tuple[str, ...]:
    """`include[]` (the SDK's spelling) or `include`: only file_search result content can be included."""
    values = tuple(request.query_params.getlist("include[]") + request.query_params.getlist("include"))
    for value in values:
        if value != FILE_SEARCH_CONTENT:
            raise invalid(
                f"Invalid value for 'include': '{value}'. Supported: '{FILE_SEARCH_CONTENT}'.",
                param="include",
            )
    return values


IncludeDep = Annotated[tuple[str, ...], Depends(include_param)]


def _run_or_stream(result: Any) -> Any:
    return result if isinstance(result, schemas.RunObject) else assistant_stream(result)


# --- threads --------------------------------------------------------------------------------------


@router.post("/threads", response_model=schemas.ThreadObject)
def create_thread(
    core: CoreDep, principal: PrincipalDep, body: schemas.CreateThreadRequest | None = None
) -> schemas.ThreadObject:
    return ThreadService(core).create(principal.project_id, body or schemas.CreateThreadRequest())


@router.post("/threads/runs", response_model=schemas.RunObject, responses=STREAMABLE)
def create_thread_and_run(
    body: schemas.CreateThreadAndRunRequest, core: CoreDep, principal: PrincipalDep, include: IncludeDep
) -> Any:
    return _run_or_stream(RunService(core).create_thread_and_run(principal.project_id, body, include=include))


@router.get("/threads/{thread_id}", response_model=schemas.ThreadObject)
def retrieve_thread(thread_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.ThreadObject:
    return ThreadService(core).get(principal.project_id, thread_id)


@router.post("/threads/{thread_id}", response_model=schemas.ThreadObject)
def modify_thread(
    thread_id: str, body: schemas.ModifyThreadRequest, core: CoreDep, principal: PrincipalDep
) -> schemas.ThreadObject:
    return ThreadService(core).modify(principal.project_id, thread_id, body)


@router.delete("/threads/{thread_id}", response_model=common.DeletedObject)
def delete_thread(thread_id: str, core: CoreDep, principal: PrincipalDep) -> common.DeletedObject:
    ThreadService(core).delete(principal.project_id, thread_id)
    return common.DeletedObject(id=thread_id, object="thread.deleted")


# --- messages -------------------------------------------------------------------------------------


@router.post("/threads/{thread_id}/messages", response_model=schemas.MessageObject)
def create_message(
    thread_id: str, body: schemas.CreateMessageRequest, core: CoreDep, principal: PrincipalDep
) -> schemas.MessageObject:
    return MessageService(core).create(principal.project_id, thread_id, body)


@router.get("/threads/{thread_id}/messages", response_model=common.ListPage[schemas.MessageObject])
def list_messages(
    thread_id: str, core: CoreDep, principal: PrincipalDep, params: ListDep, run_id: str | None = None
) -> common.ListPage[schemas.MessageObject]:
    items, has_more = MessageService(core).list(
        principal.project_id,
        thread_id,
        limit=params.limit,
        order=params.order,
        after=params.after,
        before=params.before,
        run_id=run_id,
    )
    return common.ListPage.of(items, has_more)


@router.get("/threads/{thread_id}/messages/{message_id}", response_model=schemas.MessageObject)
def retrieve_message(
    thread_id: str, message_id: str, core: CoreDep, principal: PrincipalDep
) -> schemas.MessageObject:
    return MessageService(core).get(principal.project_id, thread_id, message_id)


@router.post("/threads/{thread_id}/messages/{message_id}", response_model=schemas.MessageObject)
def modify_message(
    thread_id: str,
    message_id: str,
    body: schemas.ModifyMetadataRequest,
    core: CoreDep,
    principal: PrincipalDep,
) -> schemas.MessageObject:
    return MessageService(core).modify(principal.project_id, thread_id, message_id, body.metadata)


@router.delete("/threads/{thread_id}/messages/{message_id}", response_model=common.DeletedObject)
def delete_message(
    thread_id: str, message_id: str, core: CoreDep, principal: PrincipalDep
) -> common.DeletedObject:
    MessageService(core).delete(principal.project_id, thread_id, message_id)
    return common.DeletedObject(id=message_id, object="thread.message.deleted")


# --- runs -----------------------------------------------------------------------------------------


@router.post("/threads/{thread_id}/runs", response_model=schemas.RunObject, responses=STREAMABLE)
def create_run(
    thread_id: str,
    body: schemas.CreateRunRequest,
    core: CoreDep,
    principal: PrincipalDep,
    include: IncludeDep,
) -> Any:
    return _run_or_stream(RunService(core).create(principal.project_id, thread_id, body, include=include))


@router.get("/threads/{thread_id}/runs", response_model=common.ListPage[schemas.RunObject])
def list_runs(
    thread_id: str, core: CoreDep, principal: PrincipalDep, params: ListDep
) -> common.ListPage[schemas.RunObject]:
    items, has_more = RunService(core).list(
        principal.project_id,
        thread_id,
        limit=params.limit,
        order=params.order,
        after=params.after,
        before=params.before,
    )
    return common.ListPage.of(items, has_more)


@router.get("/threads/{thread_id}/runs/{run_id}", response_model=schemas.RunObject)
def retrieve_run(thread_id: str, run_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.RunObject:
    return RunService(core).get(principal.project_id, thread_id, run_id)


@router.post("/threads/{thread_id}/runs/{run_id}", response_model=schemas.RunObject)
def modify_run(
    thread_id: str, run_id: str, body: schemas.ModifyMetadataRequest, core: CoreDep, principal: PrincipalDep
) -> schemas.RunObject:
    return RunService(core).modify(principal.project_id, thread_id, run_id, body.metadata)


@router.post("/threads/{thread_id}/runs/{run_id}/cancel", response_model=schemas.RunObject)
def cancel_run(thread_id: str, run_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.RunObject:
    return RunService(core).cancel(principal.project_id, thread_id, run_id)


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", response_model=schemas.RunObject, responses=STREAMABLE)
def submit_tool_outputs(
    thread_id: str,
    run_id: str,
    body: schemas.SubmitToolOutputsRequest,
    core: CoreDep,
    principal: PrincipalDep,
    include: IncludeDep,
) -> Any:
    return _run_or_stream(
        RunService(core).submit_tool_outputs(principal.project_id, thread_id, run_id, body, include=include)
    )


@router.get("/threads/{thread_id}/runs/{run_id}/steps", response_model=common.ListPage[schemas.RunStepObject])
def list_run_steps(
    thread_id: str, run_id: str, core: CoreDep, principal: PrincipalDep, params: ListDep, include: IncludeDep
) -> common.ListPage[schemas.RunStepObject]:
    items, has_more = RunService(core).list_steps(
        principal.project_id,
        thread_id,
        run_id,
        limit=params.limit,
        order=params.order,
        after=params.after,
        before=params.before,
        include=include,
    )
    return common.ListPage.of(items, has_more)


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}", response_model=schemas.RunStepObject)
def retrieve_run_step(
    thread_id: str, run_id: str, step_id: str, core: CoreDep, principal: PrincipalDep, include: IncludeDep
) -> schemas.RunStepObject:
    return RunService(core).get_step(principal.project_id, thread_id, run_id, step_id, include)
