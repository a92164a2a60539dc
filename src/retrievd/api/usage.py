"""`/v1/organization/usage/*` and `/v1/organization/costs`: OpenAI's Usage and Costs APIs, admin keys only."""

from __future__ import annotations

from fastapi import APIRouter, Request

from retrievd.api.deps import AdminDep, CoreDep
from retrievd.usage.schemas import UsageResponse
from retrievd.usage.service import UsageService

router = APIRouter(prefix="/organization", tags=["usage"])


def _list(request: Request, name: str) -> list[str]:
    """An array query parameter, sent as `name=a&name=b` or `name[]=a&name[]=b`."""
    params = request.query_params
    return [*params.getlist(name), *params.getlist(f"{name}[]")]


@router.get("/usage/vector_stores", response_model=UsageResponse)
def vector_stores_usage(
    request: Request,
    core: CoreDep,
    _: AdminDep,
    start_time: int,
    end_time: int | None = None,
    bucket_width: str = "1d",
    limit: int | None = None,
    page: str | None = None,
) -> UsageResponse:
    return UsageService(core).vector_stores(
        start_time,
        end_time,
        bucket_width,
        project_ids=_list(request, "project_ids"),
        group_by=_list(request, "group_by"),
        limit=limit,
        page=page,
    )


@router.get("/usage/file_search_calls", response_model=UsageResponse)
def file_search_calls_usage(
    request: Request,
    core: CoreDep,
    _: AdminDep,
    start_time: int,
    end_time: int | None = None,
    bucket_width: str = "1d",
    limit: int | None = None,
    page: str | None = None,
) -> UsageResponse:
    return UsageService(core).file_search_calls(
        start_time,
        end_time,
        bucket_width,
        project_ids=_list(request, "project_ids"),
        vector_store_ids=_list(request, "vector_store_ids"),
        group_by=_list(request, "group_by"),
        limit=limit,
        page=page,
    )


@router.get("/costs", response_model=UsageResponse)
def costs(
    request: Request,
    core: CoreDep,
    _: AdminDep,
    start_time: int,
    end_time: int | None = None,
    bucket_width: str = "1d",
    limit: int | None = None,
    page: str | None = None,
) -> UsageResponse:
    return UsageService(core).costs(
        start_time,
        end_time,
        bucket_width,
        project_ids=_list(request, "project_ids"),
        group_by=_list(request, "group_by"),
        limit=limit,
        page=page,
    )
