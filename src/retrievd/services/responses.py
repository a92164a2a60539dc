"""The Responses API: create (plain, streamed, background), retrieve, delete, cancel, input items.

A stored response (the default) is written with a job before its loop starts, so one cut short by
a restart is finished afterwards; `store: false` ones live only for their request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from retrievd.errors import APIError, invalid, not_found
from retrievd.runtime import schemas
from retrievd.runtime.executor import RESPONSE_JOB, Event, RuntimeExecutor
from retrievd.runtime.ids import sortable_id
from retrievd.runtime.items import ChatContext, normalize_input
from retrievd.runtime.response_runs import ResponseDriver, history, response_object, wire_item
from retrievd.services.containers import ContainerService, CreateContainerRequest
from retrievd.services.vector_stores import VectorStoreService
from retrievd.store.db import now
from retrievd.store.runtime_models import Conversation, StoredResponse

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from retrievd.core import Core


def _tool_json(core: Core, project_id: str, tool: dict[str, Any], i: int) -> dict[str, Any]:
    kind = tool.get("type") if isinstance(tool, dict) else None
    param = f"tools[{i}]"
    if kind == "code_interpreter":
        return {
            "type": "code_interpreter",
            "container": _container_id(core, project_id, tool.get("container"), param),
        }
    try:
        if kind == "file_search":
            fs = schemas.ResponsesFileSearchTool.model_validate(tool)
        elif kind == "function":
            fn = schemas.ResponsesFunctionTool.model_validate(tool)
            return {
                "type": "function",
                "name": fn.name,
                "description": fn.description,
                "parameters": fn.parameters,
                "strict": fn.strict,
            }
        else:
            raise APIError(
                400,
                f"Tools of type {kind!r} are not supported by this server; use file_search, "
                "code_interpreter or function tools.",
                param=f"{param}.type",
                code="unsupported_tool",
            )
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise invalid(f"Invalid value for '{param}.{where}': {first['msg']}", param=f"{param}.{where}") from e
    stores = VectorStoreService(core)
    for store_id in fs.vector_store_ids:
        stores.get(project_id, store_id)
    ranking = fs.ranking_options or schemas.ResponsesRankingOptions()
    return {
        "type": "file_search",
        "vector_store_ids": fs.vector_store_ids,
        "max_num_results": fs.max_num_results,
        "ranking_options": ranking.model_dump(exclude_none=True),
        "filters": fs.filters.model_dump() if fs.filters is not None else None,
    }


def _container_id(core: Core, project_id: str, container: Any, param: str) -> str:
    """A code_interpreter tool's container: an existing one by id, or (`{"type": "auto"}`) a new one."""
    service = ContainerService(core)
    if isinstance(container, str):
        service.get(project_id, container)  # 404 for an unknown container
        return container
    if not isinstance(container, dict) or container.get("type") != "auto":
        raise invalid(
            'A code_interpreter tool needs \'container\': a container id or {"type": "auto"}.',
            param=f"{param}.container",
        )
    try:
        req = CreateContainerRequest(
            name="code_interpreter (auto)",
            file_ids=container.get("file_ids"),
            memory_limit=container.get("memory_limit"),
        )
    except ValidationError as e:
        raise invalid(
            f"Invalid value for '{param}.container': {e.errors()[0]['msg']}", param=f"{param}.container"
        ) from e
    return service.create(project_id, req).id


