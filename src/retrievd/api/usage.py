"""`/v1/organization/usage/*` and `/v1/organization/costs`: OpenAI's Usage and Costs APIs, admin keys only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from retrievd.api.deps import AdminDep, CoreDep
from retrievd.usage.schemas import UsageResponse
from retrievd.usage.service import UsageService

router = APIRouter(prefix="/organization", tags=["usage"])


def _list(request: Request, name: str) -> list[str]:
    """An array query parameter, sent as `name=a&name=b` or `name[]=a&name[]=b`."""
    params = request.query_params
    return [*params.getlist(name), *params.getlist(f"{name}[]")]


@dataclass(frozen=True)
class Window:
    """The query parameters every Usage and Costs endpoint shares."""

    start_time: int
    end_time: int | None
    bucket_width: str
    limit: int | None
    page: str | None
    project_ids: list[str]
    group_by: list[str]

    def args(self) -> dict[str, Any]:
        return {
            "start_time": self.start_time,
            "end_time": self.end_time,
            "bucket_width": self.bucket_width,
            "project_ids": self.project_ids,
            "group_by": self.group_by,
            "limit": self.limit,
            "page": self.page,
        }


def window(
    request: Request,
    start_time: int,
    end_time: int | None = None,
    bucket_width: str = "1d",
    limit: int | None = None,
    page: str | None = None,
) -> Window:
    return Window(
        start_time, end_time, bucket_width, limit, page, _list(request, "project_ids"), _list(request, "group_by")
    )


WindowDep = Annotated[Window, Depends(window)]


@router.get("/usage/vector_stores", response_model=UsageResponse)
def vector_stores_usage(core: CoreDep, _: AdminDep, w: WindowDep) -> UsageResponse:
    return UsageService(core).vector_stores(**w.args())


@router.get("/usage/file_search_calls", response_model=UsageResponse)
def file_search_calls_usage(request: Request, core: CoreDep, _: AdminDep, w: WindowDep) -> UsageResponse:
    return UsageService(core).file_search_calls(**w.args(), vector_store_ids=_list(request, "vector_store_ids"))


@router.get("/usage/code_interpreter_sessions", response_model=UsageResponse)
def code_interpreter_sessions_usage(core: CoreDep, _: AdminDep, w: WindowDep) -> UsageResponse:
    return UsageService(core).code_interpreter_sessions(**w.args())


@router.get("/costs", response_model=UsageResponse)
def costs(core: CoreDep, _: AdminDep, w: WindowDep) -> UsageResponse:
    return UsageService(core).costs(**w.args())
