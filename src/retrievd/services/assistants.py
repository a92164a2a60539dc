"""Assistants: CRUD, and the tool and tool_resources rules shared with threads and runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from retrievd.api import schemas as store_schemas
from retrievd.errors import APIError, not_found
from retrievd.runtime import schemas
from retrievd.runtime.code_interpreter import CODE_INTERPRETER
from retrievd.runtime.ids import sortable_id
from retrievd.runtime.objects import assistant_object
from retrievd.runtime.tools import FILE_SEARCH
from retrievd.services.files import FileService
from retrievd.services.vector_stores import VectorStoreService
from retrievd.store.db import now
from retrievd.store.pagination import Order, paginate
from retrievd.store.runtime_models import Assistant

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from retrievd.core import Core

def tools_json(tools: list[Any] | None, param: str = "tools") -> list[dict[str, Any]]:
    """Validated tools as stored and shown (function names may not take a built-in tool's)."""
    out = []
    names: set[str] = set()
    for i, tool in enumerate(tools or ()):
        if isinstance(tool, schemas.FunctionTool):
            name = tool.function.name
            if name in (FILE_SEARCH, CODE_INTERPRETER):
                raise APIError(
                    400,
                    f"The function name '{name}' is reserved for the {name} tool.",
                    param=f"{param}[{i}].function.name",
                )
            if name in names:
                raise APIError(400, f"Two functions are named '{name}'.", param=f"{param}[{i}].function.name")
            names.add(name)
        out.append(tool.model_dump(exclude_none=True))
    return out


def resolve_tool_resources(
    core: Core, project_id: str, resources: schemas.ToolResources | None
) -> dict[str, Any] | None:
    """tool_resources as stored: file_search.vector_stores (the helper) becomes a new store's id;
    code_interpreter.file_ids must name files of the project."""
    if resources is None:
        return None
    out: dict[str, Any] = {}
    if resources.code_interpreter is not None:
        ids = resources.code_interpreter.file_ids or []
        for file_id in ids:
            FileService(core).get(project_id, file_id)  # 404 for an unknown file
        out["code_interpreter"] = {"file_ids": ids}
    fs = resources.file_search
    if fs is not None:
        stores = VectorStoreService(core)
        if fs.vector_stores:
            helper = fs.vector_stores[0]
            created = stores.create(
                project_id,
                store_schemas.CreateVectorStoreRequest(
                    file_ids=helper.file_ids,
                    chunking_strategy=helper.chunking_strategy,
                    metadata=helper.metadata,
                ),
            )
            out["file_search"] = {"vector_store_ids": [created.id]}
        else:
            ids = fs.vector_store_ids or []
            for store_id in ids:
                stores.get(project_id, store_id)  # 404 for an unknown store
            out["file_search"] = {"vector_store_ids": ids}
    return out


def store_ids(tool_resources: dict[str, Any] | None) -> list[str]:
    return list(((tool_resources or {}).get("file_search") or {}).get("vector_store_ids") or [])


def code_file_ids(tool_resources: dict[str, Any] | None) -> list[str]:
    return list(((tool_resources or {}).get("code_interpreter") or {}).get("file_ids") or [])


def response_format_json(value: Any) -> Any:
    return value if value is not None else "auto"


class AssistantService:
    def __init__(self, core: Core) -> None:
        self.core = core

    @staticmethod
    def row(s: Session, project_id: str, assistant_id: str, param: str = "assistant_id") -> Assistant:
        row = s.get(Assistant, assistant_id)
        if row is None or row.project_id != project_id:
            raise not_found("assistant", assistant_id, param=param)
        return row

    def create(self, project_id: str, req: schemas.CreateAssistantRequest) -> schemas.AssistantObject:
        tools = tools_json(req.tools)
        resources = resolve_tool_resources(self.core, project_id, req.tool_resources)
        with self.core.db.session() as s:
            row = Assistant(
                id=sortable_id("asst_"),
                project_id=project_id,
                created_at=now(),
                name=req.name,
                description=req.description,
                model=req.model,
                instructions=req.instructions,
                tools=tools,
                tool_resources=resources,
                metadata_=req.metadata or {},
                temperature=req.temperature,
                top_p=req.top_p,
                response_format=response_format_json(req.response_format),
                reasoning_effort=req.reasoning_effort,
            )
            s.add(row)
            return assistant_object(row)

    def get(self, project_id: str, assistant_id: str) -> schemas.AssistantObject:
        with self.core.db.session() as s:
            return assistant_object(self.row(s, project_id, assistant_id))

    def list(
        self, project_id: str, *, limit: int, order: Order, after: str | None, before: str | None
    ) -> tuple[list[schemas.AssistantObject], bool]:
        with self.core.db.session() as s:
            query = select(Assistant).where(Assistant.project_id == project_id)
            page = paginate(
                s,
                query,
                Assistant.created_at,
                Assistant.id,
                limit=limit,
                order=order,
                after=after,
                before=before,
            )
            return [assistant_object(r) for r in page.items], page.has_more

    def modify(
        self, project_id: str, assistant_id: str, req: schemas.ModifyAssistantRequest
    ) -> schemas.AssistantObject:
        fields = req.model_fields_set
        tools = tools_json(req.tools) if "tools" in fields else None
        resources = (
            resolve_tool_resources(self.core, project_id, req.tool_resources)
            if "tool_resources" in fields
            else None
        )
        with self.core.db.session() as s:
            row = self.row(s, project_id, assistant_id)
            if "model" in fields and req.model:
                row.model = req.model
            for name in ("name", "description", "instructions", "temperature", "top_p", "reasoning_effort"):
                if name in fields:
                    setattr(row, name, getattr(req, name))
            if "tools" in fields:
                row.tools = tools or []
            if "tool_resources" in fields:
                row.tool_resources = resources
            if "metadata" in fields:
                row.metadata_ = req.metadata or {}
            if "response_format" in fields:
                row.response_format = response_format_json(req.response_format)
            return assistant_object(row)

    def delete(self, project_id: str, assistant_id: str) -> None:
        with self.core.db.session() as s:
            s.delete(self.row(s, project_id, assistant_id))