class ResponseService:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.executor = RuntimeExecutor(core)

    def _row(self, s: Session, project_id: str, response_id: str) -> StoredResponse:
        row = s.get(StoredResponse, response_id)
        if row is None or row.project_id != project_id:
            raise not_found("response", response_id, param="response_id")
        return row

    def _conversation_id(self, s: Session, project_id: str, value: str | dict[str, Any] | None) -> str | None:
        if value is None:
            return None
        conversation_id = value if isinstance(value, str) else value.get("id")
        row = s.get(Conversation, conversation_id) if isinstance(conversation_id, str) else None
        if row is None or row.project_id != project_id:
            raise not_found("conversation", str(conversation_id), param="conversation")
        return row.id

    def create(self, project_id: str, req: schemas.CreateResponseRequest) -> dict[str, Any] | Iterator[Event]:
        if not req.model:
            raise invalid("Missing required parameter: 'model'.", param="model")
        if req.previous_response_id and req.conversation:
            raise invalid(
                "Use either 'previous_response_id' or 'conversation', not both.", param="conversation"
            )
        store = req.store is not False
        if req.background and not store:
            raise invalid(
                "A background response must be stored ('store' cannot be false).", param="background"
            )
        tools = [_tool_json(self.core, project_id, t, i) for i, t in enumerate(req.tools or ())]
        row = StoredResponse(
            id=sortable_id("resp_"),
            project_id=project_id,
            created_at=now(),
            status="queued" if req.background else "in_progress",
            model=req.model,
            params={
                "instructions": req.instructions,
                "tools": tools,
                "tool_choice": req.tool_choice if req.tool_choice is not None else "auto",
                "temperature": req.temperature,
                "top_p": req.top_p,
                "max_output_tokens": req.max_output_tokens,
                "max_tool_calls": req.max_tool_calls,
                "parallel_tool_calls": req.parallel_tool_calls
                if req.parallel_tool_calls is not None
                else True,
                "metadata": req.metadata or {},
                "include": req.include or [],
                "truncation": req.truncation or "disabled",
                "text": req.text,
                "reasoning": req.reasoning,
                "background": bool(req.background),
                "store": store,
                "user": req.user,
            },
            previous_response_id=req.previous_response_id,
            input_items=normalize_input(req.input),
            output=[],
        )
        with self.core.db.session() as s:
            if req.previous_response_id:
                self._row(s, project_id, req.previous_response_id)
            row.conversation_id = self._conversation_id(s, project_id, req.conversation)
        self._check_context(row)
        streaming = bool(req.stream)
        job_id = None
        if store:
            with self.core.db.session() as s:
                # Claimed at once unless a background worker is to take it.
                job = self.executor.add_job(
                    s, RESPONSE_JOB, project_id, streaming=streaming or not req.background
                )
                row.job_id = job_id = job.id
                s.add(row)
        if req.background and not streaming:
            self.executor.wake()
            return response_object(row)
        events = self.executor.stream(
            job_id, lambda emit: ResponseDriver(self.core, row, emit=emit).drive(announce=True)
        )
        if streaming:
            return events
        for _ in events:
            pass  # the driver updates `row` as it goes
        return response_object(row)

    def _check_context(self, row: StoredResponse) -> None:
        """Errors in the input that would only surface at the model: unmatched calls and outputs."""
        ctx = ChatContext()
        for item in [*history(self.core, row), *row.input_items]:
            ctx.add(item)
        if ctx.open_calls:
            call_id = next(iter(ctx.open_calls))
            raise invalid(f"No tool output found for function call {call_id}.", param="input")

    def get(self, project_id: str, response_id: str, include: list[str]) -> dict[str, Any]:
        with self.core.db.session() as s:
            row = self._row(s, project_id, response_id)
            return response_object(row, sorted({*row.params.get("include", []), *include}))

    def delete(self, project_id: str, response_id: str) -> None:
        with self.core.db.session() as s:
            s.delete(self._row(s, project_id, response_id))

    def cancel(self, project_id: str, response_id: str) -> dict[str, Any]:
        with self.core.db.session() as s:
            row = self._row(s, project_id, response_id)
            if not row.params.get("background"):
                raise invalid("Only background responses can be cancelled.", param="response_id")
            if row.status in ("queued", "in_progress"):
                row.status = "cancelled"
            return response_object(row)

    def input_items(
        self,
        project_id: str,
        response_id: str,
        *,
        limit: int,
        order: str,
        after: str | None,
        include: list[str],
    ) -> schemas.ItemList:
        with self.core.db.session() as s:
            items = list(self._row(s, project_id, response_id).input_items)
        return page_items(items, limit=limit, order=order, after=after, include=include)


def page_items(
    items: list[dict[str, Any]], *, limit: int, order: str, after: str | None, include: list[str]
) -> schemas.ItemList:
    """A page of items kept in order (oldest first), by OpenAI's `after` cursor."""
    if order == "desc":
        items = list(reversed(items))
    if after is not None:
        ids = [i["id"] for i in items]
        if after not in ids:
            raise invalid(f"No item with id '{after}' to page from.", param="after")
        items = items[ids.index(after) + 1 :]
    page = [wire_item(i, include) for i in items[:limit]]
    return schemas.ItemList(
        data=page,
        first_id=page[0]["id"] if page else None,
        last_id=page[-1]["id"] if page else None,
        has_more=len(items) > limit,
    )
